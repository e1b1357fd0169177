//! The identity of a container instance whose log is exported.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// What the pod spec says a container is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerKind {
    /// An entry of `spec.initContainers`.
    Init,
    /// An entry of `spec.containers`.
    Regular,
    /// An entry of `spec.ephemeralContainers` (debug containers).
    Ephemeral,
}

/// The state of a container instance as reported in the pod status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    /// Not started yet (image pull, crash-loop back-off): it has no log to read.
    Waiting,
    /// Running: following its log yields new lines.
    Running,
    /// Exited: its log is complete.
    Terminated,
}

/// Which container states an export takes (`--container-state`); a container is judged by
/// the state of its current instance when its pod is listed or changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StateFilter {
    /// Every container, whatever its state.
    #[default]
    All,
    /// Running containers only.
    Running,
    /// Containers waiting to start or to restart (a crash-loop back-off among them).
    Waiting,
    /// Containers that exited.
    Terminated,
}

impl StateFilter {
    /// The name it is written with (`running`).
    pub fn name(self) -> &'static str {
        match self {
            StateFilter::All => "all",
            StateFilter::Running => "running",
            StateFilter::Waiting => "waiting",
            StateFilter::Terminated => "terminated",
        }
    }

    /// Whether a container in `state` passes.
    pub fn admits(self, state: ContainerState) -> bool {
        match self {
            StateFilter::All => true,
            StateFilter::Running => state == ContainerState::Running,
            StateFilter::Waiting => state == ContainerState::Waiting,
            StateFilter::Terminated => state == ContainerState::Terminated,
        }
    }
}

/// The pod a container belongs to; shared by all its containers.
///
/// ```
/// use kle_core::container::PodInfo;
///
/// let pod = PodInfo::new("shop", "web-0", "6f1c…").with_node("node-1").with_label("app", "web");
/// assert_eq!(pod.labels["app"], "web");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PodInfo {
    /// Namespace of the pod.
    pub namespace: String,
    /// Name of the pod.
    pub name: String,
    /// `metadata.uid`: distinguishes two pods that had the same name at different times.
    pub uid: String,
    /// Node the pod is scheduled on, if any.
    pub node: Option<String>,
    /// Labels of the pod.
    pub labels: BTreeMap<String, String>,
}

impl PodInfo {
    /// Pod `name` in `namespace` with `metadata.uid` `uid`, on no node, without labels.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, uid: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            uid: uid.into(),
            node: None,
            labels: BTreeMap::new(),
        }
    }

    /// Sets the node the pod is scheduled on.
    #[must_use]
    pub fn with_node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// Adds a label.
    #[must_use]
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }
}

/// One instance of one container of one pod: the unit whose log is streamed.
///
/// A restarted container is a new instance (new `container_id`, `restart_count` + 1), so a
/// cursor taken on one instance is never applied to another.
///
/// ```
/// use std::sync::Arc;
/// use kle_core::Container;
/// use kle_core::container::{ContainerState, PodInfo};
///
/// let pod = Arc::new(PodInfo::new("shop", "web-0", "6f1c…"));
/// let app = Container::new(pod, "app").with_restart_count(2).with_state(ContainerState::Terminated);
/// assert_eq!(app.to_string(), "shop/web-0/app");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Container {
    /// The pod this container belongs to.
    pub pod: Arc<PodInfo>,
    /// Container name within the pod.
    pub name: String,
    /// Init, regular or ephemeral.
    pub kind: ContainerKind,
    /// Runtime ID of the instance (`containerd://…`), when the kubelet reported one.
    pub container_id: Option<String>,
    /// How many times the kubelet restarted this container before this instance.
    pub restart_count: u32,
    /// State of the instance when it was discovered.
    pub state: ContainerState,
    /// Whether this is the previous (terminated) instance, read with `previous=true`.
    pub previous: bool,
}

impl Container {
    /// The current instance of regular container `name` of `pod`: running, never restarted,
    /// no runtime ID.
    pub fn new(pod: Arc<PodInfo>, name: impl Into<String>) -> Self {
        Self {
            pod,
            name: name.into(),
            kind: ContainerKind::Regular,
            container_id: None,
            restart_count: 0,
            state: ContainerState::Running,
            previous: false,
        }
    }

    /// Sets what the pod spec says the container is.
    #[must_use]
    pub fn with_kind(mut self, kind: ContainerKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the runtime ID of the instance (`containerd://…`).
    #[must_use]
    pub fn with_container_id(mut self, id: impl Into<String>) -> Self {
        self.container_id = Some(id.into());
        self
    }

    /// Sets how many times the kubelet restarted the container before this instance.
    #[must_use]
    pub fn with_restart_count(mut self, count: u32) -> Self {
        self.restart_count = count;
        self
    }

    /// Sets the state of the instance when it was discovered.
    #[must_use]
    pub fn with_state(mut self, state: ContainerState) -> Self {
        self.state = state;
        self
    }

    /// Makes this the previous (terminated) instance, read with `previous=true`.
    #[must_use]
    pub fn with_previous(mut self, previous: bool) -> Self {
        self.previous = previous;
        self
    }

    /// Namespace of the pod.
    pub fn namespace(&self) -> &str {
        &self.pod.namespace
    }

    /// Name of the pod.
    pub fn pod_name(&self) -> &str {
        &self.pod.name
    }

    /// A key naming this container instance, stable across runs.
    pub fn key(&self) -> ContainerKey {
        ContainerKey {
            pod_uid: self.pod.uid.clone(),
            container: self.name.clone(),
            restart_count: if self.previous {
                self.restart_count.saturating_sub(1)
            } else {
                self.restart_count
            },
        }
    }
}

impl fmt::Display for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.pod.namespace, self.pod.name, self.name)?;
        if self.previous {
            f.write_str(" (previous)")?;
        }
        Ok(())
    }
}

/// Identifies a container instance: pod UID, container name and restart count.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct ContainerKey {
    /// `metadata.uid` of the pod.
    pub pod_uid: String,
    /// Container name.
    pub container: String,
    /// Restart count of the instance.
    pub restart_count: u32,
}
