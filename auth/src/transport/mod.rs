//! The HTTP stack under a [`kube::Client`]: kube's own layers, over HTTP/2 connections shared
//! by many streams or HTTP/1.1 connections of one stream each, both with bounded read-ahead.
//!
//! Over HTTP/1.1 every log stream is one connection, and hyper lets each connection read up to
//! 416 KiB ahead of the body's consumer. For one fast stream that is what makes it fast; for
//! thousands of streams that burst at once it is what fills memory. [`read_buffer_for`] sizes
//! the read-ahead from the number of streams expected at once.
//!
//! Over HTTP/2 ([`HttpVersion`]) streams share a few connections ([`pool`]); the same
//! read-ahead becomes each stream's flow-control window, so the server never sends a stream
//! more than that ahead of its reader.

mod body;
mod pool;
mod stats;

use std::str::FromStr;
use std::time::Duration;

use futures::future::BoxFuture;
use http::{Request, Response};
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::ConfigExt;
use kube::client::retry::RetryPolicy;
use kube::{Client, Config};
use tower::retry::RetryLayer;
use tower::{BoxError, ServiceBuilder};

pub use body::ResponseBody;
pub use stats::TransportStats;

use body::{Hold, Http1Stream};
use pool::{Negotiation, Pool};

/// hyper's own bound on a connection's read buffer.
pub const DEFAULT_READ_BUFFER: usize = 8192 + 4096 * 100;

/// The smallest read buffer hyper accepts.
const MIN_READ_BUFFER: usize = 8192;

/// What all streams together may read ahead of their consumer.
const READ_AHEAD_BUDGET: usize = 64 * 1024 * 1024;

/// The read buffer per connection for `streams` streams open at once: 64 MiB shared out,
/// between 8 KiB and hyper's default of 416 KiB (reached at 157 streams or fewer).
pub fn read_buffer_for(streams: usize) -> usize {
    (READ_AHEAD_BUDGET / streams.max(1)).clamp(MIN_READ_BUFFER, DEFAULT_READ_BUFFER)
}

/// Which HTTP version to speak to the API server (`--http-version`, the file's
/// `http_version`: `auto`, `1.1` or `2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// HTTP/2 where the server offers it in the TLS handshake (ALPN), else HTTP/1.1; HTTP/1.1
    /// to a plain `http://` server, as kubectl does.
    ///
    /// Many streams then cost the API server a few connections instead of one each, and this
    /// process about half the memory. One busy stream costs as much CPU as over HTTP/1.1 with
    /// jemalloc (the binary's allocator); under glibc's malloc about 20% more (BENCHMARKS.md,
    /// HTTP/2).
    Auto,
    /// HTTP/1.1 only: one connection per stream. Still the default: the sharded replicas'
    /// end-to-end test lost a line in two of four runs over HTTP/2, cause not yet found
    /// (BENCHMARKS.md, HTTP/2).
    #[default]
    Http1,
    /// HTTP/2 only: over TLS the server must offer `h2`; to a plain `http://` server, h2
    /// without negotiation (prior knowledge).
    Http2,
}

impl HttpVersion {
    /// How the flag spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Http1 => "1.1",
            Self::Http2 => "2",
        }
    }
}

impl std::fmt::Display for HttpVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for HttpVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// From `auto`, `"1.1"` or `"2"`, and from YAML's numbers `1.1` and `2` as written unquoted.
impl<'de> serde::Deserialize<'de> for HttpVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = HttpVersion;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("auto, 1.1 or 2")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HttpVersion, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<HttpVersion, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<HttpVersion, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<HttpVersion, E> {
                self.visit_str(&v.to_string())
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl FromStr for HttpVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "1.1" | "1" | "http/1.1" => Ok(Self::Http1),
            "2" | "h2" => Ok(Self::Http2),
            other => Err(format!("unknown HTTP version {other:?}: expected auto, 1.1 or 2")),
        }
    }
}

/// How often an HTTP/2 connection is PINGed and how long its answer may take; a connection
/// that does not answer is dropped and its streams fail (and resume elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// Between PINGs.
    pub interval: Duration,
    /// For the answer.
    pub timeout: Duration,
}

