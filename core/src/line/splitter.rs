//! [`LineSplitter`]: network chunks in, [`Lines`] out.

use bytes::{Bytes, BytesMut};

use super::{Lines, Span, SpanParser};
use crate::line::LineKind;

/// Cuts a byte stream into lines on `\n`, splitting lines longer than a cap into fragments.
///
/// Bytes are never altered or dropped: invalid UTF-8 passes through, and the
/// [`raw_slices`](Lines::raw_slices) of the output, one push after another, are the input.
/// Splitting is deterministic from the start of each line, so a stream re-read from a line
/// boundary yields the same fragments: a line of `n` bytes becomes `n / cap` fragments of
/// `cap` bytes plus a last one of the rest (possibly empty).
///
/// Lines are slices of the chunk they arrived in; only a line that straddles two chunks is
/// copied (once, into a buffer of its own).
#[derive(Debug)]
pub struct LineSplitter {
    max_line_bytes: usize,
    /// The start of a line whose end has not arrived yet (less than `max_line_bytes`).
    carry: BytesMut,
    parser: SpanParser,
    /// Average bytes per line of the last chunk, to size the next chunk's line records in
    /// one allocation.
    bytes_per_line: usize,
}

impl LineSplitter {
    /// A splitter that cuts lines longer than `max_line_bytes` (at least 64) into fragments.
    pub fn new(max_line_bytes: usize) -> Self {
        Self {
            max_line_bytes: max_line_bytes.max(64),
            carry: BytesMut::new(),
            parser: SpanParser::default(),
            bytes_per_line: 64,
        }
    }

    /// Feeds a chunk; returns every line it completes.
    pub fn push(&mut self, chunk: Bytes) -> Lines {
        let mut lines = Lines {
            spans: Vec::with_capacity(chunk.len() / self.bytes_per_line + 4),
            ..Lines::default()
        };
        let mut at = 0;
        if !self.carry.is_empty() {
            match self.complete_carry(&chunk) {
                Some(used) => {
                    at = used;
                    let head = self.carry.split().freeze();
                    let kind = if head.last() == Some(&b'\n') {
                        self.end_kind()
                    } else {
                        LineKind::Fragment { last: false }
                    };
                    let end = head.len() - usize::from(kind.ends_line());
                    lines.spans.push(self.span(&head, 0, end, kind));
                    lines.head = head;
                    lines.head_lines = 1;
                }
                None => return lines,
            }
        }
        let max = self.max_line_bytes;
        let mut start = at;
        for newline in memchr::memchr_iter(b'\n', &chunk[at..]).map(|i| at + i) {
            while newline - start >= max {
                lines
                    .spans
                    .push(self.span(&chunk, start, start + max, LineKind::Fragment { last: false }));
                start += max;
            }
            let kind = self.end_kind();
            lines.spans.push(self.span(&chunk, start, newline, kind));
            start = newline + 1;
        }
        while chunk.len() - start >= max {
            lines
                .spans
                .push(self.span(&chunk, start, start + max, LineKind::Fragment { last: false }));
            start += max;
        }
        self.carry.extend_from_slice(&chunk[start..]);
        // Undershooting a little costs one reallocation; overshooting, memory held per batch.
        self.bytes_per_line = (chunk.len() / lines.spans.len().max(1)).clamp(16, 4096) * 7 / 8;
        if lines.spans.len() > lines.head_lines {
            lines.body = chunk;
        }
        lines
    }

    /// Ends the stream: a pending partial line becomes a [`LineKind::Unterminated`] line
    /// (carrying its line's timestamp if it is the rest of a line split for length).
    pub fn finish(&mut self) -> Lines {
        let mut lines = Lines::default();
        if self.carry.is_empty() {
            self.parser.open_fragment = None;
            return lines;
        }
        let head = self.carry.split().freeze();
        lines
            .spans
            .push(self.span(&head, 0, head.len(), LineKind::Unterminated));
        lines.head = head;
        lines.head_lines = 1;
        lines
    }

    /// Drops a pending partial line, e.g. before re-reading the stream from a line boundary.
    pub fn reset(&mut self) {
        self.carry.clear();
        self.parser.open_fragment = None;
    }

    /// Bytes held for a line whose end has not arrived.
    pub fn pending_bytes(&self) -> usize {
        self.carry.len()
    }

    /// Appends to the carried line what of `chunk` completes it (up to and with its newline, or
    /// up to the cap); returns how much of `chunk` it took, or `None` if all of it went into
    /// the carry and the line is still open.
    fn complete_carry(&mut self, chunk: &[u8]) -> Option<usize> {
        let room = self.max_line_bytes - self.carry.len();
        let window = &chunk[..chunk.len().min(room)];
        match memchr::memchr(b'\n', window) {
            Some(newline) => {
                self.carry.extend_from_slice(&chunk[..=newline]);
                Some(newline + 1)
            }
            None if chunk.len() < room => {
                self.carry.extend_from_slice(chunk);
                None
            }
            None => {
                self.carry.extend_from_slice(&chunk[..room]);
                Some(room)
            }
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
        for i in 0..300 {
            if next(4) > 0 {
                input.extend_from_slice(format!("2026-11-23T10:00:{:02}.{:09}Z ", i % 60, i).as_bytes());
            }
            let len = [0, 5, 63, 64, 65, 128, 200][next(7) as usize];
            input.extend((0..len).map(|j| b"ab\xffc"[(i + j) % 4]));
            input.push(b'\n');
        }
        input.extend_from_slice(b"2026-11-23T10:00:00Z no newline");
        let whole = split_all(&[&input], 64);
        assert_eq!(whole.1, input);
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
