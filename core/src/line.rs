//! Log lines as the API returns them, and the splitter that cuts a byte stream into them.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use jiff::Timestamp;

use crate::container::Container;

/// Default cap on the bytes of one line before it is split into fragments (1 MiB).
pub const DEFAULT_MAX_LINE_BYTES: usize = 1024 * 1024;

/// How a line relates to the line the container wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// A whole line, terminated by `\n` in the stream.
    Full,
    /// A piece of a line longer than the cap; `last` marks the piece that ends it.
    Fragment {
        /// Whether this fragment completes the line.
        last: bool,
    },
    /// The stream ended without a final `\n` (the server closed the response after a partial line).
    Unterminated,
}

/// One log line: the exact bytes the API sent (timestamp prefix included, newline excluded).
///
/// `raw` is a slice of the network buffer, so building a line copies nothing. Sinks that must
/// reproduce the API's output write [`LogLine::raw`] plus a newline after every line that ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    raw: Bytes,
    message_start: u32,
    timestamp: Option<Timestamp>,
    kind: LineKind,
}

impl LogLine {
    /// Builds a line from raw bytes, parsing an RFC 3339 timestamp prefix when there is one.
    pub fn parse(raw: Bytes, kind: LineKind) -> Self {
        match split_timestamp(&raw) {
            Some((timestamp, message_start)) => Self {
                raw,
                message_start,
                timestamp: Some(timestamp),
                kind,
            },
            None => Self {
                raw,
                message_start: 0,
                timestamp: None,
                kind,
            },
        }
    }

    /// A continuation fragment: no timestamp prefix of its own, it inherits the line's.
    pub fn continuation(raw: Bytes, timestamp: Option<Timestamp>, last: bool) -> Self {
        Self {
            raw,
            message_start: 0,
            timestamp,
            kind: LineKind::Fragment { last },
        }
    }

    /// The bytes as received: timestamp, space, message.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The message without the timestamp prefix.
    pub fn message(&self) -> &[u8] {
        &self.raw[self.message_start as usize..]
    }

    /// The timestamp prefix exactly as the API wrote it (RFC 3339, usually nanoseconds).
    pub fn timestamp_text(&self) -> Option<&[u8]> {
        (self.message_start > 0).then(|| &self.raw[..self.message_start as usize - 1])
    }

    /// The parsed timestamp, if the line had one (or, for a continuation, its line had one).
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.timestamp
    }

    /// Whole line, fragment or unterminated tail.
    pub fn kind(&self) -> LineKind {
        self.kind
    }

    /// Whether a newline follows this line in the original stream.
    pub fn ends_line(&self) -> bool {
        matches!(self.kind, LineKind::Full | LineKind::Fragment { last: true })
    }
}

/// Lines read from one container, in order. The unit a sink writes.
#[derive(Debug, Clone)]
pub struct LogBatch {
    /// The container instance the lines come from.
    pub container: Arc<Container>,
    /// The lines, oldest first.
    pub lines: Vec<LogLine>,
}

impl LogBatch {
    /// Bytes of the batch as the API sent them (newlines included).
    pub fn raw_len(&self) -> usize {
        self.lines
            .iter()
            .map(|line| line.raw().len() + usize::from(line.ends_line()))
            .sum()
    }
}

/// Parses the `<RFC3339> ` prefix of a line; returns the timestamp and where the message starts.
pub fn split_timestamp(raw: &[u8]) -> Option<(Timestamp, u32)> {
    // RFC 3339 with nanoseconds is at most 35 bytes; look for the separating space in that window.
    let window = &raw[..raw.len().min(40)];
    let space = window.iter().position(|&b| b == b' ')?;
    let timestamp = match parse_kubelet_timestamp(&raw[..space]) {
        Some(timestamp) => timestamp,
        None => std::str::from_utf8(&raw[..space]).ok()?.parse().ok()?,
    };
    Some((timestamp, u32::try_from(space + 1).ok()?))
}

/// The kubelet's own format, `2006-01-02T15:04:05.000000000Z` (RFC3339NanoFixed, UTC), parsed
/// without jiff's general parser, which was a third of the exporter's CPU per line. Anything else
/// (other offsets, fewer digits, a leap second) returns `None` and goes to jiff.
fn parse_kubelet_timestamp(text: &[u8]) -> Option<Timestamp> {
    let &[
        y0,
        y1,
        y2,
        y3,
        b'-',
        mo0,
        mo1,
        b'-',
        d0,
        d1,
        b'T',
        h0,
        h1,
        b':',
        mi0,
        mi1,
        b':',
        s0,
        s1,
        b'.',
        ref nanos @ ..,
    ] = text
    else {
        return None;
    };
    let [nanos @ .., b'Z'] = nanos else { return None };
    if nanos.len() != 9 {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0i64, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
        })
    };
    let year = number(&[y0, y1, y2, y3])?;
    let (month, day) = (number(&[mo0, mo1])?, number(&[d0, d1])?);
    let (hour, minute, second) = (number(&[h0, h1])?, number(&[mi0, mi1])?, number(&[s0, s1])?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=month_days).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    Timestamp::new(seconds, i32::try_from(number(nanos)?).ok()?).ok()
}

