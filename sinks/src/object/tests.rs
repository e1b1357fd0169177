//! The S3 sink against object_store's in-memory store (and a dead endpoint for failures).

use std::collections::BTreeMap;
use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt as _;
use kle_core::checkpoint::CheckpointStore as _;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt as _};

use super::*;
use crate::object::ObjectCheckpointStore;
use kle_core::testing::{TestLine, batch, container, container_in, line};

/// Every object in `store`, decompressed by its extension.
async fn objects(store: &InMemory) -> BTreeMap<String, Vec<u8>> {
    let metas: Vec<_> = store.list(None).try_collect().await.unwrap();
    let mut out = BTreeMap::new();
    for meta in metas {
        let key = meta.location.to_string();
        let bytes = store.get(&meta.location).await.unwrap().bytes().await.unwrap();
        out.insert(key.clone(), decompress(&key, &bytes));
    }
    out
}

fn decompress(key: &str, bytes: &[u8]) -> Vec<u8> {
    if key.ends_with(".zst") {
        zstd::decode_all(bytes).unwrap()
    } else if key.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out).unwrap();
        out
    } else {
        bytes.to_vec()
    }
}

/// `n` lines a microsecond apart from 10:00:00, each `size` bytes long before the newline.
fn lines(n: usize, size: usize, tag: &str) -> Vec<TestLine> {
    (0..n)
        .map(|i| {
            let ts = format!("2026-11-23T10:00:00.{:06}000Z", i);
            let head = format!("{tag} line {i} ");
            let pad = size.saturating_sub(ts.len() + 1 + head.len());
            line(&ts, &format!("{head}{}", "x".repeat(pad)))
        })
        .collect()
}

/// The API's bytes of `lines`: what a raw-with-timestamps object holds.
fn raw(lines: &[TestLine]) -> Vec<u8> {
    let mut out = Vec::new();
    for TestLine(raw, _) in lines {
        out.extend_from_slice(raw);
        out.push(b'\n');
    }
    out
}

fn sink(store: &Arc<InMemory>) -> ObjectSinkBuilder {
    let store: Arc<dyn ObjectStore> = Arc::clone(store) as Arc<dyn ObjectStore>;
    ObjectSink::builder(store, "logs").with_prefix("cluster-a")
}

#[tokio::test]
async fn objects_decompress_to_exactly_the_lines_in_every_compression() {
    for (compression, extension) in [
        (Compression::Zstd, ".log.zst"),
        (Compression::Gzip, ".log.gz"),
        (Compression::None, ".log"),
    ] {
        let store = Arc::new(InMemory::new());
        let mut sink = sink(&store).with_compression(compression).build().unwrap();
        let web = container("web-1", "app");
        let db = container("db-0", "postgres");
        let web_lines = lines(100, 80, "web");
        let db_lines = lines(10, 40, "db");
        for chunk in web_lines.chunks(7) {
            sink.write(&batch(&web, chunk.to_vec())).await.unwrap();
        }
        sink.write(&batch(&db, db_lines.clone())).await.unwrap();
        sink.commit().await.unwrap();

        let objects = objects(&store).await;
        let crc = crc32fast::hash(&raw(&web_lines));
        let expected_web = format!(
            "cluster-a/shop/web-1/app/2026-11-23/20261123T100000.000000000Z-20261123T100000.000099000Z-100-{crc:08x}{extension}"
        );
        assert_eq!(objects.len(), 2, "{:?}", objects.keys());
        assert_eq!(objects[&expected_web], raw(&web_lines), "{compression:?}");
        let db_key = objects.keys().find(|k| k.contains("/db-0/postgres/")).unwrap();
        assert!(db_key.ends_with(extension) && db_key.contains("-10-"), "{db_key}");
        assert_eq!(objects[db_key], raw(&db_lines));
        assert_eq!(sink.stats().objects, 2);
        assert_eq!(sink.stats().lines, 110);
        assert_eq!(sink.open_objects(), 0);
    }
}

