//! [`ExportConfig`]: a whole export as a user writes it in a YAML file (`--config`), and
//! [`CheckpointSpec`], where its checkpoint is kept.
//!
//! Every key is optional: a key that is absent leaves the choice to the command line (or its
//! default), so a file can hold only what a deployment fixes. Errors name the key and the
//! line: `config.yaml: line 4, column 8: ...`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kle_core::checkpoint::{
    CHECKPOINT_FILE, CheckpointStore, ConfigMapCheckpointStore, FileCheckpointStore, configmap_permissions,
};
use kle_core::container::StateFilter;
use kle_core::lines::LineFilter;
use kle_core::ownership::LeaseTiming;
use kle_core::shards::Shard;
use kle_core::{Permission, WorkloadRef};
use serde::{Deserialize, Deserializer, Serialize};
use serde_saphyr::Spanned;

use crate::config::SinkConfig;
use kle_core::SinkError;

/// Where a run's checkpoint is kept (`--checkpoint`, the `checkpoint` key).
///
/// Written as `auto`, `none`, `file:PATH` or `configmap:[NAMESPACE/]NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum CheckpointSpec {
    /// Beside the output: a file next to the files of a file sink, an object next to the
    /// objects of the object sink (S3, Azure Blob, GCS), none for stdout.
    Auto,
    /// No checkpoint: every run starts from its `since`/`tail`.
    None,
    /// A JSON file.
    File(PathBuf),
    /// A ConfigMap; the namespace defaults to the client's.
    ConfigMap {
        /// Its namespace, when given.
        namespace: Option<String>,
        /// Its name.
        name: String,
    },
}

impl CheckpointSpec {
    /// The store this spec names for a run into `sink`: `auto` puts it beside the output (a
    /// [`CHECKPOINT_FILE`] in the file sink's directory, an object beside the S3 sink's
    /// objects; none for stdout); a ConfigMap without a namespace is in `default_namespace`.
    /// `None`: the run keeps no checkpoint.
    ///
    /// Each store records its owner beside it: a lock file beside a file, an owner object
    /// beside an object and a Lease beside a ConfigMap, the last two held for `lease`.
    ///
    /// # Errors
    /// The S3 settings cannot be used (checked as the sink checks them).
    pub fn store(
        &self,
        sink: &SinkConfig,
        client: &kube::Client,
        default_namespace: &str,
        lease: LeaseTiming,
    ) -> Result<Option<Arc<dyn CheckpointStore>>, SinkError> {
        Ok(match self {
            CheckpointSpec::None => None,
            CheckpointSpec::Auto => match sink {
                SinkConfig::File(config) => Some(Arc::new(FileCheckpointStore::new(config.own_file(CHECKPOINT_FILE)))),
                #[cfg(feature = "objects")]
                SinkConfig::S3(config) => Some(Arc::new(
                    crate::object::ObjectCheckpointStore::from_config(config)?.with_lease_timing(lease),
                )),
                _ => None,
            },
            CheckpointSpec::File(path) => Some(Arc::new(FileCheckpointStore::new(path))),
            CheckpointSpec::ConfigMap { namespace, name } => Some(Arc::new(
                ConfigMapCheckpointStore::new(
                    client.clone(),
                    namespace.as_deref().unwrap_or(default_namespace),
                    name.as_str(),
                )
                .with_lease_timing(lease),
            )),
        })
    }

