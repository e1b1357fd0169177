//! Selecting by workload, node and container state, and filtering lines: the built binary
//! against the fake API server, and mistakes that exit 2 before any request.
//!
//! The fake API server serves pods only, so workloads that exist are tested against the real
//! cluster (`e2e_select.rs`); here, a workload that does not exist.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use jiff::Timestamp;
use kle_tests::binary::{exporter, run_against as run};
use kle_tests::fake_api::{FakeApiServer, FakeContainer, FakePod, LogLine, render};

fn at(second: u32) -> Timestamp {
    format!("2026-11-23T10:00:{second:02}Z").parse().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn line(second: u32, message: &str) -> LogLine {
    LogLine::new(at(second), message.to_owned())
}

async fn cluster() -> FakeApiServer {
    let server = FakeApiServer::start().await;
    server.add_pod(
        FakePod::new("shop", "web-0")
            .node("node-1")
            .container(FakeContainer::new("app").logs([line(0, "web 0")]))
            .container(FakeContainer::new("done").terminated(0).logs([line(0, "done 0")])),
    );
    server.add_pod(
        FakePod::new("shop", "web-1")
            .node("node-2")
            .container(FakeContainer::new("app").logs([line(0, "web 1")])),
    );
    server
}

/// Bad workload references, line filters and node names exit 2 naming the mistake, and the
/// API server hears nothing.
#[tokio::test(flavor = "multi_thread")]
async fn selection_mistakes_exit_2_before_any_request() {
    let server = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let mistakes: [(&[&str], &str); 9] = [
        (&["export", "-n", "shop", "deployment/"], "no name after deployment/"),
        (
            &["export", "-n", "shop", "pod/web-0"],
            "\"pod\" is not a kind of workload",
        ),
        (&["follow", "-n", "shop", "deploy/Web"], "not an object name"),
        (&["export", "-A", "deploy/web"], "-A"),
        (&["export", "-n", "shop", "^web", "^api"], "2 pod-name patterns"),
        (&["export", "-n", "shop", "--include", "("], "--include"),
        (&["follow", "-n", "shop", "-e", "ok", "-e", "[a-"], "--exclude"),
        (&["export", "-n", "shop", "--node", "a,b=c"], "--node"),
        (&["check", "-n", "shop", "cj/"], "no name after cronjob/"),
    ];
    for (args, named) in mistakes {
        server.clear_requests();
        let output = run(&server, dir.path(), args).await;
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?} should say {named}: {stderr}");
        assert!(
            server.requests().is_empty(),
            "{args:?} contacted the API server: {:?}",
            server.requests()
        );
    }
    // The kinds are listed, so the user need not look them up.
    let output = run(&server, dir.path(), &["export", "-n", "shop", "deploy/"]).await;
    let stderr = text(&output.stderr);
    for kind in [
        "deployment (deploy)",
        "statefulset (sts)",
        "daemonset (ds)",
        "replicaset (rs)",
        "job",
        "cronjob (cj)",
        "service (svc)",
    ] {
        assert!(stderr.contains(kind), "lacks {kind}: {stderr}");
    }
}