impl Default for KeepAlive {
    /// A PING every 15 s, answered within 15 s: a dead connection is found within 30 s.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(15),
        }
    }
}

/// What [`build`] needs besides kube's configuration.
#[derive(Debug, Clone, Default)]
pub(crate) struct TransportOptions {
    pub(crate) read_buffer: usize,
    pub(crate) version: HttpVersion,
    pub(crate) keep_alive: KeepAlive,
    pub(crate) stats: TransportStats,
}

type Connector = hyper_timeout::TimeoutConnector<HttpsConnector<HttpConnector>>;
type Http1Client = hyper_util::client::legacy::Client<Connector, kube::client::Body>;

/// The error of building a transport.
#[derive(Debug)]
pub(crate) enum BuildError {
    Kube(kube::Error),
    /// HTTP/2 was required where it cannot be had.
    Http2Unavailable(String),
}

impl From<kube::Error> for BuildError {
    fn from(error: kube::Error) -> Self {
        Self::Kube(error)
    }
}

/// A client for `config`.
///
/// The layers are kube's (`Client::try_from`): TLS from the config, its timeouts, base URI,
/// authentication with token refresh, extra headers and server-aware retries; kube's request
/// tracing spans are left out. Through a proxy, kube's stack is used unchanged (HTTP/1.1, with
/// hyper's default read buffer).
pub(crate) fn build(config: Config, options: TransportOptions) -> Result<Client, BuildError> {
    if config.proxy_url.is_some() {
        if options.version == HttpVersion::Http2 {
            return Err(BuildError::Http2Unavailable(
                "the kubeconfig names a proxy (proxy-url), which this client reaches over HTTP/1.1 only".into(),
            ));
        }
        options.stats.set_version("1.1");
        return Ok(Client::try_from(config)?);
    }
    let read_buffer = options.read_buffer.max(MIN_READ_BUFFER);
    let tls = config.cluster_url.scheme_str() == Some("https");
    let http1 = || -> Result<Http1Client, kube::Error> {
        let connector = timeouts(&config, config.rustls_https_connector_with_connector(http_connector())?);
        Ok(hyper_util::client::legacy::Builder::new(TokioExecutor::new())
            .http1_max_buf_size(read_buffer)
            .build(connector))
    };
    let transport = match (options.version, tls) {
        (HttpVersion::Http1, _) | (HttpVersion::Auto, false) => {
            options.stats.set_version("1.1");
            Transport::Http1(Box::new(http1()?), options.stats)
        }
        (version, _) => {
            let negotiation = if tls {
                Negotiation::Alpn {
                    fallback: version == HttpVersion::Auto,
                }
            } else {
                Negotiation::PriorKnowledge
            };
            let fallback = (version == HttpVersion::Auto).then(http1).transpose()?;
            Transport::Http2(Pool::new(
                h2_connector(&config)?,
                h2_settings(read_buffer),
                options.keep_alive,
                negotiation,
                fallback,
                options.stats,
            ))
        }
    };
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(
            config
                .default_retry
                .then(|| RetryLayer::new(RetryPolicy::server_retry())),
        )
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(transport);
    Ok(Client::new(service, config.default_namespace))
}

fn http_connector() -> HttpConnector {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http
}

fn timeouts(config: &Config, https: HttpsConnector<HttpConnector>) -> Connector {
    let mut connector = hyper_timeout::TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    connector
}

/// kube's TLS settings with ALPN offering `h2` and `http/1.1` (what kube's own connector
/// does, but it offers HTTP/1.1 only).
fn h2_connector(config: &Config) -> Result<Connector, BuildError> {
    let builder = HttpsConnectorBuilder::new().with_tls_config(config.rustls_client_config()?);
    let builder = builder.https_or_http();
    let builder = match &config.tls_server_name {
        Some(name) => builder.with_server_name_resolver(FixedServerNameResolver::new(
            name.clone()
                .try_into()
                .map_err(|_| BuildError::Http2Unavailable(format!("tls-server-name {name:?} is not a DNS name")))?,
        )),
        None => builder,
    };
    // Many streams' small frames share one socket: no Nagle delay on them (or on PINGs).
    let mut http = http_connector();
    http.set_nodelay(true);
    Ok(timeouts(config, builder.enable_all_versions().wrap_connector(http)))
}