#[tokio::test]
async fn size_rolls_cut_the_same_objects_whatever_the_batches() {
    let all = lines(1000, 99, "a");
    let mut runs = Vec::new();
    for batch_size in [1000, 1, 13, 250] {
        let store = Arc::new(InMemory::new());
        let mut sink = sink(&store)
            .with_compression(Compression::None)
            .with_max_object_bytes(10_000)
            .build()
            .unwrap();
        let c = container("web-1", "app");
        for chunk in all.chunks(batch_size) {
            sink.write(&batch(&c, chunk.to_vec())).await.unwrap();
        }
        sink.commit().await.unwrap();
        let objects = objects(&store).await;
        assert!(objects.values().all(|o| o.len() <= 10_000));
        let joined: Vec<u8> = objects.values().flatten().copied().collect();
        assert_eq!(joined, raw(&all), "keys sort by time, contents concatenate to the log");
        runs.push(objects);
    }
    assert_eq!(runs[0].len(), 10, "100 lines of 100 bytes per 10 000-byte object");
    assert!(
        runs.iter().all(|run| *run == runs[0]),
        "same keys and contents for every batching"
    );
}

#[tokio::test]
async fn a_repeated_upload_of_the_same_lines_overwrites_its_object() {
    let store = Arc::new(InMemory::new());
    let c = container("web-1", "app");
    let all = lines(50, 60, "a");
    for _ in 0..2 {
        let mut sink = sink(&store).build().unwrap();
        sink.write(&batch(&c, all.clone())).await.unwrap();
        sink.close().await.unwrap();
    }
    let objects = objects(&store).await;
    assert_eq!(objects.len(), 1, "{:?}", objects.keys());
    assert_eq!(objects.values().next().unwrap(), &raw(&all));
}

#[tokio::test]
async fn lines_sharing_one_timestamp_get_distinct_keys() {
    let store = Arc::new(InMemory::new());
    let c = container("web-1", "app");
    let same: Vec<TestLine> = (0..30)
        .map(|i| line("2026-11-23T10:00:00.5Z", &format!("same instant {i:02}")))
        .collect();
    let mut sink = sink(&store)
        .with_compression(Compression::None)
        .with_max_object_bytes(400)
        .build()
        .unwrap();
    sink.write(&batch(&c, same.clone())).await.unwrap();
    sink.commit().await.unwrap();
    let objects = objects(&store).await;
    let total: usize = objects.values().map(Vec::len).sum();
    assert_eq!(
        total,
        raw(&same).len(),
        "no object overwrote another: {:?}",
        objects.keys()
    );
}

#[tokio::test]
async fn large_objects_go_up_in_parts() {
    let store = Arc::new(InMemory::new());
    let mut sink = sink(&store)
        .with_compression(Compression::None)
        .with_max_object_bytes(20 * 1024 * 1024)
        .with_part_bytes(MIN_PART_BYTES)
        .build()
        .unwrap();
    let c = container("web-1", "app");
    let all = lines(12_000, 1000, "big");
    sink.write(&batch(&c, all.clone())).await.unwrap();
    sink.commit().await.unwrap();
    assert_eq!(sink.stats().multipart_objects, 1);
    let objects = objects(&store).await;
    assert_eq!(objects.len(), 1);
    assert_eq!(objects.values().next().unwrap(), &raw(&all));
}

#[tokio::test]
async fn end_container_uploads_only_that_containers_object() {
    let store = Arc::new(InMemory::new());
    let mut sink = sink(&store).build().unwrap();
    let web = container("web-1", "app");
    let db = container("db-0", "postgres");
    sink.write(&batch(&web, lines(5, 50, "w"))).await.unwrap();
    sink.write(&batch(&db, lines(5, 50, "d"))).await.unwrap();
    sink.end_container(&web).await.unwrap();
    assert_eq!(sink.open_objects(), 1);
    // The upload runs in the background; the commit waits for it.
    sink.commit().await.unwrap();
    let keys: Vec<String> = objects(&store).await.into_keys().collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
}

