//! The export pipeline: one call that runs an export from the cluster into a sink, with
//! checkpoints, commits and metrics wired once.
//!
//! [`Export`] is the entry point for embedders and the command line alike. Inside it:
//! - the run becomes the checkpoint's owner ([`ownership`](crate::ownership)), waiting for
//!   another owner as long as [`with_wait_for_lock`](Export::with_wait_for_lock) allows; every
//!   write to the sink and every save checks it still is;
//! - the checkpoint is loaded, and both sides are restored from it: the streams resume after
//!   its cursors and the sink undoes what was written after it ([`Sink::restore`]);
//! - the delivery loop writes each batch to the sink, flushes shortly after, commits at the
//!   sink's interval ([`Sink::commit_interval`]) and saves the checkpoint after each commit;
//! - a sink or checkpoint error cancels the streams; the run finishes and reports.
//!
//! The parts: `deliver` (the delivery loop), `commit` (the commit-then-checkpoint step) and
//! [`Metrics`] (what the loop counts, for `/metrics`).

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::checkpoint::CheckpointStore;
use crate::engine::{ExportOptions, Exporter, RunSummary};
use crate::error::{Error, Permission};
use crate::ownership::{Claimant, OwnerGuard};
use crate::selection::Selection;
use crate::sink::Sink;

mod commit;
mod deliver;
mod metrics;

use commit::Checkpointer;
pub use deliver::{ContainerDelivery, Delivery, Totals};
use deliver::{DeliverOptions, Delivering};
pub use metrics::{Metrics, Progress, ShardStats};

/// An export from the cluster into a sink: build it with `with_*`, then [`run`](Export::run) it.
///
/// ```no_run
/// use std::sync::Arc;
/// use kle_core::checkpoint::FileCheckpointStore;
/// use kle_core::{Export, Selection, Sink};
/// use tokio_util::sync::CancellationToken;
///
/// # async fn demo(client: kube::Client, sink: Box<dyn Sink>) -> Result<(), kle_core::Error> {
/// let selection = Selection::builder().with_label_selector("app=web").build()?;
/// let report = Export::new(client, selection, sink)
///     .with_checkpoint(Arc::new(FileCheckpointStore::new("out/.kube-log-exporter-checkpoint.json")))
///     .run(CancellationToken::new())
///     .await?;
/// println!("{} lines from {} containers", report.delivery.lines, report.summary.matched);
/// # Ok(()) }
/// ```
pub struct Export {
    client: Client,
    selection: Selection,
    options: ExportOptions,
    sink: Box<dyn Sink>,
    checkpoint: Option<Arc<dyn CheckpointStore>>,
    metrics: Option<Arc<Metrics>>,
    commit_interval: Option<Duration>,
    flush_delay: Duration,
    wait_for_lock: Option<Duration>,
    claimant: Option<Claimant>,
    owner: Option<OwnerGuard>,
}

/// What a finished [`Export`] did.
#[derive(Debug)]
#[non_exhaustive]
pub struct ExportReport {
    /// The streams' totals: containers matched, how each ended, gaps, refused permissions.
    pub summary: RunSummary,
    /// What reached the sink and was committed, per container and namespace.
    pub delivery: Delivery,
    /// The sink, as it describes itself (`file:/out`).
    pub sink: String,
    /// The checkpoint store (`configmap:logging/kle`), when the run kept one.
    pub checkpoint: Option<String>,
}

impl Export {
    /// An export of `selection` into `sink`: one-shot, no checkpoint, default options.
    pub fn new(client: Client, selection: Selection, sink: Box<dyn Sink>) -> Self {
        Self {
            client,
            selection,
            options: ExportOptions::default(),
            sink,
            checkpoint: None,
            metrics: None,
            commit_interval: None,
            flush_delay: DeliverOptions::default().flush_delay,
            wait_for_lock: None,
            claimant: None,
            owner: None,
        }
    }

    /// Sets how logs are read (follow, since, tail, stream budget).
    #[must_use]
    pub fn with_options(mut self, options: ExportOptions) -> Self {
        self.options = options;
        self
    }

    /// Keeps a checkpoint in `store`: the run resumes after what earlier runs committed, the
    /// sink is restored to it, and it is saved after every commit. On a first run, containers
    /// that appear in later runs are read from this run's `since` on.
    #[must_use]
    pub fn with_checkpoint(mut self, store: Arc<dyn CheckpointStore>) -> Self {
        self.checkpoint = Some(store);
        self
    }

    /// When another run owns the checkpoint, waits up to `wait` for it to let go (or for its
    /// hold to lapse) instead of failing at once with [`Error::OwnedElsewhere`].
    #[must_use]
    pub fn with_wait_for_lock(mut self, wait: Duration) -> Self {
        self.wait_for_lock = Some(wait);
        self
    }

    /// Records `claimant` as the checkpoint's owner instead of this process
    /// ([`Claimant::this_process`]).
    #[must_use]
    pub fn with_claimant(mut self, claimant: Claimant) -> Self {
        self.claimant = Some(claimant);
        self
    }

    /// Writes under an ownership the caller already holds (a shard's Lease, [`crate::shards`])
    /// instead of becoming the checkpoint store's owner: the guard fences every write and save
    /// and is released when the run ends. Needs a checkpoint ([`with_checkpoint`](Self::with_checkpoint)).
    #[must_use]
    pub fn with_owner(mut self, guard: OwnerGuard) -> Self {
        self.owner = Some(guard);
        self
    }

