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

    /// Whether `self` is the same instant as `other` or a later one (both are timestamps).
    pub(crate) fn not_before(self, other: Stamp) -> bool {
        (self.seconds, self.nanos) >= (other.seconds, other.nanos)
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
    let (stamp, message_start) = StampParser::default().split(raw)?;
    Some((stamp.get()?, u32::from(message_start)))
}

/// Length of the kubelet's `2006-01-02T15:04:05.000000000Z`.
const KUBELET_LEN: usize = 30;

/// Length of the same with a numeric offset, `2006-01-02T15:04:05.000000000+01:00`.
const KUBELET_OFFSET_LEN: usize = 35;

/// Where the zone (`Z` or `+01:00`) starts in the kubelet's format.
const ZONE_AT: usize = 29;

/// The kubelet's timestamp format (Go's RFC3339NanoFixed: always nine fractional digits), in
/// the zone the runtime wrote: every record of one log has the same form, so a line's own
/// timestamp tells what the timestamps before its other parts look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KubeletForm {
    /// `2006-01-02T15:04:05.000000000Z`
    Utc,
    /// `2006-01-02T15:04:05.000000000+01:00`: this offset and the space after it.
    Offset([u8; 7]),
}

impl KubeletForm {
    /// The form of a line's timestamp prefix, given where its message starts; `None` if the
    /// prefix is not in the kubelet's format.
    pub(crate) fn of(raw: &[u8], message_start: u8) -> Option<KubeletForm> {
        let fraction = raw.get(19..ZONE_AT)?;
        if fraction[0] != b'.' || !fraction[1..].iter().all(u8::is_ascii_digit) {
            return None;
        }
        match usize::from(message_start) {
            31 if raw[ZONE_AT] == b'Z' => Some(KubeletForm::Utc),
            36 => {
                let zone: [u8; 7] = raw.get(ZONE_AT..=KUBELET_OFFSET_LEN)?.try_into().ok()?;
                let numeric = matches!(zone[0], b'+' | b'-') && zone[3] == b':' && zone[6] == b' ';
                numeric.then_some(KubeletForm::Offset(zone))
            }
            _ => None,
        }
    }

    /// Bytes of the prefix: timestamp and space.
    pub(crate) fn prefix_len(self) -> usize {
        match self {
            KubeletForm::Utc => KUBELET_LEN + 1,
            KubeletForm::Offset(_) => KUBELET_OFFSET_LEN + 1,
        }
    }

    /// What ends every prefix of this form (zone and space), at [`KubeletForm::zone_at`]: rare
    /// in text, so a search for it finds candidates fast.
    pub(crate) fn needle(&self) -> &[u8] {
        match self {
            KubeletForm::Utc => b"Z ",
            KubeletForm::Offset(zone) => zone,
        }
    }

    /// Where [`KubeletForm::needle`] lies in a prefix.
    pub(crate) fn zone_at(self) -> usize {
        ZONE_AT
    }
}

impl StampParser {
    /// The timestamp of a prefix of `form` at the start of `raw` (timestamp, then a space), if
    /// there is one.
    pub(crate) fn prefix(&mut self, raw: &[u8], form: KubeletForm) -> Option<Stamp> {
        let len = form.prefix_len() - 1;
        if raw.get(len) != Some(&b' ') {
            return None;
        }
        match form {
            KubeletForm::Utc => self.kubelet(&raw[..len]),
            KubeletForm::Offset(zone) => {
                if raw[ZONE_AT..=len] != zone || KubeletForm::of(raw, len as u8 + 1) != Some(form) {
                    return None;
                }
                let text = std::str::from_utf8(&raw[..len]).ok()?;
                Some(Stamp::from(Some(text.parse::<Timestamp>().ok()?)))
            }
        }
    }
}

/// Length of its `2006-01-02T15:04:` part, shared by every line of a minute.
const MINUTE_LEN: usize = 17;

/// Parses timestamp prefixes line after line, remembering the minute of the last one.
///
/// The kubelet writes every line's timestamp in one fixed-width format, and consecutive lines
/// share their minute: it is parsed once (date arithmetic included) and later lines only
/// compare it and parse their seconds and nanoseconds. That was a third of the exporter's
/// CPU per line with jiff's general parser, and a tenth with a fixed-format one.
#[derive(Debug, Default, Clone)]
pub(crate) struct StampParser {
    /// `2006-01-02T15:04:` of the last kubelet timestamp, and its Unix seconds.
    minute: Option<([u8; MINUTE_LEN], i64)>,
}