#[tokio::test(start_paused = true)]
async fn an_object_rolls_at_its_maximum_age_when_its_container_writes() {
    let store = Arc::new(InMemory::new());
    let mut sink = sink(&store)
        .with_max_object_age(Duration::from_secs(60))
        .build()
        .unwrap();
    let c = container("web-1", "app");
    let all = lines(4, 50, "a");
    sink.write(&batch(&c, all[..2].to_vec())).await.unwrap();
    tokio::time::advance(Duration::from_secs(30)).await;
    sink.write(&batch(&c, all[2..3].to_vec())).await.unwrap();
    tokio::time::advance(Duration::from_secs(31)).await;
    sink.write(&batch(&c, all[3..].to_vec())).await.unwrap();
    sink.commit().await.unwrap();
    let objects = objects(&store).await;
    let lines_per_object: Vec<usize> = objects
        .values()
        .map(|o| o.iter().filter(|&&b| b == b'\n').count())
        .collect();
    assert_eq!(lines_per_object, vec![3, 1]);
}

#[tokio::test]
async fn the_memory_cap_rolls_the_largest_object_early() {
    let store = Arc::new(InMemory::new());
    let mut sink = sink(&store)
        .with_compression(Compression::None)
        .with_max_buffered_bytes(50_000)
        .build()
        .unwrap();
    let mut expected = BTreeMap::new();
    for i in 0..20 {
        let c = container(&format!("web-{i}"), "app");
        let all = lines(100, 100, &format!("c{i}"));
        sink.write(&batch(&c, all.clone())).await.unwrap();
        assert!(sink.buffered_bytes() <= 50_000, "{}", sink.buffered_bytes());
        expected.insert(format!("web-{i}"), raw(&all));
    }
    sink.commit().await.unwrap();
    let objects = objects(&store).await;
    for (pod, bytes) in expected {
        let got: Vec<u8> = objects
            .iter()
            .filter(|(k, _)| k.contains(&format!("/{pod}/")))
            .flat_map(|(_, v)| v.clone())
            .collect();
        assert_eq!(got, bytes, "{pod}");
    }
}

#[tokio::test]
async fn json_objects_are_ndjson_and_label_values_cannot_escape_the_prefix() {
    let store = Arc::new(InMemory::new());
    let mut sink = sink(&store)
        .with_format(Format::Json)
        .with_key_template("{label:team}/{pod}/{container}/{first_ts}-{last_ts}-{hash}")
        .build()
        .unwrap();
    let c = container_in("shop", "web-1", "app", &[("team", "../../x")], None);
    sink.write(&batch(&c, lines(3, 50, "j"))).await.unwrap();
    sink.commit().await.unwrap();
    let objects = objects(&store).await;
    let (key, body) = objects.iter().next().unwrap();
    assert!(key.starts_with("cluster-a/.._.._x/web-1/app/"), "{key}");
    assert!(key.ends_with(".ndjson.zst"), "{key}");
    let text = String::from_utf8(body.clone()).unwrap();
    assert_eq!(text.lines().count(), 3);
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["pod"], "web-1");
    }
}

#[test]
fn key_templates_must_name_objects_uniquely() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    for (template, needle) in [
        ("{namespace}/{pod}/{container}.log", "{first_ts}"),
        (
            "{namespace}/{container}/{first_ts}-{last_ts}-{hash}",
            "{pod} or {pod_uid}",
        ),
        ("{pod}/{first_ts}-{last_ts}-{hash}", "{container}"),
        ("{pod}/{container}/{first_ts}-{hash}", "{last_ts}"),
        ("{pod}/{container}/{first_ts}-{last_ts}-{lines}", "{hash}"),
        ("/{pod}", "relative"),
    ] {
        let err = ObjectSink::builder(Arc::clone(&store), "b")
            .with_key_template(template)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains(needle), "{template}: {err}");
    }
    let small_parts = ObjectSink::builder(Arc::clone(&store), "b")
        .with_part_bytes(1024)
        .build()
        .unwrap_err();
    assert!(small_parts.to_string().contains("minimum"), "{small_parts}");
    assert!(
        ObjectSink::builder(store, "b")
            .with_key_template("{pod_uid}/{container}/{date}/{hour}/{first_ts}_{last_ts}_{hash}")
            .build()
            .is_ok()
    );
}

