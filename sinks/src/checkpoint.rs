//! [`Checkpointer`]: keeps a [`Checkpoint`] in step with what a sink has committed.

use std::sync::Arc;

use jiff::Timestamp;
use kle_core::{Checkpoint, CheckpointEntry, CheckpointStore};
use tracing::{debug, info};

use crate::deliver::Delivery;
use crate::error::SinkError;
use crate::sink::Sink;

/// Saves a checkpoint after every successful sink commit, so a later run (or the same one
/// after a crash) resumes exactly after what the sink holds.
///
/// Order matters and is kept here: the sink commits (`fsync`, completed upload), then the
/// checkpoint is saved; a crash in between leaves lines in the sink that the checkpoint does
/// not cover, which the next run's [`Sink::restore`] undoes (files are cut back) or overwrites
/// (deterministic object keys), so nothing is delivered twice and nothing is skipped.
///
/// ```no_run
/// use std::sync::Arc;
/// use kle_core::{Exporter, FileCheckpointStore, Selection};
/// use kle_sinks::{deliver_checkpointed, Checkpointer, DeliverOptions, Delivery, FileSink, Sink};
///
/// # async fn demo(client: kube::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let store = Arc::new(FileCheckpointStore::new("out/.kube-log-exporter-checkpoint.json"));
/// let mut checkpointer = Checkpointer::load(store, None).await?;
/// let mut exporter = Exporter::new(client, Selection::builder().build()?);
/// if let Some(checkpoint) = checkpointer.resumed() {
///     exporter = exporter.with_checkpoint(checkpoint.clone());
/// }
/// let mut run = exporter.start();
/// let mut sink = FileSink::builder("out").build()?;
/// let mut delivery = Delivery::default();
/// deliver_checkpointed(&mut run, &mut sink, &DeliverOptions::default(), &mut checkpointer, &mut delivery).await?;
/// run.finish().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Checkpointer {
    store: Arc<dyn CheckpointStore>,
    checkpoint: Checkpoint,
    /// Whether the checkpoint was loaded (a resumed run) rather than started by this run.
    resumed: bool,
    saves: u64,
}

impl Checkpointer {
    /// Loads the store's checkpoint, or starts one whose later containers are read from
    /// `origin` (the first run's `--since`, made absolute) when the store has none.
    ///
    /// # Errors
    /// The store cannot be read, or holds something unreadable.
    pub async fn load(store: Arc<dyn CheckpointStore>, origin: Option<Timestamp>) -> Result<Self, SinkError> {
        let loaded = store.load().await.map_err(SinkError::Checkpoint)?;
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
            saves: 0,
        })
    }

    /// The checkpoint the run resumes from (for `Exporter::with_checkpoint`), or `None` on a
    /// first run.
    pub fn resumed(&self) -> Option<&Checkpoint> {
        self.resumed.then_some(&self.checkpoint)
    }

    /// The checkpoint as last saved (or loaded).
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// Checkpoints saved by this checkpointer.
    pub fn saves(&self) -> u64 {
        self.saves
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn CheckpointStore> {
        &self.store
    }

    /// Before the first write: the sink undoes what was written after the checkpoint; a first
    /// run saves its (empty) checkpoint at once, so a crash before its first commit is resumed
    /// like any other.
    pub(crate) async fn begin(&mut self, sink: &mut dyn Sink) -> Result<(), SinkError> {
        let state = self.checkpoint.sink.clone();
        sink.restore(if self.resumed { state.as_ref() } else { None }).await?;
        if !self.resumed {
            self.checkpoint.sink = sink.committed_state();
            self.store_now().await?;
        }
        Ok(())
    }

    /// After a successful commit: records the committed positions and saves.
    pub(crate) async fn committed(
        &mut self,
        delivery: &Delivery,
        sink_state: Option<serde_json::Value>,
    ) -> Result<(), SinkError> {
        for (key, delivered) in &delivery.containers {
            if delivery.retired.contains(key) {
                continue;
            }
            let container = &delivered.container;
            let mut entry = self.checkpoint.get(key).cloned().unwrap_or_else(|| CheckpointEntry {
                key: key.clone(),
                namespace: container.namespace().to_owned(),
                pod: container.pod_name().to_owned(),
                container_id: None,
                cursor: None,
                complete: false,
            });
            // A previous instance carries its successor's ID; only a current one names itself.
            if !container.previous && container.container_id.is_some() {
                entry.container_id.clone_from(&container.container_id);
            }
            entry.cursor = delivered.committed.or(entry.cursor);
            entry.complete |= delivered.drained();
            self.checkpoint.insert(entry);
        }
        for key in &delivery.retired {
            self.checkpoint.remove(key);
        }
        self.checkpoint.prune();
        self.checkpoint.sink = sink_state;
        self.store_now().await
    }

    async fn store_now(&mut self) -> Result<(), SinkError> {
        self.checkpoint.saved_at = Some(Timestamp::now());
        self.store.save(&self.checkpoint).await.map_err(SinkError::Checkpoint)?;
        self.saves += 1;
        debug!(store = %self.store.describe(), instances = self.checkpoint.len(), "checkpoint saved");
        Ok(())
    }
}
