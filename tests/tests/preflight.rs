//! The permission preflight of `export`/`follow`, against the fake API server: a denied
//! permission fails the run before it reads anything; `--no-preflight` goes straight to work.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kle_tests::binary::run_against as run;
use kle_tests::fake_api::{AccessPolicy, AccessRule, FakeApiServer, FakeContainer, FakePod, Route, lines};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A pod in `shop`, and a policy that denies reading logs there.
async fn log_reading_denied() -> FakeApiServer {
    let server = FakeApiServer::start().await;
    let start = "2026-11-23T10:00:00Z".parse().unwrap();
    server.add_pod(
        FakePod::new("shop", "web-0")
            .container(FakeContainer::new("app").logs(lines(start, 3, |i| format!("app {i}")))),
    );
    server.set_access_policy(AccessPolicy::allow_all().rule(AccessRule::deny().resource("pods/log").namespace("shop")));
    server
}

fn count(server: &FakeApiServer, wanted: fn(&Route) -> bool) -> usize {
    server.requests().iter().filter(|r| wanted(&r.route)).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_permission_fails_the_export_before_it_reads_anything() {
    let server = log_reading_denied().await;
    let dir = tempfile::tempdir().unwrap();
    let output = run(&server, dir.path(), &["export", "-n", "shop", "-o", "raw"]).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("cannot get pods/log in namespace \"shop\""), "{stderr}");
    assert!(
        !stderr.contains("cannot list pods"),
        "only what is denied is named: {stderr}"
    );
    assert!(
        stderr.contains("kind: Role") && stderr.contains("pods/log"),
        "the fixing RBAC: {stderr}"
    );
    assert!(output.stdout.is_empty());
    assert_eq!(count(&server, |r| matches!(r, Route::SelfSubjectAccessReview)), 3);
    assert_eq!(
        count(&server, |r| matches!(r, Route::PodList { .. } | Route::PodLog { .. })),
        0,
        "nothing listed or read after a failed preflight"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_preflight_skips_the_reviews_and_meets_the_403_in_the_run() {
    let server = log_reading_denied().await;
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        &server,
        dir.path(),
        &["export", "-n", "shop", "-o", "raw", "--no-preflight"],
    )
    .await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("cannot get pods/log in namespace \"shop\""), "{stderr}");
    assert_eq!(count(&server, |r| matches!(r, Route::SelfSubjectAccessReview)), 0);
    assert!(count(&server, |r| matches!(r, Route::PodLog { .. })) > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_is_checked_for_watch_before_it_starts() {
    let server = FakeApiServer::start().await;
    server.set_access_policy(AccessPolicy::allow_all().rule(AccessRule::deny().verb("watch").resource("pods")));
    let dir = tempfile::tempdir().unwrap();
    // The preflight, not a refused watch, ends it: no watch is ever opened.
    let output = run(&server, dir.path(), &["follow", "-n", "shop", "-o", "raw"]).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("cannot watch pods in namespace \"shop\""), "{stderr}");
    assert!(stderr.contains("- watch"), "the RBAC grants watch: {stderr}");
    assert_eq!(count(&server, |r| matches!(r, Route::PodWatch { .. })), 0);
}
