//! Containers, lines and batches for unit tests, without a cluster.

use std::sync::Arc;

use bytes::Bytes;
use kle_core::container::PodInfo;
use kle_core::lines::{LineKind, LineSplitter, Lines};
use kle_core::{Container, LogBatch};

/// A running container `name` of pod `pod` in namespace `shop`, no labels, on `node-1`.
pub(crate) fn container(pod: &str, name: &str) -> Arc<Container> {
    container_in("shop", pod, name, &[], Some("node-1"))
}

/// A running container with the given namespace, labels and node.
pub(crate) fn container_in(
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
pub(crate) fn batch(container: &Arc<Container>, lines: impl IntoLines) -> LogBatch {
    LogBatch::new(Arc::clone(container), lines.into_lines())
}

/// What [`batch`] takes: [`Lines`], or [`TestLine`]s to put into one buffer.
pub(crate) trait IntoLines {
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
pub(crate) fn split(input: &[u8], cap: usize) -> Lines {
    let mut splitter = LineSplitter::new(cap);
    let mut lines = splitter.push(Bytes::copy_from_slice(input));
    lines.append(splitter.finish());
    lines
}

/// A line to put into a batch: its bytes as the API sent them, and its kind.
#[derive(Debug, Clone)]
pub(crate) struct TestLine(pub(crate) Vec<u8>, pub(crate) LineKind);

/// A whole line `<timestamp> <message>`.
pub(crate) fn line(timestamp: &str, message: &str) -> TestLine {
    TestLine(format!("{timestamp} {message}").into_bytes(), LineKind::Full)
}