    /// This spec for one cluster of a run over several: a file `PATH` becomes
    /// `PATH`'s name with `.cluster-NAME` before its extension, a ConfigMap `NAME`
    /// becomes `NAME-<cluster>`, so that two clusters' exports never share a checkpoint (the
    /// clusters may be one, reached through two contexts). `auto` is one cluster's already
    /// through its [sink](SinkConfig::with_cluster); `none` stays none.
    ///
    /// ```
    /// use kle_sinks::CheckpointSpec;
    ///
    /// let file: CheckpointSpec = "file:/state/export.json".parse().unwrap();
    /// assert_eq!(file.for_cluster("prod").to_string(), "file:/state/export.cluster-prod.json");
    /// let map: CheckpointSpec = "configmap:logs/export".parse().unwrap();
    /// assert_eq!(map.for_cluster("Prod_EU").to_string(), "configmap:logs/export-prod-eu");
    /// ```
    #[must_use]
    pub fn for_cluster(&self, cluster: &str) -> CheckpointSpec {
        match self {
            CheckpointSpec::File(path) => {
                let name = path.file_name().map_or_else(
                    || CHECKPOINT_FILE.to_owned(),
                    |name| name.to_string_lossy().into_owned(),
                );
                CheckpointSpec::File(path.with_file_name(crate::cluster::own_file_name(&name, cluster)))
            }
            CheckpointSpec::ConfigMap { namespace, name } => CheckpointSpec::ConfigMap {
                namespace: namespace.clone(),
                name: format!("{name}-{}", crate::cluster::object_name_suffix(cluster)),
            },
            CheckpointSpec::Auto | CheckpointSpec::None => self.clone(),
        }
    }

    /// The checkpoint of one shard of a sharded follow ([`kle_core::shards`]), kept where every
    /// replica reaches it: with `auto`, an object per shard beside the S3 sink's objects
    /// ([`ObjectCheckpointStore::for_shard`](crate::object::ObjectCheckpointStore::for_shard)); a
    /// ConfigMap `NAME` becomes one per shard, `NAME-shard-3-of-16`. The shard's Lease owns
    /// it. `None` for a spec no other replica could resume from: `none`, a file, `auto` beside
    /// anything but an S3 sink (check with [`shareable`](Self::shareable) first).
    ///
    /// # Errors
    /// The S3 settings cannot be used.
    pub fn shard_store(
        &self,
        sink: &SinkConfig,
        client: &kube::Client,
        default_namespace: &str,
        shard: Shard,
    ) -> Result<Option<Arc<dyn CheckpointStore>>, SinkError> {
        Ok(match (self, sink) {
            #[cfg(feature = "objects")]
            (CheckpointSpec::Auto, SinkConfig::S3(config)) => Some(Arc::new(
                crate::object::ObjectCheckpointStore::for_shard(config, shard)?,
            )),
            (CheckpointSpec::ConfigMap { namespace, name }, _) => Some(Arc::new(ConfigMapCheckpointStore::new(
                client.clone(),
                namespace.as_deref().unwrap_or(default_namespace),
                shard_configmap(name, shard),
            ))),
            _ => None,
        })
    }

    /// Whether the replicas of a sharded follow into `sink` can share this checkpoint, and if
    /// not, why.
    ///
    /// # Errors
    /// What to use instead.
    pub fn shareable(&self, sink: &SinkConfig) -> Result<(), String> {
        match (self, sink) {
            (CheckpointSpec::Auto, SinkConfig::S3(_)) | (CheckpointSpec::ConfigMap { .. }, _) => Ok(()),
            (CheckpointSpec::None, _) => Err(
                "a sharded follow needs a checkpoint: each shard resumes from it on whichever replica owns it next; \
                 use --checkpoint auto (an object per shard beside the object sink's) or configmap:NAME"
                    .to_owned(),
            ),
            (CheckpointSpec::File(_), _) | (CheckpointSpec::Auto, _) => Err(
                "a sharded follow keeps each shard's checkpoint where every replica reaches it: use --checkpoint auto \
                 with the object sink (an object per shard) or configmap:NAME (a ConfigMap per shard), not a file"
                    .to_owned(),
            ),
        }
    }

