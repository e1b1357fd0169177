//! The server handle a test holds: start, connect, change the cluster, inject faults, observe requests.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use k8s_openapi::api::core::v1::Pod;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::access::AccessPolicy;
use super::dispatch::handle;
use super::fault::Fault;
use super::kubelet;
use super::lines::LogLine;
use super::pod::FakePod;
use super::request::RecordedRequest;
use super::store::Shared;
use super::tls::{self, Alpn, SelfSigned};

/// A loopback Kubernetes API server (and kubelet) for pods and their logs.
///
/// It speaks plain HTTP/1.1 only, as proxies and old servers do, unless started with
/// [`start_http2`](Self::start_http2): then also h2 without negotiation (prior knowledge), with
/// a limit on the streams of one connection like the API server's
/// `--http2-max-streams-per-connection`. Started with [`start_tls`](Self::start_tls), it serves
/// HTTPS with a self-signed certificate (which its kubeconfig names as the CA) and offers in the
/// TLS handshake what [`Alpn`] says: `h2` and `http/1.1` like the API server, or `http/1.1` only
/// like an old server or a proxy.
///
/// It serves what a log exporter uses — pod list/get/watch with selectors and pagination, `pods/log` with every
/// option, SelfSubjectAccessReviews — from a model the test drives: pods built with [`FakePod`], log lines,
/// container restarts, deletions. Faults can be injected per route, and every request is recorded.
///
/// The server stops when the handle is dropped or [`shutdown`](Self::shutdown) is called.
///
/// ```no_run
/// use k8s_openapi::api::core::v1::Pod;
/// use kle_tests::fake_api::{FakeApiServer, FakeContainer, FakePod, lines};
///
/// # async fn example() {
/// let server = FakeApiServer::start().await;
/// let start: jiff::Timestamp = "2024-05-01T10:00:00Z".parse().unwrap();
/// server.add_pod(
///     FakePod::new("shop", "web-0")
///         .label("app", "web")
///         .container(FakeContainer::new("app").logs(lines(start, 3, |i| format!("line {i}")))),
/// );
/// let pods: kube::Api<Pod> = kube::Api::namespaced(server.client(), "shop");
/// assert_eq!(pods.list(&Default::default()).await.unwrap().items.len(), 1);
/// server.append_log("shop", "web-0", "app", lines(start, 1, |_| "more"));
/// # }
/// ```
pub struct FakeApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
    /// Set when serving HTTPS.
    certificate: Option<SelfSigned>,
}

impl std::fmt::Debug for FakeApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeApiServer")
            .field("addr", &self.addr)
            .field("tls", &self.certificate.is_some())
            .finish_non_exhaustive()
    }
}

impl FakeApiServer {
    /// The bearer token written into [`write_kubeconfig`](Self::write_kubeconfig) files.
    pub const TOKEN: &'static str = "fake-token";

    /// Binds `127.0.0.1:0` and starts serving. Also installs the aws-lc-rs rustls provider that kube's client needs.
    pub async fn start() -> Self {
        Self::start_with(None, None).await
    }

    /// Like [`start`](Self::start), serving HTTP/2 (prior knowledge) beside HTTP/1.1, with at
    /// most `max_streams` concurrent streams on one HTTP/2 connection.
    pub async fn start_http2(max_streams: u32) -> Self {
        Self::start_with(Some(max_streams), None).await
    }

    /// Like [`start`](Self::start), serving HTTPS with a certificate for `127.0.0.1` and
    /// `localhost` made now and signed by itself, offering `alpn` in the TLS handshake.
    pub async fn start_tls(alpn: Alpn) -> Self {
        Self::start_with(alpn.http2_max_streams(), Some(alpn)).await
    }

    async fn start_with(http2_max_streams: Option<u32>, alpn: Option<Alpn>) -> Self {
        install_crypto_provider();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding 127.0.0.1:0");
        let addr = listener.local_addr().expect("a bound listener has an address");
        let shared = Arc::new(Shared::new());
        let (tls, certificate) = alpn.map(tls::self_signed).unzip();
        let protocols = Protocols { http2_max_streams, tls };
        let acceptor = tokio::spawn(accept(listener, shared.clone(), protocols));
        Self {
            shared,
            addr,
            acceptor: Some(acceptor),
            certificate,
        }
    }

