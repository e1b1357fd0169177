//! Where a container's log was read up to, and how to resume from there exactly once.
//!
//! The API's `sinceTime` has one-second precision, and several lines can share one timestamp.
//! A cursor therefore keeps the full-precision timestamp of the last line delivered plus how
//! many delivered lines carried exactly that timestamp. Resuming asks for `sinceTime` floored to
//! the second and drops, with a [`ResumeFilter`], every line the cursor already covers.
//!
//! A line the runtime stored in parts has a timestamp per part, and the API filters
//! `sinceTime` part by part: a resumed stream may begin in the middle of such a line. So the
//! cursor counts the runtime's records (and the pieces of a record cut at the length cap)
//! rather than lines: a joined line moves it to its last part, and a resumed stream that
//! begins inside the line drops exactly the parts delivered before.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::line::{Lines, LogLine, Stamp};

/// The position reached in one container instance's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Timestamp of the last line delivered; for a line joined from parts, its last part's.
    pub timestamp: Timestamp,
    /// How many delivered records carried exactly `timestamp`: a line counts one, each piece
    /// of a line split at the length cap counts one, and a line joined from parts counts its
    /// parts (each as many as its pieces at the cap).
    pub lines_at_timestamp: u64,
}

impl Cursor {
    /// The cursor after delivering `line`, starting from `cursor` (`None`: nothing delivered).
    ///
    /// Lines without a timestamp leave the cursor where it is.
    pub fn advance(cursor: Option<Cursor>, line: &LogLine<'_>) -> Option<Cursor> {
        line.unit_stamps().fold(cursor, Cursor::advance_to)
    }

    fn advance_to(cursor: Option<Cursor>, stamp: Stamp) -> Option<Cursor> {
        let Some(timestamp) = stamp.get() else {
            return cursor;
        };
        Some(match cursor {
            Some(c) if c.timestamp == timestamp => Cursor {
                timestamp,
                lines_at_timestamp: c.lines_at_timestamp + 1,
            },
            _ => Cursor {
                timestamp,
                lines_at_timestamp: 1,
            },
        })
    }

    /// The `sinceTime` to resume with: the cursor's timestamp floored to the whole second.
    ///
    /// Never round: rounding up skips the lines logged in the rest of the second.
    pub fn since_time(&self) -> Timestamp {
        let seconds = self.timestamp.as_second();
        // A timestamp before 1970 with a fraction floors one second lower.
        let floored = if self.timestamp.subsec_nanosecond() < 0 {
            seconds - 1
        } else {
            seconds
        };
        Timestamp::from_second(floored).unwrap_or(self.timestamp)
    }
}

/// Drops the lines a resumed stream repeats from before its cursor.
#[derive(Debug, Clone)]
pub(crate) struct ResumeFilter {
    cursor: Option<Cursor>,
    /// Lines with the cursor's timestamp seen so far in the resumed stream.
    seen_at_timestamp: u64,
    /// Set once a line newer than the cursor passed: everything after passes too.
    caught_up: bool,
    /// Whether a line was judged yet.
    judged_any: bool,
    /// The timestamp of the first line, when it was newer than the cursor: the cursor's own line
    /// is no longer in the log, so lines after it may have gone with it (rotation).
    gap_until: Option<Timestamp>,
}

/// What [`ResumeFilter::check`] says of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Already delivered before the cursor: drop it.
    Duplicate,
    /// New: deliver it.
    New,
}

impl ResumeFilter {
    /// A filter for a stream resumed at `cursor` (`None` lets everything through).
    pub(crate) fn new(cursor: Option<Cursor>) -> Self {
        Self {
            cursor,
            seen_at_timestamp: 0,
            caught_up: cursor.is_none(),
            judged_any: false,
            gap_until: None,
        }
    }

    /// Judges the next line of the resumed stream: [`Verdict::New`] if any of it is new.
    ///
    /// A line joined from parts may be new only from one of its parts on (the stream resumed
    /// in the middle of it); [`ResumeFilter::apply`] drops the parts delivered before.
    #[cfg(test)]
    pub(crate) fn check(&mut self, line: &LogLine<'_>) -> Verdict {
        self.judge(line).1
    }

    /// How many of `line`'s units were delivered before, and whether the rest is new.
    fn judge(&mut self, line: &LogLine<'_>) -> (usize, Verdict) {
        let mut repeated = 0;
        for stamp in line.unit_stamps() {
            if self.check_unit(stamp) == Verdict::New {
                return (repeated, Verdict::New);
            }
            repeated += 1;
        }
        (repeated, Verdict::Duplicate)
    }

    fn check_unit(&mut self, stamp: Stamp) -> Verdict {
        if self.caught_up {
            return Verdict::New;
        }
        let first = !std::mem::replace(&mut self.judged_any, true);
        let (Some(cursor), Some(timestamp)) = (self.cursor, stamp.get()) else {
            // A line without a timestamp cannot be placed: it is only ever repeated if the
            // lines around it are, so follow the previous decision (drop while not caught up).
            return Verdict::Duplicate;
        };
        if timestamp < cursor.timestamp {
            return Verdict::Duplicate;
        }
        if timestamp == cursor.timestamp && self.seen_at_timestamp < cursor.lines_at_timestamp {
            self.seen_at_timestamp += 1;
            return Verdict::Duplicate;
        }
        // Resumed at the floored second, the log repeats at least the cursor's own line first,
        // unless that line is gone.
        if first && timestamp > cursor.timestamp {
            self.gap_until = Some(timestamp);
        }
        self.caught_up = true;
        Verdict::New
    }

