//! What earlier runs delivered, per container instance, and where that record is kept.
//!
//! A [`Checkpoint`] holds, for every container instance an export has seen, the [`Cursor`] up to
//! which its lines are *committed* in the sink, whether the instance's log was read to its end,
//! and an opaque state of the sink (the file sink keeps its files' committed lengths there, to
//! cut off what a crashed run appended after its last checkpoint). A run resumes each instance
//! from its cursor, so each line reaches the sink exactly once across runs, crashes and
//! reconnects; what can no longer be read is reported as a [`Gap`](crate::Gap).
//!
//! A [`CheckpointStore`] loads and saves checkpoints: [`FileCheckpointStore`] (a JSON file,
//! replaced atomically), [`ConfigMapCheckpointStore`] (a ConfigMap, for CronJobs without a
//! persistent volume) or any other implementation, such as an object in a bucket.
//!
//! ```no_run
//! use kle_core::checkpoint::{CheckpointStore, FileCheckpointStore};
//!
//! # async fn demo() -> Result<(), kle_core::Error> {
//! let store = FileCheckpointStore::new("/var/log/k8s/.kube-log-exporter-checkpoint.json");
//! let checkpoint = store.load().await?.unwrap_or_default();
//! println!("{} container instances recorded", checkpoint.len());
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, PostParams};
use serde::{Deserialize, Serialize};

use crate::cursor::Cursor;
use crate::error::{Error, Permission};
use crate::instance::{Container, ContainerKey};
use crate::ownership::{FileLock, KubeLease, LeaseTiming, LeasedOwnership, Ownership, lease_permissions};

/// The version of the checkpoint format this crate writes and reads.
pub const CHECKPOINT_VERSION: u32 = 1;

/// The name of the checkpoint a run keeps beside its output when none is named (`--checkpoint
/// auto`): a file in the file sink's directory, an object beside the S3 sink's objects. Names
/// starting with `.kube-log-exporter` are the exporter's own, never logs.
pub const CHECKPOINT_FILE: &str = ".kube-log-exporter-checkpoint.json";

/// The record of one container instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointEntry {
    /// Which instance: pod UID, container name, restart count.
    #[serde(flatten)]
    pub key: ContainerKey,
    /// Namespace of the pod (to look it up again and to report it).
    pub namespace: String,
    /// Name of the pod.
    pub pod: String,
    /// Runtime ID of the instance, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    /// Position of the last committed line; `None` when nothing was delivered yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Cursor>,
    /// The instance had terminated and its log was read to the end and committed: nothing of
    /// it can be missing, even once its pod is gone.
    #[serde(default)]
    pub complete: bool,
}

/// What earlier runs delivered: the positions of container instances, and the sink's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CheckpointFile", into = "CheckpointFile")]
pub struct Checkpoint {
    entries: BTreeMap<ContainerKey, CheckpointEntry>,
    /// Where logs of containers first seen after the first run start (`--since` of the first
    /// run made absolute); `None`: from their beginning.
    pub origin: Option<Timestamp>,
    /// When this checkpoint was saved.
    pub saved_at: Option<Timestamp>,
    /// The sink's own state at the commit the cursors belong to
    /// ([`Sink::committed_state`](crate::Sink::committed_state)); opaque here.
    pub sink: Option<serde_json::Value>,
}

impl Default for Checkpoint {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Checkpoint {
    /// An empty checkpoint whose later containers are read from `origin` on.
    pub fn new(origin: Option<Timestamp>) -> Self {
        Self {
            entries: BTreeMap::new(),
            origin,
            saved_at: None,
            sink: None,
        }
    }

    /// The record of an instance.
    pub fn get(&self, key: &ContainerKey) -> Option<&CheckpointEntry> {
        self.entries.get(key)
    }

    /// Adds or replaces the record of an instance.
    pub fn insert(&mut self, entry: CheckpointEntry) {
        self.entries.insert(entry.key.clone(), entry);
    }

