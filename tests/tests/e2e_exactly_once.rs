//! End-to-end, on the real test cluster: every line exactly once across cron-like runs,
//! SIGKILLed runs, container restarts between runs, deleted pods (reported as gaps) and an API
//! server and kubelet restarted under a follow.
//!
//! The workloads print numbered lines of bounded total size (no kubelet rotation can happen
//! during a test), so every check is exact: the files hold lines 1..N of each container, each
//! once, in order, byte for byte what `kubectl logs --timestamps` shows.
//! `#[ignore]`d like every e2e test; `scripts/test.sh` runs them against the cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use kle_tests::binary::exporter;
use kle_tests::testbed::{KillRng, Testbed, restart_component};

const STEADY_LINES: usize = 1500;
const BURST_LINES: usize = 20_000;
const PAIR_LINES: usize = 600;

fn pod_yaml(namespace: &str, name: &str, containers: &[(&str, String)]) -> String {
    let mut yaml = format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n"
    );
    for (container, script) in containers {
        yaml.push_str(&format!(
            "  - name: {container}\n    image: kle.local/busybox:1\n    imagePullPolicy: Never\n    command: [\"/bin/sh\", \"-c\", {script:?}]\n"
        ));
    }
    yaml
}

/// `<label> 1` .. `<label> <count>`, ten lines per pause (`usleep` is a process of its own, and
/// a loaded node forks slowly), then idle.
fn numbered(label: &str, count: usize, pause_us: u32) -> String {
    format!(
        "i=1; while [ $i -le {count} ]; do echo {label} $i; i=$((i+1)); \
         if [ $((i % 10)) -eq 1 ]; then usleep {pause_us}; fi; done; exec sleep 2147483647"
    )
}

fn workloads(namespace: &str) -> String {
    let pod = |name: &str, containers: &[(&str, String)]| pod_yaml(namespace, name, containers);
    [
        // ~30 s of steady logging: runs start while it is mid-way.
        pod("steady", &[("steady", numbered("steady", STEADY_LINES, 200_000))]),
        // Everything at once: many lines per pipe read, so many share one timestamp.
        pod(
            "burst",
            &[(
                "burst",
                format!("seq 1 {BURST_LINES} | sed 's/^/burst /'; exec sleep 2147483647"),
            )],
        ),
        pod(
            "pair",
            &[
                ("alpha", numbered("alpha", PAIR_LINES, 400_000)),
                ("beta", numbered("beta", PAIR_LINES, 400_000)),
            ],
        ),
    ]
    .concat()
}

const CONTAINERS: [(&str, &str, usize); 4] = [
    ("steady", "steady", STEADY_LINES),
    ("burst", "burst", BURST_LINES),
    ("pair", "alpha", PAIR_LINES),
    ("pair", "beta", PAIR_LINES),
];

fn export_command(testbed: &Testbed, namespace: &str, dir: &Path, extra: &[&str]) -> std::process::Command {
    let mut command = exporter();
    command
        .arg("--kubeconfig")
        .arg(testbed.kubeconfig())
        .args(["export", "-n", namespace, "--sink", "file", "--dir"])
        .arg(dir)
        .args(extra);
    command
}

fn export(testbed: &Testbed, namespace: &str, dir: &Path, extra: &[&str]) -> Output {
    export_command(testbed, namespace, dir, extra).output().unwrap()
}

fn file_of(dir: &Path, namespace: &str, pod: &str, container: &str) -> PathBuf {
    dir.join(namespace).join(pod).join(format!("{container}.log"))
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

/// The numbers of `<label> <n>` lines (with or without a timestamp before), in order.
fn numbers(bytes: &[u8], label: &str) -> Vec<usize> {
    let prefix = format!("{label} ");
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|line| {
            let message = match line.split_once(' ') {
                Some((first, rest)) if first.parse::<jiff::Timestamp>().is_ok() => rest,
                _ => line,
            };
            message.strip_prefix(&prefix)?.trim().parse().ok()
        })
        .collect()
}

