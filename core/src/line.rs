//! Log lines as the API returns them: [`Lines`] hold a run of them in the network buffer they
//! arrived in, [`LineSplitter`] cuts a byte stream into them.
//!
//! A batch of lines is the bytes the API sent, as one or two shared buffers, plus a 24-byte
//! record per line (where it starts and ends, where its message starts, its parsed
//! timestamp). Nothing is copied or reference-counted per line; a [`LogLine`] is a view that
//! borrows from its batch.
//!
//! The one exception is a line the container runtime stored in parts (containerd cuts lines
//! longer than 16 KiB by default): the API puts a timestamp before every part, and the
//! splitter joins the parts into one line without those timestamps (see `parts.rs` for how
//! they are told from message text). Such a line is copied into a buffer of its own and
//! remembers its parts' timestamps, since a cursor must know where the last one ends.

use std::ops::Range;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use jiff::Timestamp;

use crate::cursor::Cursor;
use crate::instance::Container;

mod filter;
mod parts;
mod splitter;
mod timestamp;

pub use filter::LineFilter;
pub(crate) use filter::StreamFilter;
pub use splitter::LineSplitter;
pub(crate) use timestamp::Stamp;
use timestamp::StampParser;
pub use timestamp::split_timestamp;

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

impl LineKind {
    /// Whether a newline follows a line of this kind in the original stream.
    pub fn ends_line(self) -> bool {
        matches!(self, LineKind::Full | LineKind::Fragment { last: true })
    }
}

/// One log line: the exact bytes the API sent (timestamp prefix included, newline excluded),
/// borrowed from its [`Lines`].
///
/// A line the runtime stored in parts comes joined: the timestamp of its first part, a space
/// and the whole message, without the timestamps the API put before the other parts.
///
/// Sinks that must reproduce the API's output write [`LogLine::raw`] plus a newline after
/// every line that [ends](LogLine::ends_line) (or all of a batch at once with
/// [`Lines::raw_slices`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLine<'a> {
    raw: &'a [u8],
    message_start: u8,
    kind: LineKind,
    stamp: Stamp,
    /// The runtime's records in this piece, for a line joined from parts; empty otherwise (the
    /// piece is then one unit with the line's own timestamp).
    units: &'a [Unit],
}

impl<'a> LogLine<'a> {
    /// The bytes as received: timestamp, space, message (for a line joined from parts, the
    /// first part's timestamp and the whole message).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The message without the timestamp prefix.
    pub fn message(&self) -> &'a [u8] {
        &self.raw[usize::from(self.message_start)..]
    }

    /// The timestamp prefix exactly as the API wrote it (RFC 3339, usually nanoseconds).
    pub fn timestamp_text(&self) -> Option<&'a [u8]> {
        (self.message_start > 0).then(|| &self.raw[..usize::from(self.message_start) - 1])
    }

    /// The parsed timestamp, if the line had one (or, for a continuation, its line had one).
    /// For a line joined from parts, the first part's.
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.stamp.get()
    }

    /// The timestamps a cursor counts for this line, in order: one per unit (see
    /// [`Cursor::lines_at_timestamp`]), none-stamps included.
    pub(crate) fn unit_stamps(&self) -> impl DoubleEndedIterator<Item = Stamp> + 'a {
        let own = self.units.is_empty().then_some(self.stamp);
        own.into_iter().chain(self.units.iter().map(|u| u.stamp))
    }

    /// Whole line, fragment or unterminated tail.
    pub fn kind(&self) -> LineKind {
        self.kind
    }

    /// Whether a newline follows this line in the original stream.
    pub fn ends_line(&self) -> bool {
        self.kind.ends_line()
    }

    /// Bytes of the line as the API sent it, newline included.
    pub fn raw_len(&self) -> usize {
        self.raw.len() + usize::from(self.ends_line())
    }
}

