//! A pool of HTTP/2 connections to the API server, each carrying at most the streams the
//! server allows on one connection.
//!
//! Why not hyper's client: hyper-util's pool puts every request to a host on one HTTP/2
//! connection, and a request beyond the server's `SETTINGS_MAX_CONCURRENT_STREAMS` (100 on
//! current API servers) waits for a stream to end; a log follow never ends, so the waiting
//! follows would starve. hyper's connection API hides that limit; h2's `SendRequest` shows it
//! (`current_max_send_streams`), so the pool is built on h2 directly:
//!
//! - a stream goes on the fullest connection that still has room, and a new connection is
//!   opened (one at a time) when none has: connections stay at `ceil(streams / limit)`, plus
//!   at most one idle spare;
//! - a connection that loses its last stream is closed when another one has room (or after
//!   [`IDLE_TIMEOUT`] with nothing on it);
//! - every connection is PINGed every `keep_alive.interval`; one that does not answer within
//!   `keep_alive.timeout` is dropped, which fails each of its streams with an error (a log
//!   stream then resumes from its cursor, on another connection);
//! - each stream's flow-control window is the read-ahead `--max-streams` allots a stream, so
//!   the server can never have more than that in flight to one unread stream.
//!
//! Over TLS the protocol is negotiated with ALPN (`h2`, `http/1.1`): a server or proxy that
//! answers `http/1.1` gets HTTP/1.1 from then on, through hyper's client.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::SendRequest;
use http::{Request, Response, Uri, header};
use http_body_util::BodyExt as _;
use hyper::body::Body as _;
use hyper_util::client::legacy::connect::Connection as _;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;
use tower::{BoxError, ServiceExt as _};
use tracing::{debug, info, warn};

use super::body::{Hold, ResponseBody};
use super::stats::{Closed, ConnectionView, TransportStats};
use super::{Connector, Http1Client, KeepAlive};

/// How long a connection with no stream stays open (when it is the only spare).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// How the pool reaches HTTP/2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Negotiation {
    /// TLS with ALPN; `fallback` says whether a server that picks `http/1.1` gets HTTP/1.1
    /// (`--http-version auto`) or an error (`--http-version 2`).
    Alpn { fallback: bool },
    /// Plain `http://` with `--http-version 2`: h2 without negotiation ("prior knowledge").
    PriorKnowledge,
}

/// The pool: a tower-style service (see [`Pool::send`]) that clones cheaply.
#[derive(Clone)]
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

/// What the pool's handles share.
pub(crate) struct Shared {
    connector: Connector,
    h2: h2::client::Builder,
    keep_alive: KeepAlive,
    negotiation: Negotiation,
    /// HTTP/1.1 for a server that does not offer h2 (ALPN with fallback only).
    http1: Option<Http1Client>,
    /// Set once a server answered ALPN with `http/1.1`: every request goes to `http1`.
    http1_only: AtomicBool,
    connections: Mutex<Vec<Arc<Conn>>>,
    /// Connections are opened one at a time, so that a thousand requests arriving at once
    /// open `ceil(1000 / limit)` connections, not a thousand.
    opening: tokio::sync::Mutex<()>,
    stats: TransportStats,
    next_id: AtomicU64,
}

/// One HTTP/2 connection.
pub(crate) struct Conn {
    id: u64,
    send: SendRequest<Bytes>,
    /// Streams handed out on it and not yet ended (counted under the pool's lock).
    streams: AtomicUsize,
    closing: AtomicBool,
    /// Drops the connection at once (PING timeout), failing its streams.
    kill: Arc<Notify>,
    idle_since: Mutex<Option<Instant>>,
}

impl Conn {
    fn limit(&self) -> usize {
        self.send.current_max_send_streams()
    }

    fn has_room(&self) -> bool {
        !self.closing.load(Ordering::Acquire) && self.streams.load(Ordering::Acquire) < self.limit()
    }

    fn view(&self) -> ConnectionView {
        ConnectionView {
            id: self.id,
            streams: self.streams.load(Ordering::Relaxed),
            limit: self.limit(),
        }
    }
}

