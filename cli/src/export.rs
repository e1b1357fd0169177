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

use crate::args::{ExportArgs, GlobalArgs};
use crate::cluster::{connection, describe_selection, selection};
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
    let line_filter = LineFilter::new(&args.include, &args.exclude).map_err(Failure::Core)?;
    if args.shards.shards.is_none() && (args.shards.shard_group.is_some() || args.shards.shard_namespace.is_some()) {
        return Err(Failure::Usage(
            "--shard-group and --shard-namespace belong to a sharded follow: add --shards N".into(),
        ));
    }
    if let Some(count) = args.shards.shards {
        crate::sharded::check(&args.shards, count, follow, &args, &sink)?;
        if !args.dry_run {
            let options = options(&args, follow, line_filter);
            return crate::sharded::follow(global, args, sink, options, count).await;
        }
    }
    let connection = connection(&global, args.max_streams).await?;
    info!(source = %connection.source, "connected");
    let selection = selection(&args.select, &connection.default_namespace)?;
    let checkpoint = args.checkpoint.store(
        &sink,
        &connection.client,
        &connection.default_namespace,
        LeaseTiming::with_duration(args.lease_duration),
    )?;
    let needed = required_permissions(&selection, follow, checkpoint.as_deref());
    if args.preflight {
        crate::preflight::preflight(&connection, needed.clone()).await?;
    }
    if args.dry_run {
        return crate::dry_run::dry_run(
            &connection.client,
            &selection,
            &sink,
            checkpoint.as_deref(),
            &args.select,
        )
        .await;
    }
    // A person at a terminal watching a one-shot export sees its progress and a summary.
    let interactive = !follow && !args.quiet && std::io::stderr().is_terminal();
    let mut export = Export::new(connection.client.clone(), selection.clone(), sink.build()?).with_options(options(
        &args,
        follow,
        line_filter,
    ));
    if let Some(store) = checkpoint {
        export = export.with_checkpoint(store);
    }
    if let Some(wait) = args.wait_for_lock {
        export = export.with_wait_for_lock(wait);
    }
    let metrics =
        (args.metrics_addr.is_some() || interactive).then(|| Arc::new(Metrics::new(export.sink_description())));
    if let Some(metrics) = &metrics {
        if let Some(addr) = args.metrics_addr {
            crate::serve::serve(addr, Arc::clone(metrics), connection.transport.clone())
                .await
                .map_err(|err| {
                    Failure::Usage(format!(
                        "cannot serve metrics on {addr}: {err}; choose a free address with --metrics-addr"
                    ))
                })?;
        }
        export = export.with_metrics(Arc::clone(metrics));
    }
    let cancel = CancellationToken::new();
    crate::signals::cancel_on_signals(cancel.clone(), args.grace_period);
    let progress = metrics.filter(|_| interactive).map(ProgressLine::start);
    let result = export.run(cancel).await;
    if let Some(progress) = progress {
        progress.stop();
    }
    let report = match result {
        // The reader went away (`| head`): not an error.
        Err(kle_core::Error::Sink(e)) if e.is_closed() => return Ok(EXIT_OK),
        other => other.map_err(|e| Failure::from_core(e, || needed.clone()))?,
    };
    info!(
        containers = report.summary.matched,
        lines = report.delivery.lines,
        bytes = report.delivery.bytes,
        gaps = report.summary.gaps.len(),
        sink = %report.sink,
        checkpoint = report.checkpoint.as_deref().unwrap_or("none"),
        "export finished"
    );
    if interactive {
        eprint!("{}", summary_table(&report));
    }
    outcome(report, &selection, &args, needed)
}

fn options(args: &ExportSettings, follow: bool, line_filter: LineFilter) -> ExportOptions {
    ExportOptions {
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
    }
}

/// The report's verdict: refused permissions, failed streams, gaps (with `--fail-on-gap`) and
/// an empty selection are failures, in that order.
fn outcome(
    report: ExportReport,
    selection: &Selection,
    args: &ExportSettings,
    needed: Vec<kle_core::Permission>,
) -> Result<u8, Failure> {
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
        return Err(Failure::NothingMatched(describe_selection(selection, &args.select)));
    }
    Ok(EXIT_OK)
}
