//! [`Metrics`]: counters a long-running delivery keeps, rendered in the Prometheus text format.
//!
//! The delivery loop feeds them (give an [`Export`](crate::Export) an `Arc<Metrics>` with
//! [`Export::with_metrics`](crate::Export::with_metrics)); whoever serves `/metrics` calls
//! [`Metrics::render`]. Nothing here does I/O.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use crate::instance::ContainerKey;
use crate::stream::ExportEvent;

/// What a delivery did so far, shared between the delivery loop and a metrics endpoint.
///
/// ```
/// use kle_core::Metrics;
///
/// let metrics = Metrics::new("file:/var/log/k8s");
/// assert!(!metrics.is_ready());
/// assert!(metrics.render().contains("kle_lines_total{sink=\"file:/var/log/k8s\"} 0"));
/// ```
#[derive(Debug)]
pub struct Metrics {
    sink: String,
    lines: AtomicU64,
    bytes: AtomicU64,
    gaps: AtomicU64,
    reconnects: AtomicU64,
    sink_errors: AtomicU64,
    commits: AtomicU64,
    checkpoint_saves: AtomicU64,
    ready: AtomicBool,
    streams: Mutex<Streams>,
    /// When the oldest line not yet committed (and checkpointed) was written.
    pending_since: Mutex<Option<Instant>>,
    shards: ShardStats,
}

/// What a replica of a shard group counts ([`crate::shards`]); rendered once enabled.
#[derive(Debug, Default)]
pub struct ShardStats {
    enabled: AtomicBool,
    running: AtomicU64,
    handovers: AtomicU64,
    takeovers: AtomicU64,
    /// Of the last takeover, in milliseconds: from the previous owner's last renewal until
    /// this replica held the shard and started it.
    last_takeover_ms: AtomicU64,
}

impl ShardStats {
    pub(crate) fn enable(&self) {
        self.enabled.store(true, Ordering::Relaxed);
    }

