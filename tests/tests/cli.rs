//! The built `kube-log-exporter` binary against the fake API server: output, files, exit codes
//! and error messages as a user sees them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use jiff::Timestamp;
use kle_tests::binary::{exporter, run_against as run};
use kle_tests::fake_api::{FakeApiServer, FakeContainer, FakePod, Fault, lines, render};

fn start() -> Timestamp {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn shop() -> FakeApiServer {
    let server = FakeApiServer::start().await;
    server.add_pod(
        FakePod::new("shop", "web-0")
            .label("app", "web")
            .container(FakeContainer::new("app").logs(lines(start(), 3, |i| format!("app {i}"))))
            .container(FakeContainer::new("proxy").logs(lines(start(), 2, |i| format!("proxy {i}")))),
    );
    server
}

#[test]
fn help_has_examples_and_exit_codes() {
    let output = exporter().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = text(&output.stdout);
    assert!(
        help.contains("Examples:") && help.contains("3 nothing matched"),
        "{help}"
    );
    let export_help = text(&exporter().args(["export", "--help"]).output().unwrap().stdout);
    for flag in [
        "--namespace",
        "--all-namespaces",
        "--selector",
        "--field-selector",
        "--since-time",
        "--tail",
        "--previous",
        "--limit-bytes",
        "--max-streams",
        "--exclude-container",
    ] {
        assert!(export_help.contains(flag), "export --help lacks {flag}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let output = exporter().args(["export", "--sink", "file"]).output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "--sink file needs --dir: {}",
        text(&output.stderr)
    );
    let output = exporter().args(["export", "--since", "yesterday"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn stdout_text_is_prefixed_and_json_has_metadata() {
    let server = shop().await;
    let dir = tempfile::tempdir().unwrap();
    let output = run(&server, dir.path(), &["export", "-n", "shop", "-c", "app"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "shop/web-0/app app 0\nshop/web-0/app app 1\nshop/web-0/app app 2\n"
    );

    let output = run(
        &server,
        dir.path(),
        &["export", "-n", "shop", "-E", "app", "-o", "json"],
    )
    .await;
    let records: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["container"], "proxy");
    assert_eq!(records[0]["labels"]["app"], "web");
    assert_eq!(records[0]["timestamp"], "2026-11-23T10:00:00.000000000Z");
    assert_eq!(records[1]["message"], "proxy 1");
}

#[tokio::test(flavor = "multi_thread")]
async fn file_sink_writes_one_file_per_container_equal_to_the_api() {
    let server = shop().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = run(
        &server,
        dir.path(),
        &["export", "-n", "shop", "--sink", "file", "--dir", out.to_str().unwrap()],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let app = std::fs::read(out.join("shop/web-0/app.log")).unwrap();
    assert_eq!(app, render(&lines(start(), 3, |i| format!("app {i}")), true));
    let proxy = std::fs::read(out.join("shop/web-0/proxy.log")).unwrap();
    assert_eq!(proxy, render(&lines(start(), 2, |i| format!("proxy {i}")), true));

    // A second export resumes from the checkpoint beside the files: nothing new, nothing twice.
    assert!(out.join(".kube-log-exporter-checkpoint.json").is_file());
    let again = &["export", "-n", "shop", "--sink", "file", "--dir", out.to_str().unwrap()];
    let output = run(&server, dir.path(), again).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(std::fs::read(out.join("shop/web-0/app.log")).unwrap(), app);

    // Without a checkpoint, every export appends what the API has.
    let output = run(&server, dir.path(), &[&again[..], &["--checkpoint", "none"]].concat()).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        std::fs::read(out.join("shop/web-0/app.log")).unwrap(),
        [&app[..], &app[..]].concat()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn label_values_cannot_escape_the_output_directory() {
    let server = FakeApiServer::start().await;
    server.add_pod(
        FakePod::new("shop", "evil")
            .label("team", "../../escaped")
            .container(FakeContainer::new("app").logs(lines(start(), 1, |_| "x"))),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = run(
        &server,
        dir.path(),
        &[
            "export",
            "-n",
            "shop",
            "--sink",
            "file",
            "--dir",
            out.to_str().unwrap(),
            "--layout",
            "{label:team}/{container}.log",
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(!dir.path().join("escaped").exists());
    let written: Vec<_> = walk(&out)
        .into_iter()
        // The exporter's own files (checkpoint, length journal) are not log files.
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".kube-log-exporter"))
        })
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(written[0].starts_with(&out), "{written:?}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_matched_exits_3() {
    let server = shop().await;
    let dir = tempfile::tempdir().unwrap();
    let output = run(&server, dir.path(), &["export", "-n", "shop", "^api-"]).await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("no container matched in namespace(s) shop in pods matching /^api-/"),
        "{}",
        text(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forbidden_exits_4_naming_the_permission_and_printing_rbac() {
    let server = shop().await;
    server.set_user("system:serviceaccount:logging:kle");
    server.inject(Fault::pod_list().status(403).always());
    let dir = tempfile::tempdir().unwrap();
    let output = run(&server, dir.path(), &["export", "-n", "shop"]).await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("cannot list pods in namespace \"shop\""), "{stderr}");
    assert!(
        stderr.contains("kind: Role\n") && stderr.contains("kind: RoleBinding"),
        "{stderr}"
    );
    assert!(
        stderr.contains("name: kle\n") && stderr.contains("namespace: logging"),
        "the subject from the 403: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forbidden_log_exits_4_too() {
    let server = shop().await;
    server.inject(Fault::pod_log("shop", "web-0").status(403).always());
    let dir = tempfile::tempdir().unwrap();
    let output = run(&server, dir.path(), &["export", "-n", "shop"]).await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("cannot get pods/log in namespace \"shop\""),
        "{}",
        text(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kubeconfig_problems_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad");
    std::fs::write(&bad, "clusters: [oops\n").unwrap();
    let output = exporter()
        .arg("--kubeconfig")
        .arg(&bad)
        .args(["export"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains(&bad.display().to_string()),
        "{}",
        text(&output.stderr)
    );

    let server = shop().await;
    let output = run(&server, dir.path(), &["--context", "staging", "export"]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("context \"staging\" not found") && text(&output.stderr).contains("fake"),
        "{}",
        text(&output.stderr)
    );

    let output = exporter()
        .args(["--kubeconfig", "/nonexistent/config", "export"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("does not exist"),
        "{}",
        text(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_api_server_fails_with_a_clear_error() {
    let server = shop().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig, "fake").unwrap();
    server.shutdown().await;
    let output = tokio::task::spawn_blocking(move || {
        let run = |extra: &[&str]| {
            exporter()
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .args(["export", "-n", "shop"])
                .args(extra)
                .output()
                .unwrap()
        };
        (run(&[]), run(&["--no-preflight"]))
    })
    .await
    .unwrap();
    let (preflight, no_preflight) = output;
    assert_eq!(preflight.status.code(), Some(1));
    let stderr = text(&preflight.stderr);
    assert!(
        stderr.contains("cannot check permissions") && stderr.to_lowercase().contains("connect"),
        "the preflight names what failed and why: {stderr}"
    );
    assert_eq!(no_preflight.status.code(), Some(1));
    assert!(
        text(&no_preflight.stderr).contains("listing pods in shop"),
        "{}",
        text(&no_preflight.stderr)
    );
}

#[test]
fn rbac_for_all_namespaces_is_a_cluster_role() {
    let output = exporter()
        .args([
            "rbac",
            "-A",
            "--follow",
            "--service-account",
            "kle",
            "--sa-namespace",
            "logging",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let yaml = text(&output.stdout);
    assert!(
        yaml.contains("\nkind: ClusterRole\n") && yaml.contains("\nkind: ClusterRoleBinding\n"),
        "{yaml}"
    );
    assert!(yaml.contains("- watch") && yaml.contains("pods/log"), "{yaml}");
    assert!(!yaml.contains("\nkind: Role\n"), "{yaml}");
    assert!(
        !yaml.contains("secrets") && !yaml.contains("'*'"),
        "least privilege: {yaml}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_reports_denied_permissions() {
    let server = shop().await;
    server.set_access_policy(
        kle_tests::fake_api::AccessPolicy::allow_all().rule(
            kle_tests::fake_api::AccessRule::deny()
                .resource("pods/log")
                .namespace("shop"),
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let output = run(&server, dir.path(), &["check", "-n", "shop"]).await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output.stdout));
    let table = text(&output.stdout);
    assert!(
        table.lines().any(|l| l.starts_with("NO") && l.contains("pods/log")),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.starts_with("yes") && l.contains("list")),
        "{table}"
    );
    assert!(
        text(&output.stderr).contains("cannot get pods/log in namespace \"shop\""),
        "{}",
        text(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rbac_for_a_denial_grants_only_the_namespaces_that_lack_something() {
    let server = shop().await;
    server.add_pod(FakePod::new("cart", "api-0").container(FakeContainer::new("app").logs(lines(start(), 1, |_| "x"))));
    server.set_access_policy(
        kle_tests::fake_api::AccessPolicy::allow_all().rule(
            kle_tests::fake_api::AccessRule::deny()
                .resource("pods/log")
                .namespace("cart"),
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let output = run(&server, dir.path(), &["check", "-n", "shop", "-n", "cart"]).await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("namespace: cart"), "{stderr}");
    assert!(!stderr.contains("namespace: shop"), "shop lacks nothing: {stderr}");
}

/// Mistakes a user can make on the command line exit 2 naming the flag, before any request.
#[tokio::test(flavor = "multi_thread")]
async fn usage_mistakes_exit_2_without_contacting_the_api_server() {
    let server = shop().await;
    let dir = tempfile::tempdir().unwrap();
    let mistakes: [(&[&str], &str); 6] = [
        (&["export", "-n", "shop", "web-(", "-o", "raw"], "pod query"),
        (&["--http-version", "3", "export", "-n", "shop"], "--http-version"),
        (&["export", "-n", "shop", "--exclude-pod", "["], "--exclude-pod"),
        (&["export", "-n", "shop", "-c", "a{2,1}"], "--container"),
        (&["check", "-n", "shop", "-E", "("], "--exclude-container"),
        (
            &["export", "-n", "shop", "-o", "template", "--template", "{nope}"],
            "{nope}",
        ),
    ];
    for (args, named) in mistakes {
        server.clear_requests();
        let output = run(&server, dir.path(), args).await;
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?} should name {named}: {stderr}");
        assert!(
            server.requests().is_empty(),
            "{args:?} contacted the API server: {:?}",
            server.requests()
        );
    }
}

/// Label and field selectors out of the API's syntax exit 2 naming the flag and what is wrong,
/// before any request (the API server would have refused them only after connecting).
#[tokio::test(flavor = "multi_thread")]
async fn malformed_selectors_exit_2_without_contacting_the_api_server() {
    let server = shop().await;
    let dir = tempfile::tempdir().unwrap();
    let mistakes: [(&[&str], &[&str]); 6] = [
        (
            &["export", "-n", "shop", "-l", "app in (web"],
            &["-l/--selector", "app in (web", "expected: ',' or ')'"],
        ),
        (
            &["export", "-n", "shop", "--selector", "app=web=x"],
            &["-l/--selector", "expected: ',' or 'end of string'"],
        ),
        (
            &["check", "-n", "shop", "-l", "Team.Example/app=web"],
            &["-l/--selector", "RFC 1123 subdomain"],
        ),
        (
            &["export", "-n", "shop", "-l", "app=web/api"],
            &["-l/--selector", "a valid label must be"],
        ),
        (
            &["export", "-n", "shop", "--field-selector", "status.phase"],
            &["--field-selector", "can't understand 'status.phase'"],
        ),
        (
            &["export", "-n", "shop", "--field-selector", "spec.nodeName=a\\x"],
            &["--field-selector", "invalid escape sequence"],
        ),
    ];
    for (args, named) in mistakes {
        server.clear_requests();
        let output = run(&server, dir.path(), args).await;
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        for named in named {
            assert!(stderr.contains(named), "{args:?} should say {named}: {stderr}");
        }
        assert!(
            server.requests().is_empty(),
            "{args:?} contacted the API server: {:?}",
            server.requests()
        );
    }
    // The same selectors, well formed, reach the server.
    server.clear_requests();
    let output = run(
        &server,
        dir.path(),
        &["export", "-n", "shop", "-l", "app in (web)", "-o", "raw"],
    )
    .await;
    assert!(!server.requests().is_empty(), "{}", text(&output.stderr));
}

/// A sharded follow's mistakes exit 2 saying what to do, before any request.
#[tokio::test(flavor = "multi_thread")]
async fn shard_mistakes_exit_2_without_contacting_the_api_server() {
    let server = shop().await;
    let dir = tempfile::tempdir().unwrap();
    let s3: &[&str] = &["--sink", "s3", "--s3-url", "s3://logs/k8s"];
    let mistakes: [(Vec<&str>, &str); 6] = [
        (
            [&["export", "-n", "shop", "--shards", "4"], s3].concat(),
            "use `kube-log-exporter follow`",
        ),
        (
            vec![
                "follow", "-n", "shop", "--shards", "4", "--sink", "file", "--dir", "out",
            ],
            "needs the object sink",
        ),
        (
            [&["follow", "-n", "shop", "--shards", "4", "--checkpoint", "none"], s3].concat(),
            "needs a checkpoint",
        ),
        (
            [&["follow", "-n", "shop", "--shards", "0"], s3].concat(),
            "between 1 and",
        ),
        (
            [
                &["follow", "-n", "shop", "--shards", "4", "--shard-group", "Logs_1"],
                s3,
            ]
            .concat(),
            "shard group \"Logs_1\"",
        ),
        (
            [&["follow", "-n", "shop", "--shard-group", "logs"], s3].concat(),
            "add --shards N",
        ),
    ];
    for (args, named) in mistakes {
        server.clear_requests();
        let output = run(&server, dir.path(), &args).await;
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?} should say {named:?}: {stderr}");
        assert!(
            server.requests().is_empty(),
            "{args:?} contacted the API server: {:?}",
            server.requests()
        );
    }
}

/// The exporter's own log, read through a pipe (as `kubectl logs` and collectors read it):
/// no colour escapes; with `--log-format json`, one JSON object per line.
#[tokio::test(flavor = "multi_thread")]
async fn logs_in_a_pipe_have_no_escapes_and_json_logs_parse() {
    let server = shop().await;
    let dir = tempfile::tempdir().unwrap();
    let output = run(&server, dir.path(), &["export", "-n", "shop", "-o", "raw", "-v"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("INFO"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "escape codes in a pipe: {stderr:?}");

    let output = run(
        &server,
        dir.path(),
        &["export", "-n", "shop", "-o", "raw", "--log-format", "json"],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}")))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["level"] == "INFO" && e["message"] == "export finished" && e["lines"] == 5),
        "{stderr}"
    );
    assert!(events.iter().all(|e| e["timestamp"].is_string()), "{stderr}");
}
