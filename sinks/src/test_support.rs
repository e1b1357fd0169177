//! Containers, lines and batches for unit tests, without a cluster.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use kle_core::{Container, ContainerKind, ContainerState, LineKind, LogBatch, LogLine, PodInfo};

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
pub(crate) fn batch(container: &Arc<Container>, lines: Vec<LogLine>) -> LogBatch {
    LogBatch {
        container: Arc::clone(container),
        lines,
    }
}

/// A whole line `<timestamp> <message>`.
pub(crate) fn line(timestamp: &str, message: &str) -> LogLine {
    LogLine::parse(Bytes::from(format!("{timestamp} {message}")), LineKind::Full)
}
