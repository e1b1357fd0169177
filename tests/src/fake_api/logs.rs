//! `pods/log`: the API server's checks, then the kubelet's streaming of one container instance's log.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use jiff::{SignedDuration, Timestamp};

use super::body::{Body, BodyWriter, Delivery, bytes_response};
use super::kubelet;
use super::lines::{LogLine, format_timestamp};
use super::request::{parse_bool, query_value};
use super::status::ApiError;
use super::store::Shared;

/// Lines longer than this go out as their own chunk, without being copied.
const LARGE_LINE: usize = 16 * 1024;
/// Small lines are gathered into chunks of about this size, unless the server sends every line
/// as a chunk of its own ([`FakeApiServer::send_lines_one_by_one`](super::FakeApiServer::send_lines_one_by_one)).
const CHUNK: usize = 32 * 1024;

/// The `PodLogOptions` of a request.
#[derive(Clone, Debug, Default)]
struct LogOptions {
    container: Option<String>,
    follow: bool,
    previous: bool,
    timestamps: bool,
    since: Option<Timestamp>,
    tail_lines: Option<usize>,
    limit_bytes: Option<usize>,
}

impl LogOptions {
    fn parse(pod: &str, query: &[(String, String)]) -> Result<Self, ApiError> {
        let flag = |key: &str| match query_value(query, key) {
            None => Ok(false),
            Some(raw) => parse_bool(raw)
                .ok_or_else(|| ApiError::bad_request(format!("{key}: Invalid value: \"{raw}\": must be a boolean"))),
        };
        let number = |key: &str| match query_value(query, key) {
            None => Ok(None),
            Some(raw) => raw
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("{key}: Invalid value: \"{raw}\": must be an integer"))),
        };
        let invalid = |field: &str, value: i64, why: &str| {
            ApiError::invalid("PodLogOptions", pod, field, &value.to_string(), why)
        };
        let tail_lines = number("tailLines")?;
        if let Some(n) = tail_lines.filter(|n| *n < 0) {
            return Err(invalid("tailLines", n, "must be greater than or equal to 0"));
        }
        let limit_bytes = number("limitBytes")?;
        if let Some(n) = limit_bytes.filter(|n| *n < 1) {
            return Err(invalid("limitBytes", n, "must be greater than 0"));
        }
        let since_seconds = number("sinceSeconds")?;
        if let Some(n) = since_seconds.filter(|n| *n < 1) {
            return Err(invalid("sinceSeconds", n, "must be greater than 0"));
        }
        let since_time = match query_value(query, "sinceTime") {
            None => None,
            Some(raw) => Some(raw.parse::<Timestamp>().map_err(|_| {
                ApiError::bad_request(format!("sinceTime: Invalid value: \"{raw}\": must be an RFC3339 time"))
            })?),
        };
        if since_seconds.is_some() && since_time.is_some() {
            return Err(ApiError::invalid(
                "PodLogOptions",
                pod,
                "sinceSeconds",
                "\"\"",
                "at most one of `sinceTime` or `sinceSeconds` may be specified",
            ));
        }
        // The API carries sinceTime as a metav1.Time: whole seconds.
        let since = since_time
            .map(|t| Timestamp::from_second(t.as_second()).unwrap_or(t))
            .or_else(|| since_seconds.map(|s| Timestamp::now() - SignedDuration::from_secs(s)));
        Ok(Self {
            container: query_value(query, "container").map(str::to_owned),
            follow: flag("follow")?,
            previous: flag("previous")?,
            timestamps: flag("timestamps")?,
            since,
            tail_lines: tail_lines.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            limit_bytes: limit_bytes.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        })
    }
}

