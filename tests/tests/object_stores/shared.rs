//! The object sink's tests that every backend must pass, against a real server of that
//! backend: included by `azure.rs` and `gcs.rs` (S3's are in `s3.rs`). Each takes the
//! configuration that reaches the server, so the client is made the way a user's is, by
//! `kle_sinks::object::open_store`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt as _;
use jiff::{SignedDuration, Timestamp};
use kle_core::checkpoint::CheckpointStore;
use kle_core::container::PodInfo;
use kle_core::lines::Lines;
use kle_core::ownership::{Claimant, OwnerGuard, RecordStore};
use kle_core::{Container, Export, LogBatch, Namespaces, Selection, Sink};
use kle_sinks::object::{
    CHECKPOINT_OBJECT, Compression, ObjectCheckpointStore, ObjectOwnerRecord, ObjectSink, ObjectStoreConfig,
};
use kle_tests::fake_api::{self, FakeApiServer, FakeContainer, FakePod, render};
use kle_tests::s3::decompress;
use object_store::ObjectStoreExt as _;
use tokio_util::sync::CancellationToken;

pub(crate) fn start() -> Timestamp {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

pub(crate) fn container(pod: &str, name: &str) -> Arc<Container> {
    let pod = PodInfo::new("shop", pod, format!("uid-{pod}")).with_node("node-1");
    Arc::new(Container::new(Arc::new(pod), name))
}

/// Lines `from..to`, a millisecond apart, as the API sends them (without the newline).
pub(crate) fn lines(from: usize, to: usize) -> Vec<Vec<u8>> {
    (from..to)
        .map(|i| {
            let ts = fake_api::format_timestamp(start() + SignedDuration::from_millis(i as i64));
            format!("{ts} line {i} {}", "x".repeat(i % 97)).into_bytes()
        })
        .collect()
}

pub(crate) fn raw(lines: &[Vec<u8>]) -> Vec<u8> {
    lines.iter().flat_map(|l| [&l[..], b"\n"].concat()).collect()
}

pub(crate) fn batch(container: &Arc<Container>, lines: &[Vec<u8>]) -> LogBatch {
    let lines = lines.iter().fold(Lines::builder(), |b, line| b.full(line)).build();
    LogBatch::new(Arc::clone(container), lines)
}

/// Every object under the configuration's bucket, decompressed by extension, read through the
/// same `open_store` the sink uses.
pub(crate) async fn objects(config: &ObjectStoreConfig) -> BTreeMap<String, Vec<u8>> {
    let (store, _) = config.open().unwrap();
    let metas: Vec<_> = store.list(None).try_collect().await.unwrap();
    let mut out = BTreeMap::new();
    for meta in metas {
        let key = meta.location.to_string();
        let bytes = store.get(&meta.location).await.unwrap().bytes().await.unwrap();
        out.insert(key.clone(), decompress(&key, &bytes));
    }
    out
}

/// The objects whose key contains `path`, concatenated in key order (keys sort by first timestamp).
pub(crate) fn concatenated(objects: &BTreeMap<String, Vec<u8>>, path: &str) -> Vec<u8> {
    objects
        .iter()
        .filter(|(key, _)| key.contains(path))
        .flat_map(|(_, bytes)| bytes.clone())
        .collect()
}

/// Two containers' lines through a sink built from `config`, in zstd and gzip: each reads back
/// as exactly its lines, under `scheme://bucket/prefix`.
pub(crate) async fn the_sink_writes_objects_that_read_back_line_for_line(config: ObjectStoreConfig, scheme: &str) {
    for (compression, prefix) in [(Compression::Zstd, "zstd"), (Compression::Gzip, "gzip")] {
        let url = format!("{}/{prefix}", config.url);
        let mut config = config.clone();
        config.url = url;
        let config = config
            .with_compression(compression)
            .with_max_object(16 * 1024, Duration::from_secs(300));
        let mut sink = ObjectSink::from_config(&config).unwrap();
        assert!(
            sink.describe().starts_with(&format!("{scheme}://")),
            "{}",
            sink.describe()
        );
        let (app, sidecar) = (container("web-0", "app"), container("web-0", "sidecar"));
        let app_lines = lines(0, 600);
        let sidecar_lines = lines(0, 20);
        for chunk in app_lines.chunks(50) {
            sink.write(&batch(&app, chunk)).await.unwrap();
        }
        sink.write(&batch(&sidecar, &sidecar_lines)).await.unwrap();
        sink.commit().await.unwrap();
        let objects = objects(&config).await;
        assert_eq!(
            concatenated(&objects, &format!("{prefix}/shop/web-0/app/")),
            raw(&app_lines)
        );
        assert_eq!(
            concatenated(&objects, &format!("{prefix}/shop/web-0/sidecar/")),
            raw(&sidecar_lines)
        );
        let app_objects = objects
            .keys()
            .filter(|k| k.contains(&format!("{prefix}/shop/web-0/app/")))
            .count();
        assert!(app_objects > 1, "16 KiB objects: rolled by size");
        let mine = format!("/{prefix}/");
        assert!(
            objects
                .keys()
                .filter(|k| k.contains(&mine))
                .all(|k| k.ends_with(compression.extension())),
            "{:?}",
            objects.keys()
        );
    }
}

/// An export with its checkpoint beside the objects, run twice with lines logged in between:
/// the second run resumes, and the archive holds every line once.
pub(crate) async fn an_export_resumes_from_the_checkpoint_beside_the_objects(config: ObjectStoreConfig) {
    let api = FakeApiServer::start().await;
    let first = fake_api::lines(start(), 400, |i| format!("app line {i}"));
    api.add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(first.clone())));
    let selection = Selection::builder()
        .with_namespaces(Namespaces::Only(vec!["shop".into()]))
        .build()
        .unwrap();
    let run = || async {
        let store = Arc::new(ObjectCheckpointStore::from_config(&config).unwrap());
        Export::new(
            api.client(),
            selection.clone(),
            Box::new(ObjectSink::from_config(&config).unwrap()),
        )
        .with_checkpoint(store)
        .with_commit_interval(Duration::from_secs(300))
        .run(CancellationToken::new())
        .await
        .unwrap()
    };
    let report = run().await;
    assert_eq!(report.delivery.lines, 400);
    let more = fake_api::lines(start() + SignedDuration::from_secs(3600), 30, |i| format!("more {i}"));
    api.append_log("shop", "web-0", "app", more.clone());
    let second = run().await;

    let mut objects = objects(&config).await;
    let prefix = config.url.split_once("://").unwrap().1.split_once('/').unwrap().1;
    let checkpoint = objects
        .remove(&format!("{prefix}/{CHECKPOINT_OBJECT}"))
        .expect("the checkpoint beside the objects");
    assert!(String::from_utf8_lossy(&checkpoint).contains("\"cursor\""));
    let all: Vec<_> = first.iter().chain(&more).cloned().collect();
    assert_eq!(
        String::from_utf8_lossy(&concatenated(&objects, "/shop/web-0/app/")),
        String::from_utf8_lossy(&render(&all, true))
    );
    assert_eq!(
        second.delivery.lines, 30,
        "the second run resumes after the first one's lines"
    );
}

