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
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let answer = api
        .create(&PostParams::default(), &request)
        .await
        .map_err(|e| AuthError::AccessReview(Box::new(e)))?;
    let status = answer.status.unwrap_or_default();
    Ok(AccessCheck {
        permission,
        allowed: status.allowed,
        reason: status.reason.filter(|r| !r.is_empty()),
    })
}
