//! Which pods and containers to export: namespaces, selectors, name patterns, container filters.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use regex::Regex;

use crate::error::Error;
use crate::instance::{Container, ContainerKind, ContainerState, PodInfo, StateFilter};
use crate::selector::{FieldSelector, LabelSelector};
use crate::shards::Shard;
use crate::workload::WorkloadRef;

#[cfg(test)]
mod workload_node_state_tests;

/// Which namespaces to look in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespaces {
    /// Every namespace (`-A`): one cluster-wide list/watch.
    All,
    /// These namespaces (`-n`, repeatable): one list/watch each.
    Only(Vec<String>),
}

/// The pods and containers an export covers.
///
/// Built with [`Selection::builder`]; the server filters by namespace and selectors, the
/// rest (name patterns, container filters) is applied here.
///
/// ```
/// use kle_core::{Namespaces, Selection};
///
/// let selection = Selection::builder()
///     .with_namespaces(Namespaces::Only(vec!["shop".into()]))
///     .with_label_selector("app=web")
///     .with_pod_query("^web-")
///     .with_exclude_containers("istio-proxy")
///     .build()?;
/// assert!(selection.matches_pod_name("web-7d9f"));
/// # Ok::<(), kle_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Selection {
    namespaces: Namespaces,
    label_selector: Option<String>,
    field_selector: Option<String>,
    pod_query: Option<Regex>,
    exclude_pods: Option<Regex>,
    containers: Option<Regex>,
    exclude_containers: Option<Regex>,
    init_containers: bool,
    ephemeral_containers: bool,
    shard: Option<Shard>,
    workloads: Vec<WorkloadRef>,
    container_state: StateFilter,
}

impl Selection {
    /// Starts a selection of every regular container in the client's default namespace set.
    pub fn builder() -> SelectionBuilder {
        SelectionBuilder::default()
    }

    /// The namespaces to list and watch.
    pub fn namespaces(&self) -> &Namespaces {
        &self.namespaces
    }

    /// The label selector sent to the API server.
    pub fn label_selector(&self) -> Option<&str> {
        self.label_selector.as_deref()
    }

    /// The field selector sent to the API server.
    pub fn field_selector(&self) -> Option<&str> {
        self.field_selector.as_deref()
    }

    /// Only the pods of `shard` (by their UID), for one replica's part of a sharded follow.
    #[must_use]
    pub fn in_shard(mut self, shard: Shard) -> Self {
        self.shard = Some(shard);
        self
    }

    /// The shard this selection is limited to, if any.
    pub fn shard(&self) -> Option<Shard> {
        self.shard
    }

    /// The workloads whose pods are selected (none: no such restriction), see [`WorkloadRef`].
    pub fn workloads(&self) -> &[WorkloadRef] {
        &self.workloads
    }

    /// Whether a pod name passes the query and exclusion patterns.
    pub fn matches_pod_name(&self, name: &str) -> bool {
        self.pod_query.as_ref().is_none_or(|re| re.is_match(name))
            && !self.exclude_pods.as_ref().is_some_and(|re| re.is_match(name))
    }

    /// Whether a container name passes the include and exclude patterns.
    pub fn matches_container_name(&self, name: &str) -> bool {
        self.containers.as_ref().is_none_or(|re| re.is_match(name))
            && !self.exclude_containers.as_ref().is_some_and(|re| re.is_match(name))
    }

    /// The selected containers of a pod, with the state of their current instances.
    ///
    /// Containers that have not started (no container ID) are included as
    /// [`ContainerState::Waiting`]: the caller decides whether to wait for them.
    pub fn containers_of(&self, pod: &Pod) -> Vec<Container> {
        let Some(info) = pod_info(pod) else {
            return Vec::new();
        };
        if !self.matches_pod_name(&info.name) || self.shard.is_some_and(|shard| !shard.holds_pod(&info.uid)) {
            return Vec::new();
        }
        let info = Arc::new(info);
        let (Some(spec), status) = (pod.spec.as_ref(), pod.status.as_ref()) else {
            return Vec::new();
        };
        let mut names: Vec<(ContainerKind, &str)> = Vec::new();
        if self.init_containers {
            let init = spec.init_containers.iter().flatten();
            names.extend(init.map(|c| (ContainerKind::Init, c.name.as_str())));
        }
        names.extend(
            spec.containers
                .iter()
                .map(|c| (ContainerKind::Regular, c.name.as_str())),
        );
        if self.ephemeral_containers {
            let ephemeral = spec.ephemeral_containers.iter().flatten();
            names.extend(ephemeral.map(|c| (ContainerKind::Ephemeral, c.name.as_str())));
        }
        names
            .into_iter()
            .filter(|(_, name)| self.matches_container_name(name))
            .map(|(kind, name)| {
                let statuses = status.and_then(|s| match kind {
                    ContainerKind::Init => s.init_container_statuses.as_ref(),
                    ContainerKind::Regular => s.container_statuses.as_ref(),
                    ContainerKind::Ephemeral => s.ephemeral_container_statuses.as_ref(),
                });
                let status = statuses.and_then(|all| all.iter().find(|s| s.name == name));
                container_from_status(&info, name, kind, status)
            })
            .filter(|container| self.container_state.admits(container.state))
            .collect()
    }
}

