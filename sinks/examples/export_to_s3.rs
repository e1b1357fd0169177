//! Export what namespace `shop` logged in the last hour to S3 from a program, exactly once
//! across runs: the checkpoint object beside the logs makes the next run resume after this one.
//! Credentials and region come from the `AWS_*` variables, as for the command line.
//!
//! ```sh
//! AWS_REGION=eu-west-1 cargo run -p kle-sinks --features s3 --example export_to_s3 -- s3://my-logs/cluster-a shop
//! ```

use std::sync::Arc;

use kle_core::{Export, ExportOptions, Namespaces, Selection, Since, StreamOptions};
use kle_sinks::object::{Compression, ObjectCheckpointStore, ObjectStoreConfig};
use kle_sinks::{ExportConfig, SinkConfig};
use tokio_util::sync::CancellationToken;

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
    let s3: ObjectStoreConfig = s3.clone().with_compression(Compression::Gzip);

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
    // The checkpoint restores both sides: the streams resume after it, the sink commits at
    // its own interval (the object age) and the checkpoint is saved after each commit.
    let report = Export::new(client, selection, SinkConfig::S3(s3.clone()).build()?)
        .with_options(options)
        .with_checkpoint(Arc::new(ObjectCheckpointStore::from_config(&s3)?))
        .run(CancellationToken::new())
        .await?;
    println!(
        "{} lines from {} containers to {}; {} gap(s)",
        report.delivery.lines,
        report.summary.matched,
        report.sink,
        report.summary.gaps.len()
    );
    Ok(())
}
