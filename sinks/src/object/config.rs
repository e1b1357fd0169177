//! [`ObjectStoreConfig`]: the object sink as a user describes it. In every build, like the other
//! variants of [`SinkConfig`](crate::SinkConfig); building it needs the cargo feature of the
//! URL's store (`s3`, `azure`, `gcp`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::encode::Format;
use crate::encode::FormatKind;
use crate::layout::Layout;
use crate::object::location::{Backend, StoreLocation};
use kle_core::Sink;
use kle_core::SinkError;

/// The default object key template, under the URL's prefix; the sink appends the extension
/// (`.log.zst` by default, see [`ObjectStoreConfig::extension`]).
pub const DEFAULT_KEY_TEMPLATE: &str = "{namespace}/{pod}/{container}/{date}/{first_ts}-{last_ts}-{lines}-{hash}";

/// Default [`ObjectStoreConfig::max_object_bytes`]: 8 MiB of log lines, before compression.
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 8 * 1024 * 1024;

/// Default [`ObjectStoreConfig::max_object_age_secs`]: 5 minutes.
pub const DEFAULT_MAX_OBJECT_AGE: Duration = Duration::from_secs(300);

/// The smallest multipart part S3 accepts (every part but the last).
pub const MIN_PART_BYTES: usize = 5 * 1024 * 1024;

/// How objects are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Compression {
    /// Uncompressed.
    None,
    /// gzip (`.gz`): readable everywhere (`zcat`, Athena, browsers).
    Gzip,
    /// Zstandard (`.zst`), level 3: faster and smaller than gzip.
    #[default]
    Zstd,
}

impl Compression {
    /// The file extension it adds (`.gz`, `.zst`, or nothing).
    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
        }
    }
}

