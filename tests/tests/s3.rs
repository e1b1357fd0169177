//! The S3 sink against a real S3 server (`s3s-fs`, one process per test): objects read back
//! line for line, multipart uploads, no duplicates on retry or resume, a server that goes away
//! mid-run, and the errors a user sees.
//!
//! Every test is `#[ignore]`d: plain `cargo test` reports them as ignored. `scripts/test.sh`
//! installs the server (`tests/s3/up.sh`) and runs them with `--ignored`; without the server
//! they fail, naming what to run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use kle_core::checkpoint::{CheckpointStore, FileCheckpointStore};
use kle_core::container::PodInfo;
use kle_core::lines::Lines;
use kle_core::{Container, Export, LogBatch, Namespaces, Selection, Sink};
use kle_sinks::object::{Compression, MIN_PART_BYTES, ObjectSink};
use kle_tests::binary::exporter;
use kle_tests::fake_api::{self, FakeApiServer, FakeContainer, FakePod, render};
use kle_tests::s3::{ACCESS_KEY, S3Server, SECRET_KEY};
use tokio_util::sync::CancellationToken;

const BUCKET: &str = "logs";

fn start() -> Timestamp {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

fn container(pod: &str, name: &str) -> Arc<Container> {
    let pod = PodInfo::new("shop", pod, format!("uid-{pod}")).with_node("node-1");
    Arc::new(Container::new(Arc::new(pod), name))
}

/// Lines `from..to`, a millisecond apart, each about `size` bytes (as the API sends them,
/// without the newline).
fn lines(from: usize, to: usize, size: usize) -> Vec<Vec<u8>> {
    (from..to)
        .map(|i| {
            let ts = fake_api::format_timestamp(start() + SignedDuration::from_millis(i as i64));
            let text = format!("{ts} line {i} ");
            let pad = "x".repeat(size.saturating_sub(text.len()));
            format!("{text}{pad}").into_bytes()
        })
        .collect()
}

fn raw(lines: &[Vec<u8>]) -> Vec<u8> {
    lines.iter().flat_map(|l| [&l[..], b"\n"].concat()).collect()
}

fn batch(container: &Arc<Container>, lines: &[Vec<u8>]) -> LogBatch {
    let lines = lines.iter().fold(Lines::builder(), |b, line| b.full(line)).build();
    LogBatch::new(Arc::clone(container), lines)
}

fn sink(server: &S3Server, compression: Compression) -> ObjectSink {
    ObjectSink::builder(server.store(BUCKET), BUCKET)
        .with_prefix("cluster-a")
        .with_compression(compression)
        .build()
        .unwrap()
}

/// The objects of one container, concatenated in key order (keys sort by first timestamp).
fn concatenated(objects: &BTreeMap<String, Vec<u8>>, path: &str) -> Vec<u8> {
    objects
        .iter()
        .filter(|(key, _)| key.contains(path))
        .flat_map(|(_, bytes)| bytes.clone())
        .collect()
}

#[tokio::test]
#[ignore = "needs s3s-fs: scripts/test.sh installs it and runs these with --ignored"]
async fn objects_read_back_to_exactly_the_lines_with_zstd_and_gzip() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    for (compression, extension) in [(Compression::Zstd, ".log.zst"), (Compression::Gzip, ".log.gz")] {
        let mut sink = sink(&server, compression);
        let c = container(&format!("web-{}", extension.len()), "app");
        let all = lines(0, 2000, 120);
        for chunk in all.chunks(37) {
            sink.write(&batch(&c, chunk)).await.unwrap();
        }
        sink.close().await.unwrap();
        let objects = server.objects(BUCKET).await;
        let path = format!("cluster-a/shop/{}/app/2026-11-23/", c.pod_name());
        let keys: Vec<&String> = objects.keys().filter(|k| k.starts_with(&path)).collect();
        assert_eq!(keys.len(), 1, "one object per container per commit: {keys:?}");
        assert!(keys[0].ends_with(extension), "{}", keys[0]);
        assert_eq!(objects[keys[0]], raw(&all), "{compression:?}");
    }
}

