//! End-to-end, on the real test cluster: lines longer than containerd's 16 KiB part size come
//! out as the container wrote them, and resumed runs neither repeat nor lose their parts.
//!
//! containerd stores such a line as several records and the API, asked for timestamps (the
//! exporter always asks), puts one before every record. `kubectl logs` without timestamps
//! shows the line as written: raw output must equal it byte for byte, and the file sink must
//! hold each line once with one timestamp, its first part's.
//! `#[ignore]`d like every e2e test; `scripts/test.sh` runs them against the cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use kle_tests::binary::{exporter, exporter_binary};
use kle_tests::testbed::{KillRng, Testbed};

/// containerd's default `max_container_log_line_size`, which the test cluster keeps.
const PART: usize = 16 * 1024;

/// Bytes of the kubelet's timestamp prefix (`2006-01-02T15:04:05.000000000Z `).
const PREFIX: usize = 31;

/// A timestamp in the kubelet's format inside a message, not where a part begins.
const FAKE_PREFIX: &str = "2099-01-01T00:00:00.000000000Z ";

/// How to print part of a line from a busybox shell.
enum Piece<'a> {
    Text(&'a str),
    /// This many copies of a letter.
    Fill(u8, usize),
    /// `\377\376`: invalid UTF-8.
    Invalid,
}

impl Piece<'_> {
    fn len(&self) -> usize {
        match self {
            Piece::Text(text) => text.len(),
            Piece::Fill(_, n) => *n,
            Piece::Invalid => 2,
        }
    }

    fn shell(&self) -> String {
        match self {
            Piece::Text(text) => format!("printf '%s' '{text}'"),
            Piece::Fill(letter, n) => format!("head -c {n} /dev/zero | tr '\\000' {}", *letter as char),
            Piece::Invalid => "printf '\\377\\376'".to_owned(),
        }
    }
}

/// Shell printing a line of exactly `len` bytes (before its newline): `label`, a space, letters
/// with invalid UTF-8 in the middle and, if given, `inner` text at that offset.
fn line_sh(label: &str, len: usize, newline: bool, inner: Option<(usize, &str)>) -> String {
    let head = format!("{label} ");
    let mut pieces = vec![Piece::Text(&head)];
    let mut used = head.len();
    if let Some((at, text)) = inner {
        pieces.push(Piece::Fill(b'a', at - used));
        pieces.push(Piece::Text(text));
        used = at + text.len();
    }
    let rest = len - used - 2;
    pieces.extend([
        Piece::Fill(b'a', rest / 2),
        Piece::Invalid,
        Piece::Fill(b'b', rest - rest / 2),
    ]);
    assert_eq!(pieces.iter().map(Piece::len).sum::<usize>(), len);
    let mut sh: Vec<String> = pieces.iter().map(Piece::shell).collect();
    if newline {
        sh.push("printf '\\n'".to_owned());
    }
    sh.join("; ")
}

fn pod_yaml(namespace: &str, name: &str, script: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  containers:
  - name: {name}
    image: kle.local/busybox:1
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", {script:?}]
"#
    )
}

/// The lines of issue 18: 16 KiB − 1, 16 KiB, 16 KiB + 1, 64 KiB (with a timestamp-like text
/// inside) and 5 MB without a final newline; invalid UTF-8 in each. Then the container exits,
/// so that the kubelet never rotates its log (it rotates running containers' logs only).
fn long_lines_script() -> (String, usize) {
    let lines = [
        line_sh("one", PART - 1, true, None),
        line_sh("two", PART, true, None),
        line_sh("three", PART + 1, true, None),
        line_sh("four", 4 * PART, true, Some((20_000, FAKE_PREFIX))),
        line_sh("five", 5_000_000, false, None),
    ];
    let bytes = (PART - 1) + PART + (PART + 1) + 4 * PART + 5_000_000 + 4;
    (lines.join("; "), bytes)
}

