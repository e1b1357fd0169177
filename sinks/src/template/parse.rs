//! The one parser of placeholder templates (see the [module](super) documentation).

use super::{NAMES, Placeholder, Segment, Use};

/// Parses `template` for `usage`: its literal text, with `{{` and `}}` made single braces, and
/// its placeholders, each one allowed in `usage`.
///
/// # Errors
/// Why the template cannot be used, and what to write instead.
pub(crate) fn parse(template: &str, usage: Use) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    let mut literal = String::new();
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        literal.push_str(&rest[..at]);
        let brace = &rest[at..];
        if let Some(after) = brace.strip_prefix("{{") {
            literal.push('{');
            rest = after;
        } else if let Some(after) = brace.strip_prefix("}}") {
            literal.push('}');
            rest = after;
        } else if let Some(inner) = brace.strip_prefix('{') {
            let end = inner.find(['{', '}']);
            let Some(end) = end.filter(|&end| inner[end..].starts_with('}')) else {
                return Err(unclosed(&inner[..end.unwrap_or(inner.len())]));
            };
            let placeholder = placeholder(&inner[..end], usage)?;
            if !literal.is_empty() {
                segments.push(Segment::Literal(std::mem::take(&mut literal)));
            }
            segments.push(Segment::Placeholder(placeholder));
            rest = &inner[end + 1..];
        } else {
            let before = &template[..template.len() - brace.len()];
            return Err(format!(
                "unexpected }} after {:?}: write }}}} for a literal }}",
                tail(before)
            ));
        }
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        segments.push(Segment::Literal(literal));
    }
    Ok(segments)
}

/// The placeholder written `{name}`, if `usage` allows it.
fn placeholder(name: &str, usage: Use) -> Result<Placeholder, String> {
    if name == "label:" {
        return Err("{label:} needs a label key, as in {label:app}".into());
    }
    let Some(placeholder) = Placeholder::from_name(name) else {
        let suggestion = closest(name, usage).map_or_else(String::new, |known| format!(" (did you mean {{{known}}}?)"));
        return Err(format!(
            "unknown placeholder {{{name}}}{suggestion}; {} have {}; write {{{{ and }}}} for literal braces",
            usage.name(),
            vocabulary(usage)
        ));
    };
    if !placeholder.allowed_in(usage) {
        let uses: Vec<&str> = placeholder.uses().iter().map(|u| u.name()).collect();
        return Err(format!(
            "{{{name}}} is for {} only; {} have {}",
            uses.join(" and "),
            usage.name(),
            vocabulary(usage)
        ));
    }
    Ok(placeholder)
}

fn unclosed(name: &str) -> String {
    if name.is_empty() {
        "a { is not closed: write {{ for a literal {".into()
    } else {
        format!("the placeholder {{{name} is not closed: write {{{name}}} for a placeholder, or {{{{ for a literal {{")
    }
}

/// The placeholders `usage` allows, as a message lists them.
fn vocabulary(usage: Use) -> String {
    NAMES
        .into_iter()
        .filter(|name| Placeholder::from_name(name).is_some_and(|p| p.allowed_in(usage)))
        .map(|name| format!("{{{name}}}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The allowed placeholder `name` was most likely meant to be, if one is close: a typo, a
/// different case, spaces, or a part of the name (`{uid}` for `{pod_uid}`).
fn closest(name: &str, usage: Use) -> Option<&'static str> {
    let wanted = name.trim().to_lowercase();
    NAMES
        .into_iter()
        .filter(|known| Placeholder::from_name(known).is_some_and(|p| p.allowed_in(usage)))
        .filter_map(|known| {
            let distance = edit_distance(&wanted, known);
            let part = wanted.len() >= 3 && (known.contains(wanted.as_str()) || wanted.contains(known));
            // A name that holds or is held by a known one says more than a short distance.
            (distance <= 2 || part).then_some((!part, distance, known))
        })
        .min()
        .map(|(_, _, known)| known)
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// The end of `text`, short enough for a message.
fn tail(text: &str) -> String {
    const KEEP: usize = 24;
    match text.char_indices().rev().nth(KEEP - 1) {
        Some((start, _)) if start > 0 => format!("…{}", &text[start..]),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literal(text: &str) -> Segment {
        Segment::Literal(text.into())
    }

    #[test]
    fn literals_placeholders_and_escapes() {
        assert_eq!(
            parse("{{{namespace}}}/{pod}.log", Use::FileLayout).unwrap(),
            [
                literal("{"),
                Segment::Placeholder(Placeholder::Namespace),
                literal("}/"),
                Segment::Placeholder(Placeholder::Pod),
                literal(".log"),
            ]
        );
        assert_eq!(
            parse("{label:app.kubernetes.io/name}", Use::Line).unwrap(),
            [Segment::Placeholder(Placeholder::Label(
                "app.kubernetes.io/name".into()
            ))]
        );
        assert_eq!(parse("", Use::Line).unwrap(), []);
        assert_eq!(parse("}}}}", Use::Line).unwrap(), [literal("}}")]);
    }

    #[test]
    fn a_stray_brace_is_shown_in_context() {
        let err = parse("a-rather-long-prefix-before/the}", Use::Line).unwrap_err();
        assert!(err.contains("after \"…r-long-prefix-before/the\""), "{err}");
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("pod", "pod"), 0);
        assert_eq!(edit_distance("nope", "node"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
