//! The delivery loop: an export run's events into a sink, with periodic flushes and commits,
//! and the cursors those commits made durable.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tracing::debug;

use super::commit::Checkpointer;
use super::metrics::Metrics;
use crate::cursor::Cursor;
use crate::engine::ExportRun;
use crate::error::Error;
use crate::gap::GapReason;
use crate::instance::{Container, ContainerKey};
use crate::sink::Sink;
use crate::stream::ExportEvent;

/// How the loop commits and flushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeliverOptions {
    /// Longest time written lines stay uncommitted. Commits also happen at the end of the run.
    pub(crate) commit_interval: Duration,
    /// Longest time written lines stay in a sink's buffer before [`Sink::flush`] passes them
    /// on: lines trickling in are written ten times a second per 100 ms, not once per network
    /// read, and a person watching sees no delay.
    pub(crate) flush_delay: Duration,
}

impl Default for DeliverOptions {
    fn default() -> Self {
        Self {
            commit_interval: Duration::from_secs(1),
            flush_delay: Duration::from_millis(10),
        }
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
    /// from here. `None` until a commit covered a line with a timestamp.
    pub committed: Option<Cursor>,
    /// Whether the container's stream ended.
    pub ended: bool,
    /// Position of the last line written, not yet committed.
    written: Option<Cursor>,
    /// The stream read a terminated instance to its end.
    terminal: bool,
}

impl ContainerDelivery {
    fn new(container: Arc<Container>) -> Self {
        Self {
            container,
            lines: 0,
            bytes: 0,
            committed: None,
            ended: false,
            written: None,
            terminal: false,
        }
    }

    /// Whether the instance had terminated and everything of it is committed: nothing of it
    /// can be missing any more.
    pub fn drained(&self) -> bool {
        self.ended && self.terminal && self.committed == self.written
    }
}

/// Containers, lines and bytes of one namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Totals {
    /// Container instances seen.
    pub containers: usize,
    /// Lines written.
    pub lines: u64,
    /// Bytes written, as the API sent them.
    pub bytes: u64,
}

/// What a run delivered: per container instance still tracked, per namespace and in total.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Delivery {
    /// Per container instance of the run, until it is retired (pod gone, log read to its end
    /// and committed): a long follow keeps only the instances that can still change.
    pub containers: HashMap<ContainerKey, ContainerDelivery>,
    /// Per namespace, retired instances included.
    pub namespaces: BTreeMap<String, Totals>,
    /// Lines written in total.
    pub lines: u64,
    /// Bytes written in total, as the API sent them.
    pub bytes: u64,
    /// Successful commits (the final close included).
    pub commits: u64,
    /// Gaps recorded in the sink.
    pub gaps: u64,
    /// Instances whose records can go (pod deleted, previous instance unreadable, pod gone
    /// after its log was read), dropped at the next commit.
    pub(crate) retired: HashSet<ContainerKey>,
}

impl Delivery {
    /// The committed cursor of every tracked container that has one: what a checkpoint stores.
    pub fn committed_cursors(&self) -> HashMap<ContainerKey, Cursor> {
        self.containers
            .iter()
            .filter_map(|(key, c)| c.committed.map(|cursor| (key.clone(), cursor)))
            .collect()
    }

    fn entry(&mut self, container: &Arc<Container>) -> &mut ContainerDelivery {
        let key = container.key();
        if !self.containers.contains_key(&key) {
            self.namespaces
                .entry(container.namespace().to_owned())
                .or_default()
                .containers += 1;
        }
        self.containers
            .entry(key)
            .or_insert_with(|| ContainerDelivery::new(Arc::clone(container)))
    }

    /// A successful commit made everything written durable.
    fn committed(&mut self) {
        self.commits += 1;
        for container in self.containers.values_mut() {
            container.committed = container.written;
        }
    }
}

/// Where the loop reads events: an [`ExportRun`], or a scripted sequence in tests.
#[async_trait]
pub(crate) trait EventSource: Send {
    /// The next event; `None` when the run ended. Must be cancel-safe.
    async fn next(&mut self) -> Option<ExportEvent>;
}

#[async_trait]
impl EventSource for ExportRun {
    async fn next(&mut self) -> Option<ExportEvent> {
        self.next_event().await
    }
}

/// The loop's parts: where lines go, where commits are recorded, where it counts.
pub(crate) struct Delivering<'a> {
    pub(crate) sink: &'a mut dyn Sink,
    pub(crate) checkpointer: Option<&'a mut Checkpointer>,
    pub(crate) metrics: Option<&'a Metrics>,
    pub(crate) options: &'a DeliverOptions,
}

