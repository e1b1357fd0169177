//! The command line, as clap sees it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use jiff::Timestamp;

const EXAMPLES: &str = "\
Examples:
  # Export every container's log in namespace shop to files under out/
  kube-log-exporter export -n shop --sink file --dir out/

  # Export all namespaces, pods whose name starts with web-, as JSON lines
  kube-log-exporter export -A '^web-' -o json

  # Export namespace shop to S3 as zstd objects (credentials from AWS_* or the instance role)
  kube-log-exporter export -n shop --sink s3 --s3-url s3://my-logs/cluster-a

  # Follow pods labelled app=api, new and restarted ones included, last 10 lines first
  kube-log-exporter follow -n prod -l app=api --tail 10

  # Follow the pods of every Job of a CronJob, later schedules included; only error lines
  kube-log-exporter follow -n ops cronjob/nightly-backup --include 'ERROR|FATAL'

  # Export a Deployment and a StatefulSet on one node, running containers only
  kube-log-exporter export -n shop deploy/web sts/db --node node-7 --container-state running

  # Read back what an S3 export archived for namespace shop since 10:00, merged by time
  kube-log-exporter read s3://my-logs/cluster-a -n shop --since-time 2026-11-23T10:00:00Z --merge

  # Print the RBAC an in-cluster CronJob needs for namespaces a and b
  kube-log-exporter rbac -n a -n b --service-account kle --sa-namespace logging

  # A CronJob: each run exports what is new since the last one, exactly once
  kube-log-exporter export -A --sink file --dir /archive --checkpoint configmap:logging/kle-checkpoint

Exit codes: 0 success, 1 error, 2 usage error, 3 nothing matched, 4 permission denied,
5 lines lost (with --fail-on-gap), 6 another run owns the checkpoint (see --wait-for-lock),
7 read: no such bucket or directory, 8 read: an object that is not an archive.";

/// Export Kubernetes container logs through the API to files or stdout.
#[derive(Debug, Parser)]
#[command(name = "kube-log-exporter", version, about, after_long_help = EXAMPLES)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Export the logs that are there now, then exit (for CronJobs and one-off archives).
    Export(ExportArgs),
    /// Follow logs: watch pods, stream new lines, new pods and restarted containers until stopped.
    Follow(ExportArgs),
    /// Print the ServiceAccount, Role/ClusterRole and bindings an export with these flags needs.
    Rbac(RbacArgs),
    /// Check with the API server whether the current identity may run an export with these flags.
    Check(CheckArgs),
    /// Read an archive back: the objects an S3 export wrote (s3://bucket/prefix) or the
    /// directory a file export wrote, each line once, per container or merged by time.
    Read(ReadArgs),
    /// Configuration files (`--config`): `config example` prints a commented one with every key.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script (`kube-log-exporter completions bash > /etc/bash_completion.d/kube-log-exporter`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) (`kube-log-exporter man > kube-log-exporter.1`).
    Man,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print a commented configuration file with every key.
    Example,
    /// Read and check a configuration file (line and key of the first mistake), then print what it sets.
    Check {
        /// The file.
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Args)]
pub(crate) struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true)]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (default: the current context). `export` and `follow` take it
    /// more than once: one export per cluster in one run, each line labelled with its
    /// cluster, each cluster with its own checkpoint (file layouts and S3 keys need {cluster}).
    #[arg(long, global = true, value_name = "CONTEXT")]
    pub(crate) context: Vec<String>,
    /// How to authenticate: kubeconfig, the in-cluster ServiceAccount, or auto (in-cluster when in a pod).
    #[arg(long, global = true, value_enum, default_value_t = AuthArg::Auto)]
    pub(crate) auth: AuthArg,
    /// HTTP version to the API server: 2 carries many log streams on each connection, 1.1 opens
    /// one connection per stream, auto uses 2 where the server offers it (TLS ALPN), else 1.1
    /// [default: 1.1, until the lines lost in HTTP/2 test runs are explained; see BENCHMARKS.md].
    #[arg(long, global = true, value_enum, value_name = "VERSION")]
    pub(crate) http_version: Option<HttpVersionArg>,
    /// More logging on stderr (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// How the exporter's own log on stderr is written: text (colours only on a terminal, and
    /// never with NO_COLOR set) or json (one object per event, for log collectors).
    #[arg(long, global = true, value_enum, default_value_t = LogFormatArg::Text, env = "KLE_LOG_FORMAT")]
    pub(crate) log_format: LogFormatArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum HttpVersionArg {
    Auto,
    #[value(name = "1.1")]
    Http1,
    #[value(name = "2")]
    Http2,
}