/// A stream's place on a connection, given back when the response body is dropped.
pub(crate) struct Slot {
    conn: Arc<Conn>,
    pool: Arc<Shared>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.pool.stats.stream_closed();
        if self.conn.streams.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.pool.became_idle(&self.conn);
        }
    }
}

/// What opening a connection gave.
enum Opened {
    Http2(Arc<Conn>),
    /// ALPN picked HTTP/1.1 (and falling back is allowed).
    Http1,
}

impl Pool {
    pub(crate) fn new(
        connector: Connector,
        h2: h2::client::Builder,
        keep_alive: KeepAlive,
        negotiation: Negotiation,
        http1: Option<Http1Client>,
        stats: TransportStats,
    ) -> Self {
        let shared = Arc::new(Shared {
            connector,
            h2,
            keep_alive,
            negotiation,
            http1,
            http1_only: AtomicBool::new(false),
            connections: Mutex::new(Vec::new()),
            opening: tokio::sync::Mutex::new(()),
            stats,
            next_id: AtomicU64::new(1),
        });
        shared.stats.set_pool(Arc::downgrade(&shared));
        Self { shared }
    }

    /// Sends `request` on a connection with room, opening one if none has.
    pub(crate) async fn send(self, request: Request<kube::client::Body>) -> Result<Response<ResponseBody>, BoxError> {
        let shared = self.shared;
        if shared.http1_only.load(Ordering::Acquire) {
            return shared.send_http1(request).await;
        }
        let (mut parts, body) = request.into_parts();
        // The bodies kube sends are small JSON documents: read whole, they can be sent again.
        let body = if body.is_end_stream() {
            None
        } else {
            Some(body.collect().await?.to_bytes())
        };
        for header in [
            header::CONNECTION,
            header::TRANSFER_ENCODING,
            header::UPGRADE,
            header::HOST,
            header::HeaderName::from_static("keep-alive"),
            header::HeaderName::from_static("proxy-connection"),
        ] {
            parts.headers.remove(header);
        }
        parts.version = http::Version::HTTP_2;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let slot = match shared.checkout(&parts.uri).await? {
                Some(slot) => slot,
                None => {
                    let request =
                        Request::from_parts(parts, kube::client::Body::from(body.unwrap_or_default().to_vec()));
                    return shared.send_http1(request).await;
                }
            };
            let request = copy_head(&parts);
            let connection = slot.conn.id;
            match send_on(slot, request, body.clone()).await {
                Err(error) if error.is_go_away() || error.is_io() => {
                    // The connection is going (a server shutting down says GOAWAY): no new
                    // stream goes on it, while the streams it still carries finish.
                    shared.close(connection, Closed::Ended);
                    if attempt == 1 && never_processed(&error) {
                        debug!(%error, uri = %parts.uri, "stream not processed before GOAWAY; sending it again");
                        continue;
                    }
                    return Err(error.into());
                }
                Err(error) if attempt == 1 && never_processed(&error) => {
                    debug!(%error, uri = %parts.uri, "stream refused before processing; sending it again");
                }
                result => return result.map_err(BoxError::from),
            }
        }
    }
}

/// The head of a request again (`Parts` is not `Clone`; extensions are not carried over).
fn copy_head(parts: &http::request::Parts) -> Request<()> {
    let mut request = Request::new(());
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    request
}

/// A stream the server refused or never processed (GOAWAY past it): safe to send again.
fn never_processed(error: &h2::Error) -> bool {
    error.reason() == Some(h2::Reason::REFUSED_STREAM)
        || (error.is_go_away() && error.reason() == Some(h2::Reason::NO_ERROR))
}

