//! Wiring: arguments to library types, the run, and its outcome to an exit code.

use std::fmt;
use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::Duration;

use clap::CommandFactory as _;

use kle_auth::{AuthError, AuthMode, ClientOptions, Connection, Rbac, Subject, connect};
use kle_core::{
    CheckpointStore, ConfigMapCheckpointStore, ExportOptions, Exporter, FileCheckpointStore, Namespaces, Permission,
    RunSummary, Selection, Since, StreamOptions, required_permissions,
};
use kle_sinks::{
    Checkpointer, DeliverOptions, Delivery, ExportConfig, Metrics, ObjectCheckpointStore, SinkConfig, SinkError,
    deliver_checkpointed, deliver_into,
};
use tracing::{info, warn};

use crate::args::{AuthArg, CheckArgs, CheckpointArg, Cli, Command, ExportArgs, GlobalArgs, RbacArgs, SelectArgs};
use crate::settings::{self, ExportSettings, Settings};

pub(crate) const EXIT_OK: u8 = 0;
pub(crate) const EXIT_ERROR: u8 = 1;
pub(crate) const EXIT_USAGE: u8 = 2;
pub(crate) const EXIT_NOTHING_MATCHED: u8 = 3;
pub(crate) const EXIT_FORBIDDEN: u8 = 4;
pub(crate) const EXIT_GAPS: u8 = 5;

/// The checkpoint file `--checkpoint auto` keeps beside the files of `--sink file`.
pub(crate) const CHECKPOINT_FILE: &str = ".kube-log-exporter-checkpoint.json";

/// Why a command failed, and what the user can do about it.
#[derive(Debug)]
pub(crate) enum Failure {
    Auth(AuthError),
    Core(kle_core::Error),
    Sink(SinkError),
    Forbidden {
        denied: Vec<(Permission, String)>,
        rbac: String,
    },
    NothingMatched(String),
    Incomplete(Vec<(String, String)>),
    Gaps(Vec<String>),
    /// A setting that cannot be used, said how to fix it.
    Usage(String),
    /// Output that cannot be written.
    Output(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Auth(e) => write!(f, "{e}"),
            Failure::Core(e) => write!(f, "{e}"),
            Failure::Sink(e) => write!(f, "{e}"),
            Failure::Forbidden { denied, .. } => {
                f.write_str("permission denied:")?;
                for (permission, message) in denied {
                    write!(f, "\n  cannot {permission}")?;
                    if !message.is_empty() {
                        write!(f, " ({message})")?;
                    }
                }
                Ok(())
            }
            Failure::NothingMatched(what) => write!(f, "no container matched {what}"),
            Failure::Usage(what) | Failure::Output(what) => f.write_str(what),
            Failure::Gaps(gaps) => {
                write!(f, "{} gap(s): lines that could not be exported:", gaps.len())?;
                for gap in gaps {
                    write!(f, "\n  {gap}")?;
                }
                Ok(())
            }
            Failure::Incomplete(failed) => {
                write!(f, "{} container log(s) could not be read completely:", failed.len())?;
                for (container, reason) in failed {
                    write!(f, "\n  {container}: {reason}")?;
                }
                Ok(())
            }
        }
    }
}

impl Failure {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Failure::Forbidden { .. } => EXIT_FORBIDDEN,
            Failure::Core(e) if e.is_forbidden() => EXIT_FORBIDDEN,
            Failure::NothingMatched(_) => EXIT_NOTHING_MATCHED,
            Failure::Gaps(_) => EXIT_GAPS,
            Failure::Usage(_) | Failure::Sink(SinkError::ConfigFile { .. }) => EXIT_USAGE,
            _ => EXIT_ERROR,
        }
    }

    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            Failure::Forbidden { rbac, .. } => Some(format!(
                "This RBAC grants what the export needs (kubectl apply -f -):\n{rbac}"
            )),
            _ => None,
        }
    }
}

impl From<AuthError> for Failure {
    fn from(e: AuthError) -> Self {
        Failure::Auth(e)
    }
}

impl From<SinkError> for Failure {
    fn from(e: SinkError) -> Self {
        Failure::Sink(e)
    }
}

pub(crate) async fn run(cli: Cli) -> Result<u8, Failure> {
    match cli.command {
        Command::Export(args) => export(cli.global, args, false).await,
        Command::Follow(args) => export(cli.global, args, true).await,
        Command::Rbac(args) => rbac(args),
        Command::Check(args) => check(&cli.global, args).await,
        Command::Config(command) => crate::tools::config(command),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "kube-log-exporter", &mut script);
            crate::tools::print_out(&script)
        }
        Command::Man => crate::tools::man(),
    }
}

