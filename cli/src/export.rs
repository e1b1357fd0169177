//! `export` and `follow`: the flags and the configuration file into an [`Export`], and its
//! report into an exit code.

use std::io::IsTerminal as _;
use std::sync::Arc;

use kle_core::lines::LineFilter;
use kle_core::ownership::LeaseTiming;
use kle_core::{Export, ExportOptions, ExportReport, Metrics, Selection, StreamOptions, required_permissions};
use kle_sinks::ExportConfig;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use kle_auth::TransportStats;
use kle_sinks::SinkConfig;
use tracing::{Instrument as _, error, info_span};

use crate::args::{CheckpointArg, ExportArgs, GlobalArgs};
use crate::cluster::{connection, describe_selection, selection};
use crate::clusters::ClusterTarget;
use crate::failure::{EXIT_OK, Failure};
use crate::progress::{ProgressLine, summary_table};
use crate::settings::{ExportSettings, Settings};

pub(crate) async fn export(global: GlobalArgs, args: ExportArgs, follow: bool) -> Result<u8, Failure> {
    let file = args.config.as_deref().map(ExportConfig::load).transpose()?;
    let Settings { global, args, sink } = crate::settings::resolve(global, args, file.as_ref());
    sink.validate().map_err(|err| Failure::Usage(err.to_string()))?;
    // Every setting that can be checked is checked before the cluster is asked anything; the
    // namespace a selection defaults to is only known once connected.
    selection(&args.select, "default")?;
    LineFilter::new(&args.include, &args.exclude).map_err(Failure::Core)?;
    if args.shards.shards.is_none() && (args.shards.shard_group.is_some() || args.shards.shard_namespace.is_some()) {
        return Err(Failure::Usage(
            "--shard-group and --shard-namespace belong to a sharded follow: add --shards N".into(),
        ));
    }
    let targets = crate::clusters::targets(&global, &args, &sink)?;
    if let [target] = targets.as_slice() {
        let sink = named(sink, target);
        if let Some(count) = args.shards.shards {
            crate::sharded::check(&args.shards, count, follow, &args, &sink)?;
            if !args.dry_run {
                let options = options(&args, follow)?;
                return crate::sharded::follow(global, args, sink, options, count).await;
            }
        }
        return one_cluster(global, &args, sink, follow).await;
    }
    several_clusters(global, &args, &sink, targets, follow).await
}

/// `sink` labelled with `target`'s name, when the run names its clusters.
fn named(sink: SinkConfig, target: &ClusterTarget) -> SinkConfig {
    match &target.name {
        Some(name) => sink.with_cluster(name),
        None => sink,
    }
}

/// An export from one cluster: the connection `global` describes.
async fn one_cluster(global: GlobalArgs, args: &ExportSettings, sink: SinkConfig, follow: bool) -> Result<u8, Failure> {
    let Some(prepared) = prepare(&global, args, &sink, None, follow).await? else {
        return Ok(EXIT_OK);
    };
    // A person at a terminal watching a one-shot export sees its progress and a summary.
    let interactive = !follow && !args.quiet && std::io::stderr().is_terminal();
    let metrics = (args.metrics_addr.is_some() || interactive)
        .then(|| Arc::new(Metrics::new(prepared.export.sink_description())));
    if let Some(metrics) = &metrics {
        serve_metrics(args, metrics, Some(prepared.transport.clone())).await?;
    }
    let cancel = CancellationToken::new();
    crate::signals::cancel_on_signals(cancel.clone(), args.grace_period);
    let progress = metrics.clone().filter(|_| interactive).map(ProgressLine::start);
    let finished = prepared.run(metrics, cancel).await;
    if let Some(progress) = progress {
        progress.stop();
    }
    let Some(finished) = finished? else {
        return Ok(EXIT_OK);
    };
    finished.log();
    if interactive {
        eprint!("{}", summary_table(&finished.report));
    }
    outcome(finished, args).map(|()| EXIT_OK)
}

