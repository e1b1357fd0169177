//! The per-line work of an export: splitting network chunks into lines and parsing timestamps,
//! encoding records (raw, text, NDJSON) and compressing blocks as the S3 sink does.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::Write;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kle_benches::{api_log_stream, batches, container};
use kle_core::lines::{LineSplitter, split_timestamp};
use kle_sinks::encode::{Encoder, Format};

fn split_lines(c: &mut Criterion) {
    let stream = api_log_stream(20_000);
    let mut group = c.benchmark_group("split_lines");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    // Network reads arrive in chunks of a few KiB to 64 KiB.
    for chunk_size in [4 * 1024, 64 * 1024] {
        group.bench_with_input(BenchmarkId::from_parameter(chunk_size), &chunk_size, |b, &size| {
            let chunks: Vec<Bytes> = stream.chunks(size).map(Bytes::copy_from_slice).collect();
            b.iter(|| {
                let mut splitter = LineSplitter::new(1 << 20);
                let mut total = 0;
                for chunk in &chunks {
                    total += splitter.push(chunk.clone()).len();
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

fn encode(c: &mut Criterion) {
    let stream = api_log_stream(20_000);
    let batches = batches(&stream, &container(0));
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    let formats = [
        ("raw", Format::RAW_WITH_TIMESTAMPS),
        (
            "text",
            Format::Text {
                color: false,
                timestamps: true,
            },
        ),
        ("ndjson", Format::Json),
    ];
    for (name, format) in formats {
        group.bench_function(name, |b| {
            let mut encoder = Encoder::new(format.clone());
            let mut out = Vec::with_capacity(stream.len() * 3);
            b.iter(|| {
                out.clear();
                for batch in &batches {
                    encoder.encode(batch, &mut out);
                }
                out.len()
            });
        });
    }
    group.finish();
}

/// Blocks of 256 KiB, as the S3 sink compresses them (zstd level 3 with checksums; gzip level 1).
fn compress(c: &mut Criterion) {
    let stream = api_log_stream(20_000);
    let block = &stream[..256 * 1024];
    let mut group = c.benchmark_group("compress_256k");
    group.throughput(Throughput::Bytes(block.len() as u64));
    group.bench_function("zstd3", |b| {
        let mut zstd = zstd::bulk::Compressor::new(3).unwrap();
        zstd.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
            .unwrap();
        b.iter(|| zstd.compress(block).unwrap().len());
    });
    group.bench_function("gzip1", |b| {
        let mut out = Vec::with_capacity(block.len());
        b.iter(|| {
            out.clear();
            let mut gzip = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
            gzip.write_all(block).unwrap();
            gzip.finish().unwrap().len()
        });
    });
    group.finish();
}

criterion_group!(benches, split_lines, parse_timestamp, encode, compress);
criterion_main!(benches);
