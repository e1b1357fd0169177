//! Lines stored in parts, as the kubelet serves them, through the splitter, cursors and
//! resumes.

use bytes::Bytes;
use jiff::{SignedDuration, Timestamp};

use crate::cursor::{Cursor, ResumeFilter};
use crate::line::{DEFAULT_MAX_LINE_BYTES, LineKind, LineSplitter, Lines, Unit};

const KIB: usize = 1024;

/// One record of a CRI log, as the runtime wrote it.
#[derive(Debug, Clone)]
struct Record {
    stamp: Timestamp,
    content: Vec<u8>,
    /// The record ends its line (containerd's `F`).
    last: bool,
    /// A newline follows (the line was terminated).
    newline: bool,
}

/// A container's output as containerd stores it: every line cut into records of `part`
/// bytes, the last one shorter or as long; timestamps from `stamps`, one per record.
fn records(lines: &[(Vec<u8>, bool)], part: usize, stamps: &mut impl FnMut() -> Timestamp) -> Vec<Record> {
    let mut out = Vec::new();
    for (content, newline) in lines {
        let mut chunks: Vec<&[u8]> = content.chunks(part).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        let n = chunks.len();
        for (i, chunk) in chunks.into_iter().enumerate() {
            out.push(Record {
                stamp: stamps(),
                content: chunk.to_vec(),
                last: i + 1 == n,
                newline: i + 1 == n && *newline,
            });
        }
    }
    out
}

/// Timestamps `step` apart from 2026-11-23T10:00:00.5Z.
fn clock(step: SignedDuration) -> impl FnMut() -> Timestamp {
    let mut now: Timestamp = "2026-11-23T10:00:00.5Z".parse().unwrap();
    move || {
        now += step;
        now
    }
}

fn ts(stamp: Timestamp) -> String {
    format!("{stamp:.9}")
}

/// What the API sends with `timestamps=true` (and `sinceTime`): a prefix before every record.
fn api(records: &[Record], since: Option<Timestamp>) -> Vec<u8> {
    let mut out = Vec::new();
    for record in records.iter().filter(|r| since.is_none_or(|s| r.stamp >= s)) {
        out.extend_from_slice(ts(record.stamp).as_bytes());
        out.push(b' ');
        out.extend_from_slice(&record.content);
        if record.newline {
            out.push(b'\n');
        }
    }
    out
}