/// Configuration of the object sink: S3 (feature `s3`), Azure Blob (feature `azure`) or Google
/// Cloud Storage (feature `gcp`), picked by the URL's scheme. Its older name, [`S3Config`], is
/// the same type.
///
/// ```yaml
/// type: s3                             # or `object`: the URL's scheme picks the store
/// url: s3://my-logs/cluster-a          # s3://bucket/prefix, az://container/prefix, gs://bucket/prefix
/// key_template: "{namespace}/{pod}/{container}/{date}/{first_ts}-{last_ts}-{lines}-{hash}"
/// format: raw                          # raw (with timestamps) | text | json
/// compression: zstd                    # none | gzip | zstd
/// max_object_bytes: 8388608            # roll an object at 8 MiB of lines...
/// max_object_age_secs: 300             # ...or 5 minutes after its first line
/// endpoint: http://127.0.0.1:9000      # S3-compatible stores, Azurite, a GCS emulator
/// region: eu-west-1                    # S3; default from AWS_REGION
/// allow_http: true
/// storage_class: STANDARD_IA           # S3 storage class, GCS storage class, Azure access tier
/// sse_kms_key_id: arn:aws:kms:...      # S3: SSE-KMS with this key
/// # sse_customer_key_file: /keys/sse-c # S3: SSE-C, a file holding the base64 of a 32-byte key
/// # account: mystorageaccount          # Azure: default AZURE_STORAGE_ACCOUNT_NAME
/// # use_emulator: true                 # Azure: Azurite's well-known account and key
/// # anonymous: true                    # GCS: unsigned requests (an emulator)
/// ```
/// Credentials come from the environment as each store's tools read it, through
/// `object_store`'s `from_env` builders: S3 `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, web identity / IRSA, ECS, instance metadata (every `AWS_*` setting
/// object_store knows); Azure `AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY`,
/// `AZURE_STORAGE_SAS_KEY`, `AZURE_CLIENT_ID`/`AZURE_CLIENT_SECRET`/`AZURE_TENANT_ID`, workload
/// identity, managed identity (every `AZURE_*`); GCS `GOOGLE_SERVICE_ACCOUNT` (a key file),
/// `GOOGLE_APPLICATION_CREDENTIALS`, instance metadata (every `GOOGLE_*`). The fields here
/// override them. A field that does not apply to the URL's store (`region` for `gs://`) is
/// refused, not ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ObjectStoreConfig {
    /// `s3://bucket/prefix`, `az://container/prefix` (or `azure://`), `gs://bucket/prefix`:
    /// keys are `prefix/<key_template>.<extension>`.
    pub url: String,
    /// Object key template under the prefix; default [`DEFAULT_KEY_TEMPLATE`]. Must contain
    /// `{first_ts}`, `{last_ts}` and `{hash}` (so the same lines always get the same key and
    /// two objects never share one), `{container}`, and `{pod}` or `{pod_uid}`.
    #[serde(default = "default_key_template")]
    pub key_template: String,
    /// Encoding; default `raw`.
    #[serde(default = "default_format")]
    pub format: FormatKind,
    /// Keep the API's timestamps (`raw`, `text`); default true.
    #[serde(default = "default_true")]
    pub timestamps: bool,
    /// Compression; default `zstd`.
    #[serde(default)]
    pub compression: Compression,
    /// Roll an object when its lines reach this many bytes, before compression; default 8 MiB.
    #[serde(default = "default_max_object_bytes")]
    pub max_object_bytes: u64,
    /// Roll an object this long after it was opened; default 300. Also the interval at which
    /// the command line commits (see the sink's documentation).
    #[serde(default = "default_max_object_age_secs")]
    pub max_object_age_secs: u64,
    /// Endpoint: of an S3-compatible store (`http://127.0.0.1:9000`; default `AWS_ENDPOINT`,
    /// else AWS for the region), of the Azure account's blob service (default
    /// `https://ACCOUNT.blob.core.windows.net`; with `use_emulator`, Azurite's address such as
    /// `http://127.0.0.1:10000`), or GCS's base URL (an emulator's; default Google's).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// S3 only: region; default `AWS_REGION`, else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Allow `http://` endpoints; default false (or `AWS_ALLOW_HTTP`, `AZURE_ALLOW_HTTP`,
    /// `GOOGLE_ALLOW_HTTP`).
    #[serde(default)]
    pub allow_http: bool,
    /// S3 only: virtual-hosted-style requests (`bucket.host/key`); default false: path-style
    /// (`host/bucket/key`), which every S3-compatible store accepts.
    #[serde(default)]
    pub virtual_hosted_style: bool,
    /// The storage class of the exported objects (not of the checkpoint, which is small and
    /// rewritten often): S3's `x-amz-storage-class` (`STANDARD_IA`, `INTELLIGENT_TIERING`,
    /// `GLACIER_IR`...), GCS's storage class (`NEARLINE`, `COLDLINE`...), Azure's access tier
    /// (`Hot`, `Cool`, `Cold`). Default: the bucket's.
    #[serde(default)]
    pub storage_class: Option<String>,
    /// S3 only: server-side encryption with this AWS KMS key (id, alias or ARN): SSE-KMS, on
    /// every object and the checkpoint. Default: the bucket's encryption (or
    /// `AWS_SERVER_SIDE_ENCRYPTION` / `AWS_SSE_KMS_KEY_ID`).
    #[serde(default)]
    pub sse_kms_key_id: Option<String>,
    /// S3 only: server-side encryption with a key of your own (SSE-C), read from this file:
    /// the base64 of 32 bytes. Every request then carries the key, reads included; lose it and
    /// the objects cannot be read. Default: none (or `AWS_SSE_CUSTOMER_KEY_BASE64`).
    #[serde(default)]
    pub sse_customer_key_file: Option<PathBuf>,
    /// Azure only: the storage account; default `AZURE_STORAGE_ACCOUNT_NAME` (Azurite's
    /// `devstoreaccount1` with `use_emulator`).
    #[serde(default)]
    pub account: Option<String>,
    /// Azure only: talk to Azurite with its well-known account and key, at `endpoint` or else
    /// `AZURITE_BLOB_STORAGE_URL` (default `http://127.0.0.1:10000`); default false (or
    /// `AZURE_STORAGE_USE_EMULATOR`).
    #[serde(default)]
    pub use_emulator: bool,
    /// GCS only: send requests without credentials (an emulator, a public bucket); the
    /// `GOOGLE_*` environment is then ignored. Default false.
    #[serde(default)]
    pub anonymous: bool,
    /// Retries of a failed request (5xx, timeouts, connection errors) before giving up; default 10.
    #[serde(default = "default_max_retries")]
    pub max_retries: usize,
    /// Longest time spent retrying one request; default 180.
    #[serde(default = "default_retry_timeout_secs")]
    pub retry_timeout_secs: u64,
    /// Timeout of one request; default 60.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Timeout of connecting to the endpoint; default 5.
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: u64,
    /// The cluster whose lines this sink writes, for a run that names clusters (set with
    /// [`SinkConfig::with_cluster`](crate::SinkConfig::with_cluster), never read from a file).
    #[serde(skip)]
    pub cluster: Option<String>,
}

