//! End-to-end, in the cluster: the exporter runs as a pod under a ServiceAccount with the RBAC
//! `kube-log-exporter rbac` generated, on the real test cluster (`tests/cluster/`).
//!
//! The image is built from the release binary without a Docker daemon and imported into the
//! cluster's containerd by `tests/cluster/exporter-image.sh` (cached by the binary's hash).
//! Job pods use `hostNetwork` and `KUBERNETES_SERVICE_HOST=127.0.0.1` (no kube-proxy on the
//! testbed) and write with the file sink to a hostPath directory this test reads back: the
//! test runs as root on the single node.
//!
//! Every test is `#[ignore]`d like `e2e.rs`; `scripts/test.sh` runs them with `--ignored`.
//! Each test uses its own `kle-rbac-*` namespaces and deletes them when it ends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kle_tests::binary::exporter;
use kle_tests::testbed::Testbed;

const SA: &str = "kle-exporter";
const PRINTER_LINES: usize = 300;
/// A CronJob on `*/1` fires at the next minute; the 1.20 controller checks every 10 s.
const JOB_TIMEOUT: Duration = Duration::from_secs(200);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The exporter image, built and imported once per test process.
fn image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        if let Ok(image) = std::env::var("KLE_E2E_EXPORTER_IMAGE") {
            return image;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster/exporter-image.sh");
        let started = Instant::now();
        let output = Command::new(&script).output().expect("running exporter-image.sh");
        assert!(
            output.status.success(),
            "{} failed: {}",
            script.display(),
            text(&output.stderr)
        );
        let image = text(&output.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_owned();
        eprintln!("exporter image {image} ready in {:.1?}", started.elapsed());
        image
    })
}

/// Namespaces created for one test and deleted when it ends, pass or fail.
struct Namespaces<'a> {
    testbed: &'a Testbed,
    names: Vec<String>,
    host_dir: PathBuf,
}

impl<'a> Namespaces<'a> {
    fn create(testbed: &'a Testbed, names: &[&str]) -> Self {
        for name in names {
            // A leftover from an interrupted run: start clean.
            testbed.kubectl_output(&["delete", "namespace", name, "--wait=true", "--timeout=90s"], None);
            testbed.kubectl(&["create", "namespace", name]);
        }
        for name in names {
            wait_for(
                &format!("the default ServiceAccount of {name}"),
                Duration::from_secs(60),
                || {
                    testbed
                        .kubectl_output(&["get", "serviceaccount", "default", "-n", name], None)
                        .status
                        .success()
                },
            );
        }
        let host_dir = std::env::temp_dir().join(format!("{}-{}", names[0], std::process::id()));
        let _ = std::fs::remove_dir_all(&host_dir);
        std::fs::create_dir_all(&host_dir).unwrap();
        Self {
            testbed,
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            host_dir,
        }
    }
}

impl Drop for Namespaces<'_> {
    fn drop(&mut self) {
        for name in &self.names {
            self.testbed
                .kubectl_output(&["delete", "namespace", name, "--wait=false"], None);
        }
        let _ = std::fs::remove_dir_all(&self.host_dir);
    }
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn apply(testbed: &Testbed, yaml: &str) {
    let applied = testbed.kubectl_output(&["apply", "-f", "-"], Some(yaml.as_bytes()));
    assert!(
        applied.status.success(),
        "kubectl apply failed: {}\n{yaml}",
        text(&applied.stderr)
    );
}

