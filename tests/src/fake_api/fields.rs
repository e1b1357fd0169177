//! Field selectors over pods, with the grammar and error messages of apimachinery and the API server.

use k8s_openapi::api::core::v1::Pod;

/// A parsed `fieldSelector` over the pod fields the API server supports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector(kle_core::selectors::FieldSelector);

const POD_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
];

impl FieldSelector {
    /// Parses a `fieldSelector` query value for pods; the error is the message the API server answers with (400).
    /// The syntax is the exporter's own parser's (one parser per grammar); the fields are the server's to know.
    pub(crate) fn parse(input: &str) -> Result<Self, String> {
        let selector = kle_core::selectors::FieldSelector::parse(input).map_err(|e| e.to_string())?;
        if let Some(term) = selector.terms().iter().find(|t| !POD_FIELDS.contains(&t.field())) {
            return Err(format!("field label not supported: {}", term.field()));
        }
        Ok(Self(selector))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn matches(&self, pod: &Pod) -> bool {
        self.0
            .terms()
            .iter()
            .all(|term| (pod_field(pod, term.field()) == term.value()) == term.equal())
    }
}

fn pod_field(pod: &Pod, field: &str) -> String {
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let value = match field {
        "metadata.name" => pod.metadata.name.clone(),
        "metadata.namespace" => pod.metadata.namespace.clone(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()),
        "spec.restartPolicy" => spec.and_then(|s| s.restart_policy.clone()),
        "spec.schedulerName" => spec.and_then(|s| s.scheduler_name.clone()),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()),
        "spec.hostNetwork" => Some(spec.and_then(|s| s.host_network).unwrap_or(false).to_string()),
        "status.phase" => status.and_then(|s| s.phase.clone()),
        "status.podIP" => status.and_then(|s| s.pod_ip.clone()),
        "status.nominatedNodeName" => status.and_then(|s| s.nominated_node_name.clone()),
        _ => None,
    };
    value.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, node: &str, phase: &str) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = Some(name.to_owned());
        pod.metadata.namespace = Some("ns".to_owned());
        pod.spec = Some(k8s_openapi::api::core::v1::PodSpec {
            node_name: Some(node.to_owned()),
            ..Default::default()
        });
        pod.status = Some(k8s_openapi::api::core::v1::PodStatus {
            phase: Some(phase.to_owned()),
            ..Default::default()
        });
        pod
    }

    #[test]
    fn field_selectors_cover_pod_fields() {
        let select = |s: &str, pod: &Pod| FieldSelector::parse(s).expect("field selector parses").matches(pod);
        let running = pod("a", "node-1", "Running");
        assert!(select("spec.nodeName=node-1,status.phase!=Succeeded", &running));
        assert!(select("metadata.name==a,metadata.namespace=ns", &running));
        assert!(!select("status.phase=Pending", &running));
        assert!(select("spec.nodeName!=node\\,2", &running));
        assert_eq!(
            FieldSelector::parse("spec.foo=bar").expect_err("unknown field"),
            "field label not supported: spec.foo"
        );
        assert_eq!(
            FieldSelector::parse("nonsense").expect_err("no operator"),
            "invalid selector: 'nonsense'; can't understand 'nonsense'"
        );
    }
}