/// h2's settings for `read_buffer` bytes of read-ahead per stream.
fn h2_settings(read_buffer: usize) -> h2::client::Builder {
    let window = u32::try_from(read_buffer).unwrap_or(u32::MAX);
    // Room for a hundred streams' windows (the API server's usual limit), within the budget.
    let connection_window =
        u32::try_from((read_buffer * 100).clamp(1024 * 1024, READ_AHEAD_BUDGET)).unwrap_or(u32::MAX);
    let mut builder = h2::client::Builder::new();
    builder
        .initial_window_size(window)
        .initial_connection_window_size(connection_window)
        // The API server sends a followed log a line per DATA frame, so a window's worth of
        // lines waiting for their reader is thousands of small frames. h2 closes a connection
        // whose waiting small frames overrun a budget (ENHANCE_YOUR_CALM), by default half the
        // connection window, counting 256 bytes less each frame's size per frame: 240 chatty
        // follows on the test cluster overran it within seconds, again after every reconnect.
        // Eight windows is what a full window of the shortest lines costs (a timestamp and a
        // newline: 32 bytes, 224 counted each), so only a peer flooding frames below that is cut.
        .data_frame_budget(
            usize::try_from(connection_window)
                .unwrap_or(usize::MAX)
                .saturating_mul(8),
        )
        // Frames as large as the window allows (up to 1 MiB): a fast stream arrives in chunks
        // like HTTP/1.1's reads, not in the 16 KiB the protocol starts with.
        .max_frame_size(window.clamp(16_384, 1 << 20))
        .enable_push(false)
        // Follows cancelled together (a shutdown) each leave a reset stream to remember.
        .max_concurrent_reset_streams(1024);
    builder
}

/// The bottom of the stack: HTTP/1.1 through hyper's client, or the HTTP/2 pool.
#[derive(Clone)]
enum Transport {
    Http1(Box<Http1Client>, TransportStats),
    Http2(Pool),
}

impl tower::Service<Request<kube::client::Body>> for Transport {
    type Response = Response<ResponseBody>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<ResponseBody>, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<kube::client::Body>) -> Self::Future {
        match self {
            Transport::Http1(client, stats) => Box::pin(send_http1(Http1Client::clone(client), request, stats)),
            Transport::Http2(pool) => Box::pin(pool.clone().send(request)),
        }
    }
}

/// Sends `request` with hyper's HTTP/1.1 client, counting it as an open stream until its
/// response body is dropped.
fn send_http1(
    client: Http1Client,
    request: Request<kube::client::Body>,
    stats: &TransportStats,
) -> impl Future<Output = Result<Response<ResponseBody>, BoxError>> + Send + 'static {
    let hold = Http1Stream::open(stats);
    async move {
        let response = client.request(request).await?;
        Ok(response.map(|body| ResponseBody::http1(body, Hold::Http1(hold))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_buffers_share_out_64_mib_within_hypers_bounds() {
        assert_eq!(read_buffer_for(0), DEFAULT_READ_BUFFER);
        assert_eq!(read_buffer_for(64), DEFAULT_READ_BUFFER);
        assert_eq!(read_buffer_for(1000), 67_108);
        assert_eq!(read_buffer_for(5000), 13_421);
        assert_eq!(read_buffer_for(100_000), MIN_READ_BUFFER);
    }

    #[test]
    fn http_versions_parse_as_the_flag_spells_them() {
        assert_eq!("auto".parse(), Ok(HttpVersion::Auto));
        assert_eq!("1.1".parse(), Ok(HttpVersion::Http1));
        assert_eq!("2".parse(), Ok(HttpVersion::Http2));
        assert!("3".parse::<HttpVersion>().unwrap_err().contains("auto, 1.1 or 2"));
    }
}
