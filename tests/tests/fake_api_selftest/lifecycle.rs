//! The server's own lifecycle: cutting connections, shutting down, replacing pods wholesale,
//! serving HTTPS.

use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::Pod;
use kle_tests::fake_api::{Alpn, FakeApiServer, FakeContainer, FakePod, lines};
use kube::api::{Api, ListParams, LogParams};

use crate::support::{NS, fetch_log, open_log, read_at_least, read_to_end, t0, within};

fn web() -> FakePod {
    FakePod::new(NS, "web-0").container(FakeContainer::new("app").logs(lines(t0(), 2, |i| format!("line {i}"))))
}

#[tokio::test]
async fn disconnect_all_cuts_open_streams_abruptly() {
    let server = FakeApiServer::start().await;
    server.add_pod(web());
    let follow = LogParams {
        follow: true,
        ..LogParams::default()
    };
    let mut body = within(open_log(&server.client(), "web-0", &follow)).await.unwrap();
    assert_eq!(read_at_least(&mut body, 14).await, b"line 0\nline 1\n");

    server.disconnect_all();
    let (rest, error) = read_to_end(body).await;
    assert!(rest.is_empty());
    assert!(error.is_some(), "a cut, not a clean end");
    // New connections are served as before.
    assert_eq!(
        fetch_log(&server.client(), "web-0", &LogParams::default())
            .await
            .unwrap(),
        b"line 0\nline 1\n"
    );
}

#[tokio::test]
async fn shutdown_ends_streams_and_closes_the_port() {
    let server = FakeApiServer::start().await;
    server.add_pod(web());
    let client = server.client();
    let follow = LogParams {
        follow: true,
        ..LogParams::default()
    };
    let body = within(open_log(&client, "web-0", &follow)).await.unwrap();

    server.shutdown().await;
    let _ = within(body.collect()).await;
    let pods: Api<Pod> = Api::namespaced(client, NS);
    let error = within(pods.list(&ListParams::default())).await.unwrap_err();
    assert!(!matches!(error, kube::Error::Api(_)), "no server answers: {error}");
}

#[tokio::test]
async fn set_pod_with_a_new_container_id_starts_an_empty_log() {
    let server = FakeApiServer::start().await;
    let mut pod = server.add_pod(web());
    let statuses = pod.status.as_mut().unwrap().container_statuses.as_mut().unwrap();
    statuses[0].container_id = Some("containerd://replaced".to_owned());
    server.set_pod(pod);

    let client = server.client();
    assert_eq!(fetch_log(&client, "web-0", &LogParams::default()).await.unwrap(), b"");
    server.append_log(NS, "web-0", "app", lines(t0(), 1, |_| "new"));
    assert_eq!(
        fetch_log(&client, "web-0", &LogParams::default()).await.unwrap(),
        b"new\n"
    );
    assert_eq!(
        server.container_id(NS, "web-0", "app").as_deref(),
        Some("containerd://replaced")
    );
}

#[tokio::test]
async fn tls_serves_clients_that_trust_its_certificate_only() {
    let server = FakeApiServer::start_tls(Alpn::Http1Only).await;
    server.add_pod(web());
    assert!(server.url().starts_with("https://127.0.0.1:"), "{}", server.url());
    let pods: Api<Pod> = Api::namespaced(server.client(), NS);
    assert_eq!(within(pods.list(&ListParams::default())).await.unwrap().items.len(), 1);

    // The certificate is checked, not skipped: without it as the CA the handshake fails.
    let mut untrusting = server.config();
    untrusting.root_cert = None;
    let pods: Api<Pod> = Api::namespaced(kube::Client::try_from(untrusting).unwrap(), NS);
    let error = within(pods.list(&ListParams::default())).await.unwrap_err();
    assert!(format!("{error:?}").contains("UnknownIssuer"), "{error:?}");
}
