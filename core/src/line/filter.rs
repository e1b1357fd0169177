//! Line filters (`--include`, `--exclude`): which lines an export keeps, by their message.
//!
//! Filtering happens after splitting, on the stream's lines, and never moves the cursor back:
//! a batch carries the cursor after *every* line the API sent, kept or not, so a checkpoint
//! covers the lines left out too, and a resumed run neither reads them again nor loses the ones
//! that match. The archive then holds only the matching lines.

use regex::bytes::Regex;

use super::{LineKind, Lines, LinesBuilder};
use crate::error::Error;

/// Which lines to keep: those whose message (the text after the timestamp) matches one of the
/// `include` patterns, if any are given, and none of the `exclude` patterns.
///
/// A line cut into fragments (longer than the line cap) is kept or left out whole, as its first
/// fragment decides.
///
/// ```
/// use kle_core::lines::LineFilter;
///
/// let filter = LineFilter::new(&["error|warn".into()], &["healthz".into()])?;
/// assert!(filter.keeps(b"error: disk full"));
/// assert!(!filter.keeps(b"warn: GET /healthz slow"));
/// assert!(!filter.keeps(b"info: started"));
/// assert!(LineFilter::default().keeps(b"anything"));
/// # Ok::<(), kle_core::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct LineFilter {
    include: Option<Regex>,
    exclude: Option<Regex>,
}

impl LineFilter {
    /// A filter of these patterns (each list: any match counts); empty lists keep every line.
    ///
    /// # Errors
    /// [`Error::InvalidPattern`] naming `--include` or `--exclude` for a pattern that does not
    /// compile.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, Error> {
        Ok(Self {
            include: compile_any("--include", include)?,
            exclude: compile_any("--exclude", exclude)?,
        })
    }

    /// Whether every line is kept.
    pub fn keeps_all(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }

    /// Whether a line with this message is kept.
    pub fn keeps(&self, message: &[u8]) -> bool {
        self.include.as_ref().is_none_or(|re| re.is_match(message))
            && !self.exclude.as_ref().is_some_and(|re| re.is_match(message))
    }
}

fn compile_any(option: &'static str, patterns: &[String]) -> Result<Option<Regex>, Error> {
    let compile = |pattern: &str| Regex::new(pattern).map_err(|source| Error::InvalidPattern { option, source });
    // Each alone first, so that the error is about the pattern the user wrote.
    for pattern in patterns {
        compile(pattern)?;
    }
    match patterns {
        [] => Ok(None),
        [one] => compile(one).map(Some),
        many => {
            let joined: Vec<String> = many.iter().map(|p| format!("(?:{p})")).collect();
            compile(&joined.join("|")).map(Some)
        }
    }
}

/// One stream's filtering: remembers the decision on a line whose fragments span batches.
#[derive(Debug, Default)]
pub(crate) struct StreamFilter {
    /// The decision on the line whose last fragment has not come yet.
    open: Option<bool>,
}

impl StreamFilter {
    /// The lines of `lines` that `filter` keeps, in order; `lines` itself when it keeps all.
    pub(crate) fn apply(&mut self, filter: &LineFilter, lines: Lines) -> Lines {
        if filter.keeps_all() {
            return lines;
        }
        let keep: Vec<bool> = lines
            .iter()
            .map(|line| {
                let keep = match self.open {
                    Some(decided) => decided,
                    None => filter.keeps(line.message()),
                };
                self.open = matches!(line.kind(), LineKind::Fragment { last: false }).then_some(keep);
                keep
            })
            .collect();
        if keep.iter().all(|k| *k) {
            return lines;
        }
        let mut builder = LinesBuilder::default();
        for (line, _) in lines.iter().zip(&keep).filter(|(_, keep)| **keep) {
            builder.push_line(line);
        }
        builder.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(lines: &Lines) -> Vec<String> {
        lines
            .iter()
            .map(|l| String::from_utf8_lossy(l.message()).into_owned())
            .collect()
    }

    fn filter(include: &[&str], exclude: &[&str]) -> LineFilter {
        let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        LineFilter::new(&owned(include), &owned(exclude)).unwrap()
    }

    #[test]
    fn includes_are_any_of_and_excludes_win() {
        let f = filter(&["^GET", "^POST"], &["healthz"]);
        assert!(f.keeps(b"GET /"));
        assert!(f.keeps(b"POST /cart"));
        assert!(!f.keeps(b"GET /healthz"));
        assert!(!f.keeps(b"PUT /x"));
        let only_exclude = filter(&[], &["debug"]);
        assert!(only_exclude.keeps(b"info"));
        assert!(!only_exclude.keeps(b"a debug line"));
    }

    #[test]
    fn the_timestamp_is_not_part_of_the_message_and_bytes_need_not_be_utf8() {
        let f = filter(&["^2026"], &[]);
        let lines = Lines::from_stream("2026-11-23T10:00:00Z hello\n2026-11-23T10:00:01Z 2026 is here\n");
        assert_eq!(messages(&StreamFilter::default().apply(&f, lines)), ["2026 is here"]);
        let bytes = filter(&["(?-u)\\xff"], &[]);
        assert!(bytes.keeps(b"a \xff b"));
    }

    #[test]
    fn a_bad_pattern_names_its_flag() {
        let err = LineFilter::new(&["ok".into()], &["(".into()]).unwrap_err();
        assert!(err.to_string().contains("--exclude"), "{err}");
        let err = LineFilter::new(&["[".into()], &[]).unwrap_err();
        assert!(err.to_string().contains("--include"), "{err}");
    }

    #[test]
    fn kept_lines_keep_their_bytes_and_the_cursor_counts_every_line() {
        let text =
            "2026-11-23T10:00:00Z keep 1\n2026-11-23T10:00:00Z drop 2\n2026-11-23T10:00:00Z keep 3\nplain drop\n";
        let lines = Lines::from_stream(text);
        let cursor = lines.cursor_after(None);
        let kept = StreamFilter::default().apply(&filter(&["keep"], &[]), lines);
        assert_eq!(
            kept.raw_slices().concat(),
            b"2026-11-23T10:00:00Z keep 1\n2026-11-23T10:00:00Z keep 3\n"
        );
        assert_eq!(kept.len(), 2);
        // What the batch carries is the position after all four lines: three at that second.
        assert_eq!(cursor.unwrap().lines_at_timestamp, 3);
        assert_eq!(
            kept.cursor_after(None).unwrap().lines_at_timestamp,
            2,
            "not the kept lines'"
        );
    }

    #[test]
    fn a_fragmented_line_is_kept_or_dropped_whole_across_batches() {
        let f = filter(&["match"], &[]);
        let mut state = StreamFilter::default();
        let first = Lines::builder()
            .full("2026-11-23T10:00:00Z other")
            .line("2026-11-23T10:00:01Z match begins", LineKind::Fragment { last: false })
            .build();
        let second = Lines::builder()
            .line(" and goes on", LineKind::Fragment { last: false })
            .line(" to its end", LineKind::Fragment { last: true })
            .full("2026-11-23T10:00:02Z no")
            .build();
        assert_eq!(messages(&state.apply(&f, first)), ["match begins"]);
        assert_eq!(messages(&state.apply(&f, second)), [" and goes on", " to its end"]);
        let dropped = Lines::builder()
            .line("2026-11-23T10:00:03Z nope", LineKind::Fragment { last: false })
            .line(" match in the middle", LineKind::Fragment { last: true })
            .build();
        assert!(state.apply(&f, dropped).is_empty());
    }
}