    /// Records what a commit made durable of `container`: its cursor (`None` keeps the one
    /// recorded) and whether its log was read to the end. The one place entries are made.
    pub fn record(&mut self, container: &Container, committed: Option<Cursor>, complete: bool) {
        let key = container.key();
        let entry = self.entries.entry(key.clone()).or_insert_with(|| CheckpointEntry {
            key,
            namespace: container.namespace().to_owned(),
            pod: container.pod_name().to_owned(),
            container_id: None,
            cursor: None,
            complete: false,
        });
        // A previous instance carries its successor's ID; only a current one names itself.
        if !container.previous && container.container_id.is_some() {
            entry.container_id.clone_from(&container.container_id);
        }
        entry.cursor = committed.or(entry.cursor);
        entry.complete |= complete;
    }

    /// Removes the record of an instance.
    pub fn remove(&mut self, key: &ContainerKey) -> Option<CheckpointEntry> {
        self.entries.remove(key)
    }

    /// Every record, ordered by key.
    pub fn entries(&self) -> impl Iterator<Item = &CheckpointEntry> {
        self.entries.values()
    }

    /// The records of one container of one pod (all its instances), oldest instance first.
    pub fn instances<'a>(&'a self, pod_uid: &'a str, container: &'a str) -> impl Iterator<Item = &'a CheckpointEntry> {
        self.entries
            .values()
            .filter(move |e| e.key.pod_uid == pod_uid && e.key.container == container)
    }

    /// How many instances are recorded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no instance is recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops the records that can no longer matter: of each container, only the newest
    /// instance is kept, and the one before it while it is not complete (it may still have to
    /// be drained with `previous`).
    pub fn prune(&mut self) {
        let mut newest: BTreeMap<(String, String), u32> = BTreeMap::new();
        for key in self.entries.keys() {
            let slot = newest.entry((key.pod_uid.clone(), key.container.clone())).or_insert(0);
            *slot = (*slot).max(key.restart_count);
        }
        self.entries.retain(|key, entry| {
            let top = newest
                .get(&(key.pod_uid.clone(), key.container.clone()))
                .copied()
                .unwrap_or(0);
            key.restart_count == top || (key.restart_count + 1 == top && !entry.complete)
        });
    }
}

/// The serialized form: entries as a list (JSON object keys must be strings).
#[derive(Serialize, Deserialize)]
struct CheckpointFile {
    version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    origin: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    saved_at: Option<Timestamp>,
    #[serde(default)]
    containers: Vec<CheckpointEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sink: Option<serde_json::Value>,
}

impl TryFrom<CheckpointFile> for Checkpoint {
    type Error = String;

    fn try_from(file: CheckpointFile) -> Result<Self, Self::Error> {
        if file.version != CHECKPOINT_VERSION {
            return Err(format!(
                "checkpoint format version {} is not supported (this build reads version {CHECKPOINT_VERSION})",
                file.version
            ));
        }
        Ok(Checkpoint {
            entries: file.containers.into_iter().map(|e| (e.key.clone(), e)).collect(),
            origin: file.origin,
            saved_at: file.saved_at,
            sink: file.sink,
        })
    }
}

impl From<Checkpoint> for CheckpointFile {
    fn from(checkpoint: Checkpoint) -> Self {
        CheckpointFile {
            version: CHECKPOINT_VERSION,
            origin: checkpoint.origin,
            saved_at: checkpoint.saved_at,
            containers: checkpoint.entries.into_values().collect(),
            sink: checkpoint.sink,
        }
    }
}

/// Where checkpoints are kept.
///
/// `save` must be atomic: after a crash, `load` returns the previous or the new checkpoint,
/// never a mix. A store is saved to only after the sink committed the lines it covers.
///
/// A store that can also say who owns it ([`ownership`](Self::ownership)) gets one writer at a
/// time: an [`Export`](crate::Export) becomes the owner before it loads, and checks it still is
/// before every write. Its `save` should then fail when someone else saved since this run's
/// last `load` or `save` (a deposed owner's late save must not overwrite its successor's).
#[async_trait]
pub trait CheckpointStore: Send + Sync + fmt::Debug {
    /// The last saved checkpoint, or `None` when there is none yet.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the store cannot be read or holds something unreadable.
    async fn load(&self) -> Result<Option<Checkpoint>, Error>;