    /// What the shards' checkpoints need of the API server (ConfigMaps: get and update of each
    /// shard's, create in the namespace), for `rbac`, `check` and the preflight.
    pub fn shard_permissions(&self, default_namespace: &str, count: u32) -> Vec<Permission> {
        let CheckpointSpec::ConfigMap { namespace, name } = self else {
            return Vec::new();
        };
        let namespace = namespace.as_deref().unwrap_or(default_namespace);
        Shard::all(count)
            .flat_map(|shard| {
                let name = shard_configmap(name, shard);
                ["get", "create", "update"]
                    .into_iter()
                    .map(move |verb| Permission::on_object(verb, "", "configmaps", namespace, &name))
            })
            .collect()
    }

    /// What the store needs of the API server (a ConfigMap: get and update of it and of its
    /// owner's Lease, create of both in its namespace), for `rbac` and `check`, which build no
    /// store.
    pub fn permissions(&self, default_namespace: &str) -> Vec<Permission> {
        match self {
            CheckpointSpec::ConfigMap { namespace, name } => {
                configmap_permissions(namespace.as_deref().unwrap_or(default_namespace), name)
            }
            _ => Vec::new(),
        }
    }
}

/// The ConfigMap that holds `shard`'s checkpoint when the spec names `name`.
fn shard_configmap(name: &str, shard: Shard) -> String {
    format!("{name}-shard-{}", shard.slug())
}

impl FromStr for CheckpointSpec {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.split_once(':') {
            None if value == "auto" => Ok(CheckpointSpec::Auto),
            None if value == "none" => Ok(CheckpointSpec::None),
            Some(("file", path)) if !path.is_empty() => Ok(CheckpointSpec::File(path.into())),
            Some(("configmap", spec)) => {
                let (namespace, name) = match spec.split_once('/') {
                    Some((namespace, name)) => (Some(namespace.to_owned()), name),
                    None => (None, spec),
                };
                let valid = |s: &str| {
                    !s.is_empty()
                        && s.len() <= 253
                        && s.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
                };
                if !valid(name) || namespace.as_deref().is_some_and(|n| !valid(n)) {
                    return Err(format!(
                        "{spec:?} is not a valid [NAMESPACE/]NAME for a ConfigMap (lowercase letters, digits, '-', '.')"
                    ));
                }
                Ok(CheckpointSpec::ConfigMap {
                    namespace,
                    name: name.to_owned(),
                })
            }
            _ => Err(format!(
                "{value:?}: expected auto, none, file:PATH or configmap:[NAMESPACE/]NAME"
            )),
        }
    }
}

impl TryFrom<String> for CheckpointSpec {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<CheckpointSpec> for String {
    fn from(spec: CheckpointSpec) -> Self {
        spec.to_string()
    }
}

impl fmt::Display for CheckpointSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointSpec::Auto => f.write_str("auto"),
            CheckpointSpec::None => f.write_str("none"),
            CheckpointSpec::File(path) => write!(f, "file:{}", path.display()),
            CheckpointSpec::ConfigMap {
                namespace: Some(namespace),
                name,
            } => write!(f, "configmap:{namespace}/{name}"),
            CheckpointSpec::ConfigMap { namespace: None, name } => write!(f, "configmap:{name}"),
        }
    }
}

