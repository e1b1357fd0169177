//! Planning a run from a checkpoint: which instances to read, from where, and what is lost.
//!
//! Pure functions over a [`Checkpoint`] and the containers found now, so every lifecycle case
//! is tested without a cluster.

use std::sync::Arc;

use jiff::Timestamp;

use crate::checkpoint::{Checkpoint, CheckpointEntry};
use crate::cursor::Cursor;
use crate::gap::{Gap, GapReason};
use crate::instance::{Container, ContainerState};

/// Where a planned stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// The user's `since`/`tail` (a first run, or no checkpoint).
    Options,
    /// After this committed position.
    Cursor(Cursor),
    /// From this time on (floored to the second), or the beginning of the log: a container
    /// instance no earlier run read anything of.
    From(Option<Timestamp>),
}

/// One instance to stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Step {
    pub(crate) container: Container,
    pub(crate) start: Start,
}

/// The streams of one container, to run one after the other (older instance first), and the
/// gaps found while planning them.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Plan {
    pub(crate) steps: Vec<Step>,
    pub(crate) gaps: Vec<Gap>,
}

/// Plans the export of `current` (a container's current instance, as found in its pod).
///
/// - No checkpoint: the current instance with the user's options.
/// - The instance is recorded: resume it from its cursor.
/// - An older instance is recorded: drain the previous instance (from the recorded cursor when
///   it is the recorded one), then read the current one from its beginning; instances in
///   between are reported lost.
/// - The container is not recorded (new since the last run): its previous instance, if it
///   restarted, then the current one, both from the checkpoint's origin.
pub(crate) fn plan_container(current: Container, checkpoint: Option<&Checkpoint>) -> Plan {
    let Some(checkpoint) = checkpoint else {
        return Plan {
            steps: vec![Step {
                container: current,
                start: Start::Options,
            }],
            gaps: Vec::new(),
        };
    };
    if let Some(entry) = checkpoint.get(&current.key()) {
        let start = start_after(entry, checkpoint.origin);
        return Plan {
            steps: vec![Step {
                container: current,
                start,
            }],
            gaps: Vec::new(),
        };
    }
    let restarts = current.restart_count;
    let recorded = checkpoint
        .instances(&current.pod.uid, &current.name)
        .filter(|e| e.key.restart_count < restarts)
        .max_by_key(|e| e.key.restart_count);
    let mut plan = Plan::default();
    // Nothing of these instances was read: everything from the origin on is new.
    let from = checkpoint.origin;
    if restarts > 0 {
        let previous_start = match recorded {
            Some(entry) if entry.key.restart_count + 1 == restarts => {
                (!entry.complete).then(|| start_after(entry, from))
            }
            Some(entry) => {
                let lost = restarts - 1 - entry.key.restart_count - u32::from(entry.complete);
                if lost > 0 {
                    plan.gaps.push(Gap {
                        container: Arc::new(instance(&current, entry)),
                        reason: GapReason::InstancesLost { instances: lost },
                        after: entry.cursor,
                        until: None,
                    });
                }
                Some(Start::From(from))
            }
            None => Some(Start::From(from)),
        };
        if let Some(start) = previous_start {
            let previous = Container {
                previous: true,
                state: ContainerState::Terminated,
                ..current.clone()
            };
            plan.steps.push(Step {
                container: previous,
                start,
            });
        }
    }
    plan.steps.push(Step {
        container: current,
        start: Start::From(from),
    });
    plan
}

/// Where to resume a recorded instance.
fn start_after(entry: &CheckpointEntry, from: Option<Timestamp>) -> Start {
    entry.cursor.map_or(Start::From(from), Start::Cursor)
}

/// The container as the recorded instance `entry` was.
fn instance(current: &Container, entry: &CheckpointEntry) -> Container {
    Container {
        container_id: entry.container_id.clone(),
        restart_count: entry.key.restart_count,
        state: ContainerState::Terminated,
        previous: false,
        ..current.clone()
    }
}

