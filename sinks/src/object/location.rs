//! [`StoreLocation`]: what an object-store URL names — the store ([`Backend`]), the bucket (or
//! Azure container) and the key prefix. Parsed in every build, so a configuration is checked
//! the same way whichever backends were compiled in.

use std::fmt;

use kle_core::SinkError;

/// The kind of object store a URL names, by its scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// Amazon S3 or an S3-compatible store: `s3://bucket/prefix` (cargo feature `s3`).
    S3,
    /// Azure Blob Storage or Azurite: `az://container/prefix` or `azure://container/prefix`
    /// (cargo feature `azure`).
    Azure,
    /// Google Cloud Storage or an emulator: `gs://bucket/prefix` (cargo feature `gcp`).
    Gcs,
}

impl Backend {
    /// The URL scheme written in descriptions and messages (`s3`, `az`, `gs`).
    pub fn scheme(self) -> &'static str {
        match self {
            Backend::S3 => "s3",
            Backend::Azure => "az",
            Backend::Gcs => "gs",
        }
    }

    /// The cargo feature of kle-sinks that compiles this backend in.
    pub fn feature(self) -> &'static str {
        match self {
            Backend::S3 => "s3",
            Backend::Azure => "azure",
            Backend::Gcs => "gcp",
        }
    }

    /// The store's name for people (`S3`, `Azure Blob`, `GCS`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::S3 => "S3",
            Backend::Azure => "Azure Blob",
            Backend::Gcs => "GCS",
        }
    }

    /// What the store calls a bucket (`bucket`, or `container` for Azure).
    pub fn bucket_word(self) -> &'static str {
        match self {
            Backend::Azure => "container",
            Backend::S3 | Backend::Gcs => "bucket",
        }
    }

    /// Whether this build has the backend.
    pub fn compiled(self) -> bool {
        match self {
            Backend::S3 => cfg!(feature = "s3"),
            Backend::Azure => cfg!(feature = "azure"),
            Backend::Gcs => cfg!(feature = "gcp"),
        }
    }

    fn from_scheme(scheme: &str) -> Option<Self> {
        match scheme {
            "s3" => Some(Backend::S3),
            "az" | "azure" => Some(Backend::Azure),
            "gs" => Some(Backend::Gcs),
            _ => None,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where objects are: the store, the bucket (Azure: the container) and the key prefix, as an
/// object-store URL names them (`s3://logs/cluster-a`, `az://logs/cluster-a`,
/// `gs://logs/cluster-a`).
///
/// ```
/// use kle_sinks::object::{Backend, StoreLocation};
///
/// let at = StoreLocation::parse("azure://logs/cluster-a/")?;
/// assert_eq!((at.backend(), at.bucket(), at.prefix()), (Backend::Azure, "logs", "cluster-a"));
/// assert_eq!(at.url(), "az://logs/cluster-a");
/// assert_eq!(at.key("x.json"), "cluster-a/x.json");
/// assert!(StoreLocation::parse("ftp://logs").is_err());
/// # Ok::<(), kle_core::SinkError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreLocation {
    backend: Backend,
    bucket: String,
    prefix: String,
}

impl StoreLocation {
    /// Parses `s3://bucket[/prefix]`, `az://container[/prefix]` (or `azure://`) or
    /// `gs://bucket[/prefix]`. Only the URL is checked: whether this build has the backend is
    /// [`Backend::compiled`]'s business, and [`open_store`](crate::object::open_store)'s.
    ///
    /// # Errors
    /// [`SinkError::InvalidConfig`]: an unknown scheme, no bucket, or a prefix with empty, `.`
    /// or `..` parts or control characters.
    pub fn parse(url: &str) -> Result<Self, SinkError> {
        let invalid = |reason: String| SinkError::InvalidConfig { sink: "s3", reason };
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(invalid(format!(
                "the url {url:?} must look like s3://bucket/prefix, az://container/prefix or gs://bucket/prefix"
            )));
        };
        let Some(backend) = Backend::from_scheme(scheme) else {
            return Err(invalid(format!(
                "the url {url:?} names an unknown store {scheme:?}: use s3:// (S3), az:// or azure:// (Azure Blob) \
                 or gs:// (Google Cloud Storage)"
            )));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            let word = backend.bucket_word();
            return Err(invalid(format!(
                "the url {url:?} names no {word}: use {scheme}://{word}/prefix"
            )));
        }
        if bucket.contains(|c: char| c.is_control() || c.is_whitespace() || c == '@' || c == ':') {
            return Err(invalid(format!(
                "the {} {bucket:?} in {url:?} is not a valid name",
                backend.bucket_word()
            )));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|part| matches!(part, "." | ".."))
            || prefix.contains("//")
            || prefix.contains(char::is_control)
        {
            return Err(invalid(format!(
                "the prefix {prefix:?} must not contain empty, `.` or `..` parts, or control characters"
            )));
        }
        Ok(Self {
            backend,
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// The store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The bucket (Azure: the container).
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix, without leading or trailing `/`; empty for none.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The key of `name` under the prefix.
    pub fn key(&self, name: &str) -> String {
        prefixed(&self.prefix, name)
    }

    /// The URL of the location, normalised: `az://` for Azure, no trailing `/`.
    pub fn url(&self) -> String {
        self.describe_key(&self.prefix)
    }

    /// The URL of `key` (a full key, prefix included) in this bucket, for messages.
    pub fn describe_key(&self, key: &str) -> String {
        if key.is_empty() {
            format!("{}://{}", self.backend.scheme(), self.bucket)
        } else {
            format!("{}://{}/{key}", self.backend.scheme(), self.bucket)
        }
    }
}

/// The error for a store whose cargo feature this build lacks.
pub(crate) fn not_compiled(backend: Backend) -> SinkError {
    SinkError::NotCompiled {
        sink: match backend {
            Backend::S3 => "s3",
            Backend::Azure => "azure",
            Backend::Gcs => "gcs",
        },
        feature: backend.feature(),
    }
}

/// `name` under `prefix` (which has no leading or trailing `/`).
pub(crate) fn prefixed(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme_and_its_mistakes() {
        let s3 = StoreLocation::parse("s3://logs").unwrap();
        assert_eq!((s3.backend(), s3.bucket(), s3.prefix()), (Backend::S3, "logs", ""));
        assert_eq!(s3.url(), "s3://logs");
        let gs = StoreLocation::parse("gs://logs/a/b/").unwrap();
        assert_eq!(
            (gs.backend(), gs.prefix(), gs.url().as_str()),
            (Backend::Gcs, "a/b", "gs://logs/a/b")
        );
        assert_eq!(
            StoreLocation::parse("az://c/p").unwrap(),
            StoreLocation::parse("azure://c/p").unwrap()
        );
        for (url, needle) in [
            ("logs/a", "must look like"),
            ("ftp://logs", "unknown store \"ftp\""),
            ("az:///p", "names no container"),
            ("gs://b/a/../c", "`..`"),
            ("s3://b/a//c", "empty"),
        ] {
            let err = StoreLocation::parse(url).unwrap_err().to_string();
            assert!(err.contains(needle), "{url}: {err}");
        }
    }
}
