//! Faults a test queues for the next matching requests.

use std::time::Duration;

use bytes::Bytes;

use super::request::Route;

/// A misbehaviour for the next matching request(s): an error `Status`, a connection cut mid-body, a reset
/// without response, a delay, or a scripted response.
///
/// Faults are matched in the order they were injected; each request consumes at most one. A fault applies to
/// [`times`](Self::times) requests (default 1), or to all with [`always`](Self::always).
///
/// ```
/// use std::time::Duration;
/// use kle_tests::fake_api::Fault;
/// // The next two log requests for web-0's "app" container are refused like RBAC would.
/// let forbidden = Fault::pod_log("shop", "web-0").container("app").status(403).times(2);
/// // The next watch stream is cut after 100 bytes, abruptly.
/// let cut = Fault::pod_watch().drop_after_bytes(100);
/// // Pod lists are slow from now on.
/// let slow = Fault::pod_list().delay(Duration::from_millis(300)).always();
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Fault {
    target: Target,
    namespace: Option<String>,
    container: Option<String>,
    remaining: Option<usize>,
    pub(crate) delay: Option<Duration>,
    pub(crate) action: FaultAction,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    PodList,
    PodWatch,
    PodGet { name: String },
    PodLog { name: String },
    SelfSubjectAccessReview,
    PathPrefix(String),
    Any,
}

/// What the server does instead of (or, for a delay or cut, besides) answering normally.
#[derive(Clone, Debug)]
pub(crate) enum FaultAction {
    Proceed,
    Status {
        code: u16,
        message: Option<String>,
        retry_after: Option<u32>,
    },
    CutAfter(usize),
    /// Send this many body bytes, then nothing more, keeping the connection open.
    StallAfter(usize),
    Reset,
    Respond {
        status: u16,
        content_type: String,
        body: Bytes,
    },
}

impl Fault {
    fn on(target: Target) -> Self {
        Self {
            target,
            namespace: None,
            container: None,
            remaining: Some(1),
            delay: None,
            action: FaultAction::Proceed,
        }
    }

    /// Pod list requests (not watches), in any namespace unless [`namespace`](Self::namespace) narrows it.
    pub fn pod_list() -> Self {
        Self::on(Target::PodList)
    }

    /// Pod watch requests. A `status(410)` here is sent the way the API server reports an expired resource
    /// version from its watch cache: HTTP 200 and one `ERROR` watch event with a 410 `Expired` Status, which makes
    /// a kube watcher relist. (For an HTTP-level 410 instead, script it with [`respond`](Self::respond).)
    pub fn pod_watch() -> Self {
        Self::on(Target::PodWatch)
    }

    /// `GET` of one pod.
    pub fn pod_get(namespace: &str, name: &str) -> Self {
        Self::on(Target::PodGet { name: name.to_owned() }).namespace(namespace)
    }

    /// Log requests for one pod, any container unless [`container`](Self::container) narrows it.
    pub fn pod_log(namespace: &str, name: &str) -> Self {
        Self::on(Target::PodLog { name: name.to_owned() }).namespace(namespace)
    }

    /// SelfSubjectAccessReview creations.
    pub fn self_subject_access_review() -> Self {
        Self::on(Target::SelfSubjectAccessReview)
    }

    /// Any request whose path starts with `prefix` (for paths the server does not model, with
    /// [`respond`](Self::respond)).
    pub fn path(prefix: &str) -> Self {
        Self::on(Target::PathPrefix(prefix.to_owned()))
    }

    /// Any request at all.
    pub fn any_request() -> Self {
        Self::on(Target::Any)
    }

