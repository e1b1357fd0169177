//! No allocation per line on the hot path: splitting network chunks into lines and encoding
//! them reuse their buffers, so allocations grow with chunks, not lines. Counted with a global
//! allocator, so this test binary holds nothing else.

#![allow(unsafe_code, clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use kle_benches::{api_log_stream, container};
use kle_core::LogBatch;
use kle_core::lines::LineSplitter;
use kle_sinks::encode::{Encoder, Format};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through `alloc`/`realloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `dealloc`; `new_size` is the caller's, checked by `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Splits and encodes `stream` in 64 KiB chunks with reused buffers; returns (lines, allocations).
fn run(format: Format) -> (u64, u64) {
    let stream = api_log_stream(20_000);
    let chunks: Vec<_> = stream.chunks(64 * 1024).map(|c| stream.slice_ref(c)).collect();
    let mut splitter = LineSplitter::new(1 << 20);
    let mut encoder = Encoder::new(format);
    let container = container(0);
    let mut out = Vec::with_capacity(1 << 20);
    // One warm-up pass over a chunk fills the encoder's per-container cache.
    encoder.encode(
        &LogBatch::new(container.clone(), splitter.push(chunks[0].clone())),
        &mut out,
    );
    out.clear();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut lines = 0;
    for chunk in &chunks[1..] {
        let batch = LogBatch::new(container.clone(), splitter.push(chunk.clone()));
        lines += batch.lines.len() as u64;
        encoder.encode(&batch, &mut out);
        out.clear();
    }
    (lines, ALLOCATIONS.load(Ordering::Relaxed) - before)
}

#[test]
fn splitting_and_encoding_do_not_allocate_per_line() {
    for (name, format) in [
        ("raw", Format::RAW_WITH_TIMESTAMPS),
        ("text", Format::PLAIN_TEXT),
        ("ndjson", Format::Json),
    ] {
        let (lines, allocations) = run(format);
        println!("{name}: {allocations} allocations for {lines} lines");
        // Per chunk: the lines' records, and the buffer of the line that straddles two chunks.
        assert!(
            allocations * 100 < lines,
            "{name}: {allocations} allocations for {lines} lines"
        );
    }
}
