//! The permission check `check` prints and `export`/`follow` run before they start: one
//! SelfSubjectAccessReview per permission, so a missing grant fails fast with the RBAC that
//! fixes it instead of surfacing as a 403 in the middle of a run.

use kle_auth::{AccessCheck, Connection, Rbac, Subject, check_access, who_am_i};
use kle_core::Permission;
use tracing::debug;

use crate::run::Failure;

/// Reviews every permission in `needed`.
///
/// # Errors
/// [`Failure::Auth`] when the reviews cannot be made.
pub(crate) async fn review(connection: &Connection, needed: &[Permission]) -> Result<Vec<AccessCheck>, Failure> {
    Ok(check_access(&connection.client, needed).await?)
}

/// `Ok` when every check passed, else [`Failure::Forbidden`] naming what is denied, with RBAC
/// granting all of `needed` to the connection's identity (all, not only the denied ones: the
/// roles are replaced by `kubectl apply`, so a partial role would take away what was granted).
pub(crate) async fn verdict(
    connection: &Connection,
    checks: Vec<AccessCheck>,
    needed: Vec<Permission>,
) -> Result<(), Failure> {
    let denied: Vec<(Permission, String)> = checks
        .into_iter()
        .filter(|c| !c.allowed)
        .map(|c| (c.permission, c.reason.unwrap_or_default()))
        .collect();
    if denied.is_empty() {
        return Ok(());
    }
    let subject = match &connection.subject {
        Some(subject) => subject.clone(),
        None => who_am_i(&connection.client)
            .await
            .unwrap_or_else(|| Subject::User("<your user>".into())),
    };
    let rbac = Rbac::new("kube-log-exporter", subject, needed).to_yaml();
    Err(Failure::Forbidden { denied, rbac })
}

/// The preflight of `export` and `follow`: fails with [`Failure::Forbidden`] when a permission
/// in `needed` is denied.
///
/// # Errors
/// [`Failure::Forbidden`], or [`Failure::Auth`] when the reviews cannot be made
/// (`--no-preflight` skips them).
pub(crate) async fn preflight(connection: &Connection, needed: Vec<Permission>) -> Result<(), Failure> {
    let checks = review(connection, &needed).await?;
    debug!(permissions = checks.len(), "preflight");
    verdict(connection, checks, needed).await
}