/// A whole export as written in a configuration file: what the flags of `export` and `follow`
/// say, under the same names (`snake_case`). Absent keys are `None`.
///
/// ```
/// use kle_sinks::{ExportConfig, SinkConfig};
///
/// let config = ExportConfig::from_yaml(
///     "namespaces: [shop]\nselector: app=web\nsince: 1h\nsink:\n  type: file\n  dir: /archive\n",
/// )?;
/// assert_eq!(config.namespaces, Some(vec!["shop".to_owned()]));
/// assert!(matches!(config.sink(), Some(SinkConfig::File(_))));
/// # Ok::<(), kle_core::SinkError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ExportConfig {
    /// Namespaces to export from (`-n`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<String>>,
    /// Every namespace (`-A`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_namespaces: Option<bool>,
    /// Label selector (`-l`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Field selector (`--field-selector`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_selector: Option<String>,
    /// Regular expression pod names must match (the positional query).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pods: Option<String>,
    /// Workloads whose pods to export, as `KIND/NAME` (`deployment/web`, `cronjob/nightly`):
    /// the positional workload references.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workloads: Option<Vec<String>>,
    /// Only pods on this node (`--node`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Only containers in this state (`--container-state`: running, waiting, terminated, all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_state: Option<StateFilter>,
    /// Regular expressions of pod names to leave out (`--exclude-pod`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclude_pods: Option<Vec<String>>,
    /// Regular expression container names must match (`-c`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers: Option<String>,
    /// Regular expressions of container names to leave out (`-E`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclude_containers: Option<Vec<String>>,
    /// Include init containers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_containers: Option<bool>,
    /// Include ephemeral containers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_containers: Option<bool>,
    /// Only lines newer than this (`30s`, `5m`, `2h`).
    #[serde(
        deserialize_with = "duration",
        serialize_with = "write_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub since: Option<Duration>,
    /// Only lines at or after this RFC 3339 time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_time: Option<Timestamp>,
    /// Only the last N lines of each container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tail: Option<u64>,
    /// Read the previous instance of each container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<bool>,
    /// Only lines matching one of these regular expressions (`--include`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
    /// Leave out lines matching one of these regular expressions (`--exclude`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Vec<String>>,
    /// Stop each container's log after this many bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_bytes: Option<u64>,
    /// Streams open at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_streams: Option<usize>,
    /// Lines longer than this are split into fragments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_line_bytes: Option<usize>,
    /// Where the checkpoint is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointSpec>,
    /// Exit with code 5 when lines were lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_on_gap: Option<bool>,
    /// Ask the API server for the needed permissions before starting (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preflight: Option<bool>,
    /// Address of the metrics, `/healthz` and `/readyz` endpoint (`0.0.0.0:9090`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_addr: Option<SocketAddr>,
    /// When another run owns the checkpoint, wait this long for it (`10m`) instead of exiting
    /// with code 6 at once.
    #[serde(
        deserialize_with = "duration",
        serialize_with = "write_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub wait_for_lock: Option<Duration>,
    /// Follow as one replica of a group that splits the pods into this many shards
    /// (`--shards`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards: Option<u32>,
    /// The replicas' group (`--shard-group`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard_group: Option<String>,
    /// The namespace of the group's Leases (`--shard-namespace`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard_namespace: Option<String>,
    /// Longest time a stopping run may take to commit and checkpoint (`30s`).
    #[serde(
        deserialize_with = "duration",
        serialize_with = "write_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub grace_period: Option<Duration>,
    /// Path to the kubeconfig (`--kubeconfig`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (`--context`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Several kubeconfig contexts, one export each in one run (`--context` repeated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contexts: Option<Vec<String>>,
    /// Every kubeconfig context whose name matches this regular expression (`--context-regex`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_regex: Option<String>,
    /// The clusters' names in lines, paths and keys, as `CONTEXT=NAME` (or `NAME` for a run's
    /// one cluster); default: the context's name (`--cluster-name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_names: Option<Vec<String>>,
    /// HTTP version to the API server (`--http-version`): `auto`, `1.1` or `2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_version: Option<kle_auth::HttpVersion>,
    /// Where the lines go (see [`SinkConfig`]).
    #[serde(serialize_with = "write_sink", skip_serializing_if = "Option::is_none")]
    sink: Option<Spanned<SinkConfig>>,
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text)
        .map(Some)
        .map_err(|err| serde::de::Error::custom(format!("{text:?} is not a duration like 30s, 5m or 2h: {err}")))
}

fn write_duration<S: serde::Serializer>(value: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(duration) => serializer.serialize_str(&humantime::format_duration(*duration).to_string()),
        None => serializer.serialize_none(),
    }
}

fn write_sink<S: serde::Serializer>(value: &Option<Spanned<SinkConfig>>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(sink) => sink.value.serialize(serializer),
        None => serializer.serialize_none(),
    }
}

