//! End-to-end: the built `kube-log-exporter` against the real test cluster (`tests/cluster/`).
//!
//! Every test is `#[ignore]`d: plain `cargo test` reports them as ignored. `scripts/test.sh`
//! brings the cluster up, applies the fixtures and runs them with `--ignored`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use kle_tests::binary::exporter;
use kle_tests::testbed::{FIXTURES_NAMESPACE as NS, Testbed, assert_between, one_timestamp_per_line};

fn run(testbed: &Testbed, args: &[&str]) -> Output {
    exporter()
        .arg("--kubeconfig")
        .arg(testbed.kubeconfig())
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn job_pod(testbed: &Testbed) -> String {
    let name = testbed.kubectl(&[
        "get",
        "pods",
        "-n",
        NS,
        "-l",
        "job-name=job-complete",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    text(&name)
}

#[test]
#[ignore = "needs the test cluster: scripts/test.sh runs it"]
fn export_all_namespaces_to_files_equals_kubectl_logs() {
    let testbed = Testbed::from_env();
    let job = job_pod(&testbed);
    let containers: Vec<(String, &str)> = vec![
        ("burst".into(), "burst"),
        ("counter".into(), "counter"),
        ("two-containers".into(), "alpha"),
        ("two-containers".into(), "beta"),
        ("with-init".into(), "main"),
        ("weird-bytes".into(), "weird"),
        (job, "job"),
    ];
    // The weird-bytes line of 1 MiB is stored in parts: the files hold it with one timestamp.
    let before: Vec<Vec<u8>> = containers
        .iter()
        .map(|(pod, c)| one_timestamp_per_line(&testbed.logs(NS, pod, c, false)))
        .collect();
    let out = tempfile::tempdir().unwrap();

    let output = run(
        &testbed,
        &["export", "-A", "--sink", "file", "--dir", out.path().to_str().unwrap()],
    );
    assert!(output.status.success(), "export failed: {}", text(&output.stderr));

    let mut checked_lines = 0;
    for ((pod, container), before) in containers.iter().zip(&before) {
        let path = out.path().join(NS).join(pod).join(format!("{container}.log"));
        let exported = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let after = one_timestamp_per_line(&testbed.logs(NS, pod, container, false));
        assert_between(&format!("{pod}/{container}"), before, &exported, &after);
        checked_lines += exported.iter().filter(|&&b| b == b'\n').count();
    }
    // Finished output must be complete and exact.
    let burst = std::fs::read(out.path().join(NS).join("burst/burst.log")).unwrap();
    assert_eq!(text(&burst).lines().count(), 5000);
    let weird = std::fs::read(out.path().join(NS).join("weird-bytes/weird.log")).unwrap();
    assert!(
        weird.windows(4).any(|w| w == b"\xff\xfe b"),
        "invalid UTF-8 kept byte for byte"
    );
    assert!(weird.len() > 1024 * 1024, "the 1 MiB line is there");
    eprintln!("checked {checked_lines} exported lines against kubectl logs --timestamps");
}

#[test]
#[ignore = "needs the test cluster: scripts/test.sh runs it"]
fn json_output_carries_pod_metadata() {
    let testbed = Testbed::from_env();
    let output = run(&testbed, &["export", "-n", NS, "^burst$", "-o", "json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let records: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 5000);
    let first = &records[0];
    assert_eq!(first["namespace"], NS);
    assert_eq!(first["pod"], "burst");
    assert_eq!(first["container"], "burst");
    assert_eq!(first["node"], "testnode");
    assert_eq!(first["labels"]["kle.test/fixture"], "burst");
    assert_eq!(first["message"], "burst 1");
    assert_eq!(records[4999]["message"], "burst 5000");
    let kubectl = text(&testbed.logs(NS, "burst", "burst", false));
    let first_ts = kubectl.split(' ').next().unwrap();
    assert_eq!(first["timestamp"], first_ts, "the API's timestamp, as written");
}

#[test]
#[ignore = "needs the test cluster: scripts/test.sh runs it"]
fn init_containers_on_request() {
    let testbed = Testbed::from_env();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let output = run(
        &testbed,
        &[
            "export",
            "-n",
            NS,
            "^with-init$",
            "--init-containers",
            "--sink",
            "file",
            "--dir",
            dir,
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let init = std::fs::read(out.path().join(NS).join("with-init/init.log")).unwrap();
    assert_eq!(init, testbed.logs(NS, "with-init", "init", false));
    assert_eq!(text(&init).lines().count(), 3);
}

#[test]
#[ignore = "needs the test cluster: scripts/test.sh runs it"]
fn previous_instance_of_a_crashing_container() {
    let testbed = Testbed::from_env();
    // The crasher restarts with a growing back-off; retry if it restarted during the comparison.
    for _ in 0..5 {
        let before = testbed.logs(NS, "crasher", "crasher", true);
        let output = run(
            &testbed,
            &["export", "-n", NS, "^crasher$", "-p", "-o", "raw", "--timestamps"],
        );
        assert!(output.status.success(), "{}", text(&output.stderr));
        let after = testbed.logs(NS, "crasher", "crasher", true);
        if before == after {
            assert_eq!(text(&output.stdout), text(&before));
            assert_eq!(text(&before).lines().count(), 5);
            return;
        }
    }
    panic!("the crasher restarted during every one of 5 attempts");
}

#[test]
#[ignore = "needs the test cluster: scripts/test.sh runs it"]
fn follow_streams_a_pod_created_after_it_started() {
    let testbed = Testbed::from_env();
    // The API server offers h2: HTTP/2 is negotiated (and said in the debug log); 1.1 as asked.
    for (version, namespace, said) in [
        ("2", "kle-e2e-follow", "HTTP/2 connection opened"),
        ("1.1", "kle-e2e-follow-h1", ""),
    ] {
        testbed.fresh_namespace(namespace);
        let mut follow = exporter()
            .arg("--kubeconfig")
            .arg(testbed.kubeconfig())
            .args(["--http-version", version])
            .args(["follow", "-n", namespace, "-o", "raw", "--timestamps"])
            .env("RUST_LOG", "warn,kle_auth=debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs(2));
        testbed.kubectl_output(&["apply", "-f", "-"], Some(late_pod(namespace).as_bytes()));

        let stdout = read_until_lines(&mut follow, 30, Duration::from_secs(120));
        let _ = follow.kill();
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut follow.stderr.take().unwrap(), &mut stderr).unwrap();
        let _ = follow.wait();
        let exported = follow_output_lines(&stdout, 30);
        let kubectl = testbed.logs(namespace, "late", "late", false);
        assert_eq!(text(&exported), text(&kubectl[..exported.len().min(kubectl.len())]));
        assert_eq!(text(&exported).lines().count(), 30, "HTTP/{version}");
        if said.is_empty() {
            assert!(!stderr.contains("HTTP/2 connection"), "HTTP/{version}: {stderr}");
        } else {
            assert!(stderr.contains(said), "HTTP/{version}: {stderr}");
        }
        testbed.kubectl_output(&["delete", "namespace", namespace, "--wait=false"], None);
    }
}

fn late_pod(namespace: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: late, namespace: {namespace}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: late
    image: kle.local/busybox:1
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", "i=1; while [ $i -le 30 ]; do echo late $i; i=$((i+1)); usleep 100000; done; exec sleep 2147483647"]
"#
    )
}

/// Reads a child's stdout on a thread until `lines` newlines arrived or `timeout` passed.
fn read_until_lines(child: &mut Child, lines: usize, timeout: Duration) -> Vec<u8> {
    use std::io::Read;
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    while got.iter().filter(|&&b| b == b'\n').count() < lines {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => got.extend(chunk),
            Err(_) => break,
        }
    }
    got
}

fn follow_output_lines(stdout: &[u8], lines: usize) -> Vec<u8> {
    let text = text(stdout);
    let mut out: String = text.lines().take(lines).collect::<Vec<_>>().join("\n");
    out.push('\n');
    out.into_bytes()
}

#[test]
#[ignore = "needs the test cluster: scripts/test.sh runs it"]
fn missing_permissions_are_explained_and_the_printed_rbac_fixes_them() {
    let testbed = Testbed::from_env();
    let sa = "kle-e2e-reader";
    cleanup_rbac(&testbed, sa);
    testbed.kubectl(&["create", "serviceaccount", sa, "-n", NS]);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = testbed.service_account_kubeconfig(NS, sa, dir.path());
    let as_sa = |args: &[&str]| {
        exporter()
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(args)
            .output()
            .unwrap()
    };

    let denied = as_sa(&["export", "-n", NS, "^burst$", "-o", "raw"]);
    assert_eq!(
        denied.status.code(),
        Some(4),
        "exit code for permission denied: {}",
        text(&denied.stderr)
    );
    let stderr = text(&denied.stderr);
    assert!(stderr.contains("cannot list pods in namespace \"kle-e2e\""), "{stderr}");
    assert!(
        stderr.contains("kind: Role") && stderr.contains("pods/log"),
        "the fixing RBAC is printed: {stderr}"
    );
    assert!(denied.stdout.is_empty());

    let check = as_sa(&["check", "-n", NS]);
    assert_eq!(check.status.code(), Some(4), "{}", text(&check.stdout));
    assert!(text(&check.stdout).contains("NO"), "{}", text(&check.stdout));

    let rbac = run(
        &testbed,
        &["rbac", "-n", NS, "--service-account", sa, "--sa-namespace", NS],
    );
    assert!(rbac.status.success());
    let applied = testbed.kubectl_output(&["apply", "-f", "-"], Some(&rbac.stdout));
    assert!(applied.status.success(), "{}", text(&applied.stderr));

    // RBAC reaches the authorizer's cache within moments.
    let deadline = Instant::now() + Duration::from_secs(30);
    let allowed = loop {
        let output = as_sa(&["export", "-n", NS, "^burst$", "-o", "raw"]);
        if output.status.success() || Instant::now() > deadline {
            break output;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(allowed.status.success(), "{}", text(&allowed.stderr));
    assert_eq!(text(&allowed.stdout).lines().count(), 5000);
    let check = as_sa(&["check", "-n", NS]);
    assert!(check.status.success(), "{}", text(&check.stdout));
    cleanup_rbac(&testbed, sa);
}

fn cleanup_rbac(testbed: &Testbed, sa: &str) {
    for kind in ["rolebinding", "role", "serviceaccount"] {
        testbed.kubectl_output(&["delete", kind, sa, "-n", NS, "--ignore-not-found"], None);
    }
}

#[test]
#[ignore = "needs the test cluster: scripts/test.sh runs it"]
fn exit_codes_for_nothing_matched_and_a_bad_selector() {
    let testbed = Testbed::from_env();
    let none = run(&testbed, &["export", "-n", NS, "^no-such-pod$"]);
    assert_eq!(none.status.code(), Some(3), "{}", text(&none.stderr));
    assert!(
        text(&none.stderr).contains("no container matched"),
        "{}",
        text(&none.stderr)
    );
    let bad = run(&testbed, &["export", "-n", NS, "-l", "app in (web"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    assert!(text(&bad.stderr).contains("-l/--selector"), "{}", text(&bad.stderr));
    let unknown = run(&testbed, &["export", "-n", NS, "--field-selector", "spec.foo=bar"]);
    assert_eq!(unknown.status.code(), Some(1), "{}", text(&unknown.stderr));
    assert!(
        text(&unknown.stderr).contains("rejected the selector"),
        "{}",
        text(&unknown.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the test cluster and s3s-fs: scripts/test.sh runs it"]
async fn export_to_s3_equals_kubectl_logs() {
    use kle_tests::s3::{ACCESS_KEY, S3Server, SECRET_KEY};
    let testbed = Testbed::from_env();
    let server = S3Server::start();
    server.create_bucket("e2e");
    let containers = [
        ("burst", "burst"),
        ("two-containers", "alpha"),
        ("two-containers", "beta"),
        ("weird-bytes", "weird"),
    ];
    let before: Vec<Vec<u8>> = containers
        .iter()
        .map(|(pod, c)| one_timestamp_per_line(&testbed.logs(NS, pod, c, false)))
        .collect();
    let kubeconfig = testbed.kubeconfig().clone();
    let endpoint = server.endpoint();
    let output = tokio::task::spawn_blocking(move || {
        exporter()
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", "us-east-1")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["export", "-n", NS, "--sink", "s3", "--s3-url", "s3://e2e/cluster"])
            .args(["--s3-endpoint", &endpoint, "--s3-allow-http"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "export failed: {}", text(&output.stderr));

    let objects = server.objects("e2e").await;
    for ((pod, container), before) in containers.iter().zip(&before) {
        let prefix = format!("cluster/{NS}/{pod}/{container}/");
        let exported: Vec<u8> = objects
            .iter()
            .filter(|(key, _)| key.starts_with(&prefix))
            .flat_map(|(_, bytes)| bytes.clone())
            .collect();
        let after = one_timestamp_per_line(&testbed.logs(NS, pod, container, false));
        assert_between(&format!("{pod}/{container}"), before, &exported, &after);
    }
    let burst = objects.keys().filter(|k| k.contains("/burst/burst/")).count();
    assert_eq!(burst, 1, "a one-shot export makes one object per container");
}
