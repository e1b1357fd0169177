//! Placeholder templates: one grammar, and one way of giving placeholders their values, for
//! the three places a user writes them: file layouts, S3 object keys
//! ([`Layout`](crate::layout::Layout)) and line templates ([`LineTemplate`], `-o template`).
//!
//! # Grammar
//! Text with placeholders in braces: `{namespace}/{pod} {message}`. `{{` and `}}` are a literal
//! `{` and `}` in every kind of template. Any other `{` opens a placeholder, closed by the next
//! `}`; a `{` left open, or a `}` that closes nothing, is an error that says what to write
//! instead.
//!
//! # Placeholders, and where they are allowed
//! | placeholder | value | file layouts | object keys | line templates |
//! |---|---|---|---|---|
//! | `{namespace}` `{pod}` `{container}` | names of the container instance | yes | yes | yes |
//! | `{pod_uid}` | `metadata.uid` of the pod | yes | yes | yes |
//! | `{node}` | the pod's node | yes | yes | yes |
//! | `{cluster}` | the name of the pod's cluster (its kubeconfig context, or `--cluster-name`) | yes | yes | yes |
//! | `{restart}` | the restart count of the instance | yes | yes | yes |
//! | `{label:KEY}` | the value of the pod label `KEY` | yes | yes | yes |
//! | `{date}` | UTC date of the first line of the file or object | yes | yes | — |
//! | `{hour}` `{first_ts}` `{last_ts}` `{lines}` `{hash}` | what the object holds ([`ObjectStamp`]) | — | yes | — |
//! | `{timestamp}` `{message}` | the line's timestamp as the API wrote it, and its message | — | — | yes |
//!
//! In paths every value is made one safe path component (empty values become `_`); in lines
//! values are written as they are (empty when missing).

mod line;
mod parse;

use std::borrow::Cow;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::Offset;
use kle_core::{Container, LogLine};

pub use line::LineTemplate;
pub(crate) use parse::parse;

/// Where a template is used, which decides the placeholders it may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    /// A file sink's path template.
    FileLayout,
    /// An object store's key template (and [`Layout::parse`](crate::layout::Layout::parse)).
    ObjectKey,
    /// A line template (`-o template`).
    Line,
}

impl Use {
    /// How messages name it.
    fn name(self) -> &'static str {
        match self {
            Use::FileLayout => "file layouts",
            Use::ObjectKey => "object keys",
            Use::Line => "line templates",
        }
    }
}

/// A placeholder, as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placeholder {
    Namespace,
    Pod,
    Container,
    PodUid,
    Node,
    Cluster,
    Restart,
    Label(String),
    Date,
    Year,
    Month,
    Day,
    Hour,
    FirstTs,
    LastTs,
    Lines,
    Hash,
    Timestamp,
    Message,
}

/// Every placeholder as written, in the order messages list them.
const NAMES: [&str; 19] = [
    "namespace",
    "pod",
    "container",
    "pod_uid",
    "node",
    "cluster",
    "restart",
    "label:KEY",
    "date",
    "year",
    "month",
    "day",
    "hour",
    "first_ts",
    "last_ts",
    "lines",
    "hash",
    "timestamp",
    "message",
];

