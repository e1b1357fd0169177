//! Encodings of log lines, shared by the sinks.
//!
//! An [`Encoder`] appends a whole [`LogBatch`] to a caller's buffer, so a sink reuses one
//! buffer and allocates nothing per line: messages are copied (and escaped, for JSON) straight
//! from the network buffer, and what is the same for every line of a container (the text
//! prefix, the JSON metadata with its labels) is rendered once per container and cached.
//!
//! [`Format::Raw`] and [`Format::Text`] keep the bytes as the API sent them: a newline follows
//! exactly the lines that [ended](kle_core::LogLine::ends_line) in the original stream, and the
//! fragments of a line split for length are written back to back (the text prefix only before
//! the first), so concatenating one container's output gives back its log.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;

use kle_core::lines::LineKind;
use kle_core::{Container, Gap, LogBatch, LogLine, SinkError};
use serde::{Deserialize, Serialize};

pub use crate::template::LineTemplate;

/// How lines are written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// `namespace/pod/container message`, like stern: for people reading a terminal.
    Text {
        /// Colour the prefix with ANSI escapes, one stable colour per pod.
        color: bool,
        /// Put the API's timestamp after the prefix.
        timestamps: bool,
    },
    /// Only the message, like `kubectl logs`; with `timestamps`, the API's bytes unchanged,
    /// like `kubectl logs --timestamps`.
    Raw {
        /// Keep the timestamp prefix the API wrote.
        timestamps: bool,
    },
    /// One JSON object per line (NDJSON) with the container's metadata.
    ///
    /// Fields: `timestamp` (RFC 3339 as the API wrote it, or `null`), `cluster` (only when the
    /// run names clusters: [`Encoder::with_cluster`]), `namespace`, `pod`,
    /// `container`, `node` (or `null`), `labels` (an object), `message` (UTF-8, invalid bytes
    /// replaced by U+FFFD), `message_base64` (the exact bytes, only when the message is not valid
    /// UTF-8) and `partial: true` on a piece that does not end its line.
    Json,
    /// Each line as a [`LineTemplate`] (`{namespace}/{pod} {message}`), one per line; the
    /// pieces of a line split for length each get the template.
    Template(Arc<LineTemplate>),
}

impl Format {
    /// The API's bytes with timestamps: what `kubectl logs --timestamps` prints.
    pub const RAW_WITH_TIMESTAMPS: Format = Format::Raw { timestamps: true };

    /// Plain, uncoloured text without timestamps.
    pub const PLAIN_TEXT: Format = Format::Text {
        color: false,
        timestamps: false,
    };

    /// A short name for messages (`text`, `raw`, `json`).
    pub fn name(&self) -> &'static str {
        match self {
            Format::Text { .. } => "text",
            Format::Raw { .. } => "raw",
            Format::Json => "json",
            Format::Template(_) => "template",
        }
    }
}

/// Containers whose rendered metadata is kept; past this, the cache is trimmed.
const MAX_CACHED_CONTAINERS: usize = 4096;

/// What is rendered once per container.
#[derive(Debug)]
struct Cached {
    /// Held so the pointer used as the key cannot be reused by another container.
    container: Arc<Container>,
    /// The text prefix, or the JSON fields between `timestamp` and `message`.
    head: Vec<u8>,
    /// The last line written did not end its line: the next piece continues it.
    mid_line: bool,
}

/// Encodes batches in one [`Format`], caching per-container metadata.
///
/// ```
/// use kle_sinks::encode::{Encoder, Format};
/// # fn batch() -> kle_core::LogBatch { unimplemented!() }
/// let mut encoder = Encoder::new(Format::RAW_WITH_TIMESTAMPS);
/// let mut out = Vec::new();
/// # if false {
/// encoder.encode(&batch(), &mut out);
/// # }
/// ```
#[derive(Debug)]
pub struct Encoder {
    format: Format,
    /// The name of the lines' cluster, when the run names it: a `cluster` field in JSON, a
    /// `[cluster] ` before the text prefix, `{cluster}` in line templates.
    cluster: Option<Arc<str>>,
    /// Keyed by the address of the batch's `Arc<Container>`, which the entry keeps alive.
    cache: HashMap<usize, Cached>,
}

impl Encoder {
    /// An encoder for `format`.
    pub fn new(format: Format) -> Self {
        Self {
            format,
            cluster: None,
            cache: HashMap::new(),
        }
    }