impl ExportConfig {
    /// The keys that are set, as YAML (what `kube-log-exporter config check` prints).
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_else(|err| format!("# cannot print the configuration: {err}\n"))
    }

    /// Parses and validates a configuration; errors give the line and column.
    ///
    /// # Errors
    /// [`SinkError::ConfigFile`] for YAML that is malformed, has an unknown key or a value of
    /// the wrong kind, or a sink that does not [validate](SinkConfig::validate).
    pub fn from_yaml(text: &str) -> Result<Self, SinkError> {
        Self::parse(text, Path::new("configuration"))
    }

    /// Reads, parses and validates the configuration file at `path`.
    ///
    /// # Errors
    /// As [`ExportConfig::from_yaml`], or [`SinkError::Io`] when the file cannot be read.
    pub fn load(path: &Path) -> Result<Self, SinkError> {
        let text = std::fs::read_to_string(path).map_err(|source| SinkError::Io {
            action: "reading the configuration file",
            target: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, path)
    }

    fn parse(text: &str, path: &Path) -> Result<Self, SinkError> {
        let error = |message: String| SinkError::ConfigFile {
            path: path.to_path_buf(),
            message,
        };
        // An empty file (or one of comments only) is an empty configuration.
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            return Ok(Self::default());
        }
        let config: Self = serde_saphyr::from_str(text).map_err(|err| error(describe(&err, text)))?;
        if let Some(sink) = &config.sink {
            sink.value.validate().map_err(|err| {
                let (line, key) = sink_key_line(text, sink.referenced.line(), &err);
                error(format!("line {line}, `{key}`: {err}"))
            })?;
        }
        if config.since.is_some() && config.since_time.is_some() {
            return Err(error("`since` and `since_time` both given: keep one of them".into()));
        }
        if config.max_streams == Some(0) {
            return Err(error("`max_streams` must be at least 1".into()));
        }
        for workload in config.workloads.iter().flatten() {
            workload
                .parse::<WorkloadRef>()
                .map_err(|err| error(format!("{}`workloads`: {err}", key_line(text, "workloads"))))?;
        }
        let include = config.include.as_deref().unwrap_or_default();
        let exclude = config.exclude.as_deref().unwrap_or_default();
        for (key, filter) in [
            ("include", LineFilter::new(include, &[])),
            ("exclude", LineFilter::new(&[], exclude)),
        ] {
            filter.map_err(|err| {
                // The regex crate draws a caret under the mistake, over several lines.
                let err = err.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
                error(format!("{}`{key}`: {err}", key_line(text, key)))
            })?;
        }
        Ok(config)
    }

    /// The sink, when the file names one.
    pub fn sink(&self) -> Option<&SinkConfig> {
        self.sink.as_ref().map(|s| &s.value)
    }
}

/// The parser's message as `line L, column C: message`, without the snippet its own
/// rendering adds (too long for a one-line error).
fn describe(err: &serde_saphyr::Error, text: &str) -> String {
    let rendered = err.without_snippet().to_string();
    let rendered = rendered.strip_prefix("error: ").unwrap_or(&rendered);
    // The parser's own "line L column C: " prefix, replaced by ours.
    let message = match rendered.split_once(": ") {
        Some((position, rest)) if position.starts_with("line ") => rest,
        _ => rendered,
    };
    let message = match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => message,
    };
    let mut position = err.location().map(|l| (l.line(), l.column()));
    // Inside `sink:` serde buffers the map to read its `type` first, and the position is the
    // sink's; an unknown key's own line is found by its name.
    if let Some(field) = unknown_field(message) {
        let line = text.lines().position(|l| {
            l.trim_start()
                .strip_prefix(field)
                .is_some_and(|rest| rest.starts_with(':'))
        });
        if let Some(index) = line {
            let column = text.lines().nth(index).map_or(0, |l| l.len() - l.trim_start().len());
            position = Some((index as u64 + 1, column as u64 + 1));
        }
    }
    match position {
        Some((line, column)) => match key_on_line(text, line) {
            Some(key) => format!("line {line}, column {column}, `{key}`: {message}"),
            None => format!("line {line}, column {column}: {message}"),
        },
        None => message.to_owned(),
    }
}