async fn send_on(slot: Slot, request: Request<()>, body: Option<Bytes>) -> Result<Response<ResponseBody>, h2::Error> {
    let mut send = slot.conn.send.clone().ready().await?;
    let (response, mut stream) = send.send_request(request, body.is_none())?;
    if let Some(body) = body {
        stream.send_data(body, true)?;
    }
    let response = response.await?;
    Ok(response.map(|recv| ResponseBody::http2(recv, Hold::Slot(slot))))
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Vec<Arc<Conn>>> {
        self.connections.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The open connections, for stats and logs.
    pub(crate) fn connections(&self) -> Vec<ConnectionView> {
        self.lock().iter().map(|c| c.view()).collect()
    }

    async fn send_http1(&self, request: Request<kube::client::Body>) -> Result<Response<ResponseBody>, BoxError> {
        let client = self
            .http1
            .clone()
            .ok_or("no HTTP/1.1 client for an HTTP/2-only transport")?;
        super::send_http1(client, request, &self.stats).await
    }

    /// A stream on the fullest connection that has room (packing streams leaves the others
    /// to empty and close), under the lock that counts streams.
    fn reserve(self: &Arc<Self>) -> Option<Slot> {
        let connections = self.lock();
        let conn = connections
            .iter()
            .filter(|c| c.has_room())
            .max_by_key(|c| c.streams.load(Ordering::Acquire))?;
        conn.streams.fetch_add(1, Ordering::AcqRel);
        self.stats.stream_opened();
        Some(Slot {
            conn: Arc::clone(conn),
            pool: Arc::clone(self),
        })
    }

    /// A stream for a request to `uri`; `None` when the server speaks HTTP/1.1 only.
    async fn checkout(self: &Arc<Self>, uri: &Uri) -> Result<Option<Slot>, BoxError> {
        loop {
            if let Some(slot) = self.reserve() {
                return Ok(Some(slot));
            }
            let _opening = self.opening.lock().await;
            if self.http1_only.load(Ordering::Acquire) {
                return Ok(None);
            }
            if let Some(slot) = self.reserve() {
                return Ok(Some(slot));
            }
            match self.open(uri).await? {
                Opened::Http1 => {
                    info!(server = %authority(uri), "the API server did not offer HTTP/2 (ALPN); using HTTP/1.1");
                    self.stats.set_version("1.1");
                    self.http1_only.store(true, Ordering::Release);
                    return Ok(None);
                }
                Opened::Http2(conn) => {
                    let limit = conn.limit();
                    self.lock().push(conn);
                    let connections = self.connections();
                    debug!(
                        server = %authority(uri),
                        stream_limit = limit,
                        connections = connections.len(),
                        streams_per_connection = ?connections.iter().map(|c| c.streams).collect::<Vec<_>>(),
                        "HTTP/2 connection opened"
                    );
                }
            }
        }
    }

    /// Connects, negotiates, hands the connection to a task that drives it and waits for the
    /// server's SETTINGS (its stream limit), which arrive before the answer to a first PING.
    async fn open(self: &Arc<Self>, uri: &Uri) -> Result<Opened, BoxError> {
        let io = self.connector.clone().oneshot(uri.clone()).await?;
        if let Negotiation::Alpn { fallback } = self.negotiation
            && !io.connected().is_negotiated_h2()
        {
            if fallback {
                return Ok(Opened::Http1);
            }
            return Err(format!(
                "the API server {} did not offer HTTP/2 in the TLS handshake (it, or a proxy in between, \
                 speaks HTTP/1.1 only): use --http-version auto or 1.1",
                authority(uri)
            )
            .into());
        }
        let (send, mut connection) = self.h2.handshake::<_, Bytes>(TokioIo::new(io)).await?;
        let mut ping_pong = connection.ping_pong().ok_or("h2 gave no PING handle")?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            id,
            send,
            streams: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            kill: Arc::new(Notify::new()),
            idle_since: Mutex::new(Some(Instant::now())),
        });
        tokio::spawn(drive(connection, id, Arc::clone(&conn.kill), Arc::downgrade(self)));
        let settings = tokio::time::timeout(self.keep_alive.timeout, ping_pong.ping(h2::Ping::opaque())).await;
        match settings {
            Ok(Ok(_pong)) => {}
            Ok(Err(error)) => return Err(error.into()),
            Err(_) => {
                conn.kill.notify_one();
                return Err(format!(
                    "the API server {} did not answer an HTTP/2 PING within {:?} after connecting",
                    authority(uri),
                    self.keep_alive.timeout
                )
                .into());
            }
        }
        if conn.limit() == 0 {
            conn.kill.notify_one();
            return Err(format!(
                "the API server {} allows no streams on an HTTP/2 connection",
                authority(uri)
            )
            .into());
        }
        self.stats.set_version("2");
        self.stats.connection_opened();
        tokio::spawn(keep_alive(ping_pong, Arc::downgrade(&conn), Arc::downgrade(self)));
        Ok(Opened::Http2(conn))
    }

    /// `conn` lost its last stream: close it if another connection has room.
    fn became_idle(&self, conn: &Arc<Conn>) {
        let mut connections = self.lock();
        if conn.streams.load(Ordering::Acquire) != 0 {
            return;
        }
        let spare_elsewhere = connections.iter().any(|c| c.id != conn.id && c.has_room());
        if spare_elsewhere {
            self.remove(&mut connections, conn.id, Closed::Idle);
        } else {
            *conn.idle_since.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        }
    }

    /// Takes the connection out of the pool: no new stream goes on it, and once its last
    /// handle is dropped h2 closes it.
    fn remove(&self, connections: &mut Vec<Arc<Conn>>, id: u64, why: Closed) {
        let Some(index) = connections.iter().position(|c| c.id == id) else {
            return;
        };
        let conn = connections.swap_remove(index);
        conn.closing.store(true, Ordering::Release);
        self.stats.connection_closed(why);
        debug!(
            connection = id,
            reason = ?why,
            streams = conn.streams.load(Ordering::Relaxed),
            connections = connections.len(),
            streams_per_connection = ?connections.iter().map(|c| c.streams.load(Ordering::Relaxed)).collect::<Vec<_>>(),
            "HTTP/2 connection closed"
        );
    }

    fn close(&self, id: u64, why: Closed) {
        let mut connections = self.lock();
        self.remove(&mut connections, id, why);
    }
}

