//! The server's state: pods with their history of changes (for watches and consistent pages), the logs of every
//! container instance, and the test's knobs (faults, access policy, recorded requests).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::access::AccessPolicy;
use super::fault::Fault;
use super::kubelet;
use super::lines::LogLine;
use super::pod::{FakePod, conditions};
use super::request::{RecordedRequest, Route};

/// `(namespace, name)`, ordered like the API server's storage keys.
pub(crate) type PodKey = (String, String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One change to a pod; a deletion's `new` is the last state with the deletion's resource version.
#[derive(Clone, Debug)]
pub(crate) struct Change {
    pub(crate) rv: u64,
    pub(crate) kind: ChangeKind,
    pub(crate) old: Option<Arc<Pod>>,
    pub(crate) new: Arc<Pod>,
}

/// The log of one container instance.
#[derive(Debug, Default)]
pub(crate) struct InstanceLog {
    pub(crate) lines: Vec<LogLine>,
    pub(crate) exited: bool,
}

pub(crate) struct State {
    pub(crate) pods: BTreeMap<PodKey, Arc<Pod>>,
    pub(crate) history: Vec<Change>,
    pub(crate) resource_version: u64,
    /// Watches and continue tokens from before this resource version get 410 Gone.
    pub(crate) compacted_before: u64,
    /// Keyed by container ID.
    pub(crate) logs: HashMap<String, InstanceLog>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) requests: Vec<RecordedRequest>,
    pub(crate) access: AccessPolicy,
    pub(crate) user: String,
    pub(crate) required_token: Option<String>,
    pub(crate) watch_epoch: u64,
    pub(crate) bookmark_epoch: u64,
    /// Every log line a chunk of its own, as the API server flushes a followed log.
    pub(crate) line_chunks: bool,
}

impl State {
    fn new() -> Self {
        Self {
            pods: BTreeMap::new(),
            history: Vec::new(),
            // A fresh etcd is never at revision 0, and "0" means "any" to clients.
            resource_version: 100,
            compacted_before: 0,
            logs: HashMap::new(),
            faults: Vec::new(),
            requests: Vec::new(),
            access: AccessPolicy::default(),
            user: "system:serviceaccount:kle:exporter".to_owned(),
            required_token: None,
            watch_epoch: 0,
            bookmark_epoch: 0,
            line_chunks: false,
        }
    }

    /// Stores `new` for `key` (or deletes it with `None`) as one change with a new resource version.
    fn commit(&mut self, key: PodKey, new: Option<Pod>) -> Option<Pod> {
        let old = self.pods.get(&key).cloned();
        self.resource_version += 1;
        let rv = self.resource_version;
        let (kind, stored) = match (new, &old) {
            (Some(mut pod), _) => {
                pod.metadata.resource_version = Some(rv.to_string());
                let pod = Arc::new(pod);
                self.pods.insert(key, pod.clone());
                let kind = if old.is_some() {
                    ChangeKind::Modified
                } else {
                    ChangeKind::Added
                };
                (kind, pod)
            }
            (None, Some(previous)) => {
                let mut gone = Pod::clone(previous);
                gone.metadata.resource_version = Some(rv.to_string());
                self.pods.remove(&key);
                (ChangeKind::Deleted, Arc::new(gone))
            }
            (None, None) => {
                self.resource_version -= 1;
                return None;
            }
        };
        let live = (kind != ChangeKind::Deleted).then_some(stored.as_ref());
        self.reconcile_logs(old.as_deref(), live);
        self.history.push(Change {
            rv,
            kind,
            old,
            new: stored.clone(),
        });
        Some(Pod::clone(&stored))
    }

    /// Keeps one log per container instance the pod's statuses mention: new instances get an empty log, exited
    /// ones are marked so followers end, forgotten ones (and a deleted pod's) are dropped.
    fn reconcile_logs(&mut self, old: Option<&Pod>, new: Option<&Pod>) {
        let current = new.map(kubelet::instances).unwrap_or_default();
        for (id, exited) in &current {
            let log = self.logs.entry(id.clone()).or_default();
            log.exited |= *exited;
        }
        let keep: HashSet<&String> = current.iter().map(|(id, _)| id).collect();
        for (id, _) in old.map(kubelet::instances).unwrap_or_default() {
            if !keep.contains(&id) {
                self.logs.remove(&id);
            }
        }
    }

    pub(crate) fn add_pod(&mut self, pod: FakePod) -> Pod {
        let key = pod.key();
        assert!(!self.pods.contains_key(&key), "pod {}/{} already exists", key.0, key.1);
        let (pod, instances) = pod.into_parts();
        let stored = self.commit(key, Some(pod)).expect("an added pod is stored");
        for instance in instances {
            let log = self.logs.entry(instance.container_id).or_default();
            log.lines = instance.lines;
            log.exited |= instance.exited;
        }
        stored
    }

    pub(crate) fn set_pod(&mut self, pod: Pod) -> Pod {
        let key = (
            pod.metadata.namespace.clone().expect("the pod has metadata.namespace"),
            pod.metadata.name.clone().expect("the pod has metadata.name"),
        );
        self.commit(key, Some(pod)).expect("a set pod is stored")
    }

    pub(crate) fn update_pod(&mut self, namespace: &str, name: &str, change: impl FnOnce(&mut Pod)) -> Pod {
        let key = (namespace.to_owned(), name.to_owned());
        let mut pod = Pod::clone(
            self.pods
                .get(&key)
                .unwrap_or_else(|| panic!("no pod {namespace}/{name}")),
        );
        change(&mut pod);
        self.commit(key, Some(pod)).expect("an updated pod is stored")
    }