/// What a cursor counts: a runtime record, or a piece of one cut at the length cap (counted
/// from the record's start, its timestamp prefix included even where joining removed it).
/// Counting these rather than lines makes a resumed stream that starts in the middle of a
/// long line count the same as the stream that delivered its beginning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unit {
    /// Where the unit ends, from the start of its piece.
    pub(crate) end: u32,
    /// Its record's timestamp.
    pub(crate) stamp: Stamp,
}

/// The units of a piece of a joined line, by the line's index in its [`Lines`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct JoinedUnits {
    /// Index of the line, counted from the first line of the batch it was made in (lines
    /// dropped from the front keep the others' indices).
    line: usize,
    units: Vec<Unit>,
}

/// Where one line lies in its batch's buffer, and what was parsed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
    // A `Stamp`'s fields, flattened so the span packs into 24 bytes.
    seconds: i64,
    nanos: i32,
    message_start: u8,
    kind: LineKind,
    /// The line was joined from parts: its units are in [`Lines::joined`].
    joined: bool,
}

impl Span {
    fn new(start: usize, end: usize, stamp: Stamp, message_start: u8, kind: LineKind) -> Self {
        let (seconds, nanos) = stamp.parts();
        Span {
            start: offset(start),
            end: offset(end),
            seconds,
            nanos,
            message_start,
            kind,
            joined: false,
        }
    }

    fn stamp(&self) -> Stamp {
        Stamp::from_parts(self.seconds, self.nanos)
    }

    /// End of the line in the buffer, its newline included.
    fn raw_end(&self) -> usize {
        self.end as usize + usize::from(self.kind.ends_line())
    }
}

/// A run of lines from one container, in order, in the buffers they arrived in.
///
/// Lines lie back to back with their newlines, exactly as the API sent them, in at most two
/// buffers: a line the network cut in two (joined into a small buffer of its own) and a slice
/// of the chunk that completed it. Iterating yields [`LogLine`] views; cloning shares the
/// buffers. Lines joined from parts lie in the first buffer, with the lines before them in
/// the same network chunk (copied too, so that the bytes stay in order in two buffers).
///
/// ```
/// use kle_core::lines::Lines;
///
/// let lines = Lines::from_stream("2026-11-23T10:00:00.000000001Z hello\nno timestamp\n");
/// assert_eq!(lines.len(), 2);
/// let first = lines.first().unwrap();
/// assert_eq!(first.message(), b"hello");
/// assert!(first.timestamp().is_some());
/// assert_eq!(lines.raw_slices().concat(), b"2026-11-23T10:00:00.000000001Z hello\nno timestamp\n");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Lines {
    /// Holds the first `head_lines` lines: a line joined from two network chunks.
    head: Bytes,
    /// Holds the rest.
    body: Bytes,
    head_lines: usize,
    spans: Vec<Span>,
    /// The units of the lines joined from parts, by line; empty unless there are such lines.
    joined: Vec<JoinedUnits>,
    /// The index [`JoinedUnits::line`] gives the first of `spans`.
    first_index: usize,
}

impl Lines {
    /// The lines of `stream`, split like a [`LineSplitter`] with the default cap splits them; a
    /// final line without `\n` is [`LineKind::Unterminated`]. For tests and programs that
    /// have a whole log at hand.
    pub fn from_stream(stream: impl Into<Bytes>) -> Lines {
        let mut splitter = LineSplitter::new(DEFAULT_MAX_LINE_BYTES);
        let mut lines = splitter.push(stream.into());
        lines.append(splitter.finish());
        lines
    }

    /// Builds lines one by one, copying them into one buffer.
    pub fn builder() -> LinesBuilder {
        LinesBuilder::default()
    }

