//! Containers, lines and batches for testing sinks without a cluster (feature `testing`):
//! what `kle-sinks` tests its backends with, for an embedder's own sink too.
//!
//! ```
//! use kle_core::testing::{batch, container, line};
//!
//! let web = container("web-0", "app");
//! let batch = batch(&web, vec![line("2026-11-23T10:00:00Z", "hello")]);
//! assert_eq!(batch.lines.len(), 1);
//! assert_eq!(web.to_string(), "shop/web-0/app");
//! ```

use std::sync::Arc;

use crate::instance::{Container, PodInfo};
use crate::line::{LineKind, LineSplitter, Lines, LogBatch};
use bytes::Bytes;

/// A running container `name` of pod `pod` in namespace `shop`, no labels, on `node-1`.
pub fn container(pod: &str, name: &str) -> Arc<Container> {
    container_in("shop", pod, name, &[], Some("node-1"))
}

/// A running container with the given namespace, labels and node.
pub fn container_in(
    namespace: &str,
    pod: &str,
    name: &str,
    labels: &[(&str, &str)],
    node: Option<&str>,
) -> Arc<Container> {
    let mut info = labels.iter().fold(
        PodInfo::new(namespace, pod, format!("uid-{namespace}-{pod}")),
        |info, (k, v)| info.with_label(*k, *v),
    );
    if let Some(node) = node {
        info = info.with_node(node);
    }
    Arc::new(Container::new(Arc::new(info), name).with_container_id(format!("containerd://{pod}-{name}")))
}

/// A batch of `lines` from `container`.
pub fn batch(container: &Arc<Container>, lines: impl IntoLines) -> LogBatch {
    LogBatch::new(Arc::clone(container), lines.into_lines())
}

/// What [`batch`] takes: [`Lines`], or [`TestLine`]s to put into one buffer.
pub trait IntoLines {
    /// The lines.
    fn into_lines(self) -> Lines;
}

impl IntoLines for Lines {
    fn into_lines(self) -> Lines {
        self
    }
}

impl IntoLines for Vec<TestLine> {
    fn into_lines(self) -> Lines {
        self.into_iter()
            .fold(Lines::builder(), |builder, TestLine(raw, kind)| builder.line(raw, kind))
            .build()
    }
}

/// `input` split as a stream with a line cap of `cap` splits it, its end included.
pub fn split(input: &[u8], cap: usize) -> Lines {
    let mut splitter = LineSplitter::new(cap);
    let mut lines = splitter.push(Bytes::copy_from_slice(input));
    lines.append(splitter.finish());
    lines
}

/// A line to put into a batch: its bytes as the API sent them, and its kind.
#[derive(Debug, Clone)]
pub struct TestLine(pub Vec<u8>, pub LineKind);

/// A whole line `<timestamp> <message>`.
pub fn line(timestamp: &str, message: &str) -> TestLine {
    TestLine(format!("{timestamp} {message}").into_bytes(), LineKind::Full)
}
