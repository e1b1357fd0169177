//! Where an archive is: a prefix of an object store, or the file sink's directory. Listing
//! and opening, and the one function that turns a URL into a store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt as _, TryStreamExt as _};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _};
use tokio::io::AsyncReadExt as _;

use super::{ReadError, StoreFailure};
use crate::object::location::prefixed;
use crate::object::{Backend, ObjectStoreConfig};

/// Bytes read from a file at once.
const FILE_CHUNK: usize = 256 * 1024;

/// An archive's location.
#[derive(Debug, Clone)]
pub enum Source {
    /// Objects under a prefix of a store, as the S3 sink writes them.
    Store {
        /// The store (any `object_store` backend: S3, in-memory, ...).
        store: Arc<dyn ObjectStore>,
        /// The bucket or container, for messages.
        bucket: String,
        /// The key prefix, without leading or trailing `/`; empty for none.
        prefix: String,
        /// Which kind of store, for messages (`s3://`, `az://`, `gs://`).
        backend: Backend,
    },
    /// The directory the file sink wrote.
    Directory(PathBuf),
}

impl Source {
    /// Objects under `prefix` of `store`; `bucket` names it in messages.
    pub fn store(store: Arc<dyn ObjectStore>, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        Source::Store {
            store,
            bucket: bucket.into(),
            prefix: prefix.into().trim_matches('/').to_owned(),
            backend: Backend::S3,
        }
    }

    /// The same source, its store named as `backend`'s in messages (default S3).
    #[must_use]
    pub fn in_backend(mut self, backend: Backend) -> Self {
        if let Source::Store { backend: named, .. } = &mut self {
            *named = backend;
        }
        self
    }

    /// The file sink's directory `dir`.
    pub fn directory(dir: impl Into<PathBuf>) -> Self {
        Source::Directory(dir.into())
    }

    /// The source a user names: `s3://bucket[/prefix]`, `az://container[/prefix]` (or
    /// `azure://`), `gs://bucket[/prefix]` — the client made as the object sink makes it from
    /// `settings` ([`ObjectStoreConfig::open`]: endpoint, region, credentials from the
    /// environment) — or a directory path.
    ///
    /// # Errors
    /// [`ReadError::InvalidSource`] for an unknown scheme, a store this build lacks, a URL
    /// without a bucket, or a client that cannot be configured.
    pub fn open(source: &str, settings: &ObjectStoreConfig) -> Result<Self, ReadError> {
        if !source.contains("://") {
            return Ok(Source::directory(source));
        }
        let config = ObjectStoreConfig {
            url: source.to_owned(),
            ..settings.clone()
        };
        let (store, location) = config.open().map_err(|err| ReadError::InvalidSource {
            source_name: source.to_owned(),
            reason: err.to_string(),
        })?;
        Ok(Source::store(store, location.bucket(), location.prefix()).in_backend(location.backend()))
    }

    /// How messages name it: `s3://bucket/prefix` or the directory.
    pub fn describe(&self) -> String {
        match self {
            Source::Store {
                bucket,
                prefix,
                backend,
                ..
            } if prefix.is_empty() => format!("{}://{bucket}", backend.scheme()),
            Source::Store {
                bucket,
                prefix,
                backend,
                ..
            } => format!("{}://{bucket}/{prefix}", backend.scheme()),
            Source::Directory(dir) => dir.display().to_string(),
        }
    }

    /// Every object (file) under `under` (relative to the prefix or directory; empty for all),
    /// with its size: keys relative to the prefix.
    pub(crate) async fn list(&self, under: &str) -> Result<Vec<(String, u64)>, ReadError> {
        match self {
            Source::Store {
                store,
                bucket,
                prefix,
                backend,
            } => {
                let full = prefixed(prefix, under.trim_end_matches('/'));
                let location = (!full.is_empty()).then(|| ObjectPath::from(full.as_str()));
                let strip = if prefix.is_empty() { 0 } else { prefix.len() + 1 };
                store
                    .list(location.as_ref())
                    .map_ok(|meta| {
                        (
                            meta.location.as_ref().get(strip..).unwrap_or_default().to_owned(),
                            meta.size,
                        )
                    })
                    .try_collect()
                    .await
                    .map_err(|err| store_error(*backend, bucket, &full, &err))
            }
            Source::Directory(dir) => {
                let root = dir.join(under);
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || list_dir(&dir, &root))
                    .await
                    .map_err(|err| ReadError::Io {
                        path: PathBuf::new(),
                        source: std::io::Error::other(err),
                    })?
            }
        }
    }

    /// The bytes of the object (file) `key`, as they arrive.
    pub(crate) async fn fetch(&self, key: &str) -> Result<BoxStream<'static, Result<Bytes, ReadError>>, ReadError> {
        match self {
            Source::Store {
                store,
                bucket,
                prefix,
                backend,
            } => {
                let full = prefixed(prefix, key);
                let result = store
                    .get(&ObjectPath::from(full.as_str()))
                    .await
                    .map_err(|err| store_error(*backend, bucket, &full, &err))?;
                let (bucket, backend) = (bucket.clone(), *backend);
                Ok(result
                    .into_stream()
                    .map_err(move |err| store_error(backend, &bucket, &full, &err))
                    .boxed())
            }
            Source::Directory(dir) => {
                let path = dir.join(key);
                let file = tokio::fs::File::open(&path).await.map_err(|source| ReadError::Io {
                    path: path.clone(),
                    source,
                })?;
                Ok(
                    futures::stream::try_unfold((file, path), |(mut file, path)| async move {
                        let mut buf = vec![0; FILE_CHUNK];
                        let read = file.read(&mut buf).await.map_err(|source| ReadError::Io {
                            path: path.clone(),
                            source,
                        })?;
                        buf.truncate(read);
                        Ok((read > 0).then(|| (Bytes::from(buf), (file, path))))
                    })
                    .boxed(),
                )
            }
        }
    }
}