#[test]
fn rbac_mistakes_exit_2_too() {
    let output = exporter().args(["rbac", "-n", "shop", "sts/"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("no name after statefulset/"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workload_that_does_not_exist_is_nothing_matched() {
    let server = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    for command in ["export", "follow"] {
        let output = run(&server, dir.path(), &[command, "-n", "shop", "deploy/web"]).await;
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{command}: {stderr}");
        assert!(
            stderr.contains("deployment/web: not found in namespace(s) shop"),
            "{command}: {stderr}"
        );
    }
    let output = run(&server, dir.path(), &["export", "-n", "shop", "svc/api", "--dry-run"]).await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn node_and_container_state_narrow_the_selection() {
    let server = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        &server,
        dir.path(),
        &["export", "-n", "shop", "--node", "node-2", "-o", "raw"],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "web 1\n");
    let list = server.requests();
    assert!(
        list.iter()
            .any(|r| r.query_value("fieldSelector") == Some("spec.nodeName=node-2")),
        "the node is a field selector: {list:?}"
    );

    let output = run(
        &server,
        dir.path(),
        &[
            "export",
            "-n",
            "shop",
            "--node",
            "node-1",
            "--container-state",
            "terminated",
            "-o",
            "raw",
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "done 0\n");

    let output = run(
        &server,
        dir.path(),
        &["export", "-n", "shop", "--container-state", "waiting"],
    )
    .await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("in state waiting"),
        "{}",
        text(&output.stderr)
    );
}

/// Filtered lines advance the checkpoint: a second run neither repeats a matching line nor
/// loses one, even where kept and left-out lines share a second across the two runs.
#[tokio::test(flavor = "multi_thread")]
async fn line_filters_keep_the_matching_lines_once_across_resumed_runs() {
    let server = FakeApiServer::start().await;
    let first = [
        line(0, "keep 1"),
        line(1, "drop 1"),
        line(1, "keep 2"),
        line(1, "drop 2 healthz"),
        line(1, "keep 3 healthz"),
    ];
    server.add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(first.clone())));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let args = [
        "export",
        "-n",
        "shop",
        "--sink",
        "file",
        "--dir",
        out.to_str().unwrap(),
        "--include",
        "^keep",
        "--exclude",
        "healthz",
    ];
    let output = run(&server, dir.path(), &args).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let file = out.join("shop/web-0/app.log");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        render(&[first[0].clone(), first[2].clone()], true)
    );

    // More lines in the same second as the last ones of the first run, then later.
    let second = [
        line(1, "keep 4"),
        line(1, "drop 3"),
        line(2, "keep 5"),
        line(2, "drop 4"),
    ];
    server.append_log("shop", "web-0", "app", second.clone());
    let output = run(&server, dir.path(), &args).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let expected = [&first[0], &first[2], &second[0], &second[2]].map(Clone::clone);
    assert_eq!(text(&std::fs::read(&file).unwrap()), text(&render(&expected, true)));

    // Nothing new: nothing written, the left-out lines at the end are not read as new.
    let output = run(&server, dir.path(), &args).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&std::fs::read(&file).unwrap()), text(&render(&expected, true)));
}

#[test]
fn rbac_adds_what_each_workload_needs_and_nothing_without_them() {
    let rbac = |extra: &[&str]| {
        let output = exporter()
            .args(["rbac", "-n", "shop", "--sa-namespace", "logging"])
            .args(extra)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        text(&output.stdout)
    };
    let plain = rbac(&[]);
    for absent in [
        "deployments",
        "cronjobs",
        "jobs",
        "services",
        "apps",
        "batch",
        "resourceNames",
    ] {
        assert!(!plain.contains(absent), "{absent} without workloads: {plain}");
    }
    let yaml = rbac(&[
        "deploy/web",
        "sts/db",
        "cj/nightly",
        "svc/api",
        "--node",
        "n1",
        "--container-state",
        "running",
    ]);
    for needed in [
        "- apps\n  resourceNames:\n  - web\n  resources:\n  - deployments\n  verbs:\n  - get\n",
        "- apps\n  resourceNames:\n  - db\n  resources:\n  - statefulsets\n  verbs:\n  - get\n",
        "- batch\n  resourceNames:\n  - nightly\n  resources:\n  - cronjobs\n  verbs:\n  - get\n",
        "- batch\n  resources:\n  - jobs\n  verbs:\n  - list\n",
        "- \"\"\n  resourceNames:\n  - api\n  resources:\n  - services\n  verbs:\n  - get\n",
    ] {
        assert!(yaml.contains(needed), "lacks\n{needed}in\n{yaml}");
    }
    assert!(
        !yaml.contains("- watch"),
        "no watch on anything without --follow: {yaml}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_shows_the_workload_permissions() {
    let server = cluster().await;
    server.set_access_policy(
        kle_tests::fake_api::AccessPolicy::allow_all().rule(
            kle_tests::fake_api::AccessRule::deny()
                .resource("cronjobs")
                .namespace("shop"),
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        &server,
        dir.path(),
        &["check", "-n", "shop", "deploy/web", "cj/nightly"],
    )
    .await;
    let table = text(&output.stdout);
    assert_eq!(output.status.code(), Some(4), "{table}{}", text(&output.stderr));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("yes") && l.contains("deployments") && l.contains("web")),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.starts_with("NO") && l.contains("cronjobs")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("yes") && l.contains("jobs") && l.contains("list")),
        "{table}"
    );
}
