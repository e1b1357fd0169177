//! [`SinkError`]: the error of [`Sink`](super::Sink)s and of building them.

use std::fmt::Display;
use std::io;

/// Errors of building, writing to and committing sinks.
///
/// The messages name what was being written and what to do about it, so the command line can
/// print them as they are.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The reader of the output went away (a closed pipe, as with `| head`).
    ///
    /// Not a failure of the export as such: a command line usually stops quietly on it.
    #[error("{target} was closed by its reader; stopping")]
    Closed {
        /// What was closed (`stdout`).
        target: String,
    },
    /// The disk (or the user's quota on it) is full.
    #[error("no space left on the disk while {action} {target}: free some space there or export to another disk")]
    DiskFull {
        /// What was being done (`writing`, `syncing`, `creating directory`).
        action: &'static str,
        /// The file or output concerned.
        target: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The operating system refused access.
    #[error("permission denied while {action} {target}: make it writable for this user or export elsewhere")]
    PermissionDenied {
        /// What was being done.
        action: &'static str,
        /// The file or output concerned.
        target: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Another input/output error.
    #[error("{action} {target}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or output concerned.
        target: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A path or key template cannot be used.
    #[error("invalid layout {layout:?}: {reason}")]
    InvalidLayout {
        /// The template as given.
        layout: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A sink configuration cannot be built.
    #[error("invalid {sink} sink configuration: {reason}")]
    InvalidConfig {
        /// The sink type (`file`, `stdout`).
        sink: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// An object store refused an upload, or could not be reached after the retries.
    ///
    /// Nothing in the object counts as delivered; a later commit uploads it again under the
    /// same key.
    #[error("{0}")]
    Upload(Box<UploadFailure>),
    /// A configuration file cannot be used; the message gives the line and the key.
    #[error("{}: {message}", path.display())]
    ConfigFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong, where.
        message: String,
    },
    /// The configuration names a sink this build does not include.
    #[error("this build has no {sink} sink: rebuild kle-sinks with the cargo feature `{feature}`")]
    NotCompiled {
        /// The sink type asked for.
        sink: &'static str,
        /// The cargo feature that provides it.
        feature: &'static str,
    },
}

/// Why an upload failed: the object, the store's own error code and message, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadFailure {
    /// The URL scheme of the store (`s3`, `az`, `gs`); `s3` unless [set](Self::with_scheme).
    pub scheme: String,
    /// The bucket (Azure: the container).
    pub bucket: String,
    /// The object key.
    pub key: String,
    /// The store's error code (`NoSuchBucket`, `AccessDenied`, `SignatureDoesNotMatch`), or a
    /// description of the failure when the store gave none (`unreachable`, `HTTP 500`).
    pub code: String,
    /// The store's message, or the client's error.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl UploadFailure {
    /// The failure of uploading `key` to `bucket`: the store's `code` and `message`, and `hint`,
    /// what to do about it.
    pub fn new(
        bucket: impl Into<String>,
        key: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            scheme: "s3".to_owned(),
            bucket: bucket.into(),
            key: key.into(),
            code: code.into(),
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// The same failure in a store of another scheme (`az`, `gs`).
    #[must_use]
    pub fn with_scheme(mut self, scheme: impl Into<String>) -> Self {
        self.scheme = scheme.into();
        self
    }
}

impl std::fmt::Display for UploadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "uploading {}://{}/{} failed: {}: {}; {}",
            self.scheme, self.bucket, self.key, self.code, self.message, self.hint
        )
    }
}

impl SinkError {
    /// Classifies an I/O error: a broken pipe, a full disk and a refused permission get their
    /// own variants, so callers can react (stop quietly, tell the user to free space).
    pub fn from_io(action: &'static str, target: impl Display, source: io::Error) -> Self {
        let target = target.to_string();
        match source.kind() {
            io::ErrorKind::BrokenPipe => SinkError::Closed { target },
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => SinkError::DiskFull { action, target, source },
            io::ErrorKind::PermissionDenied => SinkError::PermissionDenied { action, target, source },
            _ => SinkError::Io { action, target, source },
        }
    }

    /// The upload failure, for [`SinkError::Upload`].
    pub fn upload_failure(&self) -> Option<&UploadFailure> {
        match self {
            SinkError::Upload(failure) => Some(failure),
            _ => None,
        }
    }

    /// Whether the output's reader went away ([`SinkError::Closed`]).
    pub fn is_closed(&self) -> bool {
        matches!(self, SinkError::Closed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn io_errors_are_classified_by_kind() {
        let enospc = SinkError::from_io("writing", "/data/a.log", io::Error::from_raw_os_error(28));
        assert!(matches!(enospc, SinkError::DiskFull { .. }), "{enospc:?}");
        let message = enospc.to_string();
        assert!(
            message.contains("no space left") && message.contains("/data/a.log"),
            "{message}"
        );

        let edquot = SinkError::from_io("writing", "x", io::Error::from_raw_os_error(122));
        assert!(matches!(edquot, SinkError::DiskFull { .. }), "{edquot:?}");

        let eacces = SinkError::from_io("opening", "/data/b.log", io::Error::from_raw_os_error(13));
        assert!(matches!(eacces, SinkError::PermissionDenied { .. }));
        assert!(
            eacces
                .to_string()
                .contains("permission denied while opening /data/b.log")
        );

        let epipe = SinkError::from_io("writing", "stdout", io::Error::from_raw_os_error(32));
        assert!(epipe.is_closed());

        let other = SinkError::from_io("writing", "x", io::Error::other("boom"));
        assert!(matches!(other, SinkError::Io { .. }));
        assert!(!other.is_closed());
    }
}
