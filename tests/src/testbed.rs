//! The real single-node cluster of `tests/cluster/`, for end-to-end tests.
//!
//! End-to-end tests are `#[ignore]`d, so a plain `cargo test` reports them as ignored rather
//! than passed; `scripts/test.sh` starts the cluster and runs them with `--ignored` and
//! `KLE_E2E_KUBECONFIG` pointing at its admin kubeconfig.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The namespace the fixtures (`tests/cluster/fixtures`) live in.
pub const FIXTURES_NAMESPACE: &str = "kle-e2e";

/// A handle on the running test cluster.
#[derive(Debug, Clone)]
pub struct Testbed {
    kubeconfig: PathBuf,
}

impl Testbed {
    /// The cluster named by `KLE_E2E_KUBECONFIG`; panics with instructions when it is unset,
    /// since only `--ignored` runs reach the e2e tests.
    pub fn from_env() -> Self {
        let kubeconfig = std::env::var_os("KLE_E2E_KUBECONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                panic!(
                    "KLE_E2E_KUBECONFIG is not set: the e2e tests need the test cluster. Run scripts/test.sh, or \
                 KLE_E2E_KUBECONFIG=$(tests/cluster/up.sh) cargo test -p kle-tests --test e2e -- --ignored"
                )
            });
        assert!(
            kubeconfig.is_file(),
            "KLE_E2E_KUBECONFIG={} is not a file",
            kubeconfig.display()
        );
        Self { kubeconfig }
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> &PathBuf {
        &self.kubeconfig
    }

    /// Runs kubectl against the cluster; panics with its stderr when it fails.
    pub fn kubectl(&self, args: &[&str]) -> Vec<u8> {
        let output = self.kubectl_output(args, None);
        assert!(
            output.status.success(),
            "kubectl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// Runs kubectl with `stdin` as its input and returns whatever it did.
    pub fn kubectl_output(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        use std::io::Write;
        let kubectl = std::env::var("KLE_KUBECTL").unwrap_or_else(|_| "kubectl".into());
        let mut child = Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("running kubectl");
        let mut input = child.stdin.take().expect("piped stdin");
        if let Some(bytes) = stdin {
            input.write_all(bytes).expect("writing kubectl's stdin");
        }
        drop(input);
        child.wait_with_output().expect("waiting for kubectl")
    }

    /// `kubectl logs --timestamps` of one container (previous instance with `previous`).
    pub fn logs(&self, namespace: &str, pod: &str, container: &str, previous: bool) -> Vec<u8> {
        let mut args = vec!["logs", "--timestamps", "-n", namespace, pod, "-c", container];
        if previous {
            args.push("--previous");
        }
        self.kubectl(&args)
    }
}