    /// Counts into `metrics` (streams, lines, bytes, gaps, commits, errors, checkpoint lag)
    /// and marks them ready when the delivery starts.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Commits at least this often while lines are uncommitted, instead of the sink's own
    /// interval ([`Sink::commit_interval`], else 1 s).
    #[must_use]
    pub fn with_commit_interval(mut self, interval: Duration) -> Self {
        self.commit_interval = Some(interval);
        self
    }

    /// Passes written lines on ([`Sink::flush`]) at most this long after they were written
    /// (default 10 ms).
    #[must_use]
    pub fn with_flush_delay(mut self, delay: Duration) -> Self {
        self.flush_delay = delay;
        self
    }

    /// The permissions the export needs: pods and their logs for the selection, and what the
    /// checkpoint store needs (a ConfigMap store: its ConfigMap).
    pub fn required_permissions(&self) -> Vec<Permission> {
        crate::engine::required_permissions(&self.selection, self.options.stream.follow, self.checkpoint.as_deref())
    }

    /// A description of the sink (`file:/out`), as the metrics label it.
    pub fn sink_description(&self) -> String {
        self.sink.describe()
    }

    /// Runs the export until it ends (one-shot: every log read; follow: `cancel`), then
    /// commits, saves the checkpoint and reports. Cancelling `cancel` stops the streams; what
    /// was received is still committed and checkpointed.
    ///
    /// Per-container problems (a refused `pods/log`, a failed stream, gaps) do not fail the
    /// run: they are in the report's [`RunSummary`] for the caller to judge.
    ///
    /// # Errors
    /// - [`Error::OwnedElsewhere`]: another run owns the checkpoint (nothing was written);
    /// - [`Error::LostOwnership`]: this run's hold lapsed or was taken over; it stopped writing;
    /// - [`Error::Sink`]: the sink failed (the streams are cancelled; what was committed
    ///   before is checkpointed);
    /// - [`Error::Checkpoint`]: the checkpoint could not be loaded or saved;
    /// - discovery failures: [`Error::Forbidden`] for pods that may not be listed or
    ///   watched, [`Error::RejectedSelector`], [`Error::Api`].
    pub async fn run(self, cancel: CancellationToken) -> Result<ExportReport, Error> {
        let Export {
            client,
            selection,
            options,
            mut sink,
            checkpoint,
            metrics,
            commit_interval,
            flush_delay,
            wait_for_lock,
            claimant,
            owner,
        } = self;
        let origin = options.stream.since.and_then(|since| since.origin());
        let mut checkpointer = match checkpoint {
            Some(store) => {
                // Owner first, then load: what is loaded is what the previous owner left.
                let guard = match (owner, store.ownership()) {
                    (Some(guard), _) => Some(guard),
                    (None, Some(ownership)) => {
                        let claimant = claimant.unwrap_or_else(Claimant::this_process);
                        Some(OwnerGuard::acquire(ownership, claimant, wait_for_lock).await?)
                    }
                    (None, None) => None,
                };
                Some(Checkpointer::load(store, origin, guard).await?)
            }
            None if owner.is_some() => {
                return Err(Error::InvalidSelection(
                    "an export under an ownership it was given needs a checkpoint (Export::with_checkpoint)".into(),
                ));
            }
            None => None,
        };
        let mut exporter = Exporter::new(client, selection).with_options(options);
        if let Some(resumed) = checkpointer.as_ref().and_then(Checkpointer::resumed) {
            exporter = exporter.with_checkpoint(resumed.clone());
        }
        let mut run = exporter.start_with(cancel.child_token());
        // A run that lost ownership stops even when it has nothing to write.
        let stop_on_loss = checkpointer.as_ref().and_then(Checkpointer::lost).map(|lost| {
            let streams = run.cancellation();
            tokio::spawn(async move {
                lost.cancelled().await;
                streams.cancel();
            })
        });
        let deliver_options = DeliverOptions {
            commit_interval: commit_interval
                .or_else(|| sink.commit_interval())
                .unwrap_or(DeliverOptions::default().commit_interval),
            flush_delay,
        };
        let mut delivery = Delivery::default();
        let delivered = async {
            if let Some(checkpointer) = checkpointer.as_mut() {
                checkpointer.begin(sink.as_mut()).await?;
            }
            let delivering = Delivering {
                sink: sink.as_mut(),
                checkpointer: checkpointer.as_mut(),
                metrics: metrics.as_deref(),
                options: &deliver_options,
            };
            delivering.run(&mut run, &mut delivery).await
        }
        .await;
        if delivered.is_err() {
            run.cancellation().cancel();
        }
        let summary = run.finish().await;
        if let Some(task) = stop_on_loss {
            task.abort();
        }
        // A write or save that fails after the hold lapsed (a process paused between the fence
        // and the write finds its conditional save refused) is the fence at work: say so.
        let delivered = match (delivered, checkpointer.as_ref().map(Checkpointer::fence)) {
            (Err(err), Some(Err(lost))) if !err.is_ownership() => {
                warn!(error = %err, "a write failed after this run lost ownership of the checkpoint");
                Err(lost)
            }
            (delivered, _) => delivered,
        };
        if let Some(checkpointer) = checkpointer.as_mut() {
            checkpointer.release().await;
        }
        delivered?;
        Ok(ExportReport {
            summary: summary?,
            delivery,
            sink: sink.describe(),
            checkpoint: checkpointer.map(|c| c.describe()),
        })
    }
}

impl std::fmt::Debug for Export {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Export")
            .field("selection", &self.selection)
            .field("options", &self.options)
            .field("sink", &self.sink.describe())
            .field("checkpoint", &self.checkpoint.as_ref().map(|store| store.describe()))
            .finish_non_exhaustive()
    }
}
