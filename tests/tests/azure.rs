//! The object sink's Azure Blob backend against Azurite (one process per test): objects read
//! back line for line, an export resumed from the checkpoint beside them, compare-and-swap
//! fencing of the checkpoint and its owner, the errors a user sees, and the command line.
//!
//! Every test is `#[ignore]`d: plain `cargo test` reports them as ignored. `scripts/test.sh`
//! installs Azurite (`tests/azure/up.sh`) and runs them with `--ignored`; without it they fail,
//! naming what to run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "object_stores/shared.rs"]
mod shared;

use kle_core::Sink;
use kle_sinks::object::{ObjectSink, ObjectStoreConfig};
use kle_tests::azure::Azurite;
use kle_tests::binary::exporter;
use kle_tests::fake_api::{self, FakeApiServer, FakeContainer, FakePod, render};

use shared::{batch, container, lines, start};

const CONTAINER: &str = "logs";

/// A configuration that reaches `server`'s container `logs` under `prefix`, as a user writes it.
fn config(server: &Azurite, prefix: &str) -> ObjectStoreConfig {
    ObjectStoreConfig::new(format!("az://{CONTAINER}/{prefix}"))
        .with_endpoint(server.endpoint(), true)
        .with_emulator(true)
}

fn started() -> Azurite {
    let server = Azurite::start();
    server.create_container(CONTAINER);
    server
}

#[tokio::test]
#[ignore = "needs Azurite: scripts/test.sh installs it and runs these with --ignored"]
async fn the_sink_writes_blobs_that_read_back_line_for_line() {
    let server = started();
    shared::the_sink_writes_objects_that_read_back_line_for_line(config(&server, "k8s"), "az").await;
}

#[tokio::test]
#[ignore = "needs Azurite: scripts/test.sh installs it and runs these with --ignored"]
async fn an_export_resumes_from_the_checkpoint_beside_the_blobs() {
    let server = started();
    shared::an_export_resumes_from_the_checkpoint_beside_the_objects(config(&server, "resume")).await;
}

#[tokio::test]
#[ignore = "needs Azurite: scripts/test.sh installs it and runs these with --ignored"]
async fn the_checkpoint_and_its_owner_are_fenced_by_compare_and_swap() {
    let server = started();
    shared::the_checkpoint_and_its_owner_are_fenced_by_compare_and_swap(config(&server, "fence")).await;
}

