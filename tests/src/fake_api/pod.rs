//! Builders for realistic pods: spec, container statuses with runtime IDs, and the log lines of each instance.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateWaiting, ContainerStatus, EphemeralContainer, Pod, PodCondition, PodSpec,
    PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::kubelet::{self, next_seed};
use super::lines::LogLine;

/// A container of a [`FakePod`]: its state, and the log lines of its current and previous instance.
///
/// ```
/// use kle_tests::fake_api::{FakeContainer, lines};
/// let start: jiff::Timestamp = "2024-05-01T10:00:00Z".parse().unwrap();
/// // Restarted once: `previous=true` reads the first instance's lines.
/// let app = FakeContainer::new("app")
///     .previous_logs(lines(start, 2, |i| format!("before crash {i}")))
///     .logs(lines(start, 3, |i| format!("line {i}")));
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct FakeContainer {
    name: String,
    image: String,
    state: InitialState,
    logs: Vec<LogLine>,
    previous: Option<Vec<LogLine>>,
    restart_count: Option<i32>,
}

#[derive(Clone, Debug)]
enum InitialState {
    Running,
    Waiting(String),
    Terminated(i32),
}

impl FakeContainer {
    /// A running container with an empty log.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            image: format!("registry.example/{name}:1.0"),
            state: InitialState::Running,
            logs: Vec::new(),
            previous: None,
            restart_count: None,
        }
    }

    /// The image reference.
    pub fn image(mut self, image: &str) -> Self {
        self.image = image.to_owned();
        self
    }

    /// Not started yet, waiting for `reason` (`ContainerCreating`, `ImagePullBackOff`, `CrashLoopBackOff`...).
    /// It has no current instance, so it cannot have [`logs`](Self::logs).
    pub fn waiting(mut self, reason: &str) -> Self {
        self.state = InitialState::Waiting(reason.to_owned());
        self
    }

    /// Its current instance has exited with `exit_code`.
    pub fn terminated(mut self, exit_code: i32) -> Self {
        self.state = InitialState::Terminated(exit_code);
        self
    }

    /// The lines already in the current instance's log.
    pub fn logs(mut self, lines: impl IntoIterator<Item = LogLine>) -> Self {
        self.logs.extend(lines);
        self
    }

    /// Gives the container a previous instance (it restarted once) whose log holds `lines`.
    pub fn previous_logs(mut self, lines: impl IntoIterator<Item = LogLine>) -> Self {
        self.previous = Some(lines.into_iter().collect());
        self
    }

    /// The status' `restartCount` (default: 1 with a previous instance, else 0).
    pub fn restart_count(mut self, count: i32) -> Self {
        self.restart_count = Some(count);
        self
    }

    fn spec(&self) -> Container {
        Container {
            name: self.name.clone(),
            image: Some(self.image.clone()),
            image_pull_policy: Some("IfNotPresent".to_owned()),
            termination_message_path: Some("/dev/termination-log".to_owned()),
            termination_message_policy: Some("File".to_owned()),
            ..Container::default()
        }
    }

    /// The status, and each instance's (container ID, lines, exited).
    fn status(self, created: Timestamp) -> (ContainerStatus, Vec<Instance>) {
        let mut instances = Vec::new();
        let mut status = ContainerStatus {
            name: self.name.clone(),
            image: self.image.clone(),
            image_id: format!(
                "{}@sha256:{}",
                self.image.split(':').next().unwrap_or_default(),
                kubelet::hex64()
            ),
            restart_count: 0,
            ..ContainerStatus::default()
        };
        if let Some(previous) = self.previous {
            kubelet::start(&mut status, created);
            kubelet::restart(&mut status, 1, created);
            let last = status.last_state.as_ref().and_then(|s| s.terminated.as_ref());
            let id = last
                .and_then(|t| t.container_id.clone())
                .expect("a restarted container has a previous ID");
            instances.push(Instance {
                container_id: id,
                lines: previous,
                exited: true,
            });
        } else {
            kubelet::start(&mut status, created);
        }
        match self.state {
            InitialState::Running => {}
            InitialState::Terminated(code) => kubelet::terminate(&mut status, code, created),
            InitialState::Waiting(reason) => {
                assert!(
                    self.logs.is_empty(),
                    "container {} is waiting: it has no log yet",
                    self.name
                );
                status.container_id = None;
                status.ready = false;
                status.started = Some(false);
                status.state = Some(ContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some(reason),
                        message: None,
                    }),
                    ..ContainerState::default()
                });
            }
        }
        if let Some(id) = status.container_id.clone() {
            let exited = status.state.as_ref().is_some_and(|s| s.terminated.is_some());
            instances.push(Instance {
                container_id: id,
                lines: self.logs,
                exited,
            });
        }
        if let Some(count) = self.restart_count {
            status.restart_count = count;
        }
        (status, instances)
    }
}

