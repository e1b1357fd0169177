//! `Status` error responses in the forms the real API server and kubelet use.

use serde_json::{Value, json};

use super::access::Attributes;

/// An error answered as a `v1 Status` object with the HTTP code it carries.
#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
    pub(crate) message: String,
    pub(crate) details: Option<Value>,
    pub(crate) retry_after: Option<u32>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// `pods "x" not found`.
    pub(crate) fn not_found(resource: &str, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{resource} \"{name}\" not found"))
            .with_details(json!({ "name": name, "kind": resource }))
    }

    pub(crate) fn path_not_found() -> Self {
        Self::new(404, "NotFound", "the server could not find the requested resource").with_details(json!({}))
    }

    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
        .with_details(json!({}))
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// The authorizer's refusal: `pods "x" is forbidden: User "u" cannot get resource "pods/log" in API group ""
    /// in the namespace "ns"`.
    pub(crate) fn forbidden(attrs: &Attributes, user: &str, reason: &str) -> Self {
        let mut resource = attrs.resource.clone();
        if !attrs.subresource.is_empty() {
            resource = format!("{resource}/{}", attrs.subresource);
        }
        let scope = if attrs.namespace.is_empty() {
            "at the cluster scope".to_owned()
        } else {
            format!("in the namespace \"{}\"", attrs.namespace)
        };
        let mut why = format!(
            "User \"{user}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
            attrs.verb, attrs.group
        );
        if !reason.is_empty() {
            why = format!("{why}: {reason}");
        }
        let qualified = if attrs.group.is_empty() {
            attrs.resource.clone()
        } else {
            format!("{}.{}", attrs.resource, attrs.group)
        };
        let message = if attrs.name.is_empty() {
            format!("{qualified} is forbidden: {why}")
        } else {
            format!("{qualified} \"{}\" is forbidden: {why}", attrs.name)
        };
        Self::new(403, "Forbidden", message)
            .with_details(json!({ "name": attrs.name, "group": attrs.group, "kind": attrs.resource }))
    }

    /// A failed validation of a request's options: `PodLogOptions "x" is invalid: tailLines: Invalid value: ...`.
    pub(crate) fn invalid(kind: &str, name: &str, field: &str, value: &str, why: &str) -> Self {
        Self::new(
            422,
            "Invalid",
            format!("{kind} \"{name}\" is invalid: {field}: Invalid value: {value}: {why}"),
        )
        .with_details(json!({
            "name": name,
            "kind": kind,
            "causes": [{ "reason": "FieldValueInvalid", "message": format!("Invalid value: {value}: {why}"), "field": field }],
        }))
    }

    /// `410 Gone` with reason `Expired`, as for a compacted resource version.
    pub(crate) fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub(crate) fn too_old_resource_version(requested: u64, current: u64) -> Self {
        Self::expired(format!("too old resource version: {requested} ({current})"))
    }

    /// An error for an injected fault: the reason and message the real server pairs with `code`.
    pub(crate) fn for_code(code: u16, attrs: &Attributes, user: &str) -> Self {
        match code {
            400 => Self::bad_request("the fake API server was told to reject this request"),
            401 => Self::unauthorized(),
            403 => Self::forbidden(attrs, user, ""),
            404 if !attrs.name.is_empty() => Self::not_found(&attrs.resource, &attrs.name),
            404 => Self::path_not_found(),
            409 => Self::new(
                409,
                "Conflict",
                "the object has been modified; please apply your changes to the latest version and try again",
            ),
            410 => Self::expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            ),
            429 => {
                let mut error = Self::new(429, "TooManyRequests", "Too many requests, please try again later.");
                error.retry_after = Some(1);
                error.with_details(json!({ "retryAfterSeconds": 1 }))
            }
            500 => Self::new(
                500,
                "InternalError",
                "Internal error occurred: fault injected by the fake API server",
            )
            .with_details(json!({ "causes": [{ "message": "fault injected by the fake API server" }] })),
            503 => Self::new(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
            ),
            504 => Self::new(
                504,
                "Timeout",
                "the server was unable to return a response in the time allotted, but may still be processing the request",
            ),
            _ => Self::new(code, "", format!("fault injected by the fake API server (HTTP {code})")),
        }
    }

    pub(crate) fn with_message(mut self, message: String) -> Self {
        self.message = message;
        self
    }

    pub(crate) fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        let mut details = self.details.take().unwrap_or_else(|| json!({}));
        details["retryAfterSeconds"] = json!(seconds);
        self.with_details(details)
    }

    /// The `Status` object as the server serializes it.
    pub(crate) fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "code": self.code,
        });
        if !self.reason.is_empty() {
            status["reason"] = json!(self.reason);
        }
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}
