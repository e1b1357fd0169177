//! Lines the container runtime stored in parts, joined back into one.
//!
//! containerd writes a line longer than `max_container_log_line_size` (16 KiB by default,
//! configurable) as several records: every one but the last holds exactly that many bytes and
//! is tagged partial. With `timestamps=true` the kubelet writes `<timestamp> ` before every
//! record, so the API sends `TS1 <part 1>TS2 <part 2>…TSn <rest>\n` for one line, where
//! `kubectl logs` without timestamps shows the line as written.
//!
//! # The rule
//!
//! A line's timestamp prefix must be in the kubelet's own format (RFC3339NanoFixed: nine
//! fractional digits, `Z` or a numeric offset); the other parts' prefixes are looked for in
//! the same form (same length, same zone). Where the size `S` of a part is known, a prefix is
//! looked for only `S` message bytes after the previous one, and nowhere else: if it is there
//! the parts are joined; if `S` bytes are followed by something else, `S` is forgotten (and,
//! in a line's first part, looked for again after it; in a later part the rest of the line
//! stays as it is).
//!
//! `S` is learned from the first line that shows one, at the first prefix found
//! [`MIN_PART_BYTES`] or more message bytes into the line, if
//! - its instant is not before the line's own timestamp (the runtime stamps parts in order,
//!   on one clock; a timestamp a program logs is older than the line it writes), and
//! - the line confirms it: the next `S` bytes after it are followed by another prefix, or the
//!   line ends within them (a last part is at most `S` bytes).
//!
//! Otherwise the search goes on after it. `S` then holds for the stream (one container's log
//! on one node), so most lines cost one comparison of their length with `S`.
//!
//! # False positives
//!
//! Once `S` is right, none: a line of more than `S` message bytes was cut there by the
//! runtime, so the bytes at that place are the runtime's prefix, never message text; text that
//! looks like a timestamp anywhere else is not looked at. Learning can be fooled only by a
//! line that holds, past its first 4 KiB, a timestamp in exactly the kubelet's format and
//! zone, no older than the line, followed by a space, and then either ends within as many
//! bytes again or has another such timestamp exactly that far on; a wrong `S` is dropped at
//! the next line that reaches it without a prefix there. Parts of varying sizes (a runtime that cuts where a read ended)
//! are not joined, and neither are parts smaller than [`MIN_PART_BYTES`] or larger than
//! [`MAX_PART_BYTES`].

use bytes::{Bytes, BytesMut};
use memchr::memmem;

use super::timestamp::{KubeletForm, Stamp, StampParser};
use super::{LineKind, Span, Unit, offset};

/// Smallest part size recognised: containerd's read buffer is 4 KiB, and a smaller limit
/// would make lines that quote a timestamp early look like parts.
pub(super) const MIN_PART_BYTES: usize = 4096;

/// Largest part size recognised. Learning a size means holding the bytes of the line up to
/// twice as far as where the part would end, until the next part's prefix confirms it.
pub(super) const MAX_PART_BYTES: usize = 4 * 1024 * 1024;

/// The shortest prefix of the kubelet's format (`2006-01-02T15:04:05.000000000Z `).
const MIN_PREFIX: usize = 31;

/// Bytes from a line's start that decide its timestamp prefix (see `StampParser::split`).
const PREFIX_WINDOW: usize = 40;

/// Finds where the parts of a line begin (see the module's docs for the rule).
#[derive(Debug, Clone, Default)]
pub(super) struct PartFinder {
    /// Message bytes in every part but the last, once learned.
    part_size: Option<usize>,
    /// The line being read.
    line: Option<LineParts>,
}

/// Where the line being read stands.
#[derive(Debug, Clone)]
struct LineParts {
    /// The form of its timestamp prefix; `None` if it cannot have parts.
    form: Option<KubeletForm>,
    /// Its timestamp.
    first: Stamp,
    /// Bytes of the current part read so far, its prefix included.
    read: usize,
    /// Bytes of the current part's timestamp prefix.
    prefix: usize,
    /// Whether the current part is the line's first.
    first_part: bool,
    /// Cleared when a part ended without the next one's prefix: the rest is message.
    joining: bool,
}

/// What comes next in a line, as [`PartFinder::step`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// This many bytes of the line as they are.
    Content(usize),
    /// A part's timestamp prefix of `len` bytes: drop it, a new part starts.
    Boundary { len: usize, stamp: Stamp },
    /// Nothing can be decided without more bytes (or everything given was decided).
    Wait,
}