fn pod_info(pod: &Pod) -> Option<PodInfo> {
    let meta = &pod.metadata;
    Some(PodInfo {
        namespace: meta.namespace.clone()?,
        name: meta.name.clone()?,
        uid: meta.uid.clone().unwrap_or_default(),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        labels: meta.labels.clone().unwrap_or_default(),
    })
}

fn container_from_status(
    pod: &Arc<PodInfo>,
    name: &str,
    kind: ContainerKind,
    status: Option<&ContainerStatus>,
) -> Container {
    let state = status.and_then(|s| s.state.as_ref());
    let state = match state {
        Some(s) if s.running.is_some() => ContainerState::Running,
        Some(s) if s.terminated.is_some() => ContainerState::Terminated,
        _ => ContainerState::Waiting,
    };
    let container_id = status.and_then(|s| {
        s.container_id.clone().or_else(|| {
            // A terminated container reports its ID inside the terminated state too.
            s.state.as_ref()?.terminated.as_ref()?.container_id.clone()
        })
    });
    // The kubelet may report a running state before the ID; without an ID there is nothing to read.
    let state = if container_id.is_none() {
        ContainerState::Waiting
    } else {
        state
    };
    Container {
        pod: Arc::clone(pod),
        name: name.to_owned(),
        kind,
        container_id,
        restart_count: status.map_or(0, |s| u32::try_from(s.restart_count).unwrap_or(0)),
        state,
        previous: false,
    }
}

/// Builds a [`Selection`]; patterns are compiled by [`SelectionBuilder::build`].
#[derive(Debug, Clone)]
#[must_use]
pub struct SelectionBuilder {
    namespaces: Namespaces,
    label_selector: Option<String>,
    field_selector: Option<String>,
    pod_query: Option<String>,
    exclude_pods: Vec<String>,
    containers: Option<String>,
    exclude_containers: Vec<String>,
    init_containers: bool,
    ephemeral_containers: bool,
    workloads: Vec<WorkloadRef>,
    node: Option<String>,
    container_state: StateFilter,
}

impl Default for SelectionBuilder {
    fn default() -> Self {
        Self {
            namespaces: Namespaces::Only(vec!["default".to_owned()]),
            label_selector: None,
            field_selector: None,
            pod_query: None,
            exclude_pods: Vec::new(),
            containers: None,
            exclude_containers: Vec::new(),
            init_containers: false,
            ephemeral_containers: false,
            workloads: Vec::new(),
            node: None,
            container_state: StateFilter::All,
        }
    }
}

impl SelectionBuilder {
    /// Namespaces to look in (default: `default`).
    pub fn with_namespaces(mut self, namespaces: Namespaces) -> Self {
        self.namespaces = namespaces;
        self
    }