    /// Number of lines (fragments count one each).
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there is no line.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The `index`th line.
    pub fn get(&self, index: usize) -> Option<LogLine<'_>> {
        let span = self.spans.get(index)?;
        let buffer = if index < self.head_lines {
            &self.head
        } else {
            &self.body
        };
        Some(LogLine {
            raw: &buffer[span.start as usize..span.end as usize],
            message_start: span.message_start,
            kind: span.kind,
            stamp: span.stamp(),
            units: if span.joined { self.units(index) } else { &[] },
        })
    }

    /// The units of the `index`th line, if it was joined from parts.
    fn units(&self, index: usize) -> &[Unit] {
        let line = self.first_index + index;
        match self.joined.binary_search_by_key(&line, |j| j.line) {
            Ok(at) => &self.joined[at].units,
            Err(_) => &[],
        }
    }

    /// The first line.
    pub fn first(&self) -> Option<LogLine<'_>> {
        self.get(0)
    }

    /// The last line.
    pub fn last(&self) -> Option<LogLine<'_>> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    /// The lines, oldest first.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            lines: self,
            range: 0..self.len(),
        }
    }

    /// Bytes of the lines as the API sent them, newlines included.
    pub fn raw_len(&self) -> usize {
        self.raw_slices().iter().map(|s| s.len()).sum()
    }

    /// The lines' bytes exactly as the API sent them (timestamps and newlines included), in
    /// order, in at most two slices (empty ones possible): what `kubectl logs --timestamps`
    /// prints, written with no per-line work. The one difference: a line joined from parts
    /// has one timestamp, its first part's, where the API wrote one per part.
    pub fn raw_slices(&self) -> [&[u8]; 2] {
        let (head, body) = self.spans.split_at(self.head_lines);
        [range_of(&self.head, head), range_of(&self.body, body)]
    }

    /// The timestamp of the first line that has one.
    pub fn first_timestamp(&self) -> Option<Timestamp> {
        self.spans.iter().map(Span::stamp).find(|s| !s.is_none())?.get()
    }

    /// The timestamp of the last line that has one.
    pub fn last_timestamp(&self) -> Option<Timestamp> {
        self.spans.iter().rev().map(Span::stamp).find(|s| !s.is_none())?.get()
    }

    /// The cursor after these lines, starting from `cursor`: what folding
    /// [`Cursor::advance`] over every line gives, looking only at the last lines.
    pub fn cursor_after(&self, cursor: Option<Cursor>) -> Option<Cursor> {
        let mut stamped = self
            .spans
            .iter()
            .enumerate()
            .rev()
            .flat_map(|(index, span)| {
                let own = (!span.joined).then(|| span.stamp());
                let units = if span.joined { self.units(index) } else { &[] };
                own.into_iter().chain(units.iter().rev().map(|u| u.stamp))
            })
            .filter(|s| !s.is_none());
        let Some(last) = stamped.next() else {
            return cursor;
        };
        let mut same = 1u64;
        let mut all_same = true;
        for stamp in stamped {
            if stamp != last {
                all_same = false;
                break;
            }
            same += 1;
        }
        let timestamp = last.get()?;
        let before = match cursor {
            Some(c) if all_same && c.timestamp == timestamp => c.lines_at_timestamp,
            _ => 0,
        };
        Some(Cursor {
            timestamp,
            lines_at_timestamp: before + same,
        })
    }

    /// Drops the first `count` lines (all of them if there are fewer).
    pub fn drop_first(&mut self, count: usize) {
        let count = count.min(self.len());
        self.spans.drain(..count);
        self.head_lines = self.head_lines.saturating_sub(count);
        self.first_index += count;
        let first = self.first_index;
        self.joined.retain(|j| j.line >= first);
    }

    /// Drops the first `count` units of the `index`th line, a line joined from parts whose
    /// beginning was delivered before: the rest continues that line, without a timestamp
    /// prefix of its own.
    pub(crate) fn drop_units(&mut self, index: usize, count: usize) {
        let line = self.first_index + index;
        let (Some(span), Ok(at)) = (
            self.spans.get_mut(index),
            self.joined.binary_search_by_key(&line, |j| j.line),
        ) else {
            return;
        };
        let units = &mut self.joined[at].units;
        let Some(cut) = count.checked_sub(1).and_then(|last| units.get(last)).map(|u| u.end) else {
            return;
        };
        units.drain(..count);
        for unit in units.iter_mut() {
            unit.end -= cut;
        }
        span.start += cut;
        span.message_start = 0;
        if span.kind == LineKind::Full {
            span.kind = LineKind::Fragment { last: true };
        }
    }

    /// The lines in `range`, sharing the buffers.
    ///
    /// # Panics
    /// If `range` is out of bounds, like slicing.
    pub fn slice(&self, range: Range<usize>) -> Lines {
        let spans = self.spans[range.clone()].to_vec();
        let lines = self.first_index + range.start..self.first_index + range.end;
        Lines {
            head: self.head.clone(),
            body: self.body.clone(),
            head_lines: self.head_lines.saturating_sub(range.start).min(spans.len()),
            spans,
            joined: self
                .joined
                .iter()
                .filter(|j| lines.contains(&j.line))
                .cloned()
                .collect(),
            first_index: lines.start,
        }
    }

    /// Appends `more`. Unless one of the two is empty, both are copied into one new buffer:
    /// for assembling test input and the like, not for a hot path.
    pub fn append(&mut self, more: Lines) {
        if more.is_empty() {
            return;
        }
        if self.is_empty() {
            *self = more;
            return;
        }
        let mut builder = LinesBuilder::default();
        for line in self.iter().chain(more.iter()) {
            builder.push_line(line);
        }
        *self = builder.build();
    }
}

