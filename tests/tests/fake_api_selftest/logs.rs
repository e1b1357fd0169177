//! `pods/log` through raw requests and `Api::log_stream`, as the exporter reads logs.

use futures::{AsyncBufReadExt, StreamExt};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;
use kle_tests::fake_api::{FakeApiServer, FakeContainer, FakePod, Fault, LogLine, lines, lines_every, render};
use kube::api::{Api, LogParams};

use crate::support::{NS, fetch_log, open_log, read_at_least, read_to_end, t0, within};

fn numbered(count: usize) -> Vec<LogLine> {
    lines(t0(), count, |i| format!("line {i}"))
}

async fn server_with(pod: FakePod) -> FakeApiServer {
    let server = FakeApiServer::start().await;
    server.add_pod(pod);
    server
}

fn single(lines: Vec<LogLine>) -> FakePod {
    FakePod::new(NS, "web-0").container(FakeContainer::new("app").logs(lines))
}

fn params() -> LogParams {
    LogParams::default()
}

#[tokio::test]
async fn serves_plain_and_timestamped_lines() {
    let step = SignedDuration::from_micros(1500);
    let server = server_with(single(lines_every(t0(), step, 3, |i| format!("line {i}")))).await;
    let client = server.client();

    let plain = fetch_log(&client, "web-0", &params()).await.unwrap();
    assert_eq!(plain, b"line 0\nline 1\nline 2\n");
    let stamped = fetch_log(
        &client,
        "web-0",
        &LogParams {
            timestamps: true,
            ..params()
        },
    )
    .await
    .unwrap();
    let expected = "2024-05-01T10:00:00.000000000Z line 0\n\
                    2024-05-01T10:00:00.001500000Z line 1\n\
                    2024-05-01T10:00:00.003000000Z line 2\n";
    assert_eq!(String::from_utf8(stamped).unwrap(), expected);
}

#[tokio::test]
async fn honors_since_time_tail_lines_and_limit_bytes() {
    let server = server_with(single(numbered(10))).await;
    let client = server.client();
    let fetch = |params: LogParams| {
        let client = client.clone();
        async move { String::from_utf8(fetch_log(&client, "web-0", &params).await.unwrap()).unwrap() }
    };
    let since = |seconds: i64| Some(t0() + SignedDuration::from_secs(seconds));

    assert_eq!(
        fetch(LogParams {
            since_time: since(8),
            ..params()
        })
        .await,
        "line 8\nline 9\n"
    );
    assert_eq!(
        fetch(LogParams {
            tail_lines: Some(2),
            ..params()
        })
        .await,
        "line 8\nline 9\n"
    );
    assert_eq!(
        fetch(LogParams {
            tail_lines: Some(0),
            ..params()
        })
        .await,
        ""
    );
    // Tail first, then since, as the kubelet does.
    let tail_since = LogParams {
        tail_lines: Some(5),
        since_time: since(3),
        ..params()
    };
    assert_eq!(fetch(tail_since).await, "line 5\nline 6\nline 7\nline 8\nline 9\n");
    assert_eq!(
        fetch(LogParams {
            limit_bytes: Some(10),
            ..params()
        })
        .await,
        "line 0\nlin"
    );
    let stamped_limit = LogParams {
        limit_bytes: Some(33),
        timestamps: true,
        ..params()
    };
    assert_eq!(fetch(stamped_limit).await, "2024-05-01T10:00:00.000000000Z li");

    // sinceSeconds counts back from now.
    let recent = lines(Timestamp::now() - SignedDuration::from_secs(100), 3, |i| {
        format!("old {i}")
    });
    let fresh = lines(Timestamp::now() - SignedDuration::from_secs(2), 2, |i| {
        format!("new {i}")
    });
    server.append_log(NS, "web-0", "app", recent.into_iter().chain(fresh));
    let last_minute = fetch(LogParams {
        since_seconds: Some(60),
        ..params()
    })
    .await;
    assert_eq!(last_minute, "new 0\nnew 1\n");
}

#[tokio::test]
async fn previous_reads_the_last_terminated_instance() {
    let pod = FakePod::new(NS, "web-0")
        .container(
            FakeContainer::new("app")
                .previous_logs(numbered(2))
                .logs(lines(t0(), 1, |_| "now")),
        )
        .container(FakeContainer::new("sidecar"));
    let server = server_with(pod).await;
    let client = server.client();
    let app = |previous: bool| LogParams {
        container: Some("app".to_owned()),
        previous,
        ..params()
    };

    assert_eq!(
        fetch_log(&client, "web-0", &app(true)).await.unwrap(),
        b"line 0\nline 1\n"
    );
    assert_eq!(fetch_log(&client, "web-0", &app(false)).await.unwrap(), b"now\n");
    let sidecar = LogParams {
        container: Some("sidecar".to_owned()),
        previous: true,
        ..params()
    };
    let status = fetch_log(&client, "web-0", &sidecar).await.unwrap_err();
    assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
    assert_eq!(
        status.message,
        "previous terminated container \"sidecar\" in pod \"web-0\" not found"
    );
    assert_eq!(
        server
            .pod(NS, "web-0")
            .unwrap()
            .status
            .unwrap()
            .container_statuses
            .unwrap()[0]
            .restart_count,
        1
    );
}