/// A client for `streams` log streams open at once (1 for commands that stream nothing).
async fn connection(global: &GlobalArgs, streams: usize) -> Result<Connection, Failure> {
    let mode = match global.auth {
        AuthArg::Auto => AuthMode::Auto,
        AuthArg::Kubeconfig => AuthMode::Kubeconfig,
        AuthArg::InCluster => AuthMode::InCluster,
    };
    let mut options = ClientOptions::new(mode).with_concurrent_streams(streams);
    if let Some(path) = &global.kubeconfig {
        options = options.with_kubeconfig(path);
    }
    if let Some(context) = &global.context {
        options = options.with_context(context);
    }
    Ok(connect(&options).await?)
}

fn selection(args: &SelectArgs, default_namespace: &str) -> Result<Selection, Failure> {
    let namespaces = if args.all_namespaces {
        Namespaces::All
    } else if args.namespaces.is_empty() {
        Namespaces::Only(vec![default_namespace.to_owned()])
    } else {
        Namespaces::Only(args.namespaces.clone())
    };
    let mut builder = Selection::builder()
        .with_namespaces(namespaces)
        .with_init_containers(args.init_containers)
        .with_ephemeral_containers(args.ephemeral_containers);
    if let Some(selector) = &args.selector {
        builder = builder.with_label_selector(selector);
    }
    if let Some(selector) = &args.field_selector {
        builder = builder.with_field_selector(selector);
    }
    if let Some(query) = &args.query {
        builder = builder.with_pod_query(query);
    }
    if let Some(container) = &args.container {
        builder = builder.with_containers(container);
    }
    for pattern in &args.exclude_pod {
        builder = builder.with_exclude_pod(pattern);
    }
    for pattern in &args.exclude_container {
        builder = builder.with_exclude_containers(pattern);
    }
    builder.build().map_err(Failure::Core)
}

/// The S3 sink commits every --max-object-age (each commit finishes its objects); others every second.
fn deliver_options(config: &SinkConfig) -> DeliverOptions {
    let options = DeliverOptions::default();
    match config.preferred_commit_interval() {
        Some(interval) => options.with_commit_interval(interval),
        None => options,
    }
}

async fn export(global: GlobalArgs, args: ExportArgs, follow: bool) -> Result<u8, Failure> {
    let file = args.config.as_deref().map(ExportConfig::load).transpose()?;
    let Settings {
        global,
        args,
        sink: sink_config,
    } = settings::resolve(global, args, file.as_ref());
    sink_config.validate().map_err(|err| Failure::Usage(err.to_string()))?;
    let connection = connection(&global, args.max_streams).await?;
    info!(source = %connection.source, "connected");
    let selection = selection(&args.select, &connection.default_namespace)?;
    let needed = || needed_permissions(&selection, follow, &args.checkpoint, &connection.default_namespace);
    if args.preflight {
        crate::preflight::preflight(&connection, needed()).await?;
    }
    if args.dry_run {
        return crate::tools::dry_run(&connection, &selection, &sink_config, &args).await;
    }
    let options = ExportOptions {
        stream: StreamOptions {
            follow,
            since: args.since,
            tail_lines: args.tail,
            limit_bytes: args.limit_bytes,
            previous: args.previous,
            max_line_bytes: args.max_line_bytes,
            ..StreamOptions::default()
        },
        max_streams: args.max_streams,
        ..ExportOptions::default()
    };
    let sink_failure = |e: SinkError| match e {
        SinkError::Checkpoint(core) => forbidden_or(core, needed()),
        other => Failure::Sink(other),
    };
    let mut sink = sink_config.build()?;
    let mut delivery = Delivery::default();
    // A person at a terminal watching a one-shot export sees its progress and a summary.
    let interactive = !follow && !args.quiet && std::io::stderr().is_terminal();
    let metrics = (args.metrics_addr.is_some() || interactive).then(|| Arc::new(Metrics::new(sink.describe())));
    if let (Some(addr), Some(metrics)) = (args.metrics_addr, &metrics) {
        crate::serve::serve(addr, Arc::clone(metrics)).await.map_err(|err| {
            Failure::Usage(format!(
                "cannot serve metrics on {addr}: {err}; choose a free address with --metrics-addr"
            ))
        })?;
    }
    if let Some(metrics) = &metrics {
        delivery = delivery.with_metrics(Arc::clone(metrics));
    }
    let mut checkpointer = match checkpoint_store(&args, &sink_config, &connection)? {
        Some(store) => Some(Checkpointer::load(store, origin(&args)).await.map_err(sink_failure)?),
        None => None,
    };
    let mut exporter = Exporter::new(connection.client.clone(), selection.clone()).with_options(options);
    if let Some(checkpoint) = checkpointer.as_ref().and_then(Checkpointer::resumed) {
        exporter = exporter.with_checkpoint(checkpoint.clone());
    }
    let mut run = exporter.start();
    cancel_on_signals(run.cancellation(), args.grace_period);
    let deliver_options = deliver_options(&sink_config);
    let progress = metrics
        .filter(|_| interactive)
        .map(crate::progress::ProgressLine::start);
    let delivered = match checkpointer.as_mut() {
        Some(checkpointer) => {
            deliver_checkpointed(&mut run, sink.as_mut(), &deliver_options, checkpointer, &mut delivery).await
        }
        None => deliver_into(&mut run, sink.as_mut(), &deliver_options, &mut delivery).await,
    };
    if delivered.is_err() {
        run.cancellation().cancel();
    }
    let summary = run.finish().await;
    if let Some(progress) = progress {
        progress.stop();
    }
    match delivered {
        // The reader went away (`| head`): not an error.
        Err(e) if e.is_closed() => return Ok(EXIT_OK),
        other => other.map_err(sink_failure)?,
    }
    let summary = summary.map_err(|e| forbidden_or(e, needed()))?;
    info!(
        containers = summary.matched,
        lines = delivery.lines,
        bytes = delivery.bytes,
        gaps = summary.gaps.len(),
        sink = %sink.describe(),
        checkpoint = %checkpointer.as_ref().map_or("none".to_owned(), |c| c.store().describe()),
        "export finished"
    );
    if interactive {
        eprint!("{}", crate::progress::summary_table(&delivery, &summary));
    }
    outcome(&summary, &selection, follow, &args)
}

