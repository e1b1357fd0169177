//! Sinks for kube-log-exporter: where exported container logs go.
//!
//! The [`Sink`](kle_core::Sink) trait and the pipeline that drives it
//! ([`Export`](kle_core::Export)) are in `kle-core`; this crate holds the backends, their
//! encodings and each backend's configuration:
//! - [`encode`] turns batches into bytes ([`Format::Text`] like stern, [`Format::Raw`] like
//!   `kubectl logs`, [`Format::Json`] as NDJSON with metadata), into one reused buffer.
//! - [`StdoutSink`] (feature `stdout`) and [`FileSink`] (feature `file`, one file per container
//!   laid out by a [`layout::Layout`] template) are the backends; both are on by default.
//!   `S3Sink` (feature `s3`) uploads compressed objects to S3 or an S3-compatible store.
//! - [`SinkConfig`] is the serde form a user writes in YAML; [`SinkConfig::build`] makes the
//!   runtime sink.
//! - [`ExportConfig`] is a whole export as a YAML file (the command line's `--config`), with
//!   errors that name the line and the key; [`CheckpointSpec`] says where its checkpoint is kept.
//! - [`LineTemplate`] renders lines as `{namespace}/{pod} {message}` ([`Format::Template`]).
//!
//! ```no_run
//! use kle_core::{Export, Selection};
//! use kle_sinks::SinkConfig;
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn demo(client: kube::Client) -> Result<(), Box<dyn std::error::Error>> {
//! let config: SinkConfig = serde_json::from_str(r#"{"type": "file", "dir": "/var/log/k8s"}"#)?;
//! let selection = Selection::builder().with_label_selector("app=web").build()?;
//! let report = Export::new(client, selection, config.build()?).run(CancellationToken::new()).await?;
//! println!("{} lines into {}", report.delivery.lines, report.sink);
//! # Ok(()) }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod config;
pub mod encode;
mod error;
mod export_config;
mod file;
pub mod layout;
pub mod s3;
mod sink;
mod stdout;
mod template;
#[cfg(test)]
mod test_support;

pub use config::{FormatKind, SinkConfig};
pub use encode::{Encoder, Format};
pub use export_config::{CheckpointSpec, EXAMPLE_CONFIG, ExportConfig};
pub use file::FileConfig;
#[cfg(feature = "file")]
pub use file::{DEFAULT_MAX_OPEN_FILES, FileSink, FileSinkBuilder};
pub use layout::{DEFAULT_LAYOUT, Layout, ObjectStamp};
#[cfg(feature = "s3")]
pub use s3::{CHECKPOINT_OBJECT, ObjectCheckpointStore, S3Sink, S3SinkBuilder, S3Stats};
pub use s3::{
    Compression, DEFAULT_KEY_TEMPLATE, DEFAULT_MAX_OBJECT_AGE, DEFAULT_MAX_OBJECT_BYTES, MIN_PART_BYTES, S3Config,
    ValidS3Config,
};
pub use stdout::{ColorChoice, StdoutConfig};
#[cfg(feature = "stdout")]
pub use stdout::{Output, Stdout, StdoutSink};
pub use template::LineTemplate;