#[cfg(feature = "s3")]
#[tokio::test]
async fn an_unreachable_endpoint_fails_the_commit_and_keeps_the_object() {
    // Static keys: no lookup of instance metadata; nothing listens on port 9.
    let store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("logs")
        .with_endpoint("http://127.0.0.1:9")
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("AKIDTEST")
        .with_secret_access_key("secret")
        .with_retry(object_store::RetryConfig {
            max_retries: 0,
            ..Default::default()
        })
        .build()
        .unwrap();
    let mut sink = ObjectSink::builder(Arc::new(store), "logs")
        .with_prefix("a")
        .build()
        .unwrap();
    let c = container("web-1", "app");
    sink.write(&batch(&c, lines(3, 50, "a"))).await.unwrap();
    for _ in 0..2 {
        let err = sink.commit().await.unwrap_err();
        let failure = err.upload_failure().unwrap();
        assert_eq!(failure.bucket, "logs");
        assert!(failure.key.starts_with("a/shop/web-1/app/"), "{}", failure.key);
        assert_eq!(failure.code, "unreachable", "{err}");
        let message = err.to_string();
        assert!(
            message.contains("s3://logs/a/shop/web-1/app/") && message.contains("--s3-endpoint"),
            "{message}"
        );
    }
    assert_eq!(sink.stats().objects, 0);
    assert_eq!(
        sink.stats().failed_uploads,
        2,
        "kept and tried again by the second commit"
    );
}

#[test]
fn config_from_yaml_and_url_checks() {
    let config: crate::SinkConfig =
        serde_saphyr::from_str("type: s3\nurl: s3://logs/cluster-a/\ncompression: gzip\n").unwrap();
    let crate::SinkConfig::S3(s3) = &config else {
        panic!("{config:?}")
    };
    let valid = s3.validated().unwrap();
    assert_eq!((valid.bucket(), valid.prefix()), ("logs", "cluster-a"));
    assert_eq!(s3.extension(), ".log.gz");
    assert_eq!(s3.max_object_age(), DEFAULT_MAX_OBJECT_AGE);
    let valid = ObjectStoreConfig::new("s3://logs").validated().unwrap();
    assert_eq!((valid.bucket(), valid.prefix()), ("logs", ""));
    for url in ["logs/x", "s3:///x", "s3://b/../x", "s3://b/a//c", "s3://b/a\tb"] {
        assert!(ObjectStoreConfig::new(url).validate().is_err(), "{url}");
    }
    let zero = ObjectStoreConfig::new("s3://b").with_max_object(0, Duration::from_secs(1));
    assert!(zero.validate().is_err());
    let unknown: Result<crate::SinkConfig, _> = serde_saphyr::from_str("type: s3\nurl: s3://b\nbukcet: x\n");
    assert!(unknown.is_err());
}

#[test]
fn validation_reports_the_first_problem_in_the_same_words_as_before() {
    let base = || ObjectStoreConfig::new("s3://logs/a");
    for (config, expected) in [
        (
            ObjectStoreConfig::new("logs/a"),
            "invalid s3 sink configuration: the url \"logs/a\" must look like s3://bucket/prefix, az://container/prefix or gs://bucket/prefix",
        ),
        (
            ObjectStoreConfig::new("s3:///a"),
            "invalid s3 sink configuration: the url \"s3:///a\" names no bucket: use s3://bucket/prefix",
        ),
        (
            ObjectStoreConfig::new("s3://b/x/../y"),
            "invalid s3 sink configuration: the prefix \"x/../y\" must not contain empty, `.` or `..` parts, or control characters",
        ),
        (
            base().with_format(crate::encode::FormatKind::Template, true),
            "invalid s3 sink configuration: `format: template` is for the stdout sink; use raw, text or json",
        ),
        (
            base().with_max_object(0, Duration::from_secs(1)),
            "invalid s3 sink configuration: `max_object_bytes` must be at least 1",
        ),
        (
            base().with_max_object(1, Duration::ZERO),
            "invalid s3 sink configuration: `max_object_age_secs` must be at least 1",
        ),
        (
            ObjectStoreConfig {
                connect_timeout_secs: 0,
                ..base()
            },
            "invalid s3 sink configuration: the request and connect timeouts must be at least 1 second",
        ),
    ] {
        let sink_config = crate::SinkConfig::S3(config.clone());
        assert_eq!(sink_config.validate().unwrap_err().to_string(), expected);
        assert_eq!(config.validated().unwrap_err().to_string(), expected);
        assert_eq!(ObjectSink::from_config(&config).unwrap_err().to_string(), expected);
        assert_eq!(
            ObjectCheckpointStore::from_config(&config).unwrap_err().to_string(),
            expected
        );
    }
    let err = base().with_key_template("{pod}/{first_ts}").validate().unwrap_err();
    assert!(
        err.to_string()
            .contains("an object key template must contain {last_ts}, {hash}, {container}"),
        "{err}"
    );
}