/// Creates pod `name` running `script` in a fresh `namespace` and waits until it exited and its
/// log has `bytes` bytes; tries again if the kubelet rotated the log while it was written.
fn finished_pod(testbed: &Testbed, namespace: &str, name: &str, script: &str, bytes: usize) {
    for attempt in 1..=3 {
        testbed.fresh_namespace(namespace);
        testbed.apply(&pod_yaml(namespace, name, script));
        testbed.wait_for(&format!("{name} to finish"), Duration::from_secs(180), || {
            testbed.pod_field(namespace, name, "{.status.phase}") == "Succeeded"
        });
        let plain = testbed.kubectl(&["logs", "-n", namespace, name]);
        if plain.len() == bytes {
            return;
        }
        eprintln!(
            "attempt {attempt}: the log has {} bytes, not {bytes} (rotated?); again",
            plain.len()
        );
    }
    panic!("{name} never logged its {bytes} bytes in one log file");
}

fn run(testbed: &Testbed, args: &[&str]) -> Output {
    exporter()
        .arg("--kubeconfig")
        .arg(testbed.kubeconfig())
        .args(args)
        .output()
        .unwrap()
}

fn export_to(testbed: &Testbed, namespace: &str, dir: &Path) -> std::process::Command {
    let mut command = exporter();
    command
        .arg("--kubeconfig")
        .arg(testbed.kubeconfig())
        .args(["export", "-n", namespace, "--sink", "file", "--dir"])
        .arg(dir);
    command
}

fn file_of(dir: &Path, namespace: &str, pod: &str) -> PathBuf {
    dir.join(namespace).join(pod).join(format!("{pod}.log"))
}

/// Whether `a` and `b` are equal; if not, says where they first differ.
fn same(a: &[u8], b: &[u8]) -> Result<(), String> {
    if a == b {
        return Ok(());
    }
    let at = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let around = |s: &[u8]| String::from_utf8_lossy(&s[at.saturating_sub(40)..(at + 40).min(s.len())]).into_owned();
    Err(format!(
        "{} vs {} bytes, first difference at byte {at}: {:?} vs {:?}",
        a.len(),
        b.len(),
        around(a),
        around(b)
    ))
}

/// The lines as the file sink must hold them: each `kubectl logs` line after the timestamp
/// `kubectl logs --timestamps` shows first on it (its first part's).
fn one_prefix_per_line(stamped: &[u8], plain: &[u8]) -> Vec<u8> {
    let stamped: Vec<&[u8]> = stamped.split(|&b| b == b'\n').collect();
    let plain: Vec<&[u8]> = plain.split(|&b| b == b'\n').collect();
    assert_eq!(stamped.len(), plain.len(), "as many lines with timestamps as without");
    let mut out = Vec::new();
    for (i, (stamped, plain)) in stamped.iter().zip(&plain).enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        if !plain.is_empty() || !stamped.is_empty() {
            out.extend_from_slice(&stamped[..PREFIX]);
            out.extend_from_slice(plain);
        }
    }
    out
}

/// Where a prefix in the kubelet's format begins in `bytes`.
fn prefixes(bytes: &[u8]) -> Vec<usize> {
    const SHAPE: &[u8] = b"0000-00-00T00:00:00.000000000Z ";
    (0..bytes.len().saturating_sub(SHAPE.len() - 1))
        .filter(|&at| {
            SHAPE.iter().zip(&bytes[at..]).all(|(&s, &b)| match s {
                b'0' => b.is_ascii_digit(),
                _ => b == s,
            })
        })
        .collect()
}

/// The timestamps of the parts that another part of their line follows, in the `kubectl logs
/// --timestamps` output: a cursor at one of them lies inside a line.
fn parts_inside_lines(stamped: &[u8]) -> Vec<jiff::Timestamp> {
    let mut stamps = Vec::new();
    for line in stamped.split(|&b| b == b'\n') {
        let mut at = 0;
        while line.len() >= at + PREFIX + PART + PREFIX {
            let text = std::str::from_utf8(&line[at..at + PREFIX - 1]).unwrap();
            stamps.push(text.parse().unwrap());
            at += PREFIX + PART;
        }
    }
    stamps
}

