//! The delivery loop: an export run's events into a sink, with periodic commits and the
//! cursors those commits made durable.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kle_core::{Container, ContainerKey, Cursor, ExportEvent, ExportRun, GapReason};
use tokio::time::Instant;
use tracing::debug;

use crate::checkpoint::Checkpointer;
use crate::error::SinkError;
use crate::metrics::Metrics;
use crate::sink::Sink;

/// How [`deliver`] commits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliverOptions {
    /// Longest time written lines stay uncommitted (default 1 s). Commits also happen at the
    /// end of the run.
    pub commit_interval: Duration,
    /// Longest time written lines stay in a sink's buffer before [`Sink::flush`] passes them on
    /// (default 10 ms): lines trickling in are written ten times a second per 100 ms, not once
    /// per network read, and a person watching sees no delay.
    pub flush_delay: Duration,
    /// Positions delivered by earlier runs, the ones the run resumes from: a container's cursor
    /// counts on from there, so lines sharing the resumed timestamp are counted right.
    pub resumed: HashMap<ContainerKey, Cursor>,
}

impl Default for DeliverOptions {
    fn default() -> Self {
        Self {
            commit_interval: Duration::from_secs(1),
            flush_delay: Duration::from_millis(10),
            resumed: HashMap::new(),
        }
    }
}

impl DeliverOptions {
    /// Sets the longest time lines stay uncommitted.
    #[must_use]
    pub fn with_commit_interval(mut self, interval: Duration) -> Self {
        self.commit_interval = interval;
        self
    }

    /// Sets the longest time lines stay in a sink's buffer before they are passed on.
    #[must_use]
    pub fn with_flush_delay(mut self, delay: Duration) -> Self {
        self.flush_delay = delay;
        self
    }

    /// Sets the cursors the run resumes from (those given to `Exporter::with_cursors`).
    #[must_use]
    pub fn with_resumed(mut self, cursors: HashMap<ContainerKey, Cursor>) -> Self {
        self.resumed = cursors;
        self
    }
}

/// What was delivered for one container instance.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ContainerDelivery {
    /// The container instance.
    pub container: Arc<Container>,
    /// Lines written to the sink (fragments count one each).
    pub lines: u64,
    /// Bytes of those lines as the API sent them (timestamps and newlines included).
    pub bytes: u64,
    /// Position of the last line a successful commit made durable: a checkpoint may resume
    /// from here. `None` until a commit covered a line with a timestamp (or when resumed,
    /// the resumed position).
    pub committed: Option<Cursor>,
    /// Whether the container's stream ended.
    pub ended: bool,
    /// Position of the last line written, not yet committed.
    written: Option<Cursor>,
    /// The stream read a terminated instance to its end.
    terminal: bool,
}

impl ContainerDelivery {
    fn new(container: Arc<Container>, resumed: Option<Cursor>) -> Self {
        Self {
            container,
            lines: 0,
            bytes: 0,
            committed: resumed,
            ended: false,
            written: resumed,
            terminal: false,
        }
    }

    /// Whether the instance had terminated and everything of it is committed: nothing of it
    /// can be missing any more.
    pub fn drained(&self) -> bool {
        self.ended && self.terminal && self.committed == self.written
    }
}

/// What a [`deliver`] call delivered, per container instance and in total.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Delivery {
    /// Per container instance seen in the run.
    pub containers: HashMap<ContainerKey, ContainerDelivery>,
    /// Lines written in total.
    pub lines: u64,
    /// Bytes written in total, as the API sent them.
    pub bytes: u64,
    /// Successful commits (the final close included).
    pub commits: u64,
    /// Gaps recorded in the sink.
    pub gaps: u64,
    /// Recorded instances whose record can go (pod deleted, previous instance unreadable).
    pub(crate) retired: HashSet<ContainerKey>,
    /// Where the loop also counts, for a metrics endpoint.
    metrics: Option<Arc<Metrics>>,
}

impl Delivery {
    /// A delivery that also counts into `metrics` (streams, lines, bytes, gaps, commits,
    /// errors, checkpoint lag), and marks them ready when the loop starts.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The metrics this delivery counts into, if any.
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.metrics.as_ref()
    }

    /// The committed cursor of every container that has one: what a checkpoint stores.
    pub fn committed_cursors(&self) -> HashMap<ContainerKey, Cursor> {
        self.containers
            .iter()
            .filter_map(|(key, c)| c.committed.map(|cursor| (key.clone(), cursor)))
            .collect()
    }

    fn entry(&mut self, container: &Arc<Container>, options: &DeliverOptions) -> &mut ContainerDelivery {
        let key = container.key();
        let resumed = options.resumed.get(&key).copied();
        self.containers
            .entry(key)
            .or_insert_with(|| ContainerDelivery::new(Arc::clone(container), resumed))
    }

    /// A successful commit made everything written durable.
    fn committed(&mut self) {
        self.commits += 1;
        for container in self.containers.values_mut() {
            container.committed = container.written;
        }
    }
}