/// The checkpoint and its owner record are written by compare-and-swap on the real server: a
/// deposed run's late save fails, two first runs cannot both create, a stale owner record
/// version is refused, and a second run cannot take the checkpoint a live run holds.
pub(crate) async fn the_checkpoint_and_its_owner_are_fenced_by_compare_and_swap(config: ObjectStoreConfig) {
    let deposed = ObjectCheckpointStore::from_config(&config).unwrap();
    let successor = ObjectCheckpointStore::from_config(&config).unwrap();
    let checkpoint = kle_core::checkpoint::Checkpoint::default();
    assert_eq!(deposed.load().await.unwrap(), None);
    assert_eq!(successor.load().await.unwrap(), None);
    deposed.save(&checkpoint).await.unwrap();
    let err = successor.save(&checkpoint).await.unwrap_err().to_string();
    assert!(
        err.contains("changed by someone else"),
        "two first runs: only one creates: {err}"
    );
    successor.load().await.unwrap();
    successor.save(&checkpoint).await.unwrap();
    let err = deposed.save(&checkpoint).await.unwrap_err().to_string();
    assert!(err.contains("changed by someone else"), "{err}");
    successor.save(&checkpoint).await.unwrap();

    let (store, location) = config.open().unwrap();
    let record =
        ObjectOwnerRecord::new(store, location.bucket(), location.key("fence.owner")).in_backend(location.backend());
    let mine = Claimant::new("a", 1).record(Some(Duration::from_secs(15)));
    let version = record.write(&mine, None).await.unwrap().expect("created");
    assert!(record.write(&mine, None).await.unwrap().is_none(), "created only once");
    let theirs = Claimant::new("b", 2).record(Some(Duration::from_secs(15)));
    let next = record
        .write(&theirs, Some(&version))
        .await
        .unwrap()
        .expect("replaced at its version");
    assert!(
        record.write(&mine, Some(&version)).await.unwrap().is_none(),
        "a stale version is refused"
    );
    assert_eq!(record.read().await.unwrap(), Some((theirs, next)));

    // Ownership as a run takes it: a second claimant is turned away while the first holds it.
    let ownership = successor.ownership().unwrap();
    let held = OwnerGuard::acquire(Arc::clone(&ownership), Claimant::new("run-1", 1), None)
        .await
        .unwrap();
    let err = OwnerGuard::acquire(ownership, Claimant::new("run-2", 2), None)
        .await
        .unwrap_err();
    assert!(matches!(err, kle_core::Error::OwnedElsewhere { .. }), "{err}");
    held.release().await;
}
