//! An object's bytes back into lines: streaming decompression (zstd frames one after another,
//! gzip members one after another), lines cut on `\n` across chunks, gap markers told apart,
//! and the position that keeps each line printed once.

use std::borrow::Cow;
use std::io::{self, Write as _};

use base64::Engine as _;
use jiff::Timestamp;
use kle_core::lines::{LineKind, split_timestamp};
use serde::Deserialize;

use super::key::{Encoding, Packing};
use crate::encode::fnv1a;

/// Compressed input is fed in slices of this size, so one network chunk of very compressible
/// lines never turns into one huge buffer.
const INPUT_SLICE: usize = 16 * 1024;

/// What a gap marker starts with, after its timestamp (see [`Encoder::encode_gap`]).
///
/// [`Encoder::encode_gap`]: crate::encode::Encoder::encode_gap
pub(crate) const GAP_MARKER: &[u8] = b"[kube-log-exporter] GAP: ";

/// A streaming decompressor.
pub(crate) enum Inflater {
    Plain,
    Gzip(Box<flate2::write::MultiGzDecoder<Vec<u8>>>),
    Zstd(Box<zstd::stream::write::Decoder<'static, Vec<u8>>>),
}

impl Inflater {
    pub(crate) fn new(packing: Packing) -> io::Result<Self> {
        Ok(match packing {
            Packing::Plain => Inflater::Plain,
            Packing::Gzip => Inflater::Gzip(Box::new(flate2::write::MultiGzDecoder::new(Vec::new()))),
            Packing::Zstd => Inflater::Zstd(Box::new(zstd::stream::write::Decoder::new(Vec::new())?)),
        })
    }

    /// Decompresses `input`, calling `each` with every piece of output.
    pub(crate) fn push(&mut self, input: &[u8], mut each: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        for slice in input.chunks(INPUT_SLICE) {
            match self {
                Inflater::Plain => each(slice)?,
                Inflater::Gzip(gzip) => {
                    gzip.write_all(slice)?;
                    gzip.flush()?;
                    each(gzip.get_ref())?;
                    gzip.get_mut().clear();
                }
                Inflater::Zstd(zstd) => {
                    zstd.write_all(slice)?;
                    zstd.flush()?;
                    each(zstd.get_ref())?;
                    zstd.get_mut().clear();
                }
            }
        }
        Ok(())
    }

    /// Ends the object: an error when it stopped inside a frame or member.
    pub(crate) fn finish(self, mut each: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        match self {
            Inflater::Plain => Ok(()),
            Inflater::Gzip(gzip) => each(&gzip.finish()?),
            Inflater::Zstd(zstd) => each(&zstd.finish()?),
        }
    }
}

/// One line of an object, decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded<'a> {
    /// A log line: its bytes as the API sent them (timestamp prefix included), without `\n`.
    Line {
        raw: Cow<'a, [u8]>,
        timestamp: Option<Timestamp>,
        kind: LineKind,
    },
    /// A gap marker.
    Gap {
        at: Option<Timestamp>,
        reason: String,
        text: String,
        /// The marker's bytes, for the position.
        raw: Cow<'a, [u8]>,
    },
}

impl Decoded<'_> {
    pub(crate) fn timestamp(&self) -> Option<Timestamp> {
        match self {
            Decoded::Line { timestamp, .. } => *timestamp,
            Decoded::Gap { at, .. } => *at,
        }
    }

    fn raw(&self) -> &[u8] {
        match self {
            Decoded::Line { raw, .. } | Decoded::Gap { raw, .. } => raw,
        }
    }
}

/// An NDJSON line as the JSON encoder writes it.
#[derive(Deserialize)]
struct JsonLine {
    timestamp: Option<String>,
    #[serde(default)]
    message: String,
    message_base64: Option<String>,
    #[serde(default)]
    partial: bool,
    gap: Option<serde_json::Value>,
}

/// Cuts decompressed bytes into lines and decodes them.
#[derive(Debug)]
pub(crate) struct LineDecoder {
    /// `None` until the first bytes tell (files have no extension to say).
    encoding: Option<Encoding>,
    /// The start of a line whose `\n` has not come yet.
    carry: Vec<u8>,
    /// The last JSON piece did not end its line.
    json_open: bool,
}

