//! The export pipeline of kube-log-exporter: pod discovery, log streaming, checkpoints, and
//! the loop that delivers lines into a [`Sink`].
//!
//! [`Export`] is the one entry point: a [`Selection`] (namespaces, label and field selectors,
//! workloads such as `deployment/web` or `cronjob/nightly` ([`WorkloadRef`]), a node, pod and
//! container name patterns, container states), a sink, optionally a checkpoint store and metrics, then
//! [`Export::run`]. Inside, each container instance's log is a stream whose lines arrive as
//! [`LogBatch`]es of [`Lines`](lines::Lines): the exact bytes the API sent, in the buffers they
//! arrived in, with each line's parsed timestamp and the stream's [`Cursor`] after them. The
//! sink commits them; the checkpoint records what was committed.
//!
//! `kle-core` defines the [`Sink`] trait and runs it; the backends (stdout, files, S3) are in
//! `kle-sinks`, the client and RBAC in `kle-auth`. It knows nothing of the command line.
//!
//! - One-shot exports list pods once and read each log to its end; follow mode watches pods
//!   (kube-runtime watcher with back-off) and starts streams as containers appear or restart.
//! - A bounded number of streams run at once ([`ExportOptions::max_streams`]); the rest wait.
//! - Lines are split on `\n` with a length cap ([`LineSplitter`](lines::LineSplitter));
//!   invalid UTF-8 and huge lines pass through unchanged or as explicit fragments. A
//!   [`LineFilter`](lines::LineFilter) ([`StreamOptions::line_filter`]) keeps only some of them;
//!   the cursor moves past the others, so a checkpoint never has them read again.
//! - Dropped streams resume from a [`Cursor`] without gaps or duplicates.
//! - Runs resume from a [`Checkpoint`](checkpoint::Checkpoint) (what earlier runs committed to
//!   the sink, kept in a [`CheckpointStore`](checkpoint::CheckpointStore)): restarted
//!   containers have their previous instance drained first, and lines that can no longer be
//!   read are reported as [`Gap`]s, never skipped silently.
//!
//! - Every checkpoint has one owner at a time ([`ownership`]): a second run on the same output
//!   waits or stops with [`Error::OwnedElsewhere`], and a run that lost ownership stops writing.
//!
//! The root holds what an embedder starts from; the rest is in modules: [`checkpoint`]
//! (stores), [`ownership`] (one writer per checkpoint), [`lines`] (line records and the splitter), [`events`] (the event-level engine
//! under [`Export`]), [`pipeline`] (what a delivery reports), [`container`] and [`discovery`].
//!
//! ```no_run
//! use kle_core::{Export, ExportOptions, Namespaces, Selection, Sink, StreamOptions};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn demo(sink: Box<dyn Sink>) -> Result<(), Box<dyn std::error::Error>> {
//! let client = kube::Client::try_default().await?;
//! let selection = Selection::builder()
//!     .with_namespaces(Namespaces::Only(vec!["shop".into()]))
//!     .with_pod_query("^web-")
//!     .build()?;
//! let options = ExportOptions {
//!     stream: StreamOptions { follow: true, tail_lines: Some(10), ..StreamOptions::default() },
//!     ..ExportOptions::default()
//! };
//! let report = Export::new(client, selection, sink).with_options(options).run(CancellationToken::new()).await?;
//! println!("{} lines, {} gaps", report.delivery.lines, report.summary.gaps.len());
//! # Ok(()) }
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod cursor;
mod engine;
mod error;
mod export;
mod gap;
mod instance;
mod line;
mod pods;
mod resume;
mod selection;
mod selector;
mod sink;
mod stream;
mod workload;

pub mod checkpoint;
pub mod ownership;
pub mod shards;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use cursor::Cursor;
pub use engine::{ExportOptions, RunSummary, required_permissions};
pub use error::{Denial, Error, Permission};
pub use export::{Export, ExportReport, Metrics};
pub use gap::{Gap, GapReason};
pub use instance::{Container, ContainerKey};
pub use line::{LogBatch, LogLine};
pub use selection::{Namespaces, Selection, SelectionBuilder};
pub use sink::{Sink, SinkError};
pub use stream::{Since, StreamOptions};
pub use workload::{WorkloadKind, WorkloadRef};

/// Pods and containers as the export sees them.
pub mod container {
    pub use crate::instance::{ContainerKind, ContainerState, PodInfo, StateFilter};
}

/// Listing and watching the selected pods, for callers that need the pods themselves
/// (`--dry-run`).
pub mod discovery {
    pub use crate::pods::{WatchEvent, list_pods, watch_pods};
}

/// The event-level engine under [`Export`](crate::Export): discovery plus one stream per
/// container, for callers that consume the events themselves.
pub mod events {
    pub use crate::engine::{ExportRun, Exporter, StreamFailure};
    pub use crate::stream::{ExportEvent, Retry, StreamEnd, StreamReport};
}

/// Line records over the network buffers, the splitter that makes them, and the filter that
/// keeps some of them (`--include`, `--exclude`).
pub mod lines {
    pub use crate::line::{
        DEFAULT_MAX_LINE_BYTES, Iter, LineFilter, LineKind, LineSplitter, Lines, LinesBuilder, split_timestamp,
    };
}

/// What a delivery reports, per container and namespace, and a run's progress.
pub mod pipeline {
    pub use crate::export::{ContainerDelivery, Delivery, Progress, Totals};
}

/// Label and field selectors, parsed as the API server parses them.
pub mod selectors {
    pub use crate::selector::{FieldSelector, FieldTerm, LabelSelector, SelectorSyntaxError};
}

/// Upload failures of object-store sinks, the detail of [`SinkError::Upload`](crate::SinkError::Upload).
pub mod sinks {
    pub use crate::sink::UploadFailure;
}
