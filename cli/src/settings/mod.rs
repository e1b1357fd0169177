//! The settings of an export: the flags over the configuration file (`--config`) over the
//! defaults.
//!
//! A flag the file can also set has no clap default, so whether it was given is its type:
//! `Some`, a switch that is on, a list that is not empty. The flags and the file each become
//! a [`Layer`] of the same shape, merged field by field; the output flags complete the file's
//! sink. The defaults are applied once, after the merge, in [`Layer::settle`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use kle_core::Since;
use kle_sinks::encode::FormatKind;
use kle_sinks::file::FileConfig;
use kle_sinks::object::{Compression, ObjectStoreConfig};
use kle_sinks::stdout::{ColorChoice, StdoutConfig};
use kle_sinks::{ExportConfig, SinkConfig};

use kle_core::container::StateFilter;

use crate::args::{
    CheckpointArg, ColorArg, CompressionArg, ContainerStateArg, ExportArgs, FormatArg, GlobalArgs, HttpVersionArg,
    OutputArgs, S3Args, SelectArgs, ShardArgs, SinkArg,
};

/// `--max-streams` when neither the flag nor the file says.
const DEFAULT_MAX_STREAMS: usize = 64;
/// `--max-line-bytes` when neither the flag nor the file says.
const DEFAULT_MAX_LINE_BYTES: usize = kle_core::lines::DEFAULT_MAX_LINE_BYTES;
/// `--checkpoint` when neither the flag nor the file says.
const DEFAULT_CHECKPOINT: CheckpointArg = CheckpointArg::Auto;
/// `--grace-period` when neither the flag nor the file says.
const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(30);
/// `--sink` when neither the flag nor the file names one.
const DEFAULT_SINK: SinkArg = SinkArg::Stdout;

/// The settings of an export: the flags over the configuration file over the defaults.
#[derive(Debug)]
pub(crate) struct Settings {
    /// The global flags, `--kubeconfig`, `--context` and `--http-version` completed from the file.
    pub(crate) global: GlobalArgs,
    /// Everything but the connection and the sink.
    pub(crate) args: ExportSettings,
    /// Where the lines go; not yet [validated](SinkConfig::validate).
    pub(crate) sink: SinkConfig,
}

/// An export's settings with every default applied.
#[derive(Debug)]
pub(crate) struct ExportSettings {
    /// Which pods and containers; no namespace and not all of them means the client's.
    pub(crate) select: SelectArgs,
    /// `--since` or `--since-time`.
    pub(crate) since: Option<Since>,
    pub(crate) tail: Option<u64>,
    pub(crate) previous: bool,
    /// `--include` and `--exclude`: line filters, compiled before any request.
    pub(crate) include: Vec<String>,
    pub(crate) exclude: Vec<String>,
    pub(crate) limit_bytes: Option<u64>,
    pub(crate) max_streams: usize,
    pub(crate) max_line_bytes: usize,
    pub(crate) checkpoint: CheckpointArg,
    pub(crate) fail_on_gap: bool,
    /// Check the permissions before starting: not `--no-preflight`, or the file's `preflight`.
    pub(crate) preflight: bool,
    pub(crate) metrics_addr: Option<SocketAddr>,
    pub(crate) grace_period: Duration,
    /// `None`: do not wait for another owner.
    pub(crate) wait_for_lock: Option<Duration>,
    /// How long an S3 or ConfigMap checkpoint's hold lasts (flag only, for tests), and a
    /// shard group's Leases.
    pub(crate) lease_duration: Duration,
    /// `--shards`, `--shard-group`, `--shard-namespace`; `shards` is `None` for a run of its own.
    pub(crate) shards: ShardArgs,
    /// `--context-regex`: more clusters, by the names of their contexts.
    pub(crate) context_regex: Option<String>,
    /// `--cluster-name`, as given: `CONTEXT=NAME` or `NAME`.
    pub(crate) cluster_names: Vec<String>,
    pub(crate) dry_run: bool,
    pub(crate) quiet: bool,
}

