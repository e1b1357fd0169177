//! kle-core against the loopback fake API server: what an export delivers, byte for byte,
//! through dropped connections, API errors, restarts and odd bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use kle_core::events::{ExportEvent, ExportRun, Exporter, Retry};
use kle_core::{Error, ExportOptions, Namespaces, RunSummary, Selection, StreamOptions};
use kle_tests::fake_api::{FakeApiServer, FakeContainer, FakePod, Fault, LogLine, lines, lines_every, render};

fn start() -> Timestamp {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

fn selection(namespace: &str) -> Selection {
    Selection::builder()
        .with_namespaces(Namespaces::Only(vec![namespace.into()]))
        .build()
        .unwrap()
}

fn fast_retry() -> Retry {
    Retry {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        max_attempts: Some(10),
    }
}

fn options(follow: bool) -> ExportOptions {
    ExportOptions {
        stream: StreamOptions {
            follow,
            retry: fast_retry(),
            ..StreamOptions::default()
        },
        ..ExportOptions::default()
    }
}

/// Everything a run delivered, per `namespace/pod/container`, as the API's bytes.
#[derive(Default)]
struct Collected {
    bytes: BTreeMap<String, Vec<u8>>,
    ended: Vec<(String, String)>,
}

impl Collected {
    fn absorb(&mut self, event: ExportEvent) {
        match event {
            ExportEvent::Lines(batch) => {
                let out = self.bytes.entry(container_key(&batch.container)).or_default();
                for line in &batch.lines {
                    out.extend_from_slice(line.raw());
                    if line.ends_line() {
                        out.push(b'\n');
                    }
                }
            }
            ExportEvent::Ended(report) => {
                self.ended
                    .push((container_key(&report.container), format!("{:?}", report.end)));
            }
            _ => {}
        }
    }

    fn of(&self, key: &str) -> &[u8] {
        self.bytes.get(key).map_or(&[], Vec::as_slice)
    }
}

fn container_key(c: &kle_core::Container) -> String {
    format!("{}/{}/{}", c.namespace(), c.pod_name(), c.name)
}

/// Runs a one-shot export to its end.
async fn export(
    server: &FakeApiServer,
    selection: Selection,
    options: ExportOptions,
) -> (Collected, Result<RunSummary, Error>) {
    let mut run = Exporter::new(server.client(), selection).with_options(options).start();
    let mut collected = Collected::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, run.next_event()).await {
        collected.absorb(event);
    }
    let summary = run.finish().await;
    (collected, summary)
}

/// Reads a follow run's events until `done` says so (or 30 s pass), then stops it.
async fn follow_until(mut run: ExportRun, mut done: impl FnMut(&Collected) -> bool) -> (Collected, RunSummary) {
    let mut collected = Collected::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done(&collected) {
        match tokio::time::timeout_at(deadline, run.next_event()).await {
            Ok(Some(event)) => collected.absorb(event),
            _ => break,
        }
    }
    run.cancellation().cancel();
    while let Some(event) = run.next_event().await {
        collected.absorb(event);
    }
    (collected, run.finish().await.unwrap())
}

/// Lines where every five share one second and pairs share the exact same timestamp.
fn crowded_lines(from: usize, count: usize, tag: &str) -> Vec<LogLine> {
    lines_every(start(), SignedDuration::from_millis(100), count, |i| {
        format!("{tag} line {}", from + i)
    })
    .into_iter()
    .enumerate()
    .map(|(i, mut line)| {
        // Pairs of lines with one identical nanosecond timestamp: resume must count, not compare.
        line.timestamp = start() + SignedDuration::from_millis(100 * ((from + i) / 2) as i64);
        line
    })
    .collect()
}

