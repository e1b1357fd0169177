//! Sinks for kube-log-exporter: where exported container logs go.
//!
//! The [`Sink`](kle_core::Sink) trait and the pipeline that drives it
//! ([`Export`](kle_core::Export)) are in `kle-core`; this crate holds the backends, their
//! encodings and each backend's configuration:
//! - The backends, each in its module with its configuration: [`stdout`] (feature `stdout`),
//!   [`file`] (feature `file`, one file per container laid out by a [`layout::Layout`]
//!   template), both on by default, and [`object`] (compressed objects through `object_store`:
//!   S3 or an S3-compatible store with feature `s3`, Azure Blob with `azure`, Google Cloud
//!   Storage with `gcp`; [`object::open_store`] makes the client from a URL, for the sink, its
//!   checkpoint and readers alike). The module's older name, `s3`, still works.
//! - [`archive`] (feature `read`) reads an archive back: the objects a store holds under a
//!   prefix, or the file sink's directory, each line once, per container or merged by time.
//! - [`encode`] turns batches into bytes (text like stern, raw like `kubectl logs`, NDJSON with
//!   metadata, or a line template such as `{namespace}/{pod} {message}`), into one reused
//!   buffer.
//! - [`SinkConfig`] is the serde form a user writes in YAML; [`SinkConfig::build`] makes the
//!   runtime sink.
//! - [`ExportConfig`] is a whole export as a YAML file (the command line's `--config`), with
//!   errors that name the line and the key; [`CheckpointSpec`] says where its checkpoint is kept.
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

#[cfg(feature = "read")]
pub mod archive;
pub mod cluster;
mod config;
pub mod encode;
mod export_config;
pub mod file;
pub mod layout;
pub mod object;
pub mod stdout;
mod template;

pub use config::SinkConfig;
pub use export_config::{CheckpointSpec, EXAMPLE_CONFIG, ExportConfig};
/// The [`object`] module under its older name, from when the object sink wrote to S3 only.
pub use object as s3;