impl Placeholder {
    /// The placeholder written `{name}`, wherever it is allowed.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "namespace" => Placeholder::Namespace,
            "pod" => Placeholder::Pod,
            "container" => Placeholder::Container,
            "pod_uid" => Placeholder::PodUid,
            "node" => Placeholder::Node,
            "cluster" => Placeholder::Cluster,
            "restart" => Placeholder::Restart,
            "date" => Placeholder::Date,
            "year" => Placeholder::Year,
            "month" => Placeholder::Month,
            "day" => Placeholder::Day,
            "hour" => Placeholder::Hour,
            "first_ts" => Placeholder::FirstTs,
            "last_ts" => Placeholder::LastTs,
            "lines" => Placeholder::Lines,
            "hash" => Placeholder::Hash,
            "timestamp" => Placeholder::Timestamp,
            "message" => Placeholder::Message,
            _ => Placeholder::Label(name.strip_prefix("label:").filter(|key| !key.is_empty())?.to_owned()),
        })
    }

    /// The uses that allow it: what a file or object holds names only objects, since a file
    /// grows; lines have their own timestamp instead of a date.
    fn uses(&self) -> &'static [Use] {
        match self {
            Placeholder::Date | Placeholder::Year | Placeholder::Month | Placeholder::Day => {
                &[Use::FileLayout, Use::ObjectKey]
            }
            Placeholder::Hour | Placeholder::FirstTs | Placeholder::LastTs | Placeholder::Lines | Placeholder::Hash => {
                &[Use::ObjectKey]
            }
            Placeholder::Timestamp | Placeholder::Message => &[Use::Line],
            _ => &[Use::FileLayout, Use::ObjectKey, Use::Line],
        }
    }

    /// Whether `usage` allows it.
    pub(crate) fn allowed_in(&self, usage: Use) -> bool {
        self.uses().contains(&usage)
    }

    /// Whether it is the first line's date or a part of it (`{date}`, `{year}`, `{month}`, `{day}`).
    pub(crate) fn is_date(&self) -> bool {
        matches!(
            self,
            Placeholder::Date | Placeholder::Year | Placeholder::Month | Placeholder::Day
        )
    }

    /// Whether it names what an object holds, which only object keys have.
    pub(crate) fn is_object_stamp(&self) -> bool {
        self.uses() == [Use::ObjectKey]
    }

    /// Its value for what is being rendered: the one place every kind of template gets its
    /// values from. A placeholder whose subject is missing (a date, an object, a line) is empty.
    pub(crate) fn value<'a>(&'a self, values: &Values<'a>) -> Value<'a> {
        let container = values.container;
        let text: Cow<'a, str> = match self {
            Placeholder::Namespace => container.namespace().into(),
            Placeholder::Pod => container.pod_name().into(),
            Placeholder::Container => container.name.as_str().into(),
            Placeholder::PodUid => container.pod.uid.as_str().into(),
            Placeholder::Node => container.pod.node.as_deref().unwrap_or_default().into(),
            Placeholder::Cluster => values.cluster.unwrap_or_default().into(),
            Placeholder::Restart => instance_restart_count(container).to_string().into(),
            Placeholder::Label(key) => container.pod.labels.get(key).map_or("", String::as_str).into(),
            Placeholder::Date => values.date.map_or(Cow::Borrowed(""), |date| date.to_string().into()),
            Placeholder::Year => values
                .date
                .map_or(Cow::Borrowed(""), |date| format!("{:04}", date.year()).into()),
            Placeholder::Month => values
                .date
                .map_or(Cow::Borrowed(""), |date| format!("{:02}", date.month()).into()),
            Placeholder::Day => values
                .date
                .map_or(Cow::Borrowed(""), |date| format!("{:02}", date.day()).into()),
            Placeholder::Hour => values.stamp.map_or(Cow::Borrowed(""), |s| {
                format!(
                    "{:02}",
                    Offset::UTC.to_datetime(s.first.unwrap_or_else(Timestamp::now)).hour()
                )
                .into()
            }),
            Placeholder::FirstTs => values
                .stamp
                .map_or(Cow::Borrowed(""), |s| ObjectStamp::render_ts(s.first).into()),
            Placeholder::LastTs => values
                .stamp
                .map_or(Cow::Borrowed(""), |s| ObjectStamp::render_ts(s.last).into()),
            Placeholder::Lines => values.stamp.map_or(Cow::Borrowed(""), |s| s.lines.to_string().into()),
            Placeholder::Hash => values
                .stamp
                .map_or(Cow::Borrowed(""), |s| format!("{:08x}", s.hash).into()),
            Placeholder::Timestamp => {
                return match values.line.map(|line| (line.timestamp_text(), line.timestamp())) {
                    Some((Some(text), _)) => Value::Bytes(text),
                    // A piece after the first of a line split for length carries its line's
                    // timestamp but not its text: rendered as JSON renders it, so that no piece
                    // has an empty timestamp.
                    Some((None, Some(timestamp))) => Value::Text(timestamp.to_string().into()),
                    _ => Value::Bytes(&[]),
                };
            }
            Placeholder::Message => return Value::Bytes(values.line.map_or(&[][..], |line| line.message())),
        };
        Value::Text(text)
    }
}