/// Every line of the container's log exported once, in order, byte for byte.
fn assert_exact(testbed: &Testbed, namespace: &str, dir: &Path, pod: &str, container: &str, total: usize) -> usize {
    let exported = read(&file_of(dir, namespace, pod, container));
    let kubectl = testbed.logs(namespace, pod, container, false);
    let label = format!("{pod}/{container}");
    assert_eq!(
        numbers(&exported, container),
        (1..=total).collect::<Vec<_>>(),
        "{label}: lines 1..{total} once each, in order"
    );
    if exported != kubectl {
        // Say where: the first line that differs, and both sides of it.
        let (ours, theirs) = (String::from_utf8_lossy(&exported), String::from_utf8_lossy(&kubectl));
        let first = ours.lines().zip(theirs.lines()).position(|(a, b)| a != b);
        let at = first.unwrap_or_else(|| ours.lines().count().min(theirs.lines().count()));
        panic!(
            "{label}: the file differs from kubectl logs --timestamps at line {}: exported {:?}, kubectl {:?} \
             ({} and {} bytes)",
            at + 1,
            ours.lines().nth(at),
            theirs.lines().nth(at),
            exported.len(),
            kubectl.len()
        );
    }
    total
}

fn wait_until_logged(testbed: &Testbed, namespace: &str) {
    for (pod, container, total) in CONTAINERS {
        testbed.wait_for(
            &format!("{pod}/{container} to print {total} lines"),
            Duration::from_secs(180),
            || {
                let log = testbed.kubectl_output(&["logs", "-n", namespace, pod, "-c", container, "--tail", "1"], None);
                numbers(&log.stdout, container).last() == Some(&total)
            },
        );
    }
}

fn start_workloads(testbed: &Testbed, namespace: &str) {
    testbed.fresh_namespace(namespace);
    testbed.apply(&workloads(namespace));
    testbed.wait_for("the workloads to run", Duration::from_secs(120), || {
        CONTAINERS
            .iter()
            .all(|(pod, _, _)| testbed.pod_field(namespace, pod, "{.status.phase}") == "Running")
    });
}

