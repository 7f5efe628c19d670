//! Reading timestamps in the formats exports use, fast for the common ones.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// Why a timestamp could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// Nothing to read.
    #[error("the timestamp is empty")]
    Empty,
    /// Not a format Parcours reads.
    #[error(
        "`{0}` is not a timestamp (expected RFC 3339 such as 2026-03-01T09:30:00Z, `YYYY-MM-DD HH:MM:SS`, a date, or epoch seconds or milliseconds)"
    )]
    Format(String),
    /// A field out of range, such as month 13.
    #[error("`{0}` is not a valid date or time")]
    Invalid(String),
    /// Before 1900 or after 2200: almost certainly a unit or parsing mistake.
    #[error("`{0}` is outside the years 1900 to 2200")]
    OutOfRange(String),
}

const MIN_MS: i64 = -2_208_988_800_000; // 1900-01-01
const MAX_MS: i64 = 7_258_118_400_000; // 2200-01-01

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(bytes.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
}

/// Epoch seconds or milliseconds, told apart by magnitude: below 10^11 means seconds
/// (10^11 seconds is the year 5138; 10^11 milliseconds is March 1973).
pub fn parse_epoch(value: f64) -> Option<i64> {
    if !value.is_finite() {
        return None;
    }
    let ms = if value.abs() < 1e11 {
        value * 1000.0
    } else {
        value
    };
    let ms = ms.round();
    (ms >= MIN_MS as f64 && ms < MAX_MS as f64).then_some(ms as i64)
}

/// Reads a timestamp as milliseconds since 1970 UTC.
///
/// Accepted: RFC 3339 / ISO 8601 with `T` or a space, optional fraction and offset
/// (`Z`, `+02:00`, `+0200`); `YYYY-MM-DD HH:MM[:SS]`; `YYYY-MM-DD`; epoch seconds or
/// milliseconds, possibly fractional. A date or time without an offset is read in `zone`
/// (UTC when `None`).
pub fn parse_timestamp(text: &str, zone: Option<&TimeZone>) -> Result<i64, TimestampError> {
    let text = text.trim_ascii();
    if text.is_empty() {
        return Err(TimestampError::Empty);
    }
    let bytes = text.as_bytes();
    let format = || TimestampError::Format(text.to_string());
    let invalid = || TimestampError::Invalid(text.to_string());

    if bytes.iter().all(|b| b.is_ascii_digit() || *b == b'.') && bytes.len() >= 9 {
        let value: f64 = text.parse().map_err(|_| format())?;
        return parse_epoch(value).ok_or_else(|| TimestampError::OutOfRange(text.to_string()));
    }

    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return Err(format());
    }
    let year = digits(&bytes[0..4]).ok_or_else(format)?;
    let month = digits(&bytes[5..7]).ok_or_else(format)?;
    let day = digits(&bytes[8..10]).ok_or_else(format)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(invalid());
    }
    let (mut hour, mut minute, mut second, mut millis) = (0, 0, 0, 0);
    let mut rest = &bytes[10..];
    if !rest.is_empty() {
        if !matches!(rest[0], b'T' | b't' | b' ') || rest.len() < 6 || rest[3] != b':' {
            return Err(format());
        }
        hour = digits(&rest[1..3]).ok_or_else(format)?;
        minute = digits(&rest[4..6]).ok_or_else(format)?;
        rest = &rest[6..];
        if rest.first() == Some(&b':') {
            second = digits(rest.get(1..3).ok_or_else(format)?).ok_or_else(format)?;
            rest = &rest[3..];
            if matches!(rest.first(), Some(b'.') | Some(b',')) {
                let end = rest[1..]
                    .iter()
                    .position(|b| !b.is_ascii_digit())
                    .map_or(rest.len(), |p| p + 1);
                let fraction = &rest[1..end];
                if fraction.is_empty() {
                    return Err(format());
                }
                let first3: Vec<u8> = fraction
                    .iter()
                    .copied()
                    .chain(std::iter::repeat(b'0'))
                    .take(3)
                    .collect();
                millis = digits(&first3).ok_or_else(format)?;
                rest = &rest[end..];
            }
        }
        if hour > 23 || minute > 59 || second > 60 {
            return Err(invalid());
        }
        // A leap second is read as the last millisecond of its minute.
        if second == 60 {
            second = 59;
            millis = 999;
        }
    }
    let offset_ms = match rest {
        [] => None,
        [b'Z' | b'z'] => Some(0),
        [b' ', b'U', b'T', b'C'] | [b' ', b'G', b'M', b'T'] => Some(0),
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let (h, m) = match tail {
                [h1, h2] => (digits(&[*h1, *h2]), Some(0)),
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                    (digits(&[*h1, *h2]), digits(&[*m1, *m2]))
                }
                _ => return Err(format()),
            };
            let (h, m) = (h.ok_or_else(format)?, m.ok_or_else(format)?);
            if h > 23 || m > 59 {
                return Err(invalid());
            }
            let magnitude = (h * 60 + m) * 60_000;
            Some(if *sign == b'-' { -magnitude } else { magnitude })
        }
        _ => return Err(format()),
    };
    let local_ms =
        (days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second) * 1000
            + millis;
    let ms = match (offset_ms, zone) {
        (Some(offset), _) => local_ms - offset,
        (None, None) => local_ms,
        (None, Some(zone)) => {
            let civil = DateTime::new(
                year as i16,
                month as i8,
                day as i8,
                hour as i8,
                minute as i8,
                second as i8,
                (millis * 1_000_000) as i32,
            )
            .map_err(|_| invalid())?;
            zone.to_ambiguous_timestamp(civil)
                .compatible()
                .map_err(|_| invalid())?
                .as_millisecond()
        }
    };
    if !(MIN_MS..MAX_MS).contains(&ms) {
        return Err(TimestampError::OutOfRange(text.to_string()));
    }
    Ok(ms)
}

