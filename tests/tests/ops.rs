//! Operating the built binary: configuration files, dry runs, completions and man page, the
//! metrics endpoint of a follow, and stopping a follow with SIGTERM (flushed, checkpointed,
//! bounded by the grace period). Against the fake API server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use kle_tests::binary::{exporter, run_against as run};
use kle_tests::fake_api::{FakeApiServer, FakeContainer, FakePod, LogLine, lines, lines_every, render};
use kle_tests::process::free_port;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn start() -> Timestamp {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `count` lines of container `app`, one second apart from `first`.
fn app_lines(first: usize, count: usize) -> Vec<LogLine> {
    let from = start().checked_add(SignedDuration::from_secs(first as i64)).unwrap();
    lines_every(from, SignedDuration::from_secs(1), count, move |i| {
        format!("app {}", first + i)
    })
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

fn kubeconfig(server: &FakeApiServer, dir: &Path) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    server.write_kubeconfig(&path, "fake").unwrap();
    path
}

/// Starts the exporter in the background.
fn spawn(server: &FakeApiServer, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Child {
    exporter()
        .arg("--kubeconfig")
        .arg(kubeconfig(server, dir))
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (bounded) for the exporter to exit.
async fn wait(child: Child) -> Output {
    let waiting = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap());
    tokio::time::timeout(Duration::from_secs(60), waiting)
        .await
        .expect("the exporter exits after SIGTERM")
        .unwrap()
}

fn sigterm(child: &Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// `GET path` on the metrics endpoint: the status code and the body; `None` while nothing listens.
async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.ok()?;
    let response = text(&response);
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// The value of the first sample of `name` in a Prometheus text body.
fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.split([' ', '{']).next() == Some(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Polls `check` every 50 ms until it returns `Some`, for at most 30 s.
async fn until<T, F: Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    for _ in 0..600 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Waits until the exporter's metrics say it wrote at least `lines` lines; returns the body.
async fn written(port: u16, lines: f64) -> String {
    until(&format!("{lines} lines written"), || async move {
        let (_, body) = get(port, "/metrics").await?;
        (sample(&body, "kle_lines_total")? >= lines).then_some(body)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn config_errors_name_the_line_and_the_key_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("namespaces: [shop]\nmax_streams: lots\n", "line 2", "max_streams"),
        ("namespaces: [shop]\nsince: 1h\ntial: 10\n", "line 3", "tial"),
        (
            "sink:\n  type: file\n  dir: out\n  layout: \"{nope}\"\n",
            "line 4",
            "sink.layout",
        ),
        ("checkpoint: bucket:x\n", "line 1", "configmap:[NAMESPACE/]NAME"),
    ];
    for (yaml, line, key) in cases {
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, yaml).unwrap();
        let output = exporter()
            .args(["export", "--config", path.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{yaml}: {stderr}");
        assert!(
            stderr.contains("config.yaml") && stderr.contains(line) && stderr.contains(key),
            "{yaml}: {stderr}"
        );
    }
    let output = exporter()
        .args(["export", "--config", dir.path().join("missing.yaml").to_str().unwrap()])
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(0));
    assert!(
        text(&output.stderr).contains("missing.yaml"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn the_example_config_is_complete_and_valid() {
    let output = exporter().args(["config", "example"]).output().unwrap();
    assert!(output.status.success());
    let example = text(&output.stdout);
    for key in [
        "namespaces:",
        "selector:",
        "since:",
        "checkpoint:",
        "grace_period:",
        "sink:",
        "type: s3",
    ] {
        assert!(example.contains(key), "the example lacks {key}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.yaml");
    std::fs::write(&path, &output.stdout).unwrap();
    let check = exporter()
        .args(["config", "check", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(text(&check.stdout).contains("ok"), "{}", text(&check.stdout));
}

#[tokio::test(flavor = "multi_thread")]
async fn flags_override_the_config_file() {
    let server = shop().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let config = dir.path().join("kle.yaml");
    std::fs::write(
        &config,
        format!(
            "namespaces: [elsewhere]\ncontainers: proxy\ncheckpoint: none\nsink:\n  type: file\n  dir: {}\n  layout: \"{{pod}}/{{container}}.txt\"\n",
            out.display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();

    // The file alone: namespace `elsewhere` has nothing.
    let output = run(&server, dir.path(), &["export", "--config", config]).await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("elsewhere"), "{}", text(&output.stderr));

    // `-n` replaces the file's namespaces; the file's container filter and sink stay.
    let output = run(&server, dir.path(), &["export", "--config", config, "-n", "shop"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let proxy = std::fs::read(out.join("web-0/proxy.txt")).unwrap();
    assert_eq!(proxy, render(&lines(start(), 2, |i| format!("proxy {i}")), true));
    assert!(!out.join("web-0/app.txt").exists(), "containers: proxy applies");

    // `-c` and `--layout` replace the file's; `-o json` changes the file sink's format.
    let output = run(
        &server,
        dir.path(),
        &[
            "export",
            "--config",
            config,
            "-n",
            "shop",
            "-c",
            "app",
            "--layout",
            "{container}.ndjson",
            "-o",
            "json",
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let app = text(&std::fs::read(out.join("app.ndjson")).unwrap());
    let records: Vec<serde_json::Value> = app.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 3);
    assert_eq!(records[2]["message"], "app 2");

    // `--sink stdout` replaces the file's sink altogether.
    let output = run(
        &server,
        dir.path(),
        &["export", "--config", config, "-n", "shop", "--sink", "stdout"],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "shop/web-0/proxy proxy 0\nshop/web-0/proxy proxy 1\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_lists_containers_and_destinations_without_reading_logs() {
    let server = shop().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    server.clear_requests();
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
            "--dry-run",
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let app = out.join("shop/web-0/app.log");
    let proxy = out.join("shop/web-0/proxy.log");
    assert!(
        stdout.contains(&format!("shop/web-0/app -> {}", app.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("shop/web-0/proxy -> {}", proxy.display())),
        "{stdout}"
    );
    assert!(stdout.contains("2 container(s)"), "{stdout}");
    assert!(!out.exists(), "a dry run writes nothing");
    assert!(
        !server.requests().iter().any(|r| r.is_pod_log()),
        "a dry run reads no log"
    );

    let output = run(
        &server,
        dir.path(),
        &[
            "export",
            "-n",
            "shop",
            "--sink",
            "s3",
            "--s3-url",
            "s3://logs/a",
            "-c",
            "app",
            "--dry-run",
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("shop/web-0/app -> s3://logs/a/shop/web-0/app/"),
        "{stdout}"
    );
    assert!(stdout.contains(".log.zst"), "{stdout}");

    let output = run(&server, dir.path(), &["export", "-n", "nowhere", "--dry-run"]).await;
    assert_eq!(output.status.code(), Some(3));
}

#[test]
fn completions_and_man_page_come_from_the_flags() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = exporter().args(["completions", shell]).output().unwrap();
        assert!(output.status.success(), "{shell}: {}", text(&output.stderr));
        let script = text(&output.stdout);
        assert!(
            script.contains("kube-log-exporter") && script.contains("follow") && script.contains("max-streams"),
            "{shell}: {script}"
        );
    }
    let output = exporter().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));

    let output = exporter().arg("man").output().unwrap();
    assert!(output.status.success());
    let man = text(&output.stdout);
    assert!(
        man.contains(".TH kube-log-exporter 1"),
        "{}",
        &man[..man.len().min(500)]
    );
    for page in ["kube\\-log\\-exporter\\-export", "kube\\-log\\-exporter\\-follow"] {
        assert!(man.contains(page), "the man page lacks {page}");
    }
    for flag in [
        "\\-\\-since\\-time",
        "\\-\\-config",
        "\\-\\-grace\\-period",
        "\\-\\-metrics\\-addr",
    ] {
        assert!(man.contains(flag), "the man page lacks {flag}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follow_serves_metrics_health_and_readiness() {
    let server = FakeApiServer::start().await;
    server.add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(app_lines(0, 4))));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = spawn(
        &server,
        dir.path(),
        &["follow", "-n", "shop", "-o", "json", "--metrics-addr", &addr],
        &[],
    );
    let (status, body) = until("/healthz", || get(port, "/healthz")).await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    until("/readyz to answer 200", || async {
        (get(port, "/readyz").await?.0 == 200).then_some(())
    })
    .await;

    let body = written(port, 4.0).await;
    assert_eq!(sample(&body, "kle_streams_active"), Some(1.0), "{body}");
    assert_eq!(sample(&body, "kle_streams_queued"), Some(0.0), "{body}");
    assert!(body.contains("kle_lines_total{sink=\"stdout\"} 4"), "{body}");
    let bytes = render(&app_lines(0, 4), true).len() as f64;
    assert_eq!(sample(&body, "kle_bytes_total"), Some(bytes), "{body}");
    for name in [
        "kle_gaps_total",
        "kle_reconnects_total",
        "kle_sink_errors_total",
        "kle_checkpoint_lag_seconds",
    ] {
        assert!(sample(&body, name).is_some(), "{name} missing: {body}");
    }

    // New lines show up in the counters while the follow runs; commits happen.
    server.append_log("shop", "web-0", "app", app_lines(4, 3));
    let body = written(port, 7.0).await;
    assert_eq!(sample(&body, "kle_lines_total"), Some(7.0), "{body}");
    let body = until("a commit", || async {
        let (_, body) = get(port, "/metrics").await?;
        (sample(&body, "kle_commits_total")? >= 1.0).then_some(body)
    })
    .await;
    assert_eq!(sample(&body, "kle_checkpoint_lag_seconds"), Some(0.0), "{body}");
    let (status, _) = get(port, "/nope").await.unwrap();
    assert_eq!(status, 404);

    // A dropped log stream reconnects and says so; nothing is written twice.
    server.disconnect_all();
    server.append_log("shop", "web-0", "app", app_lines(7, 1));
    let body = until("a reconnect", || async {
        let (_, body) = get(port, "/metrics").await?;
        (sample(&body, "kle_reconnects_total")? >= 1.0 && sample(&body, "kle_lines_total")? >= 8.0).then_some(body)
    })
    .await;
    assert_eq!(sample(&body, "kle_lines_total"), Some(8.0), "{body}");
    assert_eq!(sample(&body, "kle_streams_active"), Some(1.0), "{body}");

    sigterm(&child);
    let output = wait(child).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_follow_commits_and_checkpoints_every_line_received() {
    let server = FakeApiServer::start().await;
    server.add_pod(
        FakePod::new("shop", "web-0")
            .container(FakeContainer::new("app").logs(app_lines(0, 5)))
            .container(FakeContainer::new("side").logs(lines(start(), 2, |i| format!("side {i}")))),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let checkpoint = dir.path().join("checkpoint.json");
    let port = free_port();
    let child = spawn(
        &server,
        dir.path(),
        &[
            "follow",
            "-n",
            "shop",
            "--sink",
            "file",
            "--dir",
            out.to_str().unwrap(),
            "--checkpoint",
            &format!("file:{}", checkpoint.display()),
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ],
        &[],
    );
    written(port, 7.0).await;
    // Lines received just before the signal, most likely not yet committed (every second).
    server.append_log("shop", "web-0", "app", app_lines(5, 4));
    written(port, 11.0).await;
    sigterm(&child);
    let output = wait(child).await;
    assert!(output.status.success(), "{}", text(&output.stderr));

    // Every line received is in the files...
    let app = std::fs::read(out.join("shop/web-0/app.log")).unwrap();
    assert_eq!(text(&app), text(&render(&app_lines(0, 9), true)));
    let side = std::fs::read(out.join("shop/web-0/side.log")).unwrap();
    assert_eq!(side, render(&lines(start(), 2, |i| format!("side {i}")), true));

    // ...and the checkpoint's cursors are the files' last lines.
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&checkpoint).unwrap()).unwrap();
    let entries = saved["containers"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{saved}");
    for (container, file) in [("app", &app), ("side", &side)] {
        let entry = entries.iter().find(|e| e["container"] == container).unwrap();
        let last_line = text(file).lines().last().unwrap().to_owned();
        let last: Timestamp = last_line.split(' ').next().unwrap().parse().unwrap();
        let at_last = text(file)
            .lines()
            .filter(|l| l.starts_with(&format!("{} ", last_line.split(' ').next().unwrap())))
            .count();
        let cursor: Timestamp = entry["cursor"]["timestamp"].as_str().unwrap().parse().unwrap();
        assert_eq!(cursor, last, "{container}: {saved}");
        assert_eq!(entry["cursor"]["lines_at_timestamp"], at_last, "{container}: {saved}");
    }

    // A resumed follow writes nothing twice.
    let port = free_port();
    server.append_log("shop", "web-0", "app", app_lines(9, 1));
    let args = [
        "follow",
        "-n",
        "shop",
        "--sink",
        "file",
        "--dir",
        out.to_str().unwrap(),
        "--checkpoint",
        &format!("file:{}", checkpoint.display()),
        "--metrics-addr",
        &format!("127.0.0.1:{port}"),
    ];
    let child = spawn(&server, dir.path(), &args, &[]);
    written(port, 1.0).await;
    sigterm(&child);
    let output = wait(child).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let app = std::fs::read(out.join("shop/web-0/app.log")).unwrap();
    assert_eq!(text(&app), text(&render(&app_lines(0, 10), true)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_that_outlasts_the_grace_period_is_abandoned_with_exit_1() {
    let server = FakeApiServer::start().await;
    server.add_pod(FakePod::new("shop", "web-0").container(FakeContainer::new("app").logs(app_lines(0, 3))));
    let dir = tempfile::tempdir().unwrap();
    // An S3 endpoint where nothing listens, retried for minutes: the final upload cannot finish.
    let config = dir.path().join("kle.yaml");
    std::fs::write(
        &config,
        format!(
            "checkpoint: none\ngrace_period: 1s\nsink:\n  type: s3\n  url: s3://logs/a\n  endpoint: http://127.0.0.1:{}\n  allow_http: true\n  max_retries: 1000\n  retry_timeout_secs: 600\n  max_object_age_secs: 3600\n",
            free_port()
        ),
    )
    .unwrap();
    let port = free_port();
    let child = spawn(
        &server,
        dir.path(),
        &[
            "follow",
            "-n",
            "shop",
            "--config",
            config.to_str().unwrap(),
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    written(port, 3.0).await;
    sigterm(&child);
    let output = wait(child).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("grace period (1s)"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn output_templates_render_metadata_and_messages() {
    let server = shop().await;
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        &server,
        dir.path(),
        &[
            "export",
            "-n",
            "shop",
            "-c",
            "app",
            "-o",
            "template",
            "--template",
            "{{{label:app}}} {pod}/{container}@{timestamp}: {message}",
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let expected: String = lines(start(), 3, |i| format!("app {i}"))
        .iter()
        .map(|l| {
            let rendered = text(&l.rendered(true));
            let (ts, message) = rendered.trim_end().split_once(' ').unwrap();
            format!("{{web}} web-0/app@{ts}: {message}\n")
        })
        .collect();
    assert_eq!(text(&output.stdout), expected);

    // From a configuration file too.
    let config = dir.path().join("kle.yaml");
    std::fs::write(
        &config,
        "sink:\n  type: stdout\n  format: template\n  template: \"{container}> {message}\"\n",
    )
    .unwrap();
    let output = run(
        &server,
        dir.path(),
        &[
            "export",
            "-n",
            "shop",
            "-c",
            "proxy",
            "--config",
            config.to_str().unwrap(),
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "proxy> proxy 0\nproxy> proxy 1\n");

    // Mistakes are usage errors that say what exists.
    let output = run(
        &server,
        dir.path(),
        &[
            "export",
            "-n",
            "shop",
            "-o",
            "template",
            "--template",
            "{hash} {message}",
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("{timestamp}"), "{}", text(&output.stderr));
    let output = exporter().args(["export", "-o", "template"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "-o template needs --template");
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
            "x",
            "-o",
            "template",
            "--template",
            "{message}",
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
}

/// Runs the exporter with a terminal (util-linux `script` gives it a pty); the output mixes
/// stdout and stderr as a terminal shows them.
async fn run_on_a_terminal(server: &FakeApiServer, dir: &Path, args: &[&str]) -> String {
    let kubeconfig = kubeconfig(server, dir);
    let binary = kle_tests::binary::exporter_binary();
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut command = format!(
        "{} --kubeconfig {}",
        quote(&binary.to_string_lossy()),
        quote(&kubeconfig.to_string_lossy())
    );
    for arg in args {
        command.push(' ');
        command.push_str(&quote(arg));
    }
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env_remove("RUST_LOG")
            .env_remove("KUBECONFIG")
            .output()
            .expect("util-linux `script` runs the exporter on a pseudo-terminal")
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", text(&output.stdout));
    text(&output.stdout)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminal_gets_a_summary_table_unless_quiet() {
    let server = shop().await;
    server.add_pod(
        FakePod::new("web", "front-0")
            .container(FakeContainer::new("nginx").logs(lines(start(), 4, |i| format!("GET /{i}")))),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let args = [
        "export",
        "-A",
        "--sink",
        "file",
        "--dir",
        out.to_str().unwrap(),
        "--checkpoint",
        "none",
    ];
    let screen = run_on_a_terminal(&server, dir.path(), &args).await;
    let table: Vec<Vec<&str>> = screen
        .lines()
        .skip_while(|l| !l.contains("NAMESPACE"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(!table.is_empty(), "no table in {screen:?}");
    assert_eq!(
        table[0],
        ["NAMESPACE", "CONTAINERS", "LINES", "BYTES", "GAPS"],
        "{screen:?}"
    );
    let shop_bytes = render(&lines(start(), 3, |i| format!("app {i}")), true).len()
        + render(&lines(start(), 2, |i| format!("proxy {i}")), true).len();
    assert_eq!(
        table[1],
        ["shop", "2", "5", &shop_bytes.to_string(), "B", "0"],
        "{screen:?}"
    );
    assert_eq!(table[2][..3], ["web", "1", "4"], "{screen:?}");
    assert_eq!(table[3][..3], ["total", "3", "9"], "{screen:?}");

    let quiet = run_on_a_terminal(&server, dir.path(), &[&args[..], &["-q"]].concat()).await;
    assert!(!quiet.contains("NAMESPACE"), "{quiet:?}");
    // Not a terminal: no table either.
    let output = run(&server, dir.path(), &args).await;
    assert!(!text(&output.stderr).contains("NAMESPACE"), "{}", text(&output.stderr));
}