#[tokio::test]
#[ignore = "needs s3s-fs: scripts/test.sh installs it and runs these with --ignored"]
async fn a_large_object_goes_up_in_parts_the_server_accepts() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let mut sink = ObjectSink::builder(server.store(BUCKET), BUCKET)
        .with_compression(Compression::None)
        .with_max_object_bytes(64 * 1024 * 1024)
        .with_part_bytes(MIN_PART_BYTES)
        .build()
        .unwrap();
    let c = container("web-0", "app");
    // 12 MiB: two full 5 MiB parts and a last, smaller one.
    let all = lines(0, 12 * 1024, 1023);
    for chunk in all.chunks(500) {
        sink.write(&batch(&c, chunk)).await.unwrap();
    }
    sink.commit().await.unwrap();
    assert_eq!(sink.stats().multipart_objects, 1);
    let sizes = server.object_sizes(BUCKET).await;
    assert_eq!(sizes.len(), 1);
    let size = *sizes.values().next().unwrap();
    assert!(size > 2 * MIN_PART_BYTES as u64, "{size}");
    let objects = server.objects(BUCKET).await;
    assert_eq!(objects.values().next().unwrap(), &raw(&all));
}

#[tokio::test]
#[ignore = "needs s3s-fs: scripts/test.sh installs it and runs these with --ignored"]
async fn a_repeated_upload_of_the_same_lines_is_one_object() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let c = container("web-0", "app");
    // 80 bytes with the newline: 125 lines per 10 000-byte object.
    let all = lines(0, 500, 79);
    for batch_size in [500, 7] {
        let mut sink = ObjectSink::builder(server.store(BUCKET), BUCKET)
            .with_max_object_bytes(10_000)
            .build()
            .unwrap();
        for chunk in all.chunks(batch_size) {
            sink.write(&batch(&c, chunk)).await.unwrap();
        }
        sink.close().await.unwrap();
    }
    let objects = server.objects(BUCKET).await;
    assert_eq!(
        objects.len(),
        4,
        "80-byte lines, 10 000 bytes per object: {:?}",
        objects.keys()
    );
    assert_eq!(concatenated(&objects, "/web-0/app/"), raw(&all), "no duplicate, no gap");
}

#[tokio::test]
#[ignore = "needs s3s-fs: scripts/test.sh installs it and runs these with --ignored"]
async fn a_server_that_goes_away_fails_the_commit_and_nothing_is_lost_or_doubled() {
    let mut server = S3Server::start();
    server.create_bucket(BUCKET);
    let c = container("web-0", "app");
    let first = lines(0, 100, 100);
    let second = lines(100, 250, 100);
    let mut sink = sink(&server, Compression::Zstd);
    sink.write(&batch(&c, &first)).await.unwrap();
    sink.commit().await.unwrap();

    sink.write(&batch(&c, &second)).await.unwrap();
    server.stop();
    let err = sink.commit().await.unwrap_err();
    let failure = err.upload_failure().expect("an upload failure");
    assert_eq!(failure.code, "unreachable", "{err}");
    assert_eq!(failure.bucket, BUCKET);
    assert!(failure.key.starts_with("cluster-a/shop/web-0/app/"), "{}", failure.key);
    assert_eq!(sink.stats().objects, 1, "only the first commit's object is delivered");

    server.restart();
    // The same sink retries the kept object; a resumed run writes the same lines again.
    sink.commit().await.unwrap();
    let mut resumed = self::sink(&server, Compression::Zstd);
    resumed.write(&batch(&c, &second)).await.unwrap();
    resumed.close().await.unwrap();

    let objects = server.objects(BUCKET).await;
    assert_eq!(objects.len(), 2, "{:?}", objects.keys());
    let mut expected = raw(&first);
    expected.extend(raw(&second));
    assert_eq!(concatenated(&objects, "/web-0/app/"), expected);
}

#[tokio::test]
#[ignore = "needs s3s-fs: scripts/test.sh installs it and runs these with --ignored"]
async fn bad_credentials_are_explained_with_the_s3_error_code() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let c = container("web-0", "app");
    let cases = [
        (
            server.store_with_keys(BUCKET, ACCESS_KEY, "wrong-secret"),
            BUCKET,
            "SignatureDoesNotMatch",
        ),
        // AWS says InvalidAccessKeyId, s3s-fs NotSignedUp: both get the same hint.
        (
            server.store_with_keys(BUCKET, "UNKNOWNKEY", SECRET_KEY),
            BUCKET,
            "NotSignedUp",
        ),
        // A missing bucket (NoSuchBucket) cannot be shown here: s3s-fs creates the bucket's
        // directory on PUT. kle-sinks' unit tests classify AWS's NoSuchBucket answer.
    ];
    for (store, bucket, code) in cases {
        let mut sink = ObjectSink::builder(store, bucket).build().unwrap();
        sink.write(&batch(&c, &lines(0, 3, 50))).await.unwrap();
        let err = sink.commit().await.unwrap_err();
        let failure = err.upload_failure().unwrap();
        assert_eq!(failure.code, code, "{err}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("s3://{bucket}/shop/web-0/app/")) && message.contains(code),
            "{message}"
        );
        assert_ne!(failure.hint, "", "{message}");
    }
    assert!(server.objects(BUCKET).await.is_empty());
}