#[tokio::test]
async fn one_shot_export_delivers_every_container_exactly() {
    let server = FakeApiServer::start().await;
    let app = lines(start(), 200, |i| format!("app line {i}"));
    let sidecar = crowded_lines(0, 50, "sidecar");
    server.add_pod(
        FakePod::new("shop", "web-0")
            .container(FakeContainer::new("app").logs(app.clone()))
            .container(FakeContainer::new("sidecar").logs(sidecar.clone())),
    );
    server.add_pod(FakePod::new("other", "db-0").container(FakeContainer::new("db").logs(lines(start(), 3, |_| "x"))));

    let (collected, summary) = export(&server, selection("shop"), options(false)).await;
    let summary = summary.unwrap();

    assert_eq!(collected.of("shop/web-0/app"), render(&app, true).as_slice());
    assert_eq!(collected.of("shop/web-0/sidecar"), render(&sidecar, true).as_slice());
    assert_eq!(collected.bytes.len(), 2, "the other namespace is not exported");
    assert_eq!((summary.matched, summary.completed, summary.lines), (2, 2, 250));
    let log_requests: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/log"))
        .collect();
    assert!(
        log_requests
            .iter()
            .all(|r| r.query.contains(&("timestamps".into(), "true".into())))
    );
}

#[tokio::test]
async fn dropped_connections_resume_without_gaps_or_duplicates() {
    let server = FakeApiServer::start().await;
    let all = crowded_lines(0, 400, "app");
    server.add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(all.clone())));
    // Cut the stream three times, mid-line and at odd offsets, the first three times it is opened.
    for cut in [1000, 777, 4321] {
        server.inject(Fault::pod_log("shop", "web-0").drop_after_bytes(cut).times(1));
    }

    let (collected, summary) = export(&server, selection("shop"), options(false)).await;
    let summary = summary.unwrap();

    let got = collected.of("shop/web-0/app");
    assert_eq!(
        String::from_utf8_lossy(got),
        String::from_utf8_lossy(&render(&all, true))
    );
    assert_eq!(summary.lines, 400);
    let resumed: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/log"))
        .filter_map(|r| r.query.iter().find(|(k, _)| k == "sinceTime").map(|(_, v)| v.clone()))
        .collect();
    assert_eq!(resumed.len(), 3, "three reconnections, each with a sinceTime");
    assert!(
        resumed.iter().all(|t| t.ends_with(":00Z") || !t.contains('.')),
        "whole seconds: {resumed:?}"
    );
}

#[tokio::test]
async fn follow_resumes_after_drops_and_sees_appended_lines() {
    let server = FakeApiServer::start().await;
    let first = crowded_lines(0, 100, "app");
    server.add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(first.clone())));
    server.inject(Fault::pod_log("shop", "web-0").drop_after_bytes(2500).times(1));

    let run = Exporter::new(server.client(), selection("shop"))
        .with_options(options(true))
        .start();
    let later = crowded_lines(100, 100, "app");
    let expected = render(&[first, later.clone()].concat(), true);
    let mut appended = false;
    let (collected, summary) = follow_until(run, |c| {
        let got = c.of("shop/web-0/app");
        if !appended && got.len() >= 2500 {
            server.append_log("shop", "web-0", "app", later.clone());
            server.disconnect_all();
            appended = true;
        }
        got.len() >= expected.len()
    })
    .await;

    assert_eq!(
        String::from_utf8_lossy(collected.of("shop/web-0/app")),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(summary.lines, 200);
}

/// A follow stream that falls silent while the log goes on (the 1.20 kubelet's stall at a
/// rotation) is reopened from its cursor after `idle_reconnect`: nothing lost, nothing twice.
#[tokio::test]
async fn a_stalled_follow_stream_is_reopened_from_its_cursor() {
    let mut opts = options(true);
    opts.stream.idle_reconnect = Some(Duration::from_millis(300));
    reopened_after_a_stall(opts).await;
}

