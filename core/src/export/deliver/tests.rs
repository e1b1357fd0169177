use std::collections::VecDeque;

use crate::line::LogBatch;
use crate::stream::{StreamEnd, StreamReport};

use super::*;
use crate::sink::SinkError;
use crate::testing::{batch, container, line};

/// Events with the pause before each, as a run would produce them.
struct Script {
    events: VecDeque<(Duration, ExportEvent)>,
    /// When the next event is due, once it was first asked for.
    due: Option<Instant>,
}

#[async_trait]
impl EventSource for Script {
    async fn next(&mut self) -> Option<ExportEvent> {
        let pause = self.events.front()?.0;
        // Cancel-safe, like a channel: a timeout during the pause loses neither the event nor
        // the time already waited.
        let due = *self.due.get_or_insert_with(|| Instant::now() + pause);
        tokio::time::sleep_until(due).await;
        self.due = None;
        self.events.pop_front().map(|(_, event)| event)
    }
}

impl Script {
    fn new(events: impl IntoIterator<Item = (u64, ExportEvent)>) -> Self {
        Self {
            events: events
                .into_iter()
                .map(|(ms, e)| (Duration::from_millis(ms), e))
                .collect(),
            due: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Write(String, usize),
    Commit,
    End(String),
    Retire(String),
    Close,
}

/// Records calls, with their time since the start; fails the n-th call if asked.
#[derive(Default)]
struct Recorder {
    calls: Vec<(Duration, Call)>,
    fail_at: Option<usize>,
    start: Option<Instant>,
    /// `flush` calls: when, and the lines written before each.
    flushes: Vec<(Duration, usize)>,
}

impl Recorder {
    fn record(&mut self, call: Call) -> Result<(), SinkError> {
        let start = *self.start.get_or_insert_with(Instant::now);
        if self.fail_at == Some(self.calls.len()) {
            return Err(SinkError::Io {
                action: "writing",
                target: "recorder".into(),
                source: std::io::Error::other("injected"),
            });
        }
        self.calls.push((start.elapsed(), call));
        Ok(())
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.iter().map(|(_, c)| c.clone()).collect()
    }
}

#[async_trait]
impl Sink for Recorder {
    async fn write(&mut self, batch: &LogBatch) -> Result<(), SinkError> {
        self.record(Call::Write(batch.container.pod_name().to_owned(), batch.lines.len()))
    }
    async fn commit(&mut self) -> Result<(), SinkError> {
        self.record(Call::Commit)
    }
    async fn flush(&mut self) -> Result<(), SinkError> {
        let start = *self.start.get_or_insert_with(Instant::now);
        let written = self
            .calls
            .iter()
            .map(|(_, c)| if let Call::Write(_, n) = c { *n } else { 0 })
            .sum();
        self.flushes.push((start.elapsed(), written));
        Ok(())
    }
    async fn end_container(&mut self, container: &Container) -> Result<(), SinkError> {
        self.record(Call::End(container.pod_name().to_owned()))
    }
    async fn close(&mut self) -> Result<(), SinkError> {
        self.record(Call::Close)
    }
    async fn retire(&mut self, instance: &ContainerKey) -> Result<(), SinkError> {
        self.record(Call::Retire(instance.pod_uid.clone()))
    }
    fn describe(&self) -> String {
        "recorder".into()
    }
}

fn lines(c: &Arc<Container>, stamps: &[&str]) -> ExportEvent {
    ExportEvent::Lines(batch(c, stamps.iter().map(|ts| line(ts, "m")).collect::<Vec<_>>()))
}

fn ended(c: &Arc<Container>, cursor: Option<Cursor>) -> ExportEvent {
    ExportEvent::Ended(StreamReport {
        container: Arc::clone(c),
        end: StreamEnd::Completed,
        cursor,
        lines: 0,
        bytes: 0,
        reconnects: 0,
        gaps: Vec::new(),
        drained: false,
    })
}

fn cursor(ts: &str, n: u64) -> Cursor {
    Cursor {
        timestamp: ts.parse().unwrap(),
        lines_at_timestamp: n,
    }
}

/// Delivers `script` into `sink`, counting into `metrics` if given, and keeps the totals in `delivery`.
async fn deliver_into(
    script: &mut Script,
    sink: &mut dyn Sink,
    options: &DeliverOptions,
    metrics: Option<&Metrics>,
    delivery: &mut Delivery,
) -> Result<(), Error> {
    let delivering = Delivering {
        sink,
        checkpointer: None,
        metrics,
        options,
    };
    delivering.run(script, delivery).await
}

async fn run(script: Script, sink: &mut Recorder, options: &DeliverOptions) -> (Result<(), Error>, Delivery) {
    let mut script = script;
    let mut delivery = Delivery::default();
    let result = deliver_into(&mut script, sink, options, None, &mut delivery).await;
    (result, delivery)
}

#[tokio::test(start_paused = true)]
async fn one_shot_run_writes_ends_and_closes() {
    let a = container("a", "app");
    let b = container("b", "app");
    let script = Script::new([
        (0, ExportEvent::Matched(Arc::clone(&a))),
        (0, ExportEvent::Matched(Arc::clone(&b))),
        (0, ExportEvent::Started(Arc::clone(&a))),
        (
            0,
            lines(
                &a,
                &["2026-11-23T10:00:00Z", "2026-11-23T10:00:01Z", "2026-11-23T10:00:01Z"],
            ),
        ),
        (0, lines(&a, &[])),
        (0, ended(&a, Some(cursor("2026-11-23T10:00:01Z", 2)))),
        (0, ended(&b, None)),
    ]);
    let mut sink = Recorder::default();
    let (result, delivery) = run(script, &mut sink, &DeliverOptions::default()).await;
    result.unwrap();
    assert_eq!(
        sink.calls(),
        [
            Call::Write("a".into(), 3),
            Call::End("a".into()),
            Call::End("b".into()),
            Call::Close
        ]
    );
    assert_eq!((delivery.lines, delivery.commits, delivery.containers.len()), (3, 1, 2));
    let da = &delivery.containers[&a.key()];
    assert_eq!((da.lines, da.ended), (3, true));
    assert_eq!(da.bytes, 3 * ("2026-11-23T10:00:00Z m\n".len() as u64));
    assert_eq!(da.committed, Some(cursor("2026-11-23T10:00:01Z", 2)));
    let db = &delivery.containers[&b.key()];
    assert_eq!((db.lines, db.committed, db.ended), (0, None, true));
    assert_eq!(delivery.committed_cursors().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn written_lines_are_flushed_within_the_flush_delay() {
    let a = container("a", "app");
    let at = |n: usize| (0..n).map(|_| "2026-11-23T10:00:00Z").collect::<Vec<_>>();
    let script = Script::new([
        (0, lines(&a, &at(1))),
        (3, lines(&a, &at(2))),
        (3, lines(&a, &at(3))),
        // Quiet for longer than the delay: what came is flushed meanwhile.
        (50, lines(&a, &at(4))),
        (50, lines(&a, &at(5))),
        (2, lines(&a, &at(6))),
        // Writes nothing: the run goes on past the last flush.
        (20, ExportEvent::Matched(Arc::clone(&a))),
    ]);
    let mut sink = Recorder::default();
    let (result, _) = run(script, &mut sink, &DeliverOptions::default()).await;
    result.unwrap();
    let ms = |ms: u64| Duration::from_millis(ms);
    assert_eq!(
        sink.flushes,
        [(ms(10), 1 + 2 + 3), (ms(66), 1 + 2 + 3 + 4), (ms(116), 21)],
        "10 ms after the first unflushed write, not after each batch"
    );
}

#[tokio::test(start_paused = true)]
async fn commits_within_the_interval_when_the_run_goes_quiet() {
    let a = container("a", "app");
    let script = Script::new([
        (0, lines(&a, &["2026-11-23T10:00:00Z"])),
        (5_000, lines(&a, &["2026-11-23T10:00:05Z"])),
        (0, ended(&a, None)),
    ]);
    let mut sink = Recorder::default();
    let (result, _) = run(script, &mut sink, &DeliverOptions::default()).await;
    result.unwrap();
    assert_eq!(
        sink.calls(),
        [
            Call::Write("a".into(), 1),
            Call::Commit,
            Call::Write("a".into(), 1),
            Call::End("a".into()),
            Call::Close
        ]
    );
    assert_eq!(
        sink.calls[1].0,
        Duration::from_secs(1),
        "committed one interval after the first write"
    );
}

#[tokio::test(start_paused = true)]
async fn commits_while_lines_keep_coming() {
    let a = container("a", "app");
    let script = Script::new((0..20).map(|i| (300, lines(&a, &[&format!("2026-11-23T10:00:{i:02}Z")]))));
    let mut sink = Recorder::default();
    let options = DeliverOptions {
        commit_interval: Duration::from_secs(1),
        ..DeliverOptions::default()
    };
    let (result, delivery) = run(script, &mut sink, &options).await;
    result.unwrap();
    let times =
        |f: fn(&Call) -> bool| -> Vec<Duration> { sink.calls.iter().filter(|(_, c)| f(c)).map(|(t, _)| *t).collect() };
    let commits = times(|c| *c == Call::Commit);
    assert!(commits.len() >= 4, "6 s of lines, 1 s interval: {commits:?}");
    let durable = times(|c| matches!(c, Call::Commit | Call::Close));
    // No write waits more than the interval for a commit.
    for w in times(|c| matches!(c, Call::Write(..))) {
        let next = durable.iter().find(|&&c| c >= w).copied().unwrap_or_default();
        assert!(
            next >= w && next - w <= Duration::from_secs(1),
            "write at {w:?} committed at {next:?}"
        );
    }
    assert_eq!(
        delivery.commits,
        commits.len() as u64 + 1,
        "the periodic commits and the close"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_commit_leaves_the_cursor_at_the_last_good_commit() {
    let a = container("a", "app");
    let script = Script::new([
        (0, lines(&a, &["2026-11-23T10:00:00Z"])),
        (2_000, lines(&a, &["2026-11-23T10:00:02Z"])),
        (2_000, lines(&a, &["2026-11-23T10:00:04Z"])),
    ]);
    // Calls: write, commit (ok), write, commit (fails).
    let mut sink = Recorder {
        fail_at: Some(3),
        ..Recorder::default()
    };
    let (result, delivery) = run(script, &mut sink, &DeliverOptions::default()).await;
    assert!(matches!(result, Err(Error::Sink(SinkError::Io { .. }))));
    let da = &delivery.containers[&a.key()];
    assert_eq!(da.lines, 2, "two batches written");
    assert_eq!(
        da.committed,
        Some(cursor("2026-11-23T10:00:00Z", 1)),
        "only the first was committed"
    );
    assert_eq!(delivery.commits, 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_write_stops_without_closing() {
    let a = container("a", "app");
    let script = Script::new([
        (0, lines(&a, &["2026-11-23T10:00:00Z"])),
        (0, lines(&a, &["2026-11-23T10:00:01Z"])),
    ]);
    let mut sink = Recorder {
        fail_at: Some(1),
        ..Recorder::default()
    };
    let (result, delivery) = run(script, &mut sink, &DeliverOptions::default()).await;
    assert!(result.is_err());
    assert_eq!(sink.calls(), [Call::Write("a".into(), 1)]);
    assert_eq!(delivery.containers[&a.key()].committed, None);
    assert_eq!(delivery.lines, 1, "the failed batch is not counted");
}

#[tokio::test(start_paused = true)]
async fn a_failed_close_commits_nothing() {
    let a = container("a", "app");
    let script = Script::new([(0, lines(&a, &["2026-11-23T10:00:00Z"]))]);
    let mut sink = Recorder {
        fail_at: Some(1),
        ..Recorder::default()
    };
    let (result, delivery) = run(script, &mut sink, &DeliverOptions::default()).await;
    assert!(result.is_err());
    assert_eq!(delivery.commits, 0);
    assert!(delivery.committed_cursors().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_batch_cursor_counts_on_from_the_resume_point() {
    let a = container("a", "app");
    // The stream resumed two lines into 10:00:00; its batch carries the cursor counted from there.
    let resumed = Some(cursor("2026-11-23T10:00:00Z", 2));
    let options = DeliverOptions::default();
    let lines = batch(&a, vec![line("2026-11-23T10:00:00Z", "m")]).lines;
    let script = Script::new([(
        0,
        ExportEvent::Lines(LogBatch::following(Arc::clone(&a), lines, resumed)),
    )]);
    let mut sink = Recorder::default();
    let (result, delivery) = run(script, &mut sink, &options).await;
    result.unwrap();
    assert_eq!(
        delivery.containers[&a.key()].committed,
        Some(cursor("2026-11-23T10:00:00Z", 3))
    );
}

#[tokio::test(start_paused = true)]
async fn the_stream_report_cursor_wins_and_is_committed_like_lines() {
    let a = container("a", "app");
    // Without the resume cursor the loop counts 1 line; the stream knows it is the 3rd.
    let script = Script::new([
        (0, lines(&a, &["2026-11-23T10:00:00Z"])),
        (0, ended(&a, Some(cursor("2026-11-23T10:00:00Z", 3)))),
    ]);
    let mut sink = Recorder::default();
    let (result, delivery) = run(script, &mut sink, &DeliverOptions::default()).await;
    result.unwrap();
    assert_eq!(
        delivery.containers[&a.key()].committed,
        Some(cursor("2026-11-23T10:00:00Z", 3))
    );
}

/// The value of an unlabelled or `sink`-labelled series in a rendering.
fn sample(rendered: &str, name: &str) -> f64 {
    rendered
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.split([' ', '{']).next() == Some(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from\n{rendered}"))
}

#[tokio::test(start_paused = true)]
async fn metrics_follow_streams_lines_commits_and_errors() {
    let a = container("a", "app");
    let b = container("b", "app");
    let metrics = Arc::new(Metrics::new("recorder"));
    let script = Script::new([
        (0, ExportEvent::Matched(Arc::clone(&a))),
        (0, ExportEvent::Matched(Arc::clone(&b))),
        (0, ExportEvent::Started(Arc::clone(&a))),
        (0, lines(&a, &["2026-11-23T10:00:00Z", "2026-11-23T10:00:01Z"])),
        // The run stays open long after.
        (60_000, lines(&b, &[])),
    ]);
    let mut sink = Recorder::default();
    let mut delivery = Delivery::default();
    let mut script = script;
    let options = DeliverOptions::default();
    // Stop mid-run (the script is not over) to look at the gauges while streams are open.
    let partial = tokio::time::timeout(
        Duration::from_millis(500),
        deliver_into(&mut script, &mut sink, &options, Some(&metrics), &mut delivery),
    )
    .await;
    assert!(partial.is_err(), "the script has more to deliver");
    let rendered = metrics.render();
    assert!(metrics.is_ready());
    assert_eq!(sample(&rendered, "kle_streams_active"), 1.0, "{rendered}");
    assert_eq!(sample(&rendered, "kle_streams_queued"), 1.0);
    assert_eq!(sample(&rendered, "kle_lines_total"), 2.0);
    assert!(rendered.contains("kle_lines_total{sink=\"recorder\"} 2"), "{rendered}");
    assert_eq!(sample(&rendered, "kle_commits_total"), 0.0);

    // Ending both streams and closing commits: nothing pending, no lag.
    let mut rest = Script::new([(0, ended(&a, None)), (0, ended(&b, None))]);
    deliver_into(&mut rest, &mut sink, &options, Some(&metrics), &mut delivery)
        .await
        .unwrap();
    let rendered = metrics.render();
    assert_eq!(sample(&rendered, "kle_streams_active"), 0.0);
    assert_eq!(sample(&rendered, "kle_streams_queued"), 0.0);
    assert_eq!(sample(&rendered, "kle_commits_total"), 1.0);
    assert_eq!(sample(&rendered, "kle_checkpoint_lag_seconds"), 0.0);
    assert_eq!(sample(&rendered, "kle_sink_errors_total"), 0.0);

    // A failing sink is counted.
    let mut failing = Recorder {
        fail_at: Some(0),
        ..Recorder::default()
    };
    let mut script = Script::new([(0, lines(&a, &["2026-11-23T10:00:02Z"]))]);
    let result = deliver_into(&mut script, &mut failing, &options, Some(&metrics), &mut delivery).await;
    assert!(result.is_err());
    assert_eq!(sample(&metrics.render(), "kle_sink_errors_total"), 1.0);
}

#[tokio::test(start_paused = true)]
async fn a_retired_instance_is_forgotten_after_its_end_and_the_commit_that_covers_it() {
    let job = container("job", "app");
    let gone = ContainerKey {
        pod_uid: "uid-shop-gone".into(),
        container: "app".into(),
        restart_count: 0,
    };
    // As a stream reports it: retired first, then its end; and one instance known only from
    // an earlier run's checkpoint.
    let script = Script::new([
        (0, lines(&job, &["2026-11-23T10:00:00Z"])),
        (0, ExportEvent::Retired(job.key())),
        (0, ExportEvent::Retired(gone.clone())),
        (1500, ended(&job, None)),
    ]);
    let mut sink = Recorder::default();
    let (result, delivery) = run(script, &mut sink, &DeliverOptions::default()).await;
    result.unwrap();
    assert_eq!(
        sink.calls(),
        [
            Call::Write("job".into(), 1),
            Call::Commit,
            Call::Retire("uid-shop-gone".into()),
            Call::End("job".into()),
            Call::Close,
            Call::Retire("uid-shop-job".into()),
        ],
        "the checkpoint-only instance goes at the first commit; the streamed one after its end"
    );
    assert!(delivery.containers.is_empty(), "{:?}", delivery.containers);
    assert!(delivery.retired.is_empty());
    assert_eq!(delivery.namespaces["shop"].containers, 1, "counted once");
    assert_eq!(delivery.namespaces["shop"].lines, 1);
}

/// Lines the line filter left out come as a batch without lines: nothing is written, and the
/// position they moved to is committed like any other, so a resumed run starts after them.
#[tokio::test(start_paused = true)]
async fn a_batch_emptied_by_the_line_filter_moves_the_committed_cursor_without_a_write() {
    let a = container("a", "app");
    let filtered = ExportEvent::Lines(LogBatch {
        container: Arc::clone(&a),
        lines: crate::line::Lines::default(),
        cursor: Some(cursor("2026-11-23T10:00:05Z", 3)),
    });
    let script = Script::new([
        (0, ExportEvent::Matched(Arc::clone(&a))),
        (0, lines(&a, &["2026-11-23T10:00:00Z"])),
        (0, filtered),
        (0, ended(&a, None)),
    ]);
    let mut sink = Recorder::default();
    let (result, delivery) = run(script, &mut sink, &DeliverOptions::default()).await;
    result.unwrap();
    assert_eq!(
        sink.calls(),
        [Call::Write("a".into(), 1), Call::End("a".into()), Call::Close]
    );
    let da = &delivery.containers[&a.key()];
    assert_eq!((da.lines, da.committed), (1, Some(cursor("2026-11-23T10:00:05Z", 3))));
}