/// An export from several clusters in one run: one [`Export`] per cluster, each into a sink
/// and a checkpoint of its own, side by side until all end. A cluster whose export fails ends
/// the run, as it would end a run of its own.
async fn several_clusters(
    global: GlobalArgs,
    args: &ExportSettings,
    sink: &SinkConfig,
    targets: Vec<ClusterTarget>,
    follow: bool,
) -> Result<u8, Failure> {
    let names: Vec<String> = targets.iter().filter_map(|target| target.name.clone()).collect();
    let checkpoint = args.checkpoint.clone();
    let mut prepared = Vec::with_capacity(targets.len());
    // Connected and checked one by one, before any log is read: a cluster that cannot be
    // exported stops the run before anything is written.
    for target in &targets {
        let name = target.name.clone().unwrap_or_default();
        let global = GlobalArgs {
            context: target.context.iter().cloned().collect(),
            ..global.clone()
        };
        let spec = checkpoint.for_cluster(&name);
        let span = info_span!("cluster", cluster = %name);
        let cluster = prepare(&global, args, &named(sink.clone(), target), Some(&spec), follow)
            .instrument(span.clone())
            .await;
        match cluster {
            Ok(Some(cluster)) => prepared.push((name, span, cluster)),
            Ok(None) => {}
            Err(failure) => return Err(failure.in_cluster(&name)),
        }
    }
    if args.dry_run {
        return Ok(EXIT_OK);
    }
    info!(clusters = %names.join(", "), "exporting from {} clusters", prepared.len());
    let metrics = args.metrics_addr.is_some().then(|| {
        Arc::new(Metrics::new(format!(
            "{} ({} clusters)",
            sink.type_name(),
            prepared.len()
        )))
    });
    if let Some(metrics) = &metrics {
        serve_metrics(args, metrics, None).await?;
    }
    let cancel = CancellationToken::new();
    crate::signals::cancel_on_signals(cancel.clone(), args.grace_period);
    let runs = prepared.into_iter().map(|(name, span, cluster)| {
        let (metrics, cancel) = (metrics.clone(), cancel.clone());
        async move {
            let finished = cluster.run(metrics, cancel.clone()).await;
            if let Ok(Some(finished)) = &finished {
                finished.log();
            }
            if finished.is_err() {
                // A failed export ends the run: the others commit what they have and stop.
                cancel.cancel();
            }
            (name, finished)
        }
        .instrument(span)
    });
    let mut failure = None;
    let mut nothing = Vec::new();
    for (name, finished) in futures::future::join_all(runs).await {
        let verdict = match finished {
            Ok(Some(finished)) => outcome(finished, args),
            Ok(None) => Ok(()),
            Err(err) => Err(err),
        };
        match verdict {
            Ok(_) => {}
            Err(Failure::NothingMatched(what)) => nothing.push(format!("{name}: {what}")),
            Err(err) => {
                let err = err.in_cluster(&name);
                if failure.is_none() {
                    failure = Some(err);
                } else {
                    error!(cluster = %name, "{err}");
                }
            }
        }
    }
    if let Some(failure) = failure {
        return Err(failure);
    }
    // Nothing matched in some clusters: said, but a failure only when it is all of them.
    if nothing.len() == names.len() {
        return Err(Failure::NothingMatched(nothing.join("; ")));
    }
    for what in nothing {
        warn!("no container matched in cluster {what}");
    }
    Ok(EXIT_OK)
}

/// One cluster's export, connected and checked, ready to run.
struct Prepared {
    export: Export,
    selection: Selection,
    needed: Vec<kle_core::Permission>,
    /// The connections to the API server, for `/metrics`.
    transport: TransportStats,
}

/// What a finished export leaves for its verdict.
struct Finished {
    report: ExportReport,
    selection: Selection,
    needed: Vec<kle_core::Permission>,
}

/// Connects to the cluster `global` describes, builds the selection and the checkpoint
/// (`checkpoint`, else `args`'), checks the permissions, and builds the [`Export`]; with
/// `--dry-run`, prints what it would do instead and returns `None`.
async fn prepare(
    global: &GlobalArgs,
    args: &ExportSettings,
    sink: &SinkConfig,
    checkpoint: Option<&CheckpointArg>,
    follow: bool,
) -> Result<Option<Prepared>, Failure> {
    let connection = connection(global, args.max_streams).await?;
    info!(source = %connection.source, "connected");
    let selection = selection(&args.select, &connection.default_namespace)?;
    let checkpoint = checkpoint.unwrap_or(&args.checkpoint).store(
        sink,
        &connection.client,
        &connection.default_namespace,
        LeaseTiming::with_duration(args.lease_duration),
    )?;
    let needed = required_permissions(&selection, follow, checkpoint.as_deref());
    if args.preflight {
        crate::preflight::preflight(&connection, needed.clone()).await?;
    }
    if args.dry_run {
        crate::dry_run::dry_run(
            &connection.client,
            &selection,
            sink,
            checkpoint.as_deref(),
            &args.select,
        )
        .await?;
        return Ok(None);
    }
    let mut export =
        Export::new(connection.client.clone(), selection.clone(), sink.build()?).with_options(options(args, follow)?);
    if let Some(store) = checkpoint {
        export = export.with_checkpoint(store);
    }
    if let Some(wait) = args.wait_for_lock {
        export = export.with_wait_for_lock(wait);
    }
    Ok(Some(Prepared {
        export,
        selection,
        needed,
        transport: connection.transport.clone(),
    }))
}

