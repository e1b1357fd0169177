//! Helpers shared by the self-tests.

use std::future::Future;
use std::time::Duration;

use http_body_util::BodyExt;
use jiff::Timestamp;
use kube::api::{LogParams, Request};
use kube::client::Body;
use kube::core::Status;

pub(crate) const NS: &str = "shop";

pub(crate) fn t0() -> Timestamp {
    "2024-05-01T10:00:00Z".parse().unwrap()
}

/// Fails the test instead of hanging when the server misbehaves.
pub(crate) async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("the operation finished in time")
}

/// Opens a raw `pods/log` request the way the exporter does, returning the streaming body or the `Status`.
pub(crate) async fn open_log(client: &kube::Client, pod: &str, params: &LogParams) -> Result<Body, Status> {
    let request = Request::new(format!("/api/v1/namespaces/{NS}/pods"))
        .logs(pod, params)
        .unwrap();
    let response = client.send(request.map(Body::from)).await.expect("the server answers");
    if response.status().is_success() {
        return Ok(response.into_body());
    }
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("error bodies arrive whole")
        .to_bytes();
    Err(serde_json::from_slice(&bytes).expect("errors are Status objects"))
}

/// The whole log response, or the `Status` error.
pub(crate) async fn fetch_log(client: &kube::Client, pod: &str, params: &LogParams) -> Result<Vec<u8>, Status> {
    let body = within(open_log(client, pod, params)).await?;
    let bytes = within(body.collect())
        .await
        .expect("the log body ends cleanly")
        .to_bytes();
    Ok(bytes.to_vec())
}

/// Reads frames from a streaming body until `wanted` bytes arrived.
pub(crate) async fn read_at_least(body: &mut Body, wanted: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < wanted {
        let frame = within(body.frame())
            .await
            .expect("the body has more frames")
            .expect("frames arrive");
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
        }
    }
    out
}

/// Reads the rest of a streaming body: what arrived, and the error if it did not end cleanly.
pub(crate) async fn read_to_end(mut body: Body) -> (Vec<u8>, Option<kube::Error>) {
    let mut out = Vec::new();
    while let Some(frame) = within(body.frame()).await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    out.extend_from_slice(&data);
                }
            }
            Err(error) => return (out, Some(error)),
        }
    }
    (out, None)
}