    /// A label selector, in the API's syntax (`app=web,tier!=db`).
    pub fn with_label_selector(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into()).filter(|s: &String| !s.is_empty());
        self
    }

    /// A field selector, in the API's syntax (`spec.nodeName=node-1`).
    pub fn with_field_selector(mut self, selector: impl Into<String>) -> Self {
        self.field_selector = Some(selector.into()).filter(|s: &String| !s.is_empty());
        self
    }

    /// A regular expression pod names must match (unanchored, like stern's query).
    pub fn with_pod_query(mut self, pattern: impl Into<String>) -> Self {
        self.pod_query = Some(pattern.into());
        self
    }

    /// A regular expression excluding pods by name; repeatable (any match excludes).
    pub fn with_exclude_pod(mut self, pattern: impl Into<String>) -> Self {
        self.exclude_pods.push(pattern.into());
        self
    }

    /// A regular expression container names must match.
    pub fn with_containers(mut self, pattern: impl Into<String>) -> Self {
        self.containers = Some(pattern.into());
        self
    }

    /// A regular expression excluding containers by name; repeatable (any match excludes).
    pub fn with_exclude_containers(mut self, pattern: impl Into<String>) -> Self {
        self.exclude_containers.push(pattern.into());
        self
    }

    /// Include init containers.
    pub fn with_init_containers(mut self, yes: bool) -> Self {
        self.init_containers = yes;
        self
    }

    /// Include ephemeral (debug) containers.
    pub fn with_ephemeral_containers(mut self, yes: bool) -> Self {
        self.ephemeral_containers = yes;
        self
    }

    /// Only the pods of this workload (repeatable: the pods of any of them), looked up in
    /// each namespace when the run starts.
    pub fn with_workload(mut self, workload: WorkloadRef) -> Self {
        self.workloads.push(workload);
        self
    }

    /// Only pods on this node (`spec.nodeName`, a field selector joined with any other).
    pub fn with_node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// Only containers in this state (default: all).
    pub fn with_container_state(mut self, state: StateFilter) -> Self {
        self.container_state = state;
        self
    }

    /// Checks the selectors' syntax and compiles the patterns, so that no mistake in them is
    /// found only after connecting.
    ///
    /// # Errors
    /// [`Error::InvalidSelector`] names the option whose selector is not in the API's syntax;
    /// [`Error::InvalidPattern`] names the option whose regular expression does not compile;
    /// [`Error::InvalidSelection`] for an empty namespace list, a node name that is not one,
    /// or workloads with every namespace.
    pub fn build(self) -> Result<Selection, Error> {
        if matches!(&self.namespaces, Namespaces::Only(list) if list.is_empty()) {
            return Err(Error::InvalidSelection("no namespace given".into()));
        }
        if !self.workloads.is_empty() && self.namespaces == Namespaces::All {
            return Err(Error::InvalidSelection(
                "a workload is looked up in the namespaces given with -n, not in all of them (-A)".into(),
            ));
        }
        if let Some(selector) = &self.label_selector {
            LabelSelector::parse(selector).map_err(|reason| Error::InvalidSelector {
                option: "-l/--selector",
                selector: selector.clone(),
                reason,
            })?;
        }
        if let Some(selector) = &self.field_selector {
            FieldSelector::parse(selector).map_err(|reason| Error::InvalidSelector {
                option: "--field-selector",
                selector: selector.clone(),
                reason,
            })?;
        }
        let field_selector = match self.node {
            Some(node) => Some(node_field(&node, self.field_selector.as_deref())?),
            None => self.field_selector,
        };
        Ok(Selection {
            namespaces: self.namespaces,
            label_selector: self.label_selector,
            field_selector,
            pod_query: compile("pod query", self.pod_query.as_deref())?,
            exclude_pods: compile_any("--exclude-pod", &self.exclude_pods)?,
            containers: compile("--container", self.containers.as_deref())?,
            exclude_containers: compile_any("--exclude-container", &self.exclude_containers)?,
            init_containers: self.init_containers,
            ephemeral_containers: self.ephemeral_containers,
            shard: None,
            workloads: self.workloads,
            container_state: self.container_state,
        })
    }
}

/// `spec.nodeName=NODE`, after the user's field selector if there is one.
fn node_field(node: &str, fields: Option<&str>) -> Result<String, Error> {
    let valid = !node.is_empty()
        && node.len() <= 253
        && node
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !valid {
        return Err(Error::InvalidSelection(format!(
            "--node {node:?} is not a node name (lowercase letters, digits, '-', '.')"
        )));
    }
    let node = format!("spec.nodeName={node}");
    Ok(match fields {
        Some(fields) => format!("{fields},{node}"),
        None => node,
    })
}

fn compile(option: &'static str, pattern: Option<&str>) -> Result<Option<Regex>, Error> {
    pattern
        .map(|p| Regex::new(p).map_err(|source| Error::InvalidPattern { option, source }))
        .transpose()
}