/// A pod that prints `printer 1` .. `printer 300`, then sleeps; waits until all are logged.
fn printer(testbed: &Testbed, namespace: &str) {
    apply(
        testbed,
        &format!(
            r#"apiVersion: v1
kind: Pod
metadata: {{name: printer, namespace: {namespace}, labels: {{kle-rbac/fixture: printer}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: printer
    image: kle.local/busybox:1
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", "i=1; while [ $i -le {PRINTER_LINES} ]; do echo printer $i; i=$((i+1)); done; exec sleep 2147483647"]
"#
        ),
    );
}

fn wait_for_printers(testbed: &Testbed, namespaces: &[&str]) {
    for namespace in namespaces {
        wait_for(
            &format!("printer in {namespace} to log {PRINTER_LINES} lines"),
            Duration::from_secs(120),
            || {
                let output = testbed.kubectl_output(&["logs", "-n", namespace, "printer"], None);
                output.status.success() && text(&output.stdout).lines().count() == PRINTER_LINES
            },
        );
    }
}

/// The output of `kube-log-exporter rbac` (run from outside the cluster, as a user would).
fn generated_rbac(args: &[&str]) -> String {
    let output = exporter().arg("rbac").args(args).output().unwrap();
    assert!(output.status.success(), "rbac failed: {}", text(&output.stderr));
    text(&output.stdout)
}

/// The pod spec every exporter job uses: the ServiceAccount, the testbed's way to the API
/// server, the hostPath `/out`.
fn exporter_pod_spec(host_dir: &Path, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    format!(
        r#"serviceAccountName: {SA}
          restartPolicy: Never
          hostNetwork: true
          terminationGracePeriodSeconds: 1
          containers:
          - name: exporter
            image: {image}
            imagePullPolicy: Never
            args: [{args}]
            env:
            - {{name: KUBERNETES_SERVICE_HOST, value: "127.0.0.1"}}
            - {{name: KUBERNETES_SERVICE_PORT, value: "6443"}}
            volumeMounts:
            - {{name: out, mountPath: /out}}
          volumes:
          - name: out
            hostPath: {{path: {dir:?}, type: Directory}}"#,
        image = image(),
        args = args.join(", "),
        dir = host_dir.display().to_string(),
    )
}

fn job(namespace: &str, name: &str, host_dir: &Path, args: &[&str]) -> String {
    format!(
        r#"apiVersion: batch/v1
kind: Job
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  backoffLimit: 0
  template:
    metadata: {{labels: {{kle-rbac/exporter: {name}}}}}
    spec:
      {spec}
"#,
        spec = exporter_pod_spec(host_dir, args).replace("\n    ", "\n")
    )
}

fn cron_job(namespace: &str, name: &str, host_dir: &Path, args: &[&str]) -> String {
    format!(
        r#"apiVersion: batch/v1beta1
kind: CronJob
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  schedule: "*/1 * * * *"
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      backoffLimit: 0
      template:
        metadata: {{labels: {{kle-rbac/exporter: {name}}}}}
        spec:
          {spec}
"#,
        spec = exporter_pod_spec(host_dir, args)
    )
}

/// How a job pod ended.
#[derive(Debug)]
struct Ended {
    exit_code: i64,
    log: String,
}

/// Waits for the first pod labelled `kle-rbac/exporter=<name>` to terminate; returns its exit
/// code and its log (stdout and stderr).
fn wait_for_exporter_pod(testbed: &Testbed, namespace: &str, name: &str) -> Ended {
    let selector = format!("kle-rbac/exporter={name}");
    let deadline = Instant::now() + JOB_TIMEOUT;
    loop {
        let pods: serde_json::Value =
            serde_json::from_slice(&testbed.kubectl(&["get", "pods", "-n", namespace, "-l", &selector, "-o", "json"]))
                .unwrap();
        let terminated = pods["items"].as_array().into_iter().flatten().find_map(|pod| {
            let state = &pod["status"]["containerStatuses"][0]["state"]["terminated"];
            Some((
                pod["metadata"]["name"].as_str()?.to_owned(),
                state["exitCode"].as_i64()?,
            ))
        });
        if let Some((pod, exit_code)) = terminated {
            let log = text(&testbed.kubectl(&["logs", "-n", namespace, &pod]));
            return Ended { exit_code, log };
        }
        assert!(
            Instant::now() < deadline,
            "no exporter pod {selector} in {namespace} terminated within {JOB_TIMEOUT:?}: {}",
            text(&testbed.kubectl(&["get", "jobs,pods", "-n", namespace, "-o", "wide"]))
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
#[ignore = "needs the test cluster: scripts/test.sh runs it"]
fn cron_job_under_the_generated_rbac_exports_exactly_what_kubectl_logs_shows() {
    let testbed = Testbed::from_env();
    let ns = "kle-rbac-cron";
    let namespaces = Namespaces::create(&testbed, &[ns]);
    printer(&testbed, ns);
    apply(
        &testbed,
        &generated_rbac(&["-n", ns, "--service-account", SA, "--sa-namespace", ns]),
    );
    wait_for_printers(&testbed, &[ns]);
    // No -n and no --auth: auto picks the in-cluster ServiceAccount, and its namespace file
    // is the default namespace.
    apply(
        &testbed,
        &cron_job(
            ns,
            "export",
            &namespaces.host_dir,
            &[
                "export",
                "-l",
                "kle-rbac/fixture=printer",
                "--sink",
                "file",
                "--dir",
                "/out",
            ],
        ),
    );
    let ended = wait_for_exporter_pod(&testbed, ns, "export");
    testbed.kubectl_output(&["delete", "cronjob", "export", "-n", ns], None);
    assert_eq!(ended.exit_code, 0, "the export job failed:\n{}", ended.log);
    assert!(
        ended
            .log
            .contains(&format!("in-cluster ServiceAccount (namespace {ns})")),
        "authenticated in-cluster: {}",
        ended.log
    );

    let path = namespaces.host_dir.join(ns).join("printer/printer.log");
    let exported = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), ended.log));
    let kubectl = testbed.logs(ns, "printer", "printer", false);
    assert_eq!(
        text(&exported),
        text(&kubectl),
        "exported file vs kubectl logs --timestamps"
    );
    let lines = text(&exported).lines().count();
    assert_eq!(lines, PRINTER_LINES);
    eprintln!("checked {lines} lines exported by a CronJob pod against kubectl logs --timestamps");
}

#[test]
#[ignore = "needs the test cluster: scripts/test.sh runs it"]
fn without_the_binding_the_job_fails_with_the_preflight_message_and_its_rbac_fixes_it() {
    let testbed = Testbed::from_env();
    let ns = "kle-rbac-unbound";
    let namespaces = Namespaces::create(&testbed, &[ns]);
    printer(&testbed, ns);
    testbed.kubectl(&["create", "serviceaccount", SA, "-n", ns]);
    wait_for_printers(&testbed, &[ns]);
    let args = [
        "export",
        "-l",
        "kle-rbac/fixture=printer",
        "--sink",
        "file",
        "--dir",
        "/out",
    ];

    apply(&testbed, &job(ns, "denied", &namespaces.host_dir, &args));
    let denied = wait_for_exporter_pod(&testbed, ns, "denied");
    assert_eq!(denied.exit_code, 4, "exit code for permission denied:\n{}", denied.log);
    assert!(
        denied
            .log
            .contains(&format!("permission denied:\n  cannot list pods in namespace \"{ns}\"")),
        "the preflight names the missing permission:\n{}",
        denied.log
    );
    assert!(
        !namespaces.host_dir.join(ns).exists(),
        "nothing is exported when the preflight fails"
    );

    // The RBAC it prints names the pod's own ServiceAccount; applied, the same job succeeds.
    let (_, fix) = denied
        .log
        .split_once("(kubectl apply -f -):\n")
        .unwrap_or_else(|| panic!("no RBAC printed:\n{}", denied.log));
    assert!(
        fix.contains("kind: RoleBinding") && fix.contains(&format!("name: {SA}")),
        "{fix}"
    );
    apply(&testbed, fix);
    apply(&testbed, &job(ns, "allowed", &namespaces.host_dir, &args));
    let allowed = wait_for_exporter_pod(&testbed, ns, "allowed");
    assert_eq!(allowed.exit_code, 0, "with the printed RBAC:\n{}", allowed.log);
    let exported = std::fs::read(namespaces.host_dir.join(ns).join("printer/printer.log")).unwrap();
    assert_eq!(text(&exported), text(&testbed.logs(ns, "printer", "printer", false)));
}

/// A real attempt, as the ServiceAccount, of what one `check` row is about.
fn really_allowed(testbed: &Testbed, user: &str, verb: &str, resource: &str, namespace: &str) -> bool {
    let path = match (verb, resource) {
        ("list", "pods") => format!("/api/v1/namespaces/{namespace}/pods?limit=1"),
        ("watch", "pods") => format!("/api/v1/namespaces/{namespace}/pods?watch=true&timeoutSeconds=1"),
        ("get", "pods") => format!("/api/v1/namespaces/{namespace}/pods/printer"),
        ("get", "pods/log") => format!("/api/v1/namespaces/{namespace}/pods/printer/log?tailLines=1"),
        other => panic!("no real attempt for {other:?}"),
    };
    let output = testbed.kubectl_output(&["get", "--raw", &path, "--as", user], None);
    if output.status.success() {
        return true;
    }
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("Forbidden") || stderr.contains("forbidden"),
        "{verb} {resource} in {namespace} failed for another reason: {stderr}"
    );
    false
}

#[test]
#[ignore = "needs the test cluster: scripts/test.sh runs it"]
fn a_role_for_one_namespace_reports_the_other_as_not_permitted_and_check_matches_the_api_server() {
    let testbed = Testbed::from_env();
    let (a, b) = ("kle-rbac-one-a", "kle-rbac-one-b");
    let namespaces = Namespaces::create(&testbed, &[a, b]);
    printer(&testbed, a);
    printer(&testbed, b);
    apply(
        &testbed,
        &generated_rbac(&["-n", a, "--follow", "--service-account", SA, "--sa-namespace", a]),
    );
    wait_for_printers(&testbed, &[a, b]);
    let dir = &namespaces.host_dir;
    let both = ["-n", a, "-n", b, "-l", "kle-rbac/fixture=printer"];
    let export: Vec<&str> = ["export"]
        .iter()
        .chain(&both)
        .chain(&["--sink", "file", "--dir", "/out"])
        .copied()
        .collect();
    let unchecked: Vec<&str> = export.iter().copied().chain(["--no-preflight"]).collect();
    let check: Vec<&str> = ["check", "--follow"].iter().chain(&both).copied().collect();
    apply(&testbed, &job(a, "both", dir, &export));
    apply(&testbed, &job(a, "unchecked", dir, &unchecked));
    apply(&testbed, &job(a, "check", dir, &check));

    let forbidden_b = format!("cannot list pods in namespace \"{b}\"");
    for name in ["both", "unchecked"] {
        let ended = wait_for_exporter_pod(&testbed, a, name);
        assert_eq!(ended.exit_code, 4, "{name}: not permitted, not skipped:\n{}", ended.log);
        assert!(ended.log.contains(&forbidden_b), "{name}:\n{}", ended.log);
        assert!(
            !ended.log.contains(&format!("namespace \"{a}\"")),
            "{name}: nothing denied in {a}:\n{}",
            ended.log
        );
    }

    let ended = wait_for_exporter_pod(&testbed, a, "check");
    assert_eq!(ended.exit_code, 4, "check with a permission missing:\n{}", ended.log);
    let user = format!("system:serviceaccount:{a}:{SA}");
    let mut rows = 0;
    let mut denied = 0;
    for line in ended.log.lines().skip_while(|l| !l.starts_with("ALLOWED")).skip(1) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        let [allowed, verb, resource, namespace] = cells[..] else {
            break;
        };
        let said = match allowed {
            "yes" => true,
            "NO" => false,
            other => panic!("ALLOWED column {other:?} in {line:?}"),
        };
        assert_eq!(
            said,
            really_allowed(&testbed, &user, verb, resource, namespace),
            "check says {allowed} for {verb} {resource} in {namespace}; the API server disagrees"
        );
        assert_eq!(said, namespace == a, "the Role grants {a} only: {line}");
        rows += 1;
        denied += usize::from(!said);
    }
    assert_eq!(
        rows, 8,
        "list/watch/get pods and get pods/log in two namespaces:\n{}",
        ended.log
    );
    assert_eq!(denied, 4);
    eprintln!("{rows} check rows agree with real requests as {user}");
}
