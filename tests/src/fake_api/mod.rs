//! A loopback fake Kubernetes API server (and kubelet) for pods and their logs.
//!
//! [`FakeApiServer`] listens on `127.0.0.1` and answers kube-rs unmodified. It speaks plain HTTP/1.1,
//! or beside it HTTP/2 with prior knowledge ([`FakeApiServer::start_http2`]), or HTTPS with a self-signed
//! certificate offering `h2` and `http/1.1`, or `http/1.1` only, in the TLS handshake
//! ([`FakeApiServer::start_tls`] with an [`Alpn`]). It serves:
//!
//! - `GET /api/v1/pods`, `/api/v1/namespaces/{ns}/pods`: `PodList` with `labelSelector` (`=`, `==`, `!=`,
//!   exists, `!key`, `in`, `notin`, `>`/`<`), `fieldSelector` (`metadata.name`, `metadata.namespace`,
//!   `spec.nodeName`, `status.phase`, ...), `limit`/`continue` pages that are consistent snapshots.
//! - the same with `watch=true`: JSON-lines `ADDED`/`MODIFIED`/`DELETED`/`BOOKMARK` events after
//!   `resourceVersion` (or the current state first when it is absent or `0`), `sendInitialEvents`,
//!   `timeoutSeconds`, and `ERROR` 410 `Expired` for compacted versions.
//! - `GET /api/v1/namespaces/{ns}/pods/{name}` and `.../log` with `container`, `follow`, `previous`,
//!   `timestamps`, `sinceTime`, `sinceSeconds`, `tailLines`, `limitBytes`, choosing the container instance
//!   the way the kubelet does. Small lines go out gathered into chunks of about 32 KiB, or each as a
//!   chunk of its own (so an HTTP/2 DATA frame of its own), as the API server sends a followed log
//!   ([`FakeApiServer::send_lines_one_by_one`]); [`FakeApiServer::log_bytes_sent`] tells how much the
//!   connections have taken, so a test can wait until unread streams' windows are full.
//! - `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`, answered by an [`AccessPolicy`] that can
//!   also refuse the requests themselves (403 with the API server's message).
//!
//! Errors are `Status` objects with the real reasons and messages. [`Fault`]s make the next matching requests
//! fail, stall, or lose their connection mid-body; [`RecordedRequest`]s tell what a client asked.
//!
//! ```no_run
//! use futures::StreamExt;
//! use k8s_openapi::api::core::v1::Pod;
//! use kle_tests::fake_api::{FakeApiServer, FakeContainer, FakePod, Fault, lines};
//!
//! # async fn example() {
//! let server = FakeApiServer::start().await;
//! let t0: jiff::Timestamp = "2024-05-01T10:00:00Z".parse().unwrap();
//! server.add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(lines(t0, 3, |i| format!("line {i}")))));
//!
//! // The next watch is told its resource version expired: a kube watcher relists.
//! server.inject(Fault::pod_watch().status(410));
//! let pods: kube::Api<Pod> = kube::Api::all(server.client());
//! let mut events = kube::runtime::watcher(pods, Default::default()).boxed();
//! let _init = events.next().await;
//! # }
//! ```

mod access;
mod body;
mod dispatch;
mod fault;
mod fields;
mod kubelet;
mod labels;
mod lines;
mod list_watch;
mod logs;
mod pod;
mod request;
mod server;
mod status;
mod store;
mod tls;

pub use access::{AccessPolicy, AccessRule};
pub use fault::Fault;
pub use lines::{LogLine, format_timestamp, lines, lines_every, render};
pub use pod::{FakeContainer, FakePod};
pub use request::{RecordedRequest, Route};
pub use server::FakeApiServer;
pub use tls::Alpn;
