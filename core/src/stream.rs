//! Streaming one container instance's log: connect, split into lines, resume after drops.
//!
//! Every request asks for timestamps. After a dropped connection, a server-side close or an
//! API server restart, the stream reconnects from its [`Cursor`] (`sinceTime` floored to the
//! second, repeats dropped by a [`ResumeFilter`]), so lines are neither lost nor repeated. If
//! the container was replaced meanwhile, the rest of the old instance is read with
//! `previous=true`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use http_body_util::BodyExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::LogParams;
use kube::client::Body;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::cursor::{Cursor, ResumeFilter};
use crate::error::{Error, Permission};
use crate::gap::{Gap, GapReason};
use crate::instance::{Container, ContainerKey, ContainerState};
use crate::line::{DEFAULT_MAX_LINE_BYTES, LineFilter, LineSplitter, Lines, LogBatch, StreamFilter};

/// What an export run reports while it goes.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExportEvent {
    /// A container was selected; its stream starts when the stream budget allows.
    Matched(Arc<Container>),
    /// A container's log stream connected.
    Started(Arc<Container>),
    /// Lines from one container.
    Lines(LogBatch),
    /// A container's stream ended; the report holds its final cursor.
    Ended(StreamReport),
    /// Lines that will never be exported: said once, before the lines that follow it.
    Gap(Gap),
    /// A recorded instance whose pod is gone and whose log was read completely: its checkpoint
    /// record can be dropped.
    Retired(ContainerKey),
    /// A container's stream was interrupted and is resuming from its cursor (said as it
    /// happens, for metrics; the [`StreamReport`] counts them too).
    Reconnected(Arc<Container>),
}

/// Where a log starts when there is no cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Lines newer than this long ago (`--since 5m`, `sinceSeconds`).
    Ago(Duration),
    /// Lines at or after this time (`--since-time`, `sinceTime`, floored to the second).
    Time(Timestamp),
}

impl Since {
    /// The time this start stands for, made absolute now: where a checkpointed run's later
    /// containers start (`None` if `Ago` reaches before year -9999).
    pub fn origin(self) -> Option<Timestamp> {
        match self {
            Since::Ago(ago) => jiff::SignedDuration::try_from(ago)
                .ok()
                .and_then(|ago| Timestamp::now().checked_sub(ago).ok()),
            Since::Time(time) => Some(time),
        }
    }
}

/// How containers' logs are read.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Keep streams open and follow new lines.
    pub follow: bool,
    /// Where logs start (ignored when resuming from a cursor).
    pub since: Option<Since>,
    /// Only the last N lines (ignored when resuming from a cursor).
    pub tail_lines: Option<u64>,
    /// Stop after this many bytes per container instance.
    pub limit_bytes: Option<u64>,
    /// Read the previous, terminated instance instead of the current one.
    pub previous: bool,
    /// Lines longer than this are split into fragments.
    pub max_line_bytes: usize,
    /// Which lines to deliver (`--include`, `--exclude`; default: all). The lines left out
    /// still move the cursor: a resumed stream does not read them again.
    pub line_filter: LineFilter,
    /// Reconnection policy.
    pub retry: Retry,
    /// In follow mode, reopen a stream that brought no data for this long, from its cursor.
    /// A stream the kubelet left stalled across a log rotation (seen on 1.20) looks like a
    /// quiet container; reopening costs one request and repeats nothing, and lines rotated
    /// away meanwhile are reported as a gap. `None`: never.
    pub idle_reconnect: Option<Duration>,
    /// In follow mode, a stream that was bringing lines is reopened sooner, after a silence of
    /// 50 times its usual pause between new lines but at least this long (default 10 s): a busy
    /// container that falls silent is more likely a stalled stream than a quiet container.
    /// Each reopen that brings nothing new doubles the wait, up to `idle_reconnect`.
    pub stall_after: Duration,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            follow: false,
            since: None,
            tail_lines: None,
            limit_bytes: None,
            previous: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            line_filter: LineFilter::default(),
            retry: Retry::default(),
            idle_reconnect: Some(Duration::from_secs(300)),
            stall_after: Duration::from_secs(10),
        }
    }
}

