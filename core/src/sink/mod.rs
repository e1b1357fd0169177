//! The [`Sink`] trait: where a run's lines go, and [`SinkError`], what can go wrong there.
//!
//! The trait lives with the pipeline that drives it ([`Export`](crate::Export)); the backends
//! (stdout, files, S3) live in `kle-sinks`, and an embedder's own sink is as good as theirs.

use std::time::Duration;

use async_trait::async_trait;

use crate::gap::Gap;
use crate::instance::{Container, ContainerKey};
use crate::line::LogBatch;

mod error;

pub use error::{SinkError, UploadFailure};

/// A destination for exported log lines.
///
/// A push model, like ripgrep's `Sink`: the delivery loop of an [`Export`](crate::Export) calls
/// [`write`](Sink::write) with one container's lines at a time, [`commit`](Sink::commit) to make
/// them durable, [`end_container`](Sink::end_container) when a container's stream ends and
/// [`close`](Sink::close) at the end, and [`flush`](Sink::flush) shortly after lines were
/// written. The trait is object-safe: sinks are used as
/// `Box<dyn Sink>` (`kle-sinks` builds its backends from a `SinkConfig`).
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
/// use kle_core::{Sink, SinkError};
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

    /// A container instance is finished for good: its pod is gone, and its log was read to the
    /// end and committed, or can no longer be read (a gap said so). Called after the commit
    /// that covers it, for instances of this run and for those only an earlier run's
    /// checkpoint knew. A sink drops what it keeps for it (the file sink: its files' committed
    /// lengths), so a follow of a week holds what a follow of a minute holds. The default does
    /// nothing.
    ///
    /// # Errors
    /// Releasing failed.
    async fn retire(&mut self, instance: &ContainerKey) -> Result<(), SinkError> {
        let _ = instance;
        Ok(())
    }

    /// How often the sink wants to be committed, when it has a preference: a sink whose commit
    /// finishes an object (S3) commits once per object age, not every second. `None` (the
    /// default): the pipeline's interval (1 s).
    fn commit_interval(&self) -> Option<Duration> {
        None
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

    async fn retire(&mut self, instance: &ContainerKey) -> Result<(), SinkError> {
        (**self).retire(instance).await
    }

    fn commit_interval(&self) -> Option<Duration> {
        (**self).commit_interval()
    }

    fn describe(&self) -> String {
        (**self).describe()
    }
}
