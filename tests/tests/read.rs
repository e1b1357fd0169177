//! `kube-log-exporter read` against a real S3 server (`s3s-fs`, one process per test): an
//! archive of several namespaces and days written through the S3 sink with chosen
//! timestamps, copies from a resumed run included, read back with each selector and time
//! bound; the errors a user sees, with their exit codes; and a file sink's directory.
//!
//! `#[ignore]`d like `tests/s3.rs`: `scripts/test.sh` installs the server (`tests/s3/up.sh`)
//! and runs them with `--ignored`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::Output;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use kle_core::container::PodInfo;
use kle_core::lines::Lines;
use kle_core::{Container, LogBatch, Sink};
use kle_sinks::s3::{Compression, S3Sink};
use kle_tests::binary::exporter;
use kle_tests::s3::{ACCESS_KEY, S3Server, SECRET_KEY};

const BUCKET: &str = "logs";

/// One container of the archive and its lines (the API's bytes, without the newline).
struct Logged {
    namespace: &'static str,
    pod: &'static str,
    container: &'static str,
    lines: Vec<(Timestamp, Vec<u8>)>,
}

impl Logged {
    fn instance(&self) -> Arc<Container> {
        let pod = PodInfo::new(self.namespace, self.pod, format!("uid-{}", self.pod));
        Arc::new(Container::new(Arc::new(pod), self.container))
    }
}

/// `count` lines from `first`, `step` apart.
fn lines(tag: &str, first: Timestamp, step: SignedDuration, count: i64) -> Vec<(Timestamp, Vec<u8>)> {
    (0..count)
        .map(|i| {
            let ts = first + step * i32::try_from(i).unwrap();
            (ts, format!("{ts:.9} {tag} line {i}").into_bytes())
        })
        .collect()
}