fn list_dir(dir: &Path, root: &Path) -> Result<Vec<(String, u64)>, ReadError> {
    if !dir.is_dir() {
        return Err(ReadError::Store {
            target: dir.display().to_string(),
            failure: StoreFailure::Missing,
            message: "no such directory".into(),
            hint: "give a directory the file sink wrote (--dir of the export), or s3://bucket/prefix".into(),
        });
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = match entry {
            Ok(entry) => entry,
            // A sub-directory named by the selection that does not exist: nothing there.
            Err(err) if err.io_error().is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound) => continue,
            Err(err) => {
                let path = err.path().map(Path::to_path_buf).unwrap_or_default();
                return Err(ReadError::Io {
                    path,
                    source: err.into(),
                });
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(relative) = entry.path().strip_prefix(dir) else {
            continue;
        };
        let key: Vec<_> = relative.iter().map(|part| part.to_string_lossy()).collect();
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        files.push((key.join("/"), size));
    }
    Ok(files)
}

/// A store's error as what the user can do about it.
fn store_error(backend: Backend, bucket: &str, key: &str, err: &object_store::Error) -> ReadError {
    let (code, message, hint) = crate::object::upload::explain(backend, bucket, err);
    let scheme = backend.scheme();
    let target = if key.is_empty() {
        format!("{scheme}://{bucket}")
    } else {
        format!("{scheme}://{bucket}/{key}")
    };
    if backend != Backend::S3 {
        // Azure's and GCS's codes, with the hints the object sink gives for them.
        let no_credentials = message.contains("169.254.169.254") || message.contains("token request");
        let (failure, hint) = match code.as_str() {
            "ContainerNotFound" | "NotFound" | "404" => (StoreFailure::Missing, hint),
            "AuthenticationFailed" | "AuthorizationFailure" | "AuthorizationPermissionMismatch" | "403" | "401" => {
                (StoreFailure::Denied, hint)
            }
            _ if no_credentials => (
                StoreFailure::Denied,
                "no credentials were found: set GOOGLE_APPLICATION_CREDENTIALS (GCS) or AZURE_STORAGE_ACCOUNT_KEY \
                 (Azure), or run where a workload identity is available"
                    .to_owned(),
            ),
            "unreachable" => (
                StoreFailure::Unreachable,
                "the endpoint did not answer, even after the retries: check --s3-endpoint and the network".to_owned(),
            ),
            _ => (StoreFailure::Other, format!("the store answered {code}")),
        };
        return ReadError::Store {
            target,
            failure,
            message,
            hint,
        };
    }
    // No credentials anywhere: object_store asked the instance metadata service last.
    let no_credentials = message.contains("169.254.169.254") || message.contains("credential");
    let (failure, hint) = match code.as_str() {
        "NoSuchBucket" => (
            StoreFailure::Missing,
            format!(
                "the bucket {bucket} does not exist at this endpoint: check the URL, --s3-endpoint and --s3-region"
            ),
        ),
        "AccessDenied" | "AllAccessDisabled" | "AccountProblem" => (
            StoreFailure::Denied,
            format!(
                "these credentials may not read there: grant s3:ListBucket on arn:aws:s3:::{bucket} and s3:GetObject on its objects, or use other credentials"
            ),
        ),
        "InvalidAccessKeyId"
        | "NotSignedUp"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "TokenRefreshRequired"
        | "InvalidToken"
        | "Unauthenticated" => (
            StoreFailure::Denied,
            "the store refused the credentials: check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and \
             AWS_SESSION_TOKEN), and that --s3-endpoint is the store they belong to"
                .to_owned(),
        ),
        _ if no_credentials => (
            StoreFailure::Denied,
            "no credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or run \
             where a role is available"
                .to_owned(),
        ),
        "unreachable" => (
            StoreFailure::Unreachable,
            "the endpoint did not answer, even after the retries: check --s3-endpoint (or AWS_ENDPOINT), the network, \
             and --s3-allow-http for http:// endpoints"
                .to_owned(),
        ),
        _ => (StoreFailure::Other, format!("the store answered {code}")),
    };
    ReadError::Store {
        target,
        failure,
        message,
        hint,
    }
}