#[tokio::test]
#[ignore = "needs Azurite: scripts/test.sh installs it and runs these with --ignored"]
async fn a_missing_container_and_a_wrong_key_are_explained() {
    let mut server = started();
    let c = container("web-0", "app");
    let mut missing = ObjectSink::from_config(
        &config(&server, "x").with_key_template("{namespace}/{pod}/{container}/{first_ts}-{last_ts}-{hash}"),
    )
    .unwrap();
    // The container in the URL is not `logs`.
    let mut elsewhere = config(&server, "x");
    elsewhere.url = "az://nope/x".into();
    let mut no_container = ObjectSink::from_config(&elsewhere).unwrap();
    no_container.write(&batch(&c, &lines(0, 3))).await.unwrap();
    let err = no_container.commit().await.unwrap_err();
    let failure = err.upload_failure().unwrap();
    assert_eq!(failure.code, "ContainerNotFound", "{err}");
    let message = err.to_string();
    assert!(
        message.contains("az://nope/x/shop/web-0/app/") && message.contains("az storage container create"),
        "{message}"
    );

    let mut wrong_key = ObjectSink::builder(server.store_with_key(CONTAINER, "d3Jvbmcta2V5"), CONTAINER)
        .in_backend(kle_sinks::object::Backend::Azure)
        .build()
        .unwrap();
    wrong_key.write(&batch(&c, &lines(0, 3))).await.unwrap();
    let err = wrong_key.commit().await.unwrap_err();
    let failure = err.upload_failure().unwrap();
    assert_eq!(failure.code, "AuthorizationFailure", "{err}");
    assert!(
        err.to_string().contains("AZURE_STORAGE_ACCOUNT_KEY") || !failure.hint.is_empty(),
        "{err}"
    );

    // A server that went away: unreachable, and the next commit delivers.
    server.stop();
    missing.write(&batch(&c, &lines(0, 3))).await.unwrap();
    let err = missing.commit().await.unwrap_err();
    assert_eq!(
        err.upload_failure().map(|f| f.code.as_str()),
        Some("unreachable"),
        "{err}"
    );
    // Azurite keeps its containers in a database it saves now and then: one killed forgets
    // them, so the container is made again.
    server.restart();
    server.create_container(CONTAINER);
    missing.commit().await.unwrap();
    let objects = shared::objects(&config(&server, "x")).await;
    assert_eq!(
        shared::concatenated(&objects, "x/shop/web-0/app/"),
        shared::raw(&lines(0, 3))
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Azurite: scripts/test.sh installs it and runs these with --ignored"]
async fn the_cli_exports_to_azure_and_resumes() {
    let server = started();
    let api = FakeApiServer::start().await;
    let app = fake_api::lines(start(), 50, |i| format!("app {i}"));
    api.add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(app.clone())));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, "fake").unwrap();
    let endpoint = server.endpoint();
    let run = |extra: Vec<String>| {
        let kubeconfig = kubeconfig.clone();
        let endpoint = endpoint.clone();
        tokio::task::spawn_blocking(move || {
            exporter()
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .args(["export", "-n", "shop", "--sink", "object", "--object-url"])
                .arg(format!("azure://{CONTAINER}/cli"))
                .args([
                    "--object-endpoint",
                    &endpoint,
                    "--azure-emulator",
                    "--compression",
                    "gzip",
                ])
                .args(extra)
                .output()
                .unwrap()
        })
    };
    let output = run(vec![]).await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let more = fake_api::lines(start() + jiff::SignedDuration::from_secs(60), 5, |i| {
        format!("more {i}")
    });
    api.append_log("shop", "web-0", "app", more.clone());
    let output = run(vec![]).await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let mut objects = server.objects(CONTAINER).await;
    assert!(objects.remove("cli/.kube-log-exporter-checkpoint.json").is_some());
    assert!(objects.remove("cli/.kube-log-exporter-checkpoint.json.owner").is_some());
    assert_eq!(objects.len(), 2, "one blob per run: {:?}", objects.keys());
    assert!(
        objects
            .keys()
            .all(|k| k.starts_with("cli/shop/web-0/app/2026-11-23/") && k.ends_with(".log.gz"))
    );
    let all: Vec<_> = app.iter().chain(&more).cloned().collect();
    assert_eq!(shared::concatenated(&objects, "cli/"), render(&all, true));

    // `read` gives the archive back from Azure, each line once.
    let endpoint = server.endpoint();
    let read = tokio::task::spawn_blocking(move || {
        exporter()
            .args(["read", &format!("az://{CONTAINER}/cli"), "-o", "raw", "--timestamps"])
            .args(["--s3-endpoint", &endpoint, "--azure-emulator"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(read.status.success(), "{}", String::from_utf8_lossy(&read.stderr));
    assert_eq!(read.stdout, render(&all, true));

    // A setting of another store is refused before the cluster is contacted.
    let output = run(vec!["--s3-region".into(), "eu-west-1".into()]).await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`region` is a setting of S3"), "{stderr}");
}

/// Azurite checks the access tier a blob is written with, so the storage class is proven to
/// reach it: `Cool` is taken, a tier Azure does not have is refused with Azure's code.
#[tokio::test]
#[ignore = "needs Azurite: scripts/test.sh installs it and runs these with --ignored"]
async fn the_storage_class_is_the_blobs_access_tier() {
    let server = started();
    let c = container("web-0", "app");
    let mut cool = ObjectSink::from_config(&config(&server, "cool").with_storage_class("Cool")).unwrap();
    cool.write(&batch(&c, &lines(0, 3))).await.unwrap();
    cool.commit().await.unwrap();
    let mut bogus = ObjectSink::from_config(&config(&server, "bogus").with_storage_class("Lukewarm")).unwrap();
    bogus.write(&batch(&c, &lines(0, 3))).await.unwrap();
    let err = bogus.commit().await.unwrap_err();
    let failure = err.upload_failure().unwrap();
    assert_eq!(failure.code, "InvalidHeaderValue", "{err}");
    assert!(err.to_string().contains("--storage-class"), "{err}");
}