/// Exponential back-off between reconnection attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Consecutive failed attempts before the stream gives up (`None`: never, while the pod exists).
    pub max_attempts: Option<u32>,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(30),
            max_attempts: Some(8),
        }
    }
}

impl Retry {
    fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// Why a container's stream ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamEnd {
    /// The whole log was read (one-shot), or the instance terminated and its log was drained.
    Completed,
    /// The pod was deleted before its log was read to the end; the rest is no longer readable.
    PodDeleted,
    /// The pod was deleted after its log was read to the end: nothing is missing.
    PodGone,
    /// The container has not started: there is no log yet.
    NotStarted,
    /// `previous` was asked but there is no previous instance.
    NoPreviousInstance,
    /// `limit_bytes` was reached.
    LimitReached,
    /// The export was cancelled (shutdown, or the pod stopped matching).
    Cancelled,
    /// The stream failed for good.
    Failed(Error),
}

/// What a stream delivered and how it ended.
#[derive(Debug)]
pub struct StreamReport {
    /// The container instance.
    pub container: Arc<Container>,
    /// How it ended.
    pub end: StreamEnd,
    /// Position of the last line delivered.
    pub cursor: Option<Cursor>,
    /// Lines delivered (fragments count one each); lines the line filter left out are not.
    pub lines: u64,
    /// Bytes delivered, as received (timestamps and newlines included).
    pub bytes: u64,
    /// Reconnections made.
    pub reconnects: u32,
    /// Gaps found while reading (a resumed log that began after the cursor).
    pub gaps: Vec<Gap>,
    /// The instance had terminated (or its pod was deleted) and its log was read to the end:
    /// nothing more will ever come from it.
    pub drained: bool,
}

/// How a request for the log failed.
#[derive(Debug)]
enum Failure {
    /// Worth trying again (transport error, 429, 5xx, timeout).
    Transient(String, Option<Duration>),
    /// Final for this stream.
    End(StreamEnd),
}

/// State of the instance found by looking the pod up again.
enum Instance {
    Same(ContainerState),
    Replaced,
    PodGone,
}

/// Streams one container instance into `out` until it ends; the cursor and counts are returned.
///
/// `resume` continues after a position delivered earlier (by a previous run, say).
pub(crate) async fn stream_container(
    client: Client,
    container: Arc<Container>,
    options: Arc<StreamOptions>,
    resume: Option<Cursor>,
    out: mpsc::Sender<ExportEvent>,
    cancel: CancellationToken,
) -> StreamReport {
    let previous = options.previous || container.previous;
    let mut task = StreamTask {
        client,
        splitter: LineSplitter::new(options.max_line_bytes),
        options,
        report: StreamReport {
            container,
            end: StreamEnd::Completed,
            cursor: resume,
            lines: 0,
            bytes: 0,
            reconnects: 0,
            gaps: Vec::new(),
            drained: false,
        },
        previous,
        started: false,
        out,
        pace: Pace::default(),
        filter: ResumeFilter::new(None),
        kept: StreamFilter::default(),
        read: 0,
    };
    let end = tokio::select! {
        end = task.run() => end,
        () = cancel.cancelled() => StreamEnd::Cancelled,
    };
    task.report.end = end;
    task.report
}

struct StreamTask {
    client: Client,
    options: Arc<StreamOptions>,
    splitter: LineSplitter,
    report: StreamReport,
    /// Read the previous instance (asked for, or the instance was replaced mid-stream).
    previous: bool,
    started: bool,
    out: mpsc::Sender<ExportEvent>,
    pace: Pace,
    /// What the current connection repeats from before the cursor; its last, unterminated
    /// line too, which may be the rest of a line delivered in part before.
    filter: ResumeFilter,
    /// The line filter's state on this stream.
    kept: StreamFilter,
    /// Bytes read from the API past the cursor, delivered or filtered out (`limit_bytes`).
    read: u64,
}

