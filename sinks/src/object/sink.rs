//! [`ObjectSink`]: each container's lines as compressed objects; see the [module](super) documentation.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kle_core::{Container, Gap, LogBatch};
use object_store::{Attribute, Attributes, ObjectStore};
use tokio::task::{Id, JoinSet};
use tracing::{debug, warn};

use super::buffer::{BlockCompressor, FinishedObject, OpenObject};
use super::upload::{self, Target};
use crate::encode::{Encoder, Format};
use crate::layout::Layout;
use crate::object::config::{
    Compression, DEFAULT_KEY_TEMPLATE, DEFAULT_MAX_OBJECT_AGE, DEFAULT_MAX_OBJECT_BYTES, MIN_PART_BYTES,
    ObjectStoreConfig, ValidObjectStoreConfig, extension, parse_key_template,
};
use crate::object::location::{Backend, prefixed};
use kle_core::Sink;
use kle_core::SinkError;
use kle_core::sinks::UploadFailure;

/// Default part size of multipart uploads, and the size above which they are used.
pub const DEFAULT_PART_BYTES: usize = 8 * 1024 * 1024;

/// Default number of uploads in flight at once.
pub const DEFAULT_UPLOAD_CONCURRENCY: usize = 8;

/// Default cap on the compressed bytes all open objects hold together.
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 256 * 1024 * 1024;

/// Builds an [`ObjectSink`] on any [`ObjectStore`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ObjectSinkBuilder {
    store: Arc<dyn ObjectStore>,
    backend: Backend,
    bucket: String,
    storage_class: Option<String>,
    prefix: String,
    key_template: KeyTemplate,
    format: Format,
    compression: Compression,
    max_object_bytes: u64,
    max_object_age: Duration,
    part_bytes: usize,
    upload_concurrency: usize,
    max_buffered_bytes: usize,
    cluster: Option<String>,
}

/// A builder's key template: as set by hand, or parsed already by [`ObjectStoreConfig::validated`].
#[derive(Debug, Clone)]
enum KeyTemplate {
    Text(String),
    Checked(Layout),
}

impl ObjectSinkBuilder {
    /// A builder for objects in `store`; `bucket` names it in messages. Defaults: no prefix,
    /// [`DEFAULT_KEY_TEMPLATE`], the API's bytes with timestamps, zstd, 8 MiB or 5 minutes per
    /// object.
    pub fn new(store: Arc<dyn ObjectStore>, bucket: impl Into<String>) -> Self {
        Self {
            store,
            backend: Backend::S3,
            bucket: bucket.into(),
            storage_class: None,
            prefix: String::new(),
            key_template: KeyTemplate::Text(DEFAULT_KEY_TEMPLATE.to_owned()),
            format: Format::RAW_WITH_TIMESTAMPS,
            compression: Compression::default(),
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
            max_object_age: DEFAULT_MAX_OBJECT_AGE,
            part_bytes: DEFAULT_PART_BYTES,
            upload_concurrency: DEFAULT_UPLOAD_CONCURRENCY,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            cluster: None,
        }
    }

    /// A builder for objects in `store` with the settings of a checked configuration: its
    /// bucket, prefix, key template, format, compression and object limits.
    pub fn from_valid(store: Arc<dyn ObjectStore>, valid: &ValidObjectStoreConfig) -> Self {
        let config = valid.config();
        let max_bytes = usize::try_from(config.max_object_bytes).unwrap_or(usize::MAX);
        Self {
            backend: valid.location().backend(),
            prefix: valid.prefix().to_owned(),
            key_template: KeyTemplate::Checked(valid.key_layout().clone()),
            storage_class: config.storage_class.clone(),
            ..Self::new(store, valid.bucket())
        }
        .with_format(config.format())
        .with_compression(config.compression)
        .with_max_object_bytes(config.max_object_bytes)
        .with_max_object_age(config.max_object_age())
        .with_max_buffered_bytes(DEFAULT_MAX_BUFFERED_BYTES.max(max_bytes))
        .with_cluster(config.cluster.as_deref())
    }

