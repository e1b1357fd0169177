//! Path templates: where a container's lines go, as a relative path or an object key.
//!
//! A [`Layout`] is parsed and checked once, when a sink is built. Rendering it for a container
//! substitutes each placeholder with a value made into a safe single path component
//! ([`safe_component`]), so no namespace, pod name or label value can climb out of the sink's
//! root, however it is spelled.
//!
//! | placeholder | value |
//! |---|---|
//! | `{namespace}` `{pod}` `{container}` | names of the container instance |
//! | `{pod_uid}` | `metadata.uid` of the pod |
//! | `{node}` | the pod's node (`_` when it has none) |
//! | `{cluster}` | the cluster's name, in a run that names clusters ([`Layout::with_cluster`]; `_` otherwise) |
//! | `{restart}` | the restart count of the instance (the previous instance's count for `previous`) |
//! | `{label:KEY}` | the value of the pod label `KEY` (`_` when it is not set) |
//! | `{date}` | UTC date (`YYYY-MM-DD`) of the first line written to the file or object |
//! | `{year}` `{month}` `{day}` | the parts of that date (`2026`, `11`, `23`), for layouts partitioned by year, month and day |
//!
//! Object keys (the S3 sink) may also name the object's content, taken from its lines' own
//! timestamps ([`ObjectStamp`]); file layouts refuse these:
//!
//! | placeholder | value |
//! |---|---|
//! | `{first_ts}` `{last_ts}` | timestamp of the object's first and last line, UTC, full nanoseconds, as `20261123T100000.123456789Z` (sorts by time) |
//! | `{lines}` | how many lines the object holds |
//! | `{hash}` | CRC-32 of the object's bytes before compression, 8 hex digits: tells apart objects whose lines share their first and last timestamps |
//! | `{hour}` | UTC hour (`00`–`23`) of the first line |
//!
//! # Partitions that query engines prune
//! Hive-style keys (`name=value` path components) let Athena, DuckDB, Spark and Trino read the
//! partition from the key and skip the objects outside a query's range. With the JSON format:
//!
//! ```text
//! dt={date}/hour={hour}/{namespace}/{pod}/{container}/{first_ts}-{last_ts}-{lines}-{hash}
//! year={year}/month={month}/day={day}/{namespace}/{pod}/{container}/{first_ts}-{last_ts}-{lines}-{hash}
//! ```
//! The partition is the UTC date (and hour) of the object's **first** line: an object spans up
//! to `max_object_age` of lines, so one that starts at 23:58 also holds lines of the next day or
//! hour. A query bounded by time should filter on the line's own `timestamp` field and widen the
//! partition filter by one partition on the early side (`dt >= day before`). And the objects
//! of a run that resumed after a crash may repeat lines of an object written before the crash
//! (see the object sink's documentation): a query that must count every line once keeps,
//! among a container's objects with the same `{first_ts}`, the one with the latest `{last_ts}`
//! (or deduplicates on `namespace, pod, container, timestamp, message`). `docs/partitions.md` has
//! DuckDB and Athena examples.
//!
//! `{{` and `}}` are a literal `{` and `}`, as in line templates
//! ([`LineTemplate`](crate::LineTemplate)): all three are read by one parser. A placeholder left
//! open, a `}` that closes nothing, or a placeholder unknown or not allowed where it is used is
//! refused, with what to write instead.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use jiff::civil::Date;
use kle_core::Container;

use crate::encode::fnv1a;
use crate::template::{self, Placeholder, Segment, Use, Value, Values};
pub use crate::template::{ObjectStamp, compact_timestamp};
use kle_core::SinkError;

/// The default file layout: one file per container, in a directory per namespace and pod.
pub const DEFAULT_LAYOUT: &str = "{namespace}/{pod}/{container}.log";

/// The longest path component most file systems accept, in bytes.
const MAX_COMPONENT_BYTES: usize = 255;

/// A checked path template such as [`DEFAULT_LAYOUT`].
///
/// ```
/// use kle_sinks::layout::Layout;
///
/// let layout: Layout = "{namespace}/{label:app}/{pod}-{restart}.log".parse()?;
/// assert!(!layout.uses_date());
/// assert!("/var/log/{pod}".parse::<Layout>().is_err());
/// assert!("{namespace}/{podname}".parse::<Layout>().is_err());
/// # Ok::<(), kle_core::SinkError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    template: String,
    /// Path components, each a sequence of segments.
    components: Vec<Vec<Segment>>,
    /// What `{cluster}` renders.
    cluster: Option<String>,
}