impl LineDecoder {
    pub(crate) fn new(encoding: Option<Encoding>) -> Self {
        Self {
            encoding,
            carry: Vec::new(),
            json_open: false,
        }
    }

    /// Decodes the lines `bytes` completes.
    ///
    /// # Errors
    /// A line that is not what the object's encoding says: the reason.
    pub(crate) fn push(&mut self, bytes: &[u8], each: &mut impl FnMut(Decoded<'_>)) -> Result<(), String> {
        if self.encoding.is_none() && !bytes.is_empty() {
            let first = self.carry.first().or(bytes.first());
            self.encoding = Some(if first == Some(&b'{') {
                Encoding::Json
            } else {
                Encoding::Lines
            });
        }
        let mut start = 0;
        for newline in memchr::memchr_iter(b'\n', bytes) {
            if self.carry.is_empty() {
                self.decode(&bytes[start..newline], true, each)?;
            } else {
                let mut line = std::mem::take(&mut self.carry);
                line.extend_from_slice(&bytes[start..newline]);
                self.decode(&line, true, each)?;
            }
            start = newline + 1;
        }
        self.carry.extend_from_slice(&bytes[start..]);
        Ok(())
    }

    /// Ends the object: a last line without `\n` (a file being written) is decoded as such.
    pub(crate) fn finish(&mut self, each: &mut impl FnMut(Decoded<'_>)) -> Result<(), String> {
        if self.carry.is_empty() {
            return Ok(());
        }
        let line = std::mem::take(&mut self.carry);
        self.decode(&line, false, each)
    }

    fn decode(&mut self, line: &[u8], terminated: bool, each: &mut impl FnMut(Decoded<'_>)) -> Result<(), String> {
        match self.encoding {
            Some(Encoding::Json) => self.decode_json(line, each),
            _ => {
                each(decode_raw(line, terminated));
                Ok(())
            }
        }
    }

    fn decode_json(&mut self, line: &[u8], each: &mut impl FnMut(Decoded<'_>)) -> Result<(), String> {
        if line.is_empty() {
            return Ok(());
        }
        let json: JsonLine =
            serde_json::from_slice(line).map_err(|err| format!("a line is not the JSON the sinks write: {err}"))?;
        let timestamp = json.timestamp.as_deref().and_then(|t| t.parse::<Timestamp>().ok());
        if let Some(reason) = json.gap {
            let reason = match reason {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            };
            let text = json
                .message
                .strip_prefix("[kube-log-exporter] GAP: ")
                .unwrap_or(&json.message)
                .to_owned();
            each(Decoded::Gap {
                at: timestamp,
                reason,
                text,
                raw: Cow::Owned(line.to_vec()),
            });
            return Ok(());
        }
        let message = match json.message_base64 {
            Some(encoded) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|err| format!("a line's message_base64 is not base64: {err}"))?,
            None => json.message.into_bytes(),
        };
        let continuation = self.json_open;
        let mut raw = Vec::with_capacity(message.len() + 32);
        if !continuation && let Some(text) = &json.timestamp {
            raw.extend_from_slice(text.as_bytes());
            raw.push(b' ');
        }
        raw.extend_from_slice(&message);
        let kind = match (json.partial, continuation) {
            (true, _) => LineKind::Fragment { last: false },
            (false, true) => LineKind::Fragment { last: true },
            (false, false) => LineKind::Full,
        };
        self.json_open = json.partial;
        each(Decoded::Line {
            raw: Cow::Owned(raw),
            timestamp,
            kind,
        });
        Ok(())
    }
}

/// A line of a `raw` archive: the API's bytes, or a gap marker.
fn decode_raw(line: &[u8], terminated: bool) -> Decoded<'_> {
    let split = split_timestamp(line);
    let message = split.map_or(line, |(_, start)| &line[start as usize..]);
    if let Some(text) = message.strip_prefix(GAP_MARKER) {
        let text = String::from_utf8_lossy(text).into_owned();
        return Decoded::Gap {
            at: split.map(|(t, _)| t),
            reason: gap_reason(&text).to_owned(),
            text,
            raw: Cow::Borrowed(line),
        };
    }
    Decoded::Line {
        raw: Cow::Borrowed(line),
        timestamp: split.map(|(t, _)| t),
        kind: if terminated {
            LineKind::Full
        } else {
            LineKind::Unterminated
        },
    }
}

/// The reason of a gap marker in a text archive, by the words the exporter wrote
/// (`kle_core::Gap`'s display); the names are those of JSON archives.
fn gap_reason(text: &str) -> &'static str {
    if text.contains("rotated away") {
        "rotated"
    } else if text.contains("pod was deleted") {
        "pod_deleted"
    } else if text.contains("previous instance") {
        "previous_unavailable"
    } else if text.contains("restarted again") {
        "instances_lost"
    } else {
        "unknown"
    }
}

/// Where a container's reading stands: the last timestamp read and the lines read at it.
/// Objects are read in order of their first timestamp; an object that starts at or before
/// that position holds lines read already (a copy the overlap rule did not remove: the same
/// lines cut at other points by a resumed run), which are skipped until a line differs or
/// comes later.
#[derive(Debug, Default)]
pub(crate) struct Position {
    last: Option<Timestamp>,
    /// Hashes of the lines read at `last`, in order.
    at_last: Vec<u64>,
    /// While replaying: how many lines at `last` the current object has matched.
    replay: Option<usize>,
}

impl Position {
    /// A new object whose first timestamp is `first` starts.
    pub(crate) fn start_object(&mut self, first: Option<Timestamp>) {
        self.replay = match (first, self.last) {
            // At the very timestamp too: copies start there as often as anywhere. The price:
            // the next object of a run cut inside a burst of lines sharing one timestamp, whose
            // first lines repeat byte for byte the burst's first lines, loses those lines.
            (Some(first), Some(last)) if first <= last => Some(0),
            _ => None,
        };
    }