/// The timestamps in a checkpoint file.
fn checkpoint_stamps(dir: &Path) -> Vec<jiff::Timestamp> {
    fn walk(value: &serde_json::Value, out: &mut Vec<jiff::Timestamp>) {
        match value {
            serde_json::Value::String(s) => out.extend(s.parse::<jiff::Timestamp>().ok()),
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            serde_json::Value::Object(map) => map.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(text) = std::fs::read(dir.join(".kube-log-exporter-checkpoint.json")) {
        walk(&serde_json::from_slice(&text).unwrap_or_default(), &mut out);
    }
    out
}

#[test]
#[ignore = "needs the test cluster: scripts/test.sh runs it"]
fn long_lines_come_out_as_kubectl_logs_shows_them() {
    let testbed = Testbed::from_env();
    let namespace = "kle-e2e-long-lines";
    let (script, bytes) = long_lines_script();
    finished_pod(&testbed, namespace, "long", &script, bytes);
    let plain = testbed.kubectl(&["logs", "-n", namespace, "long"]);
    let stamped = testbed.logs(namespace, "long", "long", false);
    let inner = prefixes(&stamped).len() - 5 - 1;
    assert!(
        inner >= 5_000_000 / PART,
        "the API puts a timestamp before every part ({inner} inner ones)"
    );

    let raw = run(&testbed, &["export", "-n", namespace, "^long$", "-o", "raw"]);
    assert!(raw.status.success(), "{}", String::from_utf8_lossy(&raw.stderr));
    same(&raw.stdout, &plain).unwrap_or_else(|e| panic!("-o raw differs from kubectl logs: {e}"));

    let expected = one_prefix_per_line(&stamped, &plain);
    let with_stamps = run(
        &testbed,
        &["export", "-n", namespace, "^long$", "-o", "raw", "--timestamps"],
    );
    assert!(
        with_stamps.status.success(),
        "{}",
        String::from_utf8_lossy(&with_stamps.stderr)
    );
    same(&with_stamps.stdout, &expected).unwrap_or_else(|e| panic!("-o raw --timestamps: {e}"));

    let out = tempfile::tempdir().unwrap();
    let file = export_to(&testbed, namespace, out.path()).output().unwrap();
    assert!(file.status.success(), "{}", String::from_utf8_lossy(&file.stderr));
    let written = std::fs::read(file_of(out.path(), namespace, "long")).unwrap();
    same(&written, &expected).unwrap_or_else(|e| panic!("the file sink's file: {e}"));
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            written
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .take(5)
        .collect();
    let found = prefixes(&written);
    assert_eq!(found.len(), 6, "one timestamp per line, and the one inside line four");
    assert!(
        starts.iter().all(|s| found.contains(s)),
        "each line starts with its timestamp"
    );
    eprintln!(
        "5 lines, {} bytes: -o raw equal to kubectl logs; -o raw --timestamps and the file ({} bytes) equal to \
         it with each line's first timestamp ({inner} inner timestamps dropped)",
        plain.len(),
        written.len()
    );
    other_formats_and_s3(&testbed, namespace, &plain, &expected);
    testbed.kubectl_output(&["delete", "namespace", namespace, "--wait=false"], None);
}

/// `-o json`, `-o text`, `-o template` and the S3 sink on the same pod: each line whole, once,
/// with its bytes as written (`plain`: `kubectl logs`; `expected`: each line after its first
/// part's timestamp).
fn other_formats_and_s3(testbed: &Testbed, namespace: &str, plain: &[u8], expected: &[u8]) {
    let lines: Vec<&[u8]> = plain.split(|&b| b == b'\n').collect();
    let stamped: Vec<&[u8]> = expected.split(|&b| b == b'\n').collect();
    let export = |format: &[&str]| {
        let output = run(testbed, &[&["export", "-n", namespace, "^long$"], format].concat());
        assert!(
            output.status.success(),
            "{format:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    };

    // JSON replaces invalid UTF-8 in `message` with U+FFFD (lossy) and carries the exact bytes
    // in `message_base64` when it did: the decoded bytes are compared, and `message` must be
    // their lossy form. The 5 MB line comes in pieces of --max-line-bytes (default 1 MiB), each
    // but the last `partial`, each with the line's timestamp: the first as the API wrote it, the
    // others as jiff prints that instant (the pieces after the first do not keep its text).
    let json = export(&["-o", "json"]);
    let records: Vec<serde_json::Value> = json
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let mut pieces: Vec<(Vec<u8>, String)> = Vec::new();
    let mut joined: Vec<Vec<u8>> = vec![Vec::new()];
    for (i, record) in records.iter().enumerate() {
        let message = record["message"].as_str().unwrap();
        let exact = record["message_base64"]
            .as_str()
            .map_or_else(|| message.as_bytes().to_vec(), decode_base64);
        assert!(
            message == String::from_utf8_lossy(&exact),
            "object {i}: message is not the lossy form of message_base64"
        );
        let line = joined.len() - 1;
        assert!(line < lines.len(), "object {i}: more lines than kubectl logs shows");
        let first_piece = joined[line].is_empty();
        let api_text = std::str::from_utf8(&stamped[line][..PREFIX - 1]).unwrap();
        let timestamp = record["timestamp"].as_str().unwrap();
        let wanted = if first_piece {
            api_text.to_owned()
        } else {
            api_text.parse::<jiff::Timestamp>().unwrap().to_string()
        };
        assert_eq!(
            timestamp, wanted,
            "object {i} (line {line}): its line's first part's timestamp"
        );
        joined[line].extend_from_slice(&exact);
        pieces.push((exact, timestamp.to_owned()));
        if record.get("partial").is_none() {
            joined.push(Vec::new());
        }
    }
    // `partial` marks a piece no newline ends: the pieces of the 5 MB line and the last one of
    // the log (which has no final newline), so the groups joined with newlines are the log.
    assert!(
        records.last().is_some_and(|r| r["partial"] == true),
        "the unterminated tail"
    );
    assert_eq!(joined.len(), lines.len(), "every line, none lost or repeated");
    assert!(pieces.len() > lines.len(), "the 5 MB line comes in pieces");
    same(&joined.join(&b'\n'), plain).unwrap_or_else(|e| panic!("-o json, decoded and joined: {e}"));

    // Text: the prefix on each line, the last one still without a newline, as written.
    let prefix = format!("{namespace}/long/long ");
    let text_expected: Vec<u8> = lines
        .iter()
        .map(|line| [prefix.as_bytes(), line].concat())
        .collect::<Vec<_>>()
        .join(&b'\n');
    let text = export(&["-o", "text"]);
    same(&text, &text_expected).unwrap_or_else(|e| panic!("-o text: {e}"));
    let text_stamped: Vec<u8> = stamped
        .iter()
        .map(|line| [prefix.as_bytes(), line].concat())
        .collect::<Vec<_>>()
        .join(&b'\n');
    let text_with_stamps = export(&["-o", "text", "--timestamps"]);
    same(&text_with_stamps, &text_stamped).unwrap_or_else(|e| panic!("-o text --timestamps: {e}"));

    // A template is rendered for each piece of a line split for length and ends each with a
    // newline, the unterminated last one too; the pieces and their timestamps are JSON's above.
    let template_expected: Vec<u8> = pieces
        .iter()
        .flat_map(|(piece, timestamp)| [b"<", timestamp.as_bytes(), b"> ", piece, b"\n"].concat())
        .collect();
    let template = export(&["-o", "template", "--template", "<{timestamp}> {message}"]);
    same(&template, &template_expected).unwrap_or_else(|e| panic!("-o template: {e}"));

    // S3: a real S3 server; the objects, decompressed and in key order, are the timestamped lines.
    use kle_tests::s3::{ACCESS_KEY, S3Server, SECRET_KEY};
    let server = S3Server::start();
    let output = exporter()
        .arg("--kubeconfig")
        .arg(testbed.kubeconfig())
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .args(["export", "-n", namespace, "^long$", "--checkpoint", "none"])
        .args(["--sink", "s3", "--s3-url", "s3://long/lines"])
        .args(["--s3-endpoint", &server.endpoint(), "--s3-allow-http"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let objects = tokio::runtime::Runtime::new().unwrap().block_on(server.objects("long"));
    let logs: Vec<(&String, &Vec<u8>)> = objects.iter().filter(|(key, _)| key.contains("/long/long/")).collect();
    assert!(!logs.is_empty(), "no object for the pod among {:?}", objects.keys());
    let uploaded: Vec<u8> = logs.iter().flat_map(|(_, bytes)| bytes.iter().copied()).collect();
    same(&uploaded, expected).unwrap_or_else(|e| panic!("the S3 objects {:?}: {e}", objects.keys()));
    eprintln!(
        "-o json: {} objects, message_base64 decoded and joined equal to kubectl logs ({} bytes), message its \
         lossy form, timestamps the lines' first; -o text {} bytes and with --timestamps {} bytes; -o template {} bytes; S3: {} object(s), {} \
         bytes, equal to the timestamped lines",
        records.len(),
        plain.len(),
        text.len(),
        text_with_stamps.len(),
        template.len(),
        logs.len(),
        uploaded.len()
    );
}

/// Decodes standard base64 (RFC 4648, with padding).
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for quad in text.as_bytes().chunks(4) {
        let digits: Vec<u8> = quad.iter().filter(|&&c| c != b'=').map(|&c| value(c)).collect();
        let bits = digits.iter().fold(0u32, |acc, &d| (acc << 6) | u32::from(d)) << (6 * (4 - digits.len()));
        out.extend_from_slice(&bits.to_be_bytes()[1..digits.len()]);
    }
    out
}

/// Starts an export into `dir` and SIGKILLs it after `after`; returns whether it was running.
fn killed_export(testbed: &Testbed, namespace: &str, dir: &Path, after: Duration) -> bool {
    let mut child = export_to(testbed, namespace, dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let running = matches!(child.try_wait(), Ok(None));
    let _ = child.kill();
    let _ = child.wait();
    running
}

fn complete_export(testbed: &Testbed, namespace: &str, dir: &Path, extra: &[&str]) {
    let output = export_to(testbed, namespace, dir).args(extra).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
#[ignore = "needs the test cluster: scripts/test.sh runs it"]
fn sigkilled_exports_of_long_lines_resume_exactly_once() {
    let testbed = Testbed::from_env();
    let trials: usize = std::env::var("KLE_E2E_KILL_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut rng = KillRng::seeded();

    // A finished container with the 5 MB line: runs killed while they read it.
    let namespace = "kle-e2e-long-kill";
    let (script, bytes) = long_lines_script();
    finished_pod(&testbed, namespace, "long", &script, bytes);
    let plain = testbed.kubectl(&["logs", "-n", namespace, "long"]);
    let stamped = testbed.logs(namespace, "long", "long", false);
    let expected = one_prefix_per_line(&stamped, &plain);
    let inside_lines = parts_inside_lines(&stamped);
    exporter_binary();
    let started = Instant::now();
    complete_export(&testbed, namespace, tempfile::tempdir().unwrap().path(), &[]);
    let one_run = started.elapsed();
    let (mut kills, mut mid_run, mut mid_line) = (0, 0, 0);
    for trial in 0..trials {
        let out = tempfile::tempdir().unwrap();
        for _ in 0..=rng.below(3) {
            let after = Duration::from_millis(rng.below(one_run.as_millis() as u64 + 1));
            kills += 1;
            mid_run += usize::from(killed_export(&testbed, namespace, out.path(), after));
            mid_line += usize::from(checkpoint_stamps(out.path()).iter().any(|s| inside_lines.contains(s)));
        }
        complete_export(&testbed, namespace, out.path(), &["--fail-on-gap"]);
        let written = std::fs::read(file_of(out.path(), namespace, "long")).unwrap();
        same(&written, &expected).unwrap_or_else(|e| panic!("trial {trial}: {e}"));
    }
    eprintln!(
        "finished container: {trials} trials, {kills} SIGKILLs ({mid_run} mid-run, {mid_line} after a checkpoint \
         inside a line; one run takes {one_run:?}); the file equal to the expected {} bytes each time",
        expected.len()
    );
    assert!(mid_run > 0, "no kill landed during a run: the trials proved nothing");
    testbed.kubectl_output(&["delete", "namespace", namespace, "--wait=false"], None);

    // A container writing a 1.5 MB line over ~10 s: runs, some killed, start and end inside it.
    let namespace = "kle-e2e-long-slow";
    testbed.fresh_namespace(namespace);
    let slow = "echo before; i=0; printf 'slow '; while [ $i -lt 30 ]; do head -c 50000 /dev/zero | tr '\\000' s; \
                if [ $i -eq 15 ]; then printf '\\377\\376'; fi; usleep 300000; i=$((i+1)); done; printf '\\n'; \
                echo after";
    testbed.apply(&pod_yaml(namespace, "slow", slow));
    testbed.wait_for("slow to start", Duration::from_secs(120), || {
        !testbed
            .kubectl_output(&["logs", "-n", namespace, "slow"], None)
            .stdout
            .is_empty()
    });
    let out = tempfile::tempdir().unwrap();
    // Per run: the checkpoint it started from, and whether it was killed mid-run.
    let (mut runs, mut killed) = (Vec::new(), 0);
    loop {
        let finished = testbed.pod_field(namespace, "slow", "{.status.phase}") == "Succeeded";
        let from = checkpoint_stamps(out.path());
        let kill = rng.below(2) == 0;
        if kill {
            killed += usize::from(killed_export(
                &testbed,
                namespace,
                out.path(),
                Duration::from_millis(30 + rng.below(400)),
            ));
        } else {
            complete_export(&testbed, namespace, out.path(), &[]);
        }
        runs.push((from, kill));
        if finished {
            break;
        }
        assert!(runs.len() < 500, "slow never finished");
    }
    complete_export(&testbed, namespace, out.path(), &["--fail-on-gap"]);
    let plain = testbed.kubectl(&["logs", "-n", namespace, "slow"]);
    let stamped = testbed.logs(namespace, "slow", "slow", false);
    assert_eq!(plain.len(), 7 + 5 + 1_500_002 + 1 + 6, "before, the slow line, after");
    let expected = one_prefix_per_line(&stamped, &plain);
    let written = std::fs::read(file_of(out.path(), namespace, "slow")).unwrap();
    same(&written, &expected).unwrap_or_else(|e| panic!("the slowly written line: {e}"));
    let inside_lines = parts_inside_lines(&stamped);
    let inside = |from: &Vec<jiff::Timestamp>| from.iter().any(|s| inside_lines.contains(s));
    let resumed_inside = runs.iter().filter(|(from, _)| inside(from)).count();
    let killed_inside = runs.iter().filter(|(from, kill)| *kill && inside(from)).count();
    eprintln!(
        "slowly written line: {} runs ({killed} SIGKILLed mid-run); {resumed_inside} resumed from a checkpoint \
         inside the line, {killed_inside} of them killed; the file equal to the expected {} bytes",
        runs.len(),
        expected.len()
    );
    assert!(
        resumed_inside > 0,
        "no run resumed inside the long line: the test proved nothing"
    );
    testbed.kubectl_output(&["delete", "namespace", namespace, "--wait=false"], None);
}
