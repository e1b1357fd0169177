//! [`LineTemplate`]: `-o template`, each line written as a template of the container's
//! metadata, the timestamp and the message (`{namespace}/{pod} {message}`).

use kle_core::{Container, LogLine};

use super::{Segment, Use, Value, Values, parse};
use kle_core::SinkError;

/// A parsed line template: literal text and placeholders — those that describe the container
/// (`{namespace}` `{pod}` `{container}` `{pod_uid}` `{node}` `{cluster}` `{restart}` `{label:KEY}`), plus
/// `{timestamp}` and `{message}`. `{{` and `}}` are literal braces, as in file layouts and object
/// keys ([`layout`](crate::layout)).
///
/// ```
/// use kle_sinks::encode::LineTemplate;
///
/// assert!(LineTemplate::parse("{namespace}/{pod} {message}").is_ok());
/// assert!(LineTemplate::parse("{{\"pod\": \"{pod}\"}}").is_ok());
/// let err = LineTemplate::parse("{nope} {message}").unwrap_err();
/// assert!(err.to_string().contains("{nope}"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineTemplate {
    template: String,
    segments: Vec<Segment>,
}

impl LineTemplate {
    /// Parses `template`.
    ///
    /// # Errors
    /// [`SinkError::InvalidLayout`] naming an unknown or unclosed placeholder, or one that
    /// only paths have (`{date}`, `{first_ts}`, `{hash}`, ...), and what to write instead.
    pub fn parse(template: &str) -> Result<Self, SinkError> {
        let segments = parse(template, Use::Line).map_err(|reason| SinkError::InvalidLayout {
            layout: template.to_owned(),
            reason,
        })?;
        Ok(Self {
            template: template.to_owned(),
            segments,
        })
    }

    /// The template as given.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// Whether the template has the placeholder `name` (as written between the braces).
    pub fn has_placeholder(&self, name: &str) -> bool {
        super::Placeholder::from_name(name).is_some_and(|wanted| {
            self.segments
                .iter()
                .any(|segment| matches!(segment, Segment::Placeholder(p) if *p == wanted))
        })
    }

    /// Appends `line` of `container`, rendered, to `out` (without the newline); `{cluster}`
    /// renders `cluster`.
    pub(crate) fn render(&self, container: &Container, line: &LogLine<'_>, cluster: Option<&str>, out: &mut Vec<u8>) {
        let values = Values {
            line: Some(*line),
            cluster,
            ..Values::of(container)
        };
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.extend_from_slice(text.as_bytes()),
                Segment::Placeholder(placeholder) => match placeholder.value(&values) {
                    Value::Text(text) => out.extend_from_slice(text.as_bytes()),
                    Value::Bytes(bytes) => out.extend_from_slice(bytes),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kle_core::testing::{IntoLines, container_in, line, split};

    #[test]
    fn renders_metadata_timestamp_and_message() {
        let c = container_in("shop", "web-0", "app", &[("app", "web")], Some("node-1"));
        let template = LineTemplate::parse("{{{namespace}/{pod}}} [{label:app}@{node}] {timestamp} {message}").unwrap();
        let mut out = Vec::new();
        let lines = vec![line("2026-11-23T10:00:00Z", "hello")].into_lines();
        template.render(&c, &lines.first().unwrap(), None, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{shop/web-0} [web@node-1] 2026-11-23T10:00:00Z hello"
        );
    }

    #[test]
    fn every_piece_of_a_line_split_for_length_has_its_timestamp() {
        let c = container_in("shop", "web-0", "app", &[], None);
        let template = LineTemplate::parse("<{timestamp}> {message}").unwrap();
        let mut input = b"2026-11-23T10:00:00.5Z ".to_vec();
        input.extend(std::iter::repeat_n(b'y', 100));
        let mut out = Vec::new();
        for piece in &split(&input, 64) {
            template.render(&c, &piece, None, &mut out);
            out.push(b'\n');
        }
        let rendered = String::from_utf8(out).unwrap();
        let stamps: Vec<&str> = rendered
            .lines()
            .map(|l| l.split(' ').next().unwrap_or_default())
            .collect();
        assert_eq!(
            stamps,
            ["<2026-11-23T10:00:00.5Z>", "<2026-11-23T10:00:00.5Z>"],
            "{rendered}"
        );
        assert_eq!(rendered.matches('y').count(), 100);
    }

    #[test]
    fn refuses_what_lines_do_not_have() {
        for bad in ["{hash}", "{nope}", "{pod", "a } b"] {
            assert!(LineTemplate::parse(bad).is_err(), "{bad}");
        }
    }
}