/// Cuts a byte stream into lines on `\n`, splitting lines longer than a cap into fragments.
///
/// Bytes are never altered or dropped: invalid UTF-8 passes through, and concatenating the
/// [`LogLine::raw`] bytes of the output, with `\n` after every line that [ends](LogLine::ends_line),
/// reproduces the input. Splitting is deterministic from the start of each line, so a stream
/// re-read from a line boundary yields the same fragments.
#[derive(Debug)]
pub struct LineSplitter {
    max_line_bytes: usize,
    /// The start of a line whose end has not arrived yet (at most `max_line_bytes`).
    carry: BytesMut,
    /// Set while inside a line that was already split: the next pieces are continuations.
    open_fragment: Option<Option<Timestamp>>,
}

impl LineSplitter {
    /// A splitter that cuts lines longer than `max_line_bytes` (at least 64) into fragments.
    pub fn new(max_line_bytes: usize) -> Self {
        Self {
            max_line_bytes: max_line_bytes.max(64),
            carry: BytesMut::new(),
            open_fragment: None,
        }
    }

    /// Feeds a chunk and appends every line it completes to `out`.
    pub fn push(&mut self, mut chunk: Bytes, out: &mut Vec<LogLine>) {
        while !chunk.is_empty() {
            let room = self.max_line_bytes - self.carry.len();
            let window = &chunk[..chunk.len().min(room)];
            match memchr(window) {
                Some(newline) => {
                    let piece = chunk.split_to(newline);
                    chunk.advance(1);
                    let line = self.take_with(piece);
                    self.emit(line, true, out);
                }
                None if chunk.len() < room => {
                    self.carry.extend_from_slice(&chunk);
                    return;
                }
                None => {
                    let piece = chunk.split_to(room);
                    let line = self.take_with(piece);
                    self.emit(line, false, out);
                }
            }
        }
    }

    /// Ends the stream: a pending partial line becomes an [`LineKind::Unterminated`] line.
    pub fn finish(&mut self, out: &mut Vec<LogLine>) {
        if self.carry.is_empty() && self.open_fragment.is_none() {
            return;
        }
        let raw = self.carry.split().freeze();
        let line = match self.open_fragment.take() {
            Some(timestamp) => LogLine::continuation(raw, timestamp, true),
            None => LogLine::parse(raw, LineKind::Unterminated),
        };
        out.push(line);
    }

    /// Drops a pending partial line, e.g. before re-reading the stream from a line boundary.
    pub fn reset(&mut self) {
        self.carry.clear();
        self.open_fragment = None;
    }

    /// Bytes held for a line whose end has not arrived.
    pub fn pending_bytes(&self) -> usize {
        self.carry.len()
    }

    fn take_with(&mut self, piece: Bytes) -> Bytes {
        if self.carry.is_empty() {
            piece
        } else {
            self.carry.extend_from_slice(&piece);
            self.carry.split().freeze()
        }
    }

    fn emit(&mut self, raw: Bytes, ends_line: bool, out: &mut Vec<LogLine>) {
        let line = match (self.open_fragment, ends_line) {
            (None, true) => LogLine::parse(raw, LineKind::Full),
            (None, false) => {
                let line = LogLine::parse(raw, LineKind::Fragment { last: false });
                self.open_fragment = Some(line.timestamp());
                line
            }
            (Some(timestamp), last) => {
                if last {
                    self.open_fragment = None;
                }
                LogLine::continuation(raw, timestamp, last)
            }
        };
        out.push(line);
    }
}

