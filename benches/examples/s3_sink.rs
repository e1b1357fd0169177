//! Load harness for the S3 sink against a local s3s-fs: throughput with each compression, and
//! peak memory with many containers writing at once. Prints figures; asserts nothing.
//!
//! ```sh
//! KLE_S3S_FS=$(tests/s3/up.sh) cargo run --release -p kle-benches --example s3_sink
//! ```
//!
//! Throughput is input bytes (the API's lines) per second of wall time, from the first write
//! to the end of the last commit, uploads included. Peak memory is this process's resident set
//! (VmHWM, reset before each scenario) above the resident set after the input was generated;
//! s3s-fs runs in its own process and is not counted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use kle_core::container::PodInfo;
use kle_core::lines::Lines;
use kle_core::{Container, LogBatch, Sink};
use kle_sinks::object::{Compression, ObjectSink};
use kle_tests::fake_api::format_timestamp;
use kle_tests::s3::S3Server;

const BUCKET: &str = "bench";
const LINES_PER_BATCH: usize = 200;

fn container(i: usize) -> Arc<Container> {
    Arc::new(Container::new(
        Arc::new(PodInfo::new("bench", format!("pod-{i}"), format!("uid-{i}"))),
        "app",
    ))
}

/// `count` lines of 80–200 bytes: a timestamp, words from a small vocabulary and a random hex
/// id, so compression sees something like a real log rather than one repeated line.
fn lines(seed: u64, count: usize) -> Lines {
    const WORDS: [&str; 16] = [
        "GET",
        "POST",
        "/api/v1/orders",
        "/healthz",
        "200",
        "404",
        "500",
        "user",
        "cart",
        "latency_ms",
        "db",
        "cache",
        "miss",
        "hit",
        "request",
        "done",
    ];
    let start: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .fold(Lines::builder(), |builder, i| {
            let ts = start + SignedDuration::from_micros(i as i64 * 37);
            let mut text = format!("{} level=info", format_timestamp(ts));
            let words = 8 + (next() % 20) as usize;
            for _ in 0..words {
                text.push(' ');
                text.push_str(WORDS[(next() % 16) as usize]);
            }
            text.push_str(&format!(" id={:016x}", next()));
            builder.full(text)
        })
        .build()
}

/// This process's peak resident set in KiB since the last reset.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn current_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resets VmHWM to the current resident set (Linux `clear_refs` 5).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn sink(server: &S3Server, compression: Compression) -> ObjectSink {
    ObjectSink::builder(server.store(BUCKET), BUCKET)
        .with_prefix(format!("{compression:?}"))
        .with_compression(compression)
        .build()
        .unwrap()
}

/// One container writing `input` batch by batch, committed at the end.
async fn throughput(server: &S3Server, compression: Compression, input: &Lines) {
    let c = container(0);
    let mut sink = sink(server, compression);
    let started = Instant::now();
    for start in (0..input.len()).step_by(LINES_PER_BATCH) {
        let end = (start + LINES_PER_BATCH).min(input.len());
        let batch = LogBatch::new(Arc::clone(&c), input.slice(start..end));
        sink.write(&batch).await.unwrap();
    }
    sink.commit().await.unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let mib = input.raw_len() as f64 / (1024.0 * 1024.0);
    let stats = sink.stats();
    println!(
        "throughput {compression:?}: {mib:.0} MiB of lines in {elapsed:.2} s = {:.0} MiB/s; {} objects ({} multipart), {:.1} MiB stored (ratio {:.1})",
        mib / elapsed,
        stats.objects,
        stats.multipart_objects,
        stats.bytes as f64 / (1024.0 * 1024.0),
        input.raw_len() as f64 / stats.bytes.max(1) as f64,
    );
}

/// `containers` containers writing in turn, `rounds` batches each, committed at the end.
async fn many_streams(server: &S3Server, compression: Compression, containers: usize, rounds: usize, pool: &Lines) {
    let list: Vec<Arc<Container>> = (0..containers).map(container).collect();
    let mut sink = sink(server, compression);
    let baseline = current_rss_kib();
    reset_peak();
    let started = Instant::now();
    let mut input = 0usize;
    for round in 0..rounds {
        for (i, c) in list.iter().enumerate() {
            let at = ((round * containers + i) * LINES_PER_BATCH) % (pool.len() - LINES_PER_BATCH);
            let lines = pool.slice(at..at + LINES_PER_BATCH);
            input += lines.raw_len();
            sink.write(&LogBatch::new(Arc::clone(c), lines)).await.unwrap();
        }
    }
    let before_commit = sink.buffered_bytes();
    sink.commit().await.unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let peak = peak_rss_kib().saturating_sub(baseline);
    println!(
        "{containers} streams {compression:?}: {:.0} MiB of lines in {elapsed:.2} s = {:.0} MiB/s; {} objects; \
         {:.1} MiB buffered before the commit; peak RSS {:.0} MiB above the {:.0} MiB baseline",
        input as f64 / (1024.0 * 1024.0),
        input as f64 / (1024.0 * 1024.0) / elapsed,
        sink.stats().objects,
        before_commit as f64 / (1024.0 * 1024.0),
        peak as f64 / 1024.0,
        baseline as f64 / 1024.0,
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    // Many streams first: memory freed by a larger earlier scenario would hide its peak.
    let pool = lines(2, 50_000);
    for compression in [Compression::Zstd, Compression::None] {
        many_streams(&server, compression, 200, 60, &pool).await;
    }
    drop(pool);
    let input = lines(1, 700_000);
    println!(
        "input: {} lines, {:.0} MiB; s3s-fs at {} (its data in {})",
        input.len(),
        input.raw_len() as f64 / (1024.0 * 1024.0),
        server.endpoint(),
        server.root().display()
    );
    for compression in [Compression::None, Compression::Zstd, Compression::Gzip] {
        throughput(&server, compression, &input).await;
    }
}
