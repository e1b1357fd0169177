//! The RBAC objects that grant an export exactly the permissions it needs.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject as RbacSubject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kle_core::Permission;
use serde::Serialize;

/// Who the RBAC is granted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A ServiceAccount (the in-cluster case); its manifest is included.
    ServiceAccount {
        /// Name of the ServiceAccount.
        name: String,
        /// Its namespace.
        namespace: String,
    },
    /// A user, as the authenticator names it.
    User(String),
}

impl Subject {
    /// The subject an API server's 403 message names (`User "system:serviceaccount:ns:sa" cannot ...`).
    pub fn from_forbidden_message(message: &str) -> Option<Subject> {
        let rest = &message[message.find("User \"")? + 6..];
        let user = &rest[..rest.find('"')?];
        Some(Self::from_username(user))
    }

    /// The subject a ServiceAccount token (a JWT) names in its `sub` claim
    /// (`system:serviceaccount:<namespace>:<name>`); `None` when it is not a readable JWT.
    ///
    /// The signature is not checked: this only names whom RBAC should be granted to; the API
    /// server decides what the token is worth.
    pub fn from_token(token: &str) -> Option<Subject> {
        use base64::Engine as _;

        let payload = token.trim().split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?;
        let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        Some(Self::from_username(claims.get("sub")?.as_str()?))
    }

    /// The subject for an authenticated user name; ServiceAccounts are recognised by their
    /// `system:serviceaccount:` prefix.
    pub(crate) fn from_username(user: &str) -> Subject {
        match user
            .strip_prefix("system:serviceaccount:")
            .and_then(|s| s.split_once(':'))
        {
            Some((namespace, name)) => Subject::ServiceAccount {
                name: name.to_owned(),
                namespace: namespace.to_owned(),
            },
            None => Subject::User(user.to_owned()),
        }
    }

    fn to_rbac(&self) -> RbacSubject {
        match self {
            Subject::ServiceAccount { name, namespace } => RbacSubject {
                kind: "ServiceAccount".into(),
                name: name.clone(),
                namespace: Some(namespace.clone()),
                ..RbacSubject::default()
            },
            Subject::User(name) => RbacSubject {
                kind: "User".into(),
                name: name.clone(),
                api_group: Some("rbac.authorization.k8s.io".into()),
                ..RbacSubject::default()
            },
        }
    }
}

/// RBAC for a set of permissions: a ClusterRole for cluster-wide ones, a Role per namespace
/// for the rest, each bound to the subject.
///
/// ```
/// use kle_auth::{Rbac, Subject};
/// use kle_core::Permission;
///
/// let needed = vec![Permission {
///     verb: "get",
///     group: "",
///     resource: "pods/log",
///     namespace: Some("shop".into()),
///     resource_name: None,
/// }];
/// let subject = Subject::ServiceAccount { name: "kube-log-exporter".into(), namespace: "logging".into() };
/// let yaml = Rbac::new("kube-log-exporter", subject, needed).to_yaml();
/// assert!(yaml.contains("\nkind: Role\n"));
/// assert!(yaml.contains("pods/log"));
/// ```
#[derive(Debug, Clone)]
pub struct Rbac {
    name: String,
    subject: Subject,
    permissions: Vec<Permission>,
}

impl Rbac {
    /// RBAC named `name` granting `permissions` to `subject`.
    pub fn new(name: impl Into<String>, subject: Subject, permissions: Vec<Permission>) -> Self {
        Self {
            name: name.into(),
            subject,
            permissions,
        }
    }

    /// The manifests, as one multi-document YAML stream.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        if let Subject::ServiceAccount { name, namespace } = &self.subject {
            push_doc(
                &mut out,
                &ServiceAccount {
                    metadata: meta(name, Some(namespace)),
                    ..ServiceAccount::default()
                },
            );
        }
        let mut by_namespace: BTreeMap<Option<&str>, Vec<&Permission>> = BTreeMap::new();
        for permission in &self.permissions {
            by_namespace
                .entry(permission.namespace.as_deref())
                .or_default()
                .push(permission);
        }
        let role_ref = |kind: &str| RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: kind.into(),
            name: self.name.clone(),
        };
        for (namespace, permissions) in by_namespace {
            let rules = Some(rules(&permissions));
            match namespace {
                None => {
                    push_doc(
                        &mut out,
                        &ClusterRole {
                            metadata: meta(&self.name, None),
                            rules,
                            ..ClusterRole::default()
                        },
                    );
                    push_doc(
                        &mut out,
                        &ClusterRoleBinding {
                            metadata: meta(&self.name, None),
                            role_ref: role_ref("ClusterRole"),
                            subjects: Some(vec![self.subject.to_rbac()]),
                        },
                    );
                }
                Some(namespace) => {
                    push_doc(
                        &mut out,
                        &Role {
                            metadata: meta(&self.name, Some(namespace)),
                            rules,
                        },
                    );
                    push_doc(
                        &mut out,
                        &RoleBinding {
                            metadata: meta(&self.name, Some(namespace)),
                            role_ref: role_ref("Role"),
                            subjects: Some(vec![self.subject.to_rbac()]),
                        },
                    );
                }
            }
        }
        out
    }
}

