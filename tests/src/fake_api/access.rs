//! A small RBAC model: what the fake server's user may do, answered both to SelfSubjectAccessReviews and, when
//! enforced, to the requests themselves.

use k8s_openapi::api::authorization::v1::{SelfSubjectAccessReview, SubjectAccessReviewStatus};

/// What a request asks to do, in the authorizer's terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Attributes {
    pub(crate) verb: String,
    pub(crate) group: String,
    pub(crate) resource: String,
    pub(crate) subresource: String,
    pub(crate) namespace: String,
    pub(crate) name: String,
}

/// One access rule; unset fields match anything, the first matching rule of an [`AccessPolicy`] decides.
///
/// ```
/// use kle_tests::fake_api::AccessRule;
/// // No pod logs in namespace "secret".
/// let rule = AccessRule::deny().verb("get").resource("pods/log").namespace("secret");
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct AccessRule {
    allowed: bool,
    reason: String,
    verb: Option<String>,
    group: Option<String>,
    resource: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
}

impl AccessRule {
    /// A rule that allows what it matches.
    pub fn allow() -> Self {
        Self::with_decision(true)
    }

    /// A rule that denies what it matches.
    pub fn deny() -> Self {
        Self::with_decision(false)
    }

    fn with_decision(allowed: bool) -> Self {
        Self {
            allowed,
            reason: String::new(),
            verb: None,
            group: None,
            resource: None,
            namespace: None,
            name: None,
        }
    }

    /// Only this verb (`get`, `list`, `watch`, `create`, ...).
    pub fn verb(mut self, verb: &str) -> Self {
        self.verb = Some(verb.to_owned());
        self
    }

    /// Only this API group (`""` for core).
    pub fn group(mut self, group: &str) -> Self {
        self.group = Some(group.to_owned());
        self
    }

    /// Only this resource, RBAC style: `pods` is the pods themselves, `pods/log` their logs.
    pub fn resource(mut self, resource: &str) -> Self {
        self.resource = Some(resource.to_owned());
        self
    }

    /// Only this namespace (`""` for cluster-scoped requests such as listing pods in all namespaces).
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_owned());
        self
    }

    /// Only this object name.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// The reason given in a SelfSubjectAccessReview's `status.reason`.
    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = reason.to_owned();
        self
    }

    fn matches(&self, attrs: &Attributes) -> bool {
        let resource = if attrs.subresource.is_empty() {
            attrs.resource.clone()
        } else {
            format!("{}/{}", attrs.resource, attrs.subresource)
        };
        let fits = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|want| want == "*" || want == have);
        fits(&self.verb, &attrs.verb)
            && fits(&self.group, &attrs.group)
            && fits(&self.resource, &resource)
            && fits(&self.namespace, &attrs.namespace)
            && fits(&self.name, &attrs.name)
    }
}

/// The fake server's authorizer: ordered rules, a default, and whether requests are refused (403) or only
/// SelfSubjectAccessReviews answer by it.
#[derive(Clone, Debug)]
#[must_use]
pub struct AccessPolicy {
    rules: Vec<AccessRule>,
    default_allowed: bool,
    enforced: bool,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        Self::allow_all()
    }
}

impl AccessPolicy {
    /// Everything allowed (the server's initial policy).
    pub fn allow_all() -> Self {
        Self {
            rules: Vec::new(),
            default_allowed: true,
            enforced: true,
        }
    }

    /// Everything denied unless a rule allows it.
    pub fn deny_all() -> Self {
        Self {
            default_allowed: false,
            ..Self::allow_all()
        }
    }

    /// Adds a rule after the existing ones (the first matching rule decides).
    pub fn rule(mut self, rule: AccessRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Answers SelfSubjectAccessReviews by the rules but serves every request anyway, like a cluster whose
    /// reviews and real permissions disagree.
    pub fn advisory_only(mut self) -> Self {
        self.enforced = false;
        self
    }

    pub(crate) fn decide(&self, attrs: &Attributes) -> (bool, String) {
        match self.rules.iter().find(|rule| rule.matches(attrs)) {
            Some(rule) => (rule.allowed, rule.reason.clone()),
            None => (self.default_allowed, String::new()),
        }
    }

    /// Whether a request with these attributes is refused.
    pub(crate) fn refuses(&self, attrs: &Attributes) -> bool {
        // Every authenticated user may create SelfSubjectAccessReviews (system:basic-user).
        self.enforced && attrs.resource != "selfsubjectaccessreviews" && !self.decide(attrs).0
    }

    /// Fills in `review.status` the way the API server does.
    pub(crate) fn review(&self, mut review: SelfSubjectAccessReview) -> SelfSubjectAccessReview {
        let attrs = match (&review.spec.resource_attributes, &review.spec.non_resource_attributes) {
            (Some(res), _) => Attributes {
                verb: res.verb.clone().unwrap_or_default(),
                group: res.group.clone().unwrap_or_default(),
                resource: res.resource.clone().unwrap_or_default(),
                subresource: res.subresource.clone().unwrap_or_default(),
                namespace: res.namespace.clone().unwrap_or_default(),
                name: res.name.clone().unwrap_or_default(),
            },
            (None, Some(non_res)) => Attributes {
                verb: non_res.verb.clone().unwrap_or_default(),
                resource: non_res.path.clone().unwrap_or_default(),
                ..Attributes::default()
            },
            (None, None) => Attributes::default(),
        };
        let (allowed, reason) = self.decide(&attrs);
        review.status = Some(SubjectAccessReviewStatus {
            allowed,
            denied: (!allowed).then_some(true),
            reason: (!reason.is_empty()).then_some(reason),
            evaluation_error: None,
        });
        review
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_log(namespace: &str) -> Attributes {
        Attributes {
            verb: "get".to_owned(),
            resource: "pods".to_owned(),
            subresource: "log".to_owned(),
            namespace: namespace.to_owned(),
            name: "p".to_owned(),
            ..Attributes::default()
        }
    }

    #[test]
    fn first_matching_rule_decides() {
        let policy = AccessPolicy::allow_all()
            .rule(AccessRule::allow().resource("pods/log").namespace("ok"))
            .rule(AccessRule::deny().resource("pods/log"));
        assert!(policy.decide(&pod_log("ok")).0);
        assert!(!policy.decide(&pod_log("other")).0);
        assert!(policy.refuses(&pod_log("other")));
        assert!(!policy.advisory_only().refuses(&pod_log("other")));
    }

    #[test]
    fn resource_without_subresource_does_not_cover_logs() {
        let policy = AccessPolicy::deny_all().rule(AccessRule::allow().resource("pods"));
        assert!(!policy.decide(&pod_log("ns")).0);
    }
}
