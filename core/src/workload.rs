//! Workload references (`deployment/web`, `cronjob/backup`, `svc/api`): what they are
//! written as, and the pods they stand for.
//!
//! A reference is parsed before anything is asked of the cluster ([`WorkloadRef`]'s
//! `FromStr`). At the start of a run each one is looked up in every selected namespace
//! ([`Scope::resolve`]) and becomes a rule a pod either passes or not:
//!
//! - a Deployment, StatefulSet, DaemonSet, ReplicaSet or Job: its `spec.selector`, *and*
//!   ownership, so that a pod of another workload whose labels happen to overlap is not pulled
//!   in. StatefulSets, DaemonSets, ReplicaSets and Jobs own their pods directly (the pod's
//!   controller reference carries the workload's UID); a Deployment owns them through a
//!   ReplicaSet the controller names `<deployment>-<pod-template-hash>`.
//! - a Service: its `spec.selector`, as the endpoints controller applies it (Services own no
//!   pods).
//! - a CronJob: the pods whose controller is a Job the CronJob controls. The Jobs are listed
//!   at the start and again when a pod of a Job not seen before appears, so a follow takes in
//!   the Jobs of later schedules as they start.
//!
//! When one namespace holds one workload with a selector, the selector is sent to the API
//! server with the user's own, so only its pods are listed and watched; otherwise the
//! namespace's pods (by the user's selector) are listed and the rules applied here.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use tracing::{debug, info};

use crate::error::{Error, Permission};

/// The kinds of workload a reference can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum WorkloadKind {
    /// `deployment/NAME` (`deploy/`), apps.
    Deployment,
    /// `statefulset/NAME` (`sts/`), apps.
    StatefulSet,
    /// `daemonset/NAME` (`ds/`), apps.
    DaemonSet,
    /// `replicaset/NAME` (`rs/`), apps.
    ReplicaSet,
    /// `job/NAME`, batch.
    Job,
    /// `cronjob/NAME` (`cj/`), batch: the pods of every Job it owns.
    CronJob,
    /// `service/NAME` (`svc/`), core: the pods its selector selects.
    Service,
}

impl WorkloadKind {
    /// Every kind, in the order help texts list them.
    pub const ALL: [WorkloadKind; 7] = [
        WorkloadKind::Deployment,
        WorkloadKind::StatefulSet,
        WorkloadKind::DaemonSet,
        WorkloadKind::ReplicaSet,
        WorkloadKind::Job,
        WorkloadKind::CronJob,
        WorkloadKind::Service,
    ];