    /// `http://127.0.0.1:<port>`, or `https://...` when serving TLS.
    pub fn url(&self) -> String {
        let scheme = if self.certificate.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A kube config for this server, default namespace `default`, no credentials; when serving
    /// TLS, trusting the server's certificate (and only it).
    pub fn config(&self) -> kube::Config {
        let mut config = kube::Config::new(self.url().parse().expect("the server URL is a valid URI"));
        config.root_cert = self
            .certificate
            .as_ref()
            .map(|certificate| vec![certificate.der.to_vec()]);
        config
    }

    /// A kube client for this server (see [`config`](Self::config)).
    pub fn client(&self) -> kube::Client {
        install_crypto_provider();
        kube::Client::try_from(self.config()).expect("a client for a loopback server builds")
    }

    /// Writes a kubeconfig whose only context, `context` (also the current one), points at this server with the
    /// bearer token [`TOKEN`](Self::TOKEN) and namespace `default`; when serving TLS, with the server's
    /// certificate as the cluster's `certificate-authority-data`.
    pub fn write_kubeconfig(&self, path: impl AsRef<Path>, context: &str) -> std::io::Result<()> {
        let url = self.url();
        let token = Self::TOKEN;
        let ca = self.certificate.as_ref().map_or_else(String::new, |certificate| {
            let data = base64::engine::general_purpose::STANDARD.encode(&certificate.pem);
            format!("\n    certificate-authority-data: {data}")
        });
        let yaml = format!(
            "apiVersion: v1\nkind: Config\npreferences: {{}}\nclusters:\n- name: {context}\n  cluster:\n    \
             server: {url}{ca}\nusers:\n- name: {context}\n  user:\n    token: {token}\ncontexts:\n- name: {context}\n  \
             context:\n    cluster: {context}\n    user: {context}\n    namespace: default\ncurrent-context: {context}\n"
        );
        std::fs::write(path, yaml)
    }

    /// Creates a pod (an `ADDED` event) with its containers' logs. Panics if it already exists.
    pub fn add_pod(&self, pod: FakePod) -> Pod {
        self.shared.write(|state| state.add_pod(pod))
    }

    /// Creates or replaces a pod object as given (`ADDED` or `MODIFIED`). Container IDs new to its statuses get an
    /// empty log; instances it no longer mentions lose theirs.
    pub fn set_pod(&self, pod: Pod) -> Pod {
        self.shared.write(|state| state.set_pod(pod))
    }

    /// Changes a pod in place (a `MODIFIED` event). Panics if it does not exist.
    pub fn update_pod(&self, namespace: &str, name: &str, change: impl FnOnce(&mut Pod)) -> Pod {
        self.shared.write(|state| state.update_pod(namespace, name, change))
    }

    /// Deletes a pod (a `DELETED` event); its logs go and their followers' responses end.
    pub fn delete_pod(&self, namespace: &str, name: &str) -> Option<Pod> {
        self.shared.write(|state| state.delete_pod(namespace, name))
    }

    /// The pod as stored now.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<Pod> {
        let state = self.shared.read();
        state
            .pods
            .get(&(namespace.to_owned(), name.to_owned()))
            .map(|pod| Pod::clone(pod))
    }

    /// The current resource version (of the last change).
    pub fn resource_version(&self) -> u64 {
        self.shared.read().resource_version
    }

    /// Forgets the history up to now, like an etcd compaction: watches and continue tokens from an older
    /// resource version get 410 Gone.
    pub fn compact(&self) {
        self.shared
            .write(|state| state.compacted_before = state.resource_version);
    }

    /// Appends lines to the log of the container's current instance, waking its followers. Panics if the pod or
    /// container does not exist or the container has not started.
    pub fn append_log(&self, namespace: &str, pod: &str, container: &str, lines: impl IntoIterator<Item = LogLine>) {
        let lines = lines.into_iter().collect();
        self.shared
            .write(|state| state.append_log(namespace, pod, container, lines));
    }

