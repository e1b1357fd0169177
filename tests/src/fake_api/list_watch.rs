//! Pod list (with pagination), get and watch.

use std::sync::Arc;
use std::time::Duration;

use http::{Response, StatusCode};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use super::body::{Body, BodyWriter, Delivery, json_response};
use super::fields::FieldSelector;
use super::labels::LabelSelector;
use super::request::{query_flag, query_value};
use super::status::ApiError;
use super::store::{Change, ChangeKind, PodKey, Shared};

/// Which pods a list or watch asks for.
#[derive(Clone, Debug)]
pub(crate) struct Selection {
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Selection {
    pub(crate) fn from_query(namespace: Option<String>, query: &[(String, String)]) -> Result<Self, ApiError> {
        let labels = LabelSelector::parse(query_value(query, "labelSelector").unwrap_or_default())
            .map_err(ApiError::bad_request)?;
        let fields = FieldSelector::parse(query_value(query, "fieldSelector").unwrap_or_default())
            .map_err(ApiError::bad_request)?;
        Ok(Self {
            namespace,
            labels,
            fields,
        })
    }

    fn matches(&self, pod: &Pod) -> bool {
        self.namespace
            .as_ref()
            .is_none_or(|ns| pod.metadata.namespace.as_ref() == Some(ns))
            && self.labels.matches(pod.metadata.labels.as_ref())
            && self.fields.matches(pod)
    }

    fn filters(&self) -> bool {
        !self.labels.is_empty() || !self.fields.is_empty()
    }

    /// What a watcher with this selection sees of `change`: an object entering the selection is `ADDED`, one
    /// leaving it `DELETED`, as the API server's watch cache reports them.
    fn event_for<'c>(&self, change: &'c Change) -> Option<(&'static str, &'c Pod)> {
        let now = self.matches(&change.new);
        let before = change.old.as_deref().is_some_and(|old| self.matches(old));
        let kind = match (change.kind, before, now) {
            (ChangeKind::Added, _, true) => "ADDED",
            (ChangeKind::Deleted, _, true) => "DELETED",
            (ChangeKind::Modified, true, true) => "MODIFIED",
            (ChangeKind::Modified, false, true) => "ADDED",
            (ChangeKind::Modified, true, false) => "DELETED",
            _ => return None,
        };
        Some((kind, &change.new))
    }
}

fn pod_json(pod: &Pod) -> Value {
    serde_json::to_value(pod).expect("pods serialize")
}

/// A list item: the API server leaves out `apiVersion` and `kind` inside typed lists.
fn list_item(pod: &Pod) -> Value {
    let mut value = pod_json(pod);
    if let Some(object) = value.as_object_mut() {
        object.remove("apiVersion");
        object.remove("kind");
    }
    value
}

fn encode_continue(rv: u64, key: &PodKey) -> String {
    format!("{rv}/{}/{}", key.0, key.1)
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(token: &str) -> Option<(u64, PodKey)> {
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| token.get(i..i + 2).and_then(|hex| u8::from_str_radix(hex, 16).ok()))
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    let (rv, key) = text.split_once('/')?;
    let (namespace, name) = key.split_once('/')?;
    Some((rv.parse().ok()?, (namespace.to_owned(), name.to_owned())))
}

pub(crate) fn list(
    shared: &Shared,
    selection: &Selection,
    query: &[(String, String)],
    delivery: Delivery,
) -> Result<Response<Body>, ApiError> {
    let limit = match query_value(query, "limit") {
        None | Some("") => 0,
        Some(raw) => raw
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("limit: Invalid value: \"{raw}\"")))?,
    };
    let resume = match query_value(query, "continue").filter(|t| !t.is_empty()) {
        None => None,
        Some(token) => Some(decode_continue(token).ok_or_else(|| {
            ApiError::bad_request("continue key is not valid: the token is not one this server issued")
        })?),
    };
    let state = shared.read();
    let (rv, pods) = match &resume {
        Some((rv, _)) if *rv < state.compacted_before => {
            return Err(ApiError::expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a \
                 new list without the continue parameter, or use the continue token in this response to retrieve \
                 the remainder of the results.",
            ));
        }
        Some((rv, _)) => (*rv, state.pods_at(*rv)),
        None => (state.resource_version, state.pods.clone()),
    };
    drop(state);
    let after = resume.map(|(_, key)| key);
    let mut matching = pods
        .iter()
        .filter(|(key, _)| after.as_ref().is_none_or(|after| *key > after))
        .filter(|(_, pod)| selection.matches(pod));
    let page: Vec<(&PodKey, &Arc<Pod>)> = match limit {
        0 => matching.by_ref().collect(),
        n => matching.by_ref().take(n).collect(),
    };
    let remaining = matching.count();
    let mut metadata = json!({ "resourceVersion": rv.to_string() });
    if remaining > 0
        && let Some((last, _)) = page.last()
    {
        metadata["continue"] = json!(encode_continue(rv, last));
        if !selection.filters() {
            metadata["remainingItemCount"] = json!(remaining);
        }
    }
    let items: Vec<Value> = page.iter().map(|(_, pod)| list_item(pod)).collect();
    let body = json!({ "kind": "PodList", "apiVersion": "v1", "metadata": metadata, "items": items });
    Ok(json_response(StatusCode::OK, &body, delivery))
}