/// The settings of an export: each flag given wins over `file`, which wins over the default.
/// The output flags complete the file's sink, unless `--sink` names another type.
pub(crate) fn resolve(mut global: GlobalArgs, args: ExportArgs, file: Option<&ExportConfig>) -> Settings {
    // Not keys of the file: they are about this one invocation.
    let (dry_run, quiet) = (args.dry_run, args.quiet);
    let (flags, output) = Layer::from_flags(&mut global, args);
    let under = file.map(Layer::from_file).unwrap_or_default();
    let args = flags.over(under).settle(&mut global, dry_run, quiet);
    let sink = sink(output, file.and_then(ExportConfig::sink));
    Settings { global, args, sink }
}

/// `-n` and `-A`: one choice, so either flag replaces both of the file's keys.
#[derive(Debug, Clone, Default, PartialEq)]
struct NamespaceChoice {
    namespaces: Vec<String>,
    all: bool,
}

/// What one source (the flags or the file) says about an export, `None` where it is silent:
/// the shape of [`ExportConfig`] without the sink, the pairs that are one choice as one field.
#[derive(Debug, Clone, Default, PartialEq)]
struct Layer {
    kubeconfig: Option<PathBuf>,
    /// `--context` (repeatable), or the file's `context` and `contexts`.
    context: Option<Vec<String>>,
    context_regex: Option<String>,
    cluster_names: Option<Vec<String>>,
    http_version: Option<HttpVersionArg>,
    namespaces: Option<NamespaceChoice>,
    selector: Option<String>,
    field_selector: Option<String>,
    node: Option<String>,
    container_state: Option<ContainerStateArg>,
    /// The positional queries: a pod-name pattern and workloads (the file's `pods` and
    /// `workloads`), one choice.
    query: Option<Vec<String>>,
    exclude_pods: Option<Vec<String>>,
    containers: Option<String>,
    exclude_containers: Option<Vec<String>>,
    init_containers: Option<bool>,
    ephemeral_containers: Option<bool>,
    /// `--since` and `--since-time` are one choice too.
    since: Option<Since>,
    tail: Option<u64>,
    previous: Option<bool>,
    include: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    limit_bytes: Option<u64>,
    max_streams: Option<usize>,
    max_line_bytes: Option<usize>,
    checkpoint: Option<CheckpointArg>,
    fail_on_gap: Option<bool>,
    preflight: Option<bool>,
    metrics_addr: Option<SocketAddr>,
    grace_period: Option<Duration>,
    wait_for_lock: Option<Duration>,
    lease_duration: Option<Duration>,
    shards: Option<u32>,
    shard_group: Option<String>,
    shard_namespace: Option<String>,
}

/// A switch cannot be given as off: on is given, off is silent.
fn switch(on: bool) -> Option<bool> {
    on.then_some(true)
}

/// A repeatable flag is given when it is there at least once.
fn list(values: Vec<String>) -> Option<Vec<String>> {
    (!values.is_empty()).then_some(values)
}

impl Layer {
    /// The flags given; `--kubeconfig` and `--context` are taken out of `global`, the output
    /// flags returned as they are (they complete a sink rather than replace settings).
    fn from_flags(global: &mut GlobalArgs, args: ExportArgs) -> (Layer, OutputArgs) {
        // Every field is named, so that a new flag cannot be left out of the overlay unnoticed.
        let ExportArgs {
            config: _,
            select,
            context_regex,
            cluster_name,
            since,
            since_time,
            tail,
            previous,
            include,
            exclude,
            limit_bytes,
            max_streams,
            max_line_bytes,
            checkpoint,
            fail_on_gap,
            no_preflight,
            metrics_addr,
            grace_period,
            wait_for_lock,
            lease_duration,
            shards:
                ShardArgs {
                    shards,
                    shard_group,
                    shard_namespace,
                },
            dry_run: _,
            quiet: _,
            output,
        } = args;
        let SelectArgs {
            query,
            namespaces,
            all_namespaces,
            selector,
            field_selector,
            node,
            container_state,
            exclude_pod,
            container,
            exclude_container,
            init_containers,
            ephemeral_containers,
        } = select;
        let layer = Layer {
            kubeconfig: global.kubeconfig.take(),
            context: list(std::mem::take(&mut global.context)),
            context_regex,
            cluster_names: list(cluster_name),
            http_version: global.http_version.take(),
            namespaces: (!namespaces.is_empty() || all_namespaces).then_some(NamespaceChoice {
                namespaces,
                all: all_namespaces,
            }),
            selector,
            field_selector,
            node,
            container_state,
            query: (!query.is_empty()).then_some(query),
            exclude_pods: list(exclude_pod),
            containers: container,
            exclude_containers: list(exclude_container),
            init_containers: switch(init_containers),
            ephemeral_containers: switch(ephemeral_containers),
            // clap lets at most one of them through.
            since: since.map(Since::Ago).or(since_time.map(Since::Time)),
            tail,
            previous: switch(previous),
            include: list(include),
            exclude: list(exclude),
            limit_bytes,
            max_streams,
            max_line_bytes,
            checkpoint,
            fail_on_gap: switch(fail_on_gap),
            preflight: no_preflight.then_some(false),
            metrics_addr,
            grace_period,
            wait_for_lock,
            lease_duration,
            shards,
            shard_group,
            shard_namespace,
        };
        (layer, output)
    }

