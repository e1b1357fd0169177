//! The [`Sink`] trait: where a run's lines go.

use async_trait::async_trait;
use kle_core::{Container, Gap, LogBatch};

use crate::error::SinkError;

/// A destination for exported log lines.
///
/// A push model, like ripgrep's `Sink`: the delivery loop ([`deliver`](crate::deliver())) calls
/// [`write`](Sink::write) with one container's lines at a time, [`commit`](Sink::commit) to make
/// them durable, [`end_container`](Sink::end_container) when a container's stream ends,
/// [`retire`](Sink::retire) when an instance is finished for good, and
/// [`close`](Sink::close) at the end, and [`flush`](Sink::flush) shortly after lines were
/// written. The trait is object-safe: sinks are used as
/// `Box<dyn Sink>`, built from a [`SinkConfig`](crate::SinkConfig).
///
/// # Delivery contract
/// Lines passed to `write` before a `commit` that returned `Ok` are *delivered*: a checkpoint
/// may move past them, and they must survive a crash. Lines written after the last successful
/// commit may be lost (and will be exported again on resume), so a sink may buffer freely
/// between commits: a file sink flushes and `fsync`s on commit, an object-store sink completes
/// its uploads on commit and may roll objects per container or by size in between.
///
/// # Example
/// A sink that counts lines:
/// ```
/// use async_trait::async_trait;
/// use kle_core::LogBatch;
/// use kle_sinks::{Sink, SinkError};
///
/// #[derive(Default)]
/// struct Count { written: usize, delivered: usize }
///
/// #[async_trait]
/// impl Sink for Count {
///     async fn write(&mut self, batch: &LogBatch) -> Result<(), SinkError> {
///         self.written += batch.lines.len();
///         Ok(())
///     }
///     async fn commit(&mut self) -> Result<(), SinkError> {
///         self.delivered = self.written;
///         Ok(())
///     }
///     fn describe(&self) -> String {
///         "count".into()
///     }
/// }
/// ```
#[async_trait]
pub trait Sink: Send {
    /// Writes one container's lines, in order; may buffer until [`commit`](Sink::commit).
    ///
    /// # Errors
    /// Whatever the destination reports; after an error the sink's state is unknown and the
    /// caller should stop (lines not committed are exported again on resume).
    async fn write(&mut self, batch: &LogBatch) -> Result<(), SinkError>;

    /// Makes everything written so far durable (flush and `fsync` for files, a completed
    /// upload for object stores).
    ///
    /// Lines written before an `Ok` commit are delivered: a checkpoint may advance past them.
    ///
    /// # Errors
    /// The destination could not make the lines durable; they count as not delivered.
    async fn commit(&mut self) -> Result<(), SinkError>;

    /// Passes on what a sink that gathers writes into larger ones holds (stdout writes its
    /// buffer). The delivery loop calls it shortly after lines were written (10 ms by
    /// default), so lines that trickle in are written a few at a time and a busy run makes
    /// few large writes, while a person watching a follow sees each line as it comes. Not a
    /// commit: nothing is made durable. The default does nothing.
    ///
    /// # Errors
    /// As for [`write`](Sink::write).
    async fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// A container's stream ended: release what is held for it (close its file, seal its
    /// object). Lines written for it still become durable only at the next commit.
    ///
    /// # Errors
    /// Releasing failed (for instance, flushing a buffer on the way out).
    async fn end_container(&mut self, container: &Container) -> Result<(), SinkError> {
        let _ = container;
        Ok(())
    }

    /// A container instance is finished for good (its pod is gone and its log was read to the
    /// end, and everything of it is committed): drop what is kept for it.
    ///
    /// The instance may be one only an earlier run wrote, known from the checkpoint; sinks
    /// match instances by [`Container::key`]. What is dropped leaves the
    /// [`committed_state`](Sink::committed_state) saved with the next checkpoint, so that it
    /// stays small over a long follow (the file sink: the committed lengths of the instance's
    /// files). The default does nothing.
    ///
    /// # Errors
    /// Releasing failed.
    async fn retire(&mut self, container: &Container) -> Result<(), SinkError> {
        let _ = container;
        Ok(())
    }

    /// Commits and releases everything; the sink is not written to afterwards.
    ///
    /// # Errors
    /// As for [`commit`](Sink::commit).
    async fn close(&mut self) -> Result<(), SinkError> {
        self.commit().await
    }

    /// Records lines that will never be exported, with a marker where they would have been
    /// (the default writes nothing). Committed like lines.
    ///
    /// # Errors
    /// As for [`write`](Sink::write).
    async fn gap(&mut self, gap: &Gap) -> Result<(), SinkError> {
        let _ = gap;
        Ok(())
    }

    /// The sink's own state as of the last successful [`commit`](Sink::commit), saved in the
    /// checkpoint beside the cursors (the file sink: its files' committed lengths). `None`
    /// (the default): nothing to save.
    fn committed_state(&self) -> Option<serde_json::Value> {
        None
    }

    /// Called once, before anything is written, by a run that keeps a checkpoint: `state` is
    /// what [`committed_state`](Sink::committed_state) returned when the checkpoint the run
    /// resumes from was saved, or `None` when there is no checkpoint yet. A sink that cannot
    /// overwrite idempotently undoes here what was written after that checkpoint (a crashed
    /// run's uncommitted tail), so resumed lines are not written twice.
    ///
    /// # Errors
    /// The state is unreadable, or undoing failed.
    async fn restore(&mut self, state: Option<&serde_json::Value>) -> Result<(), SinkError> {
        let _ = state;
        Ok(())
    }

    /// A short description for logs and messages (`file:/var/log/pods`, `stdout`).
    fn describe(&self) -> String;
}

#[async_trait]
impl<S: Sink + ?Sized> Sink for Box<S> {
    async fn write(&mut self, batch: &LogBatch) -> Result<(), SinkError> {
        (**self).write(batch).await
    }

    async fn commit(&mut self) -> Result<(), SinkError> {
        (**self).commit().await
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        (**self).flush().await
    }

    async fn end_container(&mut self, container: &Container) -> Result<(), SinkError> {
        (**self).end_container(container).await
    }

    async fn retire(&mut self, container: &Container) -> Result<(), SinkError> {
        (**self).retire(container).await
    }

    async fn close(&mut self) -> Result<(), SinkError> {
        (**self).close().await
    }

    async fn gap(&mut self, gap: &Gap) -> Result<(), SinkError> {
        (**self).gap(gap).await
    }

    fn committed_state(&self) -> Option<serde_json::Value> {
        (**self).committed_state()
    }

    async fn restore(&mut self, state: Option<&serde_json::Value>) -> Result<(), SinkError> {
        (**self).restore(state).await
    }

    fn describe(&self) -> String {
        (**self).describe()
    }
}
