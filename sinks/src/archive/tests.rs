//! The reader against what the sinks write: the S3 sink into object_store's in-memory store,
//! the file sink into a temporary directory.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use kle_core::testing::{TestLine, batch, container_in, line};
use kle_core::{Container, Gap, GapReason, Sink};
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};

use super::*;
use crate::encode::Encoder;
use crate::s3::{Compression, S3Sink};

fn start() -> Timestamp {
    "2026-11-23T23:00:00Z".parse().unwrap()
}

/// Line `i` of `tag`, `i` minutes after 23:00 (so past midnight from 60 on).
fn test_line(tag: &str, i: i64) -> TestLine {
    let ts = start() + SignedDuration::from_mins(i);
    line(&format!("{ts:.9}"), &format!("{tag} line {i}"))
}

fn raw(lines: &[TestLine]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|TestLine(raw, _)| [&raw[..], b"\n"].concat())
        .collect()
}

fn store() -> (Arc<InMemory>, Source) {
    let memory = Arc::new(InMemory::new());
    let dyn_store: Arc<dyn ObjectStore> = Arc::clone(&memory) as Arc<dyn ObjectStore>;
    (memory, Source::store(dyn_store, "logs", "cluster-a"))
}

fn sink(source: &Source, max_object_bytes: u64, compression: Compression) -> S3Sink {
    let Source::Store { store, .. } = source else {
        panic!("a store")
    };
    S3Sink::builder(Arc::clone(store), "logs")
        .with_prefix("cluster-a")
        .with_compression(compression)
        .with_max_object_bytes(max_object_bytes)
        .build()
        .unwrap()
}

/// Writes `lines` of `container` in batches of `per_batch`, committing after each.
async fn write(sink: &mut dyn Sink, container: &Arc<Container>, lines: &[TestLine], per_batch: usize) {
    for chunk in lines.chunks(per_batch) {
        sink.write(&batch(container, chunk.to_vec())).await.unwrap();
        sink.commit().await.unwrap();
    }
}

/// Every record, encoded as raw lines with timestamps, per container (`ns/pod/container`),
/// and gaps as `GAP <reason>`.
async fn read(reader: ArchiveReader) -> (BTreeMap<String, Vec<u8>>, Vec<String>, ReadStats) {
    let mut reading = reader.open().await.unwrap();
    let mut encoder = Encoder::new(Format::RAW_WITH_TIMESTAMPS);
    let mut out: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut order = Vec::new();
    while let Some(record) = reading.next().await.unwrap() {
        match record {
            Record::Lines(batch) => {
                let name = batch.container.to_string();
                for line in &batch.lines {
                    order.push(String::from_utf8_lossy(line.raw()).into_owned());
                }
                encoder.encode(&batch, out.entry(name).or_default());
            }
            Record::Gap(gap) => order.push(format!("GAP {}", gap.reason)),
        }
    }
    (out, order, reading.stats())
}

fn containers() -> [Arc<Container>; 3] {
    [
        container_in("shop", "web-1", "app", &[], None),
        container_in("shop", "web-1", "sidecar", &[], None),
        container_in("ops", "db-0", "postgres", &[], None),
    ]
}