    /// Rotates the container's log: the API serves only its last `keep` lines from now on.
    pub fn rotate_log(&self, namespace: &str, pod: &str, container: &str, keep: usize) {
        self.shared
            .write(|state| state.rotate_log(namespace, pod, container, keep));
    }

    /// The container crashes (exit code 1) and the kubelet starts it again: the current instance becomes the
    /// previous one (its followers end cleanly), a new instance with a new container ID and an empty log starts,
    /// `restartCount` goes up. A `MODIFIED` event.
    pub fn restart_container(&self, namespace: &str, pod: &str, container: &str) -> Pod {
        self.shared.write(|state| {
            state.container_transition(namespace, pod, container, |status, now| {
                kubelet::restart(status, 1, now)
            })
        })
    }

    /// The container's current instance exits with `exit_code` (followers end cleanly); the phase follows the
    /// restart policy. A `MODIFIED` event.
    pub fn terminate_container(&self, namespace: &str, pod: &str, container: &str, exit_code: i32) -> Pod {
        self.shared.write(|state| {
            state.container_transition(namespace, pod, container, |status, now| {
                kubelet::terminate(status, exit_code, now);
            })
        })
    }

    /// A waiting container starts: a new instance with an empty log. A `MODIFIED` event.
    pub fn start_container(&self, namespace: &str, pod: &str, container: &str) -> Pod {
        self.shared
            .write(|state| state.container_transition(namespace, pod, container, kubelet::start))
    }

    /// The container ID of the container's current instance (`containerd://...`), if it has started.
    pub fn container_id(&self, namespace: &str, pod: &str, container: &str) -> Option<String> {
        let state = self.shared.read();
        let pod = state.pods.get(&(namespace.to_owned(), pod.to_owned()))?;
        kubelet::statuses(pod)
            .find(|s| s.name == container)?
            .container_id
            .clone()
    }

    /// Queues a fault for the next matching request(s).
    pub fn inject(&self, fault: Fault) {
        self.shared.write(|state| state.faults.push(fault));
    }

    /// Removes every queued fault.
    pub fn clear_faults(&self) {
        self.shared.write(|state| state.faults.clear());
    }

    /// Sends every log line as a chunk of its own when `on` (an HTTP/2 DATA frame, an HTTP/1.1
    /// chunk), as the API server does for a followed log: it flushes after every line. Off by
    /// default, small lines are gathered into chunks of about 32 KiB, which keeps big logs fast.
    /// Applies to log requests made afterwards.
    pub fn send_lines_one_by_one(&self, on: bool) {
        self.shared.write(|state| state.line_chunks = on);
    }