#[tokio::test]
async fn refuses_like_the_api_server_and_kubelet() {
    let server = FakeApiServer::start().await;
    server.add_pod(
        FakePod::new(NS, "multi")
            .init_container(FakeContainer::new("init").terminated(0))
            .container(FakeContainer::new("app"))
            .container(FakeContainer::new("sidecar")),
    );
    server.add_pod(FakePod::new(NS, "starting").container(FakeContainer::new("app").waiting("ContainerCreating")));
    let client = server.client();
    let message = |status: kube::core::Status| (status.code, status.message);

    let missing = fetch_log(&client, "nope", &params()).await.unwrap_err();
    assert_eq!(message(missing), (404, "pods \"nope\" not found".to_owned()));
    let unnamed = fetch_log(&client, "multi", &params()).await.unwrap_err();
    let choose = "a container name must be specified for pod multi, choose one of: [init app sidecar]";
    assert_eq!(message(unnamed), (400, choose.to_owned()));
    let unknown = LogParams {
        container: Some("db".to_owned()),
        ..params()
    };
    let unknown = fetch_log(&client, "multi", &unknown).await.unwrap_err();
    assert_eq!(
        message(unknown),
        (400, "container db is not valid for pod multi".to_owned())
    );
    let waiting = fetch_log(&client, "starting", &params()).await.unwrap_err();
    let wait = "container \"app\" in pod \"starting\" is waiting to start: ContainerCreating";
    assert_eq!(message(waiting), (400, wait.to_owned()));
    let negative = fetch_log(
        &client,
        "starting",
        &LogParams {
            tail_lines: Some(-1),
            ..params()
        },
    )
    .await
    .unwrap_err();
    assert_eq!((negative.code, negative.reason.as_str()), (422, "Invalid"));

    // Once started, it has a (still empty) log.
    server.start_container(NS, "starting", "app");
    assert_eq!(fetch_log(&client, "starting", &params()).await.unwrap(), b"");
}

#[tokio::test]
async fn follow_streams_appended_lines_until_the_container_exits() {
    let server = server_with(single(numbered(2))).await;
    let follow = LogParams {
        follow: true,
        timestamps: true,
        ..params()
    };
    let mut body = within(open_log(&server.client(), "web-0", &follow)).await.unwrap();
    let first = render(&numbered(2), true);
    assert_eq!(read_at_least(&mut body, first.len()).await, first);

    let more = lines(t0() + SignedDuration::from_secs(60), 2, |i| format!("more {i}"));
    server.append_log(NS, "web-0", "app", more.clone());
    let expected = render(&more, true);
    assert_eq!(read_at_least(&mut body, expected.len()).await, expected);

    server.append_log(NS, "web-0", "app", lines(t0(), 1, |_| "last words"));
    server.terminate_container(NS, "web-0", "app", 0);
    let (rest, error) = read_to_end(body).await;
    assert!(error.is_none(), "a clean end: {error:?}");
    assert_eq!(
        String::from_utf8(rest).unwrap(),
        "2024-05-01T10:00:00.000000000Z last words\n"
    );
    let phase = server.pod(NS, "web-0").unwrap().status.unwrap().phase;
    assert_eq!(
        phase.as_deref(),
        Some("Running"),
        "restartPolicy Always: the kubelet would restart it"
    );
}

#[tokio::test]
async fn restart_ends_followers_and_starts_a_new_instance() {
    let server = server_with(single(numbered(1))).await;
    let client = server.client();
    let old_id = server.container_id(NS, "web-0", "app").unwrap();
    let follow = LogParams {
        follow: true,
        ..params()
    };
    let body = within(open_log(&client, "web-0", &follow)).await.unwrap();

    server.restart_container(NS, "web-0", "app");
    let (old, error) = read_to_end(body).await;
    assert!(error.is_none(), "a clean end: {error:?}");
    assert_eq!(old, b"line 0\n");
    let new_id = server.container_id(NS, "web-0", "app").unwrap();
    assert_ne!(new_id, old_id);
    let status = server
        .pod(NS, "web-0")
        .unwrap()
        .status
        .unwrap()
        .container_statuses
        .unwrap()
        .remove(0);
    assert_eq!(status.restart_count, 1);
    let last = status.last_state.unwrap().terminated.unwrap();
    assert_eq!(last.container_id.as_deref(), Some(old_id.as_str()));

    server.append_log(NS, "web-0", "app", lines(t0(), 1, |_| "fresh"));
    assert_eq!(fetch_log(&client, "web-0", &params()).await.unwrap(), b"fresh\n");
    let previous = LogParams {
        previous: true,
        ..params()
    };
    assert_eq!(fetch_log(&client, "web-0", &previous).await.unwrap(), b"line 0\n");

    // Deleting the pod ends its followers too.
    let body = within(open_log(&client, "web-0", &follow)).await.unwrap();
    server.delete_pod(NS, "web-0");
    let (rest, error) = read_to_end(body).await;
    assert!(error.is_none(), "a clean end: {error:?}");
    assert_eq!(rest, b"fresh\n");
}