    pub(crate) fn set_running(&self, shards: usize) {
        self.running
            .store(u64::try_from(shards).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub(crate) fn handed_over(&self) {
        self.handovers.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn took_over(&self, seconds: f64) {
        self.takeovers.fetch_add(1, Ordering::Relaxed);
        // Whole milliseconds of a non-negative, finite figure: the cast cannot lose a sign.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ms = (seconds.clamp(0.0, 1e9) * 1000.0) as u64;
        self.last_takeover_ms.store(ms, Ordering::Relaxed);
    }

    /// Shards this replica runs now (holding or waiting for their Leases).
    pub fn running(&self) -> u64 {
        self.running.load(Ordering::Relaxed)
    }

    /// Shards handed over to another replica so far.
    pub fn handovers(&self) -> u64 {
        self.handovers.load(Ordering::Relaxed)
    }

    /// Shards taken over from replicas that did not let go so far.
    pub fn takeovers(&self) -> u64 {
        self.takeovers.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
struct Streams {
    queued: HashSet<ContainerKey>,
    active: HashSet<ContainerKey>,
    /// A count, not a set: a follow of a week keeps what a follow of a minute keeps.
    ended: usize,
}

/// Where a run stands, for a progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Container streams that ended.
    pub done: usize,
    /// Containers selected so far.
    pub total: usize,
    /// Lines written.
    pub lines: u64,
    /// Bytes written.
    pub bytes: u64,
}

impl Metrics {
    /// Metrics of a delivery into the sink described as `sink` (its
    /// [`describe`](crate::Sink::describe)), the value of every series' `sink` label.
    pub fn new(sink: impl Into<String>) -> Self {
        Self {
            sink: sink.into(),
            lines: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            sink_errors: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            checkpoint_saves: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            streams: Mutex::new(Streams::default()),
            pending_since: Mutex::new(None),
            shards: ShardStats::default(),
        }
    }

    /// The shard counters of a replica in a shard group.
    pub fn shards(&self) -> &ShardStats {
        &self.shards
    }

    /// Whether the delivery has started (permissions checked, checkpoint loaded, sink ready):
    /// what `/readyz` answers.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Marks the delivery as started (or stopped).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Lines written to the sink so far.
    pub fn lines(&self) -> u64 {
        self.lines.load(Ordering::Relaxed)
    }

    /// Containers done and selected, lines and bytes written so far.
    pub fn progress(&self) -> Progress {
        let streams = self.streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Progress {
            done: streams.ended,
            total: streams.queued.len() + streams.active.len() + streams.ended,
            lines: self.lines.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    /// Records an event of the run, before the loop applies it.
    pub(crate) fn observe(&self, event: &ExportEvent) {
        let mut streams = self.streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match event {
            ExportEvent::Matched(container) => {
                let key = container.key();
                if !streams.active.contains(&key) {
                    streams.queued.insert(key);
                }
            }
            ExportEvent::Started(container) => {
                let key = container.key();
                streams.queued.remove(&key);
                streams.active.insert(key);
            }
            ExportEvent::Ended(report) => {
                let key = report.container.key();
                let was_open = streams.queued.remove(&key) | streams.active.remove(&key);
                streams.ended += usize::from(was_open);
            }
            ExportEvent::Reconnected(_) => {
                self.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            ExportEvent::Gap(_) => {
                self.gaps.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    pub(crate) fn written(&self, lines: u64, bytes: u64) {
        self.lines.fetch_add(lines, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        let mut pending = self
            .pending_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        pending.get_or_insert_with(Instant::now);
    }

    pub(crate) fn committed(&self, checkpointed: bool) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        if checkpointed {
            self.checkpoint_saves.fetch_add(1, Ordering::Relaxed);
        }
        *self
            .pending_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    pub(crate) fn sink_error(&self) {
        self.sink_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The metrics in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let (queued, active) = {
            let streams = self.streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            (streams.queued.len(), streams.active.len())
        };
        let lag = self
            .pending_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .map_or(0.0, |since| since.elapsed().as_secs_f64());
        let sink = self.sink.replace('\\', "\\\\").replace('"', "\\\"");
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut series = |name: &str, kind: &str, help: &str, labelled: bool, value: String| {
            let labels = if labelled {
                format!("{{sink=\"{sink}\"}}")
            } else {
                String::new()
            };
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{labels} {value}\n"
            );
        };
        series(
            "kle_streams_active",
            "gauge",
            "Log streams open now.",
            false,
            active.to_string(),
        );
        series(
            "kle_streams_queued",
            "gauge",
            "Containers selected whose stream waits for a free slot (--max-streams).",
            false,
            queued.to_string(),
        );
        series(
            "kle_lines_total",
            "counter",
            "Lines written to the sink.",
            true,
            load(&self.lines).to_string(),
        );
        series(
            "kle_bytes_total",
            "counter",
            "Bytes of lines written to the sink, as the API sent them.",
            true,
            load(&self.bytes).to_string(),
        );
        series(
            "kle_reconnects_total",
            "counter",
            "Log stream reconnections (interrupted streams resuming from their cursor).",
            false,
            load(&self.reconnects).to_string(),
        );
        series(
            "kle_gaps_total",
            "counter",
            "Gaps: stretches of log that could not be exported.",
            false,
            load(&self.gaps).to_string(),
        );
        series(
            "kle_sink_errors_total",
            "counter",
            "Errors from the sink or the checkpoint store.",
            true,
            load(&self.sink_errors).to_string(),
        );
        series(
            "kle_commits_total",
            "counter",
            "Successful sink commits.",
            true,
            load(&self.commits).to_string(),
        );
        series(
            "kle_checkpoint_saves_total",
            "counter",
            "Checkpoints saved after a commit.",
            true,
            load(&self.checkpoint_saves).to_string(),
        );
        series(
            "kle_checkpoint_lag_seconds",
            "gauge",
            "How long the oldest line written but not yet committed and checkpointed has waited.",
            true,
            format!("{lag:.3}"),
        );
        series(
            "kle_ready",
            "gauge",
            "1 once the delivery has started.",
            false,
            u8::from(self.is_ready()).to_string(),
        );
        if self.shards.enabled.load(Ordering::Relaxed) {
            let shards = &self.shards;
            series(
                "kle_shards_running",
                "gauge",
                "Shards this replica runs now (holding their Lease, or waiting for its previous owner to let go).",
                false,
                shards.running().to_string(),
            );
            series(
                "kle_shard_handovers_total",
                "counter",
                "Shards handed over to another replica (committed, checkpointed and released first).",
                false,
                shards.handovers().to_string(),
            );
            series(
                "kle_shard_takeovers_total",
                "counter",
                "Shards taken over from a replica that did not let go (killed, paused, cut off).",
                false,
                shards.takeovers().to_string(),
            );
            series(
                "kle_shard_last_takeover_seconds",
                "gauge",
                "Of the last takeover: seconds from the previous owner's last Lease renewal until this replica \
                 started the shard.",
                false,
                format!("{:.3}", shards.last_takeover_ms.load(Ordering::Relaxed) as f64 / 1000.0),
            );
        }
        out
    }
}