    /// Bytes of log responses the connections have taken for sending so far. Over HTTP/2 hyper
    /// takes the next chunk only while the stream's flow-control window has room: a follow
    /// nobody reads stops adding to this once the chunks taken fill its window.
    pub fn log_bytes_sent(&self) -> u64 {
        self.shared.log_bytes_sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Replaces the authorizer's policy (initially [`AccessPolicy::allow_all`]).
    pub fn set_access_policy(&self, policy: AccessPolicy) {
        self.shared.write(|state| state.access = policy);
    }

    /// The user name in 403 messages (default `system:serviceaccount:kle:exporter`).
    pub fn set_user(&self, user: &str) {
        self.shared.write(|state| state.user = user.to_owned());
    }

    /// Requires `Authorization: Bearer <token>` on every request (401 otherwise); `None` accepts anything.
    pub fn require_token(&self, token: Option<&str>) {
        self.shared
            .write(|state| state.required_token = token.map(str::to_owned));
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.read().requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.write(|state| state.requests.clear());
    }

    /// Waits until at least `count` recorded requests satisfy `matches`, and returns them. Panics after
    /// `timeout`, listing what was received.
    pub async fn wait_for_requests(
        &self,
        count: usize,
        timeout: Duration,
        matches: impl Fn(&RecordedRequest) -> bool,
    ) -> Vec<RecordedRequest> {
        let mut changes = self.shared.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changes.borrow_and_update();
            let found: Vec<RecordedRequest> = self.requests().into_iter().filter(|r| matches(r)).collect();
            if found.len() >= count {
                return found;
            }
            if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                let seen: Vec<String> = self
                    .requests()
                    .iter()
                    .map(|r| format!("{} {}", r.method, r.path))
                    .collect();
                panic!(
                    "timed out after {timeout:?} waiting for {count} matching requests, found {}; received: {seen:#?}",
                    found.len()
                );
            }
        }
    }

    /// Ends every open watch cleanly (the server closing them, as on its watch timeout), so clients re-watch.
    pub fn end_watches(&self) {
        self.shared.write(|state| state.watch_epoch += 1);
    }

    /// Sends a `BOOKMARK` with the current resource version on every open watch that allows bookmarks.
    pub fn send_bookmarks(&self) {
        self.shared.write(|state| state.bookmark_epoch += 1);
    }

    /// Cuts every open connection abruptly (streams end with an error, not a clean end).
    pub fn disconnect_all(&self) {
        self.shared.disconnects.send_modify(|n| *n += 1);
    }

    /// Makes every open connection fall silent: it stays open, but nothing on it is read or
    /// written again (no answer to PINGs either), like a peer behind a dead route. Connections
    /// made afterwards work.
    pub fn freeze_connections(&self) {
        self.shared.freezes.send_modify(|n| *n += 1);
    }

    /// How many connections the server has accepted so far.
    pub fn connections_accepted(&self) -> u64 {
        self.shared.accepted.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops accepting, cuts every connection and ends every stream; the port is closed when this returns.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.await;
        }
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
        if let Some(acceptor) = &self.acceptor {
            acceptor.abort();
        }
    }
}

fn install_crypto_provider() {
    // Fails harmlessly when a provider is already installed.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// How the server speaks on a connection.
#[derive(Clone)]
struct Protocols {
    /// HTTP/2 beside HTTP/1.1, with this many concurrent streams on one connection at most.
    http2_max_streams: Option<u32>,
    /// A TLS handshake first, with the server's certificate and ALPN protocols.
    tls: Option<TlsAcceptor>,
}

async fn accept(listener: TcpListener, shared: Arc<Shared>, protocols: Protocols) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shared.shutdown.cancelled() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        shared.accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::spawn(serve_connection(stream, shared.clone(), protocols.clone()));
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>, protocols: Protocols) {
    let Some(tls) = protocols.tls else {
        return serve(stream, shared, protocols.http2_max_streams).await;
    };
    let handshake = tokio::select! {
        handshake = tls.accept(stream) => handshake,
        () = shared.shutdown.cancelled() => return,
    };
    // A client that distrusts the certificate or shares no protocol has nothing to be served.
    let Ok(stream) = handshake else { return };
    // What ALPN chose needs no passing on: with HTTP/2 on, the auto builder tells h2 from
    // HTTP/1.1 by the client's first bytes.
    serve(stream, shared, protocols.http2_max_streams).await;
}

async fn serve<I>(stream: I, shared: Arc<Shared>, http2_max_streams: Option<u32>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut disconnects = shared.disconnects.subscribe();
    let mut freezes = shared.freezes.subscribe();
    let shutdown = shared.shutdown.clone();
    let service = service_fn(move |request| handle(shared.clone(), request));
    let io = TokioIo::new(stream);
    let connection: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> = match http2_max_streams {
        None => Box::pin(async move {
            let _ = http1::Builder::new().serve_connection(io, service).await;
        }),
        Some(max_streams) => Box::pin(async move {
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http2().max_concurrent_streams(max_streams);
            let _ = builder.serve_connection(io, service).await;
        }),
    };
    let mut connection = connection;
    tokio::select! {
        _ = &mut connection => return,
        _ = disconnects.changed() => return,
        () = shutdown.cancelled() => return,
        _ = freezes.changed() => {}
    }
    // Frozen: kept open but never polled again, until cut or shut down.
    tokio::select! {
        _ = disconnects.changed() => {}
        () = shutdown.cancelled() => {}
    }
    drop(connection);
}
