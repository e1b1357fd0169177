use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn requirement(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
    LabelSelectorRequirement {
        key: key.into(),
        operator: operator.into(),
        values: (!values.is_empty()).then(|| values.iter().map(|v| (*v).to_owned()).collect()),
    }
}

#[test]
fn every_kind_parses_by_name_short_name_and_resource() {
    for kind in WorkloadKind::ALL {
        let names = [Some(kind.name()), kind.short_name(), Some(kind.resource())];
        for name in names.into_iter().flatten() {
            let parsed: WorkloadRef = format!("{name}/web-1").parse().unwrap();
            assert_eq!(parsed.kind, kind, "{name}");
            assert_eq!(parsed.to_string(), format!("{}/web-1", kind.name()));
        }
    }
    assert_eq!(
        "Deployment/web".parse::<WorkloadRef>().unwrap().kind,
        WorkloadKind::Deployment
    );
    assert_eq!("cj/nightly".parse::<WorkloadRef>().unwrap().kind, WorkloadKind::CronJob);
    assert_eq!("svc/api".parse::<WorkloadRef>().unwrap().kind, WorkloadKind::Service);
}

#[test]
fn mistakes_say_what_is_wrong_and_list_the_kinds() {
    for (text, says) in [
        ("deployment/", "no name after deployment/"),
        ("pod/web-0", "\"pod\" is not a kind of workload"),
        ("deploy/Web", "not an object name"),
        ("deploy/a/b", "not an object name"),
        ("web", "no KIND/"),
    ] {
        let err = text.parse::<WorkloadRef>().unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, Error::InvalidSelection(_)), "{text}: {message}");
        assert!(message.contains(says), "{text}: {message}");
        assert!(
            message.contains("deployment (deploy)")
                && message.contains("cronjob (cj)")
                && message.contains("service (svc)"),
            "{text}: {message}"
        );
    }
}

#[test]
fn references_are_told_from_pod_patterns() {
    assert!(WorkloadRef::is_reference("deploy/web"));
    assert!(WorkloadRef::is_reference("deployment/"));
    assert!(
        WorkloadRef::is_reference("pod/x"),
        "parsed, and refused, as a reference"
    );
    assert!(!WorkloadRef::is_reference("^web-"));
    assert!(!WorkloadRef::is_reference("web-[0-9]/x"));
    assert!(!WorkloadRef::is_reference("/x"));
}

#[test]
fn permissions_are_get_on_the_one_object_and_list_jobs_for_a_cronjob() {
    let deploy: WorkloadRef = "deploy/web".parse().unwrap();
    let needed = deploy.permissions("shop");
    assert_eq!(needed.len(), 1);
    assert_eq!(
        (
            needed[0].verb,
            needed[0].group,
            needed[0].resource,
            needed[0].resource_name.as_deref()
        ),
        ("get", "apps", "deployments", Some("web"))
    );
    let cron: WorkloadRef = "cronjob/nightly".parse().unwrap();
    let needed = cron.permissions("ops");
    let rendered: Vec<String> = needed.iter().map(ToString::to_string).collect();
    assert_eq!(
        rendered,
        [
            "get cronjobs.batch \"nightly\" in namespace \"ops\"",
            "list jobs.batch in namespace \"ops\""
        ]
    );
    let svc: WorkloadRef = "svc/api".parse().unwrap();
    assert_eq!(svc.permissions("shop")[0].group, "", "services are core");
}

#[test]
fn selectors_match_like_the_api_server() {
    let selector = LabelSelector {
        match_labels: Some(labels(&[("app", "web")])),
        match_expressions: Some(vec![
            requirement("tier", "In", &["front", "edge"]),
            requirement("track", "NotIn", &["canary"]),
            requirement("team", "Exists", &[]),
            requirement("legacy", "DoesNotExist", &[]),
        ]),
    };
    let base = [("app", "web"), ("tier", "front"), ("team", "a")];
    assert!(selector_matches(&selector, &labels(&base)));
    assert!(selector_matches(
        &selector,
        &labels(&[("app", "web"), ("tier", "edge"), ("team", "a"), ("track", "stable")])
    ));
    assert!(!selector_matches(
        &selector,
        &labels(&[("app", "api"), ("tier", "front"), ("team", "a")])
    ));
    assert!(!selector_matches(
        &selector,
        &labels(&[("app", "web"), ("tier", "back"), ("team", "a")])
    ));
    assert!(!selector_matches(
        &selector,
        &labels(&[("app", "web"), ("tier", "front")])
    ));
    assert!(!selector_matches(
        &selector,
        &labels(&[("app", "web"), ("tier", "front"), ("team", "a"), ("track", "canary")])
    ));
    assert!(!selector_matches(
        &selector,
        &labels(&[("app", "web"), ("tier", "front"), ("team", "a"), ("legacy", "")])
    ));
    assert_eq!(
        selector_text(&selector).as_deref(),
        Some("app=web,tier in (front,edge),track notin (canary),team,!legacy")
    );
    let unknown = LabelSelector {
        match_labels: None,
        match_expressions: Some(vec![requirement("x", "Gt", &["1"])]),
    };
    assert!(!selector_matches(&unknown, &labels(&[("x", "2")])), "fails closed");
    assert_eq!(selector_text(&unknown), None, "not sent to the server");
}

fn owner(kind: &str, name: &str, uid: &str, controller: bool) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: kind.into(),
        name: name.into(),
        uid: uid.into(),
        controller: Some(controller),
        block_owner_deletion: None,
    }
}

#[test]
fn ownership_keeps_out_pods_whose_labels_overlap() {
    let hash = labels(&[("app", "web"), ("pod-template-hash", "7d9f")]);
    let deployment = Owner::Deployment("web".into());
    assert!(deployment.controls(&owner("ReplicaSet", "web-7d9f", "u1", true), &hash));
    assert!(
        !deployment.controls(&owner("ReplicaSet", "web-canary-7d9f", "u2", true), &hash),
        "another Deployment's ReplicaSet with the same labels"
    );
    assert!(!deployment.controls(&owner("StatefulSet", "web-7d9f", "u1", true), &hash));
    assert!(!deployment.controls(&owner("ReplicaSet", "web-7d9f", "u1", true), &labels(&[("app", "web")])));
    let by_uid = Owner::Uid("sts-uid".into());
    assert!(by_uid.controls(&owner("StatefulSet", "db", "sts-uid", true), &hash));
    assert!(!by_uid.controls(&owner("StatefulSet", "db", "other", true), &hash));
}

#[test]
fn the_controller_is_the_owner_marked_so() {
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "p", "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "x"},
            {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "job-uid", "controller": true}
        ]}
    }))
    .unwrap();
    assert_eq!(controller_of(&pod).map(|o| o.uid.as_str()), Some("job-uid"));
    let orphan: Pod = serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}})).unwrap();
    assert!(controller_of(&orphan).is_none());
}