/// A stream that was bringing lines is taken for stalled after `stall_after`, long before
/// `idle_reconnect` (seen on the real cluster: busy pods' streams silent after a rotation).
#[tokio::test]
async fn a_busy_stream_that_falls_silent_is_reopened_after_stall_after() {
    let server = FakeApiServer::start().await;
    server
        .add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(crowded_lines(0, 10, "app"))));
    server.inject(Fault::pod_log("shop", "web-0").stall_after_bytes(2500).times(1));
    let mut opts = options(true);
    opts.stream.idle_reconnect = Some(Duration::from_secs(3600));
    opts.stream.stall_after = Duration::from_millis(300);
    let run = Exporter::new(server.client(), selection("shop"))
        .with_options(opts)
        .start();
    let expected = render(&crowded_lines(0, 150, "app"), true);
    // The log grows ten lines at a time as the stream takes them: a busy stream, until the
    // stall after 2,500 bytes; its reopen brings the rest.
    let mut appended = 10;
    let (collected, summary) = follow_until(run, |c| {
        let got = c.of("shop/web-0/app");
        let lines = got.iter().filter(|&&b| b == b'\n').count();
        if appended < 150 && lines + 5 >= appended {
            server.append_log("shop", "web-0", "app", crowded_lines(appended, 10, "app"));
            appended += 10;
        }
        got.len() >= expected.len()
    })
    .await;
    let got = collected.of("shop/web-0/app");
    assert!(
        got == &expected[..],
        "{} of {} bytes, in order once",
        got.len(),
        expected.len()
    );
    assert_eq!(summary.lines, 150);
    let log_requests = server.requests().iter().filter(|r| r.is_pod_log()).count();
    // Only the stall rule could reopen it: idle_reconnect is an hour, and the test ends in 30 s.
    assert!(
        log_requests >= 2,
        "the stalled stream was reopened ({log_requests} log requests)"
    );
}

async fn reopened_after_a_stall(opts: ExportOptions) {
    let server = FakeApiServer::start().await;
    let first = crowded_lines(0, 100, "app");
    server.add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(first.clone())));
    server.inject(Fault::pod_log("shop", "web-0").stall_after_bytes(2500).times(1));
    let run = Exporter::new(server.client(), selection("shop"))
        .with_options(opts)
        .start();
    let later = crowded_lines(100, 50, "app");
    let expected = render(&[first, later.clone()].concat(), true);
    let mut appended = false;
    let (collected, summary) = follow_until(run, |c| {
        let got = c.of("shop/web-0/app");
        if !appended && got.len() >= 2000 {
            server.append_log("shop", "web-0", "app", later.clone());
            appended = true;
        }
        got.len() >= expected.len()
    })
    .await;
    assert_eq!(
        String::from_utf8_lossy(collected.of("shop/web-0/app")),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(summary.lines, 150);
    let log_requests = server.requests().iter().filter(|r| r.is_pod_log()).count();
    assert!(
        log_requests >= 2,
        "the stalled stream was reopened ({log_requests} log requests)"
    );
}

#[tokio::test]
async fn huge_lines_and_invalid_utf8_pass_through_intact() {
    let server = FakeApiServer::start().await;
    let mut huge = vec![b'x'; 5 * 1024 * 1024];
    huge[12345] = 0xff;
    let weird = vec![
        LogLine::new(start(), &b"\xff\xfe not utf-8 \xc3\x28"[..]),
        LogLine::new(start() + SignedDuration::from_secs(1), huge),
        LogLine::new(start() + SignedDuration::from_secs(2), &b"after"[..]),
        LogLine::new(start() + SignedDuration::from_secs(3), &b""[..]),
    ];
    server.add_pod(FakePod::new("shop", "weird").container(FakeContainer::new("app").logs(weird.clone())));
    let mut opts = options(false);
    opts.stream.max_line_bytes = 1024 * 1024;

    let mut run = Exporter::new(server.client(), selection("shop"))
        .with_options(opts)
        .start();
    let mut got = Vec::new();
    let mut fragments = 0;
    let mut longest = 0;
    while let Some(event) = run.next_event().await {
        if let ExportEvent::Lines(batch) = event {
            for line in &batch.lines {
                longest = longest.max(line.raw().len());
                fragments += usize::from(matches!(line.kind(), kle_core::lines::LineKind::Fragment { .. }));
                got.extend_from_slice(line.raw());
                if line.ends_line() {
                    got.push(b'\n');
                }
            }
        }
    }
    run.finish().await.unwrap();
    assert!(
        got == render(&weird, true),
        "bytes differ ({} vs {})",
        got.len(),
        render(&weird, true).len()
    );
    assert_eq!(fragments, 6, "5 MiB + prefix in 1 MiB pieces");
    assert!(longest <= 1024 * 1024);
}