/// The lines as the exporter should give them with timestamps: one prefix per line, the
/// first part's.
fn joined(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut line_start = true;
    for record in records {
        if line_start {
            out.extend_from_slice(ts(record.stamp).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(&record.content);
        if record.newline {
            out.push(b'\n');
        }
        line_start = record.last;
    }
    out
}

/// What `kubectl logs` shows: the lines as written.
fn plain(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    for record in records {
        out.extend_from_slice(&record.content);
        if record.newline {
            out.push(b'\n');
        }
    }
    out
}

/// A line of `len` bytes, varied, with invalid UTF-8 in it.
fn message(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| match (i + seed) % 1000 {
            7 => 0xff,
            8 => 0xfe,
            n => b"abcdefghij klmnopqrstuvwxyz{}\":,0123456789"[n % 42],
        })
        .collect()
}

fn chunks_of(bytes: &[u8], size: usize) -> Vec<&[u8]> {
    bytes.chunks(size.max(1)).collect()
}

/// Splits `chunks` to the end; returns the batches.
fn split(splitter: &mut LineSplitter, chunks: &[&[u8]]) -> Vec<Lines> {
    let mut out: Vec<Lines> = chunks
        .iter()
        .map(|chunk| splitter.push(Bytes::copy_from_slice(chunk)))
        .collect();
    out.push(splitter.finish());
    out
}

fn bytes_of(batches: &[Lines]) -> Vec<u8> {
    batches.iter().flat_map(|b| b.raw_slices().concat()).collect()
}

fn messages_of(batches: &[Lines]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in batches.iter().flat_map(|b| b.iter()) {
        out.extend_from_slice(line.message());
        if line.ends_line() {
            out.push(b'\n');
        }
    }
    out
}

/// Every line with everything a sink or a cursor can see of it.
type Owned = (Vec<u8>, LineKind, Option<Timestamp>, Option<Vec<u8>>, Vec<Unit>);

fn owned(batches: &[Lines]) -> Vec<Owned> {
    batches
        .iter()
        .flat_map(|b| b.iter())
        .map(|l| {
            (
                l.raw().to_vec(),
                l.kind(),
                l.timestamp(),
                l.timestamp_text().map(<[u8]>::to_vec),
                l.units.to_vec(),
            )
        })
        .collect()
}

/// The five lines of issue 18 (16 KiB − 1, 16 KiB, 16 KiB + 1, 64 KiB, 5 MB, the last
/// without a newline), with invalid UTF-8 in each.
fn issue_lines(part: usize) -> Vec<(Vec<u8>, bool)> {
    let lens = [part - 1, part, part + 1, 4 * part, 5_000_000];
    lens.iter()
        .enumerate()
        .map(|(i, &len)| (message(len, i), i + 1 < lens.len()))
        .collect()
}

#[test]
fn parts_of_the_default_size_are_joined_exactly() {
    let records = records(
        &issue_lines(16 * KIB),
        16 * KIB,
        &mut clock(SignedDuration::from_micros(3)),
    );
    let input = api(&records, None);
    assert!(
        input.len() > joined(&records).len() + 300 * 31,
        "the API's prefixes are in the input"
    );
    for cap in [DEFAULT_MAX_LINE_BYTES, 8 * 1024 * 1024] {
        for size in [16 * KIB, 1000, 1 << 20] {
            let batches = split(&mut LineSplitter::new(cap), &chunks_of(&input, size));
            assert!(bytes_of(&batches) == joined(&records), "cap {cap}, chunks of {size}");
            assert!(messages_of(&batches) == plain(&records), "cap {cap}, chunks of {size}");
            let lines = owned(&batches);
            // One timestamp per line, the first part's.
            let texts: Vec<_> = lines.iter().filter_map(|l| l.3.clone()).collect();
            let firsts: Vec<_> = records
                .iter()
                .enumerate()
                .filter(|(i, _)| *i == 0 || records[i - 1].last)
                .map(|(_, r)| ts(r.stamp).into_bytes())
                .collect();
            assert_eq!(texts, firsts);
            assert!(lines.iter().all(|l| l.0.len() <= cap));
            if cap > 5_000_100 {
                let kinds: Vec<_> = lines.iter().map(|l| l.1).collect();
                assert_eq!(
                    kinds,
                    [[LineKind::Full; 4].as_slice(), &[LineKind::Unterminated]].concat()
                );
            }
        }
    }
}

#[test]
fn other_part_sizes_are_learned() {
    for part in [8 * KIB, 32 * KIB, 4 * KIB] {
        let lines: Vec<_> = [part - 1, part, part + 1, 3 * part, 3 * part + 5, 100, 0]
            .iter()
            .enumerate()
            .map(|(i, &len)| (message(len, i), true))
            .collect();
        let records = records(&lines, part, &mut clock(SignedDuration::from_micros(7)));
        let input = api(&records, None);
        for size in [part / 3, 4 * part, input.len()] {
            let batches = split(&mut LineSplitter::new(DEFAULT_MAX_LINE_BYTES), &chunks_of(&input, size));
            assert!(bytes_of(&batches) == joined(&records), "part {part}, chunks of {size}");
            assert!(messages_of(&batches) == plain(&records));
            assert_eq!(owned(&batches).len(), lines.len());
        }
    }
}

#[test]
fn parts_smaller_than_the_minimum_stay_as_they_are() {
    let lines = vec![(message(3000, 0), true)];
    let records = records(&lines, 1024, &mut clock(SignedDuration::from_micros(1)));
    let input = api(&records, None);
    let batches = split(&mut LineSplitter::new(DEFAULT_MAX_LINE_BYTES), &[&input]);
    assert!(bytes_of(&batches) == input);
}

/// A stream with parts of 4 KiB, short lines between long ones, timestamp-like text and lines
/// of sizes around the part size.
fn mixed_stream(seed: u64) -> (Vec<Record>, Vec<u8>) {
    let mut state = seed | 1;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let part = 4 * KIB;
    let mut lines = Vec::new();
    for i in 0..40 {
        let len = [
            0,
            5,
            200,
            part - 1,
            part,
            part + 1,
            2 * part,
            2 * part + 77,
            5 * part + 3,
        ][next(9) as usize];
        let mut line = message(len, i);
        if len > 100 && next(3) == 0 {
            // Timestamp-like text, newer than any line, where parts could begin.
            let at = next(len as u64 - 40) as usize;
            line.splice(at..at + 31, b"2099-01-01T00:00:00.000000000Z ".iter().copied());
        }
        lines.push((line, true));
    }
    lines.push((message(2 * part + 10, 99), false));
    let mut clock = clock(SignedDuration::from_millis(130));
    let records = records(&lines, part, &mut clock);
    let input = api(&records, None);
    (records, input)
}

#[test]
fn every_chunking_gives_the_same_lines() {
    let (records, input) = mixed_stream(0x5eed);
    for cap in [DEFAULT_MAX_LINE_BYTES, 5000, 4096 + 31, 1000, 64] {
        let whole = owned(&split(&mut LineSplitter::new(cap), &[&input]));
        let whole_bytes = bytes_of(&split(&mut LineSplitter::new(cap), &[&input]));
        assert!(whole_bytes == joined(&records), "cap {cap}");
        assert!(whole.iter().all(|l| l.0.len() <= cap), "cap {cap}");
        let mut state = 0x2545_f491_4f6c_dd1d_u64 ^ cap as u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for round in 0..60 {
            let mut chunks = Vec::new();
            let mut rest = &input[..];
            let most = [40, 300, 5000, 70_000][round % 4];
            while !rest.is_empty() {
                let n = (1 + next(most) as usize).min(rest.len());
                chunks.push(&rest[..n]);
                rest = &rest[n..];
            }
            let batches = split(&mut LineSplitter::new(cap), &chunks);
            assert!(owned(&batches) == whole, "cap {cap}, round {round}");
        }
    }
}

#[test]
fn every_two_chunk_cut_gives_the_same_lines() {
    // Lines around a 4 KiB part, one cut off by the end of the stream.
    let lines: Vec<_> = [4095, 4097, 8192, 4096, 8200]
        .iter()
        .enumerate()
        .map(|(i, &len)| (message(len, i), i < 4))
        .collect();
    let records = records(&lines, 4 * KIB, &mut clock(SignedDuration::from_micros(11)));
    let input = api(&records, None);
    for cap in [DEFAULT_MAX_LINE_BYTES, 3000] {
        let whole = owned(&split(&mut LineSplitter::new(cap), &[&input]));
        // Every cut with the default cap; with a small one, every cut near a prefix.
        let near_prefix = |cut: usize| input[cut.saturating_sub(64)..(cut + 64).min(input.len())].contains(&b'Z');
        for cut in (0..=input.len()).filter(|&cut| cap == DEFAULT_MAX_LINE_BYTES || near_prefix(cut)) {
            let (a, b) = input.split_at(cut);
            assert!(
                owned(&split(&mut LineSplitter::new(cap), &[a, b])) == whole,
                "cap {cap}, cut {cut}"
            );
        }
        // Three chunks, the second a few bytes around each part boundary.
        for (at, _) in input
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[1] == b'2' && w[0] != b'\n')
        {
            for len in 1..40 {
                let Some(end) = at.checked_add(len).filter(|&e| e <= input.len()) else {
                    continue;
                };
                let chunks = [&input[..at], &input[at..end], &input[end..]];
                assert!(
                    owned(&split(&mut LineSplitter::new(cap), &chunks)) == whole,
                    "cap {cap}, {at}+{len}"
                );
            }
        }
    }
}

