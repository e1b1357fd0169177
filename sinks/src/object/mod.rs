//! The object sink: its configuration ([`ObjectStoreConfig`], in every build) and [`ObjectSink`],
//! which writes compressed objects through `object_store` to S3 or any S3-compatible store
//! (feature `s3`, `s3://bucket/prefix`), Azure Blob Storage (feature `azure`,
//! `az://container/prefix` or `azure://`) or Google Cloud Storage (feature `gcp`,
//! `gs://bucket/prefix`). The backends share everything below: batching, keys, compression and
//! the checkpoint object; they differ only in the client, which [`open_store`] makes from the
//! URL ([`StoreLocation`]) and the settings — for the sink, its checkpoint and readers of the
//! archive alike. Until it wrote to more than S3 this module was `s3`, and its types
//! `S3Config`, `S3Sink`...: those names still work.
//!
//! # Objects
//! Each container instance's lines go into an object of their own, rolled when its lines reach
//! `max_object_bytes` (before compression, counted as the API's bytes) or when it is
//! `max_object_age` old, whichever comes first, and finished by every
//! [`commit`](crate::Sink::commit) and by [`end_container`](crate::Sink::end_container). S3 has no append:
//! an object is written once, whole.
//!
//! An object's key comes from a [`Layout`](crate::layout::Layout) template under the URL's prefix, by default
//! `{namespace}/{pod}/{container}/{date}/{first_ts}-{last_ts}-{lines}-{hash}.log.zst`. The date,
//! the first and last timestamps (full nanoseconds), the line count and the CRC-32 of the
//! bytes all come from the lines the object holds, never from the clock, so the same lines always get the same key: an upload
//! retried after a failed commit, or repeated by a run that resumes from the last committed
//! cursor, overwrites its object instead of adding a second copy. Size rolls are cut at line
//! boundaries by the lines' bytes alone, whatever the batches were, so a resumed run cuts the
//! same objects again; only age and commit rolls depend on time.
//!
//! Limits of that: an object uploaded but not covered by a successful commit (a commit that
//! failed half-way, a crash) whose lines a resumed run cuts at a different point (an age or
//! commit roll, a memory-cap roll) is not overwritten: the new object shares its `{first_ts}`
//! and has a later `{last_ts}`, and the lines of the shorter one are in both. Delivery is
//! at-least-once in that case; a reader removes the copy by keeping, among a container's
//! objects with the same `{first_ts}`, the one with the latest `{last_ts}`. `restore` has
//! nothing to undo (the default): the sink never appends.
//!
//! # Commits and object size
//! A commit finishes and uploads every open object, so everything written before it is
//! durable when it returns `Ok`. A commit every second (the delivery loop's default) would
//! therefore make one tiny object per container per second — the complaint of Vector's users
//! (vector#19210, #18692). The command line instead commits every `max_object_age` (5 minutes
//! by default; the sink's [`commit_interval`](Sink::commit_interval), which an `Export` follows):
//! a follow run writes at most one object per container per `max_object_age` plus one per
//! `max_object_bytes`, and a one-shot export one object per container (more only past
//! `max_object_bytes`). The price is the checkpoint's lag: up to `max_object_age` of lines
//! is exported again after a crash (and lands under the same keys when the cut points match).
//!
//! # Uploads and memory
//! Objects up to the part size (8 MiB by default) go up in one PUT; larger ones as multipart
//! uploads in parts of that size (S3's minimum is 5 MiB), a few parts at a time, aborted on
//! failure (Azure: blocks; GCS: XML multipart uploads). Uploads run in the background, at most `upload_concurrency` at once; a commit
//! waits for all of them. Each open object holds its compressed bytes in 1 MiB chunks plus
//! under 256 KiB waiting to be compressed: lines are compressed in 256 KiB blocks, each an
//! independent zstd frame or gzip member, by one compressor shared by all objects, so a
//! thousand quiet containers do not each hold a compressor's window. When all open objects
//! together hold more than `max_buffered_bytes`, the largest is rolled early.
//! object_store retries 5xx answers, timeouts and dropped connections with exponential
//! back-off; a permanent error (no such bucket, access denied, bad keys, an endpoint that
//! stays unreachable) becomes a [`SinkError::Upload`](crate::SinkError::Upload) naming the bucket, the key, the S3 error
//! code and what to do. The object is kept and uploaded again by the next commit.
//!
//! A sink dropped (or a process killed) during a multipart upload leaves its parts on the
//! store, invisible but billed: give the bucket a lifecycle rule that aborts incomplete
//! multipart uploads after a day.
//!
//! ```no_run
//! use kle_core::{Export, Selection};
//! use kle_sinks::SinkConfig;
//! use kle_sinks::object::{Compression, ObjectStoreConfig};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn demo(client: kube::Client) -> Result<(), Box<dyn std::error::Error>> {
//! // Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or a role); a local store.
//! let config = SinkConfig::S3(
//!     ObjectStoreConfig::new("s3://logs/cluster-a")
//!         .with_endpoint("http://127.0.0.1:9000", true)
//!         .with_compression(Compression::Gzip),
//! );
//! let selection = Selection::builder().with_label_selector("app=web").build()?;
//! let report = Export::new(client, selection, config.build()?).run(CancellationToken::new()).await?;
//! println!("{} lines uploaded", report.delivery.lines);
//! # Ok(()) }
//! ```

#[cfg(feature = "objects")]
mod buffer;
#[cfg(feature = "objects")]
mod checkpoint;
pub(crate) mod config;
pub(crate) mod location;
#[cfg(feature = "objects")]
mod sink;
#[cfg(feature = "objects")]
mod store;
#[cfg(feature = "objects")]
pub(crate) mod upload;

#[cfg(feature = "objects")]
pub use checkpoint::{CHECKPOINT_OBJECT, OWNER_SUFFIX, ObjectCheckpointStore, ObjectOwnerRecord};
pub use config::{
    Compression, DEFAULT_KEY_TEMPLATE, DEFAULT_MAX_OBJECT_AGE, DEFAULT_MAX_OBJECT_BYTES, MIN_PART_BYTES,
    ObjectStoreConfig, S3Config, ValidObjectStoreConfig, ValidS3Config,
};
#[cfg(not(feature = "objects"))]
pub(crate) use location::not_compiled;
pub use location::{Backend, StoreLocation};
#[cfg(feature = "objects")]
pub use sink::{
    DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_PART_BYTES, DEFAULT_UPLOAD_CONCURRENCY, ObjectSink, ObjectSinkBuilder,
    ObjectStats, S3Sink, S3SinkBuilder, S3Stats,
};
#[cfg(feature = "objects")]
pub use store::open_store;