impl From<HttpVersionArg> for kle_auth::HttpVersion {
    fn from(arg: HttpVersionArg) -> Self {
        match arg {
            HttpVersionArg::Auto => Self::Auto,
            HttpVersionArg::Http1 => Self::Http1,
            HttpVersionArg::Http2 => Self::Http2,
        }
    }
}

impl From<kle_auth::HttpVersion> for HttpVersionArg {
    fn from(version: kle_auth::HttpVersion) -> Self {
        match version {
            kle_auth::HttpVersion::Http1 => Self::Http1,
            kle_auth::HttpVersion::Http2 => Self::Http2,
            _ => Self::Auto,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum AuthArg {
    Auto,
    Kubeconfig,
    InCluster,
}

/// Which pods and containers.
#[derive(Debug, Args)]
pub(crate) struct SelectArgs {
    /// What to export: a regular expression pod names must match (like stern's query), and/or
    /// workloads as KIND/NAME, repeatable: deployment/NAME (deploy/), statefulset/ (sts/),
    /// daemonset/ (ds/), replicaset/ (rs/), job/, cronjob/ (cj/: the pods of all its Jobs,
    /// later ones included when following), service/ (svc/: the pods its selector selects).
    /// Workloads are looked up in the -n namespaces; all pods when omitted.
    #[arg(value_name = "QUERY")]
    pub(crate) query: Vec<String>,
    /// Namespace to export from; repeatable (default: the context's or pod's namespace).
    #[arg(short, long = "namespace", value_name = "NAMESPACE")]
    pub(crate) namespaces: Vec<String>,
    /// Export from all namespaces.
    #[arg(short = 'A', long, conflicts_with = "namespaces")]
    pub(crate) all_namespaces: bool,
    /// Label selector (`app=web,tier!=db`): its syntax checked before connecting, evaluated by
    /// the API server.
    #[arg(short = 'l', long)]
    pub(crate) selector: Option<String>,
    /// Field selector (`status.phase=Running`): its syntax checked before connecting, evaluated
    /// by the API server (which says which fields it supports).
    #[arg(long)]
    pub(crate) field_selector: Option<String>,
    /// Only pods on this node (the field selector `spec.nodeName=NAME`, joined with
    /// --field-selector).
    #[arg(long, value_name = "NAME")]
    pub(crate) node: Option<String>,
    /// Only containers whose current instance is in this state [default: all]
    #[arg(long, value_enum, value_name = "STATE")]
    pub(crate) container_state: Option<ContainerStateArg>,
    /// Regular expression of pod names to leave out; repeatable.
    #[arg(long, value_name = "REGEX")]
    pub(crate) exclude_pod: Vec<String>,
    /// Regular expression container names must match.
    #[arg(short, long, value_name = "REGEX")]
    pub(crate) container: Option<String>,
    /// Regular expression of container names to leave out; repeatable.
    #[arg(short = 'E', long, value_name = "REGEX")]
    pub(crate) exclude_container: Vec<String>,
    /// Include init containers.
    #[arg(long)]
    pub(crate) init_containers: bool,
    /// Include ephemeral (debug) containers.
    #[arg(long)]
    pub(crate) ephemeral_containers: bool,
}

// The flags a configuration file can also set have no clap default: `None` (or `false`, or
// empty) means "not given", so the file can fill them; `settings::resolve` applies the defaults
// their help shows, after the file. A `[default: ...]` here must match it (a test checks); it
// follows the text without a period, as clap shows its own defaults.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// YAML file with the settings of these flags (`kube-log-exporter config example`); flags
    /// given on the command line override it.
    #[arg(long, value_name = "FILE", env = "KLE_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) select: SelectArgs,
    /// Export from every kubeconfig context whose name matches this regular expression (with
    /// any --context given), one export per cluster in one run.
    #[arg(long, value_name = "REGEX")]
    pub(crate) context_regex: Option<String>,
    /// The name of a cluster in lines (a `cluster` field in JSON, `[NAME]` before text), in
    /// {cluster} of layouts, keys and templates, and in its checkpoint's name: CONTEXT=NAME,
    /// repeatable, or NAME for a run's one cluster [default: the context's name].
    #[arg(long, value_name = "[CONTEXT=]NAME")]
    pub(crate) cluster_name: Vec<String>,
    /// Only lines newer than this (`30s`, `5m`, `2h`).
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "since_time")]
    pub(crate) since: Option<Duration>,
    /// Only lines at or after this RFC 3339 time (`2026-11-23T10:00:00Z`).
    #[arg(long)]
    pub(crate) since_time: Option<Timestamp>,
    /// Only the last N lines of each container.
    #[arg(long, value_name = "N")]
    pub(crate) tail: Option<u64>,
    /// Read the previous (terminated) instance of each container.
    #[arg(short, long)]
    pub(crate) previous: bool,
    /// Only lines whose message matches this regular expression; repeatable (any of them).
    /// Lines left out still count as read: a resumed run does not read them again, and the
    /// archive then holds only the matching lines.
    #[arg(short, long, value_name = "REGEX")]
    pub(crate) include: Vec<String>,
    /// Leave out lines whose message matches this regular expression; repeatable. As
    /// --include, the lines left out count as read.
    #[arg(short, long, value_name = "REGEX")]
    pub(crate) exclude: Vec<String>,
    /// Stop each container's log after this many bytes.
    #[arg(long, value_name = "BYTES")]
    pub(crate) limit_bytes: Option<u64>,
    /// Streams open at once; more containers wait their turn instead of failing. Also sizes
    /// each connection's read-ahead so that N streams buffer at most 64 MiB together [default: 64]
    #[arg(long, value_name = "N")]
    pub(crate) max_streams: Option<usize>,
    /// Lines longer than this are split into explicit fragments [default: 1048576]
    #[arg(long, value_name = "BYTES")]
    pub(crate) max_line_bytes: Option<usize>,
    /// Where to record what was delivered, so the next run resumes exactly after it: auto
    /// (a file beside the files with --sink file, none for stdout), none, file:PATH,
    /// configmap:[NAMESPACE/]NAME [default: auto]
    #[arg(long, value_name = "STORE", value_parser = parse_checkpoint)]
    pub(crate) checkpoint: Option<CheckpointArg>,
    /// Exit with code 5 when lines could not be exported (rotated away before they were read,
    /// pod deleted, container restarted too often); they are reported either way.
    #[arg(long)]
    pub(crate) fail_on_gap: bool,
    /// Skip the permission check before starting (for identities that may not create
    /// SelfSubjectAccessReviews); a missing permission then shows as a 403 during the run.
    #[arg(long)]
    pub(crate) no_preflight: bool,
    /// Serve Prometheus metrics on /metrics, and /healthz and /readyz, at this address (`0.0.0.0:9090`).
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics_addr: Option<std::net::SocketAddr>,
    /// When another run owns the checkpoint (and so the output), wait up to this long for it to
    /// finish instead of exiting with code 6 at once [default: no wait]
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub(crate) wait_for_lock: Option<Duration>,
    /// How long a hold on an S3 or ConfigMap checkpoint lasts without renewal; a killed run's
    /// successor waits this long. For tests [default: 15s]
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, hide = true)]
    pub(crate) lease_duration: Option<Duration>,
    #[command(flatten)]
    pub(crate) shards: ShardArgs,
    /// After SIGTERM or Ctrl-C, how long committing and checkpointing may take before the
    /// exporter gives up and exits with code 1 (the next run resumes from the last checkpoint)
    /// [default: 30s]
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub(crate) grace_period: Option<Duration>,
    /// List the containers that would be exported and where their lines would go, without
    /// reading any log.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// No progress line or summary table on a terminal.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ContainerStateArg {
    Running,
    Waiting,
    Terminated,
    All,
}