/// Reads `run`'s events until it ends, writing every batch to `sink`.
///
/// - Commits at least every [`DeliverOptions::commit_interval`] while lines are uncommitted,
///   and closes the sink (which commits) at the end.
/// - Calls [`Sink::flush`] at most [`DeliverOptions::flush_delay`] after lines were written,
///   and [`Sink::end_container`] when a container's stream ends.
/// - Counts lines and bytes per container, and keeps each container's last *committed*
///   [`Cursor`]: it moves only when a commit returned `Ok`.
///
/// On the first sink error it stops and returns it; the caller should cancel the run
/// ([`ExportRun::cancellation`]). Use [`deliver_into`] to keep the cursors committed before
/// the error.
///
/// ```no_run
/// use kle_core::{Exporter, Selection};
/// use kle_sinks::{deliver, DeliverOptions, FileConfig, SinkConfig};
///
/// # async fn demo(client: kube::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let selection = Selection::builder().with_label_selector("app=web").build()?;
/// let mut run = Exporter::new(client, selection).start();
/// let mut sink = SinkConfig::File(FileConfig::new("/var/log/k8s")).build()?;
/// let delivery = deliver(&mut run, sink.as_mut(), &DeliverOptions::default()).await?;
/// run.finish().await?;
/// println!("{} lines in {} containers", delivery.lines, delivery.containers.len());
/// # Ok(()) }
/// ```
///
/// # Errors
/// The sink's error.
pub async fn deliver(
    run: &mut ExportRun,
    sink: &mut dyn Sink,
    options: &DeliverOptions,
) -> Result<Delivery, SinkError> {
    let mut delivery = Delivery::default();
    deliver_into(run, sink, options, &mut delivery).await?;
    Ok(delivery)
}

/// As [`deliver`], recording into `delivery`, which keeps what was committed if a sink error
/// ends the delivery early.
///
/// # Errors
/// The sink's error.
pub async fn deliver_into(
    run: &mut ExportRun,
    sink: &mut dyn Sink,
    options: &DeliverOptions,
    delivery: &mut Delivery,
) -> Result<(), SinkError> {
    deliver_events(run, sink, options, delivery, None).await
}

/// As [`deliver_into`], keeping `checkpointer`'s checkpoint in step with the sink: the sink is
/// [restored](Sink::restore) to the checkpoint first, and the checkpoint saved after every
/// successful commit. Give the run the same checkpoint (`Exporter::with_checkpoint` with
/// [`Checkpointer::resumed`]) so it resumes where the sink stands.
///
/// # Errors
/// The sink's error, or the checkpoint store's ([`SinkError::Checkpoint`]).
pub async fn deliver_checkpointed(
    run: &mut ExportRun,
    sink: &mut dyn Sink,
    options: &DeliverOptions,
    checkpointer: &mut Checkpointer,
    delivery: &mut Delivery,
) -> Result<(), SinkError> {
    let options = match checkpointer.resumed() {
        Some(checkpoint) => &options.clone().with_resumed(checkpoint.cursors()),
        None => options,
    };
    checkpointer.begin(sink).await?;
    deliver_events(run, sink, options, delivery, Some(checkpointer)).await
}

/// Where the loop reads events: an [`ExportRun`], or a scripted sequence in tests.
#[async_trait]
trait EventSource: Send {
    /// The next event; `None` when the run ended. Must be cancel-safe.
    async fn next(&mut self) -> Option<ExportEvent>;
}

#[async_trait]
impl EventSource for ExportRun {
    async fn next(&mut self) -> Option<ExportEvent> {
        self.next_event().await
    }
}

async fn deliver_events(
    source: &mut dyn EventSource,
    sink: &mut dyn Sink,
    options: &DeliverOptions,
    delivery: &mut Delivery,
    checkpointer: Option<&mut Checkpointer>,
) -> Result<(), SinkError> {
    let metrics = delivery.metrics.clone();
    if let Some(metrics) = &metrics {
        metrics.set_ready(true);
    }
    let result = deliver_loop(source, sink, options, delivery, checkpointer).await;
    if let (Some(metrics), Err(_)) = (&metrics, &result) {
        metrics.sink_error();
    }
    result
}