/// What the bytes after a candidate prefix say of it.
enum Confirmed {
    Yes,
    No,
    Wait,
}

impl PartFinder {
    /// Whether a line has been started and not ended.
    pub(super) fn open(&self) -> bool {
        self.line.is_some()
    }

    /// Lines shorter than this (prefix and message) cannot have a second part.
    pub(super) fn join_from(&self) -> usize {
        self.part_size.unwrap_or(MIN_PART_BYTES) + 2 * MIN_PREFIX
    }

    /// Starts a line whose first bytes are `raw` (`complete`: there are no more); returns its
    /// timestamp and where its message starts, or `None` until enough bytes came to tell.
    pub(super) fn start(&mut self, raw: &[u8], complete: bool, stamps: &mut StampParser) -> Option<(Stamp, u8)> {
        if raw.len() < PREFIX_WINDOW && !complete {
            return None;
        }
        let (stamp, message_start) = stamps.split(raw).unwrap_or((Stamp::NONE, 0));
        let form = KubeletForm::of(raw, message_start);
        self.line = Some(LineParts {
            form,
            first: stamp,
            read: 0,
            prefix: usize::from(message_start),
            first_part: true,
            joining: form.is_some(),
        });
        Some((stamp, message_start))
    }

    /// Ends the line.
    pub(super) fn end_line(&mut self) {
        self.line = None;
    }

    /// What the next bytes of the started line are, `raw` being all that came of it after
    /// what earlier steps took (`complete`: the line has no more bytes). The caller takes
    /// exactly what the step says.
    pub(super) fn step(&mut self, raw: &[u8], complete: bool, stamps: &mut StampParser) -> Step {
        let Some(line) = self.line.as_mut() else {
            return Step::Wait;
        };
        if raw.is_empty() {
            return Step::Wait;
        }
        let form = match line.form {
            Some(form) if line.joining => form,
            _ => return line.content(raw.len()),
        };
        if line.read < line.prefix {
            return line.content((line.prefix - line.read).min(raw.len()));
        }
        let message = line.read - line.prefix;
        if let Some(size) = self.part_size {
            if message < size {
                return line.content((size - message).min(raw.len()));
            }
            if raw.len() < form.prefix_len() {
                // The line ends, or its next prefix is still on the way.
                return if complete { line.content(raw.len()) } else { Step::Wait };
            }
            if let Some(stamp) = stamps.prefix(raw, form) {
                return line.boundary(form.prefix_len(), stamp);
            }
            // A full part not followed by a prefix: the runtime does not cut at `size`.
            self.part_size = None;
            if !line.first_part {
                line.joining = false;
            }
            return self.step(raw, complete, stamps);
        }
        if !line.first_part {
            return line.content(raw.len());
        }
        if message < MIN_PART_BYTES {
            return line.content((MIN_PART_BYTES - message).min(raw.len()));
        }
        if message > MAX_PART_BYTES {
            line.joining = false;
            return line.content(raw.len());
        }
        self.search(raw, complete, form, message, stamps)
    }

    /// Looks for the first part's end in `raw`, `message` bytes into the line's message.
    fn search(
        &mut self,
        raw: &[u8],
        complete: bool,
        form: KubeletForm,
        message: usize,
        stamps: &mut StampParser,
    ) -> Step {
        let Some(line) = self.line.as_mut() else {
            return Step::Wait;
        };
        let needle = form.needle();
        // Parts end at most this far on.
        let window = raw.len().min(MAX_PART_BYTES - message + form.prefix_len());
        let mut from = 0;
        while let Some(found) = raw[..window]
            .get(from + form.zone_at()..)
            .and_then(|rest| memmem::find(rest, needle))
        {
            let at = from + found;
            match confirm(raw, at, message + at, complete, form, line.first, stamps) {
                Confirmed::Yes => {
                    self.part_size = Some(message + at);
                    return if at > 0 {
                        line.content(at)
                    } else {
                        line.boundary(form.prefix_len(), stamps.prefix(raw, form).unwrap_or(Stamp::NONE))
                    };
                }
                Confirmed::No => from = at + 1,
                Confirmed::Wait if at > 0 => return line.content(at),
                Confirmed::Wait => return Step::Wait,
            }
        }
        // A prefix whose zone has not come yet can only start in the last bytes.
        let mut safe = raw.len();
        if !complete && window == raw.len() {
            let tail = raw.len().saturating_sub(form.prefix_len() - 1).max(from);
            safe = (tail..raw.len())
                .find(|&at| may_start_prefix(&raw[at..], form))
                .unwrap_or(raw.len());
        }
        if safe == 0 { Step::Wait } else { line.content(safe) }
    }
}