#[test]
#[ignore = "needs the test cluster: scripts/test.sh runs it"]
fn cron_like_runs_export_every_line_exactly_once() {
    let testbed = Testbed::from_env();
    let namespace = "kle-e2e-cron";
    start_workloads(&testbed, namespace);
    let out = tempfile::tempdir().unwrap();

    // Runs every ~2 s while `steady` and `pair` keep logging, like a CronJob on a short schedule.
    let mut runs = 0;
    loop {
        let output = export(&testbed, namespace, out.path(), &[]);
        assert!(
            output.status.success(),
            "run {runs} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        runs += 1;
        let steady = numbers(&read(&file_of(out.path(), namespace, "steady", "steady")), "steady");
        if steady.last() == Some(&STEADY_LINES) && runs >= 3 {
            break;
        }
        assert!(runs < 300, "steady never finished logging");
        std::thread::sleep(Duration::from_secs(2));
    }
    wait_until_logged(&testbed, namespace);
    let output = export(&testbed, namespace, out.path(), &["--fail-on-gap"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let checked: usize = CONTAINERS
        .iter()
        .map(|(pod, container, total)| assert_exact(&testbed, namespace, out.path(), pod, container, *total))
        .sum();
    eprintln!("{runs} cron-like runs; checked {checked} lines exactly once");
    testbed.kubectl_output(&["delete", "namespace", namespace, "--wait=false"], None);
}

#[test]
#[ignore = "needs the test cluster: scripts/test.sh runs it"]
fn sigkilled_runs_resume_exactly_once() {
    let testbed = Testbed::from_env();
    let namespace = "kle-e2e-kill";
    start_workloads(&testbed, namespace);
    wait_until_logged(&testbed, namespace);
    let trials: usize = std::env::var("KLE_E2E_KILL_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut rng = KillRng::seeded();
    let (mut kills, mut killed_mid_run, mut checked) = (0, 0, 0);
    for trial in 0..trials {
        let out = tempfile::tempdir().unwrap();
        // One to three runs killed at a random moment, then one that completes.
        for _ in 0..=rng.below(3) {
            let mut child = export_command(&testbed, namespace, out.path(), &[])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(20 + rng.below(500)));
            kills += 1;
            if matches!(child.try_wait(), Ok(None)) {
                killed_mid_run += 1;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let output = export(&testbed, namespace, out.path(), &["--fail-on-gap"]);
        assert!(
            output.status.success(),
            "trial {trial}: the resuming run failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        for (pod, container, total) in CONTAINERS {
            checked += assert_exact(&testbed, namespace, out.path(), pod, container, total);
        }
    }
    eprintln!("{trials} trials, {kills} SIGKILLs ({killed_mid_run} mid-run); checked {checked} lines exactly once");
    assert!(
        killed_mid_run > 0,
        "no kill landed during a run: the trial proved nothing"
    );
    testbed.kubectl_output(&["delete", "namespace", namespace, "--wait=false"], None);
}

fn restarter(namespace: &str) -> String {
    // Each run of the container prints 5 numbered lines, lingers, exits 0 and is restarted by
    // the kubelet; the run number survives restarts in an emptyDir.
    let script = "r=$(cat /data/run 2>/dev/null || echo 0); r=$((r+1)); echo $r > /data/run; \
                  i=1; while [ $i -le 5 ]; do echo restarter run $r line $i; i=$((i+1)); usleep 200000; done; sleep 10";
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: restarter, namespace: {namespace}}}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{{name: data, emptyDir: {{}}}}]
  containers:
  - name: restarter
    image: kle.local/busybox:1
    imagePullPolicy: Never
    volumeMounts: [{{name: data, mountPath: /data}}]
    command: ["/bin/sh", "-c", {script:?}]
"#
    )
}

#[test]
#[ignore = "needs the test cluster: scripts/test.sh runs it"]
fn a_container_restarted_between_runs_has_both_instances_exported_once() {
    let testbed = Testbed::from_env();
    let namespace = "kle-e2e-restart";
    testbed.fresh_namespace(namespace);
    testbed.apply(&restarter(namespace));
    let restarts = || {
        testbed
            .pod_field(namespace, "restarter", "{.status.containerStatuses[0].restartCount}")
            .parse::<u32>()
            .unwrap_or(0)
    };
    testbed.wait_for("the first run's lines", Duration::from_secs(120), || {
        numbers(
            &testbed
                .kubectl_output(&["logs", "-n", namespace, "restarter"], None)
                .stdout,
            "restarter run 1 line",
        )
        .len()
            >= 2
    });
    let out = tempfile::tempdir().unwrap();
    let first = export(&testbed, namespace, out.path(), &[]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(restarts(), 0, "the export ran before the restart");
    let exported_first = read(&file_of(out.path(), namespace, "restarter", "restarter"));

    testbed.wait_for("a restart", Duration::from_secs(120), || restarts() == 1);
    testbed.wait_for("the second run's 5 lines", Duration::from_secs(60), || {
        numbers(
            &testbed
                .kubectl_output(&["logs", "-n", namespace, "restarter"], None)
                .stdout,
            "restarter run 2 line",
        )
        .len()
            == 5
    });
    let second = export(&testbed, namespace, out.path(), &["--fail-on-gap"]);
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    assert_eq!(restarts(), 1, "no second restart during the test");

    let previous = testbed.logs(namespace, "restarter", "restarter", true);
    let current = testbed.logs(namespace, "restarter", "restarter", false);
    let exported = read(&file_of(out.path(), namespace, "restarter", "restarter"));
    assert!(exported.starts_with(&exported_first));
    assert_eq!(
        String::from_utf8_lossy(&exported),
        String::from_utf8_lossy(&[previous, current].concat()),
        "the first run's lines, the rest of the old instance, then the new one, each once"
    );
    testbed.kubectl_output(&["delete", "namespace", namespace, "--wait=false"], None);
}

#[test]
#[ignore = "needs the test cluster: scripts/test.sh runs it"]
fn a_pod_deleted_between_runs_is_reported_as_a_gap_once() {
    let testbed = Testbed::from_env();
    let namespace = "kle-e2e-deleted";
    testbed.fresh_namespace(namespace);
    testbed.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: doomed, namespace: {namespace}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: doomed
    image: kle.local/busybox:1
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", "i=1; while true; do echo doomed $i; i=$((i+1)); usleep 50000; done"]
"#
    ));
    testbed.wait_for("doomed to log", Duration::from_secs(120), || {
        !testbed
            .kubectl_output(&["logs", "-n", namespace, "doomed"], None)
            .stdout
            .is_empty()
    });
    let out = tempfile::tempdir().unwrap();
    let first = export(&testbed, namespace, out.path(), &["--fail-on-gap"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    std::thread::sleep(Duration::from_secs(1));
    testbed.kubectl(&[
        "delete",
        "pod",
        "-n",
        namespace,
        "doomed",
        "--grace-period=0",
        "--force",
        "--wait=true",
    ]);

    let second = export(&testbed, namespace, out.path(), &["--fail-on-gap"]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(
        second.status.code(),
        Some(5),
        "exit code 5 for a gap with --fail-on-gap: {stderr}"
    );
    assert!(stderr.contains("doomed") && stderr.contains("deleted"), "{stderr}");
    let file = String::from_utf8_lossy(&read(&file_of(out.path(), namespace, "doomed", "doomed"))).into_owned();
    let last = file.lines().last().unwrap_or_default();
    assert!(
        last.contains("[kube-log-exporter] GAP:") && last.contains("deleted"),
        "{last}"
    );

    let third = export(&testbed, namespace, out.path(), &["--fail-on-gap"]);
    assert_eq!(
        third.status.code(),
        Some(3),
        "the gap was reported once; now nothing matches: {}",
        String::from_utf8_lossy(&third.stderr)
    );
    testbed.kubectl_output(&["delete", "namespace", namespace, "--wait=false"], None);
}

fn sigterm(child: &mut Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
#[ignore = "needs the test cluster: scripts/test.sh runs it"]
fn follow_survives_api_server_and_kubelet_restarts_without_loss_or_duplicates() {
    const SLOW_LINES: usize = 600;
    let testbed = Testbed::from_env();
    let namespace = "kle-e2e-restarts";
    start_workloads(&testbed, namespace);
    // Still logging (~60 s) while the API server and the kubelet go down and come back.
    testbed.apply(&pod_yaml(
        namespace,
        "slow",
        &[("slow", numbered("slow", SLOW_LINES, 1_000_000))],
    ));
    testbed.wait_for("slow to run", Duration::from_secs(120), || {
        testbed.pod_field(namespace, "slow", "{.status.phase}") == "Running"
    });
    let out = tempfile::tempdir().unwrap();
    let mut follow = exporter()
        .arg("--kubeconfig")
        .arg(testbed.kubeconfig())
        .args(["follow", "-n", namespace, "--sink", "file", "--dir"])
        .arg(out.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let slow = file_of(out.path(), namespace, "slow", "slow");
    // The file catches up with what the API shows now: the streams are (back) up.
    let catch_up = |after: &str| {
        let shown = numbers(&testbed.logs(namespace, "slow", "slow", false), "slow").len();
        testbed.wait_for(
            &format!("the follow to catch up after {after}"),
            Duration::from_secs(180),
            || numbers(&read(&slow), "slow").len() >= shown.max(10),
        );
    };
    catch_up("starting");
    restart_component("kube-apiserver");
    catch_up("the API server restart");
    restart_component("kubelet");
    catch_up("the kubelet restart");
    wait_until_logged(&testbed, namespace);
    let all = CONTAINERS
        .iter()
        .copied()
        .chain([("slow", "slow", SLOW_LINES)])
        .collect::<Vec<_>>();
    testbed.wait_for("the follow to deliver every line", Duration::from_secs(180), || {
        all.iter().all(|(pod, container, total)| {
            numbers(&read(&file_of(out.path(), namespace, pod, container)), container).len() >= *total
        })
    });
    sigterm(&mut follow);
    let status = follow.wait().unwrap();
    let mut stderr = String::new();
    use std::io::Read;
    let _ = follow.stderr.take().unwrap().read_to_string(&mut stderr);
    assert!(status.success(), "follow exits cleanly on SIGTERM: {status}\n{stderr}");
    let checked: usize = all
        .iter()
        .map(|(pod, container, total)| assert_exact(&testbed, namespace, out.path(), pod, container, *total))
        .sum();
    eprintln!("followed through an API server and a kubelet restart; checked {checked} lines exactly once");
    testbed.kubectl_output(&["delete", "namespace", namespace, "--wait=false"], None);
}

#[test]
#[ignore = "needs the test cluster: scripts/test.sh runs it"]
fn a_configmap_checkpoint_resumes_runs_without_a_volume() {
    let testbed = Testbed::from_env();
    let namespace = "kle-e2e-configmap";
    start_workloads(&testbed, namespace);
    wait_until_logged(&testbed, namespace);
    let checkpoint = format!("configmap:{namespace}/exporter-checkpoint");
    // Two output directories standing in for two CronJob pods' ephemeral disks.
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let run = |dir: &Path| {
        export(
            &testbed,
            namespace,
            dir,
            &["--checkpoint", &checkpoint, "--fail-on-gap"],
        )
    };
    let output = run(first.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let saved = testbed.kubectl(&[
        "get",
        "configmap",
        "-n",
        namespace,
        "exporter-checkpoint",
        "-o",
        "jsonpath={.data.checkpoint\\.json}",
    ]);
    assert!(
        String::from_utf8_lossy(&saved).contains("\"cursor\""),
        "the ConfigMap holds cursors"
    );
    let output = run(second.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    for (pod, container, total) in CONTAINERS {
        assert_exact(&testbed, namespace, first.path(), pod, container, total);
        assert!(
            numbers(&read(&file_of(second.path(), namespace, pod, container)), container).is_empty(),
            "{pod}/{container}: the second run found nothing new"
        );
    }
    testbed.kubectl_output(&["delete", "namespace", namespace, "--wait=false"], None);
}

/// Many log streams on a few HTTP/2 connections (the test cluster's API server allows 100
/// streams on one, as current ones do): the pool opens a connection per hundred streams, and
/// every stream resumes exactly once when the API server, then the kubelet, restarts.
#[test]
#[ignore = "needs the test cluster: scripts/test.sh runs it"]
fn hundreds_of_http2_streams_survive_api_server_and_kubelet_restarts_exactly_once() {
    const PODS: usize = 24;
    const CONTAINERS_PER_POD: usize = 10;
    const STREAMS: usize = PODS * CONTAINERS_PER_POD;
    // ~60 s of logging each, ten lines a second: the restarts come while many still log.
    const LINES: usize = 600;
    let testbed = Testbed::from_env();
    let namespace = "kle-e2e-h2-streams";
    testbed.fresh_namespace(namespace);
    let containers: Vec<(String, String)> = (0..CONTAINERS_PER_POD)
        .map(|c| (format!("c{c}"), numbered(&format!("c{c}"), LINES, 1_000_000)))
        .collect();
    let containers: Vec<(&str, String)> = containers
        .iter()
        .map(|(name, script)| (name.as_str(), script.clone()))
        .collect();
    let pods: Vec<String> = (0..PODS).map(|p| format!("p{p:02}")).collect();
    testbed.apply(
        &pods
            .iter()
            .map(|pod| pod_yaml(namespace, pod, &containers))
            .collect::<String>(),
    );
    testbed.wait_for(
        &format!("{STREAMS} containers to run"),
        Duration::from_secs(300),
        || testbed.running_pods(namespace) == PODS,
    );

    let out = tempfile::tempdir().unwrap();
    let log = out.path().join("exporter.log");
    let mut follow = exporter()
        .arg("--kubeconfig")
        .arg(testbed.kubeconfig())
        .args(["--http-version", "2"])
        .args([
            "follow",
            "-n",
            namespace,
            "--max-streams",
            "1000",
            "--sink",
            "file",
            "--dir",
        ])
        .arg(out.path().join("files"))
        .env("RUST_LOG", "warn,kle_auth=debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let files = out.path().join("files");
    let all: Vec<(String, String)> = pods
        .iter()
        .flat_map(|pod| (0..CONTAINERS_PER_POD).map(move |c| (pod.clone(), format!("c{c}"))))
        .collect();
    let exported =
        |pod: &str, container: &str| numbers(&read(&file_of(&files, namespace, pod, container)), container).len();
    // Every stream has delivered at least what one container in the middle shows now.
    let mut catch_up = |after: &str| {
        let shown = numbers(&testbed.logs(namespace, "p12", "c5", false), "c5").len();
        testbed.wait_for(
            &format!("all {STREAMS} streams to catch up after {after}"),
            Duration::from_secs(240),
            || {
                if let Some(status) = follow.try_wait().unwrap() {
                    panic!(
                        "the follow ended ({status}): {}",
                        std::fs::read_to_string(&log).unwrap()
                    );
                }
                exported("p12", "c5") >= shown.max(10)
                    && all.iter().all(|(pod, container)| exported(pod, container) > 0)
            },
        );
    };
    catch_up("starting");
    let opened = std::fs::read_to_string(&log).unwrap();
    restart_component("kube-apiserver");
    catch_up("the API server restart");
    restart_component("kubelet");
    catch_up("the kubelet restart");
    testbed.wait_for(
        &format!("{STREAMS} containers to log {LINES} lines"),
        Duration::from_secs(300),
        || {
            all.iter().all(|(pod, container)| {
                let last =
                    testbed.kubectl_output(&["logs", "-n", namespace, pod, "-c", container, "--tail", "1"], None);
                numbers(&last.stdout, container).last() == Some(&LINES)
            })
        },
    );
    testbed.wait_for("the follow to deliver every line", Duration::from_secs(240), || {
        all.iter().all(|(pod, container)| exported(pod, container) >= LINES)
    });
    sigterm(&mut follow);
    let status = follow.wait().unwrap();
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "follow exits cleanly on SIGTERM: {status}\n{stderr}");
    // What the follow warned of, to read beside a failure below.
    for warning in stderr.lines().filter(|line| line.contains("WARN")) {
        eprintln!("{warning}");
    }

    // Before the restarts: 241 streams (and the pod watch) on ceil(241 / 100) = 3 connections.
    let connections: Vec<usize> = opened
        .lines()
        .filter(|line| line.contains("HTTP/2 connection opened"))
        .filter_map(|line| {
            line.split("connections=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert!(opened.contains("stream_limit=100"), "{opened}");
    assert!(
        connections.iter().max().is_some_and(|&most| (3..=4).contains(&most)),
        "connections as they were opened: {connections:?}\n{opened}"
    );
    let checked: usize = all
        .iter()
        .map(|(pod, container)| assert_exact(&testbed, namespace, &files, pod, container, LINES))
        .sum();
    eprintln!(
        "{STREAMS} HTTP/2 streams on {} connections through an API server and a kubelet restart: \
         checked {checked} lines exactly once",
        connections.iter().max().unwrap_or(&0)
    );
    testbed.kubectl_output(&["delete", "namespace", namespace, "--wait=false"], None);
}