/// A parsed template: literal text and placeholders, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Text written as it is (escapes already undone: `{{` is `{` here).
    Literal(String),
    /// A placeholder.
    Placeholder(Placeholder),
}

/// What placeholders are rendered for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Values<'a> {
    /// The container instance.
    pub(crate) container: &'a Container,
    /// The date of the first line of the file or object.
    pub(crate) date: Option<Date>,
    /// What the object holds.
    pub(crate) stamp: Option<&'a ObjectStamp>,
    /// The line.
    pub(crate) line: Option<LogLine<'a>>,
    /// The name of the container's cluster, when the run names it.
    pub(crate) cluster: Option<&'a str>,
}

impl<'a> Values<'a> {
    /// Values of `container` alone.
    pub(crate) fn of(container: &'a Container) -> Self {
        Self {
            container,
            date: None,
            stamp: None,
            line: None,
            cluster: None,
        }
    }
}

/// A placeholder's value: text, or a line's bytes (which need not be UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    Text(Cow<'a, str>),
    Bytes(&'a [u8]),
}

/// The restart count that identifies the instance, as in [`Container::key`].
fn instance_restart_count(container: &Container) -> u32 {
    if container.previous {
        container.restart_count.saturating_sub(1)
    } else {
        container.restart_count
    }
}

/// What an object holds, for the placeholders that name it: `{first_ts}`, `{last_ts}`,
/// `{lines}`, `{hash}`, `{date}` and `{hour}`.
///
/// Everything comes from the lines themselves, so the same lines always get the same key: an
/// upload that is retried, or repeated by a resumed run, overwrites its object instead of
/// adding a second copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectStamp {
    /// Timestamp of the first line that has one.
    pub first: Option<Timestamp>,
    /// Timestamp of the last line that has one.
    pub last: Option<Timestamp>,
    /// Lines in the object (fragments count one each).
    pub lines: u64,
    /// CRC-32 of the object's bytes before compression.
    pub hash: u32,
}

impl ObjectStamp {
    /// The stamp of an object holding `lines` lines from `first` to `last`, whose bytes have
    /// the CRC-32 `hash`.
    pub fn new(first: Option<Timestamp>, last: Option<Timestamp>, lines: u64, hash: u32) -> Self {
        Self {
            first,
            last,
            lines,
            hash,
        }
    }

    /// The date `{date}` renders: the first line's, or today's for an object without timestamps.
    pub fn date(&self) -> Date {
        Offset::UTC
            .to_datetime(self.first.unwrap_or_else(Timestamp::now))
            .date()
    }

    pub(crate) fn render_ts(ts: Option<Timestamp>) -> String {
        // Lines without a timestamp only come from an API that did not send them; `{hash}`
        // still tells such objects apart.
        ts.map_or_else(|| "untimed".to_owned(), compact_timestamp)
    }
}

