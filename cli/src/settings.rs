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
use kle_sinks::s3::{Compression, S3Config};
use kle_sinks::stdout::{ColorChoice, StdoutConfig};
use kle_sinks::{ExportConfig, SinkConfig};

use crate::args::{
    CheckpointArg, ColorArg, CompressionArg, ExportArgs, FormatArg, GlobalArgs, OutputArgs, S3Args, SelectArgs, SinkArg,
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
    /// The global flags, `--kubeconfig` and `--context` completed from the file.
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
    /// How long an S3 or ConfigMap checkpoint's hold lasts (flag only, for tests).
    pub(crate) lease_duration: Duration,
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
    context: Option<String>,
    namespaces: Option<NamespaceChoice>,
    selector: Option<String>,
    field_selector: Option<String>,
    pods: Option<String>,
    exclude_pods: Option<Vec<String>>,
    containers: Option<String>,
    exclude_containers: Option<Vec<String>>,
    init_containers: Option<bool>,
    ephemeral_containers: Option<bool>,
    /// `--since` and `--since-time` are one choice too.
    since: Option<Since>,
    tail: Option<u64>,
    previous: Option<bool>,
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
            since,
            since_time,
            tail,
            previous,
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
            exclude_pod,
            container,
            exclude_container,
            init_containers,
            ephemeral_containers,
        } = select;
        let layer = Layer {
            kubeconfig: global.kubeconfig.take(),
            context: global.context.take(),
            namespaces: (!namespaces.is_empty() || all_namespaces).then_some(NamespaceChoice {
                namespaces,
                all: all_namespaces,
            }),
            selector,
            field_selector,
            pods: query,
            exclude_pods: list(exclude_pod),
            containers: container,
            exclude_containers: list(exclude_container),
            init_containers: switch(init_containers),
            ephemeral_containers: switch(ephemeral_containers),
            // clap lets at most one of them through.
            since: since.map(Since::Ago).or(since_time.map(Since::Time)),
            tail,
            previous: switch(previous),
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
        };
        (layer, output)
    }

    /// The keys the file sets.
    fn from_file(file: &ExportConfig) -> Layer {
        let namespaces = (file.namespaces.is_some() || file.all_namespaces.is_some()).then(|| NamespaceChoice {
            namespaces: file.namespaces.clone().unwrap_or_default(),
            all: file.all_namespaces.unwrap_or(false),
        });
        Layer {
            kubeconfig: file.kubeconfig.clone(),
            context: file.context.clone(),
            namespaces,
            selector: file.selector.clone(),
            field_selector: file.field_selector.clone(),
            pods: file.pods.clone(),
            exclude_pods: file.exclude_pods.clone(),
            containers: file.containers.clone(),
            exclude_containers: file.exclude_containers.clone(),
            init_containers: file.init_containers,
            ephemeral_containers: file.ephemeral_containers,
            // Loading the file refuses both at once.
            since: file.since.map(Since::Ago).or(file.since_time.map(Since::Time)),
            tail: file.tail,
            previous: file.previous,
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
        }
    }

    /// `self` where it says something, else `under`.
    fn over(self, under: Layer) -> Layer {
        Layer {
            kubeconfig: self.kubeconfig.or(under.kubeconfig),
            context: self.context.or(under.context),
            namespaces: self.namespaces.or(under.namespaces),
            selector: self.selector.or(under.selector),
            field_selector: self.field_selector.or(under.field_selector),
            pods: self.pods.or(under.pods),
            exclude_pods: self.exclude_pods.or(under.exclude_pods),
            containers: self.containers.or(under.containers),
            exclude_containers: self.exclude_containers.or(under.exclude_containers),
            init_containers: self.init_containers.or(under.init_containers),
            ephemeral_containers: self.ephemeral_containers.or(under.ephemeral_containers),
            since: self.since.or(under.since),
            tail: self.tail.or(under.tail),
            previous: self.previous.or(under.previous),
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
        }
    }

    /// The defaults, for what neither source set; the only place they are applied (the flags'
    /// help shows them, see `ExportArgs`).
    fn settle(self, global: &mut GlobalArgs, dry_run: bool, quiet: bool) -> ExportSettings {
        // `None` is a default too: kube's kubeconfig and context.
        global.kubeconfig = self.kubeconfig;
        global.context = self.context;
        let namespaces = self.namespaces.unwrap_or_default();
        ExportSettings {
            select: SelectArgs {
                query: self.pods,
                namespaces: namespaces.namespaces,
                all_namespaces: namespaces.all,
                selector: self.selector,
                field_selector: self.field_selector,
                exclude_pod: self.exclude_pods.unwrap_or_default(),
                container: self.containers,
                exclude_container: self.exclude_containers.unwrap_or_default(),
                init_containers: self.init_containers.unwrap_or(false),
                ephemeral_containers: self.ephemeral_containers.unwrap_or(false),
            },
            since: self.since,
            tail: self.tail,
            previous: self.previous.unwrap_or(false),
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
        SinkArg::S3 => SinkConfig::S3(S3Config::new(String::new())),
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
                s3_endpoint,
                s3_region,
                s3_allow_http,
                s3_key_template,
                compression,
                max_object_bytes,
                max_object_age,
            } = s3;
            overlay(&mut config.url, s3_url);
            config.endpoint = s3_endpoint.or(config.endpoint.take());
            config.region = s3_region.or(config.region.take());
            config.allow_http |= s3_allow_http;
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

fn format_kind(format: FormatArg) -> FormatKind {
    match format {
        FormatArg::Text => FormatKind::Text,
        FormatArg::Raw => FormatKind::Raw,
        FormatArg::Json => FormatKind::Json,
        FormatArg::Template => FormatKind::Template,
    }
}

fn color_choice(color: ColorArg) -> ColorChoice {
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
mod tests {
    use clap::{CommandFactory as _, Parser as _};
    use jiff::Timestamp;
    use kle_sinks::layout::DEFAULT_LAYOUT;
    use kle_sinks::s3::{DEFAULT_KEY_TEMPLATE, DEFAULT_MAX_OBJECT_BYTES};

    use super::*;
    use crate::args::{Cli, Command};

    /// `kube-log-exporter export FLAGS` with `yaml` as its `--config` file.
    fn resolved(flags: &[&str], yaml: Option<&str>) -> Settings {
        let cli = Cli::try_parse_from(["kube-log-exporter", "export"].iter().chain(flags)).unwrap();
        let Command::Export(args) = cli.command else {
            unreachable!("parsed as export")
        };
        let file = yaml.map(|yaml| ExportConfig::from_yaml(yaml).unwrap());
        resolve(cli.global, args, file.as_ref())
    }

    fn file_config(sink: &SinkConfig) -> &FileConfig {
        match sink {
            SinkConfig::File(config) => config,
            other => panic!("not a file sink: {other:?}"),
        }
    }

    const EVERY_KEY: &str = "\
kubeconfig: /file/kubeconfig
context: file-context
selector: app=web
field_selector: spec.nodeName=node-1
pods: ^web-
exclude_pods: [canary]
containers: app
exclude_containers: [istio]
init_containers: true
ephemeral_containers: true
tail: 10
previous: true
limit_bytes: 1000
max_streams: 8
max_line_bytes: 4096
checkpoint: none
fail_on_gap: true
metrics_addr: 127.0.0.1:9090
grace_period: 5s
";

    #[test]
    fn defaults_apply_when_neither_flags_nor_file_say() {
        for file in [None, Some("# nothing\n")] {
            let settings = resolved(&[], file);
            let args = &settings.args;
            assert_eq!(args.max_streams, 64);
            assert_eq!(args.max_line_bytes, kle_core::lines::DEFAULT_MAX_LINE_BYTES);
            assert_eq!(args.checkpoint, CheckpointArg::Auto);
            assert_eq!(args.grace_period, Duration::from_secs(30));
            assert!(args.preflight);
            assert!(!args.previous && !args.fail_on_gap && !args.dry_run && !args.quiet);
            assert_eq!((args.since, args.tail, args.limit_bytes), (None, None, None));
            assert_eq!(args.metrics_addr, None);
            let select = &args.select;
            assert!(select.namespaces.is_empty() && !select.all_namespaces);
            assert!(select.exclude_pod.is_empty() && select.exclude_container.is_empty());
            assert!(!select.init_containers && !select.ephemeral_containers);
            assert_eq!(
                (
                    &select.query,
                    &select.selector,
                    &select.field_selector,
                    &select.container
                ),
                (&None, &None, &None, &None)
            );
            assert_eq!((&settings.global.kubeconfig, &settings.global.context), (&None, &None));
            assert_eq!(settings.sink, SinkConfig::Stdout(StdoutConfig::default()));
        }
    }

    #[test]
    fn the_file_fills_what_the_flags_leave() {
        let settings = resolved(&["--dry-run", "-q"], Some(EVERY_KEY));
        let args = &settings.args;
        assert_eq!(settings.global.kubeconfig, Some(PathBuf::from("/file/kubeconfig")));
        assert_eq!(settings.global.context.as_deref(), Some("file-context"));
        let select = &args.select;
        assert_eq!(select.selector.as_deref(), Some("app=web"));
        assert_eq!(select.field_selector.as_deref(), Some("spec.nodeName=node-1"));
        assert_eq!(select.query.as_deref(), Some("^web-"));
        assert_eq!(select.exclude_pod, ["canary"]);
        assert_eq!(select.container.as_deref(), Some("app"));
        assert_eq!(select.exclude_container, ["istio"]);
        assert!(select.init_containers && select.ephemeral_containers);
        assert_eq!((args.tail, args.limit_bytes), (Some(10), Some(1000)));
        assert!(args.previous && args.fail_on_gap);
        assert_eq!((args.max_streams, args.max_line_bytes), (8, 4096));
        assert_eq!(args.checkpoint, CheckpointArg::None);
        assert_eq!(args.metrics_addr, Some(SocketAddr::from(([127, 0, 0, 1], 9090))));
        assert_eq!(args.grace_period, Duration::from_secs(5));
        // Not settings of the file: the flags' own.
        assert!(args.dry_run && args.quiet);
    }

    #[test]
    fn flags_given_win_over_the_file() {
        let flags = [
            "--kubeconfig",
            "/flag/kubeconfig",
            "--context",
            "flag-context",
            "-l",
            "app=api",
            "--field-selector",
            "spec.nodeName=node-2",
            "--exclude-pod",
            "old",
            "--exclude-pod",
            "older",
            "-c",
            "proxy",
            "-E",
            "envoy",
            "--tail",
            "3",
            "--limit-bytes",
            "5",
            "--max-streams",
            "2",
            "--max-line-bytes",
            "100",
            "--checkpoint",
            "configmap:logging/kle",
            "--metrics-addr",
            "127.0.0.1:1",
            "--grace-period",
            "1m",
            "^api-",
        ];
        let settings = resolved(&flags, Some(EVERY_KEY));
        let args = &settings.args;
        assert_eq!(settings.global.kubeconfig, Some(PathBuf::from("/flag/kubeconfig")));
        assert_eq!(settings.global.context.as_deref(), Some("flag-context"));
        let select = &args.select;
        assert_eq!(select.selector.as_deref(), Some("app=api"));
        assert_eq!(select.field_selector.as_deref(), Some("spec.nodeName=node-2"));
        assert_eq!(select.query.as_deref(), Some("^api-"));
        assert_eq!(select.exclude_pod, ["old", "older"]);
        assert_eq!(select.container.as_deref(), Some("proxy"));
        assert_eq!(select.exclude_container, ["envoy"]);
        assert_eq!((args.tail, args.limit_bytes), (Some(3), Some(5)));
        assert_eq!((args.max_streams, args.max_line_bytes), (2, 100));
        assert_eq!(
            args.checkpoint,
            CheckpointArg::ConfigMap {
                namespace: Some("logging".into()),
                name: "kle".into()
            }
        );
        assert_eq!(args.metrics_addr, Some(SocketAddr::from(([127, 0, 0, 1], 1))));
        assert_eq!(args.grace_period, Duration::from_secs(60));
    }

    #[test]
    fn a_switch_not_given_leaves_the_file_and_one_given_turns_it_on() {
        let file = "previous: true\nfail_on_gap: false\ninit_containers: false\n";
        let args = resolved(&[], Some(file)).args;
        assert!(args.previous && !args.fail_on_gap && !args.select.init_containers);
        let args = resolved(
            &["--fail-on-gap", "--init-containers", "--ephemeral-containers"],
            Some(file),
        )
        .args;
        assert!(args.previous && args.fail_on_gap && args.select.init_containers && args.select.ephemeral_containers);
    }

    #[test]
    fn namespaces_and_all_namespaces_are_one_choice() {
        let namespaces = |flags: &[&str], file: &str| {
            let select = resolved(flags, Some(file)).args.select;
            (select.namespaces, select.all_namespaces)
        };
        let none: Vec<String> = Vec::new();
        assert_eq!(
            namespaces(&[], "namespaces: [a, b]\n"),
            (vec!["a".into(), "b".into()], false)
        );
        assert_eq!(namespaces(&[], "all_namespaces: true\n"), (none.clone(), true));
        // Either flag replaces both of the file's keys.
        assert_eq!(namespaces(&["-A"], "namespaces: [a]\n"), (none.clone(), true));
        assert_eq!(
            namespaces(&["-n", "c"], "all_namespaces: true\n"),
            (vec!["c".into()], false)
        );
        assert_eq!(
            namespaces(&["-n", "c", "-n", "d"], "namespaces: [a]\nall_namespaces: true\n"),
            (vec!["c".into(), "d".into()], false)
        );
        // The file's keys together, as written (`all_namespaces` wins when the selection is built).
        assert_eq!(
            namespaces(&[], "namespaces: [a]\nall_namespaces: true\n"),
            (vec!["a".into()], true)
        );
        assert_eq!(namespaces(&["-n", "c"], "selector: x=y\n"), (vec!["c".into()], false));
    }

    #[test]
    fn since_and_since_time_are_one_choice() {
        let since = |flags: &[&str], file: Option<&str>| resolved(flags, file).args.since;
        let time: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        let hour = Since::Ago(Duration::from_secs(3600));
        assert_eq!(since(&["--since", "1h"], None), Some(hour));
        assert_eq!(
            since(&["--since-time", "2026-11-23T10:00:00Z"], None),
            Some(Since::Time(time))
        );
        assert_eq!(since(&[], Some("since: 1h\n")), Some(hour));
        assert_eq!(
            since(&[], Some("since_time: 2026-11-23T10:00:00Z\n")),
            Some(Since::Time(time))
        );
        // Either flag replaces the file's, whichever key that is.
        assert_eq!(
            since(&["--since-time", "2026-11-23T10:00:00Z"], Some("since: 1h\n")),
            Some(Since::Time(time))
        );
        assert_eq!(
            since(&["--since", "5m"], Some("since_time: 2026-11-23T10:00:00Z\n")),
            Some(Since::Ago(Duration::from_secs(300)))
        );
        assert_eq!(since(&["--tail", "1"], Some("since: 1h\n")), Some(hour));
    }

    #[test]
    fn no_preflight_over_the_files_preflight_over_checking() {
        let preflight = |flags: &[&str], file: Option<&str>| resolved(flags, file).args.preflight;
        assert!(preflight(&[], None));
        assert!(!preflight(&["--no-preflight"], None));
        assert!(!preflight(&[], Some("preflight: false\n")));
        assert!(preflight(&[], Some("preflight: true\n")));
        assert!(!preflight(&["--no-preflight"], Some("preflight: true\n")));
    }

    const FILE_SINK: &str = "sink:\n  type: file\n  dir: /a\n  layout: \"{pod}/{container}.txt\"\n  timestamps: false\n  max_open_files: 9\n";

    #[test]
    fn the_files_sink_without_output_flags_is_used_as_written() {
        let file = "sink:\n  type: s3\n  url: s3://logs/a\n  compression: gzip\n  allow_http: true\n  endpoint: http://127.0.0.1:9000\n  max_retries: 3\n";
        let expected = ExportConfig::from_yaml(file).unwrap().sink().cloned();
        assert_eq!(Some(resolved(&[], Some(file)).sink), expected);
        let expected = ExportConfig::from_yaml(FILE_SINK).unwrap().sink().cloned();
        assert_eq!(Some(resolved(&[], Some(FILE_SINK)).sink), expected);
    }

    #[test]
    fn output_flags_complete_the_files_sink() {
        let settings = resolved(&["--dir", "/b", "-o", "json"], Some(FILE_SINK));
        let config = file_config(&settings.sink);
        assert_eq!(config.dir, PathBuf::from("/b"));
        assert_eq!(config.format, FormatKind::Json);
        // What the flags did not say stays the file's.
        assert_eq!(config.layout, "{pod}/{container}.txt");
        assert!(!config.timestamps);
        assert_eq!(config.max_open_files, 9);

        // `--sink` of the file's own type completes it too.
        let settings = resolved(
            &["--sink", "file", "--dir", "/b", "--layout", "{container}.log"],
            Some(FILE_SINK),
        );
        let config = file_config(&settings.sink);
        assert_eq!(
            (config.dir.to_str(), config.layout.as_str()),
            (Some("/b"), "{container}.log")
        );
        assert_eq!((config.format, config.max_open_files), (FormatKind::Raw, 9));

        // Flags of another sink type are ignored, as without a file.
        let settings = resolved(
            &["--timestamps", "--s3-region", "r", "--compression", "none"],
            Some(FILE_SINK),
        );
        assert_eq!(
            Some(settings.sink),
            ExportConfig::from_yaml(FILE_SINK).unwrap().sink().cloned()
        );
    }

    #[test]
    fn sink_of_another_type_replaces_the_files() {
        let settings = resolved(&["--sink", "stdout"], Some(FILE_SINK));
        assert_eq!(settings.sink, SinkConfig::Stdout(StdoutConfig::default()));
        let settings = resolved(&["--sink", "s3", "--s3-url", "s3://logs/b"], Some(FILE_SINK));
        assert_eq!(settings.sink, SinkConfig::S3(S3Config::new("s3://logs/b")));
        // A file without a sink: the flags' sink with its defaults.
        let settings = resolved(&["--sink", "file", "--dir", "/c"], Some("tail: 1\n"));
        assert_eq!(settings.sink, SinkConfig::File(FileConfig::new("/c")));
        assert_eq!(
            resolved(&[], Some("tail: 1\n")).sink,
            SinkConfig::Stdout(StdoutConfig::default())
        );
    }

    #[test]
    fn stdout_flags_complete_the_files_stdout_sink() {
        let file = "sink:\n  type: stdout\n  format: template\n  template: \"{pod} {message}\"\n";
        let settings = resolved(&["--timestamps", "--color", "never"], Some(file));
        let mut expected = StdoutConfig::new(FormatKind::Template)
            .with_timestamps(true)
            .with_color(ColorChoice::Never);
        expected.template = Some("{pod} {message}".into());
        assert_eq!(settings.sink, SinkConfig::Stdout(expected.clone()));
        // `--template` replaces the file's; `-o` its format and not its template.
        let settings = resolved(&["-o", "template", "--template", "{message}"], Some(file));
        assert_eq!(
            settings.sink,
            SinkConfig::Stdout(StdoutConfig::default().with_template("{message}"))
        );
        let settings = resolved(&["-o", "json"], Some(file));
        let mut expected = StdoutConfig::new(FormatKind::Json);
        expected.template = Some("{pod} {message}".into());
        assert_eq!(settings.sink, SinkConfig::Stdout(expected));
    }

    #[test]
    fn every_s3_flag_replaces_its_key_and_the_others_stay() {
        let file = "\
sink:
  type: s3
  url: s3://logs/a
  endpoint: http://127.0.0.1:9000
  region: eu-west-1
  key_template: \"{pod}/{container}/{first_ts}-{last_ts}-{hash}\"
  compression: gzip
  max_object_bytes: 1000
  max_object_age_secs: 60
  max_retries: 3
";
        let flags = [
            "--s3-url",
            "s3://logs/b",
            "--s3-endpoint",
            "http://127.0.0.1:9001",
            "--s3-region",
            "us-east-2",
            "--s3-allow-http",
            "--s3-key-template",
            "{pod_uid}/{container}/{hash}-{first_ts}-{last_ts}",
            "--compression",
            "none",
            "--max-object-bytes",
            "2000",
            "--max-object-age",
            "90s",
            "-o",
            "json",
        ];
        let SinkConfig::S3(file_s3) = resolved(&[], Some(file)).sink else {
            panic!("not an S3 sink")
        };
        assert!(!file_s3.allow_http);
        let mut expected = file_s3
            .with_key_template("{pod_uid}/{container}/{hash}-{first_ts}-{last_ts}")
            .with_format(FormatKind::Json, true)
            .with_compression(Compression::None)
            .with_max_object(2000, Duration::from_secs(90))
            .with_endpoint("http://127.0.0.1:9001", true)
            .with_region("us-east-2");
        expected.url = "s3://logs/b".into();
        let settings = resolved(&flags, Some(file));
        assert_eq!(settings.sink, SinkConfig::S3(expected.clone()));
        assert_eq!(expected.max_retries, 3, "a key without a flag stays the file's");
        // `--sink s3` of the file's type completes it the same way.
        let with_sink: Vec<&str> = ["--sink", "s3"].into_iter().chain(flags).collect();
        assert_eq!(resolved(&with_sink, Some(file)).sink, SinkConfig::S3(expected));
    }

    #[test]
    fn s3_flags_alone_build_the_sink_from_its_defaults() {
        let flags = [
            "--sink",
            "s3",
            "--s3-url",
            "s3://logs/b",
            "--s3-endpoint",
            "http://127.0.0.1:9001",
            "--max-object-age",
            "1500ms",
        ];
        let expected = S3Config::new("s3://logs/b")
            .with_endpoint("http://127.0.0.1:9001", false)
            .with_max_object(DEFAULT_MAX_OBJECT_BYTES, Duration::from_secs(1));
        assert_eq!(resolved(&flags, None).sink, SinkConfig::S3(expected.clone()));
        let with_http: Vec<&str> = flags.into_iter().chain(["--s3-allow-http"]).collect();
        let mut expected = expected;
        expected.allow_http = true;
        assert_eq!(resolved(&with_http, None).sink, SinkConfig::S3(expected));
    }

    /// The name `--help` shows for `value`, as the flag spells it.
    fn name_of<A: clap::ValueEnum, T: PartialEq>(value: &T, convert: impl Fn(A) -> T) -> String {
        A::value_variants()
            .iter()
            .find(|variant| convert((*variant).clone()) == *value)
            .and_then(|variant| variant.to_possible_value())
            .map(|name| name.get_name().to_owned())
            .unwrap()
    }

    #[test]
    fn the_help_shows_the_defaults_that_apply() {
        let defaults = resolved(&[], None);
        let args = &defaults.args;
        let stdout = StdoutConfig::default();
        let file = FileConfig::new("");
        let s3 = S3Config::new("");
        assert_eq!(
            (file.layout.as_str(), s3.key_template.as_str()),
            (DEFAULT_LAYOUT, DEFAULT_KEY_TEMPLATE)
        );
        let shown = [
            ("max_streams", args.max_streams.to_string()),
            ("max_line_bytes", args.max_line_bytes.to_string()),
            ("checkpoint", args.checkpoint.to_string()),
            (
                "grace_period",
                humantime::format_duration(args.grace_period).to_string(),
            ),
            ("sink", defaults.sink.type_name().to_owned()),
            ("color", name_of(&stdout.color, color_choice)),
            ("layout", file.layout),
            ("s3_key_template", s3.key_template.clone()),
            ("compression", name_of(&s3.compression, compression_kind)),
            ("max_object_bytes", s3.max_object_bytes.to_string()),
            (
                "max_object_age",
                humantime::format_duration(s3.max_object_age()).to_string(),
            ),
        ];
        let command = Cli::command();
        for name in ["export", "follow"] {
            let Some(export) = command.find_subcommand(name) else {
                panic!("no {name} subcommand")
            };
            for arg in export.get_arguments() {
                // A clap default would make every flag look given and hide the file's value.
                assert!(
                    arg.get_default_values().is_empty(),
                    "{name} {}: apply its default in settings::resolve, not in clap",
                    arg.get_id()
                );
            }
            for (id, default) in &shown {
                let help = export
                    .get_arguments()
                    .find(|arg| arg.get_id() == id)
                    .and_then(|arg| arg.get_help())
                    .map(ToString::to_string)
                    .unwrap_or_default();
                assert!(help.contains(&format!("[default: {default}]")), "{name} {id}: {help}");
            }
        }
    }
}
