//! Tail the pods labelled `app=web` in namespace `shop` into a sink of your own: here, one that
//! counts lines per container and prints every error line. Ctrl-C stops it; the sink is
//! committed and closed first.
//!
//! ```sh
//! cargo run -p kle-sinks --example tail_custom_sink -- shop app=web
//! ```

use std::collections::HashMap;

use async_trait::async_trait;
use kle_core::{Container, Export, ExportOptions, LogBatch, Namespaces, Selection, Sink, SinkError, StreamOptions};
use tokio_util::sync::CancellationToken;

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
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });

    let report = Export::new(client, selection.build()?, Box::new(ErrorWatcher::default()))
        .with_options(options)
        .run(cancel)
        .await?;
    eprintln!(
        "{} lines from {} containers",
        report.delivery.lines, report.summary.matched
    );
    Ok(())
}
