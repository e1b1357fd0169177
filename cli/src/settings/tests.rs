use clap::{CommandFactory as _, Parser as _};
use jiff::Timestamp;
use kle_sinks::layout::DEFAULT_LAYOUT;
use kle_sinks::object::{DEFAULT_KEY_TEMPLATE, DEFAULT_MAX_OBJECT_BYTES};

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
workloads: [deploy/web, cj/nightly]
node: node-9
container_state: terminated
exclude_pods: [canary]
containers: app
exclude_containers: [istio]
init_containers: true
ephemeral_containers: true
tail: 10
previous: true
include: [ERROR]
exclude: [healthz, ready]
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
                &select.selector,
                &select.field_selector,
                &select.container,
                &select.node
            ),
            (&None, &None, &None, &None)
        );
        assert!(select.query.is_empty() && select.container_state.is_none());
        assert!(args.include.is_empty() && args.exclude.is_empty());
        assert_eq!(
            (&settings.global.kubeconfig, &settings.global.context),
            (&None, &Vec::<String>::new())
        );
        assert_eq!(settings.sink, SinkConfig::Stdout(StdoutConfig::default()));
    }
}

#[test]
fn the_file_fills_what_the_flags_leave() {
    let settings = resolved(&["--dry-run", "-q"], Some(EVERY_KEY));
    let args = &settings.args;
    assert_eq!(settings.global.kubeconfig, Some(PathBuf::from("/file/kubeconfig")));
    assert_eq!(settings.global.context, ["file-context"]);
    let select = &args.select;
    assert_eq!(select.selector.as_deref(), Some("app=web"));
    assert_eq!(select.field_selector.as_deref(), Some("spec.nodeName=node-1"));
    assert_eq!(select.query, ["^web-", "deploy/web", "cj/nightly"]);
    assert_eq!(select.node.as_deref(), Some("node-9"));
    assert_eq!(select.container_state, Some(ContainerStateArg::Terminated));
    assert_eq!(
        (&args.include[..], &args.exclude[..]),
        (
            &["ERROR".to_owned()][..],
            &["healthz".to_owned(), "ready".to_owned()][..]
        )
    );
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
        "--node",
        "node-2",
        "--container-state",
        "running",
        "-i",
        "WARN",
        "--exclude",
        "noise",
        "^api-",
        "sts/db",
    ];
    let settings = resolved(&flags, Some(EVERY_KEY));
    let args = &settings.args;
    assert_eq!(settings.global.kubeconfig, Some(PathBuf::from("/flag/kubeconfig")));
    assert_eq!(settings.global.context, ["flag-context"]);
    let select = &args.select;
    assert_eq!(select.selector.as_deref(), Some("app=api"));
    assert_eq!(select.field_selector.as_deref(), Some("spec.nodeName=node-2"));
    assert_eq!(
        select.query,
        ["^api-", "sts/db"],
        "the positional queries replace pods and workloads"
    );
    assert_eq!(select.node.as_deref(), Some("node-2"));
    assert_eq!(select.container_state, Some(ContainerStateArg::Running));
    assert_eq!(
        (&args.include[..], &args.exclude[..]),
        (&["WARN".to_owned()][..], &["noise".to_owned()][..])
    );
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

const FILE_SINK: &str =
    "sink:\n  type: file\n  dir: /a\n  layout: \"{pod}/{container}.txt\"\n  timestamps: false\n  max_open_files: 9\n";

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
    assert_eq!(settings.sink, SinkConfig::S3(ObjectStoreConfig::new("s3://logs/b")));
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
    let expected = ObjectStoreConfig::new("s3://logs/b")
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
    let s3 = ObjectStoreConfig::new("");
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
