//! The error type of `kle-core`.

use std::fmt;

/// A permission the exporter needs: a verb on a resource, in a namespace or cluster-wide.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Permission {
    /// API verb: `list`, `watch`, `get`, ...
    pub verb: &'static str,
    /// API group (`""` for core).
    pub group: &'static str,
    /// Resource, with subresource when there is one (`pods/log`).
    pub resource: &'static str,
    /// Namespace, or `None` for every namespace.
    pub namespace: Option<String>,
    /// One object's name when only that object is needed (RBAC `resourceNames`), else `None` for all.
    pub resource_name: Option<String>,
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        if let Some(name) = &self.resource_name {
            write!(f, " {name:?}")?;
        }
        match &self.namespace {
            Some(ns) => write!(f, " in namespace {ns:?}"),
            None => f.write_str(" in all namespaces"),
        }
    }
}

/// A permission the API server refused, with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Denial {
    /// What was refused.
    pub permission: Permission,
    /// The API server's explanation (may be empty).
    pub message: String,
}

impl Denial {
    /// `permission` refused with `message`.
    pub fn new(permission: Permission, message: impl Into<String>) -> Self {
        Self {
            permission,
            message: message.into(),
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot {}", self.permission)?;
        if !self.message.is_empty() {
            write!(f, " ({})", self.message)?;
        }
        Ok(())
    }
}

/// Errors of an export: discovery, streaming, checkpoints and the sink.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name pattern is not a valid regular expression.
    #[error("invalid regular expression for {option}: {source}")]
    InvalidPattern {
        /// The option the pattern was given to.
        option: &'static str,
        /// What is wrong with it.
        #[source]
        source: regex::Error,
    },
    /// The selection cannot be used as given.
    #[error("invalid selection: {0}")]
    InvalidSelection(String),
    /// The API server rejected the label or field selector.
    #[error("the API server rejected the selector: {message} (check -l/--selector and --field-selector syntax)")]
    RejectedSelector {
        /// The server's explanation.
        message: String,
    },
    /// The identity may not do something the export needs.
    #[error("permission denied: cannot {permission}: {message}")]
    Forbidden {
        /// What was refused.
        permission: Permission,
        /// The API server's message.
        message: String,
    },
    /// A request to the API server failed.
    #[error("{action}: {source}")]
    Api {
        /// What was being done.
        action: String,
        /// The client's error.
        #[source]
        source: Box<kube::Error>,
    },
    /// A checkpoint could not be loaded or saved.
    #[error("checkpoint {store}: {action}: {source}")]
    Checkpoint {
        /// The store (`file:…`, `configmap:…`).
        store: String,
        /// What was being done.
        action: String,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The sink failed; what it committed before is checkpointed.
    #[error(transparent)]
    Sink(#[from] crate::sink::SinkError),
    /// The API server answered with something that is not what the API promises.
    #[error("{action}: unexpected response: {message}")]
    Protocol {
        /// What was being done.
        action: String,
        /// What was wrong.
        message: String,
    },
}

impl Error {
    /// Whether this error is a refused permission.
    pub fn is_forbidden(&self) -> bool {
        matches!(self, Error::Forbidden { .. })
    }

    /// Wraps a client error, turning 403 into [`Error::Forbidden`] for `permission`.
    pub(crate) fn from_kube(action: impl Into<String>, permission: Permission, err: kube::Error) -> Self {
        match err {
            kube::Error::Api(status) if status.code == 403 => Error::Forbidden {
                permission,
                message: status.message,
            },
            kube::Error::Api(status)
                if status.code == 400
                    && (status.message.contains("selector") || status.message.contains("requirement")) =>
            {
                Error::RejectedSelector {
                    message: status.message,
                }
            }
            err => Error::Api {
                action: action.into(),
                source: Box::new(err),
            },
        }
    }
}
