//! `kube::runtime::watcher` (ListWatch) and raw watches against the fake server.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kle_tests::fake_api::{FakeApiServer, FakeContainer, FakePod, Fault};
use kube::api::{Api, WatchEvent, WatchParams};
use kube::runtime::watcher;
use kube::runtime::watcher::Event;

use crate::support::{NS, within};

fn pod(name: &str) -> FakePod {
    FakePod::new(NS, name)
        .label("app", "web")
        .container(FakeContainer::new("app"))
}

/// The watcher's events, driven by a task of its own: a watcher only sends its next request when polled.
type Events = tokio::sync::mpsc::UnboundedReceiver<Result<Event<Pod>, watcher::Error>>;

fn watch_pods(server: &FakeApiServer, config: watcher::Config) -> Events {
    let api: Api<Pod> = Api::namespaced(server.client(), NS);
    let mut stream = watcher(api, config).boxed();
    let (sender, events) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = stream.next().await {
            if sender.send(event).is_err() {
                return;
            }
        }
    });
    events
}

async fn next(events: &mut Events) -> Result<Event<Pod>, watcher::Error> {
    within(events.recv()).await.expect("the watcher never ends")
}

/// A compact picture of an event: `Init`, `InitApply(web-0)`, `Apply(web-0)`...
fn describe(event: &Event<Pod>) -> String {
    let name = |pod: &Pod| pod.metadata.name.clone().unwrap_or_default();
    match event {
        Event::Init => "Init".to_owned(),
        Event::InitApply(pod) => format!("InitApply({})", name(pod)),
        Event::InitDone => "InitDone".to_owned(),
        Event::Apply(pod) => format!("Apply({})", name(pod)),
        Event::Delete(pod) => format!("Delete({})", name(pod)),
    }
}

async fn next_described(events: &mut Events, count: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..count {
        out.push(describe(&next(events).await.expect("no watcher error")));
    }
    out
}

#[tokio::test]
async fn watcher_lists_in_pages_then_follows_changes() {
    let server = FakeApiServer::start().await;
    server.add_pod(pod("web-0"));
    server.add_pod(pod("web-1"));
    let listed_at = server.resource_version().to_string();
    let mut events = watch_pods(&server, watcher::Config::default().page_size(1));

    let initial = next_described(&mut events, 4).await;
    assert_eq!(initial, ["Init", "InitApply(web-0)", "InitApply(web-1)", "InitDone"]);
    let lists: Vec<_> = server.requests().into_iter().filter(|r| r.is_pod_list()).collect();
    assert_eq!(lists.len(), 2, "one page per pod");
    assert!(lists[1].query_value("continue").is_some());

    server.add_pod(pod("web-2"));
    server.update_pod(NS, "web-0", |p| {
        p.metadata
            .labels
            .get_or_insert_default()
            .insert("rev".to_owned(), "2".to_owned());
    });
    server.delete_pod(NS, "web-1");
    let changes = next_described(&mut events, 3).await;
    assert_eq!(changes, ["Apply(web-2)", "Apply(web-0)", "Delete(web-1)"]);

    let watches = server
        .wait_for_requests(1, Duration::from_secs(5), |r| r.is_pod_watch())
        .await;
    assert_eq!(watches[0].query_value("allowWatchBookmarks"), Some("true"));
    assert_eq!(watches[0].query_value("resourceVersion"), Some(listed_at.as_str()));
}

#[tokio::test]
async fn expired_watch_makes_the_watcher_relist() {
    let server = FakeApiServer::start().await;
    server.add_pod(pod("web-0"));
    server.inject(Fault::pod_watch().status(410));
    let mut events = watch_pods(&server, watcher::Config::default());

    assert_eq!(
        next_described(&mut events, 3).await,
        ["Init", "InitApply(web-0)", "InitDone"]
    );
    let error = next(&mut events).await.expect_err("the 410 is reported");
    assert!(
        matches!(&error, watcher::Error::WatchError(status) if status.code == 410),
        "{error:?}"
    );
    assert_eq!(
        next_described(&mut events, 3).await,
        ["Init", "InitApply(web-0)", "InitDone"]
    );
    assert_eq!(server.requests().iter().filter(|r| r.is_pod_list()).count(), 2);
}