    /// The keys the file sets.
    fn from_file(file: &ExportConfig) -> Layer {
        let query = (file.pods.is_some() || file.workloads.is_some()).then(|| {
            let workloads = file.workloads.iter().flatten().cloned();
            file.pods.iter().cloned().chain(workloads).collect()
        });
        let namespaces = (file.namespaces.is_some() || file.all_namespaces.is_some()).then(|| NamespaceChoice {
            namespaces: file.namespaces.clone().unwrap_or_default(),
            all: file.all_namespaces.unwrap_or(false),
        });
        Layer {
            kubeconfig: file.kubeconfig.clone(),
            context: (file.context.is_some() || file.contexts.is_some()).then(|| {
                file.context
                    .iter()
                    .chain(file.contexts.iter().flatten())
                    .cloned()
                    .collect()
            }),
            context_regex: file.context_regex.clone(),
            cluster_names: file.cluster_names.clone(),
            http_version: file.http_version.map(HttpVersionArg::from),
            namespaces,
            selector: file.selector.clone(),
            field_selector: file.field_selector.clone(),
            node: file.node.clone(),
            container_state: file.container_state.map(state_arg),
            query,
            exclude_pods: file.exclude_pods.clone(),
            containers: file.containers.clone(),
            exclude_containers: file.exclude_containers.clone(),
            init_containers: file.init_containers,
            ephemeral_containers: file.ephemeral_containers,
            // Loading the file refuses both at once.
            since: file.since.map(Since::Ago).or(file.since_time.map(Since::Time)),
            tail: file.tail,
            previous: file.previous,
            include: file.include.clone(),
            exclude: file.exclude.clone(),
            limit_bytes: file.limit_bytes,
            max_streams: file.max_streams,
            max_line_bytes: file.max_line_bytes,
            checkpoint: file.checkpoint.clone(),
            fail_on_gap: file.fail_on_gap,
            preflight: file.preflight,
            metrics_addr: file.metrics_addr,
            grace_period: file.grace_period,
            wait_for_lock: file.wait_for_lock,
            lease_duration: None,
            shards: file.shards,
            shard_group: file.shard_group.clone(),
            shard_namespace: file.shard_namespace.clone(),
        }
    }

