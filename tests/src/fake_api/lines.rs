//! Log lines as the fake kubelet stores and renders them.

use bytes::Bytes;
use jiff::{SignedDuration, Timestamp};

/// One line of a container's log: the runtime's timestamp and the bytes of the line without its newline.
///
/// The bytes are arbitrary (invalid UTF-8, NULs, megabytes without a newline); they must not contain `\n`
/// themselves, or a client sees two lines sharing one timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// When the container runtime captured the line.
    pub timestamp: Timestamp,
    /// The line's bytes, without the trailing newline.
    pub bytes: Bytes,
    /// A part of a longer line (containerd's `P` record): no newline follows it, and the next
    /// record continues the line with a timestamp of its own.
    pub partial: bool,
}

impl LogLine {
    /// A line captured at `timestamp`.
    pub fn new(timestamp: Timestamp, bytes: impl Into<Bytes>) -> Self {
        Self {
            timestamp,
            bytes: bytes.into(),
            partial: false,
        }
    }

    /// A part of a line the runtime cut (see [`LogLine::partial`]), captured at `timestamp`.
    pub fn part(timestamp: Timestamp, bytes: impl Into<Bytes>) -> Self {
        Self {
            partial: true,
            ..Self::new(timestamp, bytes)
        }
    }

    /// The bytes a kubelet sends for this line: `<RFC3339NanoFixed> <bytes>\n` with `timestamps`, else `<bytes>\n`
    /// (no newline after a part).
    pub fn rendered(&self, timestamps: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len() + 32);
        if timestamps {
            out.extend_from_slice(format_timestamp(self.timestamp).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(&self.bytes);
        if !self.partial {
            out.push(b'\n');
        }
        out
    }
}

/// Formats `ts` the way the kubelet prefixes log lines: Go's RFC3339NanoFixed, always nine fractional digits, UTC
/// (`2006-01-02T15:04:05.000000000Z`).
pub fn format_timestamp(ts: Timestamp) -> String {
    format!("{ts:.9}")
}

/// What a kubelet sends for `lines`, back to back (see [`LogLine::rendered`]).
pub fn render(lines: &[LogLine], timestamps: bool) -> Vec<u8> {
    lines.iter().flat_map(|line| line.rendered(timestamps)).collect()
}

/// `count` lines one second apart starting at `start`, the i-th (from 0) with the bytes `text(i)`.
///
/// ```
/// use kle_tests::fake_api::lines;
/// let start: jiff::Timestamp = "2024-05-01T10:00:00Z".parse().unwrap();
/// let lines = lines(start, 3, |i| format!("line {i}"));
/// assert_eq!(&lines[2].bytes[..], b"line 2");
/// assert_eq!(lines[2].timestamp.to_string(), "2024-05-01T10:00:02Z");
/// ```
pub fn lines<B: Into<Bytes>>(start: Timestamp, count: usize, text: impl FnMut(usize) -> B) -> Vec<LogLine> {
    lines_every(start, SignedDuration::from_secs(1), count, text)
}

/// `count` lines `step` apart starting at `start`, the i-th (from 0) with the bytes `text(i)`.
pub fn lines_every<B: Into<Bytes>>(
    start: Timestamp,
    step: SignedDuration,
    count: usize,
    mut text: impl FnMut(usize) -> B,
) -> Vec<LogLine> {
    (0..count)
        .map(|i| {
            let offset = step * i32::try_from(i).expect("line count fits in i32");
            let ts = start
                .checked_add(offset)
                .expect("line timestamps stay within jiff's range");
            LogLine::new(ts, text(i))
        })
        .collect()
}