#[tokio::test]
async fn ended_watches_resume_from_their_resource_version() {
    let server = FakeApiServer::start().await;
    server.add_pod(pod("web-0"));
    let mut events = watch_pods(&server, watcher::Config::default());
    assert_eq!(next_described(&mut events, 3).await.len(), 3);
    server
        .wait_for_requests(1, Duration::from_secs(5), |r| r.is_pod_watch())
        .await;

    server.end_watches();
    server.add_pod(pod("web-1"));
    assert_eq!(next_described(&mut events, 1).await, ["Apply(web-1)"]);
    let watches = server
        .wait_for_requests(2, Duration::from_secs(5), |r| r.is_pod_watch())
        .await;
    assert_eq!(
        server.requests().iter().filter(|r| r.is_pod_list()).count(),
        1,
        "no relist"
    );
    assert_ne!(watches[1].query_value("resourceVersion"), Some("0"));

    // A change the watcher has not seen is compacted away before it re-watches: its version is too old, relist.
    // (No await between these three calls, so the open watch cannot deliver the change first.)
    server.update_pod(NS, "web-0", |p| p.metadata.annotations = Some(Default::default()));
    server.compact();
    server.end_watches();
    let error = next(&mut events).await.expect_err("the 410 is reported");
    assert!(
        matches!(&error, watcher::Error::WatchError(status) if status.reason == "Expired"),
        "{error:?}"
    );
    assert_eq!(next_described(&mut events, 1).await, ["Init"]);
}

#[tokio::test]
async fn cut_watch_connection_is_rewatched() {
    let server = FakeApiServer::start().await;
    server.add_pod(pod("web-0"));
    let mut events = watch_pods(&server, watcher::Config::default());
    assert_eq!(next_described(&mut events, 3).await.len(), 3);
    server
        .wait_for_requests(1, Duration::from_secs(5), |r| r.is_pod_watch())
        .await;

    // The next watch dies 10 bytes into its first event; the watcher has to watch a third time to see it.
    server.inject(Fault::pod_watch().drop_after_bytes(10));
    server.end_watches();
    server
        .wait_for_requests(2, Duration::from_secs(5), |r| r.is_pod_watch())
        .await;
    server.add_pod(pod("web-1"));
    loop {
        match next(&mut events).await {
            Ok(event) => {
                assert_eq!(describe(&event), "Apply(web-1)");
                break;
            }
            Err(error) => assert!(matches!(error, watcher::Error::WatchFailed(_)), "{error:?}"),
        }
    }
    assert!(server.requests().iter().filter(|r| r.is_pod_watch()).count() >= 3);
}

#[tokio::test]
async fn label_selected_watch_sees_pods_leave_and_enter() {
    let server = FakeApiServer::start().await;
    server.add_pod(pod("web-0"));
    server.add_pod(
        FakePod::new(NS, "db-0")
            .label("app", "db")
            .container(FakeContainer::new("db")),
    );
    let mut events = watch_pods(&server, watcher::Config::default().labels("app=web"));
    assert_eq!(
        next_described(&mut events, 3).await,
        ["Init", "InitApply(web-0)", "InitDone"]
    );

    let relabel = |app: &'static str| {
        move |p: &mut Pod| {
            p.metadata
                .labels
                .get_or_insert_default()
                .insert("app".to_owned(), app.to_owned());
        }
    };
    server.update_pod(NS, "web-0", relabel("gone"));
    server.update_pod(NS, "db-0", relabel("web"));
    server.update_pod(NS, "web-0", |p| p.metadata.annotations = None);
    assert_eq!(next_described(&mut events, 2).await, ["Delete(web-0)", "Apply(db-0)"]);
}

#[tokio::test]
async fn raw_watch_streams_events_and_bookmarks() {
    let server = FakeApiServer::start().await;
    let api: Api<Pod> = Api::namespaced(server.client(), NS);
    let rv = server.resource_version().to_string();
    let mut stream = within(api.watch(&WatchParams::default().timeout(60), &rv))
        .await
        .unwrap()
        .boxed();
    server
        .wait_for_requests(1, Duration::from_secs(5), |r| r.is_pod_watch())
        .await;

    server.add_pod(pod("web-0"));
    let added = within(stream.next()).await.unwrap().unwrap();
    assert!(matches!(added, WatchEvent::Added(ref p) if p.metadata.name.as_deref() == Some("web-0")));
    server.send_bookmarks();
    let WatchEvent::Bookmark(mark) = within(stream.next()).await.unwrap().unwrap() else {
        panic!("expected a bookmark");
    };
    assert_eq!(mark.metadata.resource_version, server.resource_version().to_string());

    server.end_watches();
    assert!(within(stream.next()).await.is_none(), "a clean end of the stream");
}

#[tokio::test]
async fn streaming_list_watcher_gets_initial_events_and_their_end_bookmark() {
    let server = FakeApiServer::start().await;
    server.add_pod(pod("web-0"));
    let mut events = watch_pods(&server, watcher::Config::default().streaming_lists());
    assert_eq!(
        next_described(&mut events, 3).await,
        ["Init", "InitApply(web-0)", "InitDone"]
    );
    server.add_pod(pod("web-1"));
    assert_eq!(next_described(&mut events, 1).await, ["Apply(web-1)"]);
    assert_eq!(server.requests().iter().filter(|r| r.is_pod_list()).count(), 0);
}