pub(crate) fn get(
    shared: &Shared,
    namespace: &str,
    name: &str,
    delivery: Delivery,
) -> Result<Response<Body>, ApiError> {
    let pod = shared
        .read()
        .pods
        .get(&(namespace.to_owned(), name.to_owned()))
        .cloned();
    let pod = pod.ok_or_else(|| ApiError::not_found("pods", name))?;
    Ok(json_response(StatusCode::OK, &pod_json(&pod), delivery))
}

fn event_line(kind: &str, object: Value) -> bytes::Bytes {
    let mut line = serde_json::to_vec(&json!({ "type": kind, "object": object })).expect("events serialize");
    line.push(b'\n');
    line.into()
}

fn bookmark(rv: u64, initial_events_end: bool) -> bytes::Bytes {
    let mut metadata = json!({ "resourceVersion": rv.to_string() });
    if initial_events_end {
        metadata["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
    }
    event_line(
        "BOOKMARK",
        json!({ "kind": "Pod", "apiVersion": "v1", "metadata": metadata }),
    )
}

/// Starts a watch stream. `expire` answers the way the API server does for a resource version it no longer
/// has: one `ERROR` event with a 410 `Expired` Status, then the end of the stream.
pub(crate) fn watch(
    shared: Arc<Shared>,
    selection: Selection,
    query: &[(String, String)],
    delivery: Delivery,
    expire: bool,
) -> Result<Response<Body>, ApiError> {
    let bookmarks = query_flag(query, "allowWatchBookmarks") == Some(true);
    let send_initial = query_flag(query, "sendInitialEvents") == Some(true);
    let timeout = query_value(query, "timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(1800);
    let requested = match query_value(query, "resourceVersion").filter(|rv| !rv.is_empty() && *rv != "0") {
        None => None,
        Some(raw) => Some(raw.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("resourceVersion: Invalid value: \"{raw}\": must be a number"))
        })?),
    };

    let mut opening = Vec::new();
    let state = shared.read();
    let current = state.resource_version;
    let (mut epoch, mut bookmark_epoch) = (state.watch_epoch, state.bookmark_epoch);
    let mut cursor = current;
    match requested {
        _ if expire => {
            let error = ApiError::too_old_resource_version(requested.unwrap_or(current), current);
            opening.push(event_line("ERROR", error.to_status()));
        }
        Some(rv) if rv < state.compacted_before => {
            let error = ApiError::too_old_resource_version(rv, current);
            opening.push(event_line("ERROR", error.to_status()));
        }
        Some(rv) if !send_initial => cursor = rv.min(current),
        _ => {
            let initial = state.pods.values().filter(|pod| selection.matches(pod));
            opening.extend(initial.map(|pod| event_line("ADDED", pod_json(pod))));
            if send_initial {
                opening.push(bookmark(current, true));
            }
        }
    }
    drop(state);
    let ended = opening
        .first()
        .is_some_and(|line| line.starts_with(br#"{"type":"ERROR""#));

    let (response, mut writer) = BodyWriter::response(StatusCode::OK, "application/json", delivery);
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        let mut changes = shared.subscribe();
        for line in opening {
            if writer.write(line).await.is_err() {
                return;
            }
        }
        if ended {
            return;
        }
        loop {
            changes.borrow_and_update();
            let mut lines = Vec::new();
            {
                let state = shared.read();
                if state.watch_epoch != epoch {
                    return;
                }
                for change in state.changes_after(cursor) {
                    if let Some((kind, pod)) = selection.event_for(change) {
                        lines.push(event_line(kind, pod_json(pod)));
                    }
                }
                cursor = state.resource_version;
                if state.bookmark_epoch != bookmark_epoch && bookmarks {
                    lines.push(bookmark(cursor, false));
                }
                (epoch, bookmark_epoch) = (state.watch_epoch, state.bookmark_epoch);
            }
            for line in lines {
                if writer.write(line).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                _ = changes.changed() => {}
                () = tokio::time::sleep_until(deadline) => {
                    if bookmarks {
                        let _ = writer.write(bookmark(cursor, false)).await;
                    }
                    return;
                }
                () = shared.shutdown.cancelled() => return,
            }
        }
    });
    Ok(response)
}