impl Layout {
    /// Parses and checks a template: relative, no `.` or `..` component, no empty component,
    /// only the placeholders of object keys (see the [module](self) documentation).
    ///
    /// # Errors
    /// [`SinkError::InvalidLayout`], naming what is wrong.
    pub fn parse(template: &str) -> Result<Self, SinkError> {
        Self::parse_as(template, Use::ObjectKey)
    }

    /// Parses a template for files: as [`Layout::parse`], refusing the object placeholders
    /// (a file grows, so what it holds cannot name it).
    ///
    /// # Errors
    /// [`SinkError::InvalidLayout`], naming what is wrong.
    pub fn parse_for_files(template: &str) -> Result<Self, SinkError> {
        Self::parse_as(template, Use::FileLayout)
    }

    fn parse_as(template: &str, usage: Use) -> Result<Self, SinkError> {
        let invalid = |reason: String| SinkError::InvalidLayout {
            layout: template.to_owned(),
            reason,
        };
        if template.is_empty() {
            return Err(invalid("the layout is empty".into()));
        }
        if template.starts_with('/') {
            return Err(invalid(
                "it must be relative to the sink's directory: remove the leading /".into(),
            ));
        }
        if template.contains('\\') {
            return Err(invalid("use / to separate directories, not \\".into()));
        }
        if let Some(c) = template.chars().find(|c| c.is_control()) {
            return Err(invalid(format!("it contains the control character {c:?}")));
        }
        let components = split_components(template::parse(template, usage).map_err(invalid)?);
        for component in &components {
            match component.as_slice() {
                [] => return Err(invalid("it has an empty path component (// or a trailing /)".into())),
                [Segment::Literal(text)] if text == "." || text == ".." => {
                    return Err(invalid(format!("it must not contain a {text:?} component")));
                }
                _ => {}
            }
        }
        Ok(Self {
            template: template.to_owned(),
            components,
            cluster: None,
        })
    }

    /// The layout with `{cluster}` rendering `name`, the cluster the sink's containers are in.
    #[must_use]
    pub fn with_cluster(mut self, name: impl Into<String>) -> Self {
        self.cluster = Some(name.into());
        self
    }

    /// Whether the template has `{cluster}`: its paths, and so the sink's own files beside
    /// them, are one cluster's.
    pub fn uses_cluster(&self) -> bool {
        self.placeholders()
            .any(|placeholder| *placeholder == Placeholder::Cluster)
    }

    /// The template as written.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// Whether the template has `{date}` (or `{year}`, `{month}`, `{day}`), so rendering needs
    /// the date of the first line.
    pub fn uses_date(&self) -> bool {
        self.placeholders().any(Placeholder::is_date)
    }

    /// Whether the template names an object's content (`{first_ts}`, `{last_ts}`, `{lines}`,
    /// `{hour}`): such a template is for object keys only.
    pub fn uses_object_stamps(&self) -> bool {
        self.placeholders().any(Placeholder::is_object_stamp)
    }

    /// Whether the template has the placeholder `name` (as written between the braces).
    pub fn has_placeholder(&self, name: &str) -> bool {
        Placeholder::from_name(name).is_some_and(|wanted| self.placeholders().any(|placeholder| *placeholder == wanted))
    }

    /// The parsed path components, for the archive reader's key matcher.
    #[cfg(feature = "read")]
    pub(crate) fn components(&self) -> &[Vec<Segment>] {
        &self.components
    }

    fn placeholders(&self) -> impl Iterator<Item = &Placeholder> {
        self.components.iter().flatten().filter_map(|segment| match segment {
            Segment::Placeholder(placeholder) => Some(placeholder),
            Segment::Literal(_) => None,
        })
    }

    /// The path components for `container`, each safe on its own (never empty, `.`, `..`, and
    /// without `/`, `\`, NUL or control characters). Object placeholders render as `_`.
    pub fn render(&self, container: &Container, date: Date) -> Vec<String> {
        self.components
            .iter()
            .map(|segments| {
                render_component(
                    segments,
                    Values {
                        date: Some(date),
                        cluster: self.cluster.as_deref(),
                        ..Values::of(container)
                    },
                )
            })
            .collect()
    }