    /// `self` where it says something, else `under`.
    fn over(self, under: Layer) -> Layer {
        Layer {
            kubeconfig: self.kubeconfig.or(under.kubeconfig),
            context: self.context.or(under.context),
            context_regex: self.context_regex.or(under.context_regex),
            cluster_names: self.cluster_names.or(under.cluster_names),
            http_version: self.http_version.or(under.http_version),
            namespaces: self.namespaces.or(under.namespaces),
            selector: self.selector.or(under.selector),
            field_selector: self.field_selector.or(under.field_selector),
            node: self.node.or(under.node),
            container_state: self.container_state.or(under.container_state),
            query: self.query.or(under.query),
            exclude_pods: self.exclude_pods.or(under.exclude_pods),
            containers: self.containers.or(under.containers),
            exclude_containers: self.exclude_containers.or(under.exclude_containers),
            init_containers: self.init_containers.or(under.init_containers),
            ephemeral_containers: self.ephemeral_containers.or(under.ephemeral_containers),
            since: self.since.or(under.since),
            tail: self.tail.or(under.tail),
            previous: self.previous.or(under.previous),
            include: self.include.or(under.include),
            exclude: self.exclude.or(under.exclude),
            limit_bytes: self.limit_bytes.or(under.limit_bytes),
            max_streams: self.max_streams.or(under.max_streams),
            max_line_bytes: self.max_line_bytes.or(under.max_line_bytes),
            checkpoint: self.checkpoint.or(under.checkpoint),
            fail_on_gap: self.fail_on_gap.or(under.fail_on_gap),
            preflight: self.preflight.or(under.preflight),
            metrics_addr: self.metrics_addr.or(under.metrics_addr),
            grace_period: self.grace_period.or(under.grace_period),
            wait_for_lock: self.wait_for_lock.or(under.wait_for_lock),
            lease_duration: self.lease_duration.or(under.lease_duration),
            shards: self.shards.or(under.shards),
            shard_group: self.shard_group.or(under.shard_group),
            shard_namespace: self.shard_namespace.or(under.shard_namespace),
        }
    }

    /// The defaults, for what neither source set; the only place they are applied (the flags'
    /// help shows them, see `ExportArgs`).
    fn settle(self, global: &mut GlobalArgs, dry_run: bool, quiet: bool) -> ExportSettings {
        // `None` is a default too: kube's kubeconfig and context.
        global.kubeconfig = self.kubeconfig;
        global.context = self.context.unwrap_or_default();
        global.http_version = self.http_version;
        let namespaces = self.namespaces.unwrap_or_default();
        ExportSettings {
            select: SelectArgs {
                query: self.query.unwrap_or_default(),
                namespaces: namespaces.namespaces,
                all_namespaces: namespaces.all,
                selector: self.selector,
                field_selector: self.field_selector,
                node: self.node,
                container_state: self.container_state,
                exclude_pod: self.exclude_pods.unwrap_or_default(),
                container: self.containers,
                exclude_container: self.exclude_containers.unwrap_or_default(),
                init_containers: self.init_containers.unwrap_or(false),
                ephemeral_containers: self.ephemeral_containers.unwrap_or(false),
            },
            since: self.since,
            tail: self.tail,
            previous: self.previous.unwrap_or(false),
            include: self.include.unwrap_or_default(),
            exclude: self.exclude.unwrap_or_default(),
            limit_bytes: self.limit_bytes,
            max_streams: self.max_streams.unwrap_or(DEFAULT_MAX_STREAMS),
            max_line_bytes: self.max_line_bytes.unwrap_or(DEFAULT_MAX_LINE_BYTES),
            checkpoint: self.checkpoint.unwrap_or(DEFAULT_CHECKPOINT),
            fail_on_gap: self.fail_on_gap.unwrap_or(false),
            preflight: self.preflight.unwrap_or(true),
            metrics_addr: self.metrics_addr,
            grace_period: self.grace_period.unwrap_or(DEFAULT_GRACE_PERIOD),
            wait_for_lock: self.wait_for_lock,
            lease_duration: self
                .lease_duration
                .unwrap_or(kle_core::ownership::LeaseTiming::default().duration),
            shards: ShardArgs {
                shards: self.shards,
                shard_group: self.shard_group,
                shard_namespace: self.shard_namespace,
            },
            context_regex: self.context_regex,
            cluster_names: self.cluster_names.unwrap_or_default(),
            dry_run,
            quiet,
        }
    }
}

/// The file's sink unless `--sink` names another type, else that type's defaults; either
/// completed by the output flags given. The sinks' defaults are the same as the file's keys'.
fn sink(output: OutputArgs, file: Option<&SinkConfig>) -> SinkConfig {
    let mut sink = match (output.sink, file) {
        (None, Some(file)) => file.clone(),
        (Some(kind), Some(file)) if same_type(kind, file) => file.clone(),
        (kind, _) => default_sink(kind.unwrap_or(DEFAULT_SINK)),
    };
    complete(&mut sink, output);
    sink
}