    /// The encoder labelling every line with its cluster, `name` (see [`Encoder`]'s fields):
    /// for a run over several clusters, or one named with `--cluster-name`. The raw format
    /// has no place for it and stays the API's bytes.
    #[must_use]
    pub fn with_cluster(mut self, name: Option<&str>) -> Self {
        self.cluster = name.map(Arc::from);
        self
    }

    /// The format this encoder writes.
    pub fn format(&self) -> Format {
        self.format.clone()
    }

    /// Whether the encoding of a batch is its [`raw_slices`](kle_core::Lines::raw_slices)
    /// (the API's bytes with timestamps): a sink may write those instead.
    pub fn passes_through(&self) -> bool {
        self.format == Format::RAW_WITH_TIMESTAMPS
    }

    /// Appends the encoding of every line of `batch` to `out`.
    pub fn encode(&mut self, batch: &LogBatch, out: &mut Vec<u8>) {
        match self.format {
            Format::Template(ref template) => {
                for line in &batch.lines {
                    template.render(&batch.container, &line, self.cluster.as_deref(), out);
                    out.push(b'\n');
                }
            }
            // The API's bytes as they came: no per-line work.
            Format::Raw { timestamps: true } => {
                for slice in batch.lines.raw_slices() {
                    out.extend_from_slice(slice);
                }
            }
            Format::Raw { timestamps: false } => {
                for line in &batch.lines {
                    out.extend_from_slice(line.message());
                    if line.ends_line() {
                        out.push(b'\n');
                    }
                }
            }
            Format::Text { color, timestamps } => {
                let cached = self.cached(&batch.container, |c, cluster| text_prefix(c, cluster, color));
                for line in &batch.lines {
                    if !cached.mid_line {
                        out.extend_from_slice(&cached.head);
                        if let (true, Some(text)) = (timestamps, line.timestamp_text()) {
                            out.extend_from_slice(text);
                            out.push(b' ');
                        }
                    }
                    out.extend_from_slice(line.message());
                    if line.ends_line() {
                        out.push(b'\n');
                    }
                    cached.mid_line = line.kind() == LineKind::Fragment { last: false };
                }
            }
            Format::Json => {
                let cached = self.cached(&batch.container, json_head);
                for line in &batch.lines {
                    json_line(&cached.head, &line, out);
                }
            }
        }
    }

    /// Appends a marker line for `gap`, in this format, where the missing lines would be.
    ///
    /// Raw and text: `[kube-log-exporter] GAP: <what is missing>` (after the timestamp or
    /// prefix the format writes); JSON: an object with `"gap"` set to the reason.
    pub fn encode_gap(&mut self, gap: &Gap, out: &mut Vec<u8>) {
        let at = gap
            .until
            .or(gap.after.map(|c| c.timestamp))
            .unwrap_or_else(jiff::Timestamp::now);
        let text = format!("[kube-log-exporter] GAP: {gap}");
        match self.format {
            Format::Template(_) => {
                if let Some(cluster) = &self.cluster {
                    let _ = write!(out, "[{cluster}] ");
                }
                let _ = write!(
                    out,
                    "{}/{}/{} {at:.9} ",
                    gap.container.namespace(),
                    gap.container.pod_name(),
                    gap.container.name
                );
                out.extend_from_slice(text.as_bytes());
                out.push(b'\n');
            }
            Format::Raw { timestamps } => {
                if timestamps {
                    let _ = write!(out, "{at:.9} ");
                }
                out.extend_from_slice(text.as_bytes());
                out.push(b'\n');
            }
            Format::Text { color, timestamps } => {
                let cached = self.cached(&gap.container, |c, cluster| text_prefix(c, cluster, color));
                out.extend_from_slice(&cached.head);
                if timestamps {
                    let _ = write!(out, "{at:.9} ");
                }
                out.extend_from_slice(text.as_bytes());
                out.push(b'\n');
            }
            Format::Json => {
                let cached = self.cached(&gap.container, json_head);
                let _ = write!(out, "{{\"timestamp\":\"{at:.9}\",");
                out.extend_from_slice(&cached.head);
                let reason = serde_json::to_string(&gap.reason).unwrap_or_else(|_| "\"unknown\"".into());
                let _ = write!(out, "\"gap\":{reason},\"message\":");
                json_string(text.as_bytes(), out);
                out.extend_from_slice(b"}\n");
            }
        }
    }