/// Drives the connection until it ends or is killed (dropping it fails its streams).
async fn drive<T>(connection: h2::client::Connection<T, Bytes>, id: u64, kill: Arc<Notify>, pool: Weak<Shared>)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    tokio::select! {
        result = connection => {
            if let Err(error) = result {
                debug!(connection = id, %error, "HTTP/2 connection ended");
            }
        }
        () = kill.notified() => debug!(connection = id, "HTTP/2 connection dropped"),
    }
    if let Some(pool) = pool.upgrade() {
        pool.close(id, Closed::Ended);
    }
}

/// PINGs the connection; no answer in time kills it. Closes it once idle too long.
async fn keep_alive(mut ping_pong: h2::PingPong, conn: Weak<Conn>, pool: Weak<Shared>) {
    let Some(settings) = pool.upgrade().map(|pool| pool.keep_alive) else {
        return;
    };
    loop {
        tokio::time::sleep(settings.interval).await;
        let (Some(conn), Some(pool)) = (conn.upgrade(), pool.upgrade()) else {
            return;
        };
        if conn.closing.load(Ordering::Acquire) {
            return;
        }
        let idle_for = conn
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .filter(|_| conn.streams.load(Ordering::Acquire) == 0)
            .map(|since| since.elapsed());
        if idle_for.is_some_and(|idle| idle >= IDLE_TIMEOUT) {
            pool.close(conn.id, Closed::Idle);
            return;
        }
        match tokio::time::timeout(settings.timeout, ping_pong.ping(h2::Ping::opaque())).await {
            Ok(Ok(_pong)) => {}
            Ok(Err(_)) => return,
            Err(_) => {
                warn!(
                    connection = conn.id,
                    streams = conn.streams.load(Ordering::Relaxed),
                    timeout = ?settings.timeout,
                    "the API server did not answer an HTTP/2 PING; dropping the connection (its streams resume)"
                );
                pool.close(conn.id, Closed::Dead);
                conn.kill.notify_one();
                return;
            }
        }
    }
}

fn authority(uri: &Uri) -> String {
    uri.authority().map(ToString::to_string).unwrap_or_default()
}