pub(crate) fn serve(
    shared: Arc<Shared>,
    namespace: &str,
    name: &str,
    query: &[(String, String)],
    delivery: Delivery,
) -> Result<Response<Body>, ApiError> {
    let options = LogOptions::parse(name, query)?;
    let (container_id, start, line_chunks) = {
        let state = shared.read();
        let pod = state.pods.get(&(namespace.to_owned(), name.to_owned()));
        let pod = pod.ok_or_else(|| ApiError::not_found("pods", name))?;
        let container = kubelet::resolve_container(pod, options.container.as_deref())?;
        if pod.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_none() {
            // No kubelet to ask: the API server answers with an empty log.
            return Ok(bytes_response(StatusCode::OK, "text/plain", Bytes::new(), delivery));
        }
        let id = kubelet::log_source(pod, &container, options.previous)?;
        let line_count = state.logs.get(&id).map_or(0, |log| log.lines.len());
        let start = options.tail_lines.map_or(0, |tail| line_count.saturating_sub(tail));
        (id, start, state.line_chunks)
    };
    let (response, writer) = BodyWriter::response(StatusCode::OK, "text/plain", delivery);
    let response = response.map(|body| counted(body, shared.clone()));
    let renderer = Renderer {
        timestamps: options.timestamps,
        since: options.since,
        budget: options.limit_bytes.unwrap_or(usize::MAX),
        line_chunks,
        pending: BytesMut::new(),
    };
    tokio::spawn(stream(shared, container_id, start, options.follow, renderer, writer));
    Ok(response)
}

/// `body`, adding what the connection takes of it to the server's log bytes sent. Over HTTP/2
/// hyper takes a chunk only while the stream's window has room, so for an unread follow this
/// stops growing once its window is full.
fn counted(body: Body, shared: Arc<Shared>) -> Body {
    body.map_frame(move |frame| {
        if let Some(data) = frame.data_ref() {
            shared.log_bytes_sent.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        frame
    })
    .boxed()
}

/// Writes the instance's lines from `cursor` on; with `follow`, then waits for more until the instance exits,
/// its pod is deleted, or the server shuts down.
async fn stream(
    shared: Arc<Shared>,
    container_id: String,
    mut cursor: usize,
    follow: bool,
    mut renderer: Renderer,
    mut writer: BodyWriter,
) {
    let mut changes = shared.subscribe();
    loop {
        changes.borrow_and_update();
        let (batch, finished) = {
            let state = shared.read();
            match state.logs.get(&container_id) {
                None => (Vec::new(), true),
                Some(log) => {
                    let batch = log.lines.get(cursor..).unwrap_or_default().to_vec();
                    cursor = log.lines.len();
                    (batch, log.exited)
                }
            }
        };
        if renderer.write(&batch, &mut writer).await.is_err() || renderer.budget == 0 {
            return;
        }
        if !follow || finished {
            return;
        }
        tokio::select! {
            _ = changes.changed() => {}
            () = shared.shutdown.cancelled() => return,
        }
    }
}

struct Renderer {
    timestamps: bool,
    since: Option<Timestamp>,
    budget: usize,
    /// Every line (or part) a chunk of its own instead of gathered into [`CHUNK`]s.
    line_chunks: bool,
    pending: BytesMut,
}

impl Renderer {
    async fn write(&mut self, lines: &[LogLine], writer: &mut BodyWriter) -> Result<(), super::body::Stop> {
        for line in lines {
            if self.since.is_some_and(|since| line.timestamp < since) {
                continue;
            }
            if self.timestamps {
                let prefix = format!("{} ", format_timestamp(line.timestamp));
                self.push(Bytes::from(prefix));
            }
            if line.bytes.len() > LARGE_LINE {
                self.flush(writer).await?;
                let part = self.take(line.bytes.clone());
                writer.write(part).await?;
            } else {
                let part = self.take(line.bytes.clone());
                self.pending.extend_from_slice(&part);
            }
            if !line.partial {
                self.push(Bytes::from_static(b"\n"));
            }
            if self.line_chunks || self.pending.len() >= CHUNK || self.budget == 0 {
                self.flush(writer).await?;
            }
            if self.budget == 0 {
                break;
            }
        }
        self.flush(writer).await
    }

    /// The part of `bytes` within the `limitBytes` budget, which it uses up.
    fn take(&mut self, mut bytes: Bytes) -> Bytes {
        bytes.truncate(self.budget);
        self.budget -= bytes.len();
        bytes
    }

    fn push(&mut self, bytes: Bytes) {
        let part = self.take(bytes);
        self.pending.extend_from_slice(&part);
    }

    async fn flush(&mut self, writer: &mut BodyWriter) -> Result<(), super::body::Stop> {
        if self.pending.is_empty() {
            return Ok(());
        }
        writer.write(self.pending.split().freeze()).await
    }
}