    /// The object key for `container` and the object's content: the components joined with `/`.
    pub fn render_object_key(&self, container: &Container, stamp: &ObjectStamp) -> String {
        let date = stamp.date();
        self.components
            .iter()
            .map(|segments| {
                render_component(
                    segments,
                    Values {
                        date: Some(date),
                        stamp: Some(stamp),
                        cluster: self.cluster.as_deref(),
                        ..Values::of(container)
                    },
                )
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The relative file path for `container`.
    pub fn render_path(&self, container: &Container, date: Date) -> PathBuf {
        self.render(container, date).into_iter().collect()
    }

    /// The object key for `container`: the components joined with `/`.
    pub fn render_key(&self, container: &Container, date: Date) -> String {
        self.render(container, date).join("/")
    }
}

impl FromStr for Layout {
    type Err = SinkError;

    fn from_str(template: &str) -> Result<Self, Self::Err> {
        Self::parse(template)
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.template)
    }
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            template: DEFAULT_LAYOUT.to_owned(),
            components: vec![
                vec![Segment::Placeholder(Placeholder::Namespace)],
                vec![Segment::Placeholder(Placeholder::Pod)],
                vec![
                    Segment::Placeholder(Placeholder::Container),
                    Segment::Literal(".log".into()),
                ],
            ],
            cluster: None,
        }
    }
}

/// Cuts a parsed template into path components at the `/` of its literal text; a placeholder
/// is never cut, so label keys such as `app.kubernetes.io/name` keep theirs.
fn split_components(segments: Vec<Segment>) -> Vec<Vec<Segment>> {
    let mut components = Vec::new();
    let mut current = Vec::new();
    for segment in segments {
        let Segment::Literal(text) = segment else {
            current.push(segment);
            continue;
        };
        for (i, part) in text.split('/').enumerate() {
            if i > 0 {
                components.push(std::mem::take(&mut current));
            }
            if !part.is_empty() {
                current.push(Segment::Literal(part.to_owned()));
            }
        }
    }
    components.push(current);
    components
}

fn render_component(segments: &[Segment], values: Values<'_>) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Literal(text) => out.push_str(text),
            Segment::Placeholder(placeholder) => match placeholder.value(&values) {
                Value::Text(text) => out.push_str(&safe_component(&text)),
                Value::Bytes(bytes) => out.push_str(&safe_component(&String::from_utf8_lossy(bytes))),
            },
        }
    }
    // Values are never empty, `.` or `..`, and literals never hold `/`; stay safe regardless.
    let out = match safe_component(&out) {
        Cow::Borrowed(_) => out,
        Cow::Owned(fixed) => fixed,
    };
    shorten(out)
}

/// Makes `value` one safe path component: `/`, `\`, NUL and control characters become `_`,
/// and an empty value, `.` or `..` becomes `_`.
///
/// ```
/// use kle_sinks::layout::safe_component;
///
/// assert_eq!(safe_component("web-1"), "web-1");
/// assert_eq!(safe_component("../../etc/passwd"), ".._.._etc_passwd");
/// assert_eq!(safe_component(".."), "_");
/// assert_eq!(safe_component(""), "_");
/// ```
pub fn safe_component(value: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c == '/' || c == '\\' || c.is_control();
    if matches!(value, "" | "." | "..") {
        return Cow::Borrowed("_");
    }
    if !value.contains(unsafe_char) {
        return Cow::Borrowed(value);
    }
    Cow::Owned(value.chars().map(|c| if unsafe_char(c) { '_' } else { c }).collect())
}

/// Shortens a component longer than file systems allow, keeping it unique (a hash of the
/// whole) and keeping a short extension such as `.log`.
fn shorten(component: String) -> String {
    if component.len() <= MAX_COMPONENT_BYTES {
        return component;
    }
    let hash = fnv1a(&[component.as_bytes()]);
    let tail_start = component.len() - 16;
    let extension = component
        .rfind('.')
        .filter(|&dot| dot >= tail_start && component.is_char_boundary(dot))
        .map_or("", |dot| &component[dot..]);
    let mut keep = MAX_COMPONENT_BYTES - extension.len() - 17;
    while !component.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}~{hash:016x}{extension}", &component[..keep])
}

#[cfg(test)]
mod tests {
    use std::path::{Component, Path};
    use std::sync::Arc;

    use jiff::Timestamp;

    use super::*;
    use kle_core::testing::container_in;