/// Where checkpoints are kept (`--checkpoint`), parsed as the configuration file's `checkpoint`.
pub(crate) use kle_sinks::CheckpointSpec as CheckpointArg;

fn parse_checkpoint(value: &str) -> Result<CheckpointArg, String> {
    value.parse()
}

/// Where the lines go.
#[derive(Debug, Args)]
pub(crate) struct OutputArgs {
    /// Where to write: stdout, files under --dir, or objects under --s3-url (S3, Azure Blob or GCS by its scheme; `object` is another name for s3) [default: stdout]
    #[arg(long, value_enum)]
    pub(crate) sink: Option<SinkArg>,
    /// Output format. stdout: text (prefixed lines, default), raw, json, template (see --template). file and s3: raw (default: the API's lines with timestamps), json.
    #[arg(short, long, value_enum)]
    pub(crate) output: Option<FormatArg>,
    /// The line template of `-o template`: {namespace} {pod} {container} {pod_uid} {node} {restart} {label:KEY} {timestamp} {message}; {{ and }} for braces.
    #[arg(long, value_name = "TEMPLATE", required_if_eq("output", "template"))]
    pub(crate) template: Option<String>,
    /// Prefix text and raw stdout lines with the API's timestamp.
    #[arg(long)]
    pub(crate) timestamps: bool,
    /// Colour the text prefix: auto (when stdout is a terminal), always, never [default: auto]
    #[arg(long, value_enum)]
    pub(crate) color: Option<ColorArg>,
    /// Directory of the file sink.
    #[arg(long, required_if_eq("sink", "file"))]
    pub(crate) dir: Option<PathBuf>,
    /// File layout under --dir; placeholders {namespace} {pod} {container} {pod_uid} {node} {restart} {date} {label:KEY}
    /// [default: {namespace}/{pod}/{container}.log]
    #[arg(long)]
    pub(crate) layout: Option<String>,
    #[command(flatten)]
    pub(crate) s3: S3Args,
}

