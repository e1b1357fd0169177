//! Keys read back through their template: a [`Layout`] turned into a matcher that gives each
//! key's container and, for object keys, what the object holds.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use kle_core::Container;
use kle_core::container::PodInfo;
use regex::Regex;

use super::ReadError;
use crate::layout::Layout;
use crate::template::{Placeholder, Segment};

/// How an object's content is stored, from its name (or, for files, its first bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// Lines as the sink wrote them in `raw` (or `text`) format.
    Lines,
    /// NDJSON (`.ndjson`).
    Json,
}

/// How an object is compressed, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Packing {
    Plain,
    Gzip,
    Zstd,
}

/// What a key says: its container, and what the object holds when the template names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedKey {
    /// The values of the placeholders that name the container (all but the object's stamps),
    /// by placeholder name: what tells one container's objects from another's.
    pub(crate) identity: BTreeMap<String, String>,
    pub(crate) date: Option<Date>,
    pub(crate) first: Option<Timestamp>,
    pub(crate) last: Option<Timestamp>,
    pub(crate) lines: Option<u64>,
    pub(crate) hash: Option<String>,
    pub(crate) encoding: Option<Encoding>,
    pub(crate) packing: Packing,
}

impl ParsedKey {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.identity.get(name).map(String::as_str)
    }

    /// The container the key names: unknown parts (a template without `{namespace}`) are `_`,
    /// as the sinks write a missing value.
    pub(crate) fn container(&self) -> Arc<Container> {
        let value = |name: &str| self.get(name).unwrap_or("_").to_owned();
        let pod_name = self.get("pod").or(self.get("pod_uid")).unwrap_or("_");
        let mut pod = PodInfo::new(value("namespace"), pod_name, self.get("pod_uid").unwrap_or_default());
        if let Some(node) = self.get("node") {
            pod = pod.with_node(node);
        }
        for (name, value) in &self.identity {
            if let Some(key) = name.strip_prefix("label:") {
                pod = pod.with_label(key, value);
            }
        }
        let mut container = Container::new(Arc::new(pod), value("container"));
        container.restart_count = self.get("restart").and_then(|r| r.parse().ok()).unwrap_or(0);
        Arc::new(container)
    }
}

/// A key template as a matcher.
#[derive(Debug, Clone)]
pub(crate) struct KeyMatcher {
    regex: Regex,
    /// Placeholder names of the capture groups, in order.
    names: Vec<String>,
    /// The template is an object key template (the extension follows it) rather than a file
    /// layout (which holds its own extension).
    objects: bool,
}

/// Sinks write these beside the lines: not archive objects.
pub(crate) fn is_own_file(key: &str) -> bool {
    key.rsplit('/')
        .next()
        .is_some_and(|name| name.starts_with(".kube-log-exporter"))
}

impl KeyMatcher {
    /// A matcher for object keys written by the S3 sink with `layout`: it must name each
    /// object's container (`{container}`, and `{pod}` or `{pod_uid}`) and its first and last
    /// timestamps, which the overlap rule needs: what the sink requires of a template.
    pub(crate) fn for_objects(layout: &Layout) -> Result<Self, ReadError> {
        crate::s3::config::parse_key_template(layout.template())?;
        Self::build(layout, true)
    }

    /// A matcher for the file sink's paths under its directory.
    pub(crate) fn for_files(layout: &Layout) -> Result<Self, ReadError> {
        let missing = !layout.has_placeholder("container")
            || !(layout.has_placeholder("pod") || layout.has_placeholder("pod_uid"));
        if missing {
            return Err(ReadError::Template {
                template: layout.template().to_owned(),
                reason: "to tell containers apart the layout must contain {container}, and {pod} or {pod_uid}".into(),
            });
        }
        Self::build(layout, false)
    }

    fn build(layout: &Layout, objects: bool) -> Result<Self, ReadError> {
        let mut pattern = String::from("^");
        let mut names = Vec::new();
        for (i, component) in layout.components().iter().enumerate() {
            if i > 0 {
                pattern.push('/');
            }
            for segment in component {
                match segment {
                    Segment::Literal(text) => pattern.push_str(&regex::escape(text)),
                    Segment::Placeholder(placeholder) => {
                        pattern.push('(');
                        pattern.push_str(value_pattern(placeholder));
                        pattern.push(')');
                        names.push(placeholder_name(placeholder));
                    }
                }
            }
        }
        if objects {
            pattern.push_str(r"(\.log|\.ndjson)(\.gz|\.zst)?");
        }
        pattern.push('$');
        let regex = Regex::new(&pattern).map_err(|err| ReadError::Template {
            template: layout.template().to_owned(),
            reason: format!("cannot be matched against keys: {err}"),
        })?;
        Ok(Self { regex, names, objects })
    }

