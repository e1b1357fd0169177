//! Containers, lines and batches for unit tests, without a cluster.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use kle_core::{Container, ContainerKind, ContainerState, LineKind, LineSplitter, Lines, LogBatch, PodInfo};

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
    let labels: BTreeMap<String, String> = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Arc::new(Container {
        pod: Arc::new(PodInfo {
            namespace: namespace.into(),
            name: pod.into(),
            uid: format!("uid-{namespace}-{pod}"),
            node: node.map(str::to_owned),
            labels,
        }),
        name: name.into(),
        kind: ContainerKind::Regular,
        container_id: Some(format!("containerd://{pod}-{name}")),
        restart_count: 0,
        state: ContainerState::Running,
        previous: false,
    })
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
