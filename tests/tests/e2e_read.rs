//! End-to-end, on the real test cluster and a real S3 server (`s3s-fs`): an export to S3
//! SIGKILLed at random moments while containers log, resumed to the end; then
//! `kube-log-exporter read` prints each container's lines exactly once, byte for byte what
//! `kubectl logs --timestamps` shows.
//!
//! The S3 sink commits every second and rolls objects at 4 KiB, so killed runs leave
//! uploaded-but-uncommitted objects that the resumed runs cut at other points: the copies
//! `read` has to remove. `KLE_E2E_READ_KILLS` (default 12) sets the number of SIGKILLs,
//! `KLE_E2E_SEED` repeats a run's kill times. `#[ignore]`d like every e2e test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kle_tests::binary::exporter;
use kle_tests::s3::{ACCESS_KEY, S3Server, SECRET_KEY};
use kle_tests::testbed::{KillRng, Testbed};

const NAMESPACE: &str = "kle-e2e-read";
const STEADY_LINES: usize = 1200;
const BURST_LINES: usize = 20_000;
const PAIR_LINES: usize = 400;

const CONTAINERS: [(&str, &str, usize); 4] = [
    ("steady", "steady", STEADY_LINES),
    ("burst", "burst", BURST_LINES),
    ("pair", "alpha", PAIR_LINES),
    ("pair", "beta", PAIR_LINES),
];

fn pod_yaml(name: &str, containers: &[(&str, String)]) -> String {
    let mut yaml = format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {NAMESPACE}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n"
    );
    for (container, script) in containers {
        yaml.push_str(&format!(
            "  - name: {container}\n    image: kle.local/busybox:1\n    imagePullPolicy: Never\n    command: [\"/bin/sh\", \"-c\", {script:?}]\n"
        ));
    }
    yaml
}

/// `<label> 1` .. `<label> <count>`, ten lines per pause, then idle.
fn numbered(label: &str, count: usize, pause_us: u32) -> String {
    format!(
        "i=1; while [ $i -le {count} ]; do echo {label} $i; i=$((i+1)); \
         if [ $((i % 10)) -eq 1 ]; then usleep {pause_us}; fi; done; exec sleep 2147483647"
    )
}

fn workloads() -> String {
    [
        // About 25 s of steady logging: the kills land while it logs.
        pod_yaml("steady", &[("steady", numbered("steady", STEADY_LINES, 200_000))]),
        // Everything at once: many lines share one timestamp.
        pod_yaml(
            "burst",
            &[(
                "burst",
                format!("seq 1 {BURST_LINES} | sed 's/^/burst /'; exec sleep 2147483647"),
            )],
        ),
        pod_yaml(
            "pair",
            &[
                ("alpha", numbered("alpha", PAIR_LINES, 300_000)),
                ("beta", numbered("beta", PAIR_LINES, 300_000)),
            ],
        ),
    ]
    .concat()
}

fn with_s3(command: &mut Command, server: &S3Server) {
    command
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .args(["--s3-endpoint", &server.endpoint(), "--s3-allow-http"]);
}

fn export_command(testbed: &Testbed, server: &S3Server, extra: &[&str]) -> Command {
    let mut command = exporter();
    command
        .arg("--kubeconfig")
        .arg(testbed.kubeconfig())
        .args([
            "export",
            "-n",
            NAMESPACE,
            "--sink",
            "s3",
            "--s3-url",
            "s3://logs/archive",
        ])
        .args(["--max-object-bytes", "4096", "--max-object-age", "1s"])
        .args(["--lease-duration", "2s", "--wait-for-lock", "60s"])
        .args(extra);
    with_s3(&mut command, server);
    command
}