#[tokio::test]
async fn forbidden_pod_list_names_the_permission() {
    let server = FakeApiServer::start().await;
    server.inject(Fault::pod_list().status(403).always());
    let (_, result) = export(&server, selection("shop"), options(false)).await;
    match result {
        Err(Error::Forbidden { permission, message }) => {
            assert_eq!((permission.verb, permission.resource), ("list", "pods"));
            assert_eq!(permission.namespace.as_deref(), Some("shop"));
            assert!(message.contains("forbidden"), "{message}");
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
}

#[tokio::test]
async fn forbidden_log_is_reported_not_skipped() {
    let server = FakeApiServer::start().await;
    server.add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(lines(start(), 5, |_| "x"))));
    server.inject(Fault::pod_log("shop", "web-0").status(403).always());
    let (_, summary) = export(&server, selection("shop"), options(false)).await;
    let summary = summary.unwrap();
    assert_eq!(summary.forbidden.len(), 1);
    let permission = &summary.forbidden[0].permission;
    assert_eq!((permission.verb, permission.resource), ("get", "pods/log"));
    assert_eq!(summary.completed, 0);
}

#[tokio::test]
async fn transient_errors_are_retried() {
    let server = FakeApiServer::start().await;
    let all = lines(start(), 30, |i| format!("line {i}"));
    server.add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(all.clone())));
    server.inject(Fault::pod_log("shop", "web-0").status(500).times(2));
    server.inject(Fault::pod_log("shop", "web-0").status(429).retry_after(1).times(1));
    server.inject(Fault::pod_log("shop", "web-0").status(503).times(1));

    let (collected, summary) = export(&server, selection("shop"), options(false)).await;
    assert_eq!(collected.of("shop/web-0/app"), render(&all, true).as_slice());
    assert_eq!(summary.unwrap().completed, 1);
}

/// A kubelet that has just restarted answers 404 for pods it has not synced yet; the pod is
/// still there, so the stream retries instead of reporting it deleted (a gap that was not one).
#[tokio::test]
async fn a_log_404_for_a_pod_that_still_exists_is_retried_not_a_gap() {
    let server = FakeApiServer::start().await;
    let all = lines(start(), 30, |i| format!("line {i}"));
    server.add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(all.clone())));
    server.inject(
        Fault::pod_log("shop", "web-0")
            .status(404)
            .message("pod \"web-0\" not found")
            .times(2),
    );

    let (collected, summary) = export(&server, selection("shop"), options(false)).await;
    let summary = summary.unwrap();
    assert_eq!(collected.of("shop/web-0/app"), render(&all, true).as_slice());
    assert_eq!(summary.completed, 1);
    assert!(summary.gaps.is_empty(), "{:?}", summary.gaps);
    assert_eq!(collected.ended, [("shop/web-0/app".to_owned(), "Completed".to_owned())]);
}

#[tokio::test]
async fn persistent_errors_give_up_with_a_reason() {
    let server = FakeApiServer::start().await;
    server.add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(lines(start(), 3, |_| "x"))));
    server.inject(Fault::pod_log("shop", "web-0").status(500).always());
    let mut opts = options(false);
    opts.stream.retry.max_attempts = Some(2);
    let (_, summary) = export(&server, selection("shop"), opts).await;
    let summary = summary.unwrap();
    assert_eq!(summary.failed.len(), 1);
    assert!(
        summary.failed[0].reason.contains("gave up after 2 attempts"),
        "{:?}",
        summary.failed
    );
}

#[tokio::test]
async fn stream_budget_queues_instead_of_failing() {
    let server = FakeApiServer::start().await;
    for p in 0..12 {
        let pod = format!("web-{p}");
        server.add_pod(
            FakePod::new("shop", &pod)
                .container(FakeContainer::new("app").logs(lines(start(), 20, |i| format!("{pod} {i}")))),
        );
    }
    let mut opts = options(false);
    opts.max_streams = 2;
    let (collected, summary) = export(&server, selection("shop"), opts).await;
    let summary = summary.unwrap();
    assert_eq!((summary.matched, summary.completed, summary.lines), (12, 12, 240));
    assert_eq!(collected.bytes.len(), 12);
}

