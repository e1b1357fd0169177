//! [`S3Config`]: the S3 sink as a user describes it. In every build, like the other variants of
//! [`SinkConfig`](crate::SinkConfig); building it needs the cargo feature `s3`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::encode::Format;
use crate::encode::FormatKind;
use crate::layout::Layout;
use kle_core::Sink;
use kle_core::SinkError;

/// The default object key template, under the URL's prefix; the sink appends the extension
/// (`.log.zst` by default, see [`S3Config::extension`]).
pub const DEFAULT_KEY_TEMPLATE: &str = "{namespace}/{pod}/{container}/{date}/{first_ts}-{last_ts}-{lines}-{hash}";

/// Default [`S3Config::max_object_bytes`]: 8 MiB of log lines, before compression.
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 8 * 1024 * 1024;

/// Default [`S3Config::max_object_age_secs`]: 5 minutes.
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

/// Configuration of the S3 sink (feature `s3`).
///
/// ```yaml
/// type: s3
/// url: s3://my-logs/cluster-a          # bucket and key prefix
/// key_template: "{namespace}/{pod}/{container}/{date}/{first_ts}-{last_ts}-{lines}-{hash}"
/// format: raw                          # raw (with timestamps) | text | json
/// compression: zstd                    # none | gzip | zstd
/// max_object_bytes: 8388608            # roll an object at 8 MiB of lines...
/// max_object_age_secs: 300             # ...or 5 minutes after its first line
/// endpoint: http://127.0.0.1:9000      # S3-compatible stores; default from AWS_ENDPOINT or AWS
/// region: eu-west-1                    # default from AWS_REGION
/// allow_http: true
/// ```
/// Credentials come from the environment as the AWS tools read it (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, web identity / IRSA, ECS, instance metadata);
/// every `AWS_*` setting object_store knows is read, and the fields here override them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct S3Config {
    /// `s3://bucket` or `s3://bucket/prefix`: keys are `prefix/<key_template>.<extension>`.
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
    /// Endpoint of an S3-compatible store (`http://127.0.0.1:9000`); default `AWS_ENDPOINT`,
    /// else AWS for the region.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region; default `AWS_REGION`, else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Allow `http://` endpoints; default false (or `AWS_ALLOW_HTTP`).
    #[serde(default)]
    pub allow_http: bool,
    /// Virtual-hosted-style requests (`bucket.host/key`); default false: path-style
    /// (`host/bucket/key`), which every S3-compatible store accepts.
    #[serde(default)]
    pub virtual_hosted_style: bool,
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

impl S3Config {
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
    pub fn validated(&self) -> Result<ValidS3Config, SinkError> {
        let (bucket, prefix) = parse_url(&self.url)?;
        self.format.refuse_template("s3")?;
        let mut key_layout = parse_key_template(&self.key_template)?;
        if let Some(cluster) = &self.cluster {
            key_layout = key_layout.with_cluster(cluster);
        }
        let invalid = |reason: &str| SinkError::InvalidConfig {
            sink: "s3",
            reason: reason.to_owned(),
        };
        if self.max_object_bytes == 0 {
            return Err(invalid("`max_object_bytes` must be at least 1"));
        }
        if self.max_object_age_secs == 0 {
            return Err(invalid("`max_object_age_secs` must be at least 1"));
        }
        if self.request_timeout_secs == 0 || self.connect_timeout_secs == 0 {
            return Err(invalid("the request and connect timeouts must be at least 1 second"));
        }
        Ok(ValidS3Config {
            config: self.clone(),
            bucket,
            prefix,
            key_layout,
        })
    }

    /// Checks the URL, the key template and the numbers, without contacting the store: as
    /// [`S3Config::validated`], keeping nothing.
    ///
    /// # Errors
    /// [`SinkError::InvalidConfig`] or [`SinkError::InvalidLayout`].
    pub fn validate(&self) -> Result<(), SinkError> {
        self.validated().map(drop)
    }

    /// Builds the sink: an object_store S3 client from the environment and these settings.
    /// Nothing is contacted until the first upload.
    ///
    /// # Errors
    /// As [`S3Config::validate`], the client's configuration errors, or
    /// [`SinkError::NotCompiled`] without the `s3` feature.
    pub fn build(&self) -> Result<Box<dyn Sink>, SinkError> {
        let valid = self.validated()?;
        #[cfg(feature = "s3")]
        {
            Ok(Box::new(crate::s3::S3Sink::from_valid(&valid)?))
        }
        #[cfg(not(feature = "s3"))]
        {
            let _ = valid;
            Err(SinkError::NotCompiled {
                sink: "s3",
                feature: "s3",
            })
        }
    }
}

/// An [`S3Config`] that passed [`S3Config::validated`]: its bucket, prefix and key template
/// parsed, the rest known to be usable. The S3 sink ([`S3Sink::from_valid`]) and the checkpoint
/// store beside its objects ([`ObjectCheckpointStore::from_valid`]) are built from it, so a
/// configuration is checked once however many things are built from it.
///
/// [`S3Sink::from_valid`]: crate::s3::S3Sink::from_valid
/// [`ObjectCheckpointStore::from_valid`]: crate::s3::ObjectCheckpointStore::from_valid
///
/// ```
/// use kle_sinks::s3::S3Config;
///
/// let valid = S3Config::new("s3://logs/cluster-a/").validated()?;
/// assert_eq!((valid.bucket(), valid.prefix()), ("logs", "cluster-a"));
/// assert_eq!(valid.key(".kube-log-exporter-checkpoint.json"), "cluster-a/.kube-log-exporter-checkpoint.json");
/// assert!(S3Config::new("logs/cluster-a").validated().is_err());
/// # Ok::<(), kle_core::SinkError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ValidS3Config {
    config: S3Config,
    bucket: String,
    prefix: String,
    key_layout: Layout,
}

impl ValidS3Config {
    /// The configuration as written (for the client's settings: endpoint, region, retries).
    pub fn config(&self) -> &S3Config {
        &self.config
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix, without leading or trailing `/`; empty for none.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The parsed key template.
    pub fn key_layout(&self) -> &Layout {
        &self.key_layout
    }

    /// The key of `name` under the prefix.
    pub fn key(&self, name: &str) -> String {
        prefixed(&self.prefix, name)
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
}

/// The bucket and key prefix of an `s3://bucket[/prefix]` URL.
fn parse_url(url: &str) -> Result<(String, String), SinkError> {
    let invalid = |reason: String| SinkError::InvalidConfig { sink: "s3", reason };
    let Some(rest) = url.strip_prefix("s3://") else {
        return Err(invalid(format!(
            "the url {url:?} must look like s3://bucket or s3://bucket/prefix"
        )));
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(invalid(format!(
            "the url {url:?} names no bucket: use s3://bucket/prefix"
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
    Ok((bucket.to_owned(), prefix.to_owned()))
}

/// `name` under `prefix` (which has no leading or trailing `/`).
pub(crate) fn prefixed(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
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
        let err = S3Config::new("s3://logs").build().err();
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("feature `s3`"), "{message}");
    }

    #[test]
    fn a_clusters_keys_and_checkpoint_are_its_own_when_keys_split_by_cluster() {
        let split = S3Config::new("s3://logs/archive")
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
        let mut unsplit = S3Config::new("s3://logs/archive");
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
        assert_eq!(S3Config::new("s3://b").extension(), ".log.zst");
        let err = S3Config::new("s3://b")
            .with_key_template("{pod}/{container}.log")
            .validate();
        assert!(matches!(err, Err(SinkError::InvalidLayout { .. })), "{err:?}");
    }
}