fn same_type(kind: SinkArg, sink: &SinkConfig) -> bool {
    matches!(
        (kind, sink),
        (SinkArg::Stdout, SinkConfig::Stdout(_))
            | (SinkArg::File, SinkConfig::File(_))
            | (SinkArg::S3, SinkConfig::S3(_))
    )
}

/// Files and objects keep the API's timestamps (their configs' default): a container's file
/// equals `kubectl logs --timestamps`. The directory and URL are required with `--sink`, so
/// the empty ones here are always replaced by `complete`.
fn default_sink(kind: SinkArg) -> SinkConfig {
    match kind {
        SinkArg::Stdout => SinkConfig::Stdout(StdoutConfig::default()),
        SinkArg::File => SinkConfig::File(FileConfig::new(PathBuf::new())),
        SinkArg::S3 => SinkConfig::S3(ObjectStoreConfig::new(String::new())),
    }
}

fn overlay<T>(target: &mut T, flag: Option<T>) {
    if let Some(value) = flag {
        *target = value;
    }
}

/// Sets what the output flags given say about `sink`'s type; flags of other sink types are
/// ignored, as without a file. A switch given turns the setting on; one not given leaves it.
fn complete(sink: &mut SinkConfig, output: OutputArgs) {
    let OutputArgs {
        sink: _,
        output,
        template,
        timestamps,
        color,
        dir,
        layout,
        s3,
    } = output;
    let format = output.map(format_kind);
    match sink {
        SinkConfig::Stdout(config) => {
            overlay(&mut config.format, format);
            config.timestamps |= timestamps;
            overlay(&mut config.color, color.map(color_choice));
            config.template = template.or(config.template.take());
        }
        SinkConfig::File(config) => {
            overlay(&mut config.dir, dir);
            overlay(&mut config.layout, layout);
            overlay(&mut config.format, format);
        }
        SinkConfig::S3(config) => {
            let S3Args {
                s3_url,
                store,
                storage_class,
                s3_sse_kms_key_id,
                s3_key_template,
                compression,
                max_object_bytes,
                max_object_age,
            } = s3;
            overlay(&mut config.url, s3_url);
            store.overlay(config);
            config.storage_class = storage_class.or(config.storage_class.take());
            config.sse_kms_key_id = s3_sse_kms_key_id.or(config.sse_kms_key_id.take());
            overlay(&mut config.key_template, s3_key_template);
            overlay(&mut config.compression, compression.map(compression_kind));
            overlay(&mut config.max_object_bytes, max_object_bytes);
            overlay(&mut config.max_object_age_secs, max_object_age.map(|age| age.as_secs()));
            overlay(&mut config.format, format);
        }
        // A sink type that has no flags yet (the enum is non-exhaustive): the file's, as written.
        _ => {}
    }
}

fn state_arg(state: StateFilter) -> ContainerStateArg {
    match state {
        StateFilter::Running => ContainerStateArg::Running,
        StateFilter::Waiting => ContainerStateArg::Waiting,
        StateFilter::Terminated => ContainerStateArg::Terminated,
        StateFilter::All => ContainerStateArg::All,
    }
}

pub(crate) fn format_kind(format: FormatArg) -> FormatKind {
    match format {
        FormatArg::Text => FormatKind::Text,
        FormatArg::Raw => FormatKind::Raw,
        FormatArg::Json => FormatKind::Json,
        FormatArg::Template => FormatKind::Template,
    }
}

pub(crate) fn color_choice(color: ColorArg) -> ColorChoice {
    match color {
        ColorArg::Auto => ColorChoice::Auto,
        ColorArg::Always => ColorChoice::Always,
        ColorArg::Never => ColorChoice::Never,
    }
}

fn compression_kind(compression: CompressionArg) -> Compression {
    match compression {
        CompressionArg::None => Compression::None,
        CompressionArg::Gzip => Compression::Gzip,
        CompressionArg::Zstd => Compression::Zstd,
    }
}

#[cfg(test)]
mod tests;
