//! [`LineSplitter`]: network chunks in, [`Lines`] out.

use bytes::{Buf, Bytes, BytesMut};

use super::parts::{Assembler, PartFinder, Ready, Step};
use super::{JoinedUnits, Lines, Span, SpanParser};
use crate::line::LineKind;

/// Cuts a byte stream into lines on `\n`, joining the parts of lines the container runtime
/// stored in parts, and splitting lines longer than a cap into fragments.
///
/// Bytes are never altered or dropped, but for one thing: in a line the runtime stored in
/// parts (see [`Lines`]), the timestamps the API wrote before the parts after the first are
/// removed, so the line reads as the container wrote it, as `kubectl logs` shows it, with the
/// first part's timestamp. Otherwise the [`raw_slices`](Lines::raw_slices) of the output, one
/// push after another, are the input; invalid UTF-8 passes through.
///
/// Splitting is deterministic from the start of each line, so a stream re-read from a line
/// boundary yields the same fragments: a line of `n` bytes becomes `n / cap` fragments of
/// `cap` bytes plus a last one of the rest (possibly empty). A line joined from parts is cut
/// the same way part by part (the first `cap` bytes of each part, its removed timestamp
/// counted, then every `cap` bytes), and its fragments are as many of those pieces as fit in
/// `cap` bytes: with the default cap of 1 MiB and parts of 16 KiB, fragments of 64 parts.
///
/// Lines are slices of the chunk they arrived in; a line that straddles two chunks and a line
/// joined from parts are copied (once, into a buffer of their own, with the lines before them
/// in the same chunk).
#[derive(Debug)]
pub struct LineSplitter {
    max_line_bytes: usize,
    parser: SpanParser,
    /// Average bytes per line of the last chunk, to size the next chunk's line records in
    /// one allocation.
    bytes_per_line: usize,
    /// Lines this long or longer are looked at closely: cut at the cap, or joined from parts.
    slow_from: usize,
    finder: PartFinder,
    /// The line that straddles chunks, or is being joined.
    assembler: Assembler,
    /// Whether a line was begun and its end has not come.
    open: bool,
    /// Bytes of the open line not decided yet: a timestamp prefix cut off by the end of the
    /// chunk, or a part size waiting for the next part.
    pending: BytesMut,
}

/// How many bytes of a chunk settle what an earlier chunk left undecided, most of the time.
const SETTLE_BYTES: usize = 256;

impl LineSplitter {
    /// A splitter that cuts lines longer than `max_line_bytes` (at least 64) into fragments.
    pub fn new(max_line_bytes: usize) -> Self {
        let max_line_bytes = max_line_bytes.max(64);
        let finder = PartFinder::default();
        Self {
            max_line_bytes,
            parser: SpanParser::default(),
            bytes_per_line: 64,
            slow_from: max_line_bytes.min(finder.join_from()),
            finder,
            assembler: Assembler::new(max_line_bytes),
            open: false,
            pending: BytesMut::new(),
        }
    }

    /// Feeds a chunk; returns every line it completes.
    pub fn push(&mut self, chunk: Bytes) -> Lines {
        let mut lines = Lines {
            spans: Vec::with_capacity(chunk.len() / self.bytes_per_line + 4),
            ..Lines::default()
        };
        let mut head = Head::default();
        let mut at = 0;
        if self.open {
            match memchr::memchr(b'\n', &chunk) {
                Some(newline) => {
                    self.feed(&chunk[..newline], true);
                    self.end_line(true);
                    at = newline + 1;
                }
                None => {
                    self.feed(&chunk, false);
                    at = chunk.len();
                }
            }
            self.take_into(&mut lines, &mut head, &chunk);
        }
        let mut start = at;
        for newline in memchr::memchr_iter(b'\n', &chunk[at..]).map(|i| at + i) {
            if newline - start >= self.slow_from {
                self.long_line(&chunk, start, newline, &mut lines, &mut head);
            } else {
                lines.spans.push(self.span(&chunk, start, newline, LineKind::Full));
            }
            start = newline + 1;
        }
        if start < chunk.len() {
            self.feed(&chunk[start..], false);
            self.take_into(&mut lines, &mut head, &chunk);
        }
        // Undershooting a little costs one reallocation; overshooting, memory held per batch.
        self.bytes_per_line = (chunk.len() / lines.spans.len().max(1)).clamp(16, 4096) * 7 / 8;
        head.finish(&mut lines, chunk);
        lines
    }

