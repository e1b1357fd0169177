//! The built `kube-log-exporter` binary, for tests that run it as a user would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Path to the `kube-log-exporter` binary, built (once per test process) with the same
/// profile as the tests.
pub fn exporter_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            escargot::CargoBuild::new()
                .package("kle-cli")
                .bin("kube-log-exporter")
                .current_release()
                .current_target()
                .run()
                .expect("building kube-log-exporter")
                .path()
                .to_path_buf()
        })
        .clone()
}

/// A command for the exporter with a clean environment for its settings: no `KUBECONFIG`,
/// `RUST_LOG` or in-cluster variables leak in from the test's environment.
pub fn exporter() -> Command {
    let mut command = Command::new(exporter_binary());
    for var in [
        "KUBECONFIG",
        "RUST_LOG",
        "KUBERNETES_SERVICE_HOST",
        "KUBERNETES_SERVICE_PORT",
        "NO_COLOR",
    ] {
        command.env_remove(var);
    }
    command
}

/// Runs the exporter to its end with a kubeconfig (written into `dir`) for the fake API
/// `server`, off the async runtime that serves it.
pub async fn run_against(server: &crate::fake_api::FakeApiServer, dir: &Path, args: &[&str]) -> Output {
    let kubeconfig = dir.join("kubeconfig");
    server
        .write_kubeconfig(&kubeconfig, "fake")
        .expect("writing the fake API's kubeconfig");
    run_with_kubeconfig(&kubeconfig, args).await
}

/// Runs the exporter to its end with `--kubeconfig kubeconfig`, off the async runtime (which
/// may be serving fake API servers).
pub async fn run_with_kubeconfig(kubeconfig: &Path, args: &[&str]) -> Output {
    let kubeconfig = kubeconfig.to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        exporter()
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .output()
            .expect("running kube-log-exporter")
    })
    .await
    .expect("the exporter's thread")
}