    /// Sets the cluster whose lines the sink writes: `{cluster}` in keys renders it, and
    /// JSON and text lines carry it.
    pub fn with_cluster(mut self, cluster: Option<&str>) -> Self {
        self.cluster = cluster.map(str::to_owned);
        self
    }

    /// Names the store as `backend`'s in descriptions and messages (`az://container/...`);
    /// default S3.
    pub fn in_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Sets the storage class of every object (Azure: the access tier).
    pub fn with_storage_class(mut self, class: impl Into<String>) -> Self {
        self.storage_class = Some(class.into());
        self
    }

    /// Sets the key prefix (`cluster-a/logs`), put before every key with a `/`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into().trim_matches('/').to_owned();
        self
    }

    /// Sets the key template (see [`layout`](crate::layout) for the placeholders); the
    /// extension is appended.
    pub fn with_key_template(mut self, template: impl Into<String>) -> Self {
        self.key_template = KeyTemplate::Text(template.into());
        self
    }

    /// Sets the encoding of the lines.
    pub fn with_format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Sets the compression.
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Sets the bytes of lines (before compression) at which an object is rolled.
    pub fn with_max_object_bytes(mut self, bytes: u64) -> Self {
        self.max_object_bytes = bytes;
        self
    }

    /// Sets the age at which an object is rolled (checked when its container writes).
    pub fn with_max_object_age(mut self, age: Duration) -> Self {
        self.max_object_age = age;
        self
    }

    /// Sets the multipart part size (at least [`MIN_PART_BYTES`]); larger objects use multipart.
    pub fn with_part_bytes(mut self, bytes: usize) -> Self {
        self.part_bytes = bytes;
        self
    }

    /// Sets how many uploads run at once.
    pub fn with_upload_concurrency(mut self, uploads: usize) -> Self {
        self.upload_concurrency = uploads;
        self
    }

    /// Sets the cap on compressed bytes held by all open objects together.
    pub fn with_max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.max_buffered_bytes = bytes;
        self
    }

    /// Checks what was set by hand (a key template from a [`ValidObjectStoreConfig`] is parsed already)
    /// and the numbers.
    ///
    /// # Errors
    /// [`SinkError::InvalidLayout`] for a template that does not name objects uniquely,
    /// [`SinkError::InvalidConfig`] for a part size under 5 MiB or a zero limit.
    pub fn build(self) -> Result<ObjectSink, SinkError> {
        let mut layout = match self.key_template {
            KeyTemplate::Text(template) => parse_key_template(&template)?,
            KeyTemplate::Checked(layout) => layout,
        };
        if let Some(cluster) = &self.cluster {
            layout = layout.with_cluster(cluster);
        }
        let invalid = |reason: String| SinkError::InvalidConfig { sink: "s3", reason };
        if self.part_bytes < MIN_PART_BYTES {
            return Err(invalid(format!(
                "the part size {} is below S3's minimum of {MIN_PART_BYTES} bytes",
                self.part_bytes
            )));
        }
        if self.max_object_bytes == 0 || self.max_object_age.is_zero() {
            return Err(invalid("the maximum object size and age must be above zero".into()));
        }
        let scheme = self.backend.scheme();
        let describe = if self.prefix.is_empty() {
            format!("{scheme}://{}", self.bucket)
        } else {
            format!("{scheme}://{}/{}", self.bucket, self.prefix)
        };
        let mut attributes = Attributes::new();
        if let Some(class) = self.storage_class {
            attributes.insert(Attribute::StorageClass, class.into());
        }
        Ok(ObjectSink {
            target: Target {
                store: self.store,
                backend: self.backend,
                bucket: self.bucket,
                attributes,
                part_bytes: self.part_bytes,
            },
            prefix: self.prefix,
            layout,
            extension: extension(self.format.clone(), self.compression),
            encoder: Encoder::new(self.format).with_cluster(self.cluster.as_deref()),
            compressor: BlockCompressor::new(self.compression)
                .map_err(|err| invalid(format!("cannot set up {:?} compression: {err}", self.compression)))?,
            max_object_bytes: self.max_object_bytes,
            max_object_age: self.max_object_age,
            upload_concurrency: self.upload_concurrency.max(1),
            max_buffered_bytes: self.max_buffered_bytes,
            open: HashMap::new(),
            held: 0,
            uploads: JoinSet::new(),
            in_flight: HashMap::new(),
            failed: Vec::new(),
            buf: Vec::with_capacity(64 * 1024),
            stats: ObjectStats::default(),
            describe,
        })
    }
}

