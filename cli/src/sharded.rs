//! `follow --shards N`: this process as one replica of a group that splits the pods into
//! shards ([`kle_core::shards`]), each with its own sink and checkpoint in the shared store.

use std::sync::Arc;

use kle_core::ownership::LeaseTiming;
use kle_core::shards::{ShardGroup, ShardedFollow, ShardedReport};
use kle_core::{Export, Metrics, Permission, Selection, required_permissions};
use kle_sinks::SinkConfig;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::args::{GlobalArgs, ShardArgs};
use crate::cluster::{connection, selection};
use crate::failure::{EXIT_OK, Failure};
use crate::settings::ExportSettings;

/// A group's name when `--shard-group` is not given.
const DEFAULT_GROUP: &str = "kube-log-exporter";

/// What can be checked of a sharded follow before the cluster is asked anything.
pub(crate) fn check(
    shards: &ShardArgs,
    count: u32,
    follow: bool,
    args: &ExportSettings,
    sink: &SinkConfig,
) -> Result<(), Failure> {
    if !follow {
        return Err(Failure::Usage(
            "--shards splits a follow across replicas: use `kube-log-exporter follow`, or leave --shards out for a \
             one-shot export"
                .into(),
        ));
    }
    if !matches!(sink, SinkConfig::S3(_)) {
        return Err(Failure::Usage(format!(
            "--shards needs the object sink (--sink s3 or object: S3, Azure Blob or GCS): a shard moves between replicas, and what one replica wrote to \
             its {} after the shard's last checkpoint could be neither undone nor found by the next",
            sink_kind(sink)
        )));
    }
    args.checkpoint.shareable(sink).map_err(Failure::Usage)?;
    group("default", shards, count)?;
    Ok(())
}

fn sink_kind(sink: &SinkConfig) -> &'static str {
    match sink {
        SinkConfig::File(_) => "directory",
        SinkConfig::Stdout(_) => "standard output",
        _ => "output",
    }
}

fn group(default_namespace: &str, shards: &ShardArgs, count: u32) -> Result<ShardGroup, Failure> {
    let namespace = shards.shard_namespace.as_deref().unwrap_or(default_namespace);
    let name = shards.shard_group.as_deref().unwrap_or(DEFAULT_GROUP);
    ShardGroup::new(namespace, name, count).map_err(|err| Failure::Usage(err.to_string()))
}

/// What a replica needs: the pods and logs of the selection (followed), the group's Leases in
/// `shard_namespace` (default: `default_namespace`), the shards' checkpoints. For `follow`,
/// `rbac` and `check` alike.
pub(crate) fn permissions(
    selection: &Selection,
    checkpoint: &kle_sinks::CheckpointSpec,
    default_namespace: &str,
    shard_namespace: Option<&str>,
    count: u32,
) -> Vec<Permission> {
    let namespace = shard_namespace.unwrap_or(default_namespace);
    let mut needed = required_permissions(selection, true, None);
    needed.extend(kle_core::shards::permissions(namespace));
    needed.extend(checkpoint.shard_permissions(default_namespace, count));
    needed
}

/// Runs this replica until a signal, then reports.
pub(crate) async fn follow(
    global: GlobalArgs,
    args: ExportSettings,
    sink: SinkConfig,
    options: kle_core::ExportOptions,
    count: u32,
) -> Result<u8, Failure> {
    let connection = connection(&global, args.max_streams).await?;
    info!(source = %connection.source, "connected");
    let selection = selection(&args.select, &connection.default_namespace)?;
    let group = group(&connection.default_namespace, &args.shards, count)?
        .with_lease_timing(LeaseTiming::with_duration(args.lease_duration));
    let needed = permissions(
        &selection,
        &args.checkpoint,
        &connection.default_namespace,
        args.shards.shard_namespace.as_deref(),
        count,
    );
    if args.preflight {
        crate::preflight::preflight(&connection, needed.clone()).await?;
    }
    let metrics = Arc::new(Metrics::new(sink.build()?.describe()));
    if let Some(addr) = args.metrics_addr {
        crate::serve::serve(addr, Arc::clone(&metrics), Some(connection.transport.clone()))
            .await
            .map_err(|err| {
                Failure::Usage(format!(
                    "cannot serve metrics on {addr}: {err}; choose a free address with --metrics-addr"
                ))
            })?;
    }
    let exports = {
        let client = connection.client.clone();
        let default_namespace = connection.default_namespace.clone();
        let checkpoint = args.checkpoint.clone();
        let metrics = Arc::clone(&metrics);
        move |shard| {
            let store = checkpoint
                .shard_store(&sink, &client, &default_namespace, shard)?
                .ok_or_else(|| {
                    kle_core::Error::InvalidSelection(format!("{shard}: no checkpoint every replica reaches"))
                })?;
            Ok(
                Export::new(client.clone(), selection.clone().in_shard(shard), sink.build()?)
                    .with_options(options.clone())
                    .with_checkpoint(store)
                    .with_metrics(Arc::clone(&metrics)),
            )
        }
    };
    let cancel = CancellationToken::new();
    crate::signals::cancel_on_signals(cancel.clone(), args.grace_period);
    let report = ShardedFollow::new(connection.client.clone(), group, exports)
        .with_metrics(Arc::clone(&metrics))
        .run(cancel)
        .await
        .map_err(|err| Failure::from_core(err, || needed.clone()))?;
    outcome(report, &args, needed)
}

/// The verdict over every shard run: refused permissions, failed streams, gaps (with
/// `--fail-on-gap`). A replica that owned no pod has nothing to fail.
fn outcome(report: ShardedReport, args: &ExportSettings, needed: Vec<Permission>) -> Result<u8, Failure> {
    let summaries = || report.runs.iter().map(|run| &run.report.summary);
    let lines: u64 = report.runs.iter().map(|run| run.report.delivery.lines).sum();
    info!(
        shard_runs = report.runs.len(),
        handovers = report.handovers,
        takeovers = report.takeovers,
        lost = report.lost,
        lines,
        "replica stopped"
    );
    let forbidden: Vec<_> = summaries().flat_map(|s| s.forbidden.iter().cloned()).collect();
    if !forbidden.is_empty() {
        let subject = forbidden
            .iter()
            .find_map(|denial| kle_auth::Subject::from_forbidden_message(&denial.message))
            .unwrap_or_else(crate::failure::unknown_user);
        return Err(Failure::forbidden(forbidden, subject, needed));
    }
    let failed: Vec<_> = summaries().flat_map(|s| s.failed.iter().cloned()).collect();
    if !failed.is_empty() {
        return Err(Failure::Incomplete(failed));
    }
    let gaps: Vec<String> = summaries()
        .flat_map(|s| s.gaps.iter().map(ToString::to_string))
        .collect();
    if args.fail_on_gap && !gaps.is_empty() {
        return Err(Failure::Gaps(gaps));
    }
    let deleted: usize = summaries().map(|s| s.pod_deleted).sum();
    if deleted > 0 {
        warn!(
            containers = deleted,
            "pods were deleted before their logs were read completely"
        );
    }
    Ok(EXIT_OK)
}