    /// Replaces the saved checkpoint.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when it cannot be written, or was changed by someone else since
    /// it was loaded (two exporters sharing one checkpoint).
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), Error>;

    /// A short description for messages (`file:/out/.checkpoint.json`, `configmap:logging/kle`).
    fn describe(&self) -> String;

    /// What the store needs of the API server (a ConfigMap store: its ConfigMap), for the
    /// preflight and the generated RBAC. The default: nothing.
    fn permissions(&self) -> Vec<Permission> {
        Vec::new()
    }

    /// Where the checkpoint's owner is recorded: a [`FileLock`] beside a checkpoint file, a
    /// Lease beside a ConfigMap, a conditionally written object beside an object. The
    /// default, `None`, lets any number of runs write (a custom store without an owner record).
    fn ownership(&self) -> Option<Arc<dyn Ownership>> {
        None
    }
}

/// A checkpoint in a local JSON file, replaced atomically (write, `fsync`, rename, `fsync` the
/// directory).
#[derive(Debug, Clone)]
pub struct FileCheckpointStore {
    path: PathBuf,
}

impl FileCheckpointStore {
    /// A store at `path` (its directory is created on the first save).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, action: &str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::Checkpoint {
            store: self.describe(),
            action: action.to_owned(),
            source: source.into(),
        }
    }
}

#[async_trait]
impl CheckpointStore for FileCheckpointStore {
    async fn load(&self) -> Result<Option<Checkpoint>, Error> {
        let bytes = match tokio::fs::read(&self.path).await {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(self.error("reading", err)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|err| self.error("parsing (move the file away to start over)", err))
    }

    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), Error> {
        let bytes = serde_json::to_vec_pretty(checkpoint).map_err(|err| self.error("encoding", err))?;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
            .await
            .map_err(|err| self.error("writing", err))?
            .map_err(|err| self.error("writing", err))
    }

    fn describe(&self) -> String {
        format!("file:{}", self.path.display())
    }

    /// An OS lock on the checkpoint file's name plus `.lock`, held for the run.
    fn ownership(&self) -> Option<Arc<dyn Ownership>> {
        Some(Arc::new(FileLock::beside(&self.path)))
    }
}

/// Writes `bytes` to `path` so that a crash leaves either the old or the new content.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = dir.join(name);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    #[cfg(unix)]
    std::fs::File::open(&dir)?.sync_all()?;
    Ok(())
}

/// The key of the checkpoint in a [`ConfigMapCheckpointStore`]'s ConfigMap.
pub const CONFIGMAP_KEY: &str = "checkpoint.json";

/// A checkpoint in a ConfigMap (key [`CONFIGMAP_KEY`]), for in-cluster CronJobs without a
/// persistent volume.
///
/// Its owner is recorded in a `coordination.k8s.io/v1` Lease beside it, named after it
/// ([`lease_name`]), held for [`LeaseTiming`] and renewed while the run lasts. Saves are
/// conditional too: each replaces the ConfigMap at the `resourceVersion` it last saw, so a
/// deposed owner's late save fails instead of overwriting its successor's positions. The
/// identity needs `get`, `create` and `update` on the ConfigMap and on the Lease
/// ([`configmap_permissions`]). A ConfigMap holds at most 1 MiB: about 4,000 container instances.
#[derive(Debug)]
pub struct ConfigMapCheckpointStore {
    api: Api<ConfigMap>,
    namespace: String,
    name: String,
    lease: LeaseTiming,
    resource_version: std::sync::Mutex<Option<String>>,
}

/// The Lease that records who owns the checkpoint in ConfigMap `configmap`: its name plus
/// `-owner` (shortened to stay a valid name).
pub fn lease_name(configmap: &str) -> String {
    let base: String = configmap.chars().take(253 - "-owner".len()).collect();
    format!("{}-owner", base.trim_end_matches(['-', '.']))
}

impl ConfigMapCheckpointStore {
    /// A store in ConfigMap `name` of `namespace`.
    pub fn new(client: Client, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        let namespace = namespace.into();
        Self {
            api: Api::namespaced(client, &namespace),
            namespace,
            name: name.into(),
            lease: LeaseTiming::default(),
            resource_version: std::sync::Mutex::new(None),
        }
    }