/// How to reach a store (S3, Azure Blob, GCS), the same for writing (`--sink s3`) and reading
/// (`read`); credentials and other settings come from the store's environment (AWS_*,
/// AZURE_*, GOOGLE_*).
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// Endpoint: an S3-compatible store (default: $AWS_ENDPOINT, else AWS), the Azure account's blob service or Azurite, a GCS emulator.
    #[arg(long, visible_alias = "object-endpoint", value_name = "URL")]
    pub(crate) s3_endpoint: Option<String>,
    /// S3 region (default: $AWS_REGION, else us-east-1).
    #[arg(long, value_name = "REGION")]
    pub(crate) s3_region: Option<String>,
    /// Allow an http:// endpoint.
    #[arg(long, visible_alias = "object-allow-http")]
    pub(crate) s3_allow_http: bool,
    /// S3: SSE-C, the key read from this file (base64 of 32 bytes); an archive written with it is read with it.
    #[arg(long, value_name = "FILE")]
    pub(crate) s3_sse_customer_key_file: Option<PathBuf>,
    /// Azure: the storage account (default: $AZURE_STORAGE_ACCOUNT_NAME).
    #[arg(long, value_name = "ACCOUNT")]
    pub(crate) azure_account: Option<String>,
    /// Azure: talk to Azurite with its well-known account and key, at --s3-endpoint or $AZURITE_BLOB_STORAGE_URL (default http://127.0.0.1:10000).
    #[arg(long)]
    pub(crate) azure_emulator: bool,
    /// GCS: send requests unsigned, without credentials (an emulator, a public bucket).
    #[arg(long)]
    pub(crate) gcs_anonymous: bool,
}

impl StoreArgs {
    /// These flags over `config` (each given one wins; the switches only switch on).
    pub(crate) fn overlay(&self, config: &mut kle_sinks::object::ObjectStoreConfig) {
        let StoreArgs {
            s3_endpoint,
            s3_region,
            s3_allow_http,
            s3_sse_customer_key_file,
            azure_account,
            azure_emulator,
            gcs_anonymous,
        } = self;
        config.endpoint = s3_endpoint.clone().or(config.endpoint.take());
        config.region = s3_region.clone().or(config.region.take());
        config.allow_http |= s3_allow_http;
        config.sse_customer_key_file = s3_sse_customer_key_file.clone().or(config.sse_customer_key_file.take());
        config.account = azure_account.clone().or(config.account.take());
        config.use_emulator |= azure_emulator;
        config.anonymous |= gcs_anonymous;
    }
}