#[test]
fn timestamp_like_text_that_is_not_at_a_part_boundary_stays() {
    let newer = "2099-01-01T00:00:00.000000000Z ";
    let older = "2020-01-01T00:00:00.000000000Z ";
    let with_at = |len: usize, text: &str, at: usize| {
        let mut line = message(len, at);
        line.splice(at..at + text.len(), text.bytes());
        (line, true)
    };
    let cases = [
        // Before the smallest part size.
        vec![with_at(9000, newer, 100)],
        // Older than the line: a program's own timestamp.
        vec![with_at(9000, older, 5000)],
        // Newer, but not confirmed by the rest of the line.
        vec![with_at(20_000, newer, 5000)],
        // In a stream whose part size is known: only that place counts.
        vec![
            (message(40_000, 1), true),
            with_at(12_000, newer, 5000),
            with_at(40_000, newer, 20_000),
        ],
    ];
    for lines in cases {
        let records = records(&lines, 16 * KIB, &mut clock(SignedDuration::from_micros(5)));
        let input = api(&records, None);
        for size in [997, input.len()] {
            let batches = split(&mut LineSplitter::new(DEFAULT_MAX_LINE_BYTES), &chunks_of(&input, size));
            assert!(bytes_of(&batches) == joined(&records));
            assert!(messages_of(&batches) == plain(&records));
        }
    }
}