impl LineParts {
    fn content(&mut self, len: usize) -> Step {
        self.read += len;
        Step::Content(len)
    }

    fn boundary(&mut self, len: usize, stamp: Stamp) -> Step {
        self.read = len;
        self.prefix = len;
        self.first_part = false;
        Step::Boundary { len, stamp }
    }
}

/// Whether a prefix at `raw[at..]`, the end of a first part of `size` message bytes, is one:
/// not older than the line's `first` timestamp, and followed by a part of `size` bytes and
/// another prefix, or by the line's end within `size` bytes.
fn confirm(
    raw: &[u8],
    at: usize,
    size: usize,
    complete: bool,
    form: KubeletForm,
    first: Stamp,
    stamps: &mut StampParser,
) -> Confirmed {
    let prefix = form.prefix_len();
    match stamps.prefix(&raw[at..], form) {
        Some(stamp) if stamp.not_before(first) => {}
        _ => return Confirmed::No,
    }
    let next = at + prefix + size;
    if raw.len() >= next + prefix {
        return if stamps.prefix(&raw[next..], form).is_some() {
            Confirmed::Yes
        } else {
            Confirmed::No
        };
    }
    match complete {
        true if raw.len() <= next => Confirmed::Yes,
        true => Confirmed::No,
        false => Confirmed::Wait,
    }
}

/// Whether `tail` (shorter than a prefix) could be the beginning of a prefix of `form`.
fn may_start_prefix(tail: &[u8], form: KubeletForm) -> bool {
    const SHAPE: &[u8; 29] = b"0000-00-00T00:00:00.000000000";
    let needle = form.needle();
    tail.iter().enumerate().all(|(i, &b)| match SHAPE.get(i) {
        Some(b'0') => b.is_ascii_digit(),
        Some(&literal) => b == literal,
        None => needle.get(i - SHAPE.len()) == Some(&b),
    })
}

/// Cuts lines into pieces (see [`super::LineSplitter`]), copying them: the lines that arrive
/// in several network chunks, and the lines joined from parts.
///
/// A line is cut into units, each of its runtime's records (its parts; a line without parts
/// is one record) every `cap` bytes from the record's start, the record's timestamp prefix
/// counted even where joining removed it. A piece is as many whole units as fit in `cap`
/// bytes; a full piece is handed out at once. Units are what a cursor counts (see
/// [`Unit`]); since they are cut the same way wherever a line begins, a stream resumed in the
/// middle of a line counts them as the first stream did.
#[derive(Debug)]
pub(super) struct Assembler {
    cap: usize,
    /// Pieces handed out but not taken yet, then the piece being filled.
    buf: BytesMut,
    ready: Vec<Span>,
    /// The units of the ready pieces that were joined from parts, by index in `ready`.
    ready_units: Vec<(usize, Vec<Unit>)>,
    /// Bytes of `buf` the ready pieces take (with their newlines).
    ready_len: usize,
    /// Where the piece being filled starts in `buf`.
    piece_start: usize,
    /// Its whole units.
    units: Vec<Unit>,
    /// Where its unit being filled starts, from the piece's start.
    unit_start: usize,
    /// Bytes counted in the unit being filled (a record's removed prefix included).
    unit_counted: usize,
    /// The timestamp of the record being read.
    record: Stamp,
    /// The line's timestamp and where its message starts.
    line: Stamp,
    message_start: u8,
    /// Pieces of the line handed out so far.
    pieces: usize,
}

/// Pieces taken from an [`Assembler`]: their bytes and spans, and the units of those joined
/// from parts (by index in `spans`).
pub(super) struct Ready<'a> {
    pub(super) bytes: Bytes,
    pub(super) spans: std::vec::Drain<'a, Span>,
    pub(super) units: std::vec::Drain<'a, (usize, Vec<Unit>)>,
}