impl Delivering<'_> {
    /// Reads `source`'s events until it ends, writing every batch to the sink.
    ///
    /// - Commits at least every `commit_interval` while lines are uncommitted, and closes the
    ///   sink (which commits) at the end; after each commit, the checkpoint is saved.
    /// - Calls [`Sink::flush`] at most `flush_delay` after lines were written, and
    ///   [`Sink::end_container`] when a container's stream ends.
    /// - Keeps each container's last *committed* [`Cursor`]: it moves only when a commit
    ///   returned `Ok`.
    ///
    /// Stops at the first sink or checkpoint error; `delivery` keeps what was committed before.
    pub(crate) async fn run(mut self, source: &mut dyn EventSource, delivery: &mut Delivery) -> Result<(), Error> {
        if let Some(metrics) = self.metrics {
            metrics.set_ready(true);
        }
        let result = self.deliver(source, delivery).await;
        if let (Some(metrics), Err(_)) = (self.metrics, &result) {
            metrics.sink_error();
        }
        result
    }

    async fn deliver(&mut self, source: &mut dyn EventSource, delivery: &mut Delivery) -> Result<(), Error> {
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
                if self.handle(event, delivery).await? {
                    let now = Instant::now();
                    commit_at.get_or_insert(now + self.options.commit_interval);
                    flush_at.get_or_insert(now + self.options.flush_delay);
                }
            }
            // Checked after every event too: a source that is always ready never lets a timeout fire.
            let now = Instant::now();
            if commit_at.is_some_and(|at| now >= at) {
                self.fence()?;
                self.sink.commit().await?;
                self.committed(delivery).await?;
                (commit_at, flush_at) = (None, None);
            } else if flush_at.is_some_and(|at| now >= at) {
                self.fence()?;
                self.sink.flush().await?;
                flush_at = None;
            }
        }
        self.fence()?;
        self.sink.close().await?;
        self.committed(delivery).await?;
        debug!(sink = %self.sink.describe(), lines = delivery.lines, bytes = delivery.bytes, commits = delivery.commits, "delivery finished");
        Ok(())
    }

    /// After a successful commit: cursors move, the checkpoint is saved, and the instances
    /// that are finished for good are forgotten by the sink and the delivery.
    async fn committed(&mut self, delivery: &mut Delivery) -> Result<(), Error> {
        delivery.committed();
        if let Some(checkpointer) = self.checkpointer.as_deref_mut() {
            checkpointer.committed(delivery, self.sink.committed_state()).await?;
        }
        if let Some(metrics) = self.metrics {
            metrics.committed(self.checkpointer.is_some());
        }
        // A stream says its instance is retired before its end is reported: such an instance
        // waits for its end, so no later event brings its record back.
        let (done, waiting): (HashSet<_>, HashSet<_>) = std::mem::take(&mut delivery.retired)
            .into_iter()
            .partition(|key| delivery.containers.get(key).is_none_or(|c| c.ended));
        delivery.retired = waiting;
        for key in done {
            delivery.containers.remove(&key);
            self.fence()?;
            self.sink.retire(&key).await?;
        }
        Ok(())
    }

    /// `Ok` while this run may write to the sink: it owns the checkpoint, or keeps none.
    fn fence(&self) -> Result<(), Error> {
        self.checkpointer.as_deref().map_or(Ok(()), Checkpointer::fence)
    }

    /// Applies one event; returns whether it left something to commit.
    async fn handle(&mut self, event: ExportEvent, delivery: &mut Delivery) -> Result<bool, Error> {
        if let Some(metrics) = self.metrics {
            metrics.observe(&event);
        }
        if matches!(
            event,
            ExportEvent::Lines(_) | ExportEvent::Gap(_) | ExportEvent::Ended(_)
        ) {
            self.fence()?;
        }
        match event {
            ExportEvent::Matched(container) | ExportEvent::Started(container) => {
                delivery.entry(&container);
                Ok(false)
            }
            ExportEvent::Lines(batch) => {
                if batch.lines.is_empty() {
                    // Lines the line filter left out: nothing to write, but the position moves
                    // past them, and the next commit makes that durable.
                    let entry = delivery.entry(&batch.container);
                    let moved = batch.cursor.is_some() && batch.cursor != entry.written;
                    entry.written = batch.cursor.or(entry.written);
                    return Ok(moved);
                }
                self.sink.write(&batch).await?;
                let lines = batch.lines.len() as u64;
                let bytes = batch.raw_len() as u64;
                let entry = delivery.entry(&batch.container);
                entry.lines += lines;
                entry.bytes += bytes;
                entry.written = batch.cursor.or(entry.written);
                let namespace = delivery
                    .namespaces
                    .entry(batch.container.namespace().to_owned())
                    .or_default();
                namespace.lines += lines;
                namespace.bytes += bytes;
                delivery.lines += lines;
                delivery.bytes += bytes;
                if let Some(metrics) = self.metrics {
                    metrics.written(lines, bytes);
                }
                Ok(true)
            }
            ExportEvent::Gap(gap) => {
                self.sink.gap(&gap).await?;
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
                self.sink.end_container(&report.container).await?;
                let entry = delivery.entry(&report.container);
                entry.ended = true;
                entry.terminal = report.drained;
                // The stream's own cursor is the last word; its lines came before this event,
                // so they are all written.
                if report.cursor.is_some() && report.cursor != entry.written {
                    entry.written = report.cursor;
                    return Ok(true);
                }
                Ok(false)
            }
            _ => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests;