#[test]
fn a_timestamp_far_into_a_line_is_not_waited_on() {
    // No parts (a runtime that does not cut lines), a newer timestamp 4.5 MB in: too far to be
    // a part's end, so nothing is held back to see what follows it.
    let mut line = message(6_000_000, 3);
    line.splice(4_500_000..4_500_031, b"2099-01-01T00:00:00.000000000Z ".iter().copied());
    let mut input = b"2026-11-23T10:00:00.000000000Z ".to_vec();
    input.extend_from_slice(&line);
    input.push(b'\n');
    let mut splitter = LineSplitter::new(DEFAULT_MAX_LINE_BYTES);
    let mut out = Vec::new();
    for chunk in input.chunks(64 * KIB) {
        out.push(splitter.push(Bytes::copy_from_slice(chunk)));
        assert!(splitter.pending_bytes() <= DEFAULT_MAX_LINE_BYTES + 64 * KIB);
    }
    out.push(splitter.finish());
    assert!(bytes_of(&out) == input);
}

#[test]
fn a_part_size_that_stops_matching_is_forgotten() {
    // Parts of 8 KiB, then (the runtime reconfigured) of 16 KiB: the second line is joined
    // after its first part proved the old size wrong.
    let first = records(
        &[(message(20_000, 0), true)],
        8 * KIB,
        &mut clock(SignedDuration::from_micros(5)),
    );
    let mut later = clock(SignedDuration::from_micros(5));
    for _ in 0..10 {
        later();
    }
    let second = records(&[(message(40_000, 1), true)], 16 * KIB, &mut later);
    let all: Vec<Record> = first.into_iter().chain(second).collect();
    let input = api(&all, None);
    for size in [1000, input.len()] {
        let batches = split(&mut LineSplitter::new(DEFAULT_MAX_LINE_BYTES), &chunks_of(&input, size));
        assert!(bytes_of(&batches) == joined(&all));
    }
}