/// RFC 3339 in UTC with milliseconds, as Parcours prints timestamps.
pub fn format_timestamp(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(text: &str) -> i64 {
        parse_timestamp(text, None).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn reads_the_formats_exports_use() {
        let t = 1_772_357_400_000; // 2026-03-01T09:30:00Z
        assert_eq!(ms("2026-03-01T09:30:00Z"), t);
        assert_eq!(ms("2026-03-01T09:30:00.000Z"), t);
        assert_eq!(ms("2026-03-01t09:30:00z"), t);
        assert_eq!(ms("2026-03-01T10:30:00+01:00"), t);
        assert_eq!(ms("2026-03-01T10:30:00+0100"), t);
        assert_eq!(ms("2026-03-01T04:30:00-05"), t);
        assert_eq!(ms("2026-03-01 09:30:00"), t);
        assert_eq!(ms("2026-03-01 09:30"), t);
        assert_eq!(ms("2026-03-01 09:30:00 UTC"), t);
        assert_eq!(ms("2026-03-01T09:30:00.123456Z"), t + 123);
        assert_eq!(ms("2026-03-01"), t - (9 * 60 + 30) * 60_000);
        assert_eq!(ms("1772357400"), t);
        assert_eq!(ms("1772357400000"), t);
        assert_eq!(ms("1772357400.5"), t + 500);
    }

    #[test]
    fn a_zone_applies_to_times_without_offset() {
        let paris = TimeZone::get("Europe/Paris").unwrap();
        assert_eq!(
            parse_timestamp("2026-03-01 10:30:00", Some(&paris)).unwrap(),
            1_772_357_400_000
        );
        assert_eq!(
            parse_timestamp("2026-03-01T09:30:00Z", Some(&paris)).unwrap(),
            1_772_357_400_000
        );
    }

    #[test]
    fn refuses_what_is_not_a_timestamp() {
        for text in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-02-30",
            "2026-03-01T25:00:00Z",
            "2026-03-01T09:30:00+25:00",
            "01/03/2026",
            "2026-03-01T09",
            "1850-01-01",
            "99999999999999999",
        ] {
            assert!(parse_timestamp(text, None).is_err(), "{text}");
        }
    }

    #[test]
    fn formats_back_in_utc() {
        assert_eq!(
            format_timestamp(1_772_357_400_123),
            "2026-03-01T09:30:00.123Z"
        );
    }

    proptest! {
        /// The fast path agrees with jiff on every instant it prints.
        #[test]
        fn agrees_with_jiff(ms_in in MIN_MS..MAX_MS) {
            let text = format_timestamp(ms_in);
            prop_assert_eq!(parse_timestamp(&text, None).unwrap(), ms_in);
            let jiff_ms = text.parse::<jiff::Timestamp>().unwrap().as_millisecond();
            prop_assert_eq!(jiff_ms, ms_in);
        }
    }
}
