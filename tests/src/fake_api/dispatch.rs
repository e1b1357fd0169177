//! From an HTTP request to a response: recording, authentication, faults, authorization, then the handler.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use serde_json::json;

use super::body::{Body, Cut, Delivery, bytes_response, error_response, json_response};
use super::fault::FaultAction;
use super::list_watch::{self, Selection};
use super::logs;
use super::request::{RecordedRequest, Route, parse_query};
use super::status::ApiError;
use super::store::Shared;

/// Serves one request; an `Err` closes the connection without a response.
pub(crate) async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Body>, Cut> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let query = parse_query(parts.uri.query().unwrap_or_default());
    let route = Route::parse(&parts.method, &path, &query);
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);

    let (unauthenticated, fault, refused, user) = shared.write(|state| {
        state.requests.push(RecordedRequest {
            method: parts.method.clone(),
            path: path.clone(),
            query: query.clone(),
            headers: parts.headers.clone(),
            body: body.clone(),
            route: route.clone(),
        });
        let unauthenticated = state
            .required_token
            .as_ref()
            .is_some_and(|want| token.as_ref() != Some(want));
        let fault = if unauthenticated {
            None
        } else {
            state.take_fault(&route, &path)
        };
        let refused = route.attributes().filter(|attrs| state.access.refuses(attrs));
        (unauthenticated, fault, refused, state.user.clone())
    });

    if unauthenticated {
        return Ok(error_response(&ApiError::unauthorized(), Delivery::default()));
    }
    let mut delivery = Delivery::default();
    let mut expire_watch = false;
    if let Some(fault) = fault {
        if let Some(delay) = fault.delay {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shared.shutdown.cancelled() => return Err(Cut),
            }
        }
        match fault.action {
            FaultAction::Proceed => {}
            FaultAction::CutAfter(bytes) => delivery.cut_after = Some(bytes),
            FaultAction::StallAfter(bytes) => {
                delivery.cut_after = Some(bytes);
                delivery.stall = true;
            }
            FaultAction::Reset => return Err(Cut),
            FaultAction::Respond {
                status,
                content_type,
                body,
            } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return Ok(bytes_response(status, &content_type, body, delivery));
            }
            FaultAction::Status { code: 410, .. } if matches!(route, Route::PodWatch { .. }) => expire_watch = true,
            FaultAction::Status {
                code,
                message,
                retry_after,
            } => {
                let attrs = route.attributes().unwrap_or_default();
                let mut error = ApiError::for_code(code, &attrs, &user);
                if let Some(message) = message {
                    error = error.with_message(message);
                }
                if let Some(seconds) = retry_after {
                    error = error.with_retry_after(seconds);
                }
                return Ok(error_response(&error, delivery));
            }
        }
    }
    if let Some(attrs) = refused {
        let (_, reason) = shared.read().access.decide(&attrs);
        return Ok(error_response(&ApiError::forbidden(&attrs, &user, &reason), delivery));
    }
    let result = route_to_handler(&shared, route, &query, body, delivery, expire_watch);
    Ok(result.unwrap_or_else(|error| error_response(&error, delivery)))
}

fn route_to_handler(
    shared: &Arc<Shared>,
    route: Route,
    query: &[(String, String)],
    body: Bytes,
    delivery: Delivery,
    expire_watch: bool,
) -> Result<Response<Body>, ApiError> {
    match route {
        Route::PodList { namespace } => {
            let selection = Selection::from_query(namespace, query)?;
            list_watch::list(shared, &selection, query, delivery)
        }
        Route::PodWatch { namespace } => {
            let selection = Selection::from_query(namespace, query)?;
            list_watch::watch(shared.clone(), selection, query, delivery, expire_watch)
        }
        Route::PodGet { namespace, name } => list_watch::get(shared, &namespace, &name, delivery),
        Route::PodLog { namespace, name, .. } => logs::serve(shared.clone(), &namespace, &name, query, delivery),
        Route::SelfSubjectAccessReview => review_access(shared, &body, delivery),
        Route::Version => Ok(json_response(StatusCode::OK, &version(), delivery)),
        Route::MethodNotAllowed => Err(ApiError::method_not_allowed()),
        Route::Unknown => Err(ApiError::path_not_found()),
    }
}

fn review_access(shared: &Shared, body: &[u8], delivery: Delivery) -> Result<Response<Body>, ApiError> {
    let review: SelfSubjectAccessReview = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}")))?;
    let answered = shared.read().access.review(review);
    let value = serde_json::to_value(&answered).expect("reviews serialize");
    Ok(json_response(StatusCode::CREATED, &value, delivery))
}

fn version() -> serde_json::Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-fake",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}