fn compile_any(option: &'static str, patterns: &[String]) -> Result<Option<Regex>, Error> {
    if patterns.is_empty() {
        return Ok(None);
    }
    // Validate each alone so the error points at the pattern the user wrote.
    for p in patterns {
        compile(option, Some(p))?;
    }
    let joined = patterns
        .iter()
        .map(|p| format!("(?:{p})"))
        .collect::<Vec<_>>()
        .join("|");
    compile(option, Some(&joined))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    pub(super) fn sample() -> Pod {
        pod(serde_json::json!({
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1", "labels": {"app": "web"}},
            "spec": {
                "nodeName": "n1",
                "initContainers": [{"name": "setup"}],
                "containers": [{"name": "app"}, {"name": "istio-proxy"}, {"name": "late"}],
                "ephemeralContainers": [{"name": "debugger"}]
            },
            "status": {
                "initContainerStatuses": [{"name": "setup", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                    "containerID": "containerd://s", "state": {"terminated": {"exitCode": 0}}}],
                "containerStatuses": [
                    {"name": "app", "ready": true, "restartCount": 2, "image": "i", "imageID": "",
                     "containerID": "containerd://a", "state": {"running": {}}},
                    {"name": "istio-proxy", "ready": true, "restartCount": 0, "image": "i", "imageID": "",
                     "containerID": "containerd://b", "state": {"running": {}}},
                    {"name": "late", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                     "state": {"waiting": {"reason": "ContainerCreating"}}}
                ]
            }
        }))
    }

    pub(super) fn names(containers: &[Container]) -> Vec<&str> {
        containers.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn regular_containers_by_default() {
        let selection = Selection::builder().build().unwrap();
        let containers = selection.containers_of(&sample());
        assert_eq!(names(&containers), ["app", "istio-proxy", "late"]);
        assert_eq!(containers[0].restart_count, 2);
        assert_eq!(containers[0].state, ContainerState::Running);
        assert_eq!(containers[0].container_id.as_deref(), Some("containerd://a"));
        assert_eq!(containers[2].state, ContainerState::Waiting);
        assert_eq!(containers[0].pod.node.as_deref(), Some("n1"));
    }

    #[test]
    fn init_and_ephemeral_on_request_with_filters() {
        let selection = Selection::builder()
            .with_init_containers(true)
            .with_ephemeral_containers(true)
            .with_exclude_containers("istio")
            .with_exclude_containers("^late$")
            .build()
            .unwrap();
        let containers = selection.containers_of(&sample());
        assert_eq!(names(&containers), ["setup", "app", "debugger"]);
        assert_eq!(containers[0].kind, ContainerKind::Init);
        assert_eq!(containers[0].state, ContainerState::Terminated);
        assert_eq!(containers[2].state, ContainerState::Waiting, "no status yet");
    }

    #[test]
    fn pod_query_and_exclusion() {
        let selection = Selection::builder()
            .with_pod_query("^web-")
            .with_exclude_pod("-2$")
            .build()
            .unwrap();
        assert!(selection.matches_pod_name("web-1"));
        assert!(!selection.matches_pod_name("web-2"));
        assert!(!selection.matches_pod_name("api-1"));
        let none = Selection::builder().with_pod_query("^api").build().unwrap();
        assert!(none.containers_of(&sample()).is_empty());
    }

    #[test]
    fn bad_pattern_names_the_option() {
        let err = Selection::builder().with_containers("(").build().unwrap_err();
        assert!(err.to_string().contains("--container"), "{err}");
        let err = Selection::builder()
            .with_exclude_pod("ok")
            .with_exclude_pod("[")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("--exclude-pod"), "{err}");
    }

    #[test]
    fn selectors_in_the_api_syntax_are_accepted() {
        for labels in [
            "app",
            "!canary",
            "app=web",
            "app==web",
            "app!=web",
            "app=",
            "tier in (web, api)",
            "tier notin (db)",
            "example.com/team=a-b_c.d,app,!canary",
            "app.kubernetes.io/name=X.y_Z-1",
        ] {
            let built = Selection::builder().with_label_selector(labels).build();
            assert_eq!(built.unwrap().label_selector(), Some(labels));
        }
        for fields in [
            "spec.nodeName=n1",
            "status.phase!=Failed,metadata.name==a",
            r"metadata.name=a\,b",
        ] {
            let built = Selection::builder().with_field_selector(fields).build();
            assert_eq!(built.unwrap().field_selector(), Some(fields));
        }
    }

    #[test]
    fn malformed_selectors_name_the_option_and_what_is_wrong() {
        let label_error = |selector: &str| {
            let err = Selection::builder().with_label_selector(selector).build().unwrap_err();
            assert!(
                matches!(&err, Error::InvalidSelector { option: "-l/--selector", selector: s, .. } if s == selector),
                "{err:?}"
            );
            err.to_string()
        };
        assert!(label_error("app=web=x").contains("expected: ',' or 'end of string'"));
        assert!(label_error("app web").contains("expected: in, notin, =, ==, !=, gt, lt"));
        assert!(label_error("app in web").contains("expected: '('"));
        assert!(label_error("app in ()").contains("values set can't be empty"));
        assert!(label_error("app=web,").contains("identifier after ','"));
        assert!(label_error("-app=web").contains("name part must consist of"));
        assert!(label_error("Example.com/app=web").contains("prefix part a lowercase RFC 1123 subdomain"));
        assert!(label_error(&format!("app={}", "v".repeat(64))).contains("a valid label must be"));
        assert!(label_error("app=-web").contains("a valid label must be"));
        assert!(label_error("app=a/b").contains("a valid label must be"));

        let err = Selection::builder()
            .with_field_selector("spec.nodeName")
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidSelector {
                    option: "--field-selector",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "invalid --field-selector \"spec.nodeName\": invalid selector: 'spec.nodeName'; can't understand 'spec.nodeName'"
        );
    }

    #[test]
    fn empty_namespace_list_is_an_error() {
        let err = Selection::builder()
            .with_namespaces(Namespaces::Only(vec![]))
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidSelection(_)));
    }
}