/// The older name of [`ObjectSinkBuilder`].
pub type S3SinkBuilder = ObjectSinkBuilder;

/// The older name of [`ObjectSink`].
pub type S3Sink = ObjectSink;

/// The older name of [`ObjectStats`].
pub type S3Stats = ObjectStats;

/// What an [`ObjectSink`] uploaded so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectStats {
    /// Objects uploaded.
    pub objects: u64,
    /// Of those, objects uploaded in parts.
    pub multipart_objects: u64,
    /// Bytes uploaded (compressed).
    pub bytes: u64,
    /// Lines in the uploaded objects.
    pub lines: u64,
    /// Uploads that failed (each is tried again by the next commit).
    pub failed_uploads: u64,
}

/// Uploads each container's lines as compressed objects; see the [module](super) documentation.
///
/// Needs a tokio runtime: uploads run as tasks.
#[derive(Debug)]
pub struct ObjectSink {
    target: Target,
    prefix: String,
    layout: Layout,
    extension: String,
    encoder: Encoder,
    compressor: BlockCompressor,
    max_object_bytes: u64,
    max_object_age: Duration,
    upload_concurrency: usize,
    max_buffered_bytes: usize,
    /// Keyed by the address of the batches' `Arc<Container>`.
    open: HashMap<usize, OpenObject>,
    /// Compressed bytes held by the open objects.
    held: usize,
    uploads: JoinSet<Result<(), UploadFailure>>,
    /// The objects being uploaded, kept until their upload succeeds.
    in_flight: HashMap<Id, FinishedObject>,
    /// Objects whose upload failed: not delivered, uploaded again by the next commit.
    failed: Vec<(FinishedObject, UploadFailure)>,
    buf: Vec<u8>,
    stats: ObjectStats,
    describe: String,
}

impl ObjectSink {
    /// A builder for a sink writing into `store`.
    pub fn builder(store: Arc<dyn ObjectStore>, bucket: impl Into<String>) -> ObjectSinkBuilder {
        ObjectSinkBuilder::new(store, bucket)
    }

    /// Builds the sink and its client from a configuration.
    ///
    /// # Errors
    /// As [`ObjectStoreConfig::validated`], or the client's configuration errors.
    pub fn from_config(config: &ObjectStoreConfig) -> Result<Self, SinkError> {
        Self::from_valid(&config.validated()?)
    }

    /// Builds the sink and its client ([`open_store`](crate::object::open_store)) from a
    /// checked configuration.
    ///
    /// # Errors
    /// The client's configuration errors.
    pub fn from_valid(valid: &ValidObjectStoreConfig) -> Result<Self, SinkError> {
        let store = crate::object::open_store(valid)?;
        ObjectSinkBuilder::from_valid(store, valid).build()
    }

    /// What was uploaded so far.
    pub fn stats(&self) -> ObjectStats {
        self.stats
    }

    /// Objects open now (containers with lines not yet in an object).
    pub fn open_objects(&self) -> usize {
        self.open.len()
    }

    /// Bytes the open objects hold: compressed, plus under 256 KiB each waiting to be
    /// compressed. What `max_buffered_bytes` caps.
    pub fn buffered_bytes(&self) -> usize {
        self.held
    }

