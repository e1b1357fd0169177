//! Tail the pods labelled `app=web` in namespace `shop` into a sink of your own: here, one that
//! counts lines per container and prints every error line. Ctrl-C stops it; the sink is
//! committed and closed first.
//!
//! ```sh
//! cargo run -p kle-sinks --example tail_custom_sink -- shop app=web
//! ```

use std::collections::HashMap;

use async_trait::async_trait;
use kle_core::{Container, ExportOptions, Exporter, LogBatch, Namespaces, Selection, StreamOptions};
use kle_sinks::{DeliverOptions, Sink, SinkError, deliver};

/// Counts lines per container and prints those that mention an error.
#[derive(Default)]
struct ErrorWatcher {
    lines: HashMap<String, u64>,
}

#[async_trait]
impl Sink for ErrorWatcher {
    async fn write(&mut self, batch: &LogBatch) -> Result<(), SinkError> {
        let name = batch.container.to_string();
        *self.lines.entry(name.clone()).or_default() += batch.lines.len() as u64;
        for line in &batch.lines {
            let message = String::from_utf8_lossy(line.message());
            if message.to_lowercase().contains("error") {
                println!("{name}: {message}");
            }
        }
        Ok(())
    }

    /// Nothing is buffered, so everything written is already "delivered".
    async fn commit(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    async fn end_container(&mut self, container: &Container) -> Result<(), SinkError> {
        let lines = self.lines.get(&container.to_string()).copied().unwrap_or(0);
        eprintln!("{container}: stream ended after {lines} lines");
        Ok(())
    }

    fn describe(&self) -> String {
        "error-watcher".into()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let namespace = args.next().unwrap_or_else(|| "default".into());
    let labels = args.next();

    let client = kube::Client::try_default().await?;
    let mut selection = Selection::builder().with_namespaces(Namespaces::Only(vec![namespace]));
    if let Some(labels) = labels {
        selection = selection.with_label_selector(labels);
    }
    let options = ExportOptions {
        stream: StreamOptions {
            follow: true,
            tail_lines: Some(10),
            ..StreamOptions::default()
        },
        ..ExportOptions::default()
    };
    let mut run = Exporter::new(client, selection.build()?).with_options(options).start();
    let cancel = run.cancellation();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        cancel.cancel();
    });

    let mut sink = ErrorWatcher::default();
    let delivered = deliver(&mut run, &mut sink, &DeliverOptions::default()).await;
    if delivered.is_err() {
        run.cancellation().cancel();
    }
    let summary = run.finish().await?;
    let delivery = delivered?;
    eprintln!("{} lines from {} containers", delivery.lines, summary.matched);
    Ok(())
}