/// The sink and the checkpoint store take the settings checked once: keys under the prefix,
/// the template parsed, the format and compression as configured.
#[tokio::test]
async fn the_sink_and_the_checkpoint_store_share_the_checked_settings() {
    let valid = ObjectStoreConfig::new("s3://logs/cluster-a/")
        .with_key_template("{pod}/{container}/{first_ts}-{last_ts}-{hash}")
        .with_compression(Compression::None)
        .validated()
        .unwrap();
    assert_eq!(
        ObjectCheckpointStore::from_valid(&valid).unwrap().describe(),
        "s3://logs/cluster-a/.kube-log-exporter-checkpoint.json"
    );
    let store = Arc::new(InMemory::new());
    let mut sink = ObjectSinkBuilder::from_valid(store.clone(), &valid).build().unwrap();
    assert_eq!(sink.describe(), "s3://logs/cluster-a");
    let c = container("web-1", "app");
    sink.write(&batch(&c, vec![line("2026-11-23T10:00:00Z", "one")]))
        .await
        .unwrap();
    sink.commit().await.unwrap();
    let objects = objects(&store).await;
    let keys: Vec<_> = objects.keys().collect();
    assert_eq!(keys.len(), 1);
    assert!(
        keys[0].starts_with("cluster-a/web-1/app/20261123T100000.000000000Z-20261123T100000.000000000Z-")
            && keys[0].ends_with(".log"),
        "{keys:?}"
    );
}

#[test]
fn json_extension() {
    assert_eq!(
        ObjectStoreConfig::new("s3://b")
            .with_format(crate::encode::FormatKind::Json, true)
            .extension(),
        ".ndjson.zst"
    );
}

#[tokio::test]
async fn a_gap_is_recorded_as_a_marker_line_in_the_containers_object() {
    let store = Arc::new(InMemory::new());
    let mut sink = sink(&store).with_compression(Compression::None).build().unwrap();
    let c = container("web-1", "app");
    let before = lines(2, 50, "a");
    sink.write(&batch(&c, before.clone())).await.unwrap();
    let gap = kle_core::Gap {
        container: Arc::clone(&c),
        reason: kle_core::GapReason::Rotated,
        after: batch(&c, before.clone()).lines.cursor_after(None),
        until: None,
    };
    sink.gap(&gap).await.unwrap();
    sink.commit().await.unwrap();
    let objects = objects(&store).await;
    let body = String::from_utf8(objects.values().next().unwrap().clone()).unwrap();
    assert!(body.starts_with(&String::from_utf8(raw(&before)).unwrap()), "{body}");
    assert!(body.contains("GAP"), "{body}");

    // A gap alone still makes an object, named by the gap's time.
    let other = container("web-2", "app");
    let alone = kle_core::Gap {
        container: Arc::clone(&other),
        reason: kle_core::GapReason::PodDeleted,
        after: None,
        until: Some("2026-11-23T11:00:00Z".parse().unwrap()),
    };
    sink.gap(&alone).await.unwrap();
    sink.commit().await.unwrap();
    let objects = super::tests::objects(&store).await;
    let key = objects.keys().find(|k| k.contains("/web-2/")).unwrap();
    assert!(
        key.contains("20261123T110000.000000000Z-20261123T110000.000000000Z-0-"),
        "{key}"
    );
}

#[test]
fn the_sink_asks_to_be_committed_once_per_object_age() {
    // Each commit finishes the open objects: a commit every second would make tiny objects.
    let store = Arc::new(InMemory::new());
    let sink = sink(&store)
        .with_max_object_age(Duration::from_secs(90))
        .build()
        .unwrap();
    assert_eq!(kle_core::Sink::commit_interval(&sink), Some(Duration::from_secs(90)));
}