fn range_of<'a>(buffer: &'a Bytes, spans: &[Span]) -> &'a [u8] {
    match (spans.first(), spans.last()) {
        (Some(first), Some(last)) => &buffer[first.start as usize..last.raw_end()],
        _ => &[],
    }
}

impl<'a> IntoIterator for &'a Lines {
    type Item = LogLine<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Iterator over [`Lines`].
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    lines: &'a Lines,
    range: Range<usize>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = LogLine<'a>;

    fn next(&mut self) -> Option<LogLine<'a>> {
        let index = self.range.next()?;
        self.lines.get(index)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.range.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let index = self.range.next_back()?;
        self.lines.get(index)
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Builds [`Lines`] from lines given one by one (see [`Lines::builder`]).
///
/// A piece that follows a [`LineKind::Fragment`] that did not end its line is a continuation:
/// it has no timestamp prefix of its own and carries its line's timestamp.
#[derive(Debug, Default)]
pub struct LinesBuilder {
    buf: BytesMut,
    spans: Vec<Span>,
    joined: Vec<JoinedUnits>,
    parser: SpanParser,
}

impl LinesBuilder {
    /// Adds a line: `raw` is its bytes as the API sent them, without the newline.
    #[must_use]
    pub fn line(mut self, raw: impl AsRef<[u8]>, kind: LineKind) -> Self {
        let (start, end) = self.copy_in(raw.as_ref(), kind);
        let span = self.parser.span(&self.buf, start, end, kind);
        self.spans.push(span);
        self
    }

    /// Adds a whole line (`\n`-terminated in the stream).
    #[must_use]
    pub fn full(self, raw: impl AsRef<[u8]>) -> Self {
        self.line(raw, LineKind::Full)
    }

    /// Adds a line parsed before, keeping its timestamp, message start and units.
    fn push_line(&mut self, line: LogLine<'_>) {
        let (start, end) = self.copy_in(line.raw, line.kind);
        let mut span = Span::new(start, end, line.stamp, line.message_start, line.kind);
        if !line.units.is_empty() {
            span.joined = true;
            self.joined.push(JoinedUnits {
                line: self.spans.len(),
                units: line.units.to_vec(),
            });
        }
        self.spans.push(span);
    }

    /// Appends `raw` and, if a line of `kind` ends, its newline; returns where `raw` lies.
    fn copy_in(&mut self, raw: &[u8], kind: LineKind) -> (usize, usize) {
        let start = self.buf.len();
        self.buf.extend_from_slice(raw);
        let end = self.buf.len();
        if kind.ends_line() {
            self.buf.extend_from_slice(b"\n");
        }
        (start, end)
    }

