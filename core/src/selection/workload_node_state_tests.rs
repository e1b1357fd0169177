//! Workloads, `--node` and `--container-state` in a selection.

use super::tests::{names, sample};
use super::*;

#[test]
fn node_joins_the_field_selector_and_is_checked() {
    let selection = Selection::builder()
        .with_field_selector("status.phase=Running")
        .with_node("node-7")
        .build()
        .unwrap();
    assert_eq!(
        selection.field_selector(),
        Some("status.phase=Running,spec.nodeName=node-7")
    );
    let alone = Selection::builder().with_node("n1").build().unwrap();
    assert_eq!(alone.field_selector(), Some("spec.nodeName=n1"));
    let err = Selection::builder().with_node("a,b=c").build().unwrap_err();
    assert!(err.to_string().contains("--node"), "{err}");
}

#[test]
fn container_state_filters_by_the_current_instance() {
    let running = Selection::builder()
        .with_container_state(StateFilter::Running)
        .build()
        .unwrap();
    assert_eq!(names(&running.containers_of(&sample())), ["app", "istio-proxy"]);
    let waiting = Selection::builder()
        .with_container_state(StateFilter::Waiting)
        .build()
        .unwrap();
    assert_eq!(names(&waiting.containers_of(&sample())), ["late"]);
    let terminated = Selection::builder()
        .with_init_containers(true)
        .with_container_state(StateFilter::Terminated)
        .build()
        .unwrap();
    assert_eq!(names(&terminated.containers_of(&sample())), ["setup"]);
}

#[test]
fn workloads_need_named_namespaces() {
    let web: WorkloadRef = "deploy/web".parse().unwrap();
    let err = Selection::builder()
        .with_namespaces(Namespaces::All)
        .with_workload(web.clone())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("-n"), "{err}");
    let selection = Selection::builder().with_workload(web.clone()).build().unwrap();
    assert_eq!(selection.workloads(), [web]);
}
