//! A lean loopback API server for the load harness: just enough of discovery, pods list/watch/get
//! and `pods/log` for kube-log-exporter and `kubectl logs`, serving one prebuilt byte stream per
//! pod at full speed (zero-copy 64 KiB slices of shared memory). It speaks HTTP/1.1 and h2
//! (prior knowledge, as a client with `--http-version 2` to an `http://` server speaks it),
//! allowing 100 streams on an HTTP/2 connection like current API servers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// Bytes per body frame: what a kubelet proxy typically forwards at once.
const FRAME: usize = 64 * 1024;

/// Streams on one HTTP/2 connection: current API servers' `--http2-max-streams-per-connection`.
const HTTP2_MAX_STREAMS: u32 = 100;

/// The namespace every pod lives in.
pub(crate) const NAMESPACE: &str = "bench";

/// A log body: `data` in frames; with `follow`, it then stays open (a quiet container).
pub(crate) struct LogBody {
    data: Bytes,
    follow: bool,
}

impl Body for LogBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.data.is_empty() {
            // A follow stream never ends by itself; the scenario's runtime is dropped instead.
            return if self.follow { Poll::Pending } else { Poll::Ready(None) };
        }
        let n = self.data.len().min(FRAME);
        let frame = self.data.split_to(n);
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }
}

/// A running server; dropping it stops its runtime and closes every connection.
pub(crate) struct Server {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct State {
    pods: usize,
    data: Bytes,
}

/// Serves `pods` pods (`pod-0` …), each container's log being `data`.
pub(crate) fn start(pods: usize, data: Bytes) -> Server {
    let state = Arc::new(State { pods, data });
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (shutdown, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runtime.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
            addr_tx
                .send(listener.local_addr().expect("bound"))
                .expect("harness waits");
            let accept = async {
                loop {
                    let Ok((socket, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = socket.set_nodelay(true);
                    let state = state.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |req| {
                            let state = state.clone();
                            async move { Ok::<_, Infallible>(route(&state, &req)) }
                        });
                        let mut builder = auto::Builder::new(TokioExecutor::new());
                        builder.http2().max_concurrent_streams(HTTP2_MAX_STREAMS);
                        let _ = builder.serve_connection(TokioIo::new(socket), service).await;
                    });
                }
            };
            tokio::select! {
                () = accept => {}
                _ = shutdown_rx => {}
            }
        });
        // Dropping the runtime drops every connection task.
    });
    let addr = addr_rx.recv().expect("server started");
    Server {
        addr,
        shutdown: Some(shutdown),
        thread: Some(thread),
    }
}

type Reply = Response<http_body_util::Either<LogBody, http_body_util::Full<Bytes>>>;

fn json(status: u16, body: String) -> Reply {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(http_body_util::Either::Right(http_body_util::Full::new(Bytes::from(
            body,
        ))))
        .expect("valid response")
}

fn stream(data: Bytes, follow: bool, content_type: &str) -> Reply {
    Response::builder()
        .header("content-type", content_type)
        .body(http_body_util::Either::Left(LogBody { data, follow }))
        .expect("valid response")
}

fn route(state: &State, req: &Request<Incoming>) -> Reply {
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or("");
    let flag = |key: &str| {
        query
            .split('&')
            .any(|kv| kv == format!("{key}=true") || kv == format!("{key}=1"))
    };
    let prefix = format!("/api/v1/namespaces/{NAMESPACE}/pods");
    match path {
        "/version" => json(200, r#"{"major":"1","minor":"32","gitVersion":"v1.32.0"}"#.into()),
        "/api" => json(
            200,
            r#"{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[]}"#.into(),
        ),
        "/apis" => json(200, r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[]}"#.into()),
        "/api/v1" => json(200, API_RESOURCES.into()),
        _ if path == prefix && flag("watch") => stream(Bytes::new(), true, "application/json"),
        _ if path == prefix => {
            let items: Vec<String> = (0..state.pods).map(pod).collect();
            json(
                200,
                format!(
                    r#"{{"kind":"PodList","apiVersion":"v1","metadata":{{"resourceVersion":"1"}},"items":[{}]}}"#,
                    items.join(",")
                ),
            )
        }
        _ => {
            let Some(rest) = path.strip_prefix(&prefix).and_then(|r| r.strip_prefix('/')) else {
                return not_found();
            };
            let (name, log) = match rest.strip_suffix("/log") {
                Some(name) => (name, true),
                None => (rest, false),
            };
            let Some(index) = name.strip_prefix("pod-").and_then(|i| i.parse::<usize>().ok()) else {
                return not_found();
            };
            if index >= state.pods {
                return not_found();
            }
            if log {
                stream(state.data.clone(), flag("follow"), "text/plain")
            } else {
                json(200, pod(index))
            }
        }
    }
}

fn not_found() -> Reply {
    json(
        404,
        r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"not found"}"#
            .into(),
    )
}

fn pod(i: usize) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"pod-{i}","namespace":"{NAMESPACE}","uid":"uid-{i}","resourceVersion":"1","labels":{{"app":"bench"}}}},"spec":{{"nodeName":"node-0","containers":[{{"name":"app","image":"busybox"}}]}},"status":{{"phase":"Running","containerStatuses":[{{"name":"app","ready":true,"started":true,"restartCount":0,"image":"busybox","imageID":"","containerID":"containerd://c-{i}","state":{{"running":{{"startedAt":"2026-11-23T00:00:00Z"}}}}}}]}}}}"#
    )
}

const API_RESOURCES: &str = r#"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"v1","resources":[{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["get","list","watch"],"shortNames":["po"]},{"name":"pods/log","singularName":"","namespaced":true,"kind":"Pod","verbs":["get"]}]}"#;