    /// Drops what is cached for `container` (its stream ended).
    pub fn forget(&mut self, container: &Container) {
        self.cache.retain(|_, cached| {
            !std::ptr::eq(Arc::as_ptr(&cached.container), container) && *cached.container != *container
        });
    }

    fn cached(
        &mut self,
        container: &Arc<Container>,
        render: impl FnOnce(&Container, Option<&str>) -> Vec<u8>,
    ) -> &mut Cached {
        if self.cache.len() >= MAX_CACHED_CONTAINERS {
            // Streams that ended without `forget`: keep only lines still open.
            self.cache.retain(|_, cached| cached.mid_line);
        }
        let key = Arc::as_ptr(container) as usize;
        self.cache.entry(key).or_insert_with(|| Cached {
            container: Arc::clone(container),
            head: render(container, self.cluster.as_deref()),
            mid_line: false,
        })
    }
}

/// ANSI foreground colours for pod prefixes (no black or white: unreadable on some themes).
const COLORS: [u8; 12] = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96];

fn text_prefix(container: &Container, cluster: Option<&str>, color: bool) -> Vec<u8> {
    let mut head = Vec::new();
    if let Some(cluster) = cluster {
        let _ = write!(head, "[{cluster}] ");
    }
    if color {
        let hash = fnv1a(&[container.namespace().as_bytes(), b"/", container.pod_name().as_bytes()]);
        let code = COLORS[(hash % COLORS.len() as u64) as usize];
        let _ = write!(head, "\x1b[{code}m");
    }
    let _ = write!(
        head,
        "{}/{}/{}",
        container.namespace(),
        container.pod_name(),
        container.name
    );
    if color {
        head.extend_from_slice(b"\x1b[0m");
    }
    head.push(b' ');
    head
}

/// `"cluster":…,"namespace":…,"pod":…,"container":…,"node":…,"labels":{…},` rendered once per
/// container (`cluster` only when the run names it).
fn json_head(container: &Container, cluster: Option<&str>) -> Vec<u8> {
    let mut head = Vec::new();
    if let Some(cluster) = cluster {
        head.extend_from_slice(b"\"cluster\":");
        json_string(cluster.as_bytes(), &mut head);
        head.push(b',');
    }
    head.extend_from_slice(b"\"namespace\":");
    json_string(container.namespace().as_bytes(), &mut head);
    head.extend_from_slice(b",\"pod\":");
    json_string(container.pod_name().as_bytes(), &mut head);
    head.extend_from_slice(b",\"container\":");
    json_string(container.name.as_bytes(), &mut head);
    head.extend_from_slice(b",\"node\":");
    match &container.pod.node {
        Some(node) => {
            json_string(node.as_bytes(), &mut head);
        }
        None => head.extend_from_slice(b"null"),
    }
    head.extend_from_slice(b",\"labels\":{");
    for (i, (key, value)) in container.pod.labels.iter().enumerate() {
        if i > 0 {
            head.push(b',');
        }
        json_string(key.as_bytes(), &mut head);
        head.push(b':');
        json_string(value.as_bytes(), &mut head);
    }
    head.extend_from_slice(b"},");
    head
}

fn json_line(head: &[u8], line: &LogLine<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"timestamp\":");
    match (line.timestamp_text(), line.timestamp()) {
        (Some(text), _) => {
            json_string(text, out);
        }
        // A continuation fragment carries its line's timestamp but not its text.
        (None, Some(timestamp)) => {
            let _ = write!(out, "\"{timestamp}\"");
        }
        (None, None) => out.extend_from_slice(b"null"),
    }
    out.push(b',');
    out.extend_from_slice(head);
    out.extend_from_slice(b"\"message\":");
    let message = line.message();
    let valid = json_string(message, out);
    if !valid {
        out.extend_from_slice(b",\"message_base64\":\"");
        base64(message, out);
        out.push(b'"');
    }
    if !line.ends_line() {
        out.extend_from_slice(b",\"partial\":true");
    }
    out.extend_from_slice(b"}\n");
}