    /// Only requests in this namespace.
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_owned());
        self
    }

    /// Only log requests for this container (a request without `container` counts for the pod's only one).
    pub fn container(mut self, container: &str) -> Self {
        self.container = Some(container.to_owned());
        self
    }

    /// Applies to the next `count` matching requests.
    pub fn times(mut self, count: usize) -> Self {
        self.remaining = Some(count);
        self
    }

    /// Applies to every matching request until [`clear_faults`](super::FakeApiServer::clear_faults).
    pub fn always(mut self) -> Self {
        self.remaining = None;
        self
    }

    /// Answers with a `Status` error of this HTTP code, with the reason and message the real server uses for it
    /// (403: `pods "x" is forbidden: User "u" cannot get resource "pods/log" in API group "" in the namespace
    /// "ns"`; 404 `NotFound`; 410 `Expired`; 429 `TooManyRequests` with `Retry-After: 1`; 500 `InternalError`;
    /// 503 `ServiceUnavailable`; ...). Note that kube's client retries 429, 503 and 504 by itself.
    pub fn status(mut self, code: u16) -> Self {
        self.action = FaultAction::Status {
            code,
            message: None,
            retry_after: None,
        };
        self
    }

    /// Replaces the message of a [`status`](Self::status) fault.
    pub fn message(mut self, message: &str) -> Self {
        if let FaultAction::Status { message: slot, .. } = &mut self.action {
            *slot = Some(message.to_owned());
        }
        self
    }

    /// Sets `Retry-After` (and `details.retryAfterSeconds`) on a [`status`](Self::status) fault.
    pub fn retry_after(mut self, seconds: u32) -> Self {
        if let FaultAction::Status { retry_after, .. } = &mut self.action {
            *retry_after = Some(seconds);
        }
        self
    }

    /// Answers normally but aborts the connection after `bytes` bytes of the body: no terminating chunk, so the
    /// client sees an error rather than a clean end. A body shorter than `bytes` ends normally.
    pub fn drop_after_bytes(mut self, bytes: usize) -> Self {
        self.action = FaultAction::CutAfter(bytes);
        self
    }

    /// Answers normally but, after `bytes` bytes of the body, sends nothing more while keeping the
    /// connection open: the silent stall a 1.20 kubelet shows when a followed log rotates.
    pub fn stall_after_bytes(mut self, bytes: usize) -> Self {
        self.action = FaultAction::StallAfter(bytes);
        self
    }

    /// Closes the connection without answering at all.
    pub fn reset_connection(mut self) -> Self {
        self.action = FaultAction::Reset;
        self
    }

    /// Answers with exactly this status, content type and body (the scripted mode).
    pub fn respond(mut self, status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        self.action = FaultAction::Respond {
            status,
            content_type: content_type.to_owned(),
            body: body.into(),
        };
        self
    }

    /// Waits this long before answering (then answers normally, or with the fault's other action).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Whether this fault applies to a request to `route` at `path`; `container` is the log request's container
    /// after defaulting.
    pub(crate) fn matches(&self, route: &Route, path: &str, container: Option<&str>) -> bool {
        let in_namespace = |ns: Option<&str>| self.namespace.as_deref().is_none_or(|want| Some(want) == ns);
        match (&self.target, route) {
            (Target::Any, _) => true,
            (Target::PathPrefix(prefix), _) => path.starts_with(prefix.as_str()),
            (Target::PodList, Route::PodList { namespace }) | (Target::PodWatch, Route::PodWatch { namespace }) => {
                in_namespace(namespace.as_deref())
            }
            (Target::PodGet { name: want }, Route::PodGet { namespace, name }) => {
                want == name && in_namespace(Some(namespace))
            }
            (Target::PodLog { name: want }, Route::PodLog { namespace, name, .. }) => {
                want == name
                    && in_namespace(Some(namespace))
                    && self.container.as_deref().is_none_or(|want| Some(want) == container)
            }
            (Target::SelfSubjectAccessReview, Route::SelfSubjectAccessReview) => true,
            _ => false,
        }
    }

    /// Uses up one application.
    pub(crate) fn consume(&mut self) {
        if let Some(left) = &mut self.remaining {
            *left = left.saturating_sub(1);
        }
    }

    pub(crate) fn exhausted(&self) -> bool {
        self.remaining == Some(0)
    }
}