#[tokio::test]
#[ignore = "needs s3s-fs: scripts/test.sh installs it and runs these with --ignored"]
async fn an_export_through_the_fake_api_lands_in_s3_line_for_line() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let api = FakeApiServer::start().await;
    let app = fake_api::lines(start(), 3000, |i| format!("app line {i} {}", "y".repeat(i % 200)));
    let sidecar = fake_api::lines_every(start(), SignedDuration::from_millis(250), 40, |i| {
        format!("sidecar {i}")
    });
    api.add_pod(
        FakePod::new("shop", "web-0")
            .container(FakeContainer::new("app").logs(app.clone()))
            .container(FakeContainer::new("sidecar").logs(sidecar.clone())),
    );
    let selection = Selection::builder()
        .with_namespaces(Namespaces::Only(vec!["shop".into()]))
        .build()
        .unwrap();
    let sink = ObjectSink::builder(server.store(BUCKET), BUCKET)
        .with_prefix("k8s")
        .with_max_object_bytes(64 * 1024)
        .build()
        .unwrap();
    let report = Export::new(api.client(), selection, Box::new(sink))
        .with_commit_interval(Duration::from_secs(300))
        .run(CancellationToken::new())
        .await
        .unwrap();

    assert_eq!(report.delivery.lines, 3040);
    let objects = server.objects(BUCKET).await;
    assert_eq!(concatenated(&objects, "k8s/shop/web-0/app/"), render(&app, true));
    assert_eq!(
        concatenated(&objects, "k8s/shop/web-0/sidecar/"),
        render(&sidecar, true)
    );
    let app_objects = objects.keys().filter(|k| k.contains("/app/")).count();
    assert!(app_objects > 1, "64 KiB objects: the app's log is rolled by size");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs s3s-fs: scripts/test.sh installs it and runs these with --ignored"]
async fn the_cli_exports_to_s3_with_credentials_from_the_environment() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let api = FakeApiServer::start().await;
    let app = fake_api::lines(start(), 50, |i| format!("app {i}"));
    api.add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(app.clone())));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, "fake").unwrap();
    let endpoint = server.endpoint();
    let run = |url: String, secret: &'static str| {
        let kubeconfig = kubeconfig.clone();
        let endpoint = endpoint.clone();
        tokio::task::spawn_blocking(move || {
            exporter()
                .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
                .env("AWS_SECRET_ACCESS_KEY", secret)
                .env("AWS_REGION", "us-east-1")
                .env_remove("AWS_ENDPOINT")
                .env_remove("AWS_SESSION_TOKEN")
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .args(["export", "-n", "shop", "--sink", "s3", "--s3-url", &url])
                .args(["--s3-endpoint", &endpoint, "--s3-allow-http", "--compression", "gzip"])
                .output()
                .unwrap()
        })
    };
    let output = run(format!("s3://{BUCKET}/cli"), SECRET_KEY).await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut objects = server.objects(BUCKET).await;
    let checkpoint = objects
        .remove("cli/.kube-log-exporter-checkpoint.json")
        .expect("the checkpoint beside the objects");
    assert!(String::from_utf8_lossy(&checkpoint).contains("\"cursor\""));
    // The owner record beside the checkpoint, let go at the end of the run.
    let owner = objects
        .remove("cli/.kube-log-exporter-checkpoint.json.owner")
        .expect("the owner record beside the checkpoint");
    let owner: serde_json::Value = serde_json::from_slice(&owner).unwrap();
    assert_eq!(owner["released"], true, "{owner}");
    assert_eq!(objects.len(), 1, "{:?}", objects.keys());
    let (key, body) = objects.iter().next().unwrap();
    assert!(
        key.starts_with("cli/shop/web-0/app/2026-11-23/") && key.ends_with(".log.gz"),
        "{key}"
    );
    assert_eq!(body, &render(&app, true));

    // The next run resumes from the bucket's checkpoint: one new object with the new lines only.
    let more = fake_api::lines(start() + jiff::SignedDuration::from_secs(60), 5, |i| {
        format!("more {i}")
    });
    api.append_log("shop", "web-0", "app", more.clone());
    let output = run(format!("s3://{BUCKET}/cli"), SECRET_KEY).await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut after = server.objects(BUCKET).await;
    after.remove("cli/.kube-log-exporter-checkpoint.json");
    after.remove("cli/.kube-log-exporter-checkpoint.json.owner");
    assert_eq!(after.len(), 2, "{:?}", after.keys());
    let new: Vec<_> = after.iter().filter(|(k, _)| !objects.contains_key(*k)).collect();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].1, &render(&more, true));

    let output = run(format!("s3://{BUCKET}/cli"), "wrong").await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("SignatureDoesNotMatch") && stderr.contains("AWS_SECRET_ACCESS_KEY"),
        "{stderr}"
    );
}

