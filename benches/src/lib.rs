//! Shared inputs for kube-log-exporter's benchmarks: realistic log streams built in memory.

use std::sync::Arc;

use bytes::Bytes;
use kle_core::container::PodInfo;
use kle_core::lines::LineSplitter;
use kle_core::{Container, LogBatch};

/// A log stream of `lines` lines as the API sends it with `timestamps=true`: an RFC 3339
/// nanosecond timestamp, a space, and a message of 80 to 200 bytes.
pub fn api_log_stream(lines: usize) -> Bytes {
    let mut out = Vec::with_capacity(lines * 170);
    for i in 0..lines {
        let seconds = i / 1000;
        let (h, m, s) = (seconds / 3600 % 24, seconds / 60 % 60, seconds % 60);
        let nanos = (i % 1000) * 1_000_000 + 123;
        let len = 80 + (i * 7919) % 121;
        out.extend_from_slice(format!("2026-11-23T{h:02}:{m:02}:{s:02}.{nanos:09}Z ").as_bytes());
        let message = format!("level=info msg=\"request served\" seq={i} path=/api/v1/items/{i} ");
        out.extend(message.bytes().cycle().take(len));
        out.push(b'\n');
    }
    Bytes::from(out)
}

/// A running container `app` of pod `pod-{i}` in namespace `bench`, labelled `app=bench`.
pub fn container(i: usize) -> Arc<Container> {
    let pod = PodInfo::new("bench", format!("pod-{i}"), format!("uid-{i}"))
        .with_node("node-0")
        .with_label("app", "bench");
    Arc::new(Container::new(Arc::new(pod), "app").with_container_id(format!("containerd://c-{i}")))
}

/// `stream` split into batches of the lines of each 64 KiB network chunk, as a stream delivers them.
pub fn batches(stream: &Bytes, container: &Arc<Container>) -> Vec<LogBatch> {
    let mut splitter = LineSplitter::new(1 << 20);
    let mut out = Vec::new();
    for chunk in stream.chunks(64 * 1024) {
        out.push(LogBatch::new(container.clone(), splitter.push(stream.slice_ref(chunk))));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_has_the_requested_lines() {
        let stream = api_log_stream(100);
        assert_eq!(stream.iter().filter(|&&b| b == b'\n').count(), 100);
        let mut splitter = LineSplitter::new(1 << 20);
        let lines = splitter.push(stream);
        assert_eq!(lines.len(), 100);
        assert!(
            lines
                .iter()
                .all(|l| l.timestamp().is_some() && (80..=200).contains(&l.message().len()))
        );
    }
}