/// What an export of `selection` needs, its checkpoint store included.
fn needed_permissions(
    selection: &Selection,
    follow: bool,
    checkpoint: &CheckpointArg,
    default_namespace: &str,
) -> Vec<Permission> {
    let mut needed = required_permissions(selection, follow);
    if let CheckpointArg::ConfigMap { namespace, name } = checkpoint {
        let namespace = namespace.as_deref().unwrap_or(default_namespace);
        needed.extend(kle_core::checkpoint::configmap_permissions(namespace, name));
    }
    needed
}

/// Cancels the run on Ctrl-C or SIGTERM: streams stop, and what was received is committed
/// (and checkpointed) before exit. The commit may take at most `grace`; after that, or at a
/// second signal, the process exits with code 1 and the next run resumes from the last
/// checkpoint saved.
fn cancel_on_signals(cancel: tokio_util::sync::CancellationToken, grace: Duration) {
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => Some(term),
            Err(err) => {
                warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the run cleanly");
                None
            }
        };
        #[cfg(unix)]
        let mut signalled = async || match term.as_mut() {
            Some(term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        };
        #[cfg(not(unix))]
        let signalled = async || {
            let _ = tokio::signal::ctrl_c().await;
        };
        signalled().await;
        info!(grace_period = %humantime::format_duration(grace), "stopping; committing what was received");
        cancel.cancel();
        tokio::select! {
            () = tokio::time::sleep(grace) => {
                eprintln!(
                    "error: committing did not finish within the grace period ({}); exiting. \
                     The next run resumes from the last checkpoint saved; raise --grace-period if the sink needs longer.",
                    humantime::format_duration(grace)
                );
            }
            () = signalled() => eprintln!("error: second signal; exiting without waiting for the commit"),
        }
        std::process::exit(i32::from(EXIT_ERROR));
    });
}

/// The checkpoint store `--checkpoint` names.
pub(crate) fn checkpoint_store(
    args: &ExportSettings,
    sink: &SinkConfig,
    connection: &Connection,
) -> Result<Option<Arc<dyn CheckpointStore>>, Failure> {
    Ok(match &args.checkpoint {
        CheckpointArg::None => None,
        // Beside the output: a file next to the files, an object next to the objects.
        CheckpointArg::Auto => match sink {
            SinkConfig::File(config) => Some(Arc::new(FileCheckpointStore::new(config.dir.join(CHECKPOINT_FILE)))),
            SinkConfig::S3(config) => Some(Arc::new(ObjectCheckpointStore::from_config(config)?)),
            _ => None,
        },
        CheckpointArg::File(path) => Some(Arc::new(FileCheckpointStore::new(path))),
        CheckpointArg::ConfigMap { namespace, name } => Some(Arc::new(ConfigMapCheckpointStore::new(
            connection.client.clone(),
            namespace
                .clone()
                .unwrap_or_else(|| connection.default_namespace.clone()),
            name.clone(),
        ))),
    })
}