    /// What `key` (relative to the prefix or directory) says, or `None` when the template did
    /// not write it.
    pub(crate) fn parse(&self, key: &str) -> Option<ParsedKey> {
        let captures = self.regex.captures(key)?;
        let mut parsed = ParsedKey {
            identity: BTreeMap::new(),
            date: None,
            first: None,
            last: None,
            lines: None,
            hash: None,
            encoding: None,
            packing: Packing::Plain,
        };
        for (name, value) in self.names.iter().zip(captures.iter().skip(1)) {
            let value = value?.as_str();
            match name.as_str() {
                "date" => parsed.date = Some(value.parse().ok()?),
                "first_ts" => parsed.first = parse_compact(value)?,
                "last_ts" => parsed.last = parse_compact(value)?,
                "lines" => parsed.lines = Some(value.parse().ok()?),
                "hash" => parsed.hash = Some(value.to_owned()),
                "hour" => {}
                _ => {
                    // A placeholder written twice must have one value.
                    if parsed.identity.get(name).is_some_and(|seen| seen != value) {
                        return None;
                    }
                    parsed.identity.insert(name.clone(), value.to_owned());
                }
            }
        }
        if self.objects {
            let count = captures.len();
            let base = captures.get(count - 2)?.as_str();
            parsed.encoding = Some(if base == ".ndjson" {
                Encoding::Json
            } else {
                Encoding::Lines
            });
            parsed.packing = match captures.get(count - 1).map(|m| m.as_str()) {
                Some(".gz") => Packing::Gzip,
                Some(".zst") => Packing::Zstd,
                _ => Packing::Plain,
            };
        }
        Some(parsed)
    }
}

fn placeholder_name(placeholder: &Placeholder) -> String {
    match placeholder {
        Placeholder::Label(key) => format!("label:{key}"),
        Placeholder::Namespace => "namespace".into(),
        Placeholder::Pod => "pod".into(),
        Placeholder::Container => "container".into(),
        Placeholder::PodUid => "pod_uid".into(),
        Placeholder::Node => "node".into(),
        Placeholder::Cluster => "cluster".into(),
        Placeholder::Restart => "restart".into(),
        Placeholder::Date => "date".into(),
        Placeholder::Year => "year".into(),
        Placeholder::Month => "month".into(),
        Placeholder::Day => "day".into(),
        Placeholder::Hour => "hour".into(),
        Placeholder::FirstTs => "first_ts".into(),
        Placeholder::LastTs => "last_ts".into(),
        Placeholder::Lines => "lines".into(),
        Placeholder::Hash => "hash".into(),
        // Line templates only; a layout never has them.
        Placeholder::Timestamp => "timestamp".into(),
        Placeholder::Message => "message".into(),
    }
}

/// What a rendered placeholder looks like: names are any non-empty path component's text;
/// the rest have fixed forms, which is what tells adjacent placeholders apart.
fn value_pattern(placeholder: &Placeholder) -> &'static str {
    match placeholder {
        Placeholder::Date => r"\d{4}-\d{2}-\d{2}",
        Placeholder::Year => r"\d{4}",
        Placeholder::Month | Placeholder::Day | Placeholder::Hour => r"\d{2}",
        Placeholder::FirstTs | Placeholder::LastTs => r"\d{8}T\d{6}\.\d{9}Z|untimed",
        Placeholder::Lines | Placeholder::Restart => r"\d+",
        Placeholder::Hash => r"[0-9a-f]{8}",
        _ => r"[^/]+",
    }
}