/// Each container's lines: 120 minutes from 23:00, so two days; the containers interleave.
fn archive_lines() -> Vec<Vec<TestLine>> {
    ["a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(n, tag)| (0..40).map(|i| test_line(tag, i * 3 + n as i64)).collect())
        .collect()
}

async fn write_archive(source: &Source, compression: Compression) {
    let mut sink = sink(source, 300, compression);
    for (container, lines) in containers().iter().zip(archive_lines()) {
        write(&mut sink, container, &lines, 7).await;
    }
    sink.close().await.unwrap();
}

#[tokio::test]
async fn every_line_once_per_container_in_every_compression() {
    for compression in [Compression::Zstd, Compression::Gzip, Compression::None] {
        let (_, source) = store();
        write_archive(&source, compression).await;
        let (out, _, stats) = read(ArchiveReader::new(source)).await;
        assert!(stats.objects > 6, "several objects per container: {stats:?}");
        let expected: BTreeMap<_, _> = containers()
            .iter()
            .zip(archive_lines())
            .map(|(c, lines)| (c.to_string(), raw(&lines)))
            .collect();
        assert_eq!(out, expected, "{compression:?}");
        assert_eq!(stats.lines, 120);
        assert_eq!(stats.objects_read, stats.objects);
    }
}

#[tokio::test]
async fn merged_lines_come_in_time_order() {
    let (_, source) = store();
    write_archive(&source, Compression::Zstd).await;
    let (_, order, _) = read(ArchiveReader::new(source).with_merge(true)).await;
    let mut expected: Vec<TestLine> = archive_lines().into_iter().flatten().collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    let expected: Vec<String> = expected
        .iter()
        .map(|TestLine(raw, _)| String::from_utf8_lossy(raw).into_owned())
        .collect();
    assert_eq!(order, expected);
}

#[tokio::test]
async fn selectors_and_time_bounds() {
    let (_, source) = store();
    write_archive(&source, Compression::Zstd).await;
    let since = start() + SignedDuration::from_mins(60);
    let until = start() + SignedDuration::from_mins(90);
    let filter = Filter::builder()
        .with_namespaces(["shop"])
        .with_exclude_containers(["^side"])
        .with_since(since)
        .with_until(until)
        .build()
        .unwrap();
    let (out, _, stats) = read(ArchiveReader::new(source.clone()).with_filter(filter)).await;
    let lines: Vec<TestLine> = archive_lines()[0]
        .iter()
        .filter(|l| {
            let ts: Timestamp = std::str::from_utf8(&l.0[..30]).unwrap().parse().unwrap();
            ts >= since && ts <= until
        })
        .cloned()
        .collect();
    assert_eq!(out, BTreeMap::from([("shop/web-1/app".to_owned(), raw(&lines))]));
    assert!(
        stats.out_of_range > 0,
        "objects outside the range are not fetched: {stats:?}"
    );

    let filter = Filter::builder()
        .with_pod("^db-")
        .with_container("post")
        .build()
        .unwrap();
    let (out, _, _) = read(ArchiveReader::new(source).with_filter(filter)).await;
    assert_eq!(out.keys().collect::<Vec<_>>(), ["ops/db-0/postgres"]);
}

#[tokio::test]
async fn copies_from_resumed_runs_come_out_once() {
    let (_, source) = store();
    let web = &containers()[0];
    let lines: Vec<TestLine> = (0..100).map(|i| test_line("w", i)).collect();
    // A first run uploads everything, then "crashes"; a resumed run re-exports from line 30
    // cut at other points; another from line 30 that stopped earlier (same first line).
    let mut first = sink(&source, 400, Compression::Zstd);
    write(&mut first, web, &lines, 9).await;
    let mut resumed = sink(&source, 650, Compression::Zstd);
    write(&mut resumed, web, &lines[30..], 13).await;
    let mut shorter = sink(&source, 650, Compression::Zstd);
    write(&mut shorter, web, &lines[30..50], 13).await;
    let (out, _, stats) = read(ArchiveReader::new(source)).await;
    assert_eq!(out, BTreeMap::from([(web.to_string(), raw(&lines))]));
    assert!(stats.overlapped > 0, "{stats:?}");
}

#[tokio::test]
async fn gaps_come_out_as_gaps_not_lines() {
    let (_, source) = store();
    let web = &containers()[0];
    let lines: Vec<TestLine> = (0..10).map(|i| test_line("w", i)).collect();
    let mut sink = sink(&source, 1 << 20, Compression::Gzip);
    sink.write(&batch(web, lines[..5].to_vec())).await.unwrap();
    let gap = Gap {
        container: Arc::clone(web),
        reason: GapReason::Rotated,
        after: None,
        until: Some(start() + SignedDuration::from_mins(5)),
    };
    sink.gap(&gap).await.unwrap();
    sink.write(&batch(web, lines[5..].to_vec())).await.unwrap();
    sink.close().await.unwrap();
    let (out, order, _) = read(ArchiveReader::new(source)).await;
    assert_eq!(out, BTreeMap::from([(web.to_string(), raw(&lines))]));
    assert_eq!(order[5], "GAP rotated");
}

#[tokio::test]
async fn json_archives_give_back_the_api_bytes() {
    let (_, source) = store();
    let Source::Store { store, .. } = &source else {
        unreachable!()
    };
    let mut sink = S3Sink::builder(Arc::clone(store), "logs")
        .with_prefix("cluster-a")
        .with_format(Format::Json)
        .build()
        .unwrap();
    let web = &containers()[0];
    let lines: Vec<TestLine> = (0..10).map(|i| test_line("w", i)).collect();
    write(&mut sink, web, &lines, 4).await;
    let (out, _, _) = read(ArchiveReader::new(source)).await;
    assert_eq!(out, BTreeMap::from([(web.to_string(), raw(&lines))]));
}

#[tokio::test]
async fn foreign_keys_are_skipped_and_a_foreign_object_under_an_archive_key_is_an_error() {
    let (memory, source) = store();
    write_archive(&source, Compression::Zstd).await;
    for key in ["cluster-a/README.txt", "cluster-a/.kube-log-exporter-checkpoint.json"] {
        memory.put(&key.into(), PutPayload::from_static(b"{}")).await.unwrap();
    }
    let (_, _, stats) = read(ArchiveReader::new(source.clone())).await;
    assert_eq!(stats.foreign, 1, "the checkpoint is the sinks' own, not foreign");

    let key =
        "cluster-a/shop/web-9/app/2026-11-23/20261123T230000.000000000Z-20261123T230000.000000000Z-1-00000000.log.zst";
    memory
        .put(&key.into(), PutPayload::from_static(b"not zstd"))
        .await
        .unwrap();
    let filter = Filter::builder().with_pod("web-9").build().unwrap();
    let mut reading = ArchiveReader::new(source).with_filter(filter).open().await.unwrap();
    let err = reading.next().await.unwrap_err();
    assert!(matches!(err, ReadError::NotAnArchive { .. }), "{err}");
    assert!(err.to_string().contains("web-9"), "{err}");
}

#[tokio::test]
async fn a_file_sink_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = crate::file::FileSink::builder(dir.path())
        .with_layout("{namespace}/{pod}/{date}/{container}.log")
        .build()
        .unwrap();
    for (container, lines) in containers().iter().zip(archive_lines()) {
        write(&mut sink, container, &lines, 11).await;
    }
    let gap = Gap {
        container: Arc::clone(&containers()[2]),
        reason: GapReason::PodDeleted,
        after: None,
        until: None,
    };
    sink.gap(&gap).await.unwrap();
    sink.close().await.unwrap();
    let source = Source::directory(dir.path());
    let reader = ArchiveReader::new(source.clone()).with_template("{namespace}/{pod}/{date}/{container}.log");
    let (out, order, _) = read(reader).await;
    let expected: BTreeMap<_, _> = containers()
        .iter()
        .zip(archive_lines())
        .map(|(c, lines)| (c.to_string(), raw(&lines)))
        .collect();
    assert_eq!(out, expected);
    assert_eq!(order.iter().filter(|o| o.starts_with("GAP")).count(), 1, "{order:?}");
    let until = start() + SignedDuration::from_mins(30);
    let filter = Filter::builder()
        .with_namespaces(["ops"])
        .with_until(until)
        .build()
        .unwrap();
    let reader = ArchiveReader::new(source)
        .with_template("{namespace}/{pod}/{date}/{container}.log")
        .with_filter(filter);
    let (out, _, stats) = read(reader).await;
    assert_eq!(out.keys().collect::<Vec<_>>(), ["ops/db-0/postgres"]);
    assert_eq!(stats.objects, 1, "the next day's file is not read: {stats:?}");
}

#[tokio::test]
async fn sources_by_url() {
    let s3 = crate::s3::S3Config::new("s3://unused").with_endpoint("http://127.0.0.1:1", true);
    assert!(matches!(Source::open("s3://logs/a", &s3), Ok(Source::Store { .. })));
    assert!(matches!(Source::open("some/dir", &s3), Ok(Source::Directory(_))));
    for (url, needle) in [
        ("ftp://x/y", "unknown store \"ftp\""),
        ("az://b/p", "Account must be specified"),
        ("s3:///p", "no bucket"),
    ] {
        let err = Source::open(url, &s3).unwrap_err();
        assert!(err.to_string().contains(needle), "{url}: {err}");
    }
    let missing = ArchiveReader::new(Source::directory("/nonexistent/kle"))
        .open()
        .await
        .unwrap_err();
    assert!(
        matches!(
            missing,
            ReadError::Store {
                failure: StoreFailure::Missing,
                ..
            }
        ),
        "{missing}"
    );
}