impl StreamTask {
    async fn run(&mut self) -> StreamEnd {
        let mut failures = 0u32;
        // Clean ends in a row that brought no line: the container has likely exited and the pod
        // status does not say so yet. Back off instead of reconnecting in a tight loop.
        let mut idle_ends = 0u32;
        loop {
            let lines_before = self.report.lines;
            let result = match self.connect().await {
                Ok(body) => {
                    if !self.started {
                        self.started = true;
                        let started = ExportEvent::Started(Arc::clone(&self.report.container));
                        if self.out.send(started).await.is_err() {
                            return StreamEnd::Cancelled;
                        }
                    }
                    self.read(body).await
                }
                Err(failure) => Err(failure),
            };
            match result {
                Ok(Some(end)) => return end,
                // A clean end of a follow stream: finished, or closed by the server (idle or
                // ~4 h cut-off, API server restart). Ask the pod which one.
                Ok(None) => {
                    failures = 0;
                    idle_ends = if self.report.lines == lines_before {
                        idle_ends + 1
                    } else {
                        0
                    };
                    if idle_ends > 0 {
                        tokio::time::sleep(self.options.retry.delay(idle_ends)).await;
                    }
                    match self.instance().await {
                        Ok(Instance::Same(ContainerState::Running)) => {}
                        Ok(Instance::Same(_)) | Ok(Instance::Replaced) => {
                            self.report.drained = true;
                            return self.finish(StreamEnd::Completed).await;
                        }
                        Ok(Instance::PodGone) => {
                            self.report.drained = true;
                            return self.finish(StreamEnd::PodGone).await;
                        }
                        Err(end) => return end,
                    }
                }
                Err(Failure::End(end)) => return end,
                Err(Failure::Transient(why, retry_after)) => {
                    failures += 1;
                    if self.options.retry.max_attempts.is_some_and(|max| failures > max) {
                        let message = format!("gave up after {} attempts: {why}", failures - 1);
                        return StreamEnd::Failed(self.protocol_error(message));
                    }
                    let delay = retry_after.unwrap_or_else(|| self.options.retry.delay(failures));
                    debug!(container = %self.report.container, %why, ?delay, "log stream interrupted; resuming");
                    tokio::time::sleep(delay).await;
                    match self.instance().await {
                        Ok(Instance::Same(_)) => {}
                        Ok(Instance::Replaced) if !self.previous => {
                            info!(container = %self.report.container, "container restarted while disconnected; reading the rest of the old instance");
                            self.previous = true;
                        }
                        Ok(Instance::Replaced) => {
                            let gap = Gap {
                                container: Arc::clone(&self.report.container),
                                reason: GapReason::PreviousUnavailable,
                                after: self.report.cursor,
                                until: None,
                            };
                            warn!(%gap, "gap in the log: the container restarted twice while disconnected");
                            self.report.gaps.push(gap.clone());
                            if self.out.send(ExportEvent::Gap(gap)).await.is_err() {
                                return StreamEnd::Cancelled;
                            }
                            return StreamEnd::Completed;
                        }
                        Ok(Instance::PodGone) => return StreamEnd::PodDeleted,
                        Err(end) => return end,
                    }
                }
            }
            self.splitter.reset();
            self.report.reconnects += 1;
            // Only metrics listen; a consumer that went away ends the stream at the next send.
            let _ = self
                .out
                .send(ExportEvent::Reconnected(Arc::clone(&self.report.container)))
                .await;
        }
    }

    /// Emits a pending unterminated line once the log is known to be complete.
    async fn finish(&mut self, end: StreamEnd) -> StreamEnd {
        let lines = self.splitter.finish();
        if !lines.is_empty() && self.deliver(lines).await.is_err() {
            return StreamEnd::Cancelled;
        }
        end
    }

