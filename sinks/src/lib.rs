//! Sinks for kube-log-exporter: where exported container logs go.
//!
//! - [`Sink`] is the object-safe async trait every destination implements: batch
//!   [`write`](Sink::write), [`commit`](Sink::commit) (after which the lines are *delivered*
//!   and a checkpoint may move past them), [`end_container`](Sink::end_container) and
//!   [`close`](Sink::close).
//! - [`encode`] turns batches into bytes ([`Format::Text`] like stern, [`Format::Raw`] like
//!   `kubectl logs`, [`Format::Json`] as NDJSON with metadata), into one reused buffer.
//! - [`StdoutSink`] (feature `stdout`) and [`FileSink`] (feature `file`, one file per container
//!   laid out by a [`layout::Layout`] template) are the backends; both are on by default.
//!   `S3Sink` (feature `s3`) uploads compressed objects to S3 or an S3-compatible store.
//! - [`SinkConfig`] is the serde form a user writes in YAML; [`SinkConfig::build`] makes the
//!   runtime sink.
//! - [`ExportConfig`] is a whole export as a YAML file (the command line's `--config`), with
//!   errors that name the line and the key; [`CheckpointSpec`] says where its checkpoint is kept.
//! - [`Metrics`] counts what a delivery does (streams, lines, bytes, gaps, reconnects, commits,
//!   errors, checkpoint lag) for a Prometheus endpoint; [`Delivery::with_metrics`] wires it.
//! - [`LineTemplate`] renders lines as `{namespace}/{pod} {message}` ([`Format::Template`]).
//! - [`deliver()`] drives a [`kle_core::ExportRun`] into a sink, committing at least every
//!   second, and reports per container what was delivered and up to which [`kle_core::Cursor`]
//!   it is committed.
//!
//! ```no_run
//! use kle_core::{Exporter, Selection};
//! use kle_sinks::{deliver, DeliverOptions, SinkConfig};
//!
//! # async fn demo(client: kube::Client) -> Result<(), Box<dyn std::error::Error>> {
//! let config: SinkConfig = serde_json::from_str(r#"{"type": "file", "dir": "/var/log/k8s"}"#)?;
//! let mut sink = config.build()?;
//! let selection = Selection::builder().with_label_selector("app=web").build()?;
//! let mut run = Exporter::new(client, selection).start();
//! let delivery = match deliver(&mut run, sink.as_mut(), &DeliverOptions::default()).await {
//!     Ok(delivery) => delivery,
//!     Err(err) => {
//!         run.cancellation().cancel();
//!         return Err(err.into());
//!     }
//! };
//! run.finish().await?;
//! for (key, cursor) in delivery.committed_cursors() {
//!     println!("{key:?} delivered up to {}", cursor.timestamp);
//! }
//! # Ok(()) }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod checkpoint;
mod config;
pub mod deliver;
pub mod encode;
mod error;
mod export_config;
mod file;
pub mod layout;
mod metrics;
pub mod s3;
mod sink;
mod stdout;
mod template;
#[cfg(test)]
mod test_support;

pub use checkpoint::Checkpointer;
pub use config::{FormatKind, SinkConfig};
pub use deliver::{ContainerDelivery, DeliverOptions, Delivery, deliver, deliver_checkpointed, deliver_into};
pub use encode::{Encoder, Format};
pub use error::{SinkError, UploadFailure};
pub use export_config::{CheckpointSpec, EXAMPLE_CONFIG, ExportConfig};
pub use file::FileConfig;
#[cfg(feature = "file")]
pub use file::{DEFAULT_MAX_OPEN_FILES, FileSink, FileSinkBuilder};
pub use layout::{DEFAULT_LAYOUT, Layout, ObjectStamp};
pub use metrics::{Metrics, Progress};
#[cfg(feature = "s3")]
pub use s3::{CHECKPOINT_OBJECT, ObjectCheckpointStore, S3Sink, S3SinkBuilder, S3Stats};
pub use s3::{
    Compression, DEFAULT_KEY_TEMPLATE, DEFAULT_MAX_OBJECT_AGE, DEFAULT_MAX_OBJECT_BYTES, MIN_PART_BYTES, S3Config,
    ValidS3Config,
};
pub use sink::Sink;
pub use stdout::{ColorChoice, StdoutConfig};
#[cfg(feature = "stdout")]
pub use stdout::{Output, Stdout, StdoutSink};
pub use template::LineTemplate;