#[tokio::test]
#[ignore = "needs s3s-fs: scripts/test.sh installs it and runs these with --ignored"]
async fn a_failed_upload_moves_no_cursor_and_a_rerun_delivers_the_same_objects() {
    let mut server = S3Server::start();
    server.create_bucket(BUCKET);
    let api = FakeApiServer::start().await;
    let app = fake_api::lines(start(), 500, |i| format!("app line {i}"));
    api.add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(app.clone())));
    let selection = Selection::builder()
        .with_namespaces(Namespaces::Only(vec!["shop".into()]))
        .build()
        .unwrap();
    let new_sink = |server: &S3Server| {
        ObjectSink::builder(server.store(BUCKET), BUCKET)
            .with_max_object_bytes(4096)
            .build()
            .unwrap()
    };
    let checkpoints = tempfile::tempdir().unwrap();
    let store = Arc::new(FileCheckpointStore::new(checkpoints.path().join("checkpoint.json")));
    let export = |sink: ObjectSink| {
        Export::new(api.client(), selection.clone(), Box::new(sink))
            .with_checkpoint(store.clone())
            .with_commit_interval(Duration::from_secs(300))
            .run(CancellationToken::new())
    };

    server.stop();
    let err = export(new_sink(&server)).await.unwrap_err();
    let kle_core::Error::Sink(err) = err else {
        panic!("a sink error, not {err:?}")
    };
    assert_eq!(
        err.upload_failure().map(|f| f.code.as_str()),
        Some("unreachable"),
        "{err}"
    );
    let checkpoint = store.load().await.unwrap().unwrap();
    assert!(
        checkpoint.entries().all(|entry| entry.cursor.is_none()),
        "nothing delivered: {checkpoint:?}"
    );

    // Nothing was committed, so the rerun starts from the beginning; size rolls cut the same objects.
    server.restart();
    export(new_sink(&server)).await.unwrap();
    let objects = server.objects(BUCKET).await;
    assert_eq!(concatenated(&objects, "shop/web-0/app/"), render(&app, true));
}

/// A loopback proxy in front of `target` that keeps every byte the client sent: what the
/// requests carried, whatever the server made of it.
async fn recording_proxy(target: u16) -> (u16, Arc<std::sync::Mutex<Vec<u8>>>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let upstream = async move {
                    let mut buf = vec![0; 64 * 1024];
                    while let Ok(n) = client_read.read(&mut buf).await {
                        if n == 0 || server_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        record.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                    let _ = server_write.shutdown().await;
                };
                let downstream = async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                };
                tokio::join!(upstream, downstream);
            });
        }
    });
    (port, seen)
}

