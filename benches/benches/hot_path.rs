//! The per-line work of an export: splitting network chunks into lines and parsing timestamps.

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kle_benches::api_log_stream;
use kle_core::{LineSplitter, split_timestamp};

fn split_lines(c: &mut Criterion) {
    let stream = api_log_stream(20_000);
    let mut group = c.benchmark_group("split_lines");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    // Network reads arrive in chunks of a few KiB to 64 KiB.
    for chunk_size in [4 * 1024, 64 * 1024] {
        group.bench_with_input(BenchmarkId::from_parameter(chunk_size), &chunk_size, |b, &size| {
            let chunks: Vec<Bytes> = stream.chunks(size).map(Bytes::copy_from_slice).collect();
            let mut lines = Vec::with_capacity(1024);
            b.iter(|| {
                let mut splitter = LineSplitter::new(1 << 20);
                let mut total = 0;
                for chunk in &chunks {
                    splitter.push(chunk.clone(), &mut lines);
                    total += lines.len();
                    lines.clear();
                }
                total
            });
        });
    }
    group.finish();
}

fn parse_timestamp(c: &mut Criterion) {
    let line = b"2026-11-23T10:11:12.123456789Z level=info msg=\"request served\"";
    c.bench_function("split_timestamp", |b| {
        b.iter(|| split_timestamp(std::hint::black_box(line)))
    });
}

criterion_group!(benches, split_lines, parse_timestamp);
criterion_main!(benches);