    pub(crate) fn delete_pod(&mut self, namespace: &str, name: &str) -> Option<Pod> {
        self.commit((namespace.to_owned(), name.to_owned()), None)
    }

    /// Applies a kubelet transition to one container, then refreshes the pod's phase and conditions.
    pub(crate) fn container_transition(
        &mut self,
        namespace: &str,
        name: &str,
        container: &str,
        transition: impl FnOnce(&mut ContainerStatus, Timestamp),
    ) -> Pod {
        self.update_pod(namespace, name, |pod| {
            let now = Timestamp::now();
            let status = kubelet::status_mut(pod, container)
                .unwrap_or_else(|| panic!("pod {namespace}/{name} has no container {container}"));
            transition(status, now);
            let spec = pod.spec.clone().unwrap_or_default();
            let scheduled = spec.node_name.is_some();
            if let Some(status) = pod.status.as_mut() {
                status.phase = Some(kubelet::phase(&spec, status));
                status.conditions = Some(conditions(status, now, scheduled));
            }
        })
    }

    /// Appends to the log of the container's current instance.
    pub(crate) fn append_log(&mut self, namespace: &str, name: &str, container: &str, lines: Vec<LogLine>) {
        let pod = self.pods.get(&(namespace.to_owned(), name.to_owned()));
        let pod = pod.unwrap_or_else(|| panic!("no pod {namespace}/{name}"));
        let status = kubelet::statuses(pod).find(|s| s.name == container);
        let status = status.unwrap_or_else(|| panic!("pod {namespace}/{name} has no container {container}"));
        let id = status
            .container_id
            .clone()
            .unwrap_or_else(|| panic!("container {container} of {namespace}/{name} has not started: no log yet"));
        self.logs.entry(id).or_default().lines.extend(lines);
    }

    /// Drops all but the last `keep` lines of the current instance's log, as the kubelet's
    /// rotation does for what the API can serve.
    pub(crate) fn rotate_log(&mut self, namespace: &str, name: &str, container: &str, keep: usize) {
        let pod = self.pods.get(&(namespace.to_owned(), name.to_owned()));
        let pod = pod.unwrap_or_else(|| panic!("no pod {namespace}/{name}"));
        let id = kubelet::statuses(pod)
            .find(|s| s.name == container)
            .and_then(|s| s.container_id.clone())
            .unwrap_or_else(|| panic!("container {container} of {namespace}/{name} has no log"));
        let log = self.logs.entry(id).or_default();
        let drop = log.lines.len().saturating_sub(keep);
        log.lines.drain(..drop);
    }

    /// The pods as they were at resource version `rv`, rebuilt from the history.
    pub(crate) fn pods_at(&self, rv: u64) -> BTreeMap<PodKey, Arc<Pod>> {
        let mut pods = BTreeMap::new();
        for change in self.history.iter().take_while(|c| c.rv <= rv) {
            let key = (
                change.new.metadata.namespace.clone().unwrap_or_default(),
                change.new.metadata.name.clone().unwrap_or_default(),
            );
            match change.kind {
                ChangeKind::Deleted => pods.remove(&key),
                ChangeKind::Added | ChangeKind::Modified => pods.insert(key, change.new.clone()),
            };
        }
        pods
    }

    /// The changes after resource version `rv`.
    pub(crate) fn changes_after(&self, rv: u64) -> &[Change] {
        let start = self.history.partition_point(|c| c.rv <= rv);
        &self.history[start..]
    }

    /// Takes one application of the first fault that matches the request.
    pub(crate) fn take_fault(&mut self, route: &Route, path: &str) -> Option<Fault> {
        let container = match route {
            Route::PodLog {
                namespace,
                name,
                container,
            } => container.clone().or_else(|| {
                let pod = self.pods.get(&(namespace.clone(), name.clone()))?;
                kubelet::resolve_container(pod, None).ok()
            }),
            _ => None,
        };
        let index = self
            .faults
            .iter()
            .position(|f| !f.exhausted() && f.matches(route, path, container.as_deref()))?;
        self.faults[index].consume();
        if self.faults[index].exhausted() {
            return Some(self.faults.remove(index));
        }
        Some(self.faults[index].clone())
    }
}

/// The state behind a lock, plus the signals that wake streaming responses.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Bumped after every change; watches and log followers wait on it.
    changes: watch::Sender<u64>,
    /// Bumped to cut every open connection.
    pub(crate) disconnects: watch::Sender<u64>,
    /// Bumped to make every open connection fall silent (neither read nor written again).
    pub(crate) freezes: watch::Sender<u64>,
    /// Connections accepted so far.
    pub(crate) accepted: std::sync::atomic::AtomicU64,
    /// Bytes of log responses the connections have taken from their bodies.
    pub(crate) log_bytes_sent: std::sync::atomic::AtomicU64,
    pub(crate) shutdown: CancellationToken,
}

impl Shared {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State::new()),
            changes: watch::Sender::new(0),
            disconnects: watch::Sender::new(0),
            freezes: watch::Sender::new(0),
            accepted: std::sync::atomic::AtomicU64::new(0),
            log_bytes_sent: std::sync::atomic::AtomicU64::new(0),
            shutdown: CancellationToken::new(),
        }
    }

    /// Reads the state; a panicked test thread does not poison it for the others.
    pub(crate) fn read(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes the state and wakes everything that waits for changes.
    pub(crate) fn write<R>(&self, change: impl FnOnce(&mut State) -> R) -> R {
        let result = change(&mut self.read());
        self.changes.send_modify(|n| *n += 1);
        result
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}