#[test]
fn offsets_other_than_utc_are_joined() {
    let records = records(
        &[(message(10_000, 0), true)],
        4 * KIB,
        &mut clock(SignedDuration::from_micros(5)),
    );
    let local = |stamp: Timestamp| {
        let zoned = stamp.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(1)));
        format!("{}", zoned.strftime("%Y-%m-%dT%H:%M:%S%.9f%:z"))
    };
    let mut input = Vec::new();
    for record in &records {
        input.extend_from_slice(local(record.stamp).as_bytes());
        input.push(b' ');
        input.extend_from_slice(&record.content);
    }
    input.push(b'\n');
    let batches = split(&mut LineSplitter::new(DEFAULT_MAX_LINE_BYTES), &chunks_of(&input, 999));
    let mut expected = local(records[0].stamp).into_bytes();
    expected.push(b' ');
    expected.extend_from_slice(&plain(&records));
    assert!(bytes_of(&batches) == expected, "joined under one +01:00 prefix");
    assert_eq!(batches.iter().map(Lines::len).sum::<usize>(), 1);
}

#[test]
fn max_line_bytes_still_splits_joined_lines() {
    let lines: Vec<_> = [10_000, 4096, 30_000]
        .iter()
        .enumerate()
        .map(|(i, &len)| (message(len, i), true))
        .collect();
    let records = records(&lines, 4 * KIB, &mut clock(SignedDuration::from_micros(5)));
    let input = api(&records, None);
    for cap in [64, 1000, 4096, 4096 + 31, 4096 + 32, 8192 + 31, 9000, 20_000] {
        let batches = split(&mut LineSplitter::new(cap), &chunks_of(&input, 1500));
        assert!(bytes_of(&batches) == joined(&records), "cap {cap}");
        let lines = owned(&batches);
        assert!(lines.iter().all(|l| l.0.len() <= cap), "cap {cap}");
        assert_eq!(lines.iter().filter(|l| l.1.ends_line()).count(), 3);
        // Units are each record cut every `cap` bytes from its start, its prefix counted.
        let units: usize = lines.iter().map(|l| l.4.len().max(1)).sum();
        let expected: usize = records
            .iter()
            .map(|r| {
                let counted = 31 + r.content.len();
                if r.last {
                    counted / cap + 1
                } else {
                    counted.div_ceil(cap)
                }
            })
            .sum();
        assert_eq!(units, expected, "cap {cap}");
        // A fragment holds whole units as long as the next fits.
        if cap >= 4096 + 31 {
            assert!(
                lines
                    .iter()
                    .filter(|l| !l.1.ends_line())
                    .all(|l| l.0.len() + 4096 > cap)
            );
        }
    }
}

/// Splits what the API sends from `since` with `splitter`, in chunks of `size`, keeping what
/// `filter` lets through.
fn resumed(
    records: &[Record],
    since: Option<Timestamp>,
    splitter: &mut LineSplitter,
    filter: &mut ResumeFilter,
    size: usize,
) -> Vec<Lines> {
    let input = api(records, since);
    let mut batches = split(splitter, &chunks_of(&input, size));
    for batch in &mut batches {
        filter.apply(batch);
    }
    batches
}

fn cursor_of(batches: &[Lines], start: Option<Cursor>) -> Option<Cursor> {
    batches.iter().fold(start, |c, b| b.cursor_after(c))
}

#[test]
fn a_resume_inside_a_long_line_neither_repeats_nor_drops_parts() {
    let (records, input) = mixed_stream(0xabcd);
    let expected = joined(&records);
    for cap in [DEFAULT_MAX_LINE_BYTES, 5000, 1000] {
        let whole = split(&mut LineSplitter::new(cap), &chunks_of(&input, 3000));
        let pieces: Vec<Lines> = whole
            .iter()
            .flat_map(|b| (0..b.len()).map(|i| b.slice(i..i + 1)))
            .collect();
        let (mut mid_line, mut mid_part_stream) = (0, 0);
        // A run delivered `k` pieces and committed; the next run resumes from its cursor.
        for k in 0..=pieces.len() {
            let delivered = &pieces[..k];
            let cursor = cursor_of(delivered, None);
            let mut filter = ResumeFilter::new(cursor);
            let mut fresh = LineSplitter::new(cap);
            let size = [700, 4099, 100_000][k % 3];
            let rest = resumed(&records, cursor.map(|c| c.since_time()), &mut fresh, &mut filter, size);
            let mut out = bytes_of(delivered);
            out.extend(bytes_of(&rest));
            assert!(out == expected, "cap {cap}: resumed after {k} pieces at {cursor:?}");
            assert_eq!(filter.take_gap(), None);
            mid_line += usize::from(delivered.last().is_some_and(|p| !p.last().unwrap().ends_line()));
            let resumed_at = cursor.and_then(|c| records.iter().position(|r| r.stamp >= c.since_time()));
            mid_part_stream += usize::from(resumed_at.is_some_and(|at| at > 0 && !records[at - 1].last));
            // The resumed run's cursor ends where an uninterrupted one does.
            assert_eq!(cursor_of(&rest, cursor), cursor_of(&whole, None), "cap {cap}, {k}");
        }
        assert!(
            mid_part_stream > 0,
            "cap {cap}: some resumed streams begin with a line's later part"
        );
        if cap < 8192 {
            assert!(mid_line > 0, "cap {cap}: some runs ended in the middle of a line");
        }
    }
}