#[tokio::test]
async fn options_reach_the_api_and_since_time_is_floored() {
    let server = FakeApiServer::start().await;
    server.add_pod(
        FakePod::new("shop", "web-0").container(
            FakeContainer::new("app")
                .logs(lines(start(), 10, |i| format!("{i}")))
                .previous_logs(lines(start(), 2, |_| "old")),
        ),
    );
    let mut opts = options(false);
    opts.stream.tail_lines = Some(3);
    opts.stream.limit_bytes = Some(10_000);
    opts.stream.since = Some(kle_core::Since::Time("2026-11-23T10:00:04.9Z".parse().unwrap()));
    let (collected, _) = export(&server, selection("shop"), opts).await;
    let log = server
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/log"))
        .unwrap();
    let query: BTreeMap<_, _> = log.query.into_iter().collect();
    assert_eq!(query.get("tailLines").map(String::as_str), Some("3"));
    assert_eq!(query.get("limitBytes").map(String::as_str), Some("10000"));
    assert_eq!(
        query.get("sinceTime").map(String::as_str),
        Some("2026-11-23T10:00:04Z"),
        "floored, not rounded up"
    );
    assert_eq!(query.get("container").map(String::as_str), Some("app"));
    assert_eq!(
        String::from_utf8_lossy(collected.of("shop/web-0/app")).lines().count(),
        3
    );

    opts = options(false);
    opts.stream.previous = true;
    let (collected, summary) = export(&server, selection("shop"), opts).await;
    assert_eq!(
        String::from_utf8_lossy(collected.of("shop/web-0/app"))
            .matches("old")
            .count(),
        2
    );
    assert_eq!(summary.unwrap().completed, 1);
}

#[tokio::test]
async fn missing_previous_instance_and_waiting_containers_are_not_errors() {
    let server = FakeApiServer::start().await;
    server.add_pod(
        FakePod::new("shop", "web-0")
            .container(FakeContainer::new("app").logs(lines(start(), 2, |_| "x")))
            .container(FakeContainer::new("late").waiting("ContainerCreating")),
    );
    let mut opts = options(false);
    opts.stream.previous = true;
    let (_, summary) = export(&server, selection("shop"), opts).await;
    let summary = summary.unwrap();
    // Neither the running nor the waiting container has a previous instance.
    assert_eq!(summary.no_previous, 2, "{summary:?}");
    let (_, summary) = export(&server, selection("shop"), options(false)).await;
    let summary = summary.unwrap();
    assert_eq!((summary.completed, summary.not_started), (1, 1), "{summary:?}");
}

#[tokio::test]
async fn malformed_selector_is_refused_before_the_server_and_an_unknown_field_by_it() {
    let malformed = Selection::builder()
        .with_namespaces(Namespaces::Only(vec!["shop".into()]))
        .with_label_selector("app in (web")
        .build();
    assert!(matches!(malformed, Err(Error::InvalidSelector { .. })), "{malformed:?}");
    // Which fields a resource supports is the server's to say.
    let server = FakeApiServer::start().await;
    let selection = Selection::builder()
        .with_namespaces(Namespaces::Only(vec!["shop".into()]))
        .with_field_selector("spec.foo=bar")
        .build()
        .unwrap();
    let (_, result) = export(&server, selection, options(false)).await;
    assert!(matches!(result, Err(Error::RejectedSelector { .. })), "{result:?}");
}

