//! `--config`: the file's settings under the flags. A flag counts as given when it came from
//! the command line (or its environment variable), not from its default; given flags win.

use clap::ArgMatches;
use clap::parser::ValueSource;
use kle_sinks::{ColorChoice, Compression, ExportConfig, FileConfig, FormatKind, S3Config, SinkConfig, StdoutConfig};

use crate::args::{ColorArg, CompressionArg, ExportArgs, FormatArg, GlobalArgs, S3Args, SinkArg};

/// The settings of an export: the flags over the configuration file over the defaults.
pub(crate) struct Settings {
    pub(crate) global: GlobalArgs,
    pub(crate) args: ExportArgs,
    pub(crate) sink: SinkConfig,
}

/// The flags (`given` says which came from the command line) over `file` over the defaults.
pub(crate) fn resolve(
    mut global: GlobalArgs,
    mut args: ExportArgs,
    file: Option<&ExportConfig>,
    given: &Given<'_>,
) -> Settings {
    if let Some(file) = file {
        apply(file, &mut global, &mut args, given);
        // Flags such as `--dir` then complete the file's sink rather than a default stdout.
        if !given.has("sink")
            && let Some(sink) = file.sink()
        {
            args.output.sink = match sink {
                SinkConfig::File(_) => SinkArg::File,
                SinkConfig::S3(_) => SinkArg::S3,
                _ => SinkArg::Stdout,
            };
        }
    }
    let flags_sink = sink_config(&args);
    let sink = file
        .and_then(|file| file_sink(file, &flags_sink, given))
        .unwrap_or(flags_sink);
    Settings { global, args, sink }
}

/// Whether the flag with this id was given.
pub(crate) struct Given<'a>(pub(crate) &'a ArgMatches);

impl Given<'_> {
    pub(crate) fn has(&self, id: &str) -> bool {
        // Ids of another subcommand's flags are simply not given (value_source would panic).
        match self.0.try_get_raw(id) {
            Ok(Some(_)) => matches!(
                self.0.value_source(id),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            ),
            _ => false,
        }
    }
}

/// Fills every setting the command line left alone from `file`.
fn apply(file: &ExportConfig, global: &mut GlobalArgs, args: &mut ExportArgs, given: &Given<'_>) {
    fn set<T: Clone>(target: &mut T, value: Option<&T>, given: bool) {
        if let (false, Some(value)) = (given, value) {
            *target = value.clone();
        }
    }
    fn set_some<T: Clone>(target: &mut Option<T>, value: Option<&T>, given: bool) {
        if let (false, Some(value)) = (given, value) {
            *target = Some(value.clone());
        }
    }
    if !given.has("kubeconfig") {
        global.kubeconfig = global.kubeconfig.take().or(file.kubeconfig.clone());
    }
    if !given.has("context") {
        global.context = global.context.take().or(file.context.clone());
    }
    let select = &mut args.select;
    // `-n` and `-A` are one choice: either on the command line replaces the file's.
    let namespaces_given = given.has("namespaces") || given.has("all_namespaces");
    set(&mut select.namespaces, file.namespaces.as_ref(), namespaces_given);
    set(
        &mut select.all_namespaces,
        file.all_namespaces.as_ref(),
        namespaces_given,
    );
    set_some(&mut select.selector, file.selector.as_ref(), given.has("selector"));
    set_some(
        &mut select.field_selector,
        file.field_selector.as_ref(),
        given.has("field_selector"),
    );
    set_some(&mut select.query, file.pods.as_ref(), given.has("query"));
    set(
        &mut select.exclude_pod,
        file.exclude_pods.as_ref(),
        given.has("exclude_pod"),
    );
    set_some(&mut select.container, file.containers.as_ref(), given.has("container"));
    set(
        &mut select.exclude_container,
        file.exclude_containers.as_ref(),
        given.has("exclude_container"),
    );
    set(
        &mut select.init_containers,
        file.init_containers.as_ref(),
        given.has("init_containers"),
    );
    set(
        &mut select.ephemeral_containers,
        file.ephemeral_containers.as_ref(),
        given.has("ephemeral_containers"),
    );
    // `--since` and `--since-time` are one choice too.
    let since_given = given.has("since") || given.has("since_time");
    if !since_given && (file.since.is_some() || file.since_time.is_some()) {
        args.since = file.since;
        args.since_time = file.since_time;
    }
    set_some(&mut args.tail, file.tail.as_ref(), given.has("tail"));
    set(&mut args.previous, file.previous.as_ref(), given.has("previous"));
    set_some(
        &mut args.limit_bytes,
        file.limit_bytes.as_ref(),
        given.has("limit_bytes"),
    );
    set(
        &mut args.max_streams,
        file.max_streams.as_ref(),
        given.has("max_streams"),
    );
    set(
        &mut args.max_line_bytes,
        file.max_line_bytes.as_ref(),
        given.has("max_line_bytes"),
    );
    set(&mut args.checkpoint, file.checkpoint.as_ref(), given.has("checkpoint"));
    set(
        &mut args.fail_on_gap,
        file.fail_on_gap.as_ref(),
        given.has("fail_on_gap"),
    );
    if !given.has("no_preflight")
        && let Some(preflight) = file.preflight
    {
        args.no_preflight = !preflight;
    }
    set_some(
        &mut args.metrics_addr,
        file.metrics_addr.as_ref(),
        given.has("metrics_addr"),
    );
    set(
        &mut args.grace_period,
        file.grace_period.as_ref(),
        given.has("grace_period"),
    );
}