    /// The lines.
    pub fn build(self) -> Lines {
        Lines {
            head: Bytes::new(),
            body: self.buf.freeze(),
            head_lines: 0,
            spans: self.spans,
            joined: self.joined,
            first_index: 0,
        }
    }
}

/// Makes the records of consecutive pieces of one stream.
#[derive(Debug, Default)]
struct SpanParser {
    /// The timestamp of a line split for length whose last piece has not come yet: the next
    /// pieces are continuations, without a prefix of their own.
    open_fragment: Option<Stamp>,
    stamps: StampParser,
}

impl SpanParser {
    /// The span of `buf[start..end]`, the next piece of the stream, of `kind`.
    fn span(&mut self, buf: &[u8], start: usize, end: usize, kind: LineKind) -> Span {
        let (stamp, message_start) = match self.open_fragment {
            Some(stamp) => (stamp, 0),
            None => self.stamps.split(&buf[start..end]).unwrap_or((Stamp::NONE, 0)),
        };
        self.open_fragment = match kind {
            LineKind::Fragment { last: false } => Some(stamp),
            _ => None,
        };
        Span::new(start, end, stamp, message_start, kind)
    }
}

/// Offsets fit: a network chunk is far below 4 GiB and the splitter caps lines.
fn offset(at: usize) -> u32 {
    u32::try_from(at).unwrap_or(u32::MAX)
}

/// Lines read from one container, in order. The unit a sink writes.
#[derive(Debug, Clone)]
pub struct LogBatch {
    /// The container instance the lines come from.
    pub container: Arc<Container>,
    /// The lines, oldest first.
    pub lines: Lines,
    /// The container's position after the batch's last line, counted where the lines were
    /// split: what a commit that covers the batch makes durable. `None` while no line of the
    /// stream had a timestamp.
    pub cursor: Option<Cursor>,
}

impl LogBatch {
    /// A batch of `lines` from `container`, the first of its stream (see [`LogBatch::following`]).
    pub fn new(container: Arc<Container>, lines: Lines) -> Self {
        Self::following(container, lines, None)
    }

    /// A batch of `lines` that follows the position `previous` of the same stream: lines that
    /// share `previous`'s timestamp count on from it.
    pub fn following(container: Arc<Container>, lines: Lines, previous: Option<Cursor>) -> Self {
        let cursor = lines.cursor_after(previous);
        Self {
            container,
            lines,
            cursor,
        }
    }

