//! `kube-log-exporter read` against the plain pipeline a user would write today, on the same
//! archive in a local s3s-fs: list the prefix, fetch each object whole, decompress it,
//! concatenate. Prints wall time, throughput (decompressed bytes per second) and peak resident
//! set of each; asserts nothing.
//!
//! ```sh
//! KLE_S3S_FS=$(tests/s3/up.sh) cargo run --release -p kle-benches --example read_archive -- 1024
//! ```
//!
//! The argument is the archive's size in MiB of lines before compression (default 1024): 8
//! containers, zstd, 8 MiB objects, as the S3 sink writes them by default. Both readers run as
//! processes of their own under `/usr/bin/time` (peak RSS is its `%M`), writing to
//! `/dev/null`; before timing, both outputs are checked to be the same bytes (`cksum`).
//! The plain pipeline is this example run as `plain ENDPOINT BUCKET PREFIX`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use kle_core::container::PodInfo;
use kle_core::lines::Lines;
use kle_core::{Container, LogBatch, Sink};
use kle_sinks::s3::{Compression, S3Sink};
use kle_tests::binary::exporter_binary;
use kle_tests::fake_api::format_timestamp;
use kle_tests::s3::{ACCESS_KEY, S3Server, SECRET_KEY};
use object_store::ObjectStoreExt as _;

const BUCKET: &str = "bench";
const PREFIX: &str = "archive";
const CONTAINERS: usize = 8;
const LINES_PER_BATCH: usize = 2000;

/// Lines `from..from + count` of one container: a timestamp 37 µs apart, words from a small
/// vocabulary and a random id (as `examples/s3_sink.rs` writes them).
fn lines(seed: u64, from: usize, count: usize) -> Lines {
    const WORDS: [&str; 12] = [
        "GET",
        "POST",
        "/api/v1/orders",
        "/healthz",
        "200",
        "404",
        "user",
        "cart",
        "latency_ms",
        "db",
        "cache",
        "hit",
    ];
    let start: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
    let mut state = (seed + from as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (from..from + count)
        .fold(Lines::builder(), |builder, i| {
            let ts = start + SignedDuration::from_micros(i as i64 * 37);
            let mut text = format!("{} level=info", format_timestamp(ts));
            for _ in 0..8 + (next() % 20) {
                text.push(' ');
                text.push_str(WORDS[(next() % 12) as usize]);
            }
            text.push_str(&format!(" id={:016x}", next()));
            builder.full(text)
        })
        .build()
}

async fn write_archive(server: &S3Server, mib: u64) -> u64 {
    server.create_bucket(BUCKET);
    let mut sink = S3Sink::builder(server.store(BUCKET), BUCKET)
        .with_prefix(PREFIX)
        .with_compression(Compression::Zstd)
        .build()
        .unwrap();
    let per_container = mib * 1024 * 1024 / CONTAINERS as u64;
    let mut total = 0;
    for c in 0..CONTAINERS {
        let pod = PodInfo::new("bench", format!("pod-{c}"), format!("uid-{c}"));
        let container = Arc::new(Container::new(Arc::new(pod), "app"));
        let (mut written, mut from) = (0, 0);
        while written < per_container {
            let batch = LogBatch::new(Arc::clone(&container), lines(c as u64, from, LINES_PER_BATCH));
            written += batch.raw_len() as u64;
            from += LINES_PER_BATCH;
            sink.write(&batch).await.unwrap();
        }
        sink.commit().await.unwrap();
        total += written;
    }
    sink.close().await.unwrap();
    total
}

/// The plain pipeline: list, fetch each object whole, decompress it, write it out.
async fn plain(endpoint: &str, bucket: &str, prefix: &str) {
    use futures::TryStreamExt as _;
    let store = object_store::aws::AmazonS3Builder::from_env()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_bucket_name(bucket)
        .build()
        .unwrap();
    let mut keys: Vec<_> = object_store::ObjectStore::list(&store, Some(&prefix.into()))
        .map_ok(|meta| meta.location)
        .try_collect()
        .await
        .unwrap();
    keys.retain(|key| key.as_ref().ends_with(".zst"));
    keys.sort();
    let mut stdout = std::io::stdout().lock();
    for key in keys {
        let bytes = store.get(&key).await.unwrap().bytes().await.unwrap();
        stdout.write_all(&zstd::decode_all(&bytes[..]).unwrap()).unwrap();
    }
}

/// Runs `command` under `/usr/bin/time` with stdout to /dev/null: wall seconds and peak RSS KiB.
fn measure(server: &S3Server, command: Command) -> (f64, u64) {
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%e %M"])
        .arg(program)
        .args(args)
        .envs(env(server))
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    let (seconds, kib) = last.split_once(' ').unwrap();
    (seconds.parse().unwrap(), kib.trim().parse().unwrap())
}

/// `cksum` of what `command` prints.
fn checksum(server: &S3Server, mut command: Command) -> String {
    let mut child = command.envs(env(server)).stdout(Stdio::piped()).spawn().unwrap();
    let out = child.stdout.take().unwrap();
    let sum = Command::new("cksum").stdin(out).output().unwrap();
    assert!(child.wait().unwrap().success());
    String::from_utf8_lossy(&sum.stdout).trim().to_owned()
}

fn env(server: &S3Server) -> Vec<(&'static str, String)> {
    let _ = server;
    vec![
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
    ]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("plain") {
        plain(&args[2], &args[3], &args[4]).await;
        return;
    }
    let mib: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1024);
    let server = S3Server::start();
    let started = Instant::now();
    let bytes = write_archive(&server, mib).await;
    let stored = server.object_sizes(BUCKET).await;
    eprintln!(
        "archive: {:.0} MiB of lines in {} objects, {:.0} MiB stored, written in {:.1} s",
        bytes as f64 / 1048576.0,
        stored.len(),
        stored.values().sum::<u64>() as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );
    let url = format!("s3://{BUCKET}/{PREFIX}");
    let read = || {
        let mut command = Command::new(exporter_binary());
        command
            .args(["read", &url, "-q", "-o", "raw", "--timestamps", "--s3-allow-http"])
            .args(["--s3-endpoint", &server.endpoint()]);
        command
    };
    let plain = || {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command.args(["plain", &server.endpoint(), BUCKET, PREFIX]);
        command
    };
    let (ours, theirs) = (checksum(&server, read()), checksum(&server, plain()));
    assert_eq!(ours, theirs, "read and the plain pipeline print the same bytes");
    eprintln!("both print the same bytes (cksum {ours})");
    println!("| reader | wall s | MiB/s | peak RSS MiB |");
    println!("|---|---|---|---|");
    for (name, command) in [
        ("kube-log-exporter read", read()),
        ("list + get + zstd::decode_all", plain()),
    ] {
        let (seconds, kib) = measure(&server, command);
        println!(
            "| {name} | {seconds:.2} | {:.0} | {:.0} |",
            bytes as f64 / 1048576.0 / seconds,
            kib as f64 / 1024.0
        );
    }
}