/// The object sink's flags (S3, Azure Blob, GCS); credentials and other settings come from the
/// store's environment (AWS_*, AZURE_*, GOOGLE_*).
#[derive(Debug, Args)]
pub(crate) struct S3Args {
    /// Where the object sink writes: s3://bucket/prefix, az://container/prefix (or azure://), gs://bucket/prefix.
    #[arg(
        long,
        visible_alias = "object-url",
        value_name = "URL",
        required_if_eq_any([("sink", "s3"), ("sink", "object")])
    )]
    pub(crate) s3_url: Option<String>,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Storage class of the exported objects: S3 (STANDARD_IA, GLACIER_IR...), GCS (NEARLINE...), Azure access tier (Cool...) [default: the bucket's]
    #[arg(long, value_name = "CLASS")]
    pub(crate) storage_class: Option<String>,
    /// S3: encrypt with SSE-KMS under this KMS key (id, alias or ARN).
    #[arg(long, value_name = "KEY")]
    pub(crate) s3_sse_kms_key_id: Option<String>,
    /// Object key template under the prefix; the extension is appended. Placeholders as --layout, plus {first_ts} {last_ts} {lines} {hash} {hour}
    /// [default: {namespace}/{pod}/{container}/{date}/{first_ts}-{last_ts}-{lines}-{hash}]
    #[arg(long, value_name = "TEMPLATE")]
    pub(crate) s3_key_template: Option<String>,
    /// Compression of objects [default: zstd]
    #[arg(long, value_enum)]
    pub(crate) compression: Option<CompressionArg>,
    /// Roll an object at this many bytes of lines (before compression) [default: 8388608]
    #[arg(long, value_name = "BYTES")]
    pub(crate) max_object_bytes: Option<u64>,
    /// Roll an object at this age (`30s`, `5m`); also how often the object sink commits [default: 5m]
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub(crate) max_object_age: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CompressionArg {
    None,
    Gzip,
    Zstd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SinkArg {
    Stdout,
    File,
    /// Objects in S3, Azure Blob or GCS (the URL's scheme picks).
    #[value(alias = "object")]
    S3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FormatArg {
    Text,
    Raw,
    Json,
    Template,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorArg {
    Auto,
    Always,
    Never,
}

/// `read SOURCE`: which lines of an archive, and how to print them.
#[derive(Debug, Args)]
pub(crate) struct ReadArgs {
    /// The archive: s3://bucket/prefix, az://container/prefix or gs://bucket/prefix (as
    /// --s3-url of the export), or the directory of a file export (--dir).
    #[arg(value_name = "SOURCE")]
    pub(crate) source: String,
    /// A regular expression pod names must match.
    #[arg(value_name = "POD_REGEX")]
    pub(crate) pod: Option<String>,
    /// Namespace to read; repeatable [default: all]
    #[arg(short, long = "namespace", value_name = "NAMESPACE")]
    pub(crate) namespaces: Vec<String>,
    /// Read all namespaces (the default).
    #[arg(short = 'A', long, conflicts_with = "namespaces")]
    pub(crate) all_namespaces: bool,
    /// Regular expression of pod names to leave out; repeatable.
    #[arg(long, value_name = "REGEX")]
    pub(crate) exclude_pod: Vec<String>,
    /// Regular expression container names must match.
    #[arg(short, long, value_name = "REGEX")]
    pub(crate) container: Option<String>,
    /// Regular expression of container names to leave out; repeatable.
    #[arg(short = 'E', long, value_name = "REGEX")]
    pub(crate) exclude_container: Vec<String>,
    /// Only lines newer than this (`30m`, `2h`, `7days`).
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "since_time")]
    pub(crate) since: Option<Duration>,
    /// Only lines at or after this RFC 3339 time (`2026-11-23T10:00:00Z`).
    #[arg(long)]
    pub(crate) since_time: Option<Timestamp>,
    /// Only lines at or before this RFC 3339 time.
    #[arg(long)]
    pub(crate) until: Option<Timestamp>,
    /// Merge the containers' lines by timestamp instead of printing one container after another.
    #[arg(long)]
    pub(crate) merge: bool,
    /// Output format: text (prefixed lines), raw (like kubectl logs), json, template (see --template)
    #[arg(short, long, value_enum, default_value_t = FormatArg::Text)]
    pub(crate) output: FormatArg,
    /// The line template of `-o template`, as for export.
    #[arg(long, value_name = "TEMPLATE", required_if_eq("output", "template"))]
    pub(crate) template: Option<String>,
    /// Prefix text and raw lines with their timestamp.
    #[arg(long)]
    pub(crate) timestamps: bool,
    /// Colour the text prefix: auto (when stdout is a terminal), always, never
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    pub(crate) color: ColorArg,
    /// The key template the S3 export used (its --s3-key-template)
    /// [default: {namespace}/{pod}/{container}/{date}/{first_ts}-{last_ts}-{lines}-{hash}]
    #[arg(long, value_name = "TEMPLATE")]
    pub(crate) s3_key_template: Option<String>,
    /// The layout the file export used (its --layout) [default: {namespace}/{pod}/{container}.log]
    #[arg(long, value_name = "TEMPLATE")]
    pub(crate) layout: Option<String>,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Exit with code 5 when the lines read hold gaps (lines the export could not export).
    #[arg(long)]
    pub(crate) fail_on_gap: bool,
    /// No progress line or summary on a terminal.
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

/// A follow split across replicas.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct ShardArgs {
    /// Follow as one replica of several: pods are split into N shards by UID, each followed
    /// by one replica of the --shard-group at a time, through Leases; a replica that stops or
    /// dies hands its shards to the others, which resume them from their checkpoints. Needs
    /// `follow` and a checkpoint every replica reaches (--sink s3 with --checkpoint auto, or
    /// --checkpoint configmap:NAME); every replica must use the same N (16 serve up to 16
    /// replicas)
    #[arg(long, value_name = "N")]
    pub(crate) shards: Option<u32>,
    /// The replicas' group: the start of its Leases' names [default: kube-log-exporter]
    #[arg(long, value_name = "NAME")]
    pub(crate) shard_group: Option<String>,
    /// The namespace of the group's Leases [default: the exporter's: its ServiceAccount's in a
    /// pod, else the kubeconfig context's]
    #[arg(long, value_name = "NAMESPACE")]
    pub(crate) shard_namespace: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RbacArgs {
    #[command(flatten)]
    pub(crate) select: SelectArgs,
    /// Grant what follow mode needs (adds watch).
    #[arg(long)]
    pub(crate) follow: bool,
    /// Grant what this checkpoint store needs (configmap:[NAMESPACE/]NAME adds get/update of
    /// that ConfigMap and create in its namespace; the namespace defaults to --sa-namespace).
    #[arg(long, default_value = "none", value_name = "STORE", value_parser = parse_checkpoint)]
    pub(crate) checkpoint: CheckpointArg,
    /// Name of the ServiceAccount (and of the roles and bindings).
    #[arg(long, default_value = "kube-log-exporter")]
    pub(crate) service_account: String,
    /// Namespace of the ServiceAccount.
    #[arg(long, default_value = "default")]
    pub(crate) sa_namespace: String,
    /// Grant what a sharded follow needs (Leases in --shard-namespace, default --sa-namespace;
    /// with a ConfigMap checkpoint, one ConfigMap per shard).
    #[arg(long, value_name = "N")]
    pub(crate) shards: Option<u32>,
    /// Namespace of a sharded follow's Leases [default: --sa-namespace].
    #[arg(long, value_name = "NAMESPACE")]
    pub(crate) shard_namespace: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    pub(crate) select: SelectArgs,
    /// Check what follow mode needs (adds watch).
    #[arg(long)]
    pub(crate) follow: bool,
    /// Check what this checkpoint store needs (configmap:[NAMESPACE/]NAME).
    #[arg(long, default_value = "none", value_name = "STORE", value_parser = parse_checkpoint)]
    pub(crate) checkpoint: CheckpointArg,
    /// Check what a sharded follow needs (Leases in --shard-namespace).
    #[arg(long, value_name = "N")]
    pub(crate) shards: Option<u32>,
    /// Namespace of a sharded follow's Leases [default: the kubeconfig context's].
    #[arg(long, value_name = "NAMESPACE")]
    pub(crate) shard_namespace: Option<String>,
}