    /// The name a reference is written with (`deployment`).
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployment",
            WorkloadKind::StatefulSet => "statefulset",
            WorkloadKind::DaemonSet => "daemonset",
            WorkloadKind::ReplicaSet => "replicaset",
            WorkloadKind::Job => "job",
            WorkloadKind::CronJob => "cronjob",
            WorkloadKind::Service => "service",
        }
    }

    /// The short form, as kubectl knows it (`deploy`), where there is one.
    pub fn short_name(self) -> Option<&'static str> {
        match self {
            WorkloadKind::Deployment => Some("deploy"),
            WorkloadKind::StatefulSet => Some("sts"),
            WorkloadKind::DaemonSet => Some("ds"),
            WorkloadKind::ReplicaSet => Some("rs"),
            WorkloadKind::Job => None,
            WorkloadKind::CronJob => Some("cj"),
            WorkloadKind::Service => Some("svc"),
        }
    }

    /// The API group (`apps`, `batch`, `""` for core).
    pub fn group(self) -> &'static str {
        match self {
            WorkloadKind::Deployment
            | WorkloadKind::StatefulSet
            | WorkloadKind::DaemonSet
            | WorkloadKind::ReplicaSet => "apps",
            WorkloadKind::Job | WorkloadKind::CronJob => "batch",
            WorkloadKind::Service => "",
        }
    }

    /// The resource, as RBAC names it (`deployments`).
    pub fn resource(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployments",
            WorkloadKind::StatefulSet => "statefulsets",
            WorkloadKind::DaemonSet => "daemonsets",
            WorkloadKind::ReplicaSet => "replicasets",
            WorkloadKind::Job => "jobs",
            WorkloadKind::CronJob => "cronjobs",
            WorkloadKind::Service => "services",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::Job => "Job",
            WorkloadKind::CronJob => "CronJob",
            WorkloadKind::Service => "Service",
        }
    }

    /// API versions to ask, newest first: CronJobs are `batch/v1beta1` before Kubernetes 1.21.
    fn versions(self) -> &'static [&'static str] {
        match self {
            WorkloadKind::CronJob => &["v1", "v1beta1"],
            _ => &["v1"],
        }
    }

    /// `deployment (deploy), statefulset (sts), ...`: what a reference may start with.
    pub fn accepted() -> String {
        Self::ALL
            .iter()
            .map(|kind| match kind.short_name() {
                Some(short) => format!("{} ({short})", kind.name()),
                None => kind.name().to_owned(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn from_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|kind| name == kind.name() || Some(name.as_str()) == kind.short_name() || name == kind.resource())
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A workload named as kubectl names it: `KIND/NAME`, in the selection's namespaces.
///
/// ```
/// use kle_core::{WorkloadKind, WorkloadRef};
///
/// let web: WorkloadRef = "deploy/web".parse()?;
/// assert_eq!((web.kind, web.name.as_str()), (WorkloadKind::Deployment, "web"));
/// assert_eq!(web.to_string(), "deployment/web");
/// assert!("deployment/".parse::<WorkloadRef>().is_err());
/// assert!("pod/web-0".parse::<WorkloadRef>().is_err());
/// # Ok::<(), kle_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkloadRef {
    /// What kind of workload.
    pub kind: WorkloadKind,
    /// Its name.
    pub name: String,
}

impl WorkloadRef {
    /// Whether `text` is written as a workload reference (`word/...`) rather than a pod-name
    /// pattern: letters, then a slash. Whether it is a valid one, parsing says.
    pub fn is_reference(text: &str) -> bool {
        text.split_once('/')
            .is_some_and(|(kind, _)| !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_alphabetic()))
    }

    /// The permissions looking it up (and, for a CronJob, its Jobs) in `namespace` needs:
    /// get on this one object, and list on Jobs for a CronJob.
    pub fn permissions(&self, namespace: &str) -> Vec<Permission> {
        let kind = self.kind;
        let mut needed = vec![Permission::on_object(
            "get",
            kind.group(),
            kind.resource(),
            namespace,
            &self.name,
        )];
        if kind == WorkloadKind::CronJob {
            needed.push(Permission {
                verb: "list",
                group: "batch",
                resource: "jobs",
                namespace: Some(namespace.to_owned()),
                resource_name: None,
            });
        }
        needed
    }
}

impl FromStr for WorkloadRef {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let invalid = |what: String| {
            Error::InvalidSelection(format!(
                "{text:?}: {what}; a workload is written KIND/NAME, KIND one of {}",
                WorkloadKind::accepted()
            ))
        };
        let Some((kind, name)) = text.split_once('/') else {
            return Err(invalid("no KIND/".into()));
        };
        let kind =
            WorkloadKind::from_name(kind).ok_or_else(|| invalid(format!("{kind:?} is not a kind of workload")))?;
        if name.is_empty() {
            return Err(invalid(format!("no name after {kind}/")));
        }
        let valid = name.len() <= 253
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid {
            return Err(invalid(format!(
                "{name:?} is not an object name (lowercase letters, digits, '-', '.')"
            )));
        }
        Ok(WorkloadRef {
            kind,
            name: name.to_owned(),
        })
    }
}

impl fmt::Display for WorkloadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// How one workload found in one namespace decides which pods are its own.
#[derive(Debug, Clone)]
enum Rule {
    /// Labels and the controller that owns the pod.
    Owned { selector: LabelSelector, owner: Owner },
    /// A Service's selector alone.
    Selected(LabelSelector),
    /// The pods of the Jobs a CronJob controls; Job UIDs already looked at, and whether the
    /// CronJob controls each.
    CronJob { uid: String, jobs: HashMap<String, bool> },
}

/// Who must control a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    /// The workload itself, by UID.
    Uid(String),
    /// A ReplicaSet of the Deployment of this name (`<name>-<pod-template-hash>`).
    Deployment(String),
}

#[derive(Debug, Clone)]
struct Resolved {
    reference: WorkloadRef,
    rule: Rule,
}

/// The selection's workload references, resolved: which namespaces to look in, what to ask the
/// API server there, and which of the pods it returns belong.
pub(crate) struct Scope {
    client: Client,
    /// `None` when the selection names no workload: every pod the server returns belongs.
    by_namespace: Option<BTreeMap<String, Vec<Resolved>>>,
}

