//! The commit step: keeps a [`Checkpoint`] in step with what the sink has committed.

use std::sync::Arc;

use jiff::Timestamp;
use tracing::{debug, info};

use super::deliver::Delivery;
use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::error::Error;
use crate::ownership::OwnerGuard;
use crate::sink::Sink;

/// Saves a checkpoint after every successful sink commit, so a later run (or the same one
/// after a crash) resumes exactly after what the sink holds.
///
/// Order matters and is kept here: the sink commits (`fsync`, completed upload), then the
/// checkpoint is saved; a crash in between leaves lines in the sink that the checkpoint does
/// not cover, which the next run's [`Sink::restore`] undoes (files are cut back) or overwrites
/// (deterministic object keys), so nothing is delivered twice and nothing is skipped.
///
/// It also holds the checkpoint's ownership ([`OwnerGuard`]), when the store records one:
/// [`fence`](Self::fence) before every write to the sink, and every save checks it first.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    store: Arc<dyn CheckpointStore>,
    checkpoint: Checkpoint,
    /// Whether the checkpoint was loaded (a resumed run) rather than started by this run.
    resumed: bool,
    guard: Option<OwnerGuard>,
}

impl Checkpointer {
    /// Loads the store's checkpoint, or starts one whose later containers are read from
    /// `origin` (the first run's `since`, made absolute) when the store has none. `guard`:
    /// this run's ownership of the checkpoint, acquired before loading it.
    pub(crate) async fn load(
        store: Arc<dyn CheckpointStore>,
        origin: Option<Timestamp>,
        guard: Option<OwnerGuard>,
    ) -> Result<Self, Error> {
        let loaded = store.load().await?;
        let resumed = loaded.is_some();
        match &loaded {
            Some(checkpoint) => {
                info!(store = %store.describe(), instances = checkpoint.len(), "resuming from checkpoint")
            }
            None => info!(store = %store.describe(), "no checkpoint yet; this run starts one"),
        }
        Ok(Self {
            checkpoint: loaded.unwrap_or_else(|| Checkpoint::new(origin)),
            store,
            resumed,
            guard,
        })
    }

    /// `Ok` while this run may write: it owns the checkpoint (or the store records no owner).
    pub(crate) fn fence(&self) -> Result<(), Error> {
        self.guard.as_ref().map_or(Ok(()), OwnerGuard::check)
    }

    /// Cancelled when this run loses the checkpoint's ownership.
    pub(crate) fn lost(&self) -> Option<tokio_util::sync::CancellationToken> {
        self.guard.as_ref().map(OwnerGuard::lost)
    }

    /// Lets go of the checkpoint's ownership, so the next run starts at once.
    pub(crate) async fn release(&mut self) {
        if let Some(guard) = self.guard.take() {
            guard.release().await;
        }
    }

    /// The checkpoint the run resumes from, or `None` on a first run.
    pub(crate) fn resumed(&self) -> Option<&Checkpoint> {
        self.resumed.then_some(&self.checkpoint)
    }

    /// The store, as it describes itself.
    pub(crate) fn describe(&self) -> String {
        self.store.describe()
    }

    /// Before the first write: a resumed run saves the checkpoint it loaded back (a conditional
    /// write: a deposed owner's late save now fails, or, if it came first, this one fails before
    /// anything was written); the sink undoes what was written after the checkpoint; a first
    /// run saves its (empty) checkpoint at once, so a crash before its first commit is resumed
    /// like any other.
    pub(crate) async fn begin(&mut self, sink: &mut dyn Sink) -> Result<(), Error> {
        if self.resumed {
            self.save().await?;
        }
        let state = self.checkpoint.sink.clone();
        self.fence()?;
        sink.restore(if self.resumed { state.as_ref() } else { None }).await?;
        if !self.resumed {
            self.checkpoint.sink = sink.committed_state();
            self.save().await?;
        }
        Ok(())
    }

    /// After a successful commit: records the committed positions and saves.
    pub(crate) async fn committed(
        &mut self,
        delivery: &Delivery,
        sink_state: Option<serde_json::Value>,
    ) -> Result<(), Error> {
        for (key, delivered) in &delivery.containers {
            if !delivery.retired.contains(key) {
                self.checkpoint
                    .record(&delivered.container, delivered.committed, delivered.drained());
            }
        }
        for key in &delivery.retired {
            self.checkpoint.remove(key);
        }
        self.checkpoint.prune();
        self.checkpoint.sink = sink_state;
        self.save().await
    }

    async fn save(&mut self) -> Result<(), Error> {
        self.fence()?;
        self.checkpoint.saved_at = Some(Timestamp::now());
        self.store.save(&self.checkpoint).await?;
        debug!(store = %self.store.describe(), instances = self.checkpoint.len(), "checkpoint saved");
        Ok(())
    }
}