impl StampParser {
    /// [`split_timestamp`] as a batch stores it.
    pub(crate) fn split(&mut self, raw: &[u8]) -> Option<(Stamp, u8)> {
        if let Some(text) = raw.get(..KUBELET_LEN)
            && raw.get(KUBELET_LEN) == Some(&b' ')
            && let Some(stamp) = self.kubelet(text)
        {
            return Some((stamp, KUBELET_LEN as u8 + 1));
        }
        // Anything else (other offsets, fewer digits, a leap second) goes to jiff. RFC 3339 with
        // nanoseconds and an offset is at most 35 bytes: look for the space in 40.
        let window = &raw[..raw.len().min(40)];
        let space = memchr::memchr(b' ', window)?;
        let text = std::str::from_utf8(&raw[..space]).ok()?;
        let stamp = Stamp::from(Some(text.parse::<Timestamp>().ok()?));
        Some((stamp, u8::try_from(space + 1).ok()?))
    }

    /// The kubelet's own format, `2006-01-02T15:04:05.000000000Z` (RFC3339NanoFixed, UTC).
    fn kubelet(&mut self, text: &[u8]) -> Option<Stamp> {
        let (minute, rest) = text.split_at(MINUTE_LEN);
        let base = match self.minute {
            Some((ref last, base)) if last[..] == *minute => base,
            _ => {
                let base = minute_seconds(minute)?;
                self.minute = Some((minute.try_into().ok()?, base));
                base
            }
        };
        // `05.000000000Z`
        let &[s0, s1, b'.', ref nanos @ .., b'Z'] = rest else {
            return None;
        };
        let second = digits(&[s0, s1])?;
        if second > 59 {
            return None;
        }
        let nanos = nine_digits(nanos.try_into().ok()?)?;
        let mut seconds = base + second;
        let mut nanos = nanos as i32;
        // jiff keeps the fraction's sign equal to the seconds' (before 1970: both negative).
        if seconds < 0 && nanos > 0 {
            seconds += 1;
            nanos -= 1_000_000_000;
        }
        Some(Stamp { seconds, nanos })
    }
}

/// Unix seconds of `2006-01-02T15:04:`, or `None` if it is not a valid minute in that form.
fn minute_seconds(text: &[u8]) -> Option<i64> {
    let &[
        y0,
        y1,
        y2,
        y3,
        b'-',
        mo0,
        mo1,
        b'-',
        d0,
        d1,
        b'T',
        h0,
        h1,
        b':',
        mi0,
        mi1,
        b':',
    ] = text
    else {
        return None;
    };
    let year = digits(&[y0, y1, y2, y3])?;
    let (month, day) = (digits(&[mo0, mo1])?, digits(&[d0, d1])?);
    let (hour, minute) = (digits(&[h0, h1])?, digits(&[mi0, mi1])?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=month_days).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60)
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