    /// Ends the stream: a pending partial line becomes a [`LineKind::Unterminated`] line
    /// (carrying its line's timestamp if it is the rest of a line split for length).
    pub fn finish(&mut self) -> Lines {
        let mut lines = Lines::default();
        self.parser.open_fragment = None;
        if !self.open {
            return lines;
        }
        self.feed(&[], true);
        self.end_line(false);
        let mut head = Head::default();
        self.take_into(&mut lines, &mut head, &Bytes::new());
        head.finish(&mut lines, Bytes::new());
        lines
    }

    /// Drops a pending partial line, e.g. before re-reading the stream from a line boundary.
    /// What was learned of the stream (the size of its lines' parts) is kept.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.assembler.reset();
        self.finder.end_line();
        self.open = false;
        self.parser.open_fragment = None;
    }

    /// Bytes held for a line whose end has not arrived.
    pub fn pending_bytes(&self) -> usize {
        self.pending.len() + self.assembler.held()
    }

    /// A line of at least `slow_from` bytes that ends in the chunk: joined if it has parts,
    /// else sliced, in fragments if it is longer than the cap.
    fn long_line(&mut self, chunk: &Bytes, start: usize, newline: usize, lines: &mut Lines, head: &mut Head) {
        let raw = &chunk[start..newline];
        if raw.len() >= self.finder.join_from() && self.has_parts(raw) {
            self.feed(raw, true);
            self.end_line(true);
            self.take_into(lines, head, chunk);
            return;
        }
        let max = self.max_line_bytes;
        let mut start = start;
        while newline - start >= max {
            lines
                .spans
                .push(self.span(chunk, start, start + max, LineKind::Fragment { last: false }));
            start += max;
        }
        let kind = self.end_kind();
        lines.spans.push(self.span(chunk, start, newline, kind));
    }

    /// Whether the whole line `raw` has parts. If not, what the finder learned from it stays,
    /// as if the line had been read through it.
    fn has_parts(&mut self, raw: &[u8]) -> bool {
        let mut finder = self.finder.clone();
        let mut stamps = self.parser.stamps.clone();
        if finder.start(raw, true, &mut stamps).is_none() {
            return false;
        }
        let mut at = 0;
        loop {
            match finder.step(&raw[at..], true, &mut stamps) {
                Step::Content(n) => at += n,
                Step::Boundary { .. } => return true,
                Step::Wait => break,
            }
        }
        finder.end_line();
        self.finder = finder;
        self.refresh();
        false
    }

    /// Adds bytes of the open line (opening one if none is); `complete`: its end is here.
    fn feed(&mut self, mut data: &[u8], complete: bool) {
        self.open = true;
        if !self.pending.is_empty() {
            // Settle what is undecided with a few bytes of `data` if they do, to go on in
            // `data` itself; else with all of it.
            let some = data.len().min(SETTLE_BYTES);
            self.pending.extend_from_slice(&data[..some]);
            data = &data[some..];
            self.decide_pending(complete && data.is_empty());
            if !self.pending.is_empty() {
                if !data.is_empty() {
                    self.pending.extend_from_slice(data);
                    self.decide_pending(complete);
                }
                return;
            }
        }
        let used = self.decide(data, complete);
        self.pending.extend_from_slice(&data[used..]);
    }

    fn decide_pending(&mut self, complete: bool) {
        let pending = std::mem::take(&mut self.pending);
        let used = self.decide(&pending, complete);
        self.pending = pending;
        self.pending.advance(used);
    }

    /// Passes what can be decided of `raw`, the open line's next bytes, to the assembler;
    /// returns how many bytes that was.
    fn decide(&mut self, raw: &[u8], complete: bool) -> usize {
        let stamps = &mut self.parser.stamps;
        if !self.finder.open() {
            let Some((stamp, message_start)) = self.finder.start(raw, complete, stamps) else {
                return 0;
            };
            self.assembler.start_line(stamp, message_start);
        }
        let mut at = 0;
        loop {
            match self.finder.step(&raw[at..], complete, stamps) {
                Step::Content(n) => {
                    self.assembler.content(&raw[at..at + n]);
                    at += n;
                }
                Step::Boundary { len, stamp } => {
                    self.assembler.boundary(stamp, len);
                    at += len;
                }
                Step::Wait => return at,
            }
        }
    }

    /// Ends the open line, all of whose bytes were fed.
    fn end_line(&mut self, newline: bool) {
        self.assembler.end(newline);
        self.finder.end_line();
        self.open = false;
        self.refresh();
    }

    fn refresh(&mut self) {
        self.slow_from = self.max_line_bytes.min(self.finder.join_from());
    }

    fn take_into(&mut self, lines: &mut Lines, head: &mut Head, chunk: &Bytes) {
        if let Some(ready) = self.assembler.take() {
            head.copied(lines, chunk, ready);
        }
    }

    /// The kind of a piece that a newline ends.
    fn end_kind(&self) -> LineKind {
        match self.parser.open_fragment {
            Some(_) => LineKind::Fragment { last: true },
            None => LineKind::Full,
        }
    }

    fn span(&mut self, buf: &[u8], start: usize, end: usize, kind: LineKind) -> Span {
        self.parser.span(buf, start, end, kind)
    }
}

