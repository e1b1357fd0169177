//! What the kubelet decides: container identities, state transitions, and which container instance a log
//! request reads (`validateContainerLogStatus`).

use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus, Pod, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::status::ApiError;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A process-wide unique number, mixed so IDs look random but stay reproducible in order.
pub(crate) fn next_seed() -> u64 {
    let mut z = NEXT_ID
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `containerd://` and 64 hex digits, like a containerd runtime's container ID.
pub(crate) fn new_container_id() -> String {
    format!("containerd://{}", hex64())
}

pub(crate) fn hex64() -> String {
    (0..4).map(|_| format!("{:016x}", next_seed())).collect()
}

/// A random-looking RFC 4122 UUID string.
pub(crate) fn new_uid() -> String {
    let hex = format!("{:016x}{:016x}", next_seed(), next_seed());
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

pub(crate) fn time(ts: Timestamp) -> Time {
    Time(Timestamp::from_second(ts.as_second()).unwrap_or(ts))
}

fn terminated(container_id: Option<String>, exit_code: i32, started: Option<Time>, now: Timestamp) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            container_id,
            exit_code,
            reason: Some(if exit_code == 0 { "Completed" } else { "Error" }.to_owned()),
            started_at: started,
            finished_at: Some(time(now)),
            ..ContainerStateTerminated::default()
        }),
        ..ContainerState::default()
    }
}

fn running(now: Timestamp) -> ContainerState {
    ContainerState {
        running: Some(ContainerStateRunning {
            started_at: Some(time(now)),
        }),
        ..ContainerState::default()
    }
}

fn started_at(state: &Option<ContainerState>) -> Option<Time> {
    let state = state.as_ref()?;
    state
        .running
        .as_ref()
        .and_then(|r| r.started_at.clone())
        .or_else(|| state.terminated.as_ref().and_then(|t| t.started_at.clone()))
}

/// The container's current instance exits and a new one starts: the old becomes `lastState`, the restart count
/// goes up.
pub(crate) fn restart(status: &mut ContainerStatus, exit_code: i32, now: Timestamp) {
    if let Some(old_id) = status.container_id.take() {
        let old_terminated = status.state.as_ref().and_then(|s| s.terminated.clone());
        status.last_state = Some(match old_terminated {
            Some(done) => ContainerState {
                terminated: Some(done),
                ..ContainerState::default()
            },
            None => terminated(Some(old_id), exit_code, started_at(&status.state), now),
        });
    }
    status.container_id = Some(new_container_id());
    status.state = Some(running(now));
    status.restart_count += 1;
    status.ready = true;
    status.started = Some(true);
}

/// The container's current instance exits.
pub(crate) fn terminate(status: &mut ContainerStatus, exit_code: i32, now: Timestamp) {
    let started = started_at(&status.state);
    status.state = Some(terminated(status.container_id.clone(), exit_code, started, now));
    status.ready = false;
    status.started = Some(false);
}

/// A waiting container starts its first (or next) instance.
pub(crate) fn start(status: &mut ContainerStatus, now: Timestamp) {
    status.container_id = Some(new_container_id());
    status.state = Some(running(now));
    status.ready = true;
    status.started = Some(true);
}

/// The phase the kubelet reports: `Pending` until the regular containers have started, `Running` while any runs
/// or will be restarted, then `Succeeded`/`Failed`.
pub(crate) fn phase(spec: &PodSpec, status: &PodStatus) -> String {
    let statuses = status.container_statuses.as_deref().unwrap_or_default();
    let state = |s: &ContainerStatus| s.state.clone().unwrap_or_default();
    let never_ran = |s: &ContainerStatus| state(s).waiting.is_some() && s.last_state.is_none();
    let exit_codes: Vec<i32> = statuses
        .iter()
        .filter_map(|s| state(s).terminated.map(|t| t.exit_code))
        .collect();
    let restarts = spec.restart_policy.as_deref().unwrap_or("Always") == "Always";
    if statuses.is_empty() || statuses.iter().any(never_ran) {
        "Pending"
    } else if exit_codes.len() < statuses.len() || restarts {
        "Running"
    } else if exit_codes.iter().all(|code| *code == 0) {
        "Succeeded"
    } else {
        "Failed"
    }
    .to_owned()
}

