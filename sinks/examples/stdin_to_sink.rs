//! Sends a log read from standard input through a sink, as if one container had written it.
//!
//! The input is what `kubectl logs --timestamps` prints; the sink is a [`SinkConfig`] in JSON:
//!
//! ```sh
//! kubectl logs --timestamps -n shop web-1 -c app \
//!   | cargo run -p kle-sinks --example stdin_to_sink -- '{"type": "file", "dir": "out"}' shop web-1 app
//! printf '2026-11-23T10:00:00Z hello\n' \
//!   | cargo run -p kle-sinks --example stdin_to_sink -- '{"type": "stdout", "format": "json"}'
//! ```

use std::sync::Arc;

use bytes::Bytes;
use kle_core::container::{ContainerState, PodInfo};
use kle_core::lines::{DEFAULT_MAX_LINE_BYTES, LineSplitter};
use kle_core::{Container, LogBatch};
use kle_sinks::SinkConfig;
use tokio::io::AsyncReadExt as _;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let config: SinkConfig = serde_json::from_str(&args.next().unwrap_or_else(|| r#"{"type": "stdout"}"#.into()))?;
    let mut names = [String::from("default"), "pod".into(), "container".into()];
    for (slot, arg) in names.iter_mut().zip(args) {
        *slot = arg;
    }
    let [namespace, pod, name] = names;
    let pod = Arc::new(PodInfo::new(namespace, pod, "stdin"));
    let container = Arc::new(Container::new(pod, name).with_state(ContainerState::Terminated));

    let mut sink = config.build()?;
    let mut splitter = LineSplitter::new(DEFAULT_MAX_LINE_BYTES);
    let mut stdin = tokio::io::stdin();
    let mut chunk = vec![0; 64 * 1024];
    let mut cursor = None;
    loop {
        let read = stdin.read(&mut chunk).await?;
        let lines = if read == 0 {
            splitter.finish()
        } else {
            splitter.push(Bytes::copy_from_slice(&chunk[..read]))
        };
        let batch = LogBatch::following(Arc::clone(&container), lines, cursor);
        cursor = batch.cursor;
        sink.write(&batch).await?;
        if read == 0 {
            break;
        }
    }
    sink.end_container(&container).await?;
    sink.close().await?;
    eprintln!("written to {}", sink.describe());
    Ok(())
}
