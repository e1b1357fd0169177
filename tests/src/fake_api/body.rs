//! Response bodies: whole JSON documents, or chunked streams written by a task that can also cut the
//! connection after a byte budget (to look like a network failure, not a clean end).

use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::channel::{Channel, Sender};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use serde_json::Value;

use super::status::ApiError;

/// The error a body ends with when the server cuts the connection on purpose.
#[derive(Debug)]
pub(crate) struct Cut;

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection cut by the fake API server")
    }
}

impl std::error::Error for Cut {}

pub(crate) type Body = BoxBody<Bytes, Cut>;

/// How a response is to be delivered.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Delivery {
    /// Abort the connection after this many body bytes.
    pub(crate) cut_after: Option<usize>,
    /// At `cut_after`, fall silent instead of aborting: the connection stays open.
    pub(crate) stall: bool,
}

/// The client went away, or the byte budget ran out and the connection was cut: stop writing.
#[derive(Debug)]
pub(crate) struct Stop;

/// The writing end of a chunked response body.
pub(crate) struct BodyWriter {
    sender: Option<Sender<Bytes, Cut>>,
    cut_after: Option<usize>,
    stall: bool,
}

impl BodyWriter {
    /// A chunked response with `status` and `content_type`, and the writer that feeds it.
    pub(crate) fn response(status: StatusCode, content_type: &str, delivery: Delivery) -> (Response<Body>, Self) {
        let (sender, body) = Channel::new(4);
        let response = Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::CACHE_CONTROL, "no-cache, private")
            .body(body.boxed())
            .expect("static response parts are valid");
        let writer = Self {
            sender: Some(sender),
            cut_after: delivery.cut_after,
            stall: delivery.stall,
        };
        (response, writer)
    }

    /// Sends `data` as one chunk, or its part within the budget followed by a cut connection.
    pub(crate) async fn write(&mut self, mut data: Bytes) -> Result<(), Stop> {
        if data.is_empty() {
            return Ok(());
        }
        let budget = self.cut_after.unwrap_or(usize::MAX);
        let cut = data.len() > budget;
        if cut {
            data.truncate(budget);
        }
        self.cut_after = self.cut_after.map(|left| left - data.len());
        let sender = self.sender.as_mut().ok_or(Stop)?;
        if !data.is_empty() {
            sender.send_data(data).await.map_err(|_| Stop)?;
        }
        if cut || self.cut_after == Some(0) {
            if self.stall {
                // Silent, not closed: only the client's own timeout ends this.
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            self.cut().await;
            return Err(Stop);
        }
        Ok(())
    }

    async fn cut(&mut self) {
        if let Some(sender) = self.sender.take() {
            // Let hyper flush what was sent, so the client sees those bytes before the connection drops.
            tokio::time::sleep(Duration::from_millis(50)).await;
            sender.abort(Cut);
        }
    }
}

/// A JSON document: whole with a Content-Length, or streamed when it must be cut short.
pub(crate) fn json_response(status: StatusCode, value: &Value, delivery: Delivery) -> Response<Body> {
    let bytes = Bytes::from(serde_json::to_vec(value).expect("JSON values serialize"));
    bytes_response(status, "application/json", bytes, delivery)
}

/// A fixed body with `content_type`, cut after the budget if there is one.
pub(crate) fn bytes_response(
    status: StatusCode,
    content_type: &str,
    bytes: Bytes,
    delivery: Delivery,
) -> Response<Body> {
    if delivery.cut_after.is_none() {
        return Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, content_type)
            .body(Full::new(bytes).map_err(|never| match never {}).boxed())
            .expect("static response parts are valid");
    }
    let (response, mut writer) = BodyWriter::response(status, content_type, delivery);
    tokio::spawn(async move {
        let _ = writer.write(bytes).await;
    });
    response
}

/// The `Status` document for `error`, with `Retry-After` when it carries one.
pub(crate) fn error_response(error: &ApiError, delivery: Delivery) -> Response<Body> {
    let status = StatusCode::from_u16(error.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, &error.to_status(), delivery);
    if let Some(seconds) = error.retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
    }
    response
}