/// s3s-fs checks the storage class (it knows only STANDARD, and refuses others as AWS refuses
/// an unknown one) but stores objects unencrypted whatever the headers say, so for encryption
/// the test proves what the requests carry, through the command line's flags, the
/// configuration and `open_store`: not that a store encrypted anything.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs s3s-fs: scripts/test.sh installs it and runs these with --ignored"]
async fn storage_class_and_server_side_encryption_are_sent_with_every_object() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let port: u16 = server.endpoint().rsplit(':').next().unwrap().parse().unwrap();
    let (proxy, seen) = recording_proxy(port).await;
    let api = FakeApiServer::start().await;
    let app = fake_api::lines(start(), 20, |i| format!("app {i}"));
    api.add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(app.clone())));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, "fake").unwrap();
    let customer_key = dir.path().join("sse-c.key");
    // The base64 of 32 bytes.
    std::fs::write(&customer_key, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n").unwrap();
    let run = |prefix: &str, extra: Vec<String>| {
        let kubeconfig = kubeconfig.clone();
        let url = format!("s3://{BUCKET}/{prefix}");
        tokio::task::spawn_blocking(move || {
            exporter()
                .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
                .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
                .env("AWS_REGION", "us-east-1")
                .env_remove("AWS_ENDPOINT")
                .env_remove("AWS_SESSION_TOKEN")
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .args([
                    "export",
                    "-n",
                    "shop",
                    "--sink",
                    "s3",
                    "--s3-url",
                    &url,
                    "--s3-allow-http",
                ])
                .arg("--s3-endpoint")
                .arg(format!("http://127.0.0.1:{proxy}"))
                .args(extra)
                .output()
                .unwrap()
        })
    };
    // A class the store does not offer: its error, and what to do.
    let refused = run("ia", ["--storage-class", "STANDARD_IA"].map(String::from).to_vec())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("InvalidStorageClass") && stderr.contains("--storage-class"),
        "{stderr}"
    );
    seen.lock().unwrap().clear();

    let kms = run(
        "kms",
        ["--storage-class", "STANDARD", "--s3-sse-kms-key-id", "alias/kle-logs"]
            .map(String::from)
            .to_vec(),
    )
    .await
    .unwrap();
    assert!(kms.status.success(), "{}", String::from_utf8_lossy(&kms.stderr));
    let kms_requests = String::from_utf8_lossy(&std::mem::take(&mut *seen.lock().unwrap())).to_lowercase();
    let ssec = run(
        "ssec",
        vec!["--s3-sse-customer-key-file".into(), customer_key.display().to_string()],
    )
    .await
    .unwrap();
    assert!(ssec.status.success(), "{}", String::from_utf8_lossy(&ssec.stderr));
    let ssec_requests = String::from_utf8_lossy(&std::mem::take(&mut *seen.lock().unwrap())).to_lowercase();

    // The object's PUT carries the class; every PUT (object, checkpoint) the encryption.
    let object_put = kms_requests
        .split("put /")
        .find(|request| request.starts_with(&format!("{BUCKET}/kms/shop/")))
        .expect("the object's PUT");
    assert!(object_put.contains("x-amz-storage-class: standard\r\n"), "{object_put}");
    let checkpoint_put = kms_requests
        .split("put /")
        .find(|request| request.starts_with(&format!("{BUCKET}/kms/.kube-log-exporter-checkpoint.json ")))
        .expect("the checkpoint's PUT");
    assert!(
        !checkpoint_put.contains("x-amz-storage-class"),
        "the checkpoint keeps the bucket's class"
    );
    for put in kms_requests.split("put /").skip(1) {
        assert!(put.contains("x-amz-server-side-encryption: aws:kms"), "{put}");
        assert!(
            put.contains("x-amz-server-side-encryption-aws-kms-key-id: alias/kle-logs"),
            "{put}"
        );
    }
    // SSE-C: the key goes with every request, reads of the checkpoint included.
    assert!(
        ssec_requests.contains("get /logs/ssec/.kube-log-exporter-checkpoint.json"),
        "{ssec_requests}"
    );
    for request in ssec_requests
        .split("\r\n\r\n")
        .filter(|r| r.contains(" http/1.1\r\n") && r.contains("/ssec/"))
    {
        assert!(
            request.contains("x-amz-server-side-encryption-customer-algorithm: aes256")
                && request.contains("x-amz-server-side-encryption-customer-key-md5:"),
            "{request}"
        );
    }
    assert!(!ssec_requests.contains("x-amz-storage-class"));

    // A key file that is not a key is refused before anything is contacted.
    std::fs::write(&customer_key, "not a key").unwrap();
    let bad = run(
        "bad",
        vec!["--s3-sse-customer-key-file".into(), customer_key.display().to_string()],
    )
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not base64"), "{stderr}");
}