    /// Holds the owner's Lease for `timing` instead of the default (15 s, renewed every 5 s).
    #[must_use]
    pub fn with_lease_timing(mut self, timing: LeaseTiming) -> Self {
        self.lease = timing;
        self
    }

    fn error(&self, action: &str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::Checkpoint {
            store: self.describe(),
            action: action.to_owned(),
            source: source.into(),
        }
    }

    /// A client error, with 403 turned into [`Error::Forbidden`] for `verb` on configmaps.
    fn api_error(&self, action: &str, verb: &'static str, err: kube::Error) -> Error {
        match err {
            kube::Error::Api(status) if status.code == 403 => Error::Forbidden {
                permission: Permission::on_object(verb, "", "configmaps", &self.namespace, &self.name),
                message: status.message,
            },
            err => self.error(action, err),
        }
    }

    fn remember(&self, version: Option<String>) {
        if let Ok(mut slot) = self.resource_version.lock() {
            *slot = version;
        }
    }

    fn remembered(&self) -> Option<String> {
        self.resource_version.lock().ok().and_then(|slot| slot.clone())
    }
}

#[async_trait]
impl CheckpointStore for ConfigMapCheckpointStore {
    async fn load(&self) -> Result<Option<Checkpoint>, Error> {
        let map = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|err| self.api_error("reading", "get", err))?;
        let Some(map) = map else { return Ok(None) };
        self.remember(map.metadata.resource_version.clone());
        let Some(json) = map.data.as_ref().and_then(|d| d.get(CONFIGMAP_KEY)) else {
            return Ok(None);
        };
        serde_json::from_str(json)
            .map(Some)
            .map_err(|err| self.error("parsing (delete the ConfigMap to start over)", err))
    }

    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), Error> {
        let json = serde_json::to_string(checkpoint).map_err(|err| self.error("encoding", err))?;
        let mut map = ConfigMap::default();
        map.metadata.name = Some(self.name.clone());
        map.metadata.namespace = Some(self.namespace.clone());
        map.metadata.labels = Some(BTreeMap::from([(
            "app.kubernetes.io/managed-by".to_owned(),
            "kube-log-exporter".to_owned(),
        )]));
        map.data = Some(BTreeMap::from([(CONFIGMAP_KEY.to_owned(), json)]));
        let (verb, saved) = match self.remembered() {
            Some(version) => {
                map.metadata.resource_version = Some(version);
                (
                    "update",
                    self.api.replace(&self.name, &PostParams::default(), &map).await,
                )
            }
            None => ("create", self.api.create(&PostParams::default(), &map).await),
        };
        match saved {
            Ok(saved) => {
                self.remember(saved.metadata.resource_version);
                Ok(())
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Err(self.error(
                "saving",
                format!(
                    "it was changed by someone else since this run read it ({}): is another exporter using the same \
                     checkpoint? Give each its own, or stop the other",
                    status.message
                ),
            )),
            Err(err) => Err(self.api_error("saving", verb, err)),
        }
    }

    fn describe(&self) -> String {
        format!("configmap:{}/{}", self.namespace, self.name)
    }

    fn permissions(&self) -> Vec<Permission> {
        configmap_permissions(&self.namespace, &self.name)
    }

    fn ownership(&self) -> Option<Arc<dyn Ownership>> {
        let lease = KubeLease::new(
            self.api.clone().into_client(),
            self.namespace.as_str(),
            lease_name(&self.name),
        );
        Some(Arc::new(LeasedOwnership::new(lease, self.lease)))
    }
}