    fn date() -> Date {
        jiff::civil::date(2026, 11, 23)
    }

    #[test]
    fn default_layout_renders_namespace_pod_container() {
        let layout = Layout::parse(DEFAULT_LAYOUT).unwrap();
        assert_eq!(layout, Layout::default());
        let c = container_in("shop", "web-1", "app", &[], None);
        assert_eq!(layout.render_path(&c, date()), Path::new("shop/web-1/app.log"));
        assert_eq!(layout.render_key(&c, date()), "shop/web-1/app.log");
    }

    #[test]
    fn every_placeholder() {
        let layout =
            Layout::parse("{namespace}/{label:app}/{node}/{date}/{pod}.{pod_uid}.{container}.{restart}.log").unwrap();
        assert!(layout.uses_date());
        let mut c = (*container_in("shop", "web-1", "app", &[("app", "web")], Some("node-a"))).clone();
        c.restart_count = 3;
        assert_eq!(
            layout.render_key(&c, date()),
            "shop/web/node-a/2026-11-23/web-1.uid-shop-web-1.app.3.log"
        );
        c.previous = true;
        assert!(
            layout.render_key(&c, date()).ends_with(".app.2.log"),
            "previous instance: its own restart count"
        );
        let bare = container_in("shop", "web-1", "app", &[], None);
        assert!(
            layout.render_key(&bare, date()).starts_with("shop/_/_/"),
            "missing label and node become _"
        );
    }

    #[test]
    fn label_keys_may_hold_a_slash() {
        let layout = Layout::parse("{label:app.kubernetes.io/name}/{pod}.log").unwrap();
        let c = container_in("shop", "web-1", "app", &[("app.kubernetes.io/name", "web")], None);
        assert_eq!(layout.render_key(&c, date()), "web/web-1.log");
    }

    #[test]
    fn bad_templates_are_refused_with_the_reason() {
        for (template, needle) in [
            ("", "empty"),
            ("/var/log/{pod}", "relative"),
            ("{namespace}/../{pod}", "\"..\""),
            ("./{pod}", "\".\""),
            ("{namespace}//{pod}", "empty path component"),
            ("{namespace}/", "empty path component"),
            ("{namespace}\\{pod}", "use /"),
            ("{namespace}/{podname}.log", "{podname}"),
            ("{namespace}/{pod", "not closed"),
            ("{namespace/pod}", "unknown placeholder {namespace/pod}"),
            ("{namespace}/pod}", "unexpected }"),
            ("{label:}", "label key"),
            ("a\nb", "control"),
        ] {
            let err = Layout::parse(template).unwrap_err();
            assert!(matches!(err, SinkError::InvalidLayout { .. }));
            assert!(err.to_string().contains(needle), "{template:?}: {err}");
        }
    }

    #[test]
    fn nasty_values_stay_one_component_under_the_root() {
        let nasty = [
            "",
            ".",
            "..",
            "...",
            "/",
            "//",
            "../x",
            "../../etc/passwd",
            "/etc/passwd",
            "..\\..\\windows",
            "a/../../b",
            "\0",
            "a\0b",
            "line\nbreak",
            "\r",
            "\u{7f}",
            "\u{85}",
            "~",
            " ",
            "-rf",
            "é/ü",
            "..%2f..",
        ];
        let layout = Layout::parse("{namespace}/{pod}/{label:app}-{container}/{node}.log").unwrap();
        for value in nasty {
            for slot in 0..5 {
                let mut values = ["ns", "pod", "app", "c", "node"].map(str::to_owned);
                values[slot] = value.to_owned();
                let c = container_in(
                    &values[0],
                    &values[1],
                    &values[3],
                    &[("app", &values[2])],
                    Some(&values[4]),
                );
                let c = Arc::unwrap_or_clone(c);
                let components = layout.render(&c, date());
                assert_eq!(components.len(), 4, "{value:?} in slot {slot}: {components:?}");
                for component in &components {
                    assert!(
                        !matches!(component.as_str(), "" | "." | ".."),
                        "{value:?}: {component:?}"
                    );
                    assert!(
                        !component.contains(['/', '\\', '\0']) && !component.contains(char::is_control),
                        "{value:?}: {component:?}"
                    );
                }
                let path = layout.render_path(&c, date());
                assert!(
                    path.components().all(|p| matches!(p, Component::Normal(_))),
                    "{value:?}: {path:?}"
                );
                let joined = Path::new("/root").join(&path);
                assert!(
                    joined.starts_with("/root") && joined.components().count() == 6,
                    "{value:?}: {joined:?}"
                );
            }
        }
    }