    /// Bytes of the batch as the API sent them (newlines included).
    pub fn raw_len(&self) -> usize {
        self.lines.raw_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_line_is_24_bytes_of_bookkeeping() {
        assert_eq!(std::mem::size_of::<Span>(), 24);
    }

    #[test]
    fn builder_lines_read_back() {
        let lines = Lines::builder()
            .full("2026-11-23T10:00:00.123456789Z hello world")
            .full("no timestamp here")
            .line("2026-11-23T10:00:01Z piece", LineKind::Fragment { last: false })
            .line(" rest", LineKind::Fragment { last: true })
            .line("2026-11-23T10:00:02Z tail", LineKind::Unterminated)
            .build();
        assert_eq!(lines.len(), 5);
        let first = lines.first().unwrap();
        assert_eq!(first.message(), b"hello world");
        assert_eq!(first.timestamp_text(), Some(&b"2026-11-23T10:00:00.123456789Z"[..]));
        assert_eq!(first.timestamp(), Some(ts("2026-11-23T10:00:00.123456789Z")));
        assert_eq!(lines.get(1).unwrap().timestamp(), None);
        assert_eq!(lines.get(1).unwrap().message(), b"no timestamp here");
        let continuation = lines.get(3).unwrap();
        assert_eq!(continuation.timestamp(), Some(ts("2026-11-23T10:00:01Z")), "inherits");
        assert_eq!(continuation.timestamp_text(), None);
        assert_eq!(continuation.message(), b" rest");
        assert!(!lines.last().unwrap().ends_line());
        assert_eq!(
            lines.raw_slices().concat(),
            b"2026-11-23T10:00:00.123456789Z hello world\nno timestamp here\n\
              2026-11-23T10:00:01Z piece rest\n2026-11-23T10:00:02Z tail"
        );
        assert_eq!(lines.raw_len(), lines.iter().map(|l| l.raw_len()).sum::<usize>());
        assert_eq!(lines.first_timestamp(), Some(ts("2026-11-23T10:00:00.123456789Z")));
        assert_eq!(lines.last_timestamp(), Some(ts("2026-11-23T10:00:02Z")));
    }

    #[test]
    fn cursor_after_is_the_fold_of_advance() {
        // Timestamps from a small set, some lines without, in every order that matters.
        let stamps = [None, Some("2026-11-23T10:00:00Z"), Some("2026-11-23T10:00:01Z")];
        let starts = [
            None,
            Some(Cursor {
                timestamp: ts("2026-11-23T10:00:00Z"),
                lines_at_timestamp: 3,
            }),
            Some(Cursor {
                timestamp: ts("2026-11-23T10:00:01Z"),
                lines_at_timestamp: 1,
            }),
        ];
        for n in 0..=4u32 {
            for combo in 0..3usize.pow(n) {
                let mut builder = Lines::builder();
                let mut c = combo;
                for _ in 0..n {
                    builder = builder.full(match stamps[c % 3] {
                        Some(t) => format!("{t} x"),
                        None => "plain".to_owned(),
                    });
                    c /= 3;
                }
                let lines = builder.build();
                for start in starts {
                    let folded = lines.iter().fold(start, |c, line| Cursor::advance(c, &line));
                    assert_eq!(
                        lines.cursor_after(start),
                        folded,
                        "combo {combo} of {n}, from {start:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn dropping_and_slicing_keep_the_bytes_in_step() {
        let mut splitter = LineSplitter::new(1024);
        let _ = splitter.push(Bytes::from_static(b"2026-11-23T10:00:00Z a"));
        let lines = splitter.push(Bytes::from_static(
            b"b\n2026-11-23T10:00:01Z c\n2026-11-23T10:00:02Z d\n",
        ));
        assert_eq!(lines.len(), 3);
        assert_eq!(lines.raw_slices()[0], b"2026-11-23T10:00:00Z ab\n", "the joined line");
        let all = lines.raw_slices().concat();
        for start in 0..=3 {
            for end in start..=3 {
                let part = lines.slice(start..end);
                let expected: Vec<u8> = lines
                    .iter()
                    .skip(start)
                    .take(end - start)
                    .flat_map(|l| {
                        let mut v = l.raw().to_vec();
                        v.push(b'\n');
                        v
                    })
                    .collect();
                assert_eq!(part.raw_slices().concat(), expected, "{start}..{end}");
                assert_eq!(part.len(), end - start);
            }
            let mut dropped = lines.clone();
            dropped.drop_first(start);
            assert_eq!(dropped.len(), 3 - start);
            let skipped: usize = lines.iter().take(start).map(|l| l.raw_len()).sum();
            assert_eq!(dropped.raw_slices().concat(), &all[skipped..]);
        }
        let mut gone = lines.clone();
        gone.drop_first(10);
        assert!(gone.is_empty());
        assert_eq!(gone.raw_len(), 0);
    }

    #[test]
    fn from_stream_keeps_an_unterminated_tail() {
        let lines = Lines::from_stream("2026-11-23T10:00:00Z a\npartial");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines.get(1).unwrap().kind(), LineKind::Unterminated);
        assert_eq!(lines.raw_slices().concat(), b"2026-11-23T10:00:00Z a\npartial");
        assert_eq!(Lines::from_stream("only partial").len(), 1);
        assert!(Lines::from_stream("").is_empty());
    }
}