impl Scope {
    /// Looks every workload of `workloads` up in each of `namespaces` (a selection's; `None`:
    /// every namespace, which workloads do not support).
    ///
    /// # Errors
    /// [`Error::NoSuchWorkload`] when a reference exists in none of them (or a Service there has
    /// no selector); [`Error::Forbidden`] when one may not be read.
    pub(crate) async fn resolve(
        client: &Client,
        namespaces: Option<&[String]>,
        workloads: &[WorkloadRef],
    ) -> Result<Scope, Error> {
        let mut scope = Scope {
            client: client.clone(),
            by_namespace: None,
        };
        if workloads.is_empty() {
            return Ok(scope);
        }
        // `Selection::build` refuses workloads with every namespace.
        let Some(namespaces) = namespaces else {
            return Err(Error::InvalidSelection(
                "a workload reference needs -n NAMESPACE, not -A".into(),
            ));
        };
        let mut by_namespace: BTreeMap<String, Vec<Resolved>> = BTreeMap::new();
        for reference in workloads {
            let mut found = false;
            for namespace in namespaces {
                if let Some(rule) = scope.rule(namespace, reference).await? {
                    info!(workload = %reference, namespace, "workload found");
                    by_namespace.entry(namespace.clone()).or_default().push(Resolved {
                        reference: reference.clone(),
                        rule,
                    });
                    found = true;
                }
            }
            if !found {
                return Err(Error::NoSuchWorkload {
                    workload: reference.to_string(),
                    reason: format!(
                        "not found in namespace(s) {} (kubectl get {} -n NAMESPACE lists them)",
                        namespaces.join(", "),
                        reference.kind.resource()
                    ),
                });
            }
        }
        scope.by_namespace = Some(by_namespace);
        Ok(scope)
    }

    /// The namespaces to list and watch: those where a workload was found, or `None` for the
    /// selection's own.
    pub(crate) fn namespaces(&self) -> Option<Vec<String>> {
        self.by_namespace.as_ref().map(|n| n.keys().cloned().collect())
    }

    /// The label selector to send for `namespace`: the user's, joined with the workload's
    /// when it is the namespace's only one (with several, their union cannot be one selector).
    pub(crate) fn label_selector(&self, namespace: Option<&str>, user: Option<&str>) -> Option<String> {
        let only = match (&self.by_namespace, namespace) {
            (Some(map), Some(namespace)) => match map.get(namespace).map(Vec::as_slice) {
                Some([only]) => Some(only),
                _ => None,
            },
            _ => None,
        };
        let workload = only.and_then(|resolved| match &resolved.rule {
            Rule::Owned { selector, .. } | Rule::Selected(selector) => selector_text(selector),
            Rule::CronJob { .. } => None,
        });
        let parts: Vec<&str> = user
            .into_iter()
            .chain(workload.as_deref())
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(","))
    }

    /// Whether `pod` belongs to one of the workloads (always, without workloads). A pod of a
    /// Job not seen before has the CronJobs' Jobs listed again.
    ///
    /// # Errors
    /// [`Error::Forbidden`] when the Jobs of a CronJob may not be listed.
    pub(crate) async fn admits(&mut self, pod: &Pod) -> Result<bool, Error> {
        let Some(by_namespace) = self.by_namespace.as_mut() else {
            return Ok(true);
        };
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let Some(resolved) = by_namespace.get_mut(namespace) else {
            return Ok(false);
        };
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let controller = controller_of(pod);
        for workload in resolved.iter_mut() {
            let belongs = match &mut workload.rule {
                Rule::Owned { selector, owner } => {
                    selector_matches(selector, &labels) && controller.is_some_and(|c| owner.controls(c, &labels))
                }
                Rule::Selected(selector) => selector_matches(selector, &labels),
                Rule::CronJob { uid, jobs } => match controller.filter(|c| c.kind == "Job") {
                    None => false,
                    Some(job) => {
                        if !jobs.contains_key(&job.uid) {
                            *jobs = cronjob_jobs(&self.client, namespace, &workload.reference, uid).await?;
                            // A Job that is not the CronJob's is not looked up again.
                            jobs.entry(job.uid.clone()).or_insert(false);
                        }
                        jobs.get(&job.uid).copied().unwrap_or(false)
                    }
                },
            };
            if belongs {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// How `reference` decides on pods in `namespace`, or `None` when it is not there.
    async fn rule(&self, namespace: &str, reference: &WorkloadRef) -> Result<Option<Rule>, Error> {
        let Some(object) = get(&self.client, namespace, reference).await? else {
            return Ok(None);
        };
        let uid = object.metadata.uid.clone().unwrap_or_default();
        let spec = object.data.get("spec");
        let no_selector = || Error::NoSuchWorkload {
            workload: reference.to_string(),
            reason: format!("it has no pod selector in namespace {namespace}, so it selects no pods"),
        };
        let rule = match reference.kind {
            WorkloadKind::CronJob => Rule::CronJob {
                jobs: cronjob_jobs(&self.client, namespace, reference, &uid).await?,
                uid,
            },
            WorkloadKind::Service => {
                let labels: BTreeMap<String, String> = spec
                    .and_then(|s| s.get("selector"))
                    .and_then(|s| serde_json::from_value(s.clone()).ok())
                    .filter(|labels: &BTreeMap<String, String>| !labels.is_empty())
                    .ok_or_else(no_selector)?;
                Rule::Selected(LabelSelector {
                    match_labels: Some(labels),
                    match_expressions: None,
                })
            }
            kind => {
                let selector: LabelSelector = spec
                    .and_then(|s| s.get("selector"))
                    .and_then(|s| serde_json::from_value(s.clone()).ok())
                    .ok_or_else(no_selector)?;
                let owner = if kind == WorkloadKind::Deployment {
                    Owner::Deployment(reference.name.clone())
                } else {
                    Owner::Uid(uid)
                };
                Rule::Owned { selector, owner }
            }
        };
        Ok(Some(rule))
    }
}

impl Owner {
    fn controls(&self, controller: &OwnerReference, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Owner::Uid(uid) => controller.uid == *uid,
            // The Deployment controller names each ReplicaSet after the Deployment and the hash
            // of its pod template, which it also puts on the pods as a label.
            Owner::Deployment(name) => {
                controller.kind == "ReplicaSet"
                    && labels
                        .get("pod-template-hash")
                        .is_some_and(|hash| controller.name == format!("{name}-{hash}"))
            }
        }
    }
}

/// The pod's controller: the owner reference marked `controller: true`.
fn controller_of(pod: &Pod) -> Option<&OwnerReference> {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|owner| owner.controller == Some(true))
}

