//! The permission check `check` prints and `export`/`follow` run before they start: one
//! SelfSubjectAccessReview per permission, so a missing grant fails fast with the RBAC that
//! fixes it instead of surfacing as a 403 in the middle of a run.

use kle_auth::{AccessCheck, Connection, check_access, who_am_i};
use kle_core::{Denial, Permission};
use tracing::debug;

use crate::failure::{Failure, unknown_user};

/// Reviews every permission in `needed`.
pub(crate) async fn review(connection: &Connection, needed: &[Permission]) -> Result<Vec<AccessCheck>, Failure> {
    Ok(check_access(&connection.client, needed).await?)
}

/// `Ok` when every check passed, else [`Failure::Forbidden`] naming what is denied, with RBAC
/// for the connection's identity.
pub(crate) async fn verdict(
    connection: &Connection,
    checks: Vec<AccessCheck>,
    needed: Vec<Permission>,
) -> Result<(), Failure> {
    let denied: Vec<Denial> = checks
        .into_iter()
        .filter(|c| !c.allowed)
        .map(|c| Denial::new(c.permission, c.reason.unwrap_or_default()))
        .collect();
    if denied.is_empty() {
        return Ok(());
    }
    let subject = match &connection.subject {
        Some(subject) => subject.clone(),
        None => who_am_i(&connection.client).await.unwrap_or_else(unknown_user),
    };
    Err(Failure::forbidden(denied, subject, needed))
}

/// The preflight of `export` and `follow`: fails with [`Failure::Forbidden`] when a permission
/// in `needed` is denied (`--no-preflight` skips it).
pub(crate) async fn preflight(connection: &Connection, needed: Vec<Permission>) -> Result<(), Failure> {
    let checks = review(connection, &needed).await?;
    debug!(permissions = checks.len(), "preflight");
    verdict(connection, checks, needed).await
}