/// Writes `bytes` as a JSON string, replacing invalid UTF-8 with U+FFFD; returns whether the
/// bytes were valid UTF-8.
fn json_string(bytes: &[u8], out: &mut Vec<u8>) -> bool {
    out.push(b'"');
    // Most messages are printable ASCII with nothing to escape: checked without a branch per
    // byte (the compiler vectorizes the fold), copied whole.
    let plain = bytes.iter().fold(true, |plain, &b| {
        plain & (0x20..0x7f).contains(&b) & (b != b'"') & (b != b'\\')
    });
    if plain {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return true;
    }
    let mut valid = true;
    for chunk in bytes.utf8_chunks() {
        escape_str(chunk.valid(), out);
        if !chunk.invalid().is_empty() {
            valid = false;
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
    out.push(b'"');
    valid
}

/// Escapes valid UTF-8 for the inside of a JSON string, copying unescaped runs whole.
fn escape_str(text: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8], out: &mut Vec<u8>) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut chunks = bytes.chunks_exact(3);
    for chunk in &mut chunks {
        let n = u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]);
        out.extend_from_slice(&[
            ALPHABET[(n >> 18) as usize & 63],
            ALPHABET[(n >> 12) as usize & 63],
            ALPHABET[(n >> 6) as usize & 63],
            ALPHABET[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                b'=',
                b'=',
            ]);
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                ALPHABET[(n >> 6) as usize & 63],
                b'=',
            ]);
        }
        _ => {}
    }
}

/// FNV-1a (64 bit): a hash that is the same in every build and version, for choices users
/// see again on the next run (a pod's colour, a shortened file name).
pub(crate) fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// The name of a [`Format`] in a configuration; the flags beside it complete it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum FormatKind {
    /// [`Format::Text`].
    Text,
    /// [`Format::Raw`].
    Raw,
    /// [`Format::Json`].
    Json,
    /// [`Format::Template`], standard output only; the template is [`StdoutConfig::template`](crate::stdout::StdoutConfig::template).
    Template,
}

impl FormatKind {
    /// The format with its flags. `Template` needs its template: see [`StdoutConfig::format`](crate::stdout::StdoutConfig::format);
    /// here it falls back to plain text.
    pub fn with(self, timestamps: bool, color: bool) -> Format {
        match self {
            FormatKind::Text | FormatKind::Template => Format::Text { color, timestamps },
            FormatKind::Raw => Format::Raw { timestamps },
            FormatKind::Json => Format::Json,
        }
    }