/// The workload `reference` in `namespace`, or `None` when it does not exist (in any of its
/// kind's API versions).
async fn get(client: &Client, namespace: &str, reference: &WorkloadRef) -> Result<Option<DynamicObject>, Error> {
    let kind = reference.kind;
    for version in kind.versions() {
        let api_version = if kind.group().is_empty() {
            (*version).to_owned()
        } else {
            format!("{}/{version}", kind.group())
        };
        let resource = ApiResource {
            group: kind.group().to_owned(),
            version: (*version).to_owned(),
            api_version,
            kind: kind.kind().to_owned(),
            plural: kind.resource().to_owned(),
        };
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
        // A version the server does not serve answers 404 like a missing object: try the next.
        let found = api.get_opt(&reference.name).await.map_err(|e| {
            Error::from_kube(
                format!("looking up {reference} in namespace {namespace}"),
                Permission::on_object("get", kind.group(), kind.resource(), namespace, &reference.name),
                e,
            )
        })?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// The Jobs of `namespace`, by UID, and whether the CronJob `uid` controls each.
async fn cronjob_jobs(
    client: &Client,
    namespace: &str,
    reference: &WorkloadRef,
    uid: &str,
) -> Result<HashMap<String, bool>, Error> {
    let api: Api<Job> = Api::namespaced(client.clone(), namespace);
    let jobs = api.list_metadata(&ListParams::default()).await.map_err(|e| {
        Error::from_kube(
            format!("listing the Jobs of {reference} in namespace {namespace}"),
            Permission {
                verb: "list",
                group: "batch",
                resource: "jobs",
                namespace: Some(namespace.to_owned()),
                resource_name: None,
            },
            e,
        )
    })?;
    let jobs: HashMap<String, bool> = jobs
        .items
        .iter()
        .filter_map(|job| {
            let controlled = job
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|owner| owner.controller == Some(true) && owner.uid == uid);
            Some((job.metadata.uid.clone()?, controlled))
        })
        .collect();
    debug!(workload = %reference, namespace, jobs = jobs.values().filter(|c| **c).count(), "Jobs of the CronJob");
    Ok(jobs)
}

/// Whether `labels` satisfy `selector`, as the API server decides it. An operator this code
/// does not know matches nothing.
fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    by_labels
        && selector.match_expressions.iter().flatten().all(|requirement| {
            let values = requirement.values.as_deref().unwrap_or_default();
            let value = labels.get(&requirement.key);
            match requirement.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

/// `selector` in the API's query syntax (`app=web,tier in (a,b),!canary`); `None` for an
/// operator this code does not know (the pods are then matched here only).
fn selector_text(selector: &LabelSelector) -> Option<String> {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    for requirement in selector.match_expressions.iter().flatten() {
        let key = &requirement.key;
        let values = requirement.values.as_deref().unwrap_or_default().join(",");
        parts.push(match requirement.operator.as_str() {
            "In" => format!("{key} in ({values})"),
            "NotIn" => format!("{key} notin ({values})"),
            "Exists" => key.clone(),
            "DoesNotExist" => format!("!{key}"),
            _ => return None,
        });
    }
    Some(parts.join(","))
}

#[cfg(test)]
mod tests;
