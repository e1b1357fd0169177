//! Field selectors over pods, with the grammar and error messages of apimachinery and the API server.

use k8s_openapi::api::core::v1::Pod;

/// A parsed `fieldSelector` over the pod fields the API server supports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector(Vec<FieldTerm>);

#[derive(Clone, Debug, PartialEq, Eq)]
struct FieldTerm {
    field: String,
    equal: bool,
    value: String,
}

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
    pub(crate) fn parse(input: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in split_unescaped(input, ',') {
            if term.is_empty() {
                continue;
            }
            let (field, equal, value) =
                split_term(&term).ok_or_else(|| format!("invalid selector: '{input}'; can't understand '{term}'"))?;
            let value = unescape_field_value(&value)?;
            if !POD_FIELDS.contains(&field.as_str()) {
                return Err(format!("field label not supported: {field}"));
            }
            terms.push(FieldTerm { field, equal, value });
        }
        Ok(Self(terms))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn matches(&self, pod: &Pod) -> bool {
        self.0
            .iter()
            .all(|term| (pod_field(pod, &term.field) == term.value) == term.equal)
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

/// Splits on `separator` where it is not escaped by a backslash, keeping escapes for the next stage.
fn split_unescaped(input: &str, separator: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in input.chars() {
        if !escaped && c == separator {
            parts.push(String::new());
            continue;
        }
        escaped = !escaped && c == '\\';
        if let Some(last) = parts.last_mut() {
            last.push(c);
        }
    }
    parts
}

/// Splits `field<op>value` at the first unescaped `!=`, `==` or `=`.
fn split_term(term: &str) -> Option<(String, bool, String)> {
    let mut escaped = false;
    for (i, c) in term.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        let rest = &term[i..];
        for (op, equal) in [("!=", false), ("==", true), ("=", true)] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((term[..i].to_owned(), equal, value.to_owned()));
            }
        }
        escaped = c == '\\';
    }
    None
}

fn unescape_field_value(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(next @ ('\\' | ',' | '=')) => out.push(next),
            Some(next) => {
                return Err(format!("invalid field selector: invalid escape sequence: \\{next}"));
            }
            None => return Err("invalid field selector: unterminated escape sequence".to_owned()),
        }
    }
    Ok(out)
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