    /// Whether `line` is new (and then it counts as read); false for a copy.
    pub(crate) fn admit(&mut self, line: &Decoded<'_>) -> bool {
        let Some(timestamp) = line.timestamp() else {
            return true;
        };
        let hash = fnv1a(&[line.raw()]);
        if let (Some(matched), Some(last)) = (self.replay, self.last) {
            if timestamp < last {
                return false;
            }
            if timestamp == last && self.at_last.get(matched) == Some(&hash) {
                self.replay = Some(matched + 1);
                return false;
            }
            self.replay = None;
        }
        match self.last {
            Some(last) if timestamp == last => self.at_last.push(hash),
            Some(last) if timestamp < last => {}
            _ => {
                self.last = Some(timestamp);
                self.at_last.clear();
                self.at_last.push(hash);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(encoding: Option<Encoding>, chunks: &[&[u8]]) -> Vec<String> {
        let mut decoder = LineDecoder::new(encoding);
        let mut out = Vec::new();
        let mut each = |d: Decoded<'_>| {
            out.push(match d {
                Decoded::Line { raw, kind, .. } => format!("{kind:?} {}", String::from_utf8_lossy(&raw)),
                Decoded::Gap { reason, .. } => format!("gap {reason}"),
            });
        };
        for chunk in chunks {
            decoder.push(chunk, &mut each).unwrap();
        }
        decoder.finish(&mut each).unwrap();
        out
    }

    #[test]
    fn lines_cut_across_chunks_and_gap_markers() {
        let out = decode_all(
            None,
            &[
                b"2026-11-23T10:00:00.000000001Z hel",
                b"lo\n2026-11-23T10:00:01.000000000Z [kube-log-exporter] GAP: a/b/c: lines were rotated away by the kubelet\n",
                b"tail",
            ],
        );
        assert_eq!(
            out,
            [
                "Full 2026-11-23T10:00:00.000000001Z hello",
                "gap rotated",
                "Unterminated tail"
            ]
        );
    }

    #[test]
    fn json_lines_give_back_the_api_bytes() {
        let out = decode_all(
            Some(Encoding::Json),
            &[
                br#"{"timestamp":"2026-11-23T10:00:00.000000001Z","namespace":"a","message":"hi"}
{"timestamp":"2026-11-23T10:00:00.000000002Z","message":"","message_base64":"/w==","partial":true}
{"timestamp":"2026-11-23T10:00:00.000000002Z","message":"rest"}
{"timestamp":"2026-11-23T10:00:01.000000000Z","gap":"pod_deleted","message":"[kube-log-exporter] GAP: x"}
"#,
            ],
        );
        assert_eq!(out[0], "Full 2026-11-23T10:00:00.000000001Z hi");
        assert_eq!(
            out[1],
            "Fragment { last: false } 2026-11-23T10:00:00.000000002Z \u{fffd}"
        );
        assert_eq!(out[2], "Fragment { last: true } rest");
        assert_eq!(out[3], "gap pod_deleted");
        let mut decoder = LineDecoder::new(Some(Encoding::Json));
        assert!(decoder.push(b"not json\n", &mut |_| {}).is_err());
    }

    fn line(ts: &str, text: &str) -> (String, Timestamp) {
        (format!("{ts} {text}"), ts.parse().unwrap())
    }

    fn admitted(position: &mut Position, first: &str, lines: &[(&str, &str)]) -> Vec<String> {
        position.start_object(Some(first.parse().unwrap()));
        lines
            .iter()
            .map(|(ts, text)| line(ts, text))
            .filter(|(raw, timestamp)| {
                position.admit(&Decoded::Line {
                    raw: Cow::Borrowed(raw.as_bytes()),
                    timestamp: Some(*timestamp),
                    kind: LineKind::Full,
                })
            })
            .map(|(raw, _)| raw)
            .collect()
    }

    #[test]
    fn copies_cut_at_other_points_are_skipped_and_new_lines_kept() {
        let t = |s: u32| format!("2026-11-23T10:00:{s:02}.000000000Z");
        let mut position = Position::default();
        let a = admitted(
            &mut position,
            &t(1),
            &[(&t(1), "a"), (&t(2), "b"), (&t(3), "c"), (&t(3), "d")],
        );
        assert_eq!(a.len(), 4);
        // A resumed run's object: from b to f, cut elsewhere.
        let b = admitted(
            &mut position,
            &t(2),
            &[(&t(2), "b"), (&t(3), "c"), (&t(3), "d"), (&t(3), "e"), (&t(4), "f")],
        );
        assert_eq!(b, [format!("{} e", t(3)), format!("{} f", t(4))]);
        // The next object of a run starts at the same timestamp as the last line: new lines.
        let c = admitted(&mut position, &t(4), &[(&t(4), "g"), (&t(5), "h")]);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn zstd_frames_and_gzip_members_one_after_another() {
        let mut zstd = zstd::bulk::compress(b"one\n", 3).unwrap();
        zstd.extend(zstd::bulk::compress(b"two\n", 3).unwrap());
        let mut gzip = Vec::new();
        for part in [&b"one\n"[..], b"two\n"] {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(part).unwrap();
            gzip.extend(encoder.finish().unwrap());
        }
        for (packing, bytes) in [(Packing::Zstd, zstd), (Packing::Gzip, gzip)] {
            let mut inflater = Inflater::new(packing).unwrap();
            let mut out = Vec::new();
            for byte in &bytes {
                inflater
                    .push(std::slice::from_ref(byte), |piece| {
                        out.extend_from_slice(piece);
                        Ok(())
                    })
                    .unwrap();
            }
            inflater
                .finish(|piece| {
                    out.extend_from_slice(piece);
                    Ok(())
                })
                .unwrap();
            assert_eq!(out, b"one\ntwo\n", "{packing:?}");
            let mut cut = Inflater::new(packing).unwrap();
            cut.push(&bytes[..bytes.len() - 3], |_| Ok(())).unwrap();
            assert!(cut.finish(|_| Ok(())).is_err(), "{packing:?}: a cut object is an error");
        }
        let mut junk = Inflater::new(Packing::Zstd).unwrap();
        assert!(junk.push(b"this is not zstd at all", |_| Ok(())).is_err());
    }
}