#[tokio::test]
async fn follow_starts_streams_for_new_pods_and_restarted_containers() {
    let server = FakeApiServer::start().await;
    server.add_pod(
        FakePod::new("shop", "web-0")
            .container(FakeContainer::new("app").logs(lines(start(), 5, |i| format!("first {i}")))),
    );
    let run = Exporter::new(server.client(), selection("shop"))
        .with_options(options(true))
        .start();

    let mut step = 0;
    let (collected, summary) = follow_until(run, |c| {
        let web = String::from_utf8_lossy(c.of("shop/web-0/app")).into_owned();
        if step == 0 && web.matches("first").count() == 5 {
            // A restart: the old instance ends, the new one is streamed from its start.
            server.restart_container("shop", "web-0", "app");
            server.append_log(
                "shop",
                "web-0",
                "app",
                lines(start() + SignedDuration::from_secs(60), 3, |i| format!("second {i}")),
            );
            server.add_pod(
                FakePod::new("shop", "web-1")
                    .container(FakeContainer::new("app").logs(lines(start(), 4, |i| format!("new pod {i}")))),
            );
            step = 1;
        }
        let new_pod = String::from_utf8_lossy(c.of("shop/web-1/app"))
            .matches("new pod")
            .count();
        web.matches("second").count() == 3 && new_pod == 4
    })
    .await;

    let web = String::from_utf8_lossy(collected.of("shop/web-0/app")).into_owned();
    assert_eq!(web.matches("first").count(), 5, "{web}");
    assert_eq!(web.matches("second").count(), 3, "{web}");
    assert!(web.find("first 4").unwrap() < web.find("second 0").unwrap());
    assert_eq!(
        String::from_utf8_lossy(collected.of("shop/web-1/app"))
            .matches("new pod")
            .count(),
        4
    );
    assert!(
        collected
            .ended
            .iter()
            .any(|(k, end)| k == "shop/web-0/app" && end == "Completed"),
        "{:?}",
        collected.ended
    );
    assert_eq!(summary.matched, 3, "two instances of web-0/app and web-1/app");
}

#[tokio::test]
async fn restart_while_disconnected_reads_the_rest_of_the_old_instance() {
    let server = FakeApiServer::start().await;
    let before = lines(start(), 40, |i| format!("old {i}"));
    server.add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(before.clone())));
    // The first connection breaks after ~10 lines; the reconnection waits long enough for the restart.
    server.inject(Fault::pod_log("shop", "web-0").drop_after_bytes(500).times(1));
    let mut opts = options(true);
    opts.stream.retry.initial = Duration::from_millis(500);
    let run = Exporter::new(server.client(), selection("shop"))
        .with_options(opts)
        .start();

    let mut restarted = false;
    let (collected, _) = follow_until(run, |c| {
        if !restarted && !c.of("shop/web-0/app").is_empty() {
            server.restart_container("shop", "web-0", "app");
            server.append_log(
                "shop",
                "web-0",
                "app",
                lines(start() + SignedDuration::from_secs(100), 2, |i| format!("new {i}")),
            );
            restarted = true;
        }
        let got = String::from_utf8_lossy(c.of("shop/web-0/app")).into_owned();
        got.matches(" old ").count() == 40 && got.contains("new 1")
    })
    .await;

    let got = String::from_utf8_lossy(collected.of("shop/web-0/app")).into_owned();
    let old: Vec<_> = got.lines().filter(|l| l.contains(" old ")).collect();
    assert_eq!(
        old.len(),
        40,
        "the old instance is read to its end with previous=true: {got}"
    );
    assert_eq!(got.matches("new").count(), 2);
    assert!(
        got.find("old 39").unwrap() < got.find("new 0").unwrap(),
        "instances in order: {got}"
    );
    let previous_requests = server
        .requests()
        .iter()
        .filter(|r| r.query.contains(&("previous".into(), "true".into())))
        .count();
    assert_eq!(previous_requests, 1);
}

#[tokio::test]
async fn cancelling_a_follow_ends_every_stream() {
    let server = FakeApiServer::start().await;
    server.add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(lines(start(), 3, |_| "x"))));
    let run = Exporter::new(server.client(), selection("shop"))
        .with_options(options(true))
        .start();
    let (collected, summary) = follow_until(run, |c| !c.of("shop/web-0/app").is_empty()).await;
    assert!(
        collected.ended.iter().any(|(_, end)| end == "Cancelled"),
        "{:?}",
        collected.ended
    );
    assert_eq!(summary.lines, 3);
}