/// The permissions a [`ConfigMapCheckpointStore`] of ConfigMap `name` in `namespace` needs:
/// `get` and `update` of that one ConfigMap and of its owner's Lease ([`lease_name`]), and
/// `create` (which RBAC cannot restrict to a name) of configmaps and leases in its namespace.
pub fn configmap_permissions(namespace: &str, name: &str) -> Vec<Permission> {
    ["get", "create", "update"]
        .into_iter()
        .map(|verb| Permission::on_object(verb, "", "configmaps", namespace, name))
        .chain(lease_permissions(namespace, &lease_name(name)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(uid: &str, container: &str, restart: u32) -> ContainerKey {
        ContainerKey {
            pod_uid: uid.into(),
            container: container.into(),
            restart_count: restart,
        }
    }

    fn entry(uid: &str, restart: u32, complete: bool) -> CheckpointEntry {
        CheckpointEntry {
            key: key(uid, "app", restart),
            namespace: "ns".into(),
            pod: "p".into(),
            container_id: Some(format!("containerd://{restart}")),
            cursor: Some(Cursor {
                timestamp: "2026-11-23T10:00:01.123456789Z".parse().unwrap(),
                lines_at_timestamp: 2,
            }),
            complete,
        }
    }

    #[test]
    fn round_trips_through_json_keeping_full_precision() {
        let mut checkpoint = Checkpoint::new(Some("2026-11-23T09:00:00Z".parse().unwrap()));
        checkpoint.insert(entry("u1", 0, false));
        checkpoint.sink = Some(serde_json::json!({"files": {"ns/p/app.log": 42}}));
        let json = serde_json::to_string(&checkpoint).unwrap();
        assert!(json.contains("2026-11-23T10:00:01.123456789Z"), "{json}");
        assert!(json.contains(r#""version":1"#));
        let back: Checkpoint = serde_json::from_str(&json).unwrap();
        assert_eq!(back, checkpoint);
    }

    #[test]
    fn refuses_an_unknown_version() {
        let err = serde_json::from_str::<Checkpoint>(r#"{"version": 99, "containers": []}"#).unwrap_err();
        assert!(err.to_string().contains("version 99"), "{err}");
    }

    #[test]
    fn prune_keeps_the_newest_instance_and_an_undrained_previous_one() {
        let mut checkpoint = Checkpoint::default();
        for (restart, complete) in [(0, true), (1, false), (2, false)] {
            checkpoint.insert(entry("u1", restart, complete));
        }
        checkpoint.insert(entry("u2", 3, true));
        checkpoint.insert(entry("u2", 4, false));
        checkpoint.insert(entry("u3", 0, true));
        checkpoint.insert(entry("u3", 1, true));
        checkpoint.prune();
        let kept: Vec<_> = checkpoint
            .entries()
            .map(|e| (e.key.pod_uid.as_str(), e.key.restart_count))
            .collect();
        assert_eq!(kept, [("u1", 1), ("u1", 2), ("u2", 4), ("u3", 1)]);
    }

    #[test]
    fn a_configmap_checkpoint_needs_its_lease_by_name_and_nothing_more() {
        let needed: Vec<String> = configmap_permissions("logging", "kle")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            needed,
            [
                r#"get configmaps "kle" in namespace "logging""#,
                r#"create configmaps in namespace "logging""#,
                r#"update configmaps "kle" in namespace "logging""#,
                r#"get leases.coordination.k8s.io "kle-owner" in namespace "logging""#,
                r#"create leases.coordination.k8s.io in namespace "logging""#,
                r#"update leases.coordination.k8s.io "kle-owner" in namespace "logging""#,
            ]
        );
        assert_eq!(lease_name(&"x".repeat(253)).len(), 253);
    }

    #[tokio::test]
    async fn file_store_saves_atomically_and_loads_back() {
        let dir = std::env::temp_dir().join(format!("kle-checkpoint-test-{}", std::process::id()));
        let store = FileCheckpointStore::new(dir.join("sub/checkpoint.json"));
        assert_eq!(store.load().await.unwrap(), None);
        let mut checkpoint = Checkpoint::default();
        checkpoint.insert(entry("u1", 0, false));
        store.save(&checkpoint).await.unwrap();
        checkpoint.insert(entry("u2", 0, true));
        store.save(&checkpoint).await.unwrap();
        assert_eq!(store.load().await.unwrap(), Some(checkpoint));
        assert!(!dir.join("sub/checkpoint.json.tmp").exists());
        std::fs::write(store.path(), b"{not json").unwrap();
        let err = store.load().await.unwrap_err().to_string();
        assert!(err.contains("move the file away"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