impl Prepared {
    /// Runs the export; `None` when the reader of standard output went away (`| head`),
    /// which is not an error.
    async fn run(self, metrics: Option<Arc<Metrics>>, cancel: CancellationToken) -> Result<Option<Finished>, Failure> {
        let Prepared {
            mut export,
            selection,
            needed,
            transport: _,
        } = self;
        if let Some(metrics) = metrics {
            export = export.with_metrics(metrics);
        }
        let report = match export.run(cancel).await {
            Err(kle_core::Error::Sink(e)) if e.is_closed() => return Ok(None),
            other => other.map_err(|e| Failure::from_core(e, || needed.clone()))?,
        };
        Ok(Some(Finished {
            report,
            selection,
            needed,
        }))
    }
}

impl Finished {
    /// Says in the log what the export did (after a terminal's progress line is gone).
    fn log(&self) {
        let report = &self.report;
        info!(
            containers = report.summary.matched,
            lines = report.delivery.lines,
            bytes = report.delivery.bytes,
            gaps = report.summary.gaps.len(),
            sink = %report.sink,
            checkpoint = report.checkpoint.as_deref().unwrap_or("none"),
            "export finished"
        );
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `--metrics-addr`, if given; `transport`:
/// the API connections of a run over one cluster.
async fn serve_metrics(
    args: &ExportSettings,
    metrics: &Arc<Metrics>,
    transport: Option<TransportStats>,
) -> Result<(), Failure> {
    if let Some(addr) = args.metrics_addr {
        crate::serve::serve(addr, Arc::clone(metrics), transport)
            .await
            .map_err(|err| {
                Failure::Usage(format!(
                    "cannot serve metrics on {addr}: {err}; choose a free address with --metrics-addr"
                ))
            })?;
    }
    Ok(())
}

fn options(args: &ExportSettings, follow: bool) -> Result<ExportOptions, Failure> {
    let line_filter = LineFilter::new(&args.include, &args.exclude).map_err(Failure::Core)?;
    Ok(ExportOptions {
        stream: StreamOptions {
            follow,
            since: args.since,
            tail_lines: args.tail,
            limit_bytes: args.limit_bytes,
            previous: args.previous,
            max_line_bytes: args.max_line_bytes,
            line_filter,
            ..StreamOptions::default()
        },
        max_streams: args.max_streams,
        ..ExportOptions::default()
    })
}

/// The report's verdict: refused permissions, failed streams, gaps (with `--fail-on-gap`) and
/// an empty selection are failures, in that order.
fn outcome(finished: Finished, args: &ExportSettings) -> Result<(), Failure> {
    let Finished {
        report,
        selection,
        needed,
    } = finished;
    let summary = report.summary;
    if !summary.forbidden.is_empty() {
        let subject = summary
            .forbidden
            .iter()
            .find_map(|denial| kle_auth::Subject::from_forbidden_message(&denial.message))
            .unwrap_or_else(crate::failure::unknown_user);
        return Err(Failure::forbidden(summary.forbidden, subject, needed));
    }
    if !summary.failed.is_empty() {
        return Err(Failure::Incomplete(summary.failed));
    }
    if args.fail_on_gap && !summary.gaps.is_empty() {
        return Err(Failure::Gaps(summary.gaps.iter().map(ToString::to_string).collect()));
    }
    if summary.pod_deleted > 0 {
        warn!(
            containers = summary.pod_deleted,
            "pods were deleted before their logs were read completely"
        );
    }
    if summary.matched == 0 {
        return Err(Failure::NothingMatched(describe_selection(&selection, &args.select)));
    }
    Ok(())
}
