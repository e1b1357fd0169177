//! The `<RFC 3339> ` prefix the API puts before every line with `timestamps=true`.

use jiff::Timestamp;

/// A timestamp as a batch stores it per line: 12 bytes instead of an `Option<Timestamp>`, and
/// compared without building a `Timestamp`. `nanos` follows jiff's sign convention (the sign
/// of `seconds`), so equal instants have equal stamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    seconds: i64,
    nanos: i32,
}

impl Stamp {
    /// No timestamp.
    pub(crate) const NONE: Stamp = Stamp {
        seconds: 0,
        nanos: i32::MIN,
    };

    pub(crate) fn is_none(self) -> bool {
        self.nanos == i32::MIN
    }

    pub(crate) fn parts(self) -> (i64, i32) {
        (self.seconds, self.nanos)
    }

    pub(crate) fn from_parts(seconds: i64, nanos: i32) -> Stamp {
        Stamp { seconds, nanos }
    }

    pub(crate) fn get(self) -> Option<Timestamp> {
        if self.is_none() {
            return None;
        }
        Timestamp::new(self.seconds, self.nanos).ok()
    }
}

impl From<Option<Timestamp>> for Stamp {
    fn from(timestamp: Option<Timestamp>) -> Self {
        match timestamp {
            Some(t) => Stamp {
                seconds: t.as_second(),
                nanos: t.subsec_nanosecond(),
            },
            None => Stamp::NONE,
        }
    }
}

/// Parses the `<RFC3339> ` prefix of a line; returns the timestamp and where the message starts.
pub fn split_timestamp(raw: &[u8]) -> Option<(Timestamp, u32)> {
    let (stamp, message_start) = split_stamp(raw)?;
    Some((stamp.get()?, u32::from(message_start)))
}

/// Length of the kubelet's `2006-01-02T15:04:05.000000000Z`.
const KUBELET_LEN: usize = 30;

/// [`split_timestamp`] as a batch stores it.
pub(crate) fn split_stamp(raw: &[u8]) -> Option<(Stamp, u8)> {
    // Nearly every line carries the kubelet's own fixed-width format: try it at its place
    // before searching for the space.
    if raw.get(KUBELET_LEN) == Some(&b' ')
        && let Some(stamp) = parse_kubelet(&raw[..KUBELET_LEN])
    {
        return Some((stamp, KUBELET_LEN as u8 + 1));
    }
    // RFC 3339 with nanoseconds and an offset is at most 35 bytes; look for the space in 40.
    let window = &raw[..raw.len().min(40)];
    let space = memchr::memchr(b' ', window)?;
    let text = &raw[..space];
    let stamp = match parse_kubelet(text) {
        Some(stamp) => stamp,
        None => Stamp::from(Some(std::str::from_utf8(text).ok()?.parse::<Timestamp>().ok()?)),
    };
    Some((stamp, u8::try_from(space + 1).ok()?))
}

/// The kubelet's own format, `2006-01-02T15:04:05.000000000Z` (RFC3339NanoFixed, UTC), parsed
/// without jiff's general parser, which was a third of the exporter's CPU per line. Anything
/// else (other offsets, fewer digits, a leap second) returns `None` and goes to jiff.
fn parse_kubelet(text: &[u8]) -> Option<Stamp> {
    let text: &[u8; KUBELET_LEN] = text.try_into().ok()?;
    if text[4] != b'-'
        || text[7] != b'-'
        || text[10] != b'T'
        || text[13] != b':'
        || text[16] != b':'
        || text[19] != b'.'
        || text[29] != b'Z'
    {
        return None;
    }
    let year = digits(&text[0..4])?;
    let (month, day) = (digits(&text[5..7])?, digits(&text[8..10])?);
    let (hour, minute, second) = (digits(&text[11..13])?, digits(&text[14..16])?, digits(&text[17..19])?);
    let nanos = digits(&text[20..29])?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=month_days).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let mut seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    let mut nanos = nanos as i32;
    // jiff keeps the fraction's sign equal to the seconds' (before 1970: both negative).
    if seconds < 0 && nanos > 0 {
        seconds += 1;
        nanos -= 1_000_000_000;
    }
    Some(Stamp { seconds, nanos })
}