/// The log of one container instance, as the fake kubelet keeps it.
#[derive(Clone, Debug)]
pub(crate) struct Instance {
    pub(crate) container_id: String,
    pub(crate) lines: Vec<LogLine>,
    pub(crate) exited: bool,
}

/// A pod as a scheduler and kubelet would have filled it in: uid, node, IPs, conditions, container statuses.
///
/// ```
/// use kle_tests::fake_api::{FakeContainer, FakePod};
/// let pod = FakePod::new("shop", "web-0")
///     .label("app", "web")
///     .node("node-2")
///     .init_container(FakeContainer::new("migrate").terminated(0))
///     .container(FakeContainer::new("app"))
///     .container(FakeContainer::new("sidecar"))
///     .build();
/// assert_eq!(pod.status.unwrap().phase.as_deref(), Some("Running"));
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct FakePod {
    namespace: String,
    name: String,
    uid: Option<String>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    node: Option<String>,
    phase: Option<String>,
    restart_policy: String,
    created: Option<Timestamp>,
    init_containers: Vec<FakeContainer>,
    containers: Vec<FakeContainer>,
    ephemeral_containers: Vec<FakeContainer>,
}

impl FakePod {
    /// A pod on `node-1`, with no containers yet; add at least one with [`container`](Self::container).
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            uid: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            node: Some("node-1".to_owned()),
            phase: None,
            restart_policy: "Always".to_owned(),
            created: None,
            init_containers: Vec::new(),
            containers: Vec::new(),
            ephemeral_containers: Vec::new(),
        }
    }

    /// A fixed `metadata.uid` (default: a fresh random-looking UUID).
    pub fn uid(mut self, uid: &str) -> Self {
        self.uid = Some(uid.to_owned());
        self
    }

    /// Adds a label.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Adds an annotation.
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.annotations.insert(key.to_owned(), value.to_owned());
        self
    }

    /// The node it is scheduled on (`spec.nodeName`).
    pub fn node(mut self, node: &str) -> Self {
        self.node = Some(node.to_owned());
        self
    }

    /// Not scheduled: no `spec.nodeName`, so its log is empty.
    pub fn unscheduled(mut self) -> Self {
        self.node = None;
        self
    }

    /// A fixed `status.phase` (default: derived from the container states like the kubelet does).
    pub fn phase(mut self, phase: &str) -> Self {
        self.phase = Some(phase.to_owned());
        self
    }

    /// `spec.restartPolicy` (default `Always`).
    pub fn restart_policy(mut self, policy: &str) -> Self {
        self.restart_policy = policy.to_owned();
        self
    }

    /// `metadata.creationTimestamp` and the containers' start time (default: now).
    pub fn created_at(mut self, created: Timestamp) -> Self {
        self.created = Some(created);
        self
    }

    /// Adds a regular container.
    pub fn container(mut self, container: FakeContainer) -> Self {
        self.containers.push(container);
        self
    }

    /// Adds an init container (usually [`terminated(0)`](FakeContainer::terminated)).
    pub fn init_container(mut self, container: FakeContainer) -> Self {
        self.init_containers.push(container);
        self
    }

    /// Adds an ephemeral (debug) container targeting the first regular container.
    pub fn ephemeral_container(mut self, container: FakeContainer) -> Self {
        self.ephemeral_containers.push(container);
        self
    }

    /// The pod object alone, without the server's resource version.
    pub fn build(self) -> Pod {
        self.into_parts().0
    }

    pub(crate) fn key(&self) -> (String, String) {
        (self.namespace.clone(), self.name.clone())
    }

    pub(crate) fn into_parts(self) -> (Pod, Vec<Instance>) {
        let created = self.created.unwrap_or_else(Timestamp::now);
        let seed = next_seed();
        let target = self.containers.first().map(|c| c.name.clone());
        let spec = PodSpec {
            init_containers: non_empty(self.init_containers.iter().map(FakeContainer::spec).collect()),
            containers: self.containers.iter().map(FakeContainer::spec).collect(),
            ephemeral_containers: non_empty(
                self.ephemeral_containers
                    .iter()
                    .map(|c| EphemeralContainer {
                        name: c.name.clone(),
                        image: Some(c.image.clone()),
                        target_container_name: target.clone(),
                        ..EphemeralContainer::default()
                    })
                    .collect(),
            ),
            node_name: self.node.clone(),
            restart_policy: Some(self.restart_policy.clone()),
            scheduler_name: Some("default-scheduler".to_owned()),
            service_account_name: Some("default".to_owned()),
            termination_grace_period_seconds: Some(30),
            dns_policy: Some("ClusterFirst".to_owned()),
            ..PodSpec::default()
        };
        let mut instances = Vec::new();
        let mut statuses = |containers: Vec<FakeContainer>| {
            let statuses: Vec<ContainerStatus> = containers
                .into_iter()
                .map(|c| {
                    let (status, mut own) = c.status(created);
                    instances.append(&mut own);
                    status
                })
                .collect();
            non_empty(statuses)
        };
        let mut status = PodStatus {
            init_container_statuses: statuses(self.init_containers),
            container_statuses: statuses(self.containers),
            ephemeral_container_statuses: statuses(self.ephemeral_containers),
            start_time: Some(kubelet::time(created)),
            qos_class: Some("BestEffort".to_owned()),
            ..PodStatus::default()
        };
        if self.node.is_some() {
            status.host_ip = Some(format!("10.0.0.{}", seed % 200 + 10));
            status.pod_ip = Some(format!("10.244.{}.{}", (seed >> 8) % 250, seed % 250 + 2));
        }
        status.phase = Some(self.phase.unwrap_or_else(|| kubelet::phase(&spec, &status)));
        status.conditions = Some(conditions(&status, created, self.node.is_some()));
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some(self.name),
                namespace: Some(self.namespace),
                uid: Some(self.uid.unwrap_or_else(kubelet::new_uid)),
                labels: non_empty_map(self.labels),
                annotations: non_empty_map(self.annotations),
                creation_timestamp: Some(kubelet::time(created)),
                ..ObjectMeta::default()
            },
            spec: Some(spec),
            status: Some(status),
        };
        (pod, instances)
    }
}

/// `PodScheduled`, `Initialized`, `ContainersReady` and `Ready`, true or false from the statuses.
pub(crate) fn conditions(status: &PodStatus, at: Timestamp, scheduled: bool) -> Vec<PodCondition> {
    let all_ready = |s: &Option<Vec<ContainerStatus>>| s.iter().flatten().all(|c| c.ready);
    let initialized = status.init_container_statuses.iter().flatten().all(|c| {
        c.state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .is_some_and(|t| t.exit_code == 0)
    });
    let ready = scheduled && initialized && all_ready(&status.container_statuses);
    let condition = |kind: &str, ok: bool| PodCondition {
        type_: kind.to_owned(),
        status: if ok { "True" } else { "False" }.to_owned(),
        last_transition_time: Some(kubelet::time(at)),
        ..PodCondition::default()
    };
    vec![
        condition("PodScheduled", scheduled),
        condition("Initialized", initialized),
        condition("ContainersReady", ready),
        condition("Ready", ready),
    ]
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

fn non_empty_map(map: BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!map.is_empty()).then_some(map)
}