/// The file's sink with the output flags given on the command line applied to it, or `None`
/// when the flags name another sink (`--sink`) or the file names none.
fn file_sink(file: &ExportConfig, flags: &SinkConfig, given: &Given<'_>) -> Option<SinkConfig> {
    let mut sink = file.sink()?.clone();
    if given.has("sink") && sink.type_name() != flags.type_name() {
        return None;
    }
    match (&mut sink, flags) {
        (SinkConfig::Stdout(sink), SinkConfig::Stdout(flags)) => {
            if given.has("output") {
                sink.format = flags.format;
            }
            if given.has("timestamps") {
                sink.timestamps = flags.timestamps;
            }
            if given.has("color") {
                sink.color = flags.color;
            }
            if given.has("template") {
                sink.template.clone_from(&flags.template);
            }
        }
        (SinkConfig::File(sink), SinkConfig::File(flags)) => {
            if given.has("dir") {
                sink.dir.clone_from(&flags.dir);
            }
            if given.has("layout") {
                sink.layout.clone_from(&flags.layout);
            }
            if given.has("output") {
                sink.format = flags.format;
            }
        }
        (SinkConfig::S3(sink), SinkConfig::S3(flags)) => {
            if given.has("s3_url") {
                sink.url.clone_from(&flags.url);
            }
            if given.has("s3_endpoint") {
                sink.endpoint.clone_from(&flags.endpoint);
            }
            if given.has("s3_region") {
                sink.region.clone_from(&flags.region);
            }
            if given.has("s3_allow_http") {
                sink.allow_http = flags.allow_http;
            }
            if given.has("s3_key_template") {
                sink.key_template.clone_from(&flags.key_template);
            }
            if given.has("compression") {
                sink.compression = flags.compression;
            }
            if given.has("max_object_bytes") {
                sink.max_object_bytes = flags.max_object_bytes;
            }
            if given.has("max_object_age") {
                sink.max_object_age_secs = flags.max_object_age_secs;
            }
            if given.has("output") {
                sink.format = flags.format;
            }
        }
        // The flags describe the file's sink type when `--sink` was not given: its default.
        _ => {}
    }
    Some(sink)
}

fn sink_config(args: &ExportArgs) -> SinkConfig {
    let output = &args.output;
    let kind = output.output.map(|format| match format {
        FormatArg::Text => FormatKind::Text,
        FormatArg::Raw => FormatKind::Raw,
        FormatArg::Json => FormatKind::Json,
        FormatArg::Template => FormatKind::Template,
    });
    match output.sink {
        SinkArg::Stdout => {
            let color = match output.color {
                ColorArg::Auto => ColorChoice::Auto,
                ColorArg::Always => ColorChoice::Always,
                ColorArg::Never => ColorChoice::Never,
            };
            let mut config = StdoutConfig::new(kind.unwrap_or(FormatKind::Text))
                .with_timestamps(output.timestamps)
                .with_color(color);
            config.template.clone_from(&output.template);
            SinkConfig::Stdout(config)
        }
        // Files keep the API's timestamps: a container's file equals `kubectl logs --timestamps`.
        SinkArg::File => SinkConfig::File(
            FileConfig::new(output.dir.clone().unwrap_or_default())
                .with_layout(output.layout.clone())
                .with_format(kind.unwrap_or(FormatKind::Raw), true),
        ),
        SinkArg::S3 => SinkConfig::S3(s3_config(&output.s3, kind.unwrap_or(FormatKind::Raw))),
    }
}

/// Objects keep the API's timestamps, like files.
fn s3_config(args: &S3Args, format: FormatKind) -> S3Config {
    let compression = match args.compression {
        CompressionArg::None => Compression::None,
        CompressionArg::Gzip => Compression::Gzip,
        CompressionArg::Zstd => Compression::Zstd,
    };
    let mut config = S3Config::new(args.s3_url.clone().unwrap_or_default())
        .with_key_template(args.s3_key_template.clone())
        .with_format(format, true)
        .with_compression(compression)
        .with_max_object(args.max_object_bytes, args.max_object_age);
    if let Some(endpoint) = &args.s3_endpoint {
        config = config.with_endpoint(endpoint, args.s3_allow_http);
    }
    config.allow_http = args.s3_allow_http;
    if let Some(region) = &args.s3_region {
        config = config.with_region(region);
    }
    config
}
