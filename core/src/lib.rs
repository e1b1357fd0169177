//! Pod discovery and log streaming for kube-log-exporter.
//!
//! `kle-core` turns a [`Selection`] (namespaces, label and field selectors, pod and container
//! name patterns) into log streams, one per container instance, and hands out the lines as
//! [`LogBatch`]es of [`Lines`]: the exact bytes the API sent, in the buffers they arrived in,
//! with each line's parsed timestamp.
//! It knows nothing of sinks or of the command line.
//!
//! - One-shot exports list pods once and read each log to its end; follow mode watches pods
//!   (kube-runtime watcher with back-off) and starts streams as containers appear or restart.
//! - A bounded number of streams run at once ([`ExportOptions::max_streams`]); the rest wait.
//! - Lines are split on `\n` with a length cap ([`LineSplitter`]); invalid UTF-8 and huge lines
//!   pass through unchanged or as explicit fragments.
//! - Dropped streams resume from a [`Cursor`] without gaps or duplicates.
//! - Runs resume from a [`Checkpoint`] (what earlier runs committed to the sink, kept in a
//!   [`CheckpointStore`]): restarted containers have their previous instance drained first,
//!   and lines that can no longer be read are reported as [`Gap`]s, never skipped silently.
//!
//! ```no_run
//! use kle_core::{ExportEvent, ExportOptions, Exporter, Namespaces, Selection, StreamOptions};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = kube::Client::try_default().await?;
//! let selection = Selection::builder()
//!     .with_namespaces(Namespaces::Only(vec!["shop".into()]))
//!     .with_pod_query("^web-")
//!     .build()?;
//! let options = ExportOptions {
//!     stream: StreamOptions { follow: true, tail_lines: Some(10), ..StreamOptions::default() },
//!     ..ExportOptions::default()
//! };
//! let mut run = Exporter::new(client, selection).with_options(options).start();
//! while let Some(event) = run.next_event().await {
//!     if let ExportEvent::Lines(batch) = event {
//!         for line in &batch.lines {
//!             println!("[{}] {}", batch.container, String::from_utf8_lossy(line.message()));
//!         }
//!     }
//! }
//! run.finish().await?;
//! # Ok(()) }
//! ```

pub mod checkpoint;
mod container;
mod cursor;
mod discovery;
mod error;
mod export;
mod gap;
mod line;
mod resume;
mod selection;
mod stream;

pub use checkpoint::{Checkpoint, CheckpointEntry, CheckpointStore, ConfigMapCheckpointStore, FileCheckpointStore};
pub use container::{Container, ContainerKey, ContainerKind, ContainerState, PodInfo};
pub use cursor::{Cursor, ResumeFilter, Verdict};
pub use discovery::{WatchEvent, list_pods, watch_pods};
pub use error::{Error, Permission};
pub use export::{ExportEvent, ExportOptions, ExportRun, Exporter, RunSummary, required_permissions};
pub use gap::{Gap, GapReason};
pub use line::{
    DEFAULT_MAX_LINE_BYTES, Iter, LineKind, LineSplitter, Lines, LinesBuilder, LogBatch, LogLine, split_timestamp,
};
pub use selection::{Namespaces, Selection, SelectionBuilder};
pub use stream::{Retry, Since, StreamEnd, StreamOptions, StreamReport};