fn default_key_template() -> String {
    DEFAULT_KEY_TEMPLATE.to_owned()
}

fn default_format() -> FormatKind {
    FormatKind::Raw
}

fn default_true() -> bool {
    true
}

fn default_max_object_bytes() -> u64 {
    DEFAULT_MAX_OBJECT_BYTES
}

fn default_max_object_age_secs() -> u64 {
    DEFAULT_MAX_OBJECT_AGE.as_secs()
}

fn default_max_retries() -> usize {
    10
}

fn default_retry_timeout_secs() -> u64 {
    180
}

fn default_request_timeout_secs() -> u64 {
    60
}

fn default_connect_timeout_secs() -> u64 {
    5
}

impl ObjectStoreConfig {
    /// The configuration for `url` (`s3://bucket/prefix`), with the defaults: the API's bytes
    /// with timestamps, zstd, objects of at most 8 MiB or 5 minutes.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key_template: default_key_template(),
            format: default_format(),
            timestamps: true,
            compression: Compression::default(),
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
            max_object_age_secs: default_max_object_age_secs(),
            endpoint: None,
            region: None,
            allow_http: false,
            virtual_hosted_style: false,
            storage_class: None,
            sse_kms_key_id: None,
            sse_customer_key_file: None,
            account: None,
            use_emulator: false,
            anonymous: false,
            max_retries: default_max_retries(),
            retry_timeout_secs: default_retry_timeout_secs(),
            request_timeout_secs: default_request_timeout_secs(),
            connect_timeout_secs: default_connect_timeout_secs(),
            cluster: None,
        }
    }

    /// Sets the key template.
    #[must_use]
    pub fn with_key_template(mut self, template: impl Into<String>) -> Self {
        self.key_template = template.into();
        self
    }

    /// Sets the encoding and whether timestamps are kept.
    #[must_use]
    pub fn with_format(mut self, format: FormatKind, timestamps: bool) -> Self {
        self.format = format;
        self.timestamps = timestamps;
        self
    }

    /// Sets the compression.
    #[must_use]
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Sets the size (before compression) and age at which an object is rolled.
    #[must_use]
    pub fn with_max_object(mut self, bytes: u64, age: Duration) -> Self {
        self.max_object_bytes = bytes;
        self.max_object_age_secs = age.as_secs();
        self
    }

    /// Sets the endpoint and whether `http://` is allowed.
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: impl Into<String>, allow_http: bool) -> Self {
        self.endpoint = Some(endpoint.into());
        self.allow_http = allow_http;
        self
    }

    /// Sets the region.
    #[must_use]
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Azure: talks to Azurite with its well-known account and key (at the endpoint, when set).
    #[must_use]
    pub fn with_emulator(mut self, use_emulator: bool) -> Self {
        self.use_emulator = use_emulator;
        self
    }

    /// GCS: sends requests unsigned (an emulator, a public bucket).
    #[must_use]
    pub fn with_anonymous(mut self, anonymous: bool) -> Self {
        self.anonymous = anonymous;
        self
    }

    /// Sets the storage class of the exported objects (Azure: the access tier).
    #[must_use]
    pub fn with_storage_class(mut self, class: impl Into<String>) -> Self {
        self.storage_class = Some(class.into());
        self
    }

    /// S3: encrypts with SSE-KMS under this key.
    #[must_use]
    pub fn with_sse_kms(mut self, key_id: impl Into<String>) -> Self {
        self.sse_kms_key_id = Some(key_id.into());
        self
    }

    /// S3: encrypts with SSE-C, the key read from this file (base64 of 32 bytes).
    #[must_use]
    pub fn with_sse_customer_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.sse_customer_key_file = Some(path.into());
        self
    }

    /// Sets how often and how long a failed request is retried, and the request timeouts.
    #[must_use]
    pub fn with_retries(mut self, max_retries: usize, retry_timeout: Duration, request_timeout: Duration) -> Self {
        self.max_retries = max_retries;
        self.retry_timeout_secs = retry_timeout.as_secs();
        self.request_timeout_secs = request_timeout.as_secs().max(1);
        self.connect_timeout_secs = self.connect_timeout_secs.min(self.request_timeout_secs);
        self
    }

    /// The format written (never coloured).
    pub fn format(&self) -> Format {
        self.format.with(self.timestamps, false)
    }

    /// The longest time an object stays open: the interval to commit at.
    pub fn max_object_age(&self) -> Duration {
        Duration::from_secs(self.max_object_age_secs)
    }

    /// The extension of the objects: `.log` or `.ndjson`, then the compression's.
    pub fn extension(&self) -> String {
        extension(self.format(), self.compression)
    }

    /// Checks everything that can be checked without contacting the store — the URL, the
    /// format, the key template and the numbers — once, into the settings the sink and the
    /// checkpoint store are built from.
    ///
    /// # Errors
    /// [`SinkError::InvalidConfig`] or [`SinkError::InvalidLayout`], for the first problem.
    pub fn validated(&self) -> Result<ValidObjectStoreConfig, SinkError> {
        let location = StoreLocation::parse(&self.url)?;
        self.format.refuse_template("s3")?;
        let mut key_layout = parse_key_template(&self.key_template)?;
        if let Some(cluster) = &self.cluster {
            key_layout = key_layout.with_cluster(cluster);
        }
        let invalid = |reason: String| SinkError::InvalidConfig { sink: "s3", reason };
        if self.max_object_bytes == 0 {
            return Err(invalid("`max_object_bytes` must be at least 1".into()));
        }
        if self.max_object_age_secs == 0 {
            return Err(invalid("`max_object_age_secs` must be at least 1".into()));
        }
        if self.request_timeout_secs == 0 || self.connect_timeout_secs == 0 {
            return Err(invalid(
                "the request and connect timeouts must be at least 1 second".into(),
            ));
        }
        let backend = location.backend();
        // Each store's own settings, refused elsewhere rather than silently ignored.
        let misplaced: &[(&str, bool, Backend)] = &[
            ("region", self.region.is_some(), Backend::S3),
            ("virtual_hosted_style", self.virtual_hosted_style, Backend::S3),
            ("sse_kms_key_id", self.sse_kms_key_id.is_some(), Backend::S3),
            (
                "sse_customer_key_file",
                self.sse_customer_key_file.is_some(),
                Backend::S3,
            ),
            ("account", self.account.is_some(), Backend::Azure),
            ("use_emulator", self.use_emulator, Backend::Azure),
            ("anonymous", self.anonymous, Backend::Gcs),
        ];
        if let Some((key, _, owner)) = misplaced.iter().find(|(_, set, owner)| *set && *owner != backend) {
            return Err(invalid(format!(
                "`{key}` is a setting of {owner} ({}://), and the url {:?} is {backend}: remove it",
                owner.scheme(),
                self.url
            )));
        }
        if self.sse_kms_key_id.as_deref().is_some_and(|id| id.trim().is_empty()) {
            return Err(invalid(
                "`sse_kms_key_id` is empty: give the KMS key's id, alias or ARN".into(),
            ));
        }
        if self.storage_class.as_deref().is_some_and(|class| {
            class.is_empty()
                || !class
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        }) {
            return Err(invalid(format!(
                "the storage class {:?} is not a storage class name (letters, digits, `_`, `-`: STANDARD_IA, \
                 NEARLINE, Cool)",
                self.storage_class.as_deref().unwrap_or_default()
            )));
        }
        let customer_key = match &self.sse_customer_key_file {
            None => None,
            Some(path) => {
                if self.sse_kms_key_id.is_some() {
                    return Err(invalid(
                        "`sse_kms_key_id` and `sse_customer_key_file` exclude each other: an object is encrypted \
                         one way"
                            .into(),
                    ));
                }
                Some(CustomerKey(read_customer_key(path).map_err(invalid)?))
            }
        };
        Ok(ValidObjectStoreConfig {
            config: self.clone(),
            location,
            key_layout,
            customer_key,
        })
    }

    /// Checks the URL, the key template and the numbers, without contacting the store: as
    /// [`ObjectStoreConfig::validated`], keeping nothing.
    ///
    /// # Errors
    /// [`SinkError::InvalidConfig`] or [`SinkError::InvalidLayout`].
    pub fn validate(&self) -> Result<(), SinkError> {
        self.validated().map(drop)
    }

    /// Builds the sink: an object_store client for the URL's store, from the environment and
    /// these settings ([`open_store`](crate::object::open_store)). Nothing is contacted until
    /// the first upload.
    ///
    /// # Errors
    /// As [`ObjectStoreConfig::validate`], the client's configuration errors, or
    /// [`SinkError::NotCompiled`] without the store's feature.
    pub fn build(&self) -> Result<Box<dyn Sink>, SinkError> {
        let valid = self.validated()?;
        #[cfg(feature = "objects")]
        {
            Ok(Box::new(crate::object::ObjectSink::from_valid(&valid)?))
        }
        #[cfg(not(feature = "objects"))]
        {
            Err(crate::object::not_compiled(valid.location().backend()))
        }
    }
}

