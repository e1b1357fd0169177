//! [`TransportStats`]: what the connections to the API server carry, for `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::pool::Shared;

/// The connections to the API server and the streams (requests with their responses, a log
/// follow being one) on them, shared between the client and whoever serves `/metrics`.
///
/// ```
/// let stats = kle_auth::TransportStats::default();
/// assert!(stats.render().contains("kle_api_streams 0"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct TransportStats {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// `1.1` or `2` once known; empty before the first connection.
    version: Mutex<&'static str>,
    streams: AtomicU64,
    opened: AtomicU64,
    closed_idle: AtomicU64,
    closed_dead: AtomicU64,
    closed_ended: AtomicU64,
    /// The HTTP/2 pool, to read each connection's streams when rendering.
    pool: Mutex<Weak<Shared>>,
}

/// Why an HTTP/2 connection was closed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Closed {
    /// No stream left and another connection has room (or idle too long).
    Idle,
    /// No PING answer in time: its streams were failed so that they resume elsewhere.
    Dead,
    /// The server or the network ended it (GOAWAY, reset, error).
    Ended,
}

impl TransportStats {
    /// Streams open now: requests sent whose responses are not yet read to their end.
    pub fn streams(&self) -> u64 {
        self.inner.streams.load(Ordering::Relaxed)
    }

    /// The streams on each open HTTP/2 connection (empty over HTTP/1.1, where each stream
    /// has a connection of its own).
    pub fn streams_per_connection(&self) -> Vec<usize> {
        self.pool()
            .map(|pool| pool.connections().iter().map(|c| c.streams).collect())
            .unwrap_or_default()
    }

    /// The HTTP version in use: `"1.1"`, `"2"`, or `""` before the first request.
    pub fn http_version(&self) -> &'static str {
        *self.inner.version.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// HTTP/2 connections opened so far.
    pub fn connections_opened(&self) -> u64 {
        self.inner.opened.load(Ordering::Relaxed)
    }

    /// HTTP/2 connections closed because they stopped answering PINGs.
    pub fn connections_dead(&self) -> u64 {
        self.inner.closed_dead.load(Ordering::Relaxed)
    }

    /// The Prometheus text of these figures (appended to the export's metrics).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let version = self.http_version();
        let connections = self.pool().map(|pool| pool.connections()).unwrap_or_default();
        let streams = self.streams();
        // Over HTTP/1.1 every open stream holds one connection of its own.
        let open = if version == "2" {
            connections.len() as u64
        } else {
            streams
        };
        metric(
            &mut out,
            "kle_api_http_version_info",
            "gauge",
            "The HTTP version spoken to the API server.",
        );
        let _ = writeln!(out, "kle_api_http_version_info{{version=\"{version}\"}} 1");
        metric(
            &mut out,
            "kle_api_streams",
            "gauge",
            "Requests to the API server whose responses are open (a log follow is one).",
        );
        let _ = writeln!(out, "kle_api_streams {streams}");
        metric(
            &mut out,
            "kle_api_connections",
            "gauge",
            "Connections to the API server carrying a stream (HTTP/2: open connections).",
        );
        let _ = writeln!(out, "kle_api_connections {open}");
        metric(
            &mut out,
            "kle_api_connection_streams",
            "gauge",
            "Streams on each HTTP/2 connection.",
        );
        for c in &connections {
            let _ = writeln!(
                out,
                "kle_api_connection_streams{{connection=\"{}\"}} {}",
                c.id, c.streams
            );
        }
        metric(
            &mut out,
            "kle_api_connection_stream_limit",
            "gauge",
            "The server's SETTINGS_MAX_CONCURRENT_STREAMS for each HTTP/2 connection.",
        );
        for c in &connections {
            let _ = writeln!(
                out,
                "kle_api_connection_stream_limit{{connection=\"{}\"}} {}",
                c.id, c.limit
            );
        }
        metric(
            &mut out,
            "kle_api_connections_opened_total",
            "counter",
            "HTTP/2 connections opened.",
        );
        let _ = writeln!(out, "kle_api_connections_opened_total {}", self.connections_opened());
        metric(
            &mut out,
            "kle_api_connections_closed_total",
            "counter",
            "HTTP/2 connections closed, by reason.",
        );
        for (reason, count) in [
            ("idle", &self.inner.closed_idle),
            ("dead", &self.inner.closed_dead),
            ("ended", &self.inner.closed_ended),
        ] {
            let _ = writeln!(
                out,
                "kle_api_connections_closed_total{{reason=\"{reason}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        out
    }

    pub(crate) fn set_version(&self, version: &'static str) {
        *self.inner.version.lock().unwrap_or_else(PoisonError::into_inner) = version;
    }

    pub(crate) fn set_pool(&self, pool: Weak<Shared>) {
        *self.inner.pool.lock().unwrap_or_else(PoisonError::into_inner) = pool;
    }

    fn pool(&self) -> Option<Arc<Shared>> {
        self.inner.pool.lock().unwrap_or_else(PoisonError::into_inner).upgrade()
    }

    pub(crate) fn stream_opened(&self) {
        self.inner.streams.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stream_closed(&self) {
        self.inner.streams.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_opened(&self) {
        self.inner.opened.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_closed(&self, why: Closed) {
        let counter = match why {
            Closed::Idle => &self.inner.closed_idle,
            Closed::Dead => &self.inner.closed_dead,
            Closed::Ended => &self.inner.closed_ended,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// One HTTP/2 connection as seen at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnectionView {
    pub(crate) id: u64,
    pub(crate) streams: usize,
    pub(crate) limit: usize,
}