/// The decimal value of ASCII digits; `None` if any byte is not a digit.
fn digits(text: &[u8]) -> Option<i64> {
    let mut value = 0i64;
    let mut bad = 0u8;
    for &b in text {
        let d = b.wrapping_sub(b'0');
        // Branch-free: one check at the end instead of one per digit.
        bad |= u8::from(d > 9);
        value = value * 10 + i64::from(d);
    }
    (bad == 0).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_timestamps_parse_like_jiff() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut texts: Vec<String> = (0..20_000)
            .map(|_| {
                // 0001-01-01 to 9999-12-31, any nanosecond.
                let second = (next() % 315_537_897_600) as i64 - 62_135_596_800;
                let ts = Timestamp::new(second, (next() % 1_000_000_000) as i32).unwrap();
                format!("{ts:.9}")
            })
            .collect();
        texts.extend(
            [
                "2024-02-29T23:59:59.999999999Z",
                "2023-02-29T00:00:00.000000000Z",
                "2100-02-29T00:00:00.000000000Z",
                "2000-02-29T00:00:00.000000000Z",
                "1970-01-01T00:00:00.000000000Z",
                "1969-12-31T23:59:59.999999999Z",
                "1969-12-31T23:59:59.000000000Z",
                "0001-01-01T00:00:00.000000001Z",
                "2024-04-31T00:00:00.000000000Z",
                "2024-13-01T00:00:00.000000000Z",
                "2024-00-01T00:00:00.000000000Z",
                "2024-01-01T24:00:00.000000000Z",
                "2024-01-01T23:60:00.000000000Z",
                "2016-12-31T23:59:60.000000000Z",
                "2024-01-01T00:00:00.00000000Z",
                "2024-01-01T00:00:00.000000000+01:00",
                "2024-01-01T00:00:00Z",
                "2024-1a-01T00:00:00.000000000Z",
                "2024-01-01T00:00:00.00000000:Z",
                "2024-01-01T00:00:00.0000000/0Z",
                "+2024-01-01T00:00:00.000000000Z",
            ]
            .map(str::to_owned),
        );
        assert!(texts[..20_000].iter().all(|t| parse_kubelet(t.as_bytes()).is_some()));
        for text in &texts {
            let fast = parse_kubelet(text.as_bytes()).and_then(Stamp::get);
            let jiff = text.parse::<Timestamp>().ok();
            // Some only when jiff agrees; None hands the text to jiff (other formats, invalid).
            assert!(fast.is_none() || fast == jiff, "{text}");
            // The stamp of an instant is the stamp jiff's value gives.
            if let Some(stamp) = parse_kubelet(text.as_bytes()) {
                assert_eq!(stamp, Stamp::from(jiff), "{text}");
            }
            let line = format!("{text} message");
            assert_eq!(split_timestamp(line.as_bytes()).map(|(t, _)| t), jiff, "{text}");
        }
    }

    #[test]
    fn message_starts_after_the_space() {
        let (ts, start) = split_timestamp(b"2026-11-23T10:00:00.5+01:00 hello").unwrap();
        assert_eq!(ts, "2026-11-23T09:00:00.5Z".parse().unwrap());
        assert_eq!(start, 28);
        assert_eq!(split_timestamp(b"2026-11-23T10:00:00.123456789Z x").unwrap().1, 31);
        assert_eq!(split_timestamp(b"no timestamp"), None);
        assert_eq!(split_timestamp(b""), None);
        assert_eq!(
            split_timestamp(b"2026-11-23T10:00:00.123456789Z"),
            None,
            "no space, no message"
        );
    }

    #[test]
    fn none_is_no_timestamp() {
        assert_eq!(Stamp::NONE.get(), None);
        assert!(Stamp::from(None).is_none());
        let t: Timestamp = "1969-12-31T23:59:59.25Z".parse().unwrap();
        assert_eq!(Stamp::from(Some(t)).get(), Some(t));
    }
}