/// The SSE-C key in a file: the base64 of 32 bytes, surrounding whitespace ignored.
fn read_customer_key(path: &std::path::Path) -> Result<String, String> {
    use base64::Engine as _;
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read the SSE-C key file {}: {err}", path.display()))?;
    let key = text.trim();
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(bytes) if bytes.len() == 32 => Ok(key.to_owned()),
        Ok(bytes) => Err(format!(
            "the SSE-C key file {} holds {} bytes, and SSE-C needs 32 (AES-256): make one with \
             `head -c 32 /dev/urandom | base64`",
            path.display(),
            bytes.len()
        )),
        Err(_) => Err(format!(
            "the SSE-C key file {} is not base64: it must hold the base64 of 32 bytes (`head -c 32 /dev/urandom | \
             base64`)",
            path.display()
        )),
    }
}

/// An SSE-C key, never printed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct CustomerKey(pub(crate) String);

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustomerKey(..)")
    }
}

/// The older name of [`ObjectStoreConfig`], from when the sink wrote to S3 only.
pub type S3Config = ObjectStoreConfig;

/// The older name of [`ValidObjectStoreConfig`].
pub type ValidS3Config = ValidObjectStoreConfig;

/// An [`ObjectStoreConfig`] that passed [`ObjectStoreConfig::validated`]: its location (store,
/// bucket, prefix) and key template parsed, the SSE-C key read, the rest known to be usable.
/// The sink ([`ObjectSink::from_valid`]), the checkpoint store beside its objects
/// ([`ObjectCheckpointStore::from_valid`]) and a reader get their client from it through
/// [`open_store`](crate::object::open_store), so a configuration is checked once however many
/// things are built from it.
///
/// [`ObjectSink::from_valid`]: crate::object::ObjectSink::from_valid
/// [`ObjectCheckpointStore::from_valid`]: crate::object::ObjectCheckpointStore::from_valid
///
/// ```
/// use kle_sinks::object::ObjectStoreConfig;
///
/// let valid = ObjectStoreConfig::new("s3://logs/cluster-a/").validated()?;
/// assert_eq!((valid.bucket(), valid.prefix()), ("logs", "cluster-a"));
/// assert_eq!(valid.key(".kube-log-exporter-checkpoint.json"), "cluster-a/.kube-log-exporter-checkpoint.json");
/// assert!(ObjectStoreConfig::new("logs/cluster-a").validated().is_err());
/// # Ok::<(), kle_core::SinkError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ValidObjectStoreConfig {
    config: ObjectStoreConfig,
    location: StoreLocation,
    key_layout: Layout,
    customer_key: Option<CustomerKey>,
}

