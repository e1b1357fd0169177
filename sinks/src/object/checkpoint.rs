//! [`ObjectCheckpointStore`]: a checkpoint kept as one object beside the exported objects, and
//! [`ObjectOwnerRecord`]: who owns it, in an object beside it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kle_core::checkpoint::{Checkpoint, CheckpointStore};
use kle_core::ownership::{LeaseTiming, LeasedOwnership, OwnerRecord, Ownership, RecordStore, RecordVersion};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

use crate::object::location::{Backend, StoreLocation};

/// The checkpoint object's name under the URL's prefix.
pub const CHECKPOINT_OBJECT: &str = ".kube-log-exporter-checkpoint.json";

/// What is added to the checkpoint object's key to name its owner record.
pub const OWNER_SUFFIX: &str = ".owner";

/// A checkpoint in an object store: one JSON object, replaced whole by every save (a PUT is
/// atomic in S3, Azure Blob and GCS: readers see the old object or the new one).
///
/// Saves are conditional (compare-and-swap): the first creates the object only if there is
/// none (S3 and Azure `If-None-Match: *`, GCS `x-goog-if-generation-match: 0`), later ones
/// replace it only at the version this run last read or wrote (S3 and Azure `If-Match: ETag`,
/// GCS the object's generation), so a deposed owner's late save fails instead of overwriting
/// its successor's. All three stores (and object_store's in-memory one) do this; a store that
/// ignored the conditions would weaken the fencing, which is why the tests run it against
/// real servers. Its owner is recorded in [`ObjectOwnerRecord`] beside it (the key plus
/// [`OWNER_SUFFIX`]), with a lease the owning run renews.
///
/// ```no_run
/// use kle_core::checkpoint::CheckpointStore;
/// use kle_sinks::object::{ObjectCheckpointStore, ObjectStoreConfig};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let store = ObjectCheckpointStore::from_config(&ObjectStoreConfig::new("s3://logs/prod"))?;
/// let checkpoint = store.load().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ObjectCheckpointStore {
    store: Arc<dyn ObjectStore>,
    backend: Backend,
    bucket: String,
    key: Path,
    lease: LeaseTiming,
    /// The version this run last loaded or saved; `None`: there was no object.
    version: Arc<Mutex<Option<UpdateVersion>>>,
}

impl ObjectCheckpointStore {
    /// A checkpoint at `key` in `store` (whose bucket is named `bucket` in messages, as an
    /// S3 bucket until [`in_backend`](Self::in_backend) says otherwise).
    pub fn new(store: Arc<dyn ObjectStore>, bucket: impl Into<String>, key: impl Into<Path>) -> Self {
        Self {
            store,
            backend: Backend::S3,
            bucket: bucket.into(),
            key: key.into(),
            lease: LeaseTiming::default(),
            version: Arc::default(),
        }
    }

    /// Names the store as `backend`'s in messages (`az://container/key`).
    #[must_use]
    pub fn in_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Holds the owner record for `timing` instead of the default (15 s, renewed every 5 s).
    #[must_use]
    pub fn with_lease_timing(mut self, timing: LeaseTiming) -> Self {
        self.lease = timing;
        self
    }

    fn remember(&self, version: Option<UpdateVersion>) {
        *self.version.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = version;
    }

    /// The checkpoint beside the objects an [`ObjectStoreConfig`](crate::object::ObjectStoreConfig)
    /// describes: `<prefix>/.kube-log-exporter-checkpoint.json` in its bucket (a cluster's own,
    /// [`ValidObjectStoreConfig::own_key`](crate::object::ValidObjectStoreConfig::own_key), when
    /// keys have `{cluster}`).
    ///
    /// # Errors
    /// The configuration is invalid, or the client cannot be configured.
    pub fn from_config(config: &crate::object::ObjectStoreConfig) -> Result<Self, kle_core::SinkError> {
        Self::from_valid(&config.validated()?)
    }

    /// The checkpoint beside the objects of a checked configuration, as
    /// [`from_config`](Self::from_config).
    ///
    /// # Errors
    /// The client cannot be configured ([`open_store`](crate::object::open_store)).
    pub fn from_valid(valid: &crate::object::ValidObjectStoreConfig) -> Result<Self, kle_core::SinkError> {
        Self::at(valid, CHECKPOINT_OBJECT)
    }

    /// The checkpoint named `name` under the configuration's prefix, in its store.
    fn at(valid: &crate::object::ValidObjectStoreConfig, name: &str) -> Result<Self, kle_core::SinkError> {
        let store = crate::object::open_store(valid)?;
        let location: &StoreLocation = valid.location();
        Ok(Self::new(store, location.bucket(), valid.own_key(name)).in_backend(location.backend()))
    }