    pub(crate) fn refuse_template(self, sink: &'static str) -> Result<(), SinkError> {
        match self {
            FormatKind::Template => Err(SinkError::InvalidConfig {
                sink,
                reason: "`format: template` is for the stdout sink; use raw, text or json".into(),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kle_core::testing::{batch, container, container_in, split};

    fn encode(format: Format, batches: &[LogBatch]) -> Vec<u8> {
        let mut encoder = Encoder::new(format);
        let mut out = Vec::new();
        for b in batches {
            encoder.encode(b, &mut out);
        }
        out
    }

    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).unwrap_or("<invalid utf-8>")
    }

    const INPUT: &[u8] = b"2026-11-23T10:00:00.123456789Z hello\n2026-11-23T10:00:01Z world\n";

    #[test]
    fn raw_with_and_without_timestamps() {
        let c = container("web-1", "app");
        let b = batch(&c, split(INPUT, 1024));
        assert_eq!(encode(Format::RAW_WITH_TIMESTAMPS, std::slice::from_ref(&b)), INPUT);
        assert_eq!(text(&encode(Format::Raw { timestamps: false }, &[b])), "hello\nworld\n");
    }

    #[test]
    fn text_prefix_and_timestamps_without_colour() {
        let c = container("web-1", "app");
        let b = batch(&c, split(INPUT, 1024));
        assert_eq!(
            text(&encode(Format::PLAIN_TEXT, std::slice::from_ref(&b))),
            "shop/web-1/app hello\nshop/web-1/app world\n"
        );
        let with_ts = encode(
            Format::Text {
                color: false,
                timestamps: true,
            },
            &[b],
        );
        assert_eq!(
            text(&with_ts),
            "shop/web-1/app 2026-11-23T10:00:00.123456789Z hello\nshop/web-1/app 2026-11-23T10:00:01Z world\n"
        );
        assert!(!with_ts.contains(&0x1b), "no escape codes when colour is off");
    }

    #[test]
    fn colour_is_stable_per_pod_and_wraps_only_the_prefix() {
        let a = container("web-1", "app");
        let a2 = container("web-1", "sidecar");
        let out = encode(
            Format::Text {
                color: true,
                timestamps: false,
            },
            &[batch(&a, split(b"x\n", 64))],
        );
        let out2 = encode(
            Format::Text {
                color: true,
                timestamps: false,
            },
            &[batch(&a2, split(b"y\n", 64))],
        );
        let s = text(&out);
        assert!(s.starts_with("\x1b[") && s.ends_with("\x1b[0m x\n"), "{s:?}");
        let colour = |s: &str| s.split('m').next().map(str::to_owned);
        assert_eq!(colour(s), colour(text(&out2)), "same pod, same colour");
        let colours: std::collections::HashSet<_> = (0..40)
            .map(|i| {
                let c = container(&format!("pod-{i}"), "app");
                colour(text(&encode(
                    Format::Text {
                        color: true,
                        timestamps: false,
                    },
                    &[batch(&c, split(b"x\n", 64))],
                )))
            })
            .collect();
        assert!(colours.len() > 3, "pods get different colours: {colours:?}");
    }

    #[test]
    fn fragments_and_unterminated_tail_reproduce_the_stream() {
        let mut input = b"2026-11-23T10:00:00Z ".to_vec();
        input.extend(std::iter::repeat_n(b'x', 300));
        input.extend_from_slice(b"\n2026-11-23T10:00:01Z short\n2026-11-23T10:00:02Z tail without newline");
        let lines = split(&input, 100);
        assert!(
            lines
                .iter()
                .any(|l| matches!(l.kind(), LineKind::Fragment { last: false }))
        );
        let c = container("web-1", "app");
        // Spread the pieces over batches, one line per batch: the state carries across.
        let batches: Vec<_> = (0..lines.len()).map(|i| batch(&c, lines.slice(i..i + 1))).collect();
        assert_eq!(encode(Format::RAW_WITH_TIMESTAMPS, &batches), input);

        let raw = encode(Format::Raw { timestamps: false }, &batches);
        let mut expected = vec![b'x'; 300];
        expected.extend_from_slice(b"\nshort\ntail without newline");
        assert_eq!(raw, expected);

        let out = encode(
            Format::Text {
                color: false,
                timestamps: true,
            },
            &batches,
        );
        let prefixed = format!("shop/web-1/app {}", text(&input).replace('\n', "\nshop/web-1/app "));
        assert_eq!(
            text(&out),
            prefixed,
            "one prefix per line, none before continuation pieces"
        );
    }

    #[test]
    fn text_fragments_of_two_containers_keep_their_own_state() {
        let a = container("a", "app");
        let b = container("b", "app");
        let mut long = b"2026-11-23T10:00:00Z ".to_vec();
        long.extend(std::iter::repeat_n(b'x', 100));
        long.push(b'\n');
        let pieces = split(&long, 64);
        assert_eq!(pieces.len(), 2);
        let batches = [
            batch(&a, pieces.slice(0..1)),
            batch(&b, split(b"2026-11-23T10:00:00Z b-line\n", 64)),
            batch(&a, pieces.slice(1..2)),
        ];
        let out = text(&encode(Format::PLAIN_TEXT, &batches)).to_owned();
        assert_eq!(out.matches("shop/a/app ").count(), 1, "{out}");
        assert!(out.contains("shop/b/app b-line\n"));
    }

    #[test]
    fn invalid_utf8_in_raw_text_and_json() {
        let input = b"2026-11-23T10:00:00Z bad \xff\xfe bytes \xe2\x82\n";
        let c = container("web-1", "app");
        let b = batch(&c, split(input, 1024));
        assert_eq!(encode(Format::RAW_WITH_TIMESTAMPS, std::slice::from_ref(&b)), input);
        let out = encode(Format::Json, &[b]);
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
        assert_eq!(value["message"], "bad \u{FFFD}\u{FFFD} bytes \u{FFFD}");
        let encoded = value["message_base64"].as_str().unwrap_or_default();
        assert_eq!(decode_base64(encoded), b"bad \xff\xfe bytes \xe2\x82");
    }

    #[test]
    fn json_shape() {
        let c = container_in(
            "shop",
            "web-1",
            "app",
            &[("app", "web"), ("tier", "fr\"ont\n")],
            Some("node-a"),
        );
        let mut input = b"2026-11-23T10:00:00.123456789Z say \"hi\"\t\\ \x01 \xc3\xa9\n".to_vec();
        input.extend_from_slice(b"no timestamp\n");
        let out = encode(Format::Json, &[batch(&c, split(&input, 1024))]);
        let text = text(&out);
        assert_eq!(text.lines().count(), 2, "one object per line: {text}");
        let first: serde_json::Value =
            serde_json::from_str(text.lines().next().unwrap_or_default()).unwrap_or_default();
        assert_eq!(
            first,
            serde_json::json!({
                "timestamp": "2026-11-23T10:00:00.123456789Z",
                "namespace": "shop",
                "pod": "web-1",
                "container": "app",
                "node": "node-a",
                "labels": {"app": "web", "tier": "fr\"ont\n"},
                "message": "say \"hi\"\t\\ \u{1} é",
            })
        );
        let second: serde_json::Value =
            serde_json::from_str(text.lines().nth(1).unwrap_or_default()).unwrap_or_default();
        assert_eq!(second["timestamp"], serde_json::Value::Null);
        assert_eq!(second["message"], "no timestamp");
        assert!(second.get("partial").is_none() && second.get("message_base64").is_none());
    }

    #[test]
    fn json_marks_pieces_that_do_not_end_their_line() {
        let mut input = b"2026-11-23T10:00:00.5Z ".to_vec();
        input.extend(std::iter::repeat_n(b'y', 150));
        input.extend_from_slice(b"\n2026-11-23T10:00:01Z end");
        let c = container_in("shop", "web-1", "app", &[], None);
        let out = encode(Format::Json, &[batch(&c, split(&input, 64))]);
        let values: Vec<serde_json::Value> = text(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_default())
            .collect();
        let partial: Vec<bool> = values.iter().map(|v| v["partial"] == true).collect();
        assert_eq!(
            partial,
            [true, true, false, true],
            "three pieces, then an unterminated tail"
        );
        assert!(
            values
                .iter()
                .take(3)
                .all(|v| v["timestamp"] == "2026-11-23T10:00:00.5Z"),
            "pieces inherit the timestamp"
        );
        let joined: String = values
            .iter()
            .take(3)
            .map(|v| v["message"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(joined, "y".repeat(150));
        assert_eq!(values[0]["node"], serde_json::Value::Null);
        assert_eq!(values[0]["labels"], serde_json::json!({}));
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = Vec::new();
            base64(plain.as_bytes(), &mut out);
            assert_eq!(text(&out), encoded);
        }
    }

    #[test]
    fn a_named_cluster_labels_json_text_and_templates_but_not_raw() {
        let c = container("web-1", "app");
        let b = batch(&c, split(INPUT, 1024));
        let labelled = |format: Format| {
            let mut encoder = Encoder::new(format).with_cluster(Some("prod"));
            let mut out = Vec::new();
            encoder.encode(&b, &mut out);
            String::from_utf8(out).unwrap()
        };
        let json = labelled(Format::Json);
        let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
        assert_eq!(
            (first["cluster"].as_str(), first["namespace"].as_str()),
            (Some("prod"), Some("shop"))
        );
        assert_eq!(
            labelled(Format::PLAIN_TEXT),
            "[prod] shop/web-1/app hello\n[prod] shop/web-1/app world\n"
        );
        let template = Format::Template(Arc::new(LineTemplate::parse("{cluster}:{pod} {message}").unwrap()));
        assert_eq!(labelled(template), "prod:web-1 hello\nprod:web-1 world\n");
        assert_eq!(labelled(Format::RAW_WITH_TIMESTAMPS).as_bytes(), INPUT);
        // Without a name nothing changes: no field, no prefix.
        assert!(!text(&encode(Format::Json, std::slice::from_ref(&b))).contains("cluster"));
    }

    #[test]
    fn forget_drops_the_cache_entry() {
        let c = container("web-1", "app");
        let mut encoder = Encoder::new(Format::Json);
        let mut out = Vec::new();
        encoder.encode(&batch(&c, split(b"x\n", 64)), &mut out);
        assert_eq!(encoder.cache.len(), 1);
        encoder.forget(&c);
        assert!(encoder.cache.is_empty());
    }

    fn decode_base64(text: &str) -> Vec<u8> {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bits = 0u32;
        let mut count = 0;
        let mut out = Vec::new();
        for b in text.bytes().filter(|&b| b != b'=') {
            let value = ALPHABET.iter().position(|&a| a == b).unwrap_or(0) as u32;
            bits = bits << 6 | value;
            count += 6;
            if count >= 8 {
                count -= 8;
                out.push((bits >> count) as u8);
            }
        }
        out
    }
}