    #[test]
    fn object_keys_name_their_content_and_file_layouts_refuse_to() {
        let layout = Layout::parse("{namespace}/{pod}/{date}/{hour}/{first_ts}-{last_ts}-{lines}-{hash}").unwrap();
        assert!(layout.uses_object_stamps() && layout.has_placeholder("hash") && !layout.has_placeholder("node"));
        let first: Timestamp = "2026-11-23T09:59:59.000000001Z".parse().unwrap();
        let last: Timestamp = "2026-11-23T10:00:00.5+01:00".parse().unwrap();
        let stamp = ObjectStamp::new(Some(first), Some(last), 42, 0xbeef);
        let c = container_in("shop", "web-1", "app", &[], None);
        assert_eq!(
            layout.render_object_key(&c, &stamp),
            "shop/web-1/2026-11-23/09/20261123T095959.000000001Z-20261123T090000.500000000Z-42-0000beef"
        );
        let untimed = ObjectStamp::new(None, None, 1, 1);
        assert!(
            layout
                .render_object_key(&c, &untimed)
                .ends_with("/untimed-untimed-1-00000001")
        );
        let err = Layout::parse_for_files("{pod}/{first_ts}.log").unwrap_err();
        assert!(err.to_string().contains("object keys only"), "{err}");
        assert!(Layout::parse_for_files(DEFAULT_LAYOUT).is_ok());
    }

    #[test]
    fn safe_component_examples() {
        assert_eq!(safe_component("../x"), ".._x");
        assert_eq!(safe_component("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(safe_component("a\\b\0c\td"), "a_b_c_d");
        assert!(matches!(safe_component("web-1"), Cow::Borrowed("web-1")));
    }

    #[test]
    fn long_components_are_shortened_uniquely_keeping_the_extension() {
        let layout = Layout::parse("{pod}-{container}.log").unwrap();
        let long_a = "a".repeat(253);
        let c1 = container_in("ns", &long_a, "one", &[], None);
        let c2 = container_in("ns", &long_a, "two", &[], None);
        let k1 = layout.render_key(&c1, date());
        let k2 = layout.render_key(&c2, date());
        assert!(k1.len() <= MAX_COMPONENT_BYTES && k2.len() <= MAX_COMPONENT_BYTES);
        assert!(k1.ends_with(".log") && k1 != k2, "{k1} {k2}");
        assert_eq!(k1, layout.render_key(&c1, date()), "deterministic");
        let multibyte = container_in("ns", &"é".repeat(200), "c", &[], None);
        assert!(layout.render_key(&multibyte, date()).len() <= MAX_COMPONENT_BYTES);
    }

    #[test]
    fn hive_partitions_from_the_first_line() {
        use kle_core::container::PodInfo;
        let pod = PodInfo::new("shop", "web-0", "uid-1");
        let container = Container::new(std::sync::Arc::new(pod), "app");
        let first: jiff::Timestamp = "2026-11-23T09:59:59Z".parse().unwrap();
        let last: jiff::Timestamp = "2026-11-23T10:00:05Z".parse().unwrap();
        let stamp = ObjectStamp::new(Some(first), Some(last), 2, 0xab);
        let hive =
            Layout::parse("dt={date}/hour={hour}/{namespace}/{pod}/{container}/{first_ts}-{last_ts}-{hash}").unwrap();
        assert_eq!(
            hive.render_object_key(&container, &stamp),
            "dt=2026-11-23/hour=09/shop/web-0/app/20261123T095959.000000000Z-20261123T100005.000000000Z-000000ab"
        );
        let ymd =
            Layout::parse("year={year}/month={month}/day={day}/{pod}/{container}/{first_ts}-{last_ts}-{hash}").unwrap();
        assert!(ymd.uses_date());
        assert!(
            ymd.render_object_key(&container, &stamp)
                .starts_with("year=2026/month=11/day=23/web-0/app/"),
            "{}",
            ymd.render_object_key(&container, &stamp)
        );
        let files = Layout::parse_for_files("{year}/{month}/{day}/{pod}.log").unwrap();
        let date = jiff::civil::date(2026, 1, 5);
        assert_eq!(files.render_key(&container, date), "2026/01/05/web-0.log");
    }
}