impl Assembler {
    pub(super) fn new(cap: usize) -> Self {
        Self {
            cap,
            buf: BytesMut::new(),
            ready: Vec::new(),
            ready_units: Vec::new(),
            ready_len: 0,
            piece_start: 0,
            units: Vec::new(),
            unit_start: 0,
            unit_counted: 0,
            record: Stamp::NONE,
            line: Stamp::NONE,
            message_start: 0,
            pieces: 0,
        }
    }

    /// Starts a line with timestamp `stamp`, whose message starts `message_start` bytes in.
    pub(super) fn start_line(&mut self, stamp: Stamp, message_start: u8) {
        self.line = stamp;
        self.record = stamp;
        self.message_start = message_start;
        self.pieces = 0;
        self.units.clear();
        self.piece_start = self.buf.len();
        self.unit_start = 0;
        self.unit_counted = 0;
    }

    fn piece_len(&self) -> usize {
        self.buf.len() - self.piece_start
    }

    /// Adds bytes of the current record.
    pub(super) fn content(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.piece_len() == self.cap {
                // Full with a unit unfinished: the whole units before it go.
                self.hand_out(LineKind::Fragment { last: false });
            }
            let n = bytes
                .len()
                .min(self.cap - self.unit_counted)
                .min(self.cap - self.piece_len());
            self.buf.extend_from_slice(&bytes[..n]);
            self.unit_counted += n;
            bytes = &bytes[n..];
            if self.unit_counted == self.cap {
                self.finish_unit();
                self.hand_out_if_full();
            }
        }
    }

    /// A new record of the line starts, with a timestamp prefix of `prefix` bytes (removed).
    pub(super) fn boundary(&mut self, stamp: Stamp, prefix: usize) {
        if self.unit_counted > 0 {
            self.finish_unit();
            self.hand_out_if_full();
        }
        self.record = stamp;
        self.unit_counted = prefix;
    }

    /// Ends the line: with its newline, or cut off by the end of the stream.
    pub(super) fn end(&mut self, newline: bool) {
        if newline {
            self.finish_unit();
            let kind = if self.pieces == 0 {
                LineKind::Full
            } else {
                LineKind::Fragment { last: true }
            };
            self.hand_out(kind);
            self.buf.extend_from_slice(b"\n");
            self.ready_len = self.buf.len();
            self.piece_start = self.buf.len();
        } else {
            if self.unit_counted > 0 {
                self.finish_unit();
            }
            if !self.units.is_empty() {
                self.hand_out(LineKind::Unterminated);
            }
        }
    }

    fn finish_unit(&mut self) {
        let end = self.piece_len();
        self.units.push(Unit {
            end: offset(end),
            stamp: self.record,
        });
        self.unit_start = end;
        self.unit_counted = 0;
    }

    fn hand_out_if_full(&mut self) {
        if self.piece_len() == self.cap {
            self.hand_out(LineKind::Fragment { last: false });
        }
    }

    /// Hands out the whole units of the piece being filled as a piece of `kind`.
    fn hand_out(&mut self, kind: LineKind) {
        let start = self.piece_start;
        let end = start + self.unit_start;
        let message_start = if self.pieces == 0 { self.message_start } else { 0 };
        let mut span = Span::new(start, end, self.line, message_start, kind);
        if self.units.len() != 1 || self.units[0].stamp != self.line {
            span.joined = true;
            self.ready_units
                .push((self.ready.len(), std::mem::take(&mut self.units)));
        }
        // A line of one record keeps its allocation for the next.
        self.units.clear();
        self.ready.push(span);
        self.pieces += 1;
        self.piece_start = end;
        self.unit_start = 0;
        self.ready_len = end;
    }

    /// The pieces handed out since the last call.
    pub(super) fn take(&mut self) -> Option<Ready<'_>> {
        if self.ready.is_empty() {
            return None;
        }
        let bytes = self.buf.split_to(self.ready_len).freeze();
        self.piece_start -= self.ready_len;
        self.ready_len = 0;
        Some(Ready {
            bytes,
            spans: self.ready.drain(..),
            units: self.ready_units.drain(..),
        })
    }

    /// Bytes held for pieces not handed out.
    pub(super) fn held(&self) -> usize {
        self.buf.len() - self.ready_len
    }

    /// Drops everything.
    pub(super) fn reset(&mut self) {
        self.buf.clear();
        self.ready.clear();
        self.ready_units.clear();
        self.ready_len = 0;
        self.start_line(Stamp::NONE, 0);
    }
}

#[cfg(test)]
mod tests;
