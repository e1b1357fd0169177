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

/// The pod a container belongs to; shared by all its containers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// One instance of one container of one pod: the unit whose log is streamed.
///
/// A restarted container is a new instance (new `container_id`, `restart_count` + 1), so a
/// cursor taken on one instance is never applied to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