async fn deliver_loop(
    source: &mut dyn EventSource,
    sink: &mut dyn Sink,
    options: &DeliverOptions,
    delivery: &mut Delivery,
    mut checkpointer: Option<&mut Checkpointer>,
) -> Result<(), SinkError> {
    // Set while something is uncommitted (unflushed): when the oldest of it must be.
    let mut commit_at: Option<Instant> = None;
    let mut flush_at: Option<Instant> = None;
    loop {
        let event = match commit_at.into_iter().chain(flush_at).min() {
            Some(at) => tokio::time::timeout_at(at, source.next()).await.ok(),
            None => Some(source.next().await),
        };
        if let Some(event) = event {
            let Some(event) = event else { break };
            if handle(event, sink, options, delivery).await? {
                let now = Instant::now();
                commit_at.get_or_insert(now + options.commit_interval);
                flush_at.get_or_insert(now + options.flush_delay);
            }
        }
        // Checked after every event too: a source that is always ready never lets a timeout fire.
        let now = Instant::now();
        if commit_at.is_some_and(|at| now >= at) {
            commit(sink, delivery, checkpointer.as_deref_mut()).await?;
            (commit_at, flush_at) = (None, None);
        } else if flush_at.is_some_and(|at| now >= at) {
            sink.flush().await?;
            flush_at = None;
        }
    }
    sink.close().await?;
    delivery.committed();
    let checkpointed = checkpointer.is_some();
    if let Some(checkpointer) = checkpointer {
        checkpointer.committed(delivery, sink.committed_state()).await?;
    }
    if let Some(metrics) = &delivery.metrics {
        metrics.committed(checkpointed);
    }
    debug!(sink = %sink.describe(), lines = delivery.lines, bytes = delivery.bytes, commits = delivery.commits, "delivery finished");
    Ok(())
}

/// Applies one event; returns whether it left something to commit.
async fn handle(
    event: ExportEvent,
    sink: &mut dyn Sink,
    options: &DeliverOptions,
    delivery: &mut Delivery,
) -> Result<bool, SinkError> {
    if let Some(metrics) = &delivery.metrics {
        metrics.observe(&event);
    }
    match event {
        ExportEvent::Matched(container) | ExportEvent::Started(container) => {
            delivery.entry(&container, options);
            Ok(false)
        }
        ExportEvent::Lines(batch) => {
            if batch.lines.is_empty() {
                return Ok(false);
            }
            sink.write(&batch).await?;
            let lines = batch.lines.len() as u64;
            let bytes = batch.raw_len() as u64;
            let entry = delivery.entry(&batch.container, options);
            entry.lines += lines;
            entry.bytes += bytes;
            entry.written = batch.lines.cursor_after(entry.written);
            delivery.lines += lines;
            delivery.bytes += bytes;
            if let Some(metrics) = &delivery.metrics {
                metrics.written(lines, bytes);
            }
            Ok(true)
        }
        ExportEvent::Gap(gap) => {
            sink.gap(&gap).await?;
            delivery.gaps += 1;
            if matches!(gap.reason, GapReason::PodDeleted | GapReason::PreviousUnavailable) {
                delivery.retired.insert(gap.container.key());
            }
            Ok(true)
        }
        ExportEvent::Retired(key) => {
            delivery.retired.insert(key);
            Ok(true)
        }
        ExportEvent::Ended(report) => {
            sink.end_container(&report.container).await?;
            let entry = delivery.entry(&report.container, options);
            entry.ended = true;
            entry.terminal = report.drained;
            // The stream's own cursor counts from its resume point; its lines came before
            // this event, so they are all written.
            if report.cursor.is_some() && report.cursor != entry.written {
                entry.written = report.cursor;
                return Ok(true);
            }
            Ok(false)
        }
        _ => Ok(false),
    }
}

async fn commit(
    sink: &mut dyn Sink,
    delivery: &mut Delivery,
    checkpointer: Option<&mut Checkpointer>,
) -> Result<(), SinkError> {
    sink.commit().await?;
    delivery.committed();
    let checkpointed = checkpointer.is_some();
    if let Some(checkpointer) = checkpointer {
        checkpointer.committed(delivery, sink.committed_state()).await?;
    }
    if let Some(metrics) = &delivery.metrics {
        metrics.committed(checkpointed);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