/// The line and key of the sink setting `err` is about: the key it names (`layout`,
/// `key_template`, a backquoted key in the reason) at or after the sink's first line, else the sink.
fn sink_key_line(text: &str, sink_line: u64, err: &SinkError) -> (u64, String) {
    let keys: Vec<&str> = match err {
        SinkError::InvalidLayout { .. } => vec!["layout", "key_template"],
        SinkError::InvalidConfig { reason, .. } => reason.split('`').skip(1).step_by(2).collect(),
        _ => Vec::new(),
    };
    let start = usize::try_from(sink_line.saturating_sub(1)).unwrap_or(0);
    text.lines()
        .enumerate()
        .skip(start)
        .find_map(|(index, _)| {
            let key = key_on_line(text, index as u64 + 1)?;
            keys.contains(&key).then(|| (index as u64 + 1, format!("sink.{key}")))
        })
        .unwrap_or((sink_line, "sink".to_owned()))
}

/// `line L, ` for the line that sets the top-level `key`, or nothing when it is not found.
fn key_line(text: &str, key: &str) -> String {
    text.lines()
        .position(|l| l.strip_prefix(key).is_some_and(|rest| rest.starts_with(':')))
        .map(|index| format!("line {}, ", index + 1))
        .unwrap_or_default()
}

/// The key a line sets (`  max_streams: many` sets `max_streams`), if it sets one.
fn key_on_line(text: &str, line: u64) -> Option<&str> {
    let content = text.lines().nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let content = content.trim_start().trim_start_matches("- ");
    let (key, _) = content.split_once(':')?;
    let plain = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    plain.then_some(key)
}

fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(field, _)| field)
}