/// One rule per (group, resource, object name) with its verbs, in a stable order.
///
/// A permission on one named object becomes a rule with `resourceNames`, so it grants that
/// object only; one without a name grants every object of the resource.
fn rules(permissions: &[&Permission]) -> Vec<PolicyRule> {
    let mut verbs: BTreeMap<(&str, &str, Option<&str>), Vec<&str>> = BTreeMap::new();
    for p in permissions {
        let entry = verbs
            .entry((p.group, p.resource, p.resource_name.as_deref()))
            .or_default();
        if !entry.contains(&p.verb) {
            entry.push(p.verb);
        }
    }
    verbs
        .into_iter()
        .map(|((group, resource, name), verbs)| PolicyRule {
            api_groups: Some(vec![group.to_owned()]),
            resources: Some(vec![resource.to_owned()]),
            resource_names: name.map(|name| vec![name.to_owned()]),
            verbs: verbs.into_iter().map(str::to_owned).collect(),
            ..PolicyRule::default()
        })
        .collect()
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(BTreeMap::from([(
            "app.kubernetes.io/name".to_owned(),
            "kube-log-exporter".to_owned(),
        )])),
        ..ObjectMeta::default()
    }
}

fn push_doc<T: Serialize + k8s_openapi::Resource>(out: &mut String, object: &T) {
    let body = serde_saphyr::to_string(object).unwrap_or_else(|e| format!("# cannot render {}: {e}\n", T::KIND));
    let _ = write!(out, "---\n{body}");
    if !out.ends_with('\n') {
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(verb: &'static str, resource: &'static str, namespace: Option<&str>) -> Permission {
        Permission {
            verb,
            group: "",
            resource,
            namespace: namespace.map(str::to_owned),
            resource_name: None,
        }
    }

    #[test]
    fn cluster_wide_permissions_make_a_cluster_role() {
        let rbac = Rbac::new(
            "kle",
            Subject::ServiceAccount {
                name: "kle".into(),
                namespace: "logging".into(),
            },
            vec![
                perm("list", "pods", None),
                perm("watch", "pods", None),
                perm("get", "pods/log", None),
            ],
        );
        let yaml = rbac.to_yaml();
        assert_eq!(yaml.matches("---\n").count(), 3, "{yaml}");
        assert!(yaml.contains("kind: ServiceAccount"), "{yaml}");
        assert!(yaml.contains("kind: ClusterRole\n"), "{yaml}");
        assert!(yaml.contains("kind: ClusterRoleBinding"), "{yaml}");
        assert!(!yaml.contains("\nkind: Role\n"), "{yaml}");
        let docs: Vec<serde_json::Value> = yaml
            .split("---\n")
            .filter(|d| !d.trim().is_empty())
            .map(|d| serde_saphyr::from_str(d).unwrap())
            .collect();
        let rules = &docs[1]["rules"];
        assert_eq!(rules[0]["resources"][0], "pods");
        assert_eq!(rules[0]["verbs"], serde_json::json!(["list", "watch"]));
        assert_eq!(rules[1]["resources"][0], "pods/log");
        assert_eq!(docs[2]["subjects"][0]["namespace"], "logging");
    }

    #[test]
    fn namespaced_permissions_make_one_role_each() {
        let rbac = Rbac::new(
            "kle",
            Subject::User("alice".into()),
            vec![perm("list", "pods", Some("a")), perm("get", "pods/log", Some("b"))],
        );
        let yaml = rbac.to_yaml();
        assert_eq!(yaml.matches("\nkind: Role\n").count(), 2, "{yaml}");
        assert_eq!(yaml.matches("\nkind: RoleBinding\n").count(), 2, "{yaml}");
        assert!(!yaml.contains("ServiceAccount"), "{yaml}");
        assert!(yaml.contains("name: alice"), "{yaml}");
    }

    #[test]
    fn subject_from_forbidden_message() {
        let sa = r#"pods "x" is forbidden: User "system:serviceaccount:logging:kle" cannot get resource "pods/log" in API group "" in the namespace "shop""#;
        assert_eq!(
            Subject::from_forbidden_message(sa),
            Some(Subject::ServiceAccount {
                name: "kle".into(),
                namespace: "logging".into()
            })
        );
        let user = r#"pods is forbidden: User "alice" cannot list resource "pods""#;
        assert_eq!(
            Subject::from_forbidden_message(user),
            Some(Subject::User("alice".into()))
        );
        assert_eq!(Subject::from_forbidden_message("nothing here"), None);
    }

    #[test]
    fn subject_from_a_service_account_token() {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let token = format!(
            "{}.{}.signature\n",
            engine.encode(br#"{"alg":"RS256","kid":"k"}"#),
            engine.encode(br#"{"iss":"kubernetes/serviceaccount","sub":"system:serviceaccount:logging:kle"}"#)
        );
        assert_eq!(
            Subject::from_token(&token),
            Some(Subject::ServiceAccount {
                name: "kle".into(),
                namespace: "logging".into()
            })
        );
        assert_eq!(Subject::from_token("not a jwt"), None);
        assert_eq!(Subject::from_token("a.!!!.c"), None);
    }

    #[test]
    fn groups_and_resource_names_are_rendered_as_given() {
        let permission = |verb, group, resource, name: Option<&str>| Permission {
            verb,
            group,
            resource,
            namespace: Some("logging".into()),
            resource_name: name.map(str::to_owned),
        };
        let rbac = Rbac::new(
            "kle",
            Subject::User("alice".into()),
            vec![
                permission("get", "", "configmaps", Some("kle-checkpoint")),
                permission("update", "", "configmaps", Some("kle-checkpoint")),
                permission("create", "", "configmaps", None),
                permission("get", "coordination.k8s.io", "leases", None),
            ],
        );
        let yaml = rbac.to_yaml();
        let docs: Vec<serde_json::Value> = yaml
            .split("---\n")
            .filter(|d| !d.trim().is_empty())
            .map(|d| serde_saphyr::from_str(d).unwrap())
            .collect();
        assert_eq!(docs[0]["kind"], "Role");
        assert_eq!(
            docs[0]["rules"],
            serde_json::json!([
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
                {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["kle-checkpoint"], "verbs": ["get", "update"]},
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get"]},
            ]),
            "{yaml}"
        );
    }
}