/// Where a first run's `--since`/`--since-time` starts, made absolute: containers that appear
/// in later runs are read from there.
fn origin(args: &ExportSettings) -> Option<jiff::Timestamp> {
    match args.since? {
        Since::Ago(ago) => jiff::SignedDuration::try_from(ago)
            .ok()
            .and_then(|ago| jiff::Timestamp::now().checked_sub(ago).ok()),
        Since::Time(time) => Some(time),
    }
}

/// Turns a 403 into the permission message plus the RBAC that fixes it.
fn forbidden_or(error: kle_core::Error, needed: Vec<Permission>) -> Failure {
    match error {
        kle_core::Error::Forbidden { permission, message } => forbidden(vec![(permission, message)], needed),
        other => Failure::Core(other),
    }
}

/// The permission failure for `denied`, with the RBAC that grants everything `needed`.
fn forbidden(denied: Vec<(Permission, String)>, needed: Vec<Permission>) -> Failure {
    let subject = denied
        .iter()
        .find_map(|(_, message)| Subject::from_forbidden_message(message))
        .unwrap_or_else(|| Subject::User("<your user>".into()));
    let rbac = Rbac::new("kube-log-exporter", subject, needed).to_yaml();
    Failure::Forbidden { denied, rbac }
}

fn outcome(summary: &RunSummary, selection: &Selection, follow: bool, args: &ExportSettings) -> Result<u8, Failure> {
    if !summary.forbidden.is_empty() {
        return Err(forbidden(
            summary.forbidden.clone(),
            required_permissions(selection, follow),
        ));
    }
    if !summary.failed.is_empty() {
        return Err(Failure::Incomplete(summary.failed.clone()));
    }
    if args.fail_on_gap && !summary.gaps.is_empty() {
        return Err(Failure::Gaps(summary.gaps.iter().map(ToString::to_string).collect()));
    }
    let args = &args.select;
    if summary.pod_deleted > 0 {
        warn!(
            containers = summary.pod_deleted,
            "pods were deleted before their logs were read completely"
        );
    }
    if summary.matched == 0 {
        return Err(Failure::NothingMatched(describe_selection(selection, args)));
    }
    Ok(EXIT_OK)
}

pub(crate) fn describe_selection(selection: &Selection, args: &SelectArgs) -> String {
    let mut parts = vec![match selection.namespaces() {
        Namespaces::All => "in any namespace".to_owned(),
        Namespaces::Only(list) => format!("in namespace(s) {}", list.join(", ")),
    }];
    if let Some(s) = &args.selector {
        parts.push(format!("with labels {s}"));
    }
    if let Some(s) = &args.field_selector {
        parts.push(format!("with fields {s}"));
    }
    if let Some(q) = &args.query {
        parts.push(format!("in pods matching /{q}/"));
    }
    if let Some(c) = &args.container {
        parts.push(format!("named like /{c}/"));
    }
    parts.join(" ")
}

fn rbac(args: RbacArgs) -> Result<u8, Failure> {
    let selection = selection(&args.select, &args.sa_namespace)?;
    let subject = Subject::ServiceAccount {
        name: args.service_account.clone(),
        namespace: args.sa_namespace.clone(),
    };
    let permissions = needed_permissions(&selection, args.follow, &args.checkpoint, &args.sa_namespace);
    print!("{}", Rbac::new(args.service_account, subject, permissions).to_yaml());
    Ok(EXIT_OK)
}

async fn check(global: &GlobalArgs, args: CheckArgs) -> Result<u8, Failure> {
    let connection = connection(global, 1).await?;
    let selection = selection(&args.select, &connection.default_namespace)?;
    let needed = needed_permissions(&selection, args.follow, &args.checkpoint, &connection.default_namespace);
    let checks = crate::preflight::review(&connection, &needed).await?;
    print!("{}", kle_auth::render_access_table(&checks));
    crate::preflight::verdict(&connection, checks, needed).await?;
    println!("\n{} can run this export.", connection.source);
    Ok(EXIT_OK)
}