    fn params(&self) -> LogParams {
        let options = &self.options;
        let mut params = LogParams {
            container: Some(self.report.container.name.clone()),
            follow: options.follow && !self.previous,
            previous: self.previous,
            timestamps: true,
            limit_bytes: options
                .limit_bytes
                .map(|limit| i64::try_from(limit.saturating_sub(self.read).max(1)).unwrap_or(i64::MAX)),
            ..LogParams::default()
        };
        match self.report.cursor {
            // kube rounds sinceTime to the nearest second; a floored value passes unchanged.
            Some(cursor) => params.since_time = Some(cursor.since_time()),
            None => {
                params.tail_lines = options.tail_lines.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
                match options.since {
                    Some(Since::Ago(ago)) => {
                        params.since_seconds = Some(i64::try_from(ago.as_secs().max(1)).unwrap_or(i64::MAX));
                    }
                    Some(Since::Time(time)) => {
                        params.since_time = Some(
                            Cursor {
                                timestamp: time,
                                lines_at_timestamp: 0,
                            }
                            .since_time(),
                        );
                    }
                    None => {}
                }
            }
        }
        params
    }

    async fn connect(&self) -> Result<Body, Failure> {
        let container = &self.report.container;
        let path = format!("/api/v1/namespaces/{}/pods", container.namespace());
        let request = kube::core::Request::new(path)
            .logs(container.pod_name(), &self.params())
            .map_err(|e| Failure::End(StreamEnd::Failed(self.protocol_error(e.to_string()))))?;
        let response = self
            .client
            .send(request.map(Body::from))
            .await
            .map_err(|e| Failure::Transient(e.to_string(), None))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response.into_body());
        }
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .map(Duration::from_secs);
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let message = serde_json::from_slice::<kube::core::Status>(&body)
            .map(|s| s.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).trim().to_owned());
        Err(self.classify(status, message, retry_after))
    }

    fn classify(&self, status: StatusCode, message: String, retry_after: Option<Duration>) -> Failure {
        let end = match status {
            StatusCode::FORBIDDEN => StreamEnd::Failed(Error::Forbidden {
                permission: log_permission(&self.report.container),
                message,
            }),
            // The pod may be gone, or its kubelet, just restarted, may not know it yet (it
            // answers 404 until it has synced its pods): the retry looks the pod up and ends
            // the stream only if the pod is really gone.
            StatusCode::NOT_FOUND => return Failure::Transient(format!("404: {message}"), None),
            StatusCode::BAD_REQUEST if message.contains("previous terminated container") => {
                StreamEnd::NoPreviousInstance
            }
            StatusCode::BAD_REQUEST if is_not_started(&message) => {
                if self.options.follow {
                    return Failure::Transient(message, None);
                }
                StreamEnd::NotStarted
            }
            s if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => {
                return Failure::Transient(format!("{s}: {message}"), retry_after);
            }
            s => StreamEnd::Failed(self.protocol_error(format!("{s}: {message}"))),
        };
        Failure::End(end)
    }

    /// Reads a response body to its end. `Ok(None)` is a clean end of a follow stream.
    async fn read(&mut self, mut body: Body) -> Result<Option<StreamEnd>, Failure> {
        self.filter = ResumeFilter::new(self.report.cursor);
        let idle = self
            .options
            .idle_reconnect
            .filter(|_| self.options.follow && !self.previous);
        self.pace.connected();
        loop {
            let next = match idle {
                Some(idle) => {
                    let allowed = self.pace.allowed_silence(self.options.stall_after, idle);
                    match tokio::time::timeout(allowed, body.frame()).await {
                        Ok(next) => next,
                        Err(_elapsed) => {
                            debug!(container = %self.report.container, ?allowed, "no data on the stream; reopening it from the cursor");
                            self.pace.quiet_reopens += 1;
                            return Ok(None);
                        }
                    }
                }
                None => body.frame().await,
            };
            let frame = match next {
                None => break,
                Some(Ok(frame)) => frame,
                Some(Err(e)) => return Err(Failure::Transient(e.to_string(), None)),
            };
            let Ok(chunk) = frame.into_data() else {
                continue;
            };
            let lines = self.splitter.push(chunk);
            if self.deliver(lines).await.is_err() {
                return Ok(Some(StreamEnd::Cancelled));
            }
            if self.options.limit_bytes.is_some_and(|limit| self.read >= limit) {
                return Ok(Some(self.finish(StreamEnd::LimitReached).await));
            }
        }
        if self.options.follow && !self.previous {
            return Ok(None);
        }
        let end = if self.options.limit_bytes.is_some_and(|limit| self.read >= limit) {
            StreamEnd::LimitReached
        } else {
            // A terminated instance read to its end has nothing more to give.
            self.report.drained = self.previous || self.report.container.state == ContainerState::Terminated;
            StreamEnd::Completed
        };
        Ok(Some(self.finish(end).await))
    }

    /// Sends the lines the resume and line filters let through, with the cursor after every
    /// line read: a batch whose lines were all filtered out is sent empty, to move the cursor.
    async fn deliver(&mut self, mut lines: Lines) -> Result<(), ()> {
        if !self.filter.caught_up() {
            self.filter.apply(&mut lines);
            if let Some(until) = self.filter.take_gap() {
                let gap = Gap {
                    container: Arc::clone(&self.report.container),
                    reason: GapReason::Rotated,
                    after: self.report.cursor,
                    until: Some(until),
                };
                warn!(%gap, "gap in the log");
                self.report.gaps.push(gap.clone());
                self.out.send(ExportEvent::Gap(gap)).await.map_err(|_| ())?;
            }
        }
        if lines.is_empty() {
            return Ok(());
        }
        self.pace.new_lines(Instant::now());
        self.read += lines.raw_len() as u64;
        let cursor = lines.cursor_after(self.report.cursor);
        let lines = self.kept.apply(&self.options.line_filter, lines);
        if lines.is_empty() && cursor == self.report.cursor {
            return Ok(());
        }
        self.report.bytes += lines.raw_len() as u64;
        self.report.lines += lines.len() as u64;
        self.report.cursor = cursor;
        let batch = LogBatch {
            container: Arc::clone(&self.report.container),
            lines,
            cursor,
        };
        self.out.send(ExportEvent::Lines(batch)).await.map_err(|_| ())
    }

    /// Looks the pod up to tell whether the instance being read still exists.
    async fn instance(&self) -> Result<Instance, StreamEnd> {
        let container = &self.report.container;
        let api: kube::Api<Pod> = kube::Api::namespaced(self.client.clone(), container.namespace());
        let pod = match api.get_opt(container.pod_name()).await {
            Ok(Some(pod)) => pod,
            Ok(None) => return Ok(Instance::PodGone),
            Err(kube::Error::Api(status)) if status.code == 403 => {
                return Err(StreamEnd::Failed(Error::Forbidden {
                    permission: Permission {
                        verb: "get",
                        group: "",
                        resource: "pods",
                        namespace: Some(container.namespace().to_owned()),
                        resource_name: None,
                    },
                    message: status.message,
                }));
            }
            // Cannot tell: assume the instance is unchanged and let the next attempt decide.
            Err(_) => return Ok(Instance::Same(ContainerState::Running)),
        };
        if pod.metadata.uid.as_deref().unwrap_or_default() != container.pod.uid {
            return Ok(Instance::PodGone);
        }
        let statuses = pod.status.iter().flat_map(|s| {
            let lists = [
                &s.init_container_statuses,
                &s.container_statuses,
                &s.ephemeral_container_statuses,
            ];
            lists.into_iter().flatten().flatten()
        });
        let Some(status) = statuses.into_iter().find(|s| s.name == container.name) else {
            return Ok(Instance::PodGone);
        };
        if self.previous || status.container_id != container.container_id {
            // A previous instance never changes state; only its replacement can go on.
            return Ok(if self.previous || container.container_id.is_none() {
                Instance::Same(ContainerState::Terminated)
            } else {
                Instance::Replaced
            });
        }
        let running = status.state.as_ref().is_some_and(|s| s.running.is_some());
        Ok(Instance::Same(if running {
            ContainerState::Running
        } else {
            ContainerState::Terminated
        }))
    }

    fn protocol_error(&self, message: String) -> Error {
        Error::Protocol {
            action: format!("reading the log of {}", self.report.container),
            message,
        }
    }
}