impl ValidObjectStoreConfig {
    /// The configuration as written (for the client's settings: endpoint, region, retries).
    pub fn config(&self) -> &ObjectStoreConfig {
        &self.config
    }

    /// The store, bucket and prefix of the URL.
    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    /// The bucket (Azure: the container).
    pub fn bucket(&self) -> &str {
        self.location.bucket()
    }

    /// The key prefix, without leading or trailing `/`; empty for none.
    pub fn prefix(&self) -> &str {
        self.location.prefix()
    }

    /// The parsed key template.
    pub fn key_layout(&self) -> &Layout {
        &self.key_layout
    }

    /// The key of `name` under the prefix.
    pub fn key(&self, name: &str) -> String {
        self.location.key(name)
    }

    /// The key of the sink's own object `base` (a checkpoint) under the prefix: one cluster's
    /// own ([`own_file_name`](crate::cluster::own_file_name)) when the key template has
    /// `{cluster}` and the sink is a cluster's, so two clusters' exports never share one.
    pub fn own_key(&self, base: &str) -> String {
        match &self.config.cluster {
            Some(cluster) if self.key_layout.uses_cluster() => self.key(&crate::cluster::own_file_name(base, cluster)),
            _ => self.key(base),
        }
    }

    /// The SSE-C key (base64), when `sse_customer_key_file` is set.
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    pub(crate) fn customer_key(&self) -> Option<&str> {
        self.customer_key.as_ref().map(|key| key.0.as_str())
    }
}

