//! Export what namespace `shop` logged in the last hour to S3 from a program, exactly once
//! across runs: the checkpoint object beside the logs makes the next run resume after this one.
//! Credentials and region come from the `AWS_*` variables, as for the command line.
//!
//! ```sh
//! AWS_REGION=eu-west-1 cargo run -p kle-sinks --features s3 --example export_to_s3 -- s3://my-logs/cluster-a shop
//! ```

use std::sync::Arc;

use kle_core::{ExportOptions, Exporter, Namespaces, Selection, Since, StreamOptions};
use kle_sinks::{
    Checkpointer, Compression, DeliverOptions, Delivery, ExportConfig, ObjectCheckpointStore, S3Config, SinkConfig,
    deliver_checkpointed,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: export_to_s3 s3://bucket/prefix [namespace]")?;
    let namespace = args.next().unwrap_or_else(|| "default".into());

    // The same settings a `--config` file holds can come from YAML, checked with line numbers.
    let config = ExportConfig::from_yaml(&format!(
        "since: 1h\nsink:\n  type: s3\n  url: {url}\n  compression: zstd\n  max_object_age_secs: 60\n"
    ))?;
    let Some(SinkConfig::S3(s3)) = config.sink() else {
        return Err("the configuration names no S3 sink".into());
    };
    let s3: S3Config = s3.clone().with_compression(Compression::Gzip);

    let store = Arc::new(ObjectCheckpointStore::from_config(&s3)?);
    let mut checkpointer = Checkpointer::load(store, None).await?;
    let sink_config = SinkConfig::S3(s3);
    let mut sink = sink_config.build()?;

    let client = kube::Client::try_default().await?;
    let selection = Selection::builder()
        .with_namespaces(Namespaces::Only(vec![namespace]))
        .build()?;
    let options = ExportOptions {
        stream: StreamOptions {
            since: config.since.map(Since::Ago),
            ..StreamOptions::default()
        },
        ..ExportOptions::default()
    };
    let mut exporter = Exporter::new(client, selection).with_options(options);
    if let Some(checkpoint) = checkpointer.resumed() {
        exporter = exporter.with_checkpoint(checkpoint.clone());
    }
    let mut run = exporter.start();
    let mut delivery = Delivery::default();
    let deliver_options = match sink_config.preferred_commit_interval() {
        Some(interval) => DeliverOptions::default().with_commit_interval(interval),
        None => DeliverOptions::default(),
    };
    let delivered = deliver_checkpointed(
        &mut run,
        sink.as_mut(),
        &deliver_options,
        &mut checkpointer,
        &mut delivery,
    )
    .await;
    if delivered.is_err() {
        run.cancellation().cancel();
    }
    let summary = run.finish().await?;
    delivered?;
    println!(
        "{} lines from {} containers to {}; {} gap(s)",
        delivery.lines,
        summary.matched,
        sink.describe(),
        summary.gaps.len()
    );
    Ok(())
}
