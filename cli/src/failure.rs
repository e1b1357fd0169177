//! Why a command failed, what the user can do about it, and the exit code that says so.

use std::fmt;

use kle_auth::{AuthError, Rbac, Subject};
use kle_core::events::StreamFailure;
use kle_core::{Denial, Permission, SinkError};

pub(crate) const EXIT_OK: u8 = 0;
pub(crate) const EXIT_ERROR: u8 = 1;
pub(crate) const EXIT_USAGE: u8 = 2;
pub(crate) const EXIT_NOTHING_MATCHED: u8 = 3;
pub(crate) const EXIT_FORBIDDEN: u8 = 4;
pub(crate) const EXIT_GAPS: u8 = 5;
/// Another run owns the checkpoint: this run wrote nothing, or stopped writing when it lost
/// ownership.
pub(crate) const EXIT_OWNED: u8 = 6;
/// `read`: the source does not exist (no such bucket or directory).
pub(crate) const EXIT_NO_SOURCE: u8 = 7;
/// `read`: an object whose key the template wrote holds something else (corrupt, cut short, or
/// not written by kube-log-exporter).
pub(crate) const EXIT_NOT_ARCHIVE: u8 = 8;

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum Failure {
    Auth(AuthError),
    Core(kle_core::Error),
    Forbidden {
        denied: Vec<Denial>,
        /// RBAC that grants what the command needs.
        rbac: String,
    },
    NothingMatched(String),
    Incomplete(Vec<StreamFailure>),
    Gaps(Vec<String>),
    /// A setting that cannot be used, said how to fix it.
    Usage(String),
    /// Output that cannot be written.
    Output(String),
    /// A failure in one cluster of a run over several.
    InCluster {
        cluster: String,
        failure: Box<Failure>,
    },
    /// An archive that cannot be read.
    #[cfg(feature = "read")]
    Read(kle_sinks::archive::ReadError),
}

impl Failure {
    /// The permission failure for `denied`, with RBAC granting `subject` what is missing: the
    /// roles of the namespaces (or the cluster role) where something was denied, each with all
    /// it needs there (`kubectl apply` replaces a role, so a partial one would take away what
    /// was granted); roles of namespaces where everything is allowed are left alone.
    pub(crate) fn forbidden(denied: Vec<Denial>, subject: Subject, mut needed: Vec<Permission>) -> Self {
        needed.retain(|p| denied.iter().any(|d| d.permission.namespace == p.namespace));
        let rbac = Rbac::new("kube-log-exporter", subject, needed).to_yaml();
        Failure::Forbidden { denied, rbac }
    }

    /// A library error, a 403 among them turned into the permission message plus the RBAC for
    /// `needed`, granted to the user the API server named.
    pub(crate) fn from_core(error: kle_core::Error, needed: impl FnOnce() -> Vec<Permission>) -> Self {
        match error {
            kle_core::Error::Forbidden { permission, message } => {
                let subject = Subject::from_forbidden_message(&message).unwrap_or_else(unknown_user);
                Failure::forbidden(vec![Denial::new(permission, message)], subject, needed())
            }
            other => Failure::Core(other),
        }
    }

    /// This failure, said to be `cluster`'s (in a run over several clusters).
    pub(crate) fn in_cluster(self, cluster: &str) -> Self {
        Failure::InCluster {
            cluster: cluster.to_owned(),
            failure: Box::new(self),
        }
    }

    pub(crate) fn exit_code(&self) -> u8 {
        #[cfg(feature = "read")]
        if let Failure::Read(error) = self {
            return read_exit_code(error);
        }
        match self {
            Failure::InCluster { failure, .. } => failure.exit_code(),
            Failure::Forbidden { .. } => EXIT_FORBIDDEN,
            Failure::Core(e) if e.is_forbidden() => EXIT_FORBIDDEN,
            Failure::Core(e) if e.is_ownership() => EXIT_OWNED,
            Failure::NothingMatched(_) => EXIT_NOTHING_MATCHED,
            Failure::Core(e) if e.is_nothing_matched() => EXIT_NOTHING_MATCHED,
            Failure::Gaps(_) => EXIT_GAPS,
            Failure::Usage(_)
            | Failure::Core(
                kle_core::Error::Sink(SinkError::ConfigFile { .. })
                | kle_core::Error::InvalidPattern { .. }
                | kle_core::Error::InvalidSelector { .. }
                | kle_core::Error::InvalidSelection(_)
                | kle_core::Error::ShardConflict { .. },
            ) => EXIT_USAGE,
            _ => EXIT_ERROR,
        }
    }

    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            Failure::Forbidden { rbac, .. } => Some(format!(
                "This RBAC grants what the export needs (kubectl apply -f -):\n{rbac}"
            )),
            Failure::InCluster { failure, .. } => failure.hint(),
            _ => None,
        }
    }
}

/// The exit code of a failed `read`.
#[cfg(feature = "read")]
fn read_exit_code(error: &kle_sinks::archive::ReadError) -> u8 {
    use kle_sinks::archive::{ReadError, StoreFailure};
    match error {
        ReadError::InvalidSource { .. }
        | ReadError::Template { .. }
        | ReadError::Layout(_)
        | ReadError::Pattern { .. } => EXIT_USAGE,
        ReadError::Store {
            failure: StoreFailure::Denied,
            ..
        } => EXIT_FORBIDDEN,
        ReadError::Store {
            failure: StoreFailure::Missing,
            ..
        } => EXIT_NO_SOURCE,
        ReadError::NotAnArchive { .. } => EXIT_NOT_ARCHIVE,
        _ => EXIT_ERROR,
    }
}

/// The subject when the API server did not say who we are.
pub(crate) fn unknown_user() -> Subject {
    Subject::User("<your user>".into())
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Auth(e) => write!(f, "{e}"),
            Failure::Core(e) => write!(f, "{e}"),
            Failure::Forbidden { denied, .. } => {
                f.write_str("permission denied:")?;
                denied.iter().try_for_each(|denial| write!(f, "\n  {denial}"))
            }
            Failure::NothingMatched(what) => write!(f, "no container matched {what}"),
            Failure::Usage(what) | Failure::Output(what) => f.write_str(what),
            Failure::InCluster { cluster, failure } => write!(f, "cluster {cluster}: {failure}"),
            #[cfg(feature = "read")]
            Failure::Read(e) => write!(f, "{e}"),
            Failure::Gaps(gaps) => {
                write!(f, "{} gap(s): lines that could not be exported:", gaps.len())?;
                gaps.iter().try_for_each(|gap| write!(f, "\n  {gap}"))
            }
            Failure::Incomplete(failed) => {
                write!(f, "{} container log(s) could not be read completely:", failed.len())?;
                failed.iter().try_for_each(|failure| write!(f, "\n  {failure}"))
            }
        }
    }
}

impl From<AuthError> for Failure {
    fn from(e: AuthError) -> Self {
        Failure::Auth(e)
    }
}

impl From<SinkError> for Failure {
    fn from(e: SinkError) -> Self {
        Failure::Core(kle_core::Error::Sink(e))
    }
}