/// The first buffer of a batch being made: the copied lines, and the lines of the chunk
/// before them.
#[derive(Debug, Default)]
struct Head {
    /// Usually the only buffer: a line completed from the chunk before.
    first: Option<Bytes>,
    more: Vec<Bytes>,
    len: usize,
}

impl Head {
    /// Adds copied lines after those of `lines` so far. Lines sliced from `chunk` before them
    /// move into the head too (as slices of the chunk here, copied by [`Head::finish`]), so
    /// that the batch stays two runs of bytes in order.
    fn copied(&mut self, lines: &mut Lines, chunk: &Bytes, ready: Ready<'_>) {
        if let (Some(first), Some(last)) = (lines.spans.get(lines.head_lines), lines.spans.last()) {
            let (from, to) = (first.start as usize, last.raw_end());
            for span in &mut lines.spans[lines.head_lines..] {
                span.start = span.start - from as u32 + self.len as u32;
                span.end = span.end - from as u32 + self.len as u32;
            }
            self.push(chunk.slice(from..to));
        }
        let base = lines.spans.len();
        lines.joined.extend(ready.units.map(|(index, units)| JoinedUnits {
            line: base + index,
            units,
        }));
        let shift = self.len as u32;
        lines.spans.extend(ready.spans.map(|mut span| {
            span.start += shift;
            span.end += shift;
            span
        }));
        lines.head_lines = lines.spans.len();
        self.push(ready.bytes);
    }

    fn push(&mut self, bytes: Bytes) {
        self.len += bytes.len();
        match self.first {
            None => self.first = Some(bytes),
            Some(_) => self.more.push(bytes),
        }
    }

