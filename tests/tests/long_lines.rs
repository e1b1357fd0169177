//! Lines the runtime stored in parts, against the loopback fake API server: joined exactly,
//! through connections dropped in the middle of them, in the library and in the binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use kle_core::checkpoint::FileCheckpointStore;
use kle_core::events::{ExportEvent, Exporter, Retry};
use kle_core::{Export, ExportOptions, Namespaces, RunSummary, Selection, StreamOptions};
use kle_sinks::file::FileSink;
use kle_tests::binary::run_against;
use kle_tests::fake_api::{FakeApiServer, FakeContainer, FakePod, Fault, LogLine, format_timestamp, render};
use tokio_util::sync::CancellationToken;

const PART: usize = 16 * 1024;

/// The lines of issue 18 (16 KiB − 1, 16 KiB, 16 KiB + 1, 64 KiB, 1 MB without a final newline,
/// invalid UTF-8 in each) as containerd stores them: records of 16 KiB, 100 ms apart, so that
/// resuming at a whole second lands inside lines.
fn records() -> Vec<LogLine> {
    let start: Timestamp = "2026-11-23T10:00:00.05Z".parse().unwrap();
    let lens = [PART - 1, PART, PART + 1, 4 * PART, 1_000_000];
    let mut out = Vec::new();
    for (i, len) in lens.into_iter().enumerate() {
        let line: Vec<u8> = (0..len)
            .map(|j| match j % 5000 {
                10 => 0xff,
                11 => 0xfe,
                n => b'a' + ((n + i) % 26) as u8,
            })
            .collect();
        let parts: Vec<&[u8]> = line.chunks(PART).collect();
        for (k, part) in parts.iter().enumerate() {
            let at = start + SignedDuration::from_millis(100 * out.len() as i64);
            let last = k + 1 == parts.len() && i + 1 < lens.len();
            out.push(if last {
                LogLine::new(at, part.to_vec())
            } else {
                LogLine::part(at, part.to_vec())
            });
        }
    }
    out
}

/// The lines as written (`kubectl logs`).
fn plain(records: &[LogLine]) -> Vec<u8> {
    render(records, false)
}

/// The lines with one timestamp each, their first part's.
fn joined(records: &[LogLine]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut line_start = true;
    for record in records {
        if line_start {
            out.extend_from_slice(format!("{} ", format_timestamp(record.timestamp)).as_bytes());
        }
        out.extend_from_slice(&record.rendered(false));
        line_start = !record.partial;
    }
    out
}

async fn server_with(records: &[LogLine]) -> FakeApiServer {
    let server = FakeApiServer::start().await;
    server.add_pod(
        FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(records.to_vec()).terminated(0)),
    );
    server
}

#[tokio::test]
async fn parts_are_joined_through_connections_dropped_inside_them() {
    let records = records();
    assert!(render(&records, true).len() > joined(&records).len() + 60 * 31);
    let server = server_with(&records).await;
    // Cut the stream inside the 64 KiB line, then twice inside the 1 MB one. Fragments of the
    // 1 MB line (at most 100 kB) go out before it ends, so the cursor lands inside it.
    for cut in [100_000, 300_000, 250_003] {
        server.inject(Fault::pod_log("shop", "web-0").drop_after_bytes(cut).times(1));
    }
    let options = ExportOptions {
        stream: StreamOptions {
            retry: Retry {
                initial: Duration::from_millis(20),
                max: Duration::from_millis(200),
                max_attempts: Some(10),
            },
            max_line_bytes: 100_000,
            ..StreamOptions::default()
        },
        ..ExportOptions::default()
    };
    let selection = Selection::builder()
        .with_namespaces(Namespaces::Only(vec!["shop".into()]))
        .build()
        .unwrap();
    let mut run = Exporter::new(server.client(), selection).with_options(options).start();
    let (mut got, mut messages) = (Vec::new(), Vec::new());
    while let Some(event) = run.next_event().await {
        if let ExportEvent::Lines(batch) = event {
            for line in &batch.lines {
                got.extend_from_slice(line.raw());
                messages.extend_from_slice(line.message());
                if line.ends_line() {
                    got.push(b'\n');
                    messages.push(b'\n');
                }
            }
        }
    }
    run.finish().await.unwrap();
    assert!(got == joined(&records), "one timestamp per line, each part once");
    assert!(messages == plain(&records), "the messages are the lines as written");
    let resumed: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/log"))
        .filter_map(|r| r.query.iter().find(|(k, _)| k == "sinceTime").map(|(_, v)| v.clone()))
        .collect();
    assert_eq!(resumed.len(), 3, "three reconnections");
    // Resumed at a whole second: the first record sent back is a later part of a line.
    let mid_line = resumed.iter().filter(|since| {
        let since: Timestamp = since.parse().unwrap();
        let first = records.iter().position(|r| r.timestamp >= since).unwrap();
        first > 0 && records[first - 1].partial
    });
    assert!(
        mid_line.count() > 0,
        "some resumed streams began inside a line: {resumed:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_output_equals_the_lines_as_written() {
    let records = records();
    let server = server_with(&records).await;
    server.inject(Fault::pod_log("shop", "web-0").drop_after_bytes(500_000).times(1));
    let dir = tempfile::tempdir().unwrap();
    let output = run_against(&server, dir.path(), &["export", "-n", "shop", "-o", "raw"]).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.stdout == plain(&records), "-o raw is what kubectl logs shows");

    let out = dir.path().join("out");
    let args = ["export", "-n", "shop", "--sink", "file", "--dir", out.to_str().unwrap()];
    let output = run_against(&server, dir.path(), &args).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let file = std::fs::read(out.join("shop/web-0/app.log")).unwrap();
    assert!(
        file == joined(&records),
        "the file holds each line once, with its first part's timestamp"
    );
}

/// One checkpointed export run into `dir`, as the CLI does it.
async fn run_once(server: &FakeApiServer, dir: &Path) -> RunSummary {
    let store = Arc::new(FileCheckpointStore::new(dir.join(".kube-log-exporter-checkpoint.json")));
    let selection = Selection::builder()
        .with_namespaces(Namespaces::Only(vec!["shop".into()]))
        .build()
        .unwrap();
    let sink = FileSink::builder(dir).build().unwrap();
    let report = Export::new(server.client(), selection, Box::new(sink))
        .with_checkpoint(store)
        .run(CancellationToken::new())
        .await
        .unwrap();
    report.summary
}

#[tokio::test]
async fn runs_that_end_inside_a_long_line_resume_exactly_once() {
    let records = records();
    // The log as three runs find it: cut inside the 64 KiB line, then inside the 1 MB one.
    let (first, rest) = records.split_at(6);
    let (second, third) = rest.split_at(30);
    let server = FakeApiServer::start().await;
    server.add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(first.to_vec())));
    let dir = tempfile::tempdir().unwrap();
    let file = || std::fs::read(dir.path().join("shop/web-0/app.log")).unwrap_or_default();
    let mut lines = Vec::new();
    for more in [None, Some(second), None, Some(third), None] {
        if let Some(more) = more {
            server.append_log("shop", "web-0", "app", more.to_vec());
        }
        let summary = run_once(&server, dir.path()).await;
        assert!(summary.gaps.is_empty());
        lines.push(summary.lines);
    }
    assert!(file() == joined(&records), "each part once, one timestamp per line");
    assert_eq!(
        lines[2], 0,
        "a run with nothing new delivers nothing, not the line it ended in"
    );
    assert_eq!(lines[4], 0);
}