fn day(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// Three namespaces, three days (22:00 on the 22nd to 02:00 on the 24th), and a container
/// whose lines are recent (for `--since DURATION`).
fn archive() -> Vec<Logged> {
    let minutes = SignedDuration::from_mins;
    let now = Timestamp::now();
    vec![
        Logged {
            namespace: "shop",
            pod: "web-1",
            container: "app",
            lines: lines("web1", day("2026-11-22T22:00:00Z"), minutes(17), 100),
        },
        Logged {
            namespace: "shop",
            pod: "web-1",
            container: "istio-proxy",
            lines: lines("proxy", day("2026-11-22T22:05:00Z"), minutes(23), 70),
        },
        Logged {
            namespace: "shop",
            pod: "web-2",
            container: "app",
            lines: lines("web2", day("2026-11-23T09:00:00Z"), minutes(3), 200),
        },
        Logged {
            namespace: "ops",
            pod: "db-0",
            container: "postgres",
            lines: lines("db", day("2026-11-23T23:30:00Z"), minutes(1), 120),
        },
        Logged {
            namespace: "dev",
            pod: "job-x",
            container: "main",
            // Two hours ago to ten minutes ago.
            lines: lines("recent", now - minutes(120), minutes(10), 12),
        },
    ]
}

/// Writes the archive as an export would: objects of a few KiB, commits every 9 lines; then
/// the copies a resumed run leaves (`shop/web-2` re-exported from its 50th line, cut
/// elsewhere, gzip).
async fn write_archive(server: &S3Server, archive: &[Logged]) {
    server.create_bucket(BUCKET);
    let sink = |compression, bytes| {
        S3Sink::builder(server.store(BUCKET), BUCKET)
            .with_prefix("cluster-a")
            .with_compression(compression)
            .with_max_object_bytes(bytes)
            .build()
            .unwrap()
    };
    let mut first = sink(Compression::Zstd, 2000);
    for logged in archive {
        put(&mut first, logged, 0, 9).await;
    }
    first.close().await.unwrap();
    let mut resumed = sink(Compression::Gzip, 3100);
    put(&mut resumed, &archive[2], 50, 13).await;
    resumed.close().await.unwrap();
}

async fn put(sink: &mut S3Sink, logged: &Logged, from: usize, per_commit: usize) {
    let container = logged.instance();
    for chunk in logged.lines[from..].chunks(per_commit) {
        let lines = chunk.iter().fold(Lines::builder(), |b, (_, raw)| b.full(raw)).build();
        sink.write(&LogBatch::new(Arc::clone(&container), lines)).await.unwrap();
        sink.commit().await.unwrap();
    }
}

/// Runs `read` on the server's bucket with `args`.
fn read(server: &S3Server, url: &str, args: &[&str]) -> Output {
    read_with_keys(server, url, args, ACCESS_KEY, SECRET_KEY)
}

fn read_with_keys(server: &S3Server, url: &str, args: &[&str], access: &str, secret: &str) -> Output {
    exporter()
        .args([
            "read",
            url,
            "--s3-endpoint",
            &server.endpoint(),
            "--s3-allow-http",
            "-q",
        ])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", access)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("running kube-log-exporter read")
}

/// What `read -o raw --timestamps` prints for the containers `keep` selects, with lines in
/// `[since, until]`: each container's lines, containers by namespace, pod and name.
fn expected(
    archive: &[Logged],
    keep: impl Fn(&Logged) -> bool,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
) -> String {
    let mut selected: Vec<&Logged> = archive.iter().filter(|l| keep(l)).collect();
    selected.sort_by_key(|l| (l.namespace, l.pod, l.container));
    let mut out = String::new();
    for logged in selected {
        for (ts, raw) in &logged.lines {
            if since.is_none_or(|s| *ts >= s) && until.is_none_or(|u| *ts <= u) {
                out.push_str(std::str::from_utf8(raw).unwrap());
                out.push('\n');
            }
        }
    }
    out
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "read failed ({:?}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
#[ignore = "needs s3s-fs: scripts/test.sh installs it and runs these with --ignored"]
fn each_selector_and_time_bound_prints_exactly_its_lines_once() {
    let server = S3Server::start();
    let archive = archive();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(write_archive(&server, &archive));
    let url = "s3://logs/cluster-a";
    let raw = ["-o", "raw", "--timestamps"];
    let check = |args: &[&str], keep: &dyn Fn(&Logged) -> bool, since, until| {
        let printed = stdout(&read(&server, url, &[&raw[..], args].concat()));
        assert_eq!(printed, expected(&archive, keep, since, until), "read {args:?}");
    };
    check(&[], &|_| true, None, None);
    check(&["-A"], &|_| true, None, None);
    check(&["-n", "shop"], &|l| l.namespace == "shop", None, None);
    check(&["-n", "ops", "-n", "dev"], &|l| l.namespace != "shop", None, None);
    check(&["^web-"], &|l| l.pod.starts_with("web-"), None, None);
    check(
        &["--exclude-pod", "web-1", "--exclude-pod", "^job"],
        &|l| l.pod != "web-1" && l.pod != "job-x",
        None,
        None,
    );
    check(&["-c", "^app$"], &|l| l.container == "app", None, None);
    check(
        &["-E", "istio", "-E", "postgres"],
        &|l| !matches!(l.container, "istio-proxy" | "postgres"),
        None,
        None,
    );
    // Across midnight, and bounds inside objects.
    let since = day("2026-11-23T23:55:30Z");
    let until = day("2026-11-24T00:20:00Z");
    check(&["--since-time", "2026-11-23T23:55:30Z"], &|_| true, Some(since), None);
    check(&["--until", "2026-11-24T00:20:00Z"], &|_| true, None, Some(until));
    check(
        &[
            "--since-time",
            "2026-11-23T23:55:30Z",
            "--until",
            "2026-11-24T00:20:00Z",
        ],
        &|_| true,
        Some(since),
        Some(until),
    );
    // `--since 1h`: the recent container's lines of the last hour (its lines are 10 minutes
    // apart and 5 minutes off the hour, so the second the command starts does not matter).
    let recent = &archive[4].lines;
    let printed = stdout(&read(&server, url, &["-o", "raw", "--timestamps", "--since", "65m"]));
    let hour_ago = recent[6].0;
    assert_eq!(
        printed,
        expected(&archive, |l| l.namespace == "dev", Some(hour_ago), None)
    );

    // Merged: every line once, in time order.
    let merged = stdout(&read(&server, url, &["-o", "raw", "--timestamps", "--merge"]));
    // Lines with the same timestamp keep the order of their containers (namespace, pod, name).
    let mut containers: Vec<&Logged> = archive.iter().collect();
    containers.sort_by_key(|l| (l.namespace, l.pod, l.container));
    let mut all: Vec<(Timestamp, String)> = containers
        .iter()
        .flat_map(|l| {
            l.lines
                .iter()
                .map(|(ts, raw)| (*ts, String::from_utf8(raw.clone()).unwrap()))
        })
        .collect();
    all.sort_by_key(|(ts, _)| *ts);
    let merged_lines: Vec<&str> = merged.lines().collect();
    assert_eq!(merged_lines, all.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>());

    // JSON: the metadata from the keys, one object per line.
    let json = stdout(&read(&server, url, &["-o", "json", "-n", "ops"]));
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(
        (&first["namespace"], &first["pod"], &first["container"]),
        (&"ops".into(), &"db-0".into(), &"postgres".into())
    );
    assert_eq!(json.lines().count(), archive[3].lines.len());
}

#[test]
#[ignore = "needs s3s-fs: scripts/test.sh installs it and runs these with --ignored"]
fn bad_input_gets_a_clear_error_and_its_exit_code() {
    let server = S3Server::start();
    let archive = archive();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(write_archive(&server, &archive));
    let code = |output: &Output| output.status.code();
    let stderr = |output: &Output| String::from_utf8_lossy(&output.stderr).into_owned();

    let unknown = read(&server, "ftp://logs/cluster-a", &[]);
    assert_eq!(code(&unknown), Some(2), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("unknown store \"ftp\""),
        "{}",
        stderr(&unknown)
    );
    // An Azure URL without an account: said before any request (the Azurite tests read az://).
    let azure = read(&server, "az://logs/cluster-a", &[]);
    assert_eq!(code(&azure), Some(2), "{}", stderr(&azure));
    assert!(
        stderr(&azure).contains("Account must be specified"),
        "{}",
        stderr(&azure)
    );

    let missing = read(&server, "s3://no-such-bucket/x", &[]);
    assert_eq!(code(&missing), Some(7), "{}", stderr(&missing));
    assert!(stderr(&missing).contains("does not exist"), "{}", stderr(&missing));

    let refused = read_with_keys(&server, "s3://logs/cluster-a", &[], ACCESS_KEY, "wrong-secret");
    assert_eq!(code(&refused), Some(4), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("credentials"), "{}", stderr(&refused));

    let nothing = read(&server, "s3://logs/cluster-a", &["-n", "no-such-namespace"]);
    assert_eq!(code(&nothing), Some(3), "{}", stderr(&nothing));

    let bad_regex = read(&server, "s3://logs/cluster-a", &["-c", "(unclosed"]);
    assert_eq!(code(&bad_regex), Some(2), "{}", stderr(&bad_regex));

    // An object under an archive key that is not zstd.
    let key =
        "cluster-a/shop/web-9/app/2026-11-23/20261123T100000.000000000Z-20261123T100000.000000000Z-1-00000000.log.zst";
    let store = server.store(BUCKET);
    runtime.block_on(async {
        use object_store::ObjectStoreExt as _;
        store.put(&key.into(), b"not an archive".to_vec().into()).await.unwrap();
    });
    let foreign = read(&server, "s3://logs/cluster-a", &["web-9"]);
    assert_eq!(code(&foreign), Some(8), "{}", stderr(&foreign));
    assert!(stderr(&foreign).contains("web-9"), "{}", stderr(&foreign));
}

#[test]
fn a_file_sink_directory_reads_back_with_its_layout() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut sink = kle_sinks::file::FileSink::builder(dir.path())
            .with_layout("{namespace}/{pod}/{date}/{container}.log")
            .build()
            .unwrap();
        for logged in &archive {
            let container = logged.instance();
            for chunk in logged.lines.chunks(11) {
                let lines = chunk.iter().fold(Lines::builder(), |b, (_, raw)| b.full(raw)).build();
                sink.write(&LogBatch::new(Arc::clone(&container), lines)).await.unwrap();
            }
        }
        sink.close().await.unwrap();
    });
    let run = |args: &[&str]| {
        exporter()
            .arg("read")
            .arg(dir.path())
            .args(["--layout", "{namespace}/{pod}/{date}/{container}.log", "-q"])
            .args(args)
            .output()
            .unwrap()
    };
    assert_eq!(
        stdout(&run(&["-o", "raw", "--timestamps"])),
        expected(&archive, |_| true, None, None)
    );
    assert_eq!(
        stdout(&run(&[
            "-o",
            "raw",
            "--timestamps",
            "-n",
            "shop",
            "-c",
            "app",
            "--until",
            "2026-11-23T10:00:00Z"
        ])),
        expected(
            &archive,
            |l| l.namespace == "shop" && l.container == "app",
            None,
            Some(day("2026-11-23T10:00:00Z"))
        )
    );
    let per_container: BTreeMap<String, usize> =
        stdout(&run(&["-o", "text"]))
            .lines()
            .fold(BTreeMap::new(), |mut counts, line| {
                *counts.entry(line.split(' ').next().unwrap().to_owned()).or_default() += 1;
                counts
            });
    assert_eq!(per_container["shop/web-2/app"], 200);
}