fn memchr(haystack: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', haystack)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(chunks: &[&[u8]], cap: usize) -> Vec<LogLine> {
        let mut splitter = LineSplitter::new(cap);
        let mut out = Vec::new();
        for chunk in chunks {
            splitter.push(Bytes::copy_from_slice(chunk), &mut out);
        }
        splitter.finish(&mut out);
        out
    }

    fn rejoin(lines: &[LogLine]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for line in lines {
            bytes.extend_from_slice(line.raw());
            if line.ends_line() {
                bytes.push(b'\n');
            }
        }
        bytes
    }

    #[test]
    fn kubelet_timestamps_parse_like_jiff() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut texts: Vec<String> = (0..20_000)
            .map(|_| {
                // 0001-01-01 to 9999-12-31, any nanosecond.
                let second = (next() % 315_537_897_600) as i64 - 62_135_596_800;
                let ts = Timestamp::new(second, (next() % 1_000_000_000) as i32).unwrap();
                format!("{ts:.9}")
            })
            .collect();
        texts.extend(
            [
                "2024-02-29T23:59:59.999999999Z",
                "2023-02-29T00:00:00.000000000Z",
                "2100-02-29T00:00:00.000000000Z",
                "2000-02-29T00:00:00.000000000Z",
                "1970-01-01T00:00:00.000000000Z",
                "1969-12-31T23:59:59.999999999Z",
                "2024-04-31T00:00:00.000000000Z",
                "2024-13-01T00:00:00.000000000Z",
                "2024-00-01T00:00:00.000000000Z",
                "2024-01-01T24:00:00.000000000Z",
                "2024-01-01T23:60:00.000000000Z",
                "2016-12-31T23:59:60.000000000Z",
                "2024-01-01T00:00:00.00000000Z",
                "2024-01-01T00:00:00.000000000+01:00",
                "2024-01-01T00:00:00Z",
                "2024-1a-01T00:00:00.000000000Z",
                "+2024-01-01T00:00:00.000000000Z",
            ]
            .map(str::to_owned),
        );
        assert!(
            texts[..20_000]
                .iter()
                .all(|t| parse_kubelet_timestamp(t.as_bytes()).is_some())
        );
        for text in &texts {
            let fast = parse_kubelet_timestamp(text.as_bytes());
            let jiff = text.parse::<Timestamp>().ok();
            // Some only when jiff agrees; None hands the text to jiff (other formats, invalid).
            assert!(fast.is_none() || fast == jiff, "{text}");
            let line = format!("{text} message");
            assert_eq!(split_timestamp(line.as_bytes()).map(|(t, _)| t), jiff, "{text}");
        }
    }

    #[test]
    fn parses_timestamp_and_message() {
        let lines = split_all(&[b"2026-11-23T10:00:00.123456789Z hello world\n"], 1024);
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line.message(), b"hello world");
        assert_eq!(line.timestamp_text(), Some(&b"2026-11-23T10:00:00.123456789Z"[..]));
        let ts = line.timestamp().map(|t| t.as_nanosecond());
        let expected: Timestamp = "2026-11-23T10:00:00.123456789Z".parse().unwrap();
        assert_eq!(ts, Some(expected.as_nanosecond()));
        assert_eq!(line.kind(), LineKind::Full);
    }

    #[test]
    fn line_without_timestamp_keeps_whole_message() {
        let lines = split_all(&[b"no timestamp here\n"], 1024);
        assert_eq!(lines[0].timestamp(), None);
        assert_eq!(lines[0].message(), b"no timestamp here");
    }

    #[test]
    fn lines_across_chunk_boundaries() {
        let lines = split_all(&[b"2026-11-23T10:00:00Z a", b"b\n2026-11-23T10:00:01Z c", b"d\n"], 1024);
        let messages: Vec<_> = lines.iter().map(LogLine::message).collect();
        assert_eq!(messages, vec![&b"ab"[..], &b"cd"[..]]);
    }

    #[test]
    fn invalid_utf8_passes_through() {
        let input = b"2026-11-23T10:00:00Z \xff\xfe bad\n";
        let lines = split_all(&[input], 1024);
        assert_eq!(lines[0].message(), b"\xff\xfe bad");
        assert_eq!(rejoin(&lines), input);
    }

    #[test]
    fn long_line_is_split_into_fragments_that_rejoin_exactly() {
        let mut input = b"2026-11-23T10:00:00.5Z ".to_vec();
        input.extend(std::iter::repeat_n(b'x', 1000));
        input.extend_from_slice(b"\n2026-11-23T10:00:01Z next\n");
        for chunk_size in [1, 7, 100, 5000] {
            let chunks: Vec<&[u8]> = input.chunks(chunk_size).collect();
            let lines = split_all(&chunks, 256);
            assert_eq!(rejoin(&lines), input, "chunk size {chunk_size}");
            let fragments = lines
                .iter()
                .filter(|l| matches!(l.kind(), LineKind::Fragment { .. }))
                .count();
            assert_eq!(fragments, 4, "1023 bytes in 256-byte pieces");
            assert!(lines.iter().all(|l| l.raw().len() <= 256));
            let ts = lines[0].timestamp();
            assert!(ts.is_some());
            assert!(
                lines[..4].iter().all(|l| l.timestamp() == ts),
                "fragments inherit the timestamp"
            );
            assert_eq!(lines[4].message(), b"next");
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
        let chunked: Vec<&[u8]> = input.chunks(13).collect();
        assert_eq!(split_all(&chunked, 100), whole);
    }

    #[test]
    fn unterminated_tail_is_kept() {
        let lines = split_all(&[b"2026-11-23T10:00:00Z a\n2026-11-23T10:00:01Z partial"], 1024);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].kind(), LineKind::Unterminated);
        assert_eq!(lines[1].message(), b"partial");
        assert!(!lines[1].ends_line());
    }

    #[test]
    fn exact_cap_line_then_newline() {
        let lines = split_all(&[&[b'y'; 64], b"\n"], 64);
        assert_eq!(rejoin(&lines), [&[b'y'; 64][..], b"\n"].concat());
    }

    #[test]
    fn empty_lines_are_lines() {
        let lines = split_all(&[b"\n\n"], 64);
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.raw().is_empty() && l.kind() == LineKind::Full));
    }
}
