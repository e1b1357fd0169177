//! kle-auth's HTTP/2 transport against the loopback fake API server: HTTP/1.1 fallback from a
//! plain-HTTP server and from a TLS server (or proxy) that offers only `http/1.1` in the handshake
//! (ALPN), HTTP/2 negotiated over TLS, more streams than one connection allows, a connection cut
//! mid-flight and one gone silent, follows that fall behind a server sending a line per DATA
//! frame. Every followed line arrives exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use futures::AsyncReadExt as _;
use http_body_util::BodyExt as _;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kle_auth::{AuthMode, ClientOptions, HttpVersion, KeepAlive, TransportStats, connect};
use kle_core::events::{ExportEvent, ExportRun, Exporter, Retry};
use kle_core::{ExportOptions, Namespaces, Selection, StreamOptions};
use kle_tests::fake_api::{Alpn, FakeApiServer, FakeContainer, FakePod, LogLine, lines, render};
use kube::api::LogParams;

fn start() -> Timestamp {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

/// A client of `server` through kle-auth (the exporter's own transport), PINGing fast (a
/// second for the answer: a busy machine does not make a live connection look dead).
async fn connect_to(server: &FakeApiServer, version: HttpVersion) -> (kube::Client, TransportStats, tempfile::TempDir) {
    connect_with(server, |options| options.with_http_version(version)).await
}

/// Like [`connect_to`], with the options as `configure` leaves them.
async fn connect_with(
    server: &FakeApiServer,
    configure: impl FnOnce(ClientOptions) -> ClientOptions,
) -> (kube::Client, TransportStats, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    server.write_kubeconfig(&kubeconfig, "fake").unwrap();
    let options = ClientOptions::new(AuthMode::Kubeconfig)
        .with_kubeconfig(&kubeconfig)
        .with_keep_alive(KeepAlive {
            interval: Duration::from_millis(250),
            timeout: Duration::from_secs(1),
        });
    let connection = connect(&configure(options)).await.unwrap();
    (connection.client, connection.transport, dir)
}

/// `count` pods in namespace `shop` with one container `app` each, logging `first` lines.
fn add_pods(server: &FakeApiServer, count: usize, first: usize) {
    for p in 0..count {
        let pod = format!("web-{p}");
        server.add_pod(FakePod::new("shop", &pod).container(FakeContainer::new("app").logs(batch(&pod, 0, first))));
    }
}

fn batch(pod: &str, from: usize, count: usize) -> Vec<LogLine> {
    let t0 = start() + jiff::SignedDuration::from_secs(from as i64);
    lines(t0, count, |i| format!("{pod} line {}", from + i))
}

fn append(server: &FakeApiServer, count: usize, from: usize, lines: usize) {
    for p in 0..count {
        let pod = format!("web-{p}");
        server.append_log("shop", &pod, "app", batch(&pod, from, lines));
    }
}

/// What every pod's container should have delivered after `total` lines.
fn expected(count: usize, total: usize) -> BTreeMap<String, Vec<u8>> {
    (0..count)
        .map(|p| {
            let pod = format!("web-{p}");
            (format!("shop/{pod}/app"), render(&batch(&pod, 0, total), true))
        })
        .collect()
}

fn follow(client: kube::Client) -> ExportRun {
    let selection = Selection::builder()
        .with_namespaces(Namespaces::Only(vec!["shop".into()]))
        .build()
        .unwrap();
    let options = ExportOptions {
        stream: StreamOptions {
            follow: true,
            retry: Retry {
                initial: Duration::from_millis(20),
                max: Duration::from_millis(200),
                max_attempts: Some(20),
            },
            ..StreamOptions::default()
        },
        ..ExportOptions::default()
    };
    Exporter::new(client, selection).with_options(options).start()
}

/// The bytes delivered per `namespace/pod/container`.
#[derive(Default)]
struct Delivered(BTreeMap<String, Vec<u8>>);

impl Delivered {
    /// Reads events until every container has `expected`'s length (or 30 s pass).
    async fn until(&mut self, run: &mut ExportRun, expected: &BTreeMap<String, Vec<u8>>) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !self.reached(expected) {
            match tokio::time::timeout_at(deadline, run.next_event()).await {
                Ok(Some(ExportEvent::Lines(batch))) => {
                    let c = &batch.container;
                    let out = self
                        .0
                        .entry(format!("{}/{}/{}", c.namespace(), c.pod_name(), c.name))
                        .or_default();
                    for line in &batch.lines {
                        out.extend_from_slice(line.raw());
                        if line.ends_line() {
                            out.push(b'\n');
                        }
                    }
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
    }

    fn reached(&self, expected: &BTreeMap<String, Vec<u8>>) -> bool {
        expected
            .iter()
            .all(|(key, bytes)| self.0.get(key).map_or(0, Vec::len) >= bytes.len())
    }

    fn assert_exactly(&self, expected: &BTreeMap<String, Vec<u8>>) {
        assert_eq!(self.0.len(), expected.len(), "containers delivered");
        for (key, bytes) in expected {
            let got = self.0.get(key).map(Vec::as_slice).unwrap_or_default();
            assert_eq!(
                String::from_utf8_lossy(got),
                String::from_utf8_lossy(bytes),
                "{key}: every line exactly once"
            );
        }
    }
}

/// Log requests per pod (each follow's first request plus its resumptions).
fn log_requests(server: &FakeApiServer) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for request in server.requests() {
        if let Some(pod) = request.path.strip_suffix("/log").and_then(|p| p.rsplit('/').next()) {
            *counts.entry(pod.to_owned()).or_default() += 1;
        }
    }
    counts
}

/// Follows three pods' logs over `version` while they log 5 lines and 5 more, and checks that
/// every line arrived exactly once. Returns the transport's figures and, taken while the
/// follows were open, its streams per HTTP/2 connection.
async fn follow_three_pods(server: &FakeApiServer, version: HttpVersion) -> (TransportStats, Vec<usize>) {
    add_pods(server, 3, 5);
    let (client, stats, _dir) = connect_to(server, version).await;
    let mut run = follow(client);
    let mut delivered = Delivered::default();
    delivered.until(&mut run, &expected(3, 5)).await;
    append(server, 3, 5, 5);
    delivered.until(&mut run, &expected(3, 10)).await;
    let streaming = stats.streams_per_connection();
    run.cancellation().cancel();
    while run.next_event().await.is_some() {}
    delivered.assert_exactly(&expected(3, 10));
    (stats, streaming)
}

/// Lists pods with a client that insists on HTTP/2, and returns the error's message. Panics if
/// the list succeeds or takes more than 20 s (a hang, not an error).
async fn list_in_http2_only(server: &FakeApiServer) -> String {
    let (client, _, _dir) = connect_to(server, HttpVersion::Http2).await;
    let pods: kube::Api<Pod> = kube::Api::namespaced(client, "shop");
    let listed = tokio::time::timeout(Duration::from_secs(20), pods.list(&Default::default()))
        .await
        .expect("an error within 20 s, not a hang");
    listed
        .expect_err("a server without HTTP/2 cannot list in HTTP/2")
        .to_string()
}

#[tokio::test]
async fn a_server_without_http2_is_spoken_to_in_http1() {
    let server = FakeApiServer::start().await;
    let (stats, streaming) = follow_three_pods(&server, HttpVersion::Auto).await;
    assert_eq!(stats.http_version(), "1.1");
    assert!(streaming.is_empty(), "{streaming:?}");

    // Asked for HTTP/2 only, the same server is an error, not a hang.
    list_in_http2_only(&server).await;
}

#[tokio::test]
async fn a_tls_server_offering_only_http1_is_spoken_to_in_http1() {
    let server = FakeApiServer::start_tls(Alpn::Http1Only).await;
    let (stats, streaming) = follow_three_pods(&server, HttpVersion::Auto).await;
    assert_eq!(stats.http_version(), "1.1");
    assert_eq!(stats.connections_opened(), 0, "no HTTP/2 connection");
    assert!(streaming.is_empty(), "{streaming:?}");

    // Asked for HTTP/2 only, the error says why and what to do.
    let error = list_in_http2_only(&server).await;
    assert!(error.contains("did not offer HTTP/2 in the TLS handshake"), "{error}");
    assert!(error.contains("use --http-version auto or 1.1"), "{error}");
}

#[tokio::test]
async fn a_tls_server_offering_h2_is_spoken_to_in_http2() {
    let server = FakeApiServer::start_tls(Alpn::H2AndHttp1 { max_streams: 100 }).await;
    let (stats, streaming) = follow_three_pods(&server, HttpVersion::Auto).await;
    assert_eq!(stats.http_version(), "2");
    let streams: usize = streaming.iter().sum();
    assert!(streams > 3, "three follows and the pod watch on HTTP/2: {streaming:?}");
    assert!(
        log_requests(&server).values().all(|&n| n == 1),
        "{:?}",
        log_requests(&server)
    );
}

#[tokio::test]
async fn streams_beyond_a_connections_limit_go_on_new_connections() {
    const LIMIT: usize = 4;
    const PODS: usize = 10;
    let server = FakeApiServer::start_http2(LIMIT as u32).await;
    add_pods(&server, PODS, 5);
    let (client, stats, _dir) = connect_to(&server, HttpVersion::Http2).await;
    let mut run = follow(client);
    let mut delivered = Delivered::default();
    // A follow never ends: one waiting behind the limit would never deliver.
    delivered.until(&mut run, &expected(PODS, 5)).await;
    append(&server, PODS, 5, 5);
    delivered.until(&mut run, &expected(PODS, 10)).await;

    assert_eq!(stats.http_version(), "2");
    let per_connection = stats.streams_per_connection();
    let streams: usize = per_connection.iter().sum();
    assert!(streams > PODS, "ten follows and the pod watch: {per_connection:?}");
    assert!(per_connection.iter().all(|&s| s <= LIMIT), "{per_connection:?}");
    assert!(
        per_connection.len() <= streams.div_ceil(LIMIT) + 1,
        "{} connections for {streams} streams: {per_connection:?}",
        per_connection.len()
    );
    run.cancellation().cancel();
    while run.next_event().await.is_some() {}
    delivered.assert_exactly(&expected(PODS, 10));
    assert!(
        log_requests(&server).values().all(|&n| n == 1),
        "{:?}",
        log_requests(&server)
    );
}

#[tokio::test]
async fn streams_of_a_connection_cut_mid_flight_resume_exactly_once() {
    const PODS: usize = 8;
    let server = FakeApiServer::start_http2(4).await;
    add_pods(&server, PODS, 5);
    let (client, stats, _dir) = connect_to(&server, HttpVersion::Http2).await;
    let mut run = follow(client);
    let mut delivered = Delivered::default();
    delivered.until(&mut run, &expected(PODS, 5)).await;
    let opened = stats.connections_opened();

    append(&server, PODS, 5, 5);
    server.disconnect_all();
    append(&server, PODS, 10, 5);
    delivered.until(&mut run, &expected(PODS, 15)).await;

    run.cancellation().cancel();
    while run.next_event().await.is_some() {}
    delivered.assert_exactly(&expected(PODS, 15));
    assert!(stats.connections_opened() > opened, "new connections after the cut");
    assert!(
        log_requests(&server).values().all(|&n| n == 2),
        "each follow resumed once: {:?}",
        log_requests(&server)
    );
}

#[tokio::test]
async fn streams_of_a_silent_connection_resume_after_the_ping_timeout() {
    const PODS: usize = 8;
    let server = FakeApiServer::start_http2(4).await;
    add_pods(&server, PODS, 5);
    let (client, stats, _dir) = connect_to(&server, HttpVersion::Http2).await;
    let mut run = follow(client);
    let mut delivered = Delivered::default();
    delivered.until(&mut run, &expected(PODS, 5)).await;

    // The connections stay open but answer nothing: only the PINGs can tell.
    server.freeze_connections();
    append(&server, PODS, 5, 5);
    delivered.until(&mut run, &expected(PODS, 10)).await;

    run.cancellation().cancel();
    while run.next_event().await.is_some() {}
    delivered.assert_exactly(&expected(PODS, 10));
    assert!(stats.connections_dead() >= 1, "{}", stats.render());
    assert!(
        log_requests(&server).values().all(|&n| n == 2),
        "each follow resumed once: {:?}",
        log_requests(&server)
    );
}

/// The premise of the next test: asked to, the fake API server sends each line as a DATA
/// frame of its own, as the API server sends a followed log; by default it gathers them.
#[tokio::test]
async fn the_fake_server_can_send_a_line_per_data_frame() {
    let server = FakeApiServer::start_http2(100).await;
    add_pods(&server, 1, 5);
    let (client, _, _dir) = connect_to(&server, HttpVersion::Http2).await;
    let lines: Vec<Vec<u8>> = batch("web-0", 0, 5).iter().map(|line| line.rendered(true)).collect();
    assert_eq!(data_frames(&client, "web-0").await, vec![lines.concat()], "gathered");
    server.send_lines_one_by_one(true);
    assert_eq!(data_frames(&client, "web-0").await, lines, "a frame per line");
}

/// The DATA frames of `pod`'s log (with timestamps, not followed) as they arrived.
async fn data_frames(client: &kube::Client, pod: &str) -> Vec<Vec<u8>> {
    let params = LogParams {
        timestamps: true,
        ..LogParams::default()
    };
    let request = kube::api::Request::new("/api/v1/namespaces/shop/pods")
        .logs(pod, &params)
        .unwrap();
    let response = client.send(request.map(kube::client::Body::from)).await.unwrap();
    let mut body = response.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = tokio::time::timeout(Duration::from_secs(20), body.frame())
        .await
        .unwrap()
    {
        // The empty frame that ends the stream carries no line.
        if let Ok(data) = frame.unwrap().into_data().map(|data| data.to_vec())
            && !data.is_empty()
        {
            frames.push(data);
        }
    }
    frames
}

/// Follows that fall behind a server sending a line per DATA frame keep their connection.
/// Each holds a window of small frames unread; h2 cuts a connection (GOAWAY
/// ENHANCE_YOUR_CALM) whose unread small frames overrun a budget, by default half the
/// connection window at 256 bytes less each frame's size per frame. Here a hundred 8 KiB
/// windows of 75-byte lines are ~11,000 frames counted at 2 MB, nearly four times that default
/// for the 1 MiB connection window: kle-auth sizes the budget for it (`h2_settings`).
#[tokio::test]
async fn follows_behind_on_a_line_per_frame_keep_their_connection() {
    const PODS: usize = 100;
    /// The smallest read buffer, so each stream's window (and the data) stays small.
    const READ_BUFFER: usize = 8192;
    /// Each backlog about two windows: reading one to its end waits behind the others' frames.
    const LINES: usize = 200;
    let server = FakeApiServer::start_http2(PODS as u32).await;
    server.send_lines_one_by_one(true);
    let mut expected = Vec::new();
    for p in 0..PODS {
        let pod = format!("web-{p}");
        let logged = lines(start(), LINES, |i| {
            format!("{pod} GET /api/v1/orders/{i} 200 OK in 3ms")
        });
        expected.push(render(&logged, true));
        server.add_pod(FakePod::new("shop", &pod).container(FakeContainer::new("app").logs(logged)));
    }
    let (client, stats, _dir) = connect_with(&server, |options| {
        options
            .with_http_version(HttpVersion::Http2)
            .with_read_buffer(READ_BUFFER)
    })
    .await;
    let pods: kube::Api<Pod> = kube::Api::namespaced(client, "shop");
    let params = LogParams {
        follow: true,
        timestamps: true,
        ..LogParams::default()
    };
    let names: Vec<String> = (0..PODS).map(|p| format!("web-{p}")).collect();
    let opened = names.iter().map(|name| pods.log_stream(name, &params));
    let mut follows = Vec::new();
    for follow in futures::future::join_all(opened).await {
        follows.push(Box::pin(follow.unwrap()));
    }

    // Nobody reads until every window is taken; then one follow after another, so that the
    // frames of all the others wait unread.
    wait_for_log_bytes(&server, (PODS * READ_BUFFER) as u64).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut failures = Vec::new();
    for (p, (follow, want)) in follows.iter_mut().zip(&expected).enumerate() {
        let (got, error) = read_up_to(follow, want.len(), deadline).await;
        if got != *want {
            let order = if want.starts_with(&got) {
                "in order"
            } else {
                "NOT as logged"
            };
            let error = error.as_deref().unwrap_or("no error");
            failures.push(format!(
                "web-{p}: {} of {} bytes {order}, then: {error}",
                got.len(),
                want.len()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {PODS} follows fell short, e.g. {:#?}\n{}",
        failures.len(),
        &failures[..failures.len().min(3)],
        stats.render()
    );
    assert_eq!(stats.connections_opened(), 1, "no reconnects:\n{}", stats.render());
    assert_eq!(
        stats.streams_per_connection(),
        vec![PODS],
        "every follow still on the one connection"
    );
}

/// Waits until the server's log responses have taken `bytes` for sending, or took nothing
/// more for a second (a connection cut before then shows in what the follows read).
async fn wait_for_log_bytes(server: &FakeApiServer, bytes: u64) {
    let mut sent = server.log_bytes_sent();
    let mut quiet_since = tokio::time::Instant::now();
    while sent < bytes && quiet_since.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = server.log_bytes_sent();
        if now > sent {
            (sent, quiet_since) = (now, tokio::time::Instant::now());
        }
    }
}

/// Reads `follow` until `wanted` bytes arrived, it ends or fails, or `deadline`; returns the
/// bytes read and why it stopped short, if it did.
async fn read_up_to(
    follow: &mut (impl futures::AsyncRead + Unpin),
    wanted: usize,
    deadline: tokio::time::Instant,
) -> (Vec<u8>, Option<String>) {
    let mut got = Vec::new();
    let mut buffer = vec![0; 64 * 1024];
    while got.len() < wanted {
        match tokio::time::timeout_at(deadline, follow.read(&mut buffer)).await {
            Ok(Ok(0)) => return (got, Some("end of stream".into())),
            Ok(Ok(n)) => got.extend_from_slice(&buffer[..n]),
            Ok(Err(error)) => return (got, Some(error.to_string())),
            Err(_) => return (got, Some("timed out".into())),
        }
    }
    (got, None)
}