/// The gaps left by recorded instances of a pod that no longer exists: every instance whose
/// log was not read to its end.
pub(crate) fn deleted_pod_gaps(checkpoint: &Checkpoint, pod_uid: &str) -> Vec<Gap> {
    checkpoint
        .entries()
        .filter(|e| e.key.pod_uid == pod_uid && !e.complete)
        .map(|e| Gap {
            container: Arc::new(Container {
                pod: Arc::new(crate::instance::PodInfo {
                    namespace: e.namespace.clone(),
                    name: e.pod.clone(),
                    uid: e.key.pod_uid.clone(),
                    node: None,
                    labels: Default::default(),
                }),
                name: e.key.container.clone(),
                kind: crate::instance::ContainerKind::Regular,
                container_id: e.container_id.clone(),
                restart_count: e.key.restart_count,
                state: ContainerState::Terminated,
                previous: false,
            }),
            reason: GapReason::PodDeleted,
            after: e.cursor,
            until: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::{ContainerKey, ContainerKind, PodInfo};

    fn cursor(ts: &str) -> Cursor {
        Cursor {
            timestamp: ts.parse().unwrap(),
            lines_at_timestamp: 1,
        }
    }

    fn container(restarts: u32) -> Container {
        Container {
            pod: Arc::new(PodInfo {
                namespace: "ns".into(),
                name: "web".into(),
                uid: "uid-1".into(),
                node: None,
                labels: Default::default(),
            }),
            name: "app".into(),
            kind: ContainerKind::Regular,
            container_id: Some(format!("containerd://{restarts}")),
            restart_count: restarts,
            state: ContainerState::Running,
            previous: false,
        }
    }

    fn entry(restart: u32, cursor: Option<Cursor>, complete: bool) -> CheckpointEntry {
        CheckpointEntry {
            key: ContainerKey {
                pod_uid: "uid-1".into(),
                container: "app".into(),
                restart_count: restart,
            },
            namespace: "ns".into(),
            pod: "web".into(),
            container_id: Some(format!("containerd://{restart}")),
            cursor,
            complete,
        }
    }

    fn checkpoint(entries: Vec<CheckpointEntry>, origin: Option<&str>) -> Checkpoint {
        let mut checkpoint = Checkpoint::new(origin.map(|o| o.parse().unwrap()));
        for e in entries {
            checkpoint.insert(e);
        }
        checkpoint
    }

    fn steps(plan: &Plan) -> Vec<(u32, bool, Start)> {
        plan.steps
            .iter()
            .map(|s| (s.container.key().restart_count, s.container.previous, s.start))
            .collect()
    }

    #[test]
    fn without_a_checkpoint_the_options_apply() {
        let plan = plan_container(container(3), None);
        assert_eq!(steps(&plan), [(3, false, Start::Options)]);
        assert!(plan.gaps.is_empty());
    }

    #[test]
    fn a_recorded_instance_resumes_from_its_cursor() {
        let at = cursor("2026-11-23T10:00:00.5Z");
        let plan = plan_container(container(0), Some(&checkpoint(vec![entry(0, Some(at), false)], None)));
        assert_eq!(steps(&plan), [(0, false, Start::Cursor(at))]);
    }

    #[test]
    fn a_restart_drains_the_previous_instance_from_its_cursor_first() {
        let at = cursor("2026-11-23T10:00:00.5Z");
        let plan = plan_container(container(1), Some(&checkpoint(vec![entry(0, Some(at), false)], None)));
        assert_eq!(
            steps(&plan),
            [(0, true, Start::Cursor(at)), (1, false, Start::From(None))]
        );
        assert!(plan.gaps.is_empty());
    }

    #[test]
    fn a_complete_previous_instance_is_not_read_again() {
        let at = cursor("2026-11-23T10:00:00.5Z");
        let plan = plan_container(container(1), Some(&checkpoint(vec![entry(0, Some(at), true)], None)));
        assert_eq!(steps(&plan), [(1, false, Start::From(None))]);
    }

    #[test]
    fn several_restarts_lose_the_instances_in_between() {
        let at = cursor("2026-11-23T10:00:00.5Z");
        let plan = plan_container(container(4), Some(&checkpoint(vec![entry(1, Some(at), false)], None)));
        // Instance 1's rest and instance 2 are gone; 3 is the readable previous one.
        assert_eq!(
            steps(&plan),
            [(3, true, Start::From(None)), (4, false, Start::From(None))]
        );
        assert_eq!(plan.gaps.len(), 1);
        assert_eq!(plan.gaps[0].reason, GapReason::InstancesLost { instances: 2 });
        assert_eq!(plan.gaps[0].after, Some(at));
        assert_eq!(plan.gaps[0].container.restart_count, 1);
    }

    #[test]
    fn several_restarts_after_a_complete_instance_lose_only_the_ones_in_between() {
        let plan = plan_container(container(2), Some(&checkpoint(vec![entry(0, None, true)], None)));
        assert_eq!(
            steps(&plan),
            [(1, true, Start::From(None)), (2, false, Start::From(None))]
        );
        assert!(plan.gaps.is_empty(), "{:?}", plan.gaps);
    }

    #[test]
    fn a_new_container_starts_at_the_origin_with_its_previous_instance() {
        let origin = "2026-11-23T09:00:00Z";
        let plan = plan_container(container(1), Some(&checkpoint(vec![], Some(origin))));
        let from = Start::From(Some(origin.parse().unwrap()));
        assert_eq!(steps(&plan), [(0, true, from), (1, false, from)]);
    }

    #[test]
    fn an_instance_seen_without_lines_starts_at_the_origin() {
        let origin = "2026-11-23T09:00:00Z";
        let plan = plan_container(
            container(0),
            Some(&checkpoint(vec![entry(0, None, false)], Some(origin))),
        );
        assert_eq!(steps(&plan), [(0, false, Start::From(Some(origin.parse().unwrap())))]);
    }

    #[test]
    fn a_deleted_pod_leaves_gaps_for_unfinished_instances_only() {
        let at = cursor("2026-11-23T10:00:00.5Z");
        let cp = checkpoint(vec![entry(0, Some(at), true), entry(1, Some(at), false)], None);
        let gaps = deleted_pod_gaps(&cp, "uid-1");
        assert_eq!(gaps.len(), 1);
        assert_eq!(gaps[0].reason, GapReason::PodDeleted);
        assert_eq!(gaps[0].container.restart_count, 1);
        assert!(gaps[0].to_string().contains("ns/web/app"), "{}", gaps[0]);
        assert!(deleted_pod_gaps(&cp, "other").is_empty());
    }
}