/// `20261123T095959.000000001Z` (the sinks' compact form) as a timestamp; `untimed` as none.
/// `None` when it is neither.
pub(crate) fn parse_compact(text: &str) -> Option<Option<Timestamp>> {
    if text == "untimed" {
        return Some(None);
    }
    let b = text.get(..25)?;
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}.{}Z",
        &b[0..4],
        &b[4..6],
        &b[6..8],
        &b[9..11],
        &b[11..13],
        &b[13..15],
        &b[16..25]
    );
    rfc3339.parse().ok().map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::DEFAULT_KEY_TEMPLATE;
    use crate::template::{ObjectStamp, compact_timestamp};
    use kle_core::testing::container_in;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn the_default_template_reads_back_what_it_rendered() {
        let layout = Layout::parse(DEFAULT_KEY_TEMPLATE).unwrap();
        let matcher = KeyMatcher::for_objects(&layout).unwrap();
        let container = container_in("shop", "web-1", "app", &[], None);
        let stamp = ObjectStamp::new(
            Some(ts("2026-11-23T09:59:59.000000001Z")),
            Some(ts("2026-11-23T10:00:00.5Z")),
            42,
            0xbeef,
        );
        let key = format!("{}.log.zst", layout.render_object_key(&container, &stamp));
        let parsed = matcher.parse(&key).unwrap();
        assert_eq!(parsed.get("namespace"), Some("shop"));
        assert_eq!(parsed.get("pod"), Some("web-1"));
        assert_eq!(parsed.get("container"), Some("app"));
        assert_eq!(parsed.first, Some(ts("2026-11-23T09:59:59.000000001Z")));
        assert_eq!(parsed.last, Some(ts("2026-11-23T10:00:00.5Z")));
        assert_eq!((parsed.lines, parsed.hash.as_deref()), (Some(42), Some("0000beef")));
        assert_eq!(parsed.date, Some(jiff::civil::date(2026, 11, 23)));
        assert_eq!(
            (parsed.encoding, parsed.packing),
            (Some(Encoding::Lines), Packing::Zstd)
        );
        assert_eq!(parsed.container().to_string(), container.to_string());

        let json = key.replace(".log.zst", ".ndjson.gz");
        let parsed = matcher.parse(&json).unwrap();
        assert_eq!((parsed.encoding, parsed.packing), (Some(Encoding::Json), Packing::Gzip));
        for foreign in [
            ".kube-log-exporter-checkpoint.json",
            "shop/web-1/app/2026-11-23/notes.txt",
            "shop/web-1/app/2026-11-23/x-y-1-0000beef.log.zst",
            &key.replace(".log.zst", ".log.bz2"),
        ] {
            assert_eq!(matcher.parse(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn user_templates_with_labels_and_partitions() {
        let layout = Layout::parse(
            "dt={date}/hour={hour}/{label:app}/{namespace}_{pod}_{container}_{first_ts}_{last_ts}_{hash}",
        )
        .unwrap();
        let matcher = KeyMatcher::for_objects(&layout).unwrap();
        let container = container_in("shop", "web_1", "app", &[("app", "web")], None);
        let first = ts("2026-11-23T10:00:00Z");
        let stamp = ObjectStamp::new(Some(first), Some(first), 1, 7);
        let key = format!("{}.ndjson", layout.render_object_key(&container, &stamp));
        let parsed = matcher.parse(&key).unwrap();
        assert_eq!(parsed.get("label:app"), Some("web"));
        assert_eq!(parsed.first, Some(first));
        assert_eq!(compact_timestamp(first), "20261123T100000.000000000Z");
        // `{namespace}_{pod}` cannot be cut in one way when a name holds `_`: the matcher
        // takes the longest first value; the container and time stay right.
        assert_eq!(parsed.get("container"), Some("app"));
    }

    #[test]
    fn templates_that_cannot_be_read_back_are_refused() {
        for template in [
            "{namespace}/{pod}/{container}/{date}",
            "{pod}/{first_ts}-{last_ts}-{hash}",
        ] {
            let err = KeyMatcher::for_objects(&Layout::parse(template).unwrap()).unwrap_err();
            assert!(err.to_string().contains("must contain"), "{template}: {err}");
        }
        let err = KeyMatcher::for_files(&Layout::parse_for_files("{namespace}/{pod}.log").unwrap()).unwrap_err();
        assert!(err.to_string().contains("{container}"), "{err}");
    }

    #[test]
    fn file_layouts_carry_their_own_extension() {
        let layout = Layout::parse_for_files("{namespace}/{pod}/{date}/{container}.log").unwrap();
        let matcher = KeyMatcher::for_files(&layout).unwrap();
        let parsed = matcher.parse("shop/web-1/2026-11-23/app.log").unwrap();
        assert_eq!(parsed.date, Some(jiff::civil::date(2026, 11, 23)));
        assert_eq!(
            (parsed.first, parsed.packing, parsed.encoding),
            (None, Packing::Plain, None)
        );
        assert!(matcher.parse("shop/web-1/2026-11-23/app.txt").is_none());
        assert!(is_own_file(".kube-log-exporter-checkpoint.json") && is_own_file("a/.kube-log-exporter-x"));
    }
}
