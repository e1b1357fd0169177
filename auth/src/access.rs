//! Asking the API server what the current identity may do.

use futures::stream::{self, StreamExt, TryStreamExt};
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use kle_core::Permission;
use kube::api::PostParams;
use kube::{Api, Client};

use crate::error::AuthError;

/// Reviews in flight at once.
const CONCURRENT_REVIEWS: usize = 8;

/// The API server's answer for one permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessCheck {
    /// What was asked.
    pub permission: Permission,
    /// Whether it is allowed.
    pub allowed: bool,
    /// The authorizer's explanation, when it gave one.
    pub reason: Option<String>,
}

/// Checks each permission with a SelfSubjectAccessReview, in order.
///
/// # Errors
/// [`AuthError::AccessReview`] when a review cannot be created (the API server is unreachable,
/// or this identity may not even create SelfSubjectAccessReviews).
pub async fn check_access(client: &Client, permissions: &[Permission]) -> Result<Vec<AccessCheck>, AuthError> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    stream::iter(permissions.iter().cloned())
        .map(|permission| review(&api, permission))
        .buffered(CONCURRENT_REVIEWS)
        .try_collect()
        .await
}

/// The answers as a table, one row per permission: `ALLOWED VERB RESOURCE NAMESPACE` (and
/// `NAME` when a permission is about one object). The resource carries its API group
/// kubectl-style (`leases.coordination.k8s.io`); `*` stands for every namespace or object.
///
/// ```
/// use kle_auth::{AccessCheck, render_access_table};
/// use kle_core::Permission;
///
/// let permission = Permission {
///     verb: "list",
///     group: "",
///     resource: "pods",
///     namespace: Some("shop".into()),
///     resource_name: None,
/// };
/// let table = render_access_table(&[AccessCheck { permission, allowed: false, reason: None }]);
/// assert_eq!(table.lines().nth(1).map(|l| l.split_whitespace().collect::<Vec<_>>()), Some(vec!["NO", "list", "pods", "shop"]));
/// ```
pub fn render_access_table(checks: &[AccessCheck]) -> String {
    let with_names = checks.iter().any(|c| c.permission.resource_name.is_some());
    let mut rows = vec![vec![
        "ALLOWED".to_owned(),
        "VERB".to_owned(),
        "RESOURCE".to_owned(),
        "NAMESPACE".to_owned(),
    ]];
    if with_names {
        rows[0].push("NAME".to_owned());
    }
    for check in checks {
        let p = &check.permission;
        let resource = if p.group.is_empty() {
            p.resource.to_owned()
        } else {
            format!("{}.{}", p.resource, p.group)
        };
        let mut row = vec![
            if check.allowed { "yes" } else { "NO" }.to_owned(),
            p.verb.to_owned(),
            resource,
            p.namespace.clone().unwrap_or_else(|| "*".to_owned()),
        ];
        if with_names {
            row.push(p.resource_name.clone().unwrap_or_else(|| "*".to_owned()));
        }
        rows.push(row);
    }
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|i| rows.iter().map(|row| row[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

async fn review(api: &Api<SelfSubjectAccessReview>, permission: Permission) -> Result<AccessCheck, AuthError> {
    let (resource, subresource) = match permission.resource.split_once('/') {
        Some((resource, sub)) => (resource, Some(sub.to_owned())),
        None => (permission.resource, None),
    };
    let request = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(permission.verb.to_owned()),
                group: Some(permission.group.to_owned()),
                resource: Some(resource.to_owned()),
                subresource,
                namespace: permission.namespace.clone(),
                name: permission.resource_name.clone(),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let answer = api
        .create(&PostParams::default(), &request)
        .await
        .map_err(|e| match e {
            kube::Error::Api(status) => AuthError::AccessReviewRefused {
                message: format!("{} ({})", status.message, status.code),
            },
            other => AuthError::AccessReview {
                reason: crate::client::describe(&other),
                source: Box::new(other),
            },
        })?;
    let status = answer.status.unwrap_or_default();
    Ok(AccessCheck {
        permission,
        allowed: status.allowed,
        reason: status.reason.filter(|r| !r.is_empty()),
    })
}