    /// The checkpoint of one shard of a sharded follow, beside the objects:
    /// `<prefix>/.kube-log-exporter-checkpoint.shard-3-of-16.json`. The shard's Lease owns it
    /// ([`kle_core::shards`]), so it needs no owner record of its own.
    ///
    /// # Errors
    /// The configuration is invalid, or the client cannot be configured.
    pub fn for_shard(
        config: &crate::object::ObjectStoreConfig,
        shard: kle_core::shards::Shard,
    ) -> Result<Self, kle_core::SinkError> {
        let name = CHECKPOINT_OBJECT.replace(".json", &format!(".shard-{}.json", shard.slug()));
        Self::at(&config.validated()?, &name)
    }

    /// A store error with its code and what to do about it.
    fn store_error(&self, action: &str, err: &object_store::Error) -> kle_core::Error {
        let (code, message, hint) = super::upload::explain(self.backend, &self.bucket, err);
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
        let (bytes, version) = match self.store.get(&self.key).await {
            Ok(object) => {
                let version = UpdateVersion {
                    e_tag: object.meta.e_tag.clone(),
                    version: object.meta.version.clone(),
                };
                let bytes = object.bytes().await.map_err(|err| self.store_error("reading", &err))?;
                (bytes, version)
            }
            Err(object_store::Error::NotFound { .. }) => {
                self.remember(None);
                return Ok(None);
            }
            Err(err) => return Err(self.store_error("reading", &err)),
        };
        self.remember(Some(version));
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|err| self.error("parsing (delete the object to start over)", err))
    }

    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), kle_core::Error> {
        let bytes = serde_json::to_vec(checkpoint).map_err(|err| self.error("encoding", err))?;
        let expected = self
            .version
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mode = match expected {
            Some(version) => PutMode::Update(version),
            None => PutMode::Create,
        };
        match self
            .store
            .put_opts(&self.key, PutPayload::from(bytes), mode.into())
            .await
        {
            Ok(put) => {
                self.remember(Some(UpdateVersion::from(put)));
                Ok(())
            }
            Err(object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }) => Err(self
                .error(
                    "saving",
                    "it was changed by someone else since this run read it: another run owns it now, and this run \
                 stopped writing",
                )),
            Err(err) => Err(self.store_error("saving", &err)),
        }
    }

    fn describe(&self) -> String {
        format!("{}://{}/{}", self.backend.scheme(), self.bucket, self.key)
    }

    fn ownership(&self) -> Option<Arc<dyn Ownership>> {
        let record = ObjectOwnerRecord::new(
            Arc::clone(&self.store),
            self.bucket.as_str(),
            format!("{}{OWNER_SUFFIX}", self.key),
        )
        .in_backend(self.backend);
        Some(Arc::new(LeasedOwnership::new(record, self.lease)))
    }
}

/// How long a conditional write is given to settle before it is read back. Stores whose
/// conditional PUT checks and writes in two steps (s3s-fs) can let two simultaneous PUTs
/// through; the later one wins, and the read-back tells the earlier writer it lost.
const SETTLE: Duration = Duration::from_millis(150);

/// An owner record in an object, written with conditional PUTs (create only if absent, replace
/// only at the version read: the ETag for S3 and Azure, the generation for GCS) and read back
/// after each write.
#[derive(Debug, Clone)]
pub struct ObjectOwnerRecord {
    store: Arc<dyn ObjectStore>,
    backend: Backend,
    bucket: String,
    key: Path,
}

