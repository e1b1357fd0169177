//! Pod list and get through `kube::Api<Pod>`.

use k8s_openapi::api::core::v1::Pod;
use kle_tests::fake_api::{FakeApiServer, FakeContainer, FakePod, Fault};
use kube::api::{Api, ListParams};

use crate::support::{NS, within};

fn web(name: &str, tier: &str, node: &str) -> FakePod {
    FakePod::new(NS, name)
        .label("app", "web")
        .label("tier", tier)
        .node(node)
        .container(FakeContainer::new("app"))
}

async fn server_with_pods() -> FakeApiServer {
    let server = FakeApiServer::start().await;
    server.add_pod(web("web-0", "front", "node-1"));
    server.add_pod(web("web-1", "back", "node-2"));
    server.add_pod(
        FakePod::new(NS, "db-0")
            .label("app", "db")
            .container(FakeContainer::new("db")),
    );
    server.add_pod(
        FakePod::new("other", "web-9")
            .label("app", "web")
            .container(FakeContainer::new("app")),
    );
    server
}

fn names(pods: &[Pod]) -> Vec<String> {
    pods.iter().map(|p| p.metadata.name.clone().unwrap()).collect()
}

#[tokio::test]
async fn lists_pods_by_namespace_and_label_and_field_selectors() {
    let server = server_with_pods().await;
    let all: Api<Pod> = Api::all(server.client());
    let shop: Api<Pod> = Api::namespaced(server.client(), NS);

    let everything = within(all.list(&ListParams::default())).await.unwrap();
    assert_eq!(
        names(&everything.items),
        ["web-9", "db-0", "web-0", "web-1"],
        "sorted by namespace/name"
    );
    assert_eq!(
        everything.metadata.resource_version,
        Some(server.resource_version().to_string())
    );

    let select = |labels: &str, fields: &str| {
        let shop = shop.clone();
        let params = ListParams::default().labels(labels).fields(fields);
        async move { names(&within(shop.list(&params)).await.unwrap().items) }
    };
    assert_eq!(select("app=web", "").await, ["web-0", "web-1"]);
    assert_eq!(select("app=web,tier!=front", "").await, ["web-1"]);
    assert_eq!(select("app in (db, cache)", "").await, ["db-0"]);
    assert_eq!(select("tier", "").await, ["web-0", "web-1"]);
    assert_eq!(select("!tier", "").await, ["db-0"]);
    assert_eq!(select("", "spec.nodeName=node-2").await, ["web-1"]);
    assert_eq!(
        select("app=web", "metadata.name!=web-1,status.phase=Running").await,
        ["web-0"]
    );
}

#[tokio::test]
async fn malformed_selectors_are_bad_requests_like_the_api_server() {
    let server = server_with_pods().await;
    let shop: Api<Pod> = Api::namespaced(server.client(), NS);

    let error = within(shop.list(&ListParams::default().labels("app in web")))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = error else {
        panic!("expected an API error, got {error}")
    };
    assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
    assert!(
        status.message.starts_with("unable to parse requirement: "),
        "{}",
        status.message
    );

    let error = within(shop.list(&ListParams::default().fields("spec.color=red")))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = error else {
        panic!("expected an API error, got {error}")
    };
    assert_eq!(status.code, 400);
    assert_eq!(status.message, "field label not supported: spec.color");
}

#[tokio::test]
async fn pages_with_limit_and_continue_form_a_consistent_snapshot() {
    let server = server_with_pods().await;
    let all: Api<Pod> = Api::all(server.client());

    let first = within(all.list(&ListParams::default().limit(2))).await.unwrap();
    assert_eq!(names(&first.items), ["web-9", "db-0"]);
    assert_eq!(first.metadata.remaining_item_count, Some(2));
    let token = first.metadata.continue_.clone().expect("a continue token");

    // A change between pages is not seen by the rest of the list, as with etcd snapshots.
    server.delete_pod(NS, "web-1");
    let rest = within(all.list(&ListParams::default().limit(2).continue_token(&token)))
        .await
        .unwrap();
    assert_eq!(names(&rest.items), ["web-0", "web-1"]);
    assert_eq!(rest.metadata.continue_, None);
    assert_eq!(rest.metadata.resource_version, first.metadata.resource_version);

    server.compact();
    let error = within(all.list(&ListParams::default().limit(2).continue_token(&token)))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = error else {
        panic!("expected an API error, got {error}")
    };
    assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
}