    /// Puts the head into `lines`, whose other lines lie in `chunk`.
    fn finish(self, lines: &mut Lines, chunk: Bytes) {
        lines.head = match (self.first, self.more.is_empty()) {
            (None, _) => Bytes::new(),
            (Some(first), true) => first,
            (Some(first), false) => {
                let mut all = BytesMut::with_capacity(self.len);
                all.extend_from_slice(&first);
                for more in &self.more {
                    all.extend_from_slice(more);
                }
                all.freeze()
            }
        };
        if lines.spans.len() > lines.head_lines {
            lines.body = chunk;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::LogLine;

    /// (raw, kind, timestamp) of every line, so results outlive their buffers.
    type Owned = (Vec<u8>, LineKind, Option<jiff::Timestamp>);

    fn owned(lines: &Lines) -> Vec<Owned> {
        lines
            .iter()
            .map(|l: LogLine<'_>| (l.raw().to_vec(), l.kind(), l.timestamp()))
            .collect()
    }

    fn split_all(chunks: &[&[u8]], cap: usize) -> (Vec<Owned>, Vec<u8>) {
        let mut splitter = LineSplitter::new(cap);
        let mut out = Vec::new();
        let mut bytes = Vec::new();
        for chunk in chunks {
            let lines = splitter.push(Bytes::copy_from_slice(chunk));
            bytes.extend(lines.raw_slices().concat());
            out.extend(owned(&lines));
        }
        let tail = splitter.finish();
        bytes.extend(tail.raw_slices().concat());
        out.extend(owned(&tail));
        (out, bytes)
    }

    fn rejoin(lines: &[Owned]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (raw, kind, _) in lines {
            bytes.extend_from_slice(raw);
            if kind.ends_line() {
                bytes.push(b'\n');
            }
        }
        bytes
    }

    fn message(line: &Owned) -> Vec<u8> {
        let raw = &line.0;
        match crate::line::split_timestamp(raw) {
            Some((_, start)) => raw[start as usize..].to_vec(),
            None => raw.clone(),
        }
    }

    #[test]
    fn parses_timestamp_and_message() {
        let mut splitter = LineSplitter::new(1024);
        let lines = splitter.push(Bytes::from_static(b"2026-11-23T10:00:00.123456789Z hello world\n"));
        assert_eq!(lines.len(), 1);
        let line = lines.first().unwrap();
        assert_eq!(line.message(), b"hello world");
        assert_eq!(line.timestamp_text(), Some(&b"2026-11-23T10:00:00.123456789Z"[..]));
        let expected: jiff::Timestamp = "2026-11-23T10:00:00.123456789Z".parse().unwrap();
        assert_eq!(line.timestamp(), Some(expected));
        assert_eq!(line.kind(), LineKind::Full);
    }

    #[test]
    fn line_without_timestamp_keeps_whole_message() {
        let (lines, _) = split_all(&[b"no timestamp here\n"], 1024);
        assert_eq!(lines[0].2, None);
        assert_eq!(message(&lines[0]), b"no timestamp here");
    }

    #[test]
    fn lines_across_chunk_boundaries() {
        let (lines, _) = split_all(&[b"2026-11-23T10:00:00Z a", b"b\n2026-11-23T10:00:01Z c", b"d\n"], 1024);
        let messages: Vec<_> = lines.iter().map(message).collect();
        assert_eq!(messages, vec![b"ab".to_vec(), b"cd".to_vec()]);
    }

    #[test]
    fn invalid_utf8_passes_through() {
        let input = b"2026-11-23T10:00:00Z \xff\xfe bad\n";
        let (lines, bytes) = split_all(&[input], 1024);
        assert_eq!(message(&lines[0]), b"\xff\xfe bad");
        assert_eq!(rejoin(&lines), input);
        assert_eq!(bytes, input);
    }

    #[test]
    fn long_line_is_split_into_fragments_that_rejoin_exactly() {
        let mut input = b"2026-11-23T10:00:00.5Z ".to_vec();
        input.extend(std::iter::repeat_n(b'x', 1000));
        input.extend_from_slice(b"\n2026-11-23T10:00:01Z next\n");
        for chunk_size in [1, 7, 100, 256, 5000] {
            let chunks: Vec<&[u8]> = input.chunks(chunk_size).collect();
            let (lines, bytes) = split_all(&chunks, 256);
            assert_eq!(rejoin(&lines), input, "chunk size {chunk_size}");
            assert_eq!(bytes, input, "chunk size {chunk_size}");
            let fragments = lines
                .iter()
                .filter(|l| matches!(l.1, LineKind::Fragment { .. }))
                .count();
            assert_eq!(fragments, 4, "1023 bytes in 256-byte pieces");
            assert!(lines.iter().all(|l| l.0.len() <= 256));
            let ts = lines[0].2;
            assert!(ts.is_some());
            assert!(lines[..4].iter().all(|l| l.2 == ts), "fragments inherit the timestamp");
            assert_eq!(lines[3].1, LineKind::Fragment { last: true });
            assert_eq!(message(&lines[4]), b"next");
        }
    }

    #[test]
    fn fragments_are_deterministic_from_line_start() {
        let mut input = Vec::new();
        for i in 0..50 {
            input.extend_from_slice(format!("2026-11-23T10:00:{i:02}Z ").as_bytes());
            input.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, i as usize * 37));
            input.push(b'\n');
        }
        let whole = split_all(&[&input], 100);
        for size in [1, 13, 99, 100, 101, 4096] {
            let chunked: Vec<&[u8]> = input.chunks(size).collect();
            assert_eq!(split_all(&chunked, 100), whole, "chunks of {size}");
        }
        assert_eq!(whole.1, input);
    }

    #[test]
    fn unterminated_tail_is_kept() {
        let (lines, bytes) = split_all(&[b"2026-11-23T10:00:00Z a\n2026-11-23T10:00:01Z partial"], 1024);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].1, LineKind::Unterminated);
        assert_eq!(message(&lines[1]), b"partial");
        assert_eq!(bytes, b"2026-11-23T10:00:00Z a\n2026-11-23T10:00:01Z partial");
    }

    #[test]
    fn a_split_line_cut_off_by_the_end_of_the_stream() {
        let mut input = b"2026-11-23T10:00:00Z ".to_vec();
        input.extend(std::iter::repeat_n(b'z', 150));
        let (lines, bytes) = split_all(&[&input], 64);
        assert_eq!(bytes, input);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2].1, LineKind::Unterminated, "no newline follows it");
        assert!(lines.iter().all(|l| l.2 == lines[0].2));
    }

    #[test]
    fn exact_cap_line_then_newline() {
        let (lines, bytes) = split_all(&[&[b'y'; 64], b"\n"], 64);
        assert_eq!(rejoin(&lines), [&[b'y'; 64][..], b"\n"].concat());
        assert_eq!(bytes, [&[b'y'; 64][..], b"\n"].concat());
        assert_eq!(lines[0].1, LineKind::Fragment { last: false });
        assert_eq!(lines[1].1, LineKind::Fragment { last: true });
        assert_eq!(
            split_all(&[&[b'y'; 64], b"\n"], 64),
            split_all(&[&[&[b'y'; 64][..], b"\n"].concat()], 64)
        );
    }

    #[test]
    fn empty_lines_are_lines() {
        let (lines, _) = split_all(&[b"\n\n"], 64);
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.0.is_empty() && l.1 == LineKind::Full));
    }

    #[test]
    fn random_chunkings_give_the_same_lines_and_bytes() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let mut input = Vec::new();
        // The input without the timestamps of parts after the first.
        let mut joined = Vec::new();
        for i in 0..300 {
            if i % 75 == 74 {
                // A line the runtime stored in parts of 4 KiB, a timestamp before each.
                let line: Vec<u8> = (0..2 * 4096 + 100).map(|j| b"ab\xffc "[(i + j) % 5]).collect();
                for (k, part) in line.chunks(4096).enumerate() {
                    let prefix = format!("2026-11-23T10:00:{:02}.{:09}Z ", i % 60, i + k);
                    input.extend_from_slice(prefix.as_bytes());
                    if k == 0 {
                        joined.extend_from_slice(prefix.as_bytes());
                    }
                    input.extend_from_slice(part);
                    joined.extend_from_slice(part);
                }
                input.push(b'\n');
                joined.push(b'\n');
                continue;
            }
            let start = input.len();
            if next(4) > 0 {
                input.extend_from_slice(format!("2026-11-23T10:00:{:02}.{:09}Z ", i % 60, i).as_bytes());
            }
            let len = [0, 5, 63, 64, 65, 128, 200][next(7) as usize];
            input.extend((0..len).map(|j| b"ab\xffc"[(i + j) % 4]));
            input.push(b'\n');
            joined.extend_from_slice(&input[start..]);
        }
        input.extend_from_slice(b"2026-11-23T10:00:00Z no newline");
        joined.extend_from_slice(b"2026-11-23T10:00:00Z no newline");
        let whole = split_all(&[&input], 64);
        assert!(whole.1 == joined, "the input, less the parts' timestamps");
        for _ in 0..200 {
            let mut chunks = Vec::new();
            let mut rest = &input[..];
            while !rest.is_empty() {
                let n = (1 + next(300) as usize).min(rest.len());
                chunks.push(&rest[..n]);
                rest = &rest[n..];
            }
            assert_eq!(split_all(&chunks, 64), whole);
        }
    }
}