/// Every container status of the pod: init, regular, ephemeral.
pub(crate) fn statuses(pod: &Pod) -> impl Iterator<Item = &ContainerStatus> {
    let status = pod.status.as_ref();
    [
        status.and_then(|s| s.init_container_statuses.as_ref()),
        status.and_then(|s| s.container_statuses.as_ref()),
        status.and_then(|s| s.ephemeral_container_statuses.as_ref()),
    ]
    .into_iter()
    .flatten()
    .flatten()
}

pub(crate) fn status_mut<'p>(pod: &'p mut Pod, container: &str) -> Option<&'p mut ContainerStatus> {
    let status = pod.status.as_mut()?;
    [
        status.init_container_statuses.as_mut(),
        status.container_statuses.as_mut(),
        status.ephemeral_container_statuses.as_mut(),
    ]
    .into_iter()
    .flatten()
    .flatten()
    .find(|s| s.name == container)
}

/// The container IDs of the pod's instances that still have logs, each with whether it has exited.
pub(crate) fn instances(pod: &Pod) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for status in statuses(pod) {
        let current_done = status.state.as_ref().is_some_and(|s| s.terminated.is_some());
        if let Some(id) = &status.container_id {
            out.push((id.clone(), current_done));
        }
        let last = status.last_state.as_ref().and_then(|s| s.terminated.as_ref());
        if let Some(id) = last.and_then(|t| t.container_id.clone()) {
            out.push((id, true));
        }
    }
    out
}

/// Every container name in the order the API server lists them: init, regular, ephemeral.
fn container_names(spec: &PodSpec) -> Vec<&str> {
    let init = spec.init_containers.iter().flatten().map(|c| c.name.as_str());
    let regular = spec.containers.iter().map(|c| c.name.as_str());
    let ephemeral = spec.ephemeral_containers.iter().flatten().map(|c| c.name.as_str());
    init.chain(regular).chain(ephemeral).collect()
}

/// The API server's `ValidateContainer`: defaults the container of a single-container pod.
pub(crate) fn resolve_container(pod: &Pod, requested: Option<&str>) -> Result<String, ApiError> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    match requested.filter(|c| !c.is_empty()) {
        Some(container) if container_names(&spec).contains(&container) => Ok(container.to_owned()),
        Some(container) => Err(ApiError::bad_request(format!(
            "container {container} is not valid for pod {name}"
        ))),
        None => match spec.containers.as_slice() {
            [only] => Ok(only.name.clone()),
            [] => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}"
            ))),
            _ => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                container_names(&spec).join(" ")
            ))),
        },
    }
}

/// The kubelet's `validateContainerLogStatus`: the ID of the instance whose log a request reads.
pub(crate) fn log_source(pod: &Pod, container: &str, previous: bool) -> Result<String, ApiError> {
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    let fail = |what: String| Err(ApiError::bad_request(what));
    let Some(status) = statuses(pod).find(|s| s.name == container) else {
        return fail(format!(
            "container \"{container}\" in pod \"{pod_name}\" is not available"
        ));
    };
    let state = status.state.clone().unwrap_or_default();
    let last = status.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    let last_id = last.and_then(|t| t.container_id.clone()).filter(|id| !id.is_empty());
    let terminated_msg = || format!("container \"{container}\" in pod \"{pod_name}\" is terminated");
    if previous {
        return match last_id {
            Some(id) => Ok(id),
            None => fail(format!(
                "previous terminated container \"{container}\" in pod \"{pod_name}\" not found"
            )),
        };
    }
    if state.running.is_some() {
        return status.container_id.clone().map_or_else(|| fail(terminated_msg()), Ok);
    }
    if let Some(done) = &state.terminated {
        return match done.container_id.clone().filter(|id| !id.is_empty()).or(last_id) {
            Some(id) => Ok(id),
            None => fail(terminated_msg()),
        };
    }
    if let Some(id) = last_id {
        return Ok(id);
    }
    let reason = state.waiting.and_then(|w| w.reason).unwrap_or_default();
    let why = match reason.as_str() {
        "ErrImagePull" => "image can't be pulled".to_owned(),
        "ImagePullBackOff" => "trying and failing to pull image".to_owned(),
        _ => reason,
    };
    fail(format!(
        "container \"{container}\" in pod \"{pod_name}\" is waiting to start: {why}"
    ))
}