impl ObjectOwnerRecord {
    /// The record at `key` in `store` (whose bucket is named `bucket` in messages, as an S3
    /// bucket until [`in_backend`](Self::in_backend) says otherwise).
    pub fn new(store: Arc<dyn ObjectStore>, bucket: impl Into<String>, key: impl Into<Path>) -> Self {
        Self {
            store,
            backend: Backend::S3,
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    /// Names the store as `backend`'s in messages.
    #[must_use]
    pub fn in_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    fn error(&self, action: &str, err: &object_store::Error) -> kle_core::Error {
        let (code, message, hint) = super::upload::explain(self.backend, &self.bucket, err);
        kle_core::Error::Checkpoint {
            store: self.describe(),
            action: action.to_owned(),
            source: format!("{code}: {message}; {hint}").into(),
        }
    }
}

#[async_trait]
impl RecordStore for ObjectOwnerRecord {
    async fn read(&self) -> Result<Option<(OwnerRecord, RecordVersion)>, kle_core::Error> {
        let object = match self.store.get(&self.key).await {
            Ok(object) => object,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(self.error("reading the owner record", &err)),
        };
        let version = record_version(object.meta.e_tag.clone(), object.meta.version.clone());
        let bytes = object
            .bytes()
            .await
            .map_err(|err| self.error("reading the owner record", &err))?;
        let record = serde_json::from_slice(&bytes).map_err(|err| kle_core::Error::Checkpoint {
            store: self.describe(),
            action: "parsing the owner record (delete it when no run is active)".to_owned(),
            source: err.into(),
        })?;
        Ok(Some((record, version)))
    }

    async fn write(
        &self,
        record: &OwnerRecord,
        expected: Option<&RecordVersion>,
    ) -> Result<Option<RecordVersion>, kle_core::Error> {
        let bytes = serde_json::to_vec(record).map_err(|err| kle_core::Error::Checkpoint {
            store: self.describe(),
            action: "encoding the owner record".to_owned(),
            source: err.into(),
        })?;
        let mode = match expected {
            Some(version) => PutMode::Update(update_version(version)),
            None => PutMode::Create,
        };
        let put = match self
            .store
            .put_opts(&self.key, PutPayload::from(bytes), PutOptions::from(mode))
            .await
        {
            Ok(put) => put,
            Err(object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }) => {
                return Ok(None);
            }
            Err(err) => return Err(self.error("writing the owner record", &err)),
        };
        tokio::time::sleep(SETTLE).await;
        match self.read().await? {
            Some((stored, version)) if stored.run == record.run && stored.renewed == record.renewed => {
                Ok(Some(if put.e_tag.is_some() || put.version.is_some() {
                    record_version(put.e_tag, put.version)
                } else {
                    version
                }))
            }
            _ => Ok(None),
        }
    }

    fn describe(&self) -> String {
        format!("{}://{}/{}", self.backend.scheme(), self.bucket, self.key)
    }
}

/// An object's version as an owner record's [`RecordVersion`]: its ETag (what S3 and Azure
/// compare) and, after a newline, its version (GCS's generation, what GCS compares).
fn record_version(e_tag: Option<String>, version: Option<String>) -> RecordVersion {
    RecordVersion(format!(
        "{}\n{}",
        e_tag.unwrap_or_default(),
        version.unwrap_or_default()
    ))
}

/// The [`UpdateVersion`] a [`record_version`] stands for.
fn update_version(version: &RecordVersion) -> UpdateVersion {
    let (e_tag, generation) = version.0.split_once('\n').unwrap_or((version.0.as_str(), ""));
    let some = |text: &str| (!text.is_empty()).then(|| text.to_owned());
    UpdateVersion {
        e_tag: some(e_tag),
        version: some(generation),
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

    #[tokio::test]
    async fn a_save_fails_once_someone_else_saved_since_this_run_loaded() {
        let objects: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let key = "prod/.kube-log-exporter-checkpoint.json";
        let deposed = ObjectCheckpointStore::new(Arc::clone(&objects), "logs", key);
        let successor = ObjectCheckpointStore::new(Arc::clone(&objects), "logs", key);
        let checkpoint = Checkpoint::default();
        deposed.load().await.unwrap();
        deposed.save(&checkpoint).await.unwrap();
        successor.load().await.unwrap();
        successor.save(&checkpoint).await.unwrap();
        let err = deposed.save(&checkpoint).await.unwrap_err().to_string();
        assert!(err.contains("changed by someone else"), "{err}");
        successor.save(&checkpoint).await.unwrap();
        // Two first runs at once: only one creates it.
        let other = ObjectCheckpointStore::new(objects, "logs", "other/.kube-log-exporter-checkpoint.json");
        other.save(&checkpoint).await.unwrap();
        let twin = ObjectCheckpointStore::new(
            Arc::clone(&other.store),
            "logs",
            "other/.kube-log-exporter-checkpoint.json",
        );
        assert!(twin.save(&checkpoint).await.is_err());
    }

    /// GCS compares generations, S3 and Azure ETags: an owner record's version carries both.
    #[test]
    fn record_versions_carry_the_etag_and_the_generation() {
        let version = record_version(Some("\"etag\"".into()), Some("1733100000000000".into()));
        let update = update_version(&version);
        assert_eq!(update.e_tag.as_deref(), Some("\"etag\""));
        assert_eq!(update.version.as_deref(), Some("1733100000000000"));
        let etag_only = update_version(&record_version(Some("e".into()), None));
        assert_eq!((etag_only.e_tag.as_deref(), etag_only.version), (Some("e"), None));
    }

    #[tokio::test]
    async fn the_owner_record_is_written_only_at_the_version_read() {
        use kle_core::ownership::Claimant;
        let record = ObjectOwnerRecord::new(Arc::new(InMemory::new()), "logs", "prod/x.owner");
        assert!(record.read().await.unwrap().is_none());
        let mine = Claimant::new("a", 1).record(Some(Duration::from_secs(15)));
        let version = record.write(&mine, None).await.unwrap().unwrap();
        assert!(record.write(&mine, None).await.unwrap().is_none(), "create only once");
        let theirs = Claimant::new("b", 2).record(Some(Duration::from_secs(15)));
        let next = record.write(&theirs, Some(&version)).await.unwrap().unwrap();
        assert!(
            record.write(&mine, Some(&version)).await.unwrap().is_none(),
            "stale version"
        );
        assert_eq!(record.read().await.unwrap(), Some((theirs, next)));
    }
}