/// A commented configuration with every key, as `kube-log-exporter config example` prints it.
pub const EXAMPLE_CONFIG: &str = include_str!("example-config.yaml");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::FileConfig;

    #[test]
    fn checkpoint_specs_parse_and_print_back() {
        for text in [
            "auto",
            "none",
            "file:/x/cp.json",
            "configmap:logging/kle",
            "configmap:kle",
        ] {
            let spec: CheckpointSpec = text.parse().unwrap();
            assert_eq!(spec.to_string(), text);
        }
        assert!("configmap:Bad_Name".parse::<CheckpointSpec>().is_err());
        assert!("file:".parse::<CheckpointSpec>().is_err());
        assert!("s3".parse::<CheckpointSpec>().is_err());
    }

    #[test]
    fn the_example_parses_and_names_a_sink() {
        let config = ExportConfig::from_yaml(EXAMPLE_CONFIG).unwrap();
        assert!(config.sink().is_some());
        assert_eq!(config.since, Some(Duration::from_secs(3600)));
        assert_eq!(config.checkpoint, Some(CheckpointSpec::Auto));
    }

    #[test]
    fn prints_back_what_it_read() {
        let config = ExportConfig::from_yaml(EXAMPLE_CONFIG).unwrap();
        let again = ExportConfig::from_yaml(&config.to_yaml()).unwrap();
        assert_eq!(again.sink(), config.sink());
        assert_eq!(
            (again.since, again.grace_period, &again.namespaces),
            (config.since, config.grace_period, &config.namespaces)
        );
        assert_eq!(ExportConfig::default().to_yaml().trim(), "{}");
    }

    #[test]
    fn selection_and_line_filter_keys_read_back() {
        let config = ExportConfig::from_yaml(
            "workloads: [deploy/web, cj/nightly]\nnode: node-7\ncontainer_state: running\ninclude: [ERROR]\nexclude: [healthz]\n",
        )
        .unwrap();
        assert_eq!(
            config.workloads,
            Some(vec!["deploy/web".to_owned(), "cj/nightly".to_owned()])
        );
        assert_eq!(config.node.as_deref(), Some("node-7"));
        assert_eq!(config.container_state, Some(StateFilter::Running));
        assert_eq!(config.include, Some(vec!["ERROR".to_owned()]));
        let again = ExportConfig::from_yaml(&config.to_yaml()).unwrap();
        assert_eq!(again, config);
    }

    #[test]
    fn absent_keys_stay_unset() {
        let config = ExportConfig::from_yaml("# nothing\n").unwrap();
        assert_eq!(config, ExportConfig::default());
        let config = ExportConfig::from_yaml("tail: 10\nsink:\n  type: file\n  dir: out\n").unwrap();
        assert_eq!(config.tail, Some(10));
        assert_eq!(config.namespaces, None);
        assert_eq!(config.sink(), Some(&SinkConfig::File(FileConfig::new("out"))));
    }

    #[test]
    fn http_version_is_read_quoted_or_as_yaml_numbers() {
        use kle_auth::HttpVersion;
        for (text, version) in [
            ("http_version: auto\n", HttpVersion::Auto),
            ("http_version: 1.1\n", HttpVersion::Http1),
            ("http_version: \"1.1\"\n", HttpVersion::Http1),
            ("http_version: 2\n", HttpVersion::Http2),
        ] {
            let config = ExportConfig::from_yaml(text).unwrap();
            assert_eq!(config.http_version, Some(version), "{text}");
            assert_eq!(ExportConfig::from_yaml(&config.to_yaml()).unwrap(), config);
        }
        let wrong = error_of("tail: 1\nhttp_version: 3\n");
        assert!(wrong.contains("line 2") && wrong.contains("auto, 1.1 or 2"), "{wrong}");
    }

    fn error_of(text: &str) -> String {
        ExportConfig::from_yaml(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let unknown = error_of("namespaces: [a]\ntial: 10\n");
        assert!(unknown.contains("tial") && unknown.contains("line 2"), "{unknown}");
        let wrong_type = error_of("namespaces: [a]\nmax_streams: many\n");
        assert!(
            wrong_type.contains("line 2") && wrong_type.contains("`max_streams`"),
            "{wrong_type}"
        );
        let duration = error_of("since: soon\n");
        assert!(duration.contains("soon") && duration.contains("line 1"), "{duration}");
        let checkpoint = error_of("tail: 1\ncheckpoint: bucket:x\n");
        assert!(
            checkpoint.contains("line 2") && checkpoint.contains("configmap"),
            "{checkpoint}"
        );
        let sink = error_of("tail: 1\nsink:\n  type: file\n  dir: out\n  layout: \"{nope}\"\n");
        assert!(
            sink.contains("line 5, `sink.layout`") && sink.contains("{nope}"),
            "{sink}"
        );
        let zero = error_of("sink:\n  type: file\n  dir: out\n  max_open_files: 0\n");
        assert!(zero.contains("line 4, `sink.max_open_files`"), "{zero}");
        let sink_field = error_of("sink:\n  type: file\n  dir: out\n  layuot: x\n");
        assert!(
            sink_field.contains("layuot") && sink_field.contains("line 4"),
            "{sink_field}"
        );
        let workload = error_of("tail: 1\nworkloads: [deploy/web, deployment/]\n");
        assert!(
            workload.contains("line 2, `workloads`") && workload.contains("no name after deployment/"),
            "{workload}"
        );
        let include = error_of("include: [\"(\"]\nexclude: [x]\n");
        assert!(
            include.contains("line 1, `include`") && include.contains("--include"),
            "{include}"
        );
        let state = error_of("container_state: sleeping\n");
        assert!(state.contains("line 1") && state.contains("sleeping"), "{state}");
        for message in [
            unknown, wrong_type, duration, checkpoint, sink, sink_field, workload, include,
        ] {
            assert!(!message.contains('\n'), "one line: {message}");
        }
    }
}