#[tokio::test]
async fn crash_looping_container_serves_its_last_instance() {
    let pod = FakePod::new(NS, "crashy").container(
        FakeContainer::new("app")
            .waiting("CrashLoopBackOff")
            .previous_logs(numbered(1)),
    );
    let server = server_with(pod).await;
    assert_eq!(
        fetch_log(&server.client(), "crashy", &params()).await.unwrap(),
        b"line 0\n"
    );
}

#[tokio::test]
async fn log_stream_reads_lines_as_they_come() {
    let server = server_with(single(numbered(1))).await;
    let pods: Api<Pod> = Api::namespaced(server.client(), NS);
    let follow = LogParams {
        follow: true,
        ..params()
    };
    let mut lines_read = within(pods.log_stream("web-0", &follow)).await.unwrap().lines();
    assert_eq!(within(lines_read.next()).await.unwrap().unwrap(), "line 0");
    server.append_log(NS, "web-0", "app", lines(t0(), 1, |_| "line 1"));
    assert_eq!(within(lines_read.next()).await.unwrap().unwrap(), "line 1");
    server.terminate_container(NS, "web-0", "app", 1);
    assert!(within(lines_read.next()).await.is_none());
}

#[tokio::test]
async fn carries_arbitrary_bytes_and_huge_lines() {
    let huge = vec![b'x'; 5 * 1024 * 1024];
    let odd = vec![0xff, 0xfe, b'a', 0x00, 0xc3];
    let logged = vec![
        LogLine::new(t0(), odd.clone()),
        LogLine::new(t0(), huge.clone()),
        LogLine::new(t0(), "end"),
    ];
    let server = server_with(single(logged.clone())).await;
    let body = fetch_log(
        &server.client(),
        "web-0",
        &LogParams {
            timestamps: true,
            ..params()
        },
    )
    .await
    .unwrap();
    assert_eq!(body.len(), render(&logged, true).len());
    assert!(body == render(&logged, true), "the bytes arrive unchanged");
}

#[tokio::test]
async fn injected_log_faults() {
    let server = server_with(single(numbered(100))).await;
    let client = server.client();

    server.inject(Fault::pod_log(NS, "web-0").container("app").status(403));
    let status = fetch_log(&client, "web-0", &params()).await.unwrap_err();
    let forbidden = "pods \"web-0\" is forbidden: User \"system:serviceaccount:kle:exporter\" cannot get resource \
                     \"pods/log\" in API group \"\" in the namespace \"shop\"";
    assert_eq!(
        (status.code, status.reason.as_str(), status.message.as_str()),
        (403, "Forbidden", forbidden)
    );

    server.inject(Fault::pod_log(NS, "web-0").drop_after_bytes(20));
    let body = within(open_log(&client, "web-0", &params())).await.unwrap();
    let (partial, error) = read_to_end(body).await;
    assert_eq!(partial, b"line 0\nline 1\nline 2");
    assert!(error.is_some(), "an abrupt end is an error, not EOF");

    server.inject(Fault::pod_log(NS, "web-0").reset_connection());
    let request = kube::api::Request::new(format!("/api/v1/namespaces/{NS}/pods")).logs("web-0", &params());
    let sent = within(client.send(request.unwrap().map(kube::client::Body::from))).await;
    assert!(sent.is_err(), "no response at all");

    assert_eq!(
        fetch_log(&client, "web-0", &params()).await.unwrap().len(),
        render(&numbered(100), false).len()
    );
}

#[tokio::test]
async fn unscheduled_pod_has_an_empty_log() {
    let server = server_with(
        FakePod::new(NS, "pending")
            .unscheduled()
            .container(FakeContainer::new("app")),
    )
    .await;
    assert_eq!(fetch_log(&server.client(), "pending", &params()).await.unwrap(), b"");
    let requests = server.requests();
    let log = requests.iter().find(|r| r.is_pod_log()).unwrap();
    assert_eq!(log.path, "/api/v1/namespaces/shop/pods/pending/log");
}
