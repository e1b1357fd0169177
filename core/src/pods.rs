//! Finding pods: one list for an export, a watch for follow mode.

use futures::stream::{self, BoxStream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, watcher};
use kube::{Api, Client};

use crate::error::{Error, Permission};
use crate::selection::{Namespaces, Selection};

/// Page size for pod lists: large clusters are listed in pages instead of one huge response.
const LIST_PAGE: u32 = 500;

/// The pod APIs to query: one per namespace, or one cluster-wide.
fn apis(client: &Client, selection: &Selection) -> Vec<(Api<Pod>, Option<String>)> {
    match selection.namespaces() {
        Namespaces::All => vec![(Api::all(client.clone()), None)],
        Namespaces::Only(list) => list
            .iter()
            .map(|ns| (Api::namespaced(client.clone(), ns), Some(ns.clone())))
            .collect(),
    }
}

pub(crate) fn pods_permission(verb: &'static str, namespace: Option<String>) -> Permission {
    Permission {
        verb,
        group: "",
        resource: "pods",
        namespace,
        resource_name: None,
    }
}

/// Lists the pods the selection's namespaces and selectors match (name patterns are not applied).
///
/// # Errors
/// [`Error::Forbidden`] when listing pods is not allowed in a namespace,
/// [`Error::RejectedSelector`] for a selector the server cannot parse, [`Error::Api`] otherwise.
pub async fn list_pods(client: &Client, selection: &Selection) -> Result<Vec<Pod>, Error> {
    let mut pods = Vec::new();
    for (api, namespace) in apis(client, selection) {
        let mut params = ListParams::default().limit(LIST_PAGE);
        if let Some(labels) = selection.label_selector() {
            params = params.labels(labels);
        }
        if let Some(fields) = selection.field_selector() {
            params = params.fields(fields);
        }
        loop {
            let page = api.list(&params).await.map_err(|e| {
                let action = format!("listing pods in {}", namespace.as_deref().unwrap_or("all namespaces"));
                Error::from_kube(action, pods_permission("list", namespace.clone()), e)
            })?;
            pods.extend(page.items);
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params = params.continue_token(&token),
                _ => break,
            }
        }
    }
    Ok(pods)
}

/// Watches the selection's pods: every namespace's watch merged into one stream, with back-off.
///
/// Errors are yielded and the watch goes on (kube-runtime re-lists after `410 Gone`); use
/// [`watch_error`] to turn fatal ones (403, bad selector) into an [`Error`].
pub fn watch_pods(client: &Client, selection: &Selection) -> BoxStream<'static, Result<WatchEvent, Error>> {
    let mut config = watcher::Config::default();
    if let Some(labels) = selection.label_selector() {
        config = config.labels(labels);
    }
    if let Some(fields) = selection.field_selector() {
        config = config.fields(fields);
    }
    let watches = apis(client, selection).into_iter().map(|(api, namespace)| {
        watcher(api, config.clone())
            .default_backoff()
            .map(move |event| event.map_err(|e| watch_error(e, namespace.clone())))
            .boxed()
    });
    stream::select_all(watches).boxed()
}

/// A pod watch event.
pub type WatchEvent = watcher::Event<Pod>;

/// Converts a watcher error, keeping 403 and 400 distinguishable.
fn watch_error(error: watcher::Error, namespace: Option<String>) -> Error {
    let action = format!("watching pods in {}", namespace.as_deref().unwrap_or("all namespaces"));
    let (verb, err) = match error {
        watcher::Error::InitialListFailed(e) => ("list", e),
        watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => ("watch", e),
        watcher::Error::WatchError(status) => ("watch", kube::Error::Api(status)),
        other => {
            return Error::Protocol {
                action,
                message: other.to_string(),
            };
        }
    };
    Error::from_kube(action, pods_permission(verb, namespace), err)
}
