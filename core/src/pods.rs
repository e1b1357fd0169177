//! Finding pods: one list for an export, a watch for follow mode.

use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, watcher};
use kube::{Api, Client};
use tokio::sync::Mutex;

use crate::error::{Error, Permission};
use crate::selection::{Namespaces, Selection};
use crate::workload::Scope;

/// Page size for pod lists: large clusters are listed in pages instead of one huge response.
const LIST_PAGE: u32 = 500;

/// The pod APIs to query, each with its label selector: one per namespace (only those where a
/// selected workload was found), or one cluster-wide.
fn apis(client: &Client, selection: &Selection, scope: &Scope) -> Vec<(Api<Pod>, Option<String>, Option<String>)> {
    let user = selection.label_selector();
    let namespaces = match (scope.namespaces(), selection.namespaces()) {
        (Some(found), _) => found,
        (None, Namespaces::All) => return vec![(Api::all(client.clone()), None, user.map(str::to_owned))],
        (None, Namespaces::Only(list)) => list.clone(),
    };
    namespaces
        .into_iter()
        .map(|ns| {
            let labels = scope.label_selector(Some(&ns), user);
            (Api::namespaced(client.clone(), &ns), Some(ns), labels)
        })
        .collect()
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

/// Lists the pods the selection's namespaces, selectors and workloads match (name patterns
/// and container filters are not applied).
///
/// # Errors
/// [`Error::Forbidden`] when listing pods (or reading a workload) is not allowed in a
/// namespace, [`Error::RejectedSelector`] for a selector the server cannot parse,
/// [`Error::NoSuchWorkload`] for a workload that is not there, [`Error::Api`] otherwise.
pub async fn list_pods(client: &Client, selection: &Selection) -> Result<Vec<Pod>, Error> {
    let mut scope = Scope::resolve(client, only(selection), selection.workloads()).await?;
    let mut pods = Vec::new();
    for (api, namespace, labels) in apis(client, selection, &scope) {
        let mut params = ListParams::default().limit(LIST_PAGE);
        if let Some(labels) = &labels {
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
            for pod in page.items {
                if scope.admits(&pod).await? {
                    pods.push(pod);
                }
            }
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params = params.continue_token(&token),
                _ => break,
            }
        }
    }
    Ok(pods)
}

/// Watches the selection's pods: every namespace's watch merged into one stream, with back-off.
/// The selection's workloads are looked up first; pods that are not theirs are left out.
///
/// Errors are yielded and the watch goes on (kube-runtime re-lists after `410 Gone`); use
/// [`watch_error`] to turn fatal ones (403, bad selector) into an [`Error`]. A workload that is
/// not there ends the stream with [`Error::NoSuchWorkload`].
pub fn watch_pods(client: &Client, selection: &Selection) -> BoxStream<'static, Result<WatchEvent, Error>> {
    let (client, selection) = (client.clone(), selection.clone());
    stream::once(async move {
        match Scope::resolve(&client, only(&selection), selection.workloads()).await {
            Ok(scope) => watch_scope(&client, &selection, scope),
            Err(err) => stream::iter([Err(err)]).boxed(),
        }
    })
    .flatten()
    .boxed()
}

fn watch_scope(client: &Client, selection: &Selection, scope: Scope) -> BoxStream<'static, Result<WatchEvent, Error>> {
    let base = match selection.field_selector() {
        Some(fields) => watcher::Config::default().fields(fields),
        None => watcher::Config::default(),
    };
    let watches = apis(client, selection, &scope)
        .into_iter()
        .map(|(api, namespace, labels)| {
            let config = match &labels {
                Some(labels) => base.clone().labels(labels),
                None => base.clone(),
            };
            watcher(api, config)
                .default_backoff()
                .map(move |event| event.map_err(|e| watch_error(e, namespace.clone())))
                .boxed()
        });
    let scope = Arc::new(Mutex::new(scope));
    stream::select_all(watches)
        .filter_map(move |event| {
            let scope = Arc::clone(&scope);
            async move {
                let pod = match &event {
                    Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => pod,
                    _ => return Some(event),
                };
                match scope.lock().await.admits(pod).await {
                    Ok(true) => Some(event),
                    Ok(false) => None,
                    Err(err) => Some(Err(err)),
                }
            }
        })
        .boxed()
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

/// The namespaces a selection names, `None` for every namespace.
fn only(selection: &Selection) -> Option<&[String]> {
    match selection.namespaces() {
        Namespaces::All => None,
        Namespaces::Only(namespaces) => Some(namespaces),
    }
}