#[test]
fn a_connection_dropped_mid_line_resumes_exactly() {
    let lines = issue_lines(16 * KIB);
    let records = records(&lines, 16 * KIB, &mut clock(SignedDuration::from_micros(2500)));
    let input = api(&records, None);
    let expected = joined(&records);
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    for cap in [DEFAULT_MAX_LINE_BYTES, 64 * KIB + 7] {
        for _ in 0..12 {
            // The connection drops after `cut` bytes; what the splitter held is lost.
            let cut = next(input.len() as u64) as usize;
            let mut splitter = LineSplitter::new(cap);
            let delivered: Vec<Lines> = chunks_of(&input[..cut], 16 * KIB)
                .iter()
                .map(|c| splitter.push(Bytes::copy_from_slice(c)))
                .collect();
            splitter.reset();
            let cursor = cursor_of(&delivered, None);
            let mut filter = ResumeFilter::new(cursor);
            let rest = resumed(
                &records,
                cursor.map(|c| c.since_time()),
                &mut splitter,
                &mut filter,
                16 * KIB,
            );
            let mut out = bytes_of(&delivered);
            out.extend(bytes_of(&rest));
            assert!(
                out == expected,
                "cap {cap}: dropped after {cut} bytes, cursor {cursor:?}"
            );
        }
    }
}

#[test]
fn cursor_after_is_the_fold_of_advance_over_joined_lines() {
    // Parts whose timestamps repeat (a coarse clock), lines that share them.
    let lines: Vec<_> = [5000, 30, 9000, 4096, 12_000, 0, 4097]
        .iter()
        .enumerate()
        .map(|(i, &len)| (message(len, i), true))
        .collect();
    let mut n = 0;
    let records = records(&lines, 4 * KIB, &mut || {
        n += 1;
        let base: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        base + SignedDuration::from_millis(n / 3 * 400)
    });
    let input = api(&records, None);
    let starts = [
        None,
        Some(Cursor {
            timestamp: "2026-11-23T10:00:00Z".parse().unwrap(),
            lines_at_timestamp: 2,
        }),
    ];
    for cap in [DEFAULT_MAX_LINE_BYTES, 3000, 5000] {
        let batches = split(&mut LineSplitter::new(cap), &chunks_of(&input, 2048));
        let all: Vec<Lines> = batches
            .iter()
            .flat_map(|b| (0..b.len()).map(|i| b.slice(i..i + 1)))
            .collect();
        let mut joined_any = false;
        for from in 0..all.len() {
            for to in from..=all.len() {
                let mut lines = Lines::default();
                for piece in &all[from..to] {
                    lines.append(piece.clone());
                }
                joined_any |= lines.iter().any(|l| !l.units.is_empty());
                for start in starts {
                    let folded = lines.iter().fold(start, |c, line| Cursor::advance(c, &line));
                    assert_eq!(lines.cursor_after(start), folded, "cap {cap}, {from}..{to}");
                }
            }
        }
        assert!(joined_any);
    }
}