    /// Appends as many of `lines` as fit to `container`'s object (at least one: a line larger
    /// than the limit gets an object of its own); returns how many.
    fn append(&mut self, batch: &LogBatch, start: usize, slot: usize) -> Result<usize, SinkError> {
        let object = match self.open.entry(slot) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(OpenObject::new(Arc::clone(&batch.container)))
            }
        };
        let mut size = object.raw_bytes;
        let mut fit = 0;
        for line in batch.lines.iter().skip(start) {
            let len = line.raw_len() as u64;
            if (fit > 0 || !object.is_empty()) && size + len > self.max_object_bytes {
                break;
            }
            size += len;
            fit += 1;
        }
        if fit == 0 {
            return Ok(0);
        }
        self.buf.clear();
        let sliced;
        let part = if start == 0 && fit == batch.lines.len() {
            batch
        } else {
            sliced = LogBatch::new(Arc::clone(&batch.container), batch.lines.slice(start..start + fit));
            &sliced
        };
        self.encoder.encode(part, &mut self.buf);
        let before = object.held();
        object
            .append(&part.lines, &self.buf, &mut self.compressor)
            .map_err(|err| SinkError::from_io("compressing for", &self.describe, err))?;
        self.held = (self.held + object.held()).saturating_sub(before);
        Ok(fit)
    }

    /// Finishes the object of `slot` and starts its upload.
    async fn roll(&mut self, slot: usize) -> Result<(), SinkError> {
        let Some(object) = self.open.remove(&slot) else {
            return Ok(());
        };
        self.held = self.held.saturating_sub(object.held());
        if object.is_empty() {
            return Ok(());
        }
        let (container, stamp, chunks) = object
            .finish(&mut self.compressor)
            .map_err(|err| SinkError::from_io("compressing for", &self.describe, err))?;
        let name = self.layout.render_object_key(&container, &stamp);
        let key = prefixed(&self.prefix, &format!("{name}{}", self.extension));
        let finished = FinishedObject {
            len: chunks.iter().map(bytes::Bytes::len).sum(),
            key,
            chunks,
            lines: stamp.lines,
            container: container.to_string(),
        };
        self.start_upload(finished).await;
        Ok(())
    }

    async fn start_upload(&mut self, object: FinishedObject) {
        while self.uploads.len() >= self.upload_concurrency {
            self.reap_one().await;
        }
        debug!(key = %object.key, bytes = object.len, lines = object.lines, container = %object.container, "uploading");
        let target = self.target.clone();
        let task_object = object.clone();
        let handle = self
            .uploads
            .spawn(async move { upload::upload(&target, &task_object).await });
        self.in_flight.insert(handle.id(), object);
    }

    /// Waits for one upload to end and records how it went.
    async fn reap_one(&mut self) {
        let Some(joined) = self.uploads.join_next_with_id().await else {
            return;
        };
        let (id, result) = match joined {
            Ok(done) => done,
            Err(err) => {
                let id = err.id();
                (
                    id,
                    Err(self.task_failure(id, format!("the upload task ended abnormally: {err}"))),
                )
            }
        };
        self.record(id, result);
    }

    fn task_failure(&self, id: Id, message: String) -> UploadFailure {
        let key = self.in_flight.get(&id).map(|o| o.key.clone()).unwrap_or_default();
        UploadFailure::new(
            self.target.bucket.clone(),
            key,
            "internal",
            message,
            "the object is uploaded again by the next commit",
        )
        .with_scheme(self.target.backend.scheme())
    }

    /// The first recorded failure as an error, if any.
    fn failure_error(&self) -> Result<(), SinkError> {
        match self.failed.first() {
            None => Ok(()),
            Some((_, failure)) => {
                if self.failed.len() > 1 {
                    warn!(failed = self.failed.len(), "uploads failed; reporting the first");
                }
                Err(SinkError::Upload(Box::new(failure.clone())))
            }
        }
    }

    /// Records the uploads that have ended, without waiting.
    fn reap_ready(&mut self) -> Result<(), SinkError> {
        while let Some(joined) = self.uploads.try_join_next_with_id() {
            let (id, result) = match joined {
                Ok(done) => done,
                Err(err) => {
                    let id = err.id();
                    (
                        id,
                        Err(self.task_failure(id, format!("the upload task ended abnormally: {err}"))),
                    )
                }
            };
            self.record(id, result);
        }
        self.failure_error()
    }

    fn record(&mut self, id: Id, result: Result<(), UploadFailure>) {
        let Some(object) = self.in_flight.remove(&id) else {
            return;
        };
        match result {
            Ok(()) => {
                self.stats.objects += 1;
                self.stats.bytes += object.len as u64;
                self.stats.lines += object.lines;
                if object.len > self.target.part_bytes {
                    self.stats.multipart_objects += 1;
                }
            }
            Err(failure) => {
                warn!(key = %object.key, code = %failure.code, "upload failed: {}", failure.message);
                self.stats.failed_uploads += 1;
                self.failed.push((object, failure));
            }
        }
    }

    /// Rolls the largest open objects until the held bytes are under the cap.
    async fn shed(&mut self) -> Result<(), SinkError> {
        while self.held > self.max_buffered_bytes {
            let Some(largest) = self
                .open
                .iter()
                .max_by_key(|(_, object)| object.held())
                .map(|(slot, _)| *slot)
            else {
                break;
            };
            self.roll(largest).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Sink for ObjectSink {
    async fn write(&mut self, batch: &LogBatch) -> Result<(), SinkError> {
        self.reap_ready()?;
        if batch.lines.is_empty() {
            return Ok(());
        }
        let slot = Arc::as_ptr(&batch.container) as usize;
        if self
            .open
            .get(&slot)
            .is_some_and(|object| object.opened_at.elapsed() >= self.max_object_age)
        {
            self.roll(slot).await?;
        }
        let mut start = 0;
        while start < batch.lines.len() {
            let fit = self.append(batch, start, slot)?;
            start += fit;
            let full = self
                .open
                .get(&slot)
                .is_some_and(|object| object.raw_bytes >= self.max_object_bytes);
            if fit == 0 || full {
                self.roll(slot).await?;
            }
        }
        self.shed().await?;
        self.failure_error()
    }

    async fn commit(&mut self) -> Result<(), SinkError> {
        for (object, _) in std::mem::take(&mut self.failed) {
            self.start_upload(object).await;
        }
        let slots: Vec<usize> = self.open.keys().copied().collect();
        for slot in slots {
            self.roll(slot).await?;
        }
        while !self.uploads.is_empty() {
            self.reap_one().await;
        }
        self.failure_error()
    }

    async fn gap(&mut self, gap: &Gap) -> Result<(), SinkError> {
        self.reap_ready()?;
        let slot = Arc::as_ptr(&gap.container) as usize;
        self.buf.clear();
        self.encoder.encode_gap(gap, &mut self.buf);
        let object = self
            .open
            .entry(slot)
            .or_insert_with(|| OpenObject::new(Arc::clone(&gap.container)));
        let before = object.held();
        let at = gap.until.or(gap.after.map(|cursor| cursor.timestamp));
        object
            .append_marker(&self.buf, at, &mut self.compressor)
            .map_err(|err| SinkError::from_io("compressing for", &self.describe, err))?;
        self.held = (self.held + object.held()).saturating_sub(before);
        Ok(())
    }

    async fn end_container(&mut self, container: &Container) -> Result<(), SinkError> {
        let ended: Vec<usize> = self
            .open
            .iter()
            .filter(|(_, object)| {
                std::ptr::eq(Arc::as_ptr(&object.container), container) || *object.container == *container
            })
            .map(|(slot, _)| *slot)
            .collect();
        for slot in ended {
            self.roll(slot).await?;
        }
        self.encoder.forget(container);
        Ok(())
    }

    async fn close(&mut self) -> Result<(), SinkError> {
        self.commit().await?;
        self.buf = Vec::new();
        Ok(())
    }

    fn commit_interval(&self) -> Option<Duration> {
        Some(self.max_object_age)
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}

// The tests sit beside the backend's other files, not in a `sink/` folder of their own.
#[cfg(test)]
#[path = "tests.rs"]
mod tests;