    /// Drops from `lines` those already delivered. Only a prefix is ever dropped: once a line
    /// passes, every later one does. Of a joined line delivered in part, the parts delivered
    /// are dropped and the rest stays, as a continuation without a timestamp prefix.
    pub(crate) fn apply(&mut self, lines: &mut Lines) {
        if self.caught_up {
            return;
        }
        let mut repeated = 0;
        let mut partly = None;
        for line in lines.iter() {
            match self.judge(&line) {
                (_, Verdict::Duplicate) => repeated += 1,
                (0, Verdict::New) => break,
                (units, Verdict::New) => {
                    partly = Some(units);
                    break;
                }
            }
        }
        if let Some(units) = partly {
            lines.drop_units(repeated, units);
        }
        lines.drop_first(repeated);
    }

    /// Returns, once, the timestamp of the first line when the resumed log began after the
    /// cursor: the lines between the cursor and it may be lost (rotated away).
    pub(crate) fn take_gap(&mut self) -> Option<Timestamp> {
        self.gap_until.take()
    }

    /// Whether the stream has passed the cursor.
    pub(crate) fn caught_up(&self) -> bool {
        self.caught_up
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(lines: &[(&str, &str)]) -> Lines {
        lines
            .iter()
            .fold(Lines::builder(), |b, (ts, msg)| b.full(format!("{ts} {msg}")))
            .build()
    }

    fn messages(lines: &Lines) -> Vec<String> {
        lines
            .iter()
            .map(|l| String::from_utf8_lossy(l.message()).into_owned())
            .collect()
    }

    #[test]
    fn counts_lines_at_same_timestamp() {
        let all = lines(&[
            ("2026-01-01T00:00:01.5Z", "a"),
            ("2026-01-01T00:00:01.5Z", "b"),
            ("2026-01-01T00:00:02Z", "c"),
        ]);
        let mut cursor = None;
        for l in all.iter().take(2) {
            cursor = Cursor::advance(cursor, &l);
        }
        assert_eq!(cursor.map(|c| c.lines_at_timestamp), Some(2));
        cursor = Cursor::advance(cursor, &all.get(2).unwrap());
        assert_eq!(cursor.map(|c| c.lines_at_timestamp), Some(1));
    }

    #[test]
    fn since_time_floors_never_rounds_up() {
        let cursor = Cursor {
            timestamp: "2026-01-01T00:00:01.999999999Z".parse().unwrap(),
            lines_at_timestamp: 1,
        };
        assert_eq!(cursor.since_time().to_string(), "2026-01-01T00:00:01Z");
        let whole = Cursor {
            timestamp: "2026-01-01T00:00:07Z".parse().unwrap(),
            lines_at_timestamp: 1,
        };
        assert_eq!(whole.since_time().to_string(), "2026-01-01T00:00:07Z");
    }

    #[test]
    fn resume_drops_exactly_what_was_delivered() {
        // The stream resumed at the floored second repeats lines from that second.
        let stream = lines(&[
            ("2026-01-01T00:00:01.1Z", "old"),
            ("2026-01-01T00:00:01.5Z", "dup1"),
            ("2026-01-01T00:00:01.5Z", "dup2"),
            ("2026-01-01T00:00:01.5Z", "new-same-ts"),
            ("2026-01-01T00:00:01.7Z", "new"),
            ("2026-01-01T00:00:01.1Z", "clock-skew-after-catch-up"),
        ]);
        let cursor = Some(Cursor {
            timestamp: "2026-01-01T00:00:01.5Z".parse().unwrap(),
            lines_at_timestamp: 2,
        });
        let mut filter = ResumeFilter::new(cursor);
        let kept: Vec<_> = stream
            .iter()
            .filter(|l| filter.check(l) == Verdict::New)
            .map(|l| String::from_utf8_lossy(l.message()).into_owned())
            .collect();
        assert_eq!(kept, ["new-same-ts", "new", "clock-skew-after-catch-up"]);

        // The same on a batch, split anywhere: only the repeated prefix goes.
        for cut in 0..=stream.len() {
            let mut filter = ResumeFilter::new(cursor);
            let (mut first, mut second) = (stream.slice(0..cut), stream.slice(cut..stream.len()));
            filter.apply(&mut first);
            filter.apply(&mut second);
            let mut kept = messages(&first);
            kept.extend(messages(&second));
            assert_eq!(
                kept,
                ["new-same-ts", "new", "clock-skew-after-catch-up"],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_log_resumed_past_the_cursor_is_a_gap_and_one_with_it_is_not() {
        let cursor = Some(Cursor {
            timestamp: "2026-01-01T00:00:01.5Z".parse().unwrap(),
            lines_at_timestamp: 1,
        });
        let mut rotated = ResumeFilter::new(cursor);
        let after = lines(&[("2026-01-01T00:00:03Z", "after rotation")]);
        assert_eq!(rotated.check(&after.first().unwrap()), Verdict::New);
        assert_eq!(rotated.take_gap(), Some("2026-01-01T00:00:03Z".parse().unwrap()));
        assert_eq!(rotated.take_gap(), None, "reported once");

        let mut intact = ResumeFilter::new(cursor);
        let mut resumed = lines(&[
            ("2026-01-01T00:00:01.2Z", "older"),
            ("2026-01-01T00:00:01.5Z", "cursor"),
            ("2026-01-01T00:00:02Z", "new"),
        ]);
        intact.apply(&mut resumed);
        assert_eq!(messages(&resumed), ["new"]);
        assert_eq!(intact.take_gap(), None);
    }

    #[test]
    fn no_cursor_keeps_everything() {
        let mut filter = ResumeFilter::new(None);
        let x = lines(&[("2026-01-01T00:00:01Z", "x")]);
        assert_eq!(filter.check(&x.first().unwrap()), Verdict::New);
        assert!(filter.caught_up());
    }
}