/// Nine ASCII digits, eight of them checked and converted at once in a `u64` (SWAR).
fn nine_digits(text: &[u8; 9]) -> Option<u32> {
    let [eight @ .., last] = *text;
    let word = u64::from_le_bytes(eight);
    // A byte is a digit when its high nibble is 3 and adding 6 leaves it 3 (low nibble <= 9).
    const HIGH: u64 = 0xf0f0_f0f0_f0f0_f0f0;
    let high = word & HIGH;
    let carried = word.wrapping_add(0x0606_0606_0606_0606) & HIGH;
    if high != 0x3030_3030_3030_3030 || carried != 0x3030_3030_3030_3030 || !last.is_ascii_digit() {
        return None;
    }
    // Digits to value, first digit most significant (Lemire, "Faster integer parsing").
    let mut v = word - 0x3030_3030_3030_3030;
    v = v.wrapping_mul(10) + (v >> 8);
    v = ((v & 0x0000_00ff_0000_00ff).wrapping_mul(100 + (1_000_000 << 32))
        + ((v >> 16) & 0x0000_00ff_0000_00ff).wrapping_mul(1 + (10_000 << 32)))
        >> 32;
    Some(v as u32 * 10 + u32::from(last - b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path alone, without the minute cache.
    fn parse_kubelet(text: &[u8]) -> Option<Stamp> {
        StampParser::default().kubelet(text)
    }

    #[test]
    fn nine_digits_match_a_plain_parse() {
        let mut state = 0x1234_5678_9abc_def1_u64;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let n = (state % 1_000_000_000) as u32;
            assert_eq!(nine_digits(format!("{n:09}").as_bytes().try_into().unwrap()), Some(n));
        }
        for bad in [
            "12345678a",
            "1234567/9",
            "12345:789",
            "/00000000",
            "000000000\0",
            " 00000000",
        ] {
            let bytes: Option<&[u8; 9]> = bad.as_bytes().try_into().ok();
            assert_eq!(bytes.and_then(nine_digits), None, "{bad}");
        }
        assert_eq!(nine_digits(b"999999999"), Some(999_999_999));
        assert_eq!(nine_digits(&[b'0' + 0x10; 9]), None);
        assert_eq!(nine_digits(&[0xfa; 9]), None);
    }

    #[test]
    fn consecutive_lines_parse_like_jiff_through_the_minute_cache() {
        let start: Timestamp = "2026-12-31T23:58:59.999999990Z".parse().unwrap();
        let mut parser = StampParser::default();
        for i in 0..200_000i64 {
            // Steps of 1 ms plus a little, across minutes, an hour, a day and a year.
            let ts = start + jiff::SignedDuration::from_nanos(i * 1_000_003);
            let line = format!("{ts:.9} message {i}");
            let (stamp, start) = parser.split(line.as_bytes()).unwrap();
            assert_eq!((stamp.get(), start), (Some(ts), 31), "{line}");
        }
        // With its minute cached, the rest of a line is still checked: what the fast path
        // refuses goes to jiff (which takes a leap second as :59 and refuses the others).
        parser.split(b"2026-11-23T10:11:12.123456789Z a").unwrap();
        for odd in [
            "2026-11-23T10:11:60.123456789Z a",
            "2026-11-23T10:11:1x.123456789Z a",
            "2026-11-23T10:11:12,123456789Z a",
        ] {
            let jiff = odd[..30].parse::<Timestamp>().ok().map(|t| (Some(t), 31));
            assert_eq!(parser.split(odd.as_bytes()).map(|(s, at)| (s.get(), at)), jiff, "{odd}");
            assert_eq!(parser.kubelet(&odd.as_bytes()[..30]), None, "{odd}");
        }
        assert_eq!(
            parser
                .split(b"2026-11-23T10:11:12.5Z short")
                .map(|(s, at)| (s.get(), at)),
            Some((Some("2026-11-23T10:11:12.5Z".parse().unwrap()), 23))
        );
    }

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
    fn kubelet_prefixes_in_either_zone_form() {
        let instant: Timestamp = "2026-11-23T10:00:00.123456789Z".parse().unwrap();
        let mut parser = StampParser::default();
        let utc = b"2026-11-23T10:00:00.123456789Z rest";
        assert_eq!(KubeletForm::of(utc, 31), Some(KubeletForm::Utc));
        assert_eq!(parser.prefix(utc, KubeletForm::Utc).and_then(Stamp::get), Some(instant));
        let local = b"2026-11-23T11:00:00.123456789+01:00 rest";
        let form = KubeletForm::of(local, 36).unwrap();
        assert_eq!((form.prefix_len(), form.needle()), (36, &b"+01:00 "[..]));
        assert_eq!(parser.prefix(local, form).and_then(Stamp::get), Some(instant));
        // Not the kubelet's format, or not this line's form: no prefix.
        assert_eq!(KubeletForm::of(b"2026-11-23T10:00:00.5Z x", 23), None);
        assert_eq!(KubeletForm::of(b"2026-11-23T10:00:00Z x", 21), None);
        assert_eq!(parser.prefix(local, KubeletForm::Utc), None);
        assert_eq!(parser.prefix(utc, form), None);
        assert_eq!(
            parser.prefix(b"2026-11-23T11:00:00.123456789+02:00 x", form),
            None,
            "another zone"
        );
        assert_eq!(
            parser.prefix(b"2026-11-23T10:00:00.123456789Zx", KubeletForm::Utc),
            None,
            "no space"
        );
        assert_eq!(
            parser.prefix(b"2026-11-23T10:00:00.12345678Z x", KubeletForm::Utc),
            None,
            "8 digits"
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