/// The extension of objects in `format` compressed with `compression`.
pub(crate) fn extension(format: Format, compression: Compression) -> String {
    let base = if format == Format::Json { ".ndjson" } else { ".log" };
    format!("{base}{}", compression.extension())
}

/// Parses a key template and checks that it names each object uniquely.
pub(crate) fn parse_key_template(template: &str) -> Result<Layout, SinkError> {
    let layout = Layout::parse(template)?;
    let missing: Vec<&str> = ["first_ts", "last_ts", "hash", "container"]
        .into_iter()
        .filter(|name| !layout.has_placeholder(name))
        .collect();
    let no_pod = !layout.has_placeholder("pod") && !layout.has_placeholder("pod_uid");
    if !missing.is_empty() || no_pod {
        let mut names: Vec<String> = missing.iter().map(|name| format!("{{{name}}}")).collect();
        if no_pod {
            names.push("{pod} or {pod_uid}".into());
        }
        return Err(SinkError::InvalidLayout {
            layout: template.to_owned(),
            reason: format!(
                "an object key template must contain {}: without them two objects could get the same key \
                 and one would overwrite the other",
                names.join(", ")
            ),
        });
    }
    Ok(layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "s3"))]
    #[test]
    fn without_the_feature_the_error_names_it() {
        let err = ObjectStoreConfig::new("s3://logs").build().err();
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("feature `s3`"), "{message}");
    }

    #[test]
    fn a_clusters_keys_and_checkpoint_are_its_own_when_keys_split_by_cluster() {
        let split = ObjectStoreConfig::new("s3://logs/archive")
            .with_key_template("{cluster}/{namespace}/{pod}/{container}/{first_ts}-{last_ts}-{hash}");
        let mut prod = split.clone();
        prod.cluster = Some("prod".into());
        let valid = prod.validated().unwrap();
        let stamp = crate::template::ObjectStamp::new(None, None, 1, 0);
        let c = kle_core::testing::container_in("shop", "web-0", "app", &[], None);
        assert!(
            valid
                .key_layout()
                .render_object_key(&c, &stamp)
                .starts_with("prod/shop/web-0/app/")
        );
        assert_eq!(
            valid.own_key(".kube-log-exporter-checkpoint.json"),
            "archive/.kube-log-exporter-checkpoint.cluster-prod.json"
        );
        // Keys that do not split by cluster keep the one checkpoint; no name renders as `_`.
        let mut unsplit = ObjectStoreConfig::new("s3://logs/archive");
        unsplit.cluster = Some("prod".into());
        let unsplit = unsplit.validated().unwrap();
        assert_eq!(
            unsplit.own_key(".kube-log-exporter-checkpoint.json"),
            "archive/.kube-log-exporter-checkpoint.json"
        );
        let unnamed = split.validated().unwrap();
        assert!(
            unnamed
                .key_layout()
                .render_object_key(&c, &stamp)
                .starts_with("_/shop/")
        );
    }

    #[test]
    fn templates_and_extensions() {
        assert!(parse_key_template(DEFAULT_KEY_TEMPLATE).is_ok());
        assert_eq!(extension(Format::RAW_WITH_TIMESTAMPS, Compression::None), ".log");
        assert_eq!(extension(Format::Json, Compression::Gzip), ".ndjson.gz");
        assert_eq!(ObjectStoreConfig::new("s3://b").extension(), ".log.zst");
        let err = ObjectStoreConfig::new("s3://b")
            .with_key_template("{pod}/{container}.log")
            .validate();
        assert!(matches!(err, Err(SinkError::InvalidLayout { .. })), "{err:?}");
    }

    #[test]
    fn each_store_refuses_the_settings_of_another() {
        let mut azure = ObjectStoreConfig::new("az://logs/a").with_region("eu-west-1");
        let err = azure.validate().unwrap_err().to_string();
        assert!(
            err.contains("`region` is a setting of S3 (s3://)") && err.contains("Azure Blob"),
            "{err}"
        );
        azure.region = None;
        assert!(azure.clone().with_emulator(true).validate().is_ok());
        assert!(
            azure
                .with_anonymous(true)
                .validate()
                .unwrap_err()
                .to_string()
                .contains("`anonymous`")
        );
        let s3 = ObjectStoreConfig::new("s3://logs").with_emulator(true);
        assert!(
            s3.validate()
                .unwrap_err()
                .to_string()
                .contains("`use_emulator` is a setting of Azure Blob")
        );
        let gs = ObjectStoreConfig::new("gs://logs").with_sse_kms("k");
        assert!(gs.validate().unwrap_err().to_string().contains("`sse_kms_key_id`"));
        let class = ObjectStoreConfig::new("gs://logs").with_storage_class("NEAR LINE");
        assert!(
            class
                .validate()
                .unwrap_err()
                .to_string()
                .contains("not a storage class name")
        );
        assert!(
            ObjectStoreConfig::new("gs://logs")
                .with_storage_class("NEARLINE")
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn an_sse_c_key_file_must_hold_a_32_byte_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        let config = ObjectStoreConfig::new("s3://logs").with_sse_customer_key_file(&key);
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("cannot read the SSE-C key file")
        );
        std::fs::write(&key, "c2hvcnQ=").unwrap();
        assert!(config.validate().unwrap_err().to_string().contains("holds 5 bytes"));
        std::fs::write(&key, "not base64!").unwrap();
        assert!(config.validate().unwrap_err().to_string().contains("is not base64"));
        std::fs::write(&key, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n").unwrap();
        let valid = config.validated().unwrap();
        assert_eq!(
            valid.customer_key(),
            Some("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
        );
        assert!(!format!("{valid:?}").contains("MDEy"), "the key is never printed");
        let both = config.with_sse_kms("alias/k");
        assert!(both.validate().unwrap_err().to_string().contains("exclude each other"));
    }

    #[test]
    fn the_older_yaml_still_reads() {
        let old: crate::SinkConfig =
            serde_saphyr::from_str("type: s3\nurl: s3://logs/a\nendpoint: http://127.0.0.1:9000\nallow_http: true\n")
                .unwrap();
        let new: crate::SinkConfig =
            serde_saphyr::from_str("type: object\nurl: az://logs/a\nuse_emulator: true\nstorage_class: Cool\n")
                .unwrap();
        let (crate::SinkConfig::S3(old), crate::SinkConfig::S3(new)) = (old, new) else {
            panic!("both are the object sink")
        };
        assert_eq!(old.validated().unwrap().location().backend(), Backend::S3);
        assert_eq!(new.validated().unwrap().location().backend(), Backend::Azure);
    }
}
