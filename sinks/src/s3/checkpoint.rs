//! [`ObjectCheckpointStore`]: a checkpoint kept as one object beside the exported objects.

use std::sync::Arc;

use async_trait::async_trait;
use kle_core::checkpoint::{Checkpoint, CheckpointStore};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// The checkpoint object's name under the URL's prefix.
pub const CHECKPOINT_OBJECT: &str = ".kube-log-exporter-checkpoint.json";

/// A checkpoint in an object store: one JSON object, replaced whole by every save (an S3 PUT
/// is atomic: readers see the old object or the new one).
///
/// ```no_run
/// use kle_core::checkpoint::CheckpointStore;
/// use kle_sinks::s3::{ObjectCheckpointStore, S3Config};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let store = ObjectCheckpointStore::from_config(&S3Config::new("s3://logs/prod"))?;
/// let checkpoint = store.load().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ObjectCheckpointStore {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    key: Path,
}

impl ObjectCheckpointStore {
    /// A checkpoint at `key` in `store` (whose bucket is named `bucket` in messages).
    pub fn new(store: Arc<dyn ObjectStore>, bucket: impl Into<String>, key: impl Into<Path>) -> Self {
        Self {
            store,
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    /// The checkpoint beside the objects an [`S3Config`](crate::s3::S3Config) describes:
    /// `<prefix>/.kube-log-exporter-checkpoint.json` in its bucket.
    ///
    /// # Errors
    /// The configuration is invalid, or the S3 client cannot be configured.
    pub fn from_config(config: &crate::s3::S3Config) -> Result<Self, kle_core::SinkError> {
        Self::from_valid(&config.validated()?)
    }

    /// The checkpoint beside the objects of a checked configuration, as
    /// [`from_config`](Self::from_config).
    ///
    /// # Errors
    /// The S3 client cannot be configured.
    pub fn from_valid(valid: &crate::s3::ValidS3Config) -> Result<Self, kle_core::SinkError> {
        let store = super::upload::s3_store(valid)?;
        Ok(Self::new(store, valid.bucket(), valid.key(CHECKPOINT_OBJECT)))
    }

    /// A store error with its S3 code and what to do about it.
    fn store_error(&self, action: &str, err: &object_store::Error) -> kle_core::Error {
        let (code, message, hint) = super::upload::explain(&self.bucket, err);
        self.error(action, format!("{code}: {message}; {hint}"))
    }

    fn error(&self, action: &str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> kle_core::Error {
        kle_core::Error::Checkpoint {
            store: self.describe(),
            action: action.to_owned(),
            source: source.into(),
        }
    }
}

#[async_trait]
impl CheckpointStore for ObjectCheckpointStore {
    async fn load(&self) -> Result<Option<Checkpoint>, kle_core::Error> {
        let bytes = match self.store.get(&self.key).await {
            Ok(object) => object.bytes().await.map_err(|err| self.store_error("reading", &err))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(self.store_error("reading", &err)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|err| self.error("parsing (delete the object to start over)", err))
    }

    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), kle_core::Error> {
        let bytes = serde_json::to_vec(checkpoint).map_err(|err| self.error("encoding", err))?;
        self.store
            .put(&self.key, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|err| self.store_error("saving", &err))
    }

    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    #[tokio::test]
    async fn saves_and_loads_back_beside_the_objects() {
        let store = ObjectCheckpointStore::new(
            Arc::new(InMemory::new()),
            "logs",
            "prod/.kube-log-exporter-checkpoint.json",
        );
        assert_eq!(store.load().await.unwrap(), None);
        let mut checkpoint = Checkpoint::new(Some("2026-11-23T09:00:00Z".parse().unwrap()));
        checkpoint.sink = Some(serde_json::json!({"k": 1}));
        store.save(&checkpoint).await.unwrap();
        assert_eq!(store.load().await.unwrap(), Some(checkpoint));
        assert_eq!(store.describe(), "s3://logs/prod/.kube-log-exporter-checkpoint.json");
    }
}