/// How often a follow stream brings new lines, to tell a stalled stream from a quiet one.
#[derive(Debug, Default)]
struct Pace {
    /// When new lines last came on this connection.
    last: Option<Instant>,
    /// The usual pause between them (a moving average).
    gap: Option<Duration>,
    /// Reopens after a silence that brought nothing new since.
    quiet_reopens: u32,
}

impl Pace {
    /// Silence allowed before the stream is reopened: 50 usual pauses, at least `stall_after`,
    /// doubled for each reopen that brought nothing new, at most `idle`.
    fn allowed_silence(&self, stall_after: Duration, idle: Duration) -> Duration {
        let usual = self.gap.map_or(idle, |gap| gap.saturating_mul(50).max(stall_after));
        usual.saturating_mul(1 << self.quiet_reopens.min(16)).min(idle)
    }

    /// A new connection: the wait for its first lines is not the stream's pace.
    fn connected(&mut self) {
        self.last = None;
    }

    fn new_lines(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let gap = now - last;
            self.gap = Some(self.gap.map_or(gap, |average| (average * 7 + gap) / 8));
        }
        self.last = Some(now);
        self.quiet_reopens = 0;
    }
}

fn is_not_started(message: &str) -> bool {
    [
        "waiting to start",
        "ContainerCreating",
        "PodInitializing",
        "is not valid for pod",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

/// The permission reading a container's log needs.
pub(crate) fn log_permission(container: &Container) -> Permission {
    Permission {
        verb: "get",
        group: "",
        resource: "pods/log",
        namespace: Some(container.namespace().to_owned()),
        resource_name: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_max() {
        let retry = Retry {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            max_attempts: None,
        };
        let delays: Vec<_> = (1..=6).map(|a| retry.delay(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(retry.delay(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn a_busy_stream_is_reopened_sooner_than_a_quiet_one_and_unproductive_reopens_back_off() {
        let (stall, idle) = (Duration::from_secs(10), Duration::from_secs(300));
        let start = Instant::now();
        let mut pace = Pace::default();
        assert_eq!(pace.allowed_silence(stall, idle), idle, "no pace yet");
        // A line every 10 ms: silent for 10 s (the floor) is a stall.
        for i in 0..100 {
            pace.new_lines(start + Duration::from_millis(10 * i));
        }
        assert_eq!(pace.allowed_silence(stall, idle), stall);
        pace.quiet_reopens = 2;
        assert_eq!(
            pace.allowed_silence(stall, idle),
            stall * 4,
            "reopens that found nothing back off"
        );
        pace.quiet_reopens = 10;
        assert_eq!(pace.allowed_silence(stall, idle), idle);
        // A line every 3 s: 50 pauses, 150 s.
        let mut slow = Pace::default();
        for i in 0..50 {
            slow.new_lines(start + Duration::from_secs(3 * i));
        }
        assert_eq!(slow.allowed_silence(stall, idle), Duration::from_secs(150));
        assert_eq!(slow.quiet_reopens, 0);
    }

    #[test]
    fn not_started_messages() {
        assert!(is_not_started(
            r#"container "app" in pod "p" is waiting to start: ContainerCreating"#
        ));
        assert!(!is_not_started("something else"));
    }
}