#[tokio::test]
async fn gets_one_pod_or_not_found() {
    let server = server_with_pods().await;
    let shop: Api<Pod> = Api::namespaced(server.client(), NS);

    let pod = within(shop.get("web-0")).await.unwrap();
    let status = pod.status.unwrap();
    assert_eq!(status.phase.as_deref(), Some("Running"));
    let app = &status.container_statuses.unwrap()[0];
    assert!(app.container_id.as_deref().unwrap().starts_with("containerd://"));
    assert_eq!(app.container_id.as_deref().unwrap().len(), "containerd://".len() + 64);
    assert_eq!(pod.spec.unwrap().node_name.as_deref(), Some("node-1"));

    let error = within(shop.get("nope")).await.unwrap_err();
    let kube::Error::Api(status) = error else {
        panic!("expected an API error, got {error}")
    };
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    assert_eq!(status.message, "pods \"nope\" not found");
}

#[tokio::test]
async fn records_requests_with_their_query() {
    let server = server_with_pods().await;
    let shop: Api<Pod> = Api::namespaced(server.client(), NS);
    within(shop.list(&ListParams::default().labels("app=web").limit(5)))
        .await
        .unwrap();

    let requests = server.requests();
    let list = requests
        .iter()
        .find(|r| r.is_pod_list())
        .expect("the list was recorded");
    assert_eq!(list.path, "/api/v1/namespaces/shop/pods");
    assert_eq!(list.query_value("labelSelector"), Some("app=web"));
    assert_eq!(list.query_value("limit"), Some("5"));
}

#[tokio::test]
async fn kubeconfig_file_reaches_the_server_with_its_token() {
    let server = server_with_pods().await;
    server.require_token(Some(FakeApiServer::TOKEN));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    server.write_kubeconfig(&path, "fake").unwrap();

    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
    let options = kube::config::KubeConfigOptions {
        context: Some("fake".to_owned()),
        ..Default::default()
    };
    let config = within(kube::Config::from_custom_kubeconfig(kubeconfig, &options))
        .await
        .unwrap();
    assert_eq!(config.default_namespace, "default");
    let client = kube::Client::try_from(config).unwrap();
    let pods: Api<Pod> = Api::namespaced(client, NS);
    assert_eq!(within(pods.list(&ListParams::default())).await.unwrap().items.len(), 3);
    let sent = server.requests().last().unwrap().headers.get("authorization").cloned();
    assert_eq!(sent.unwrap(), "Bearer fake-token");

    // Without the token: 401.
    let anonymous: Api<Pod> = Api::namespaced(server.client(), NS);
    let error = within(anonymous.list(&ListParams::default())).await.unwrap_err();
    let kube::Error::Api(status) = error else {
        panic!("expected an API error, got {error}")
    };
    assert_eq!((status.code, status.reason.as_str()), (401, "Unauthorized"));
}

#[tokio::test]
async fn injected_faults_apply_to_the_next_matching_requests_only() {
    let server = server_with_pods().await;
    let shop: Api<Pod> = Api::namespaced(server.client(), NS);

    server.inject(Fault::pod_list().status(500).times(2));
    for _ in 0..2 {
        let error = within(shop.list(&ListParams::default())).await.unwrap_err();
        let kube::Error::Api(status) = error else {
            panic!("expected an API error, got {error}")
        };
        assert_eq!((status.code, status.reason.as_str()), (500, "InternalError"));
    }
    assert_eq!(within(shop.list(&ListParams::default())).await.unwrap().items.len(), 3);

    // kube's client retries 429 itself, honoring Retry-After: one failed attempt, then success.
    server.clear_requests();
    server.inject(Fault::pod_get(NS, "web-0").status(429).retry_after(0));
    within(shop.get("web-0")).await.unwrap();
    assert_eq!(server.requests().len(), 2);

    // A delayed answer still arrives.
    server.inject(Fault::pod_get(NS, "web-0").delay(std::time::Duration::from_millis(200)));
    let started = std::time::Instant::now();
    within(shop.get("web-0")).await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));

    // A scripted answer, byte for byte.
    server.inject(Fault::path("/api/v1/namespaces/shop/pods/web-0").respond(418, "text/plain", "teapot"));
    let error = within(shop.get("web-0")).await.unwrap_err();
    let kube::Error::Api(status) = error else {
        panic!("expected an API error, got {error}")
    };
    assert_eq!((status.code, status.message.as_str()), (418, "teapot"));
    assert_eq!(
        within(server.client().apiserver_version()).await.unwrap().git_version,
        "v1.33.0-fake"
    );
}
