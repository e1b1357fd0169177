//! Checkpointed runs against the fake API server: every line exactly once across runs, with
//! restarts, deleted pods, rotation and a crashed run's leftovers in between, and every loss
//! reported as a gap. The real cluster repeats the important cases in `e2e_exactly_once.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use kle_core::checkpoint::FileCheckpointStore;
use kle_core::events::Retry;
use kle_core::pipeline::Delivery;
use kle_core::{Export, ExportOptions, GapReason, Namespaces, RunSummary, Selection, StreamOptions};
use kle_sinks::file::FileSink;
use kle_tests::fake_api::{FakeApiServer, FakeContainer, FakePod, LogLine, lines};
use tokio_util::sync::CancellationToken;

const NS: &str = "shop";

fn t0() -> Timestamp {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

fn numbered(start: Timestamp, from: usize, count: usize) -> Vec<LogLine> {
    lines(start, count, |i| format!("line {}", from + i))
}

fn at(offset_ms: i64, text: &str) -> LogLine {
    LogLine::new(t0() + SignedDuration::from_millis(offset_ms), text.to_owned())
}

/// One export run as the CLI does it: checkpoint beside the files, file sink, commit + save.
async fn run_once(server: &FakeApiServer, dir: &Path) -> (RunSummary, Delivery) {
    let store = Arc::new(FileCheckpointStore::new(dir.join(".kube-log-exporter-checkpoint.json")));
    let selection = Selection::builder()
        .with_namespaces(Namespaces::Only(vec![NS.into()]))
        .build()
        .unwrap();
    let options = ExportOptions {
        stream: StreamOptions {
            retry: Retry {
                initial: Duration::from_millis(20),
                max: Duration::from_millis(100),
                max_attempts: Some(5),
            },
            ..StreamOptions::default()
        },
        ..ExportOptions::default()
    };
    let sink = FileSink::builder(dir).build().unwrap();
    let report = Export::new(server.client(), selection, Box::new(sink))
        .with_options(options)
        .with_checkpoint(store)
        .run(CancellationToken::new())
        .await
        .unwrap();
    (report.summary, report.delivery)
}

/// A pod `web` whose container `app` logged lines 1..=`lines`, exported once into a new directory.
async fn web_exported_once(lines: usize) -> (FakeApiServer, tempfile::TempDir) {
    let server = FakeApiServer::start().await;
    server.add_pod(FakePod::new(NS, "web").container(FakeContainer::new("app").logs(numbered(t0(), 1, lines))));
    let dir = tempfile::tempdir().unwrap();
    run_once(&server, dir.path()).await;
    (server, dir)
}

/// `web/app`'s current instance logs lines `from`.. (`count` of them), `secs` after t0.
fn log_more(server: &FakeApiServer, secs: i64, from: usize, count: usize) {
    server.append_log(
        NS,
        "web",
        "app",
        numbered(t0() + SignedDuration::from_secs(secs), from, count),
    );
}

fn file(dir: &Path, pod: &str, container: &str) -> String {
    String::from_utf8(std::fs::read(dir.join(NS).join(pod).join(format!("{container}.log"))).unwrap()).unwrap()
}

fn messages(text: &str) -> Vec<&str> {
    text.lines().map(|l| l.split_once(' ').map_or(l, |(_, m)| m)).collect()
}

#[tokio::test]
async fn runs_resume_exactly_once_across_lines_sharing_a_timestamp() {
    let server = FakeApiServer::start().await;
    // The run boundary falls inside a group of lines with one timestamp.
    let log = vec![at(100, "a"), at(500, "b"), at(500, "c")];
    server.add_pod(FakePod::new(NS, "web").container(FakeContainer::new("app").logs(log)));
    let dir = tempfile::tempdir().unwrap();

    let (first, _) = run_once(&server, dir.path()).await;
    assert_eq!(first.lines, 3);
    server.append_log(NS, "web", "app", [at(500, "d"), at(500, "e"), at(900, "f")]);
    let (second, _) = run_once(&server, dir.path()).await;
    assert_eq!(
        second.lines, 3,
        "only the new lines, though they share the cursor's timestamp"
    );
    let (third, _) = run_once(&server, dir.path()).await;
    assert_eq!(third.lines, 0);

    assert_eq!(
        messages(&file(dir.path(), "web", "app")),
        ["a", "b", "c", "d", "e", "f"]
    );
    assert!(first.gaps.is_empty() && second.gaps.is_empty() && third.gaps.is_empty());
}

#[tokio::test]
async fn a_restart_between_runs_drains_the_previous_instance_first() {
    let (server, dir) = web_exported_once(3).await;

    // The old instance logs two more lines, crashes; the new one logs two.
    log_more(&server, 10, 4, 2);
    server.restart_container(NS, "web", "app");
    log_more(&server, 20, 6, 2);
    let (second, _) = run_once(&server, dir.path()).await;

    assert_eq!(second.lines, 4);
    assert!(second.gaps.is_empty(), "{:?}", second.gaps);
    let expected: Vec<String> = (1..=7).map(|i| format!("line {i}")).collect();
    assert_eq!(messages(&file(dir.path(), "web", "app")), expected);
    // And the next run reads neither instance again.
    let (third, _) = run_once(&server, dir.path()).await;
    assert_eq!(third.lines, 0);
}

#[tokio::test]
async fn two_restarts_between_runs_are_a_gap_in_the_file_and_the_summary() {
    let (server, dir) = web_exported_once(2).await;

    log_more(&server, 10, 3, 1);
    server.restart_container(NS, "web", "app");
    log_more(&server, 20, 4, 1);
    server.restart_container(NS, "web", "app");
    log_more(&server, 30, 5, 1);
    let (second, delivery) = run_once(&server, dir.path()).await;

    assert_eq!(second.gaps.len(), 1, "{:?}", second.gaps);
    assert_eq!(second.gaps[0].reason, GapReason::InstancesLost { instances: 1 });
    assert_eq!(delivery.gaps, 1);
    let text = file(dir.path(), "web", "app");
    let got = messages(&text);
    // Instance 0's rest ("line 3") is lost; instance 1 is the readable previous one.
    assert_eq!(got[..2], ["line 1", "line 2"]);
    assert!(got[2].starts_with("[kube-log-exporter] GAP: shop/web/app"), "{text}");
    assert_eq!(got[3..], ["line 4", "line 5"]);
}

#[tokio::test]
async fn a_pod_deleted_before_its_log_was_read_is_a_gap_reported_once() {
    let server = FakeApiServer::start().await;
    server.add_pod(FakePod::new(NS, "gone").container(FakeContainer::new("app").logs(numbered(t0(), 1, 2))));
    server.add_pod(FakePod::new(NS, "stays").container(FakeContainer::new("app").logs(numbered(t0(), 1, 2))));
    let dir = tempfile::tempdir().unwrap();
    run_once(&server, dir.path()).await;

    server.delete_pod(NS, "gone");
    let (second, _) = run_once(&server, dir.path()).await;
    assert_eq!(second.gaps.len(), 1, "{:?}", second.gaps);
    assert_eq!(second.gaps[0].reason, GapReason::PodDeleted);
    assert!(file(dir.path(), "gone", "app").contains("GAP: shop/gone/app: the pod was deleted"));

    let (third, _) = run_once(&server, dir.path()).await;
    assert!(third.gaps.is_empty(), "reported once, then forgotten: {:?}", third.gaps);
    assert_eq!(messages(&file(dir.path(), "stays", "app")), ["line 1", "line 2"]);
}

#[tokio::test]
async fn lines_rotated_away_between_runs_are_a_gap_before_the_lines_that_remain() {
    let (server, dir) = web_exported_once(3).await;

    log_more(&server, 10, 4, 7);
    server.rotate_log(NS, "web", "app", 3);
    let (second, _) = run_once(&server, dir.path()).await;

    assert_eq!(second.gaps.len(), 1);
    assert_eq!(second.gaps[0].reason, GapReason::Rotated);
    assert!(second.gaps[0].after.is_some() && second.gaps[0].until.is_some());
    let text = file(dir.path(), "web", "app");
    let got = messages(&text);
    assert_eq!(got[..3], ["line 1", "line 2", "line 3"]);
    assert!(got[3].contains("rotated away"), "{text}");
    assert_eq!(got[4..], ["line 8", "line 9", "line 10"]);
}

/// What a run killed between its sink commit and its checkpoint save leaves behind is cut off
/// and written again: no duplicate.
#[tokio::test]
async fn a_crashed_runs_unrecorded_tail_is_replaced_not_duplicated() {
    let (server, dir) = web_exported_once(3).await;

    log_more(&server, 5, 4, 2);
    // The crashed run had appended (and synced) lines 4 and 5, then died before its checkpoint.
    let path = dir.path().join(NS).join("web/app.log");
    let mut crashed = std::fs::read(&path).unwrap();
    crashed.extend_from_slice(
        b"2026-11-23T10:00:05Z line 4\n2026-11-23T10:00:06Z line 5\n2026-11-23T10:00:06Z line 6 (torn",
    );
    std::fs::write(&path, crashed).unwrap();

    let (second, _) = run_once(&server, dir.path()).await;
    assert_eq!(second.lines, 2);
    let expected: Vec<String> = (1..=5).map(|i| format!("line {i}")).collect();
    assert_eq!(messages(&file(dir.path(), "web", "app")), expected);
}

/// A followed pod whose container ends and whose pod is then deleted was read to its end: no
/// gap now, no record left behind, and no gap when the next run (a restarted Deployment, say)
/// finds the pod gone.
#[tokio::test]
async fn a_followed_pod_deleted_after_its_log_was_read_leaves_no_gap_and_no_record() {
    let server = FakeApiServer::start().await;
    server.add_pod(FakePod::new(NS, "job").container(FakeContainer::new("app").logs(numbered(t0(), 1, 3))));
    server.add_pod(FakePod::new(NS, "stays").container(FakeContainer::new("app").logs(numbered(t0(), 1, 1))));
    let dir = tempfile::tempdir().unwrap();
    let checkpoint_path = dir.path().join(".kube-log-exporter-checkpoint.json");
    let store = Arc::new(FileCheckpointStore::new(&checkpoint_path));
    let selection = Selection::builder()
        .with_namespaces(Namespaces::Only(vec![NS.into()]))
        .build()
        .unwrap();
    let options = ExportOptions {
        stream: StreamOptions {
            follow: true,
            retry: Retry {
                initial: Duration::from_millis(20),
                max: Duration::from_millis(100),
                max_attempts: None,
            },
            ..StreamOptions::default()
        },
        ..ExportOptions::default()
    };
    let cancel = CancellationToken::new();
    let sink = FileSink::builder(dir.path()).build().unwrap();
    let export = Export::new(server.client(), selection, Box::new(sink))
        .with_options(options)
        .with_checkpoint(store)
        .with_commit_interval(Duration::from_millis(50));
    let follow = tokio::spawn(export.run(cancel.clone()));
    let job_log = dir.path().join(NS).join("job/app.log");
    wait_until(|| std::fs::read(&job_log).is_ok_and(|b| b.iter().filter(|&&c| c == b'\n').count() == 3)).await;
    let recorded = || {
        std::fs::read_to_string(&checkpoint_path)
            .map(|json| json.contains("\"pod\": \"job\""))
            .unwrap_or(false)
    };
    wait_until(recorded).await;
    server.terminate_container(NS, "job", "app", 0);
    server.delete_pod(NS, "job");
    wait_until(|| !recorded()).await;
    cancel.cancel();
    let summary = follow.await.unwrap().unwrap().summary;
    assert!(summary.gaps.is_empty(), "{:?}", summary.gaps);

    let (next, _) = run_once(&server, dir.path()).await;
    assert!(
        next.gaps.is_empty(),
        "the next run finds nothing missing: {:?}",
        next.gaps
    );
    assert_eq!(
        messages(&file(dir.path(), "job", "app")),
        ["line 1", "line 2", "line 3"]
    );
}

/// Polls `done` every 20 ms for up to 10 s.
async fn wait_until(mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition not reached within 10 s");
}
