//! [`LineTemplate`]: `-o template`, each line written as a template of the container's
//! metadata, the timestamp and the message (`{namespace}/{pod} {message}`).

use kle_core::{Container, LogLine};

use crate::error::SinkError;
use crate::layout::{Piece, instance_restart_count, placeholder};

/// One piece of a line template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// A placeholder of the container, as in layouts.
    Container(Piece),
    /// `{timestamp}`: the API's timestamp as it wrote it (empty when the line had none).
    Timestamp,
    /// `{message}`: the line's bytes without the timestamp.
    Message,
}

/// A parsed line template: literal text and placeholders — those of layouts that describe the
/// container (`{namespace}` `{pod}` `{container}` `{pod_uid}` `{node}` `{restart}`
/// `{label:KEY}`), plus `{timestamp}` and `{message}`. `{{` and `}}` are literal braces.
///
/// ```
/// use kle_sinks::LineTemplate;
///
/// assert!(LineTemplate::parse("{namespace}/{pod} {message}").is_ok());
/// let err = LineTemplate::parse("{nope} {message}").unwrap_err();
/// assert!(err.to_string().contains("{nope}"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineTemplate {
    template: String,
    parts: Vec<Part>,
}

impl LineTemplate {
    /// Parses `template`.
    ///
    /// # Errors
    /// [`SinkError::InvalidLayout`] naming an unknown or unclosed placeholder, or one that
    /// only object keys have (`{first_ts}`, `{hash}`, ...).
    pub fn parse(template: &str) -> Result<Self, SinkError> {
        let invalid = |reason: String| SinkError::InvalidLayout {
            layout: template.to_owned(),
            reason,
        };
        let mut parts = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("{{") {
                parts.push(Part::Container(Piece::Literal("{".into())));
                rest = after;
            } else if let Some(after) = rest.strip_prefix("}}") {
                parts.push(Part::Container(Piece::Literal("}".into())));
                rest = after;
            } else if let Some(after) = rest.strip_prefix('{') {
                let end = after
                    .find('}')
                    .ok_or_else(|| invalid("a placeholder is not closed with }: write {{ for a literal {".into()))?;
                let part = match &after[..end] {
                    "timestamp" => Part::Timestamp,
                    "message" => Part::Message,
                    name => match placeholder(name) {
                        Ok(Piece::Date | Piece::Hour | Piece::FirstTs | Piece::LastTs | Piece::Lines | Piece::Hash) => {
                            return Err(invalid(format!(
                                "{{{name}}} is for object keys; lines have {{timestamp}} {{message}} {{namespace}} {{pod}} {{container}} {{pod_uid}} {{node}} {{restart}} {{label:KEY}}"
                            )));
                        }
                        Ok(piece) => Part::Container(piece),
                        Err(reason) => {
                            return Err(invalid(format!("{reason}; and for lines {{timestamp}} {{message}}")));
                        }
                    },
                };
                parts.push(part);
                rest = &after[end + 1..];
            } else if rest.starts_with('}') {
                return Err(invalid("unexpected }: write }} for a literal }".into()));
            } else {
                let end = rest.find(['{', '}']).unwrap_or(rest.len());
                parts.push(Part::Container(Piece::Literal(rest[..end].to_owned())));
                rest = &rest[end..];
            }
        }
        Ok(Self {
            template: template.to_owned(),
            parts,
        })
    }

    /// The template as given.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// Appends `line` of `container`, rendered, to `out` (without the newline).
    pub(crate) fn render(&self, container: &Container, line: &LogLine<'_>, out: &mut Vec<u8>) {
        for part in &self.parts {
            match part {
                Part::Timestamp => out.extend_from_slice(line.timestamp_text().unwrap_or_default()),
                Part::Message => out.extend_from_slice(line.message()),
                Part::Container(piece) => {
                    let text = match piece {
                        Piece::Literal(text) => text,
                        Piece::Namespace => container.namespace(),
                        Piece::Pod => container.pod_name(),
                        Piece::Container => &container.name,
                        Piece::PodUid => &container.pod.uid,
                        Piece::Node => container.pod.node.as_deref().unwrap_or_default(),
                        Piece::Label(key) => container.pod.labels.get(key).map_or("", String::as_str),
                        Piece::Restart => {
                            out.extend_from_slice(instance_restart_count(container).to_string().as_bytes());
                            continue;
                        }
                        _ => "",
                    };
                    out.extend_from_slice(text.as_bytes());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{IntoLines, container_in, line};

    #[test]
    fn renders_metadata_timestamp_and_message() {
        let c = container_in("shop", "web-0", "app", &[("app", "web")], Some("node-1"));
        let template = LineTemplate::parse("{{{namespace}/{pod}}} [{label:app}@{node}] {timestamp} {message}").unwrap();
        let mut out = Vec::new();
        let lines = vec![line("2026-11-23T10:00:00Z", "hello")].into_lines();
        template.render(&c, &lines.first().unwrap(), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{shop/web-0} [web@node-1] 2026-11-23T10:00:00Z hello"
        );
    }

    #[test]
    fn refuses_what_lines_do_not_have() {
        for bad in ["{hash}", "{nope}", "{pod", "a } b"] {
            assert!(LineTemplate::parse(bad).is_err(), "{bad}");
        }
    }
}