/// `20261123T100000.123456789Z`: UTC, nanoseconds always written, so keys sort by time.
pub fn compact_timestamp(ts: Timestamp) -> String {
    let t = Offset::UTC.to_datetime(ts);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:09}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.subsec_nanosecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;
    use kle_core::SinkError;
    use kle_core::testing::{IntoLines, container_in, line};

    /// `template` rendered as a file layout, an object key and a line template, or each one's error.
    fn three_ways(template: &str) -> [Result<String, String>; 3] {
        let c = container_in("shop", "web-0", "app", &[("app", "web")], Some("node-1"));
        let date = jiff::civil::date(2026, 11, 23);
        let message = |err: SinkError| err.to_string();
        let file = Layout::parse_for_files(template).map(|layout| layout.render_key(&c, date));
        let key = Layout::parse(template).map(|layout| layout.render_key(&c, date));
        let line_text = LineTemplate::parse(template).map(|t| {
            let lines = vec![line("2026-11-23T10:00:00Z", "hello")].into_lines();
            let mut out = Vec::new();
            t.render(&c, &lines.first().unwrap(), None, &mut out);
            String::from_utf8(out).unwrap()
        });
        [file.map_err(message), key.map_err(message), line_text.map_err(message)]
    }

    #[test]
    fn the_three_uses_agree_on_escaping() {
        for (template, expected) in [
            ("{{{pod}}}", "{web-0}"),
            ("a{{b}}c-{container}", "a{b}c-app"),
            ("}}{{{{x", "}{{x"),
            ("{label:app}-{{node}}", "web-{node}"),
        ] {
            for rendered in three_ways(template) {
                assert_eq!(rendered.as_deref(), Ok(expected), "{template:?}");
            }
        }
    }

    #[test]
    fn the_three_uses_refuse_bad_braces_with_the_same_words() {
        for (template, needle) in [
            ("{pod", "the placeholder {pod is not closed: write {pod}"),
            ("{{pod}", "unexpected } after \"{{pod\": write }} for a literal }"),
            ("pod}", "unexpected }"),
            ("x{", "a { is not closed: write {{ for a literal {"),
            ("{pod {container}", "the placeholder {pod  is not closed"),
            ("{label:}", "{label:} needs a label key"),
        ] {
            let [file, key, line] = three_ways(template);
            let file = file.unwrap_err();
            assert!(file.contains(needle), "{template:?}: {file}");
            assert_eq!(Err(&file), key.as_ref(), "{template:?}");
            assert_eq!(Err(&file), line.as_ref(), "{template:?}");
        }
    }

    #[test]
    fn each_use_says_which_placeholders_it_has() {
        let [file, key, line] = three_ways("{first_ts}");
        let file = file.unwrap_err();
        assert!(
            file.contains("{first_ts} is for object keys only; file layouts have {namespace}")
                && file.ends_with("{label:KEY} {date} {year} {month} {day}"),
            "{file}"
        );
        assert!(key.is_ok());
        assert!(line.unwrap_err().contains("line templates have"));

        let [file, key, line] = three_ways("{message}");
        assert!(file.unwrap_err().contains("{message} is for line templates only"));
        assert!(key.unwrap_err().contains("object keys have"));
        assert!(line.is_ok());

        let [file, _, line] = three_ways("{date}");
        assert!(file.is_ok());
        let line = line.unwrap_err();
        assert!(
            line.contains("{date} is for file layouts and object keys only; line templates have"),
            "{line}"
        );
        assert!(line.ends_with("{timestamp} {message}"), "{line}");
    }

    #[test]
    fn unknown_placeholders_get_a_suggestion() {
        for (template, needle) in [
            ("{uid}", "unknown placeholder {uid} (did you mean {pod_uid}?); "),
            ("{podname}", "unknown placeholder {podname} (did you mean {pod}?); "),
            ("{Namespace}", "(did you mean {namespace}?)"),
            ("{ pod }", "(did you mean {pod}?)"),
        ] {
            for err in three_ways(template) {
                let err = err.unwrap_err();
                assert!(err.contains(needle) && err.contains("{{ and }}"), "{template:?}: {err}");
            }
        }
        let [_, _, line] = three_ways("{zzzzzz}");
        let line = line.unwrap_err();
        assert!(
            line.contains("unknown placeholder {zzzzzz}; line templates have") && !line.contains("did you mean"),
            "{line}"
        );
    }

    #[test]
    fn every_listed_name_parses_where_it_is_allowed() {
        for name in NAMES {
            let placeholder = Placeholder::from_name(name).unwrap();
            for usage in [Use::FileLayout, Use::ObjectKey, Use::Line] {
                let parsed = parse(&format!("{{{name}}}"), usage);
                assert_eq!(parsed.is_ok(), placeholder.allowed_in(usage), "{name} in {usage:?}");
            }
        }
    }
}
