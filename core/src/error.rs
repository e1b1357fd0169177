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

impl Permission {
    /// `verb` on the one object `name` of `resource` in `namespace` (RBAC `resourceNames`);
    /// `create`, which RBAC cannot restrict to a name, is asked for the whole namespace.
    pub fn on_object(
        verb: &'static str,
        group: &'static str,
        resource: &'static str,
        namespace: &str,
        name: &str,
    ) -> Self {
        Self {
            verb,
            group,
            resource,
            namespace: Some(namespace.to_owned()),
            resource_name: (verb != "create").then(|| name.to_owned()),
        }
    }
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
    /// A workload reference (`deployment/web`) names nothing the run can export from.
    #[error("{workload}: {reason}")]
    NoSuchWorkload {
        /// The reference, as `kind/name`.
        workload: String,
        /// Why it selects nothing (not found, no selector).
        reason: String,
    },
    /// A label or field selector is not in the API's syntax (checked before any request).
    #[error("invalid {option} {selector:?}: {reason}")]
    InvalidSelector {
        /// The option the selector was given to (`-l/--selector`, `--field-selector`).
        option: &'static str,
        /// The selector as given.
        selector: String,
        /// What is wrong with it.
        #[source]
        reason: crate::selector::SelectorSyntaxError,
    },
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
    /// Another run owns the checkpoint (and the output it covers): this run wrote nothing.
    #[error(
        "{owner}: the checkpoint is owned by another run: {holder}{}. Two runs on one output would undo each \
         other's work. Let it finish (--wait-for-lock DURATION waits for it), stop it, or give this run its own \
         output and checkpoint; a killed run's hold ends by itself (a lock file's at once, a lease when it lapses)",
        waited.map(|w| format!(" (waited {})", humanize(w))).unwrap_or_default()
    )]
    OwnedElsewhere {
        /// Where ownership is recorded (`lock file …`, `lease ns/name`, `s3://…`).
        owner: String,
        /// The holder's record.
        holder: Box<crate::ownership::OwnerRecord>,
        /// How long this run waited for it, when it did.
        waited: Option<std::time::Duration>,
    },
    /// This run lost ownership of its checkpoint and stopped writing; the new owner resumes
    /// from the last checkpoint this run saved.
    #[error(
        "{owner}: this run lost ownership of the checkpoint: {reason}. It stopped writing; the new owner \
         resumes from the last checkpoint and undoes what this run wrote after it, so no line is lost or doubled. \
         Runs on one output should not overlap (CronJob concurrencyPolicy: Forbid, one follow replica)"
    )]
    LostOwnership {
        /// Where ownership is recorded.
        owner: String,
        /// Why: the hold lapsed, or who took over.
        reason: String,
    },
    /// A replica of a shard group splits the work into another number of shards than an
    /// older member: the two would own different shards holding the same pods.
    #[error(
        "shard group {group}: a member that joined earlier ({member}) splits the work into {theirs} shards, this \
         replica into {ours}. Every replica of a group must use the same --shards; change the count for all at once \
         (stop every replica first), or give this replica another --shard-group"
    )]
    ShardConflict {
        /// The group.
        group: String,
        /// The older member.
        member: String,
        /// Its count.
        theirs: u32,
        /// This replica's count.
        ours: u32,
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
    /// Whether another run owns the checkpoint (before this run wrote, or since it lost it).
    pub fn is_ownership(&self) -> bool {
        matches!(self, Error::OwnedElsewhere { .. } | Error::LostOwnership { .. })
    }

    /// Whether the selection names a workload that selects nothing: "nothing matched".
    pub fn is_nothing_matched(&self) -> bool {
        matches!(self, Error::NoSuchWorkload { .. })
    }

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
            // Syntax is checked before any request; a field the resource does not support
            // ("field label not supported: spec.foo") is what only the server can refuse.
            kube::Error::Api(status)
                if status.code == 400
                    && ["selector", "requirement", "field label"]
                        .iter()
                        .any(|word| status.message.contains(word)) =>
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

/// `90s`, `5m`: a duration as a person writes it.
fn humanize(duration: std::time::Duration) -> String {
    let secs = duration.as_secs();
    if secs >= 60 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}