fn read(server: &S3Server, args: &[&str]) -> Output {
    let mut command = exporter();
    command.args(["read", "s3://logs/archive", "-q"]).args(args);
    with_s3(&mut command, server);
    command.output().unwrap()
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

fn wait_until_logged(testbed: &Testbed) {
    for (pod, container, total) in CONTAINERS {
        testbed.wait_for(
            &format!("{pod}/{container} to print {total} lines"),
            Duration::from_secs(180),
            || {
                let log = testbed.kubectl_output(&["logs", "-n", NAMESPACE, pod, "-c", container, "--tail", "1"], None);
                numbers(&log.stdout, container).last() == Some(&total)
            },
        );
    }
}

#[test]
#[ignore = "needs the test cluster and s3s-fs: scripts/test.sh runs it"]
fn read_prints_a_sigkilled_and_resumed_s3_export_exactly_once() {
    let testbed = Testbed::from_env();
    let server = S3Server::start();
    server.create_bucket("logs");
    testbed.fresh_namespace(NAMESPACE);
    testbed.apply(&workloads());
    testbed.wait_for("the workloads to run", Duration::from_secs(120), || {
        CONTAINERS
            .iter()
            .all(|(pod, _, _)| testbed.pod_field(NAMESPACE, pod, "{.status.phase}") == "Running")
    });
    let kills: usize = std::env::var("KLE_E2E_READ_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let mut rng = KillRng::seeded();
    let mut killed_running = 0;
    for _ in 0..kills {
        let mut child = export_command(&testbed, &server, &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // A killed run's hold lasts 2 s: the next run waits for it, then exports for a while. A
        // run that finds little new ends within a second or two, so kills come early enough
        // to land in runs (up to 4.3 s, 0 of 12 kills landed in one run of twelve).
        std::thread::sleep(Duration::from_millis(200 + rng.below(1800)));
        if matches!(child.try_wait(), Ok(None)) {
            killed_running += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    wait_until_logged(&testbed);
    let output = export_command(&testbed, &server, &["--fail-on-gap"]).output().unwrap();
    assert!(
        output.status.success(),
        "the resuming run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let objects = server.root().join("logs/archive").join(NAMESPACE);
    let (count, same_first, recut) = copies(&objects);
    eprintln!(
        "{kills} SIGKILLs ({killed_running} while running); {count} objects in the bucket, {same_first} sharing \
         a first timestamp with another (the overlap rule), {recut} starting before the previous one ended \
         (re-cut copies)"
    );
    assert!(
        killed_running > 0,
        "no kill landed during a run: the test proved nothing"
    );

    let mut checked = 0;
    for (pod, container, total) in CONTAINERS {
        let printed = read(
            &server,
            &[
                "-n",
                NAMESPACE,
                &format!("^{pod}$"),
                "-c",
                &format!("^{container}$"),
                "-o",
                "raw",
                "--timestamps",
            ],
        );
        assert!(
            printed.status.success(),
            "read {pod}/{container}: {}",
            String::from_utf8_lossy(&printed.stderr)
        );
        let kubectl = testbed.logs(NAMESPACE, pod, container, false);
        assert_eq!(
            numbers(&printed.stdout, container),
            (1..=total).collect::<Vec<_>>(),
            "{pod}/{container}: lines 1..{total} once each, in order"
        );
        if printed.stdout != kubectl {
            let (ours, theirs) = (
                String::from_utf8_lossy(&printed.stdout),
                String::from_utf8_lossy(&kubectl),
            );
            let at = ours.lines().zip(theirs.lines()).position(|(a, b)| a != b).unwrap_or(0);
            panic!(
                "{pod}/{container}: read differs from kubectl logs --timestamps at line {}: {:?} vs {:?}",
                at + 1,
                ours.lines().nth(at),
                theirs.lines().nth(at)
            );
        }
        checked += total;
    }
    // All of it merged by time: the same lines, once each.
    let merged = read(&server, &["-n", NAMESPACE, "--merge", "-o", "raw", "--timestamps"]);
    assert!(merged.status.success(), "{}", String::from_utf8_lossy(&merged.stderr));
    assert_eq!(merged.stdout.iter().filter(|&&b| b == b'\n').count(), checked);
    eprintln!("read printed {checked} lines exactly once, equal to kubectl logs");
    testbed.kubectl_output(&["delete", "namespace", NAMESPACE, "--wait=false"], None);
}

/// Objects under `dir` (s3s-fs keeps one file per object), and the copies among them: objects
/// of one container and day with the same `{first_ts}`, and objects that start before the end
/// of the one before them (keys sort by first timestamp).
fn copies(dir: &std::path::Path) -> (usize, usize, usize) {
    let mut names = Vec::new();
    collect(dir, &mut names);
    names.sort();
    let (mut same_first, mut recut) = (0, 0);
    for pair in names.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let split = |key: &str| {
            let (dir, name) = key.rsplit_once('/').unwrap_or(("", key));
            let mut parts = name.split('-');
            (
                dir.to_owned(),
                parts.next().unwrap_or("").to_owned(),
                parts.next().unwrap_or("").to_owned(),
            )
        };
        let ((dir_a, first_a, last_a), (dir_b, first_b, _)) = (split(a), split(b));
        if dir_a == dir_b && first_a == first_b {
            same_first += 1;
        } else if dir_a == dir_b && first_b < last_a {
            recut += 1;
        }
    }
    (names.len(), same_first, recut)
}

fn collect(dir: &std::path::Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "zst") {
            out.push(path.to_string_lossy().into_owned());
        }
    }
}
