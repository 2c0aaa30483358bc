//! Timestamps as the APIs print them: RFC 3339 in UTC with milliseconds.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// `2026-11-28T16:24:53.123Z`
pub fn format_millis(millis: i64) -> String {
    format_millis_into(millis, &mut [0; MILLIS_TEXT_MAX]).to_owned()
}

/// Room for any timestamp [`format_millis_into`] writes (RFC 3339 has four-digit years).
pub const MILLIS_TEXT_MAX: usize = 32;

/// [`format_millis`] into the caller's buffer: event payloads write their timestamps straight
/// into the payload's text, without a string of their own each.
pub fn format_millis_into(millis: i64, buffer: &mut [u8; MILLIS_TEXT_MAX]) -> &str {
    if (0..YEAR_10000_MS).contains(&millis) {
        return format_common(millis, buffer);
    }
    let t = OffsetDateTime::from_unix_timestamp_nanos(millis as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let t = t
        .replace_nanosecond((millis.rem_euclid(1000) as u32) * 1_000_000)
        .unwrap_or(t);
    // A year RFC 3339 cannot write gives "", as `format` then `unwrap_or_default` did.
    let mut rest = &mut buffer[..];
    let written = match t.format_into(&mut rest, &Rfc3339) {
        // What the slice advanced by: `format_into`'s own count can fall short of it.
        Ok(_) => MILLIS_TEXT_MAX - rest.len(),
        Err(_) => 0,
    };
    std::str::from_utf8(&buffer[..written]).unwrap_or_default()
}

/// 10000-01-01T00:00:00Z: RFC 3339 writes four-digit years only.
const YEAR_10000_MS: i64 = 253_402_300_800_000;

/// Every instant from 1970 to the year 9999, written without the `time` crate's general
/// formatting (several hundred instructions a timestamp, and events write many): the same
/// text, milliseconds with trailing zeros trimmed and none when zero, as a test checks.
fn format_common(millis: i64, buffer: &mut [u8; MILLIS_TEXT_MAX]) -> &str {
    let (days, in_day) = (millis / DAY_MS, millis % DAY_MS);
    let (year, month, day) = civil_from_days(days);
    let seconds = in_day / 1000;
    let fraction = in_day % 1000;
    let fields = [
        (year / 100, 0),
        (year % 100, 2),
        (month, 5),
        (day, 8),
        (seconds / 3600, 11),
        (seconds / 60 % 60, 14),
        (seconds % 60, 17),
        (fraction / 10, 20),
    ];
    for (value, at) in fields {
        let digits = &TWO_DIGITS[value as usize * 2..][..2];
        buffer[at..at + 2].copy_from_slice(digits);
    }
    buffer[22] = b'0' + (fraction % 10) as u8;
    for (at, separator) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ] {
        buffer[at] = separator;
    }
    let mut end = if fraction == 0 { 19 } else { 23 };
    while end > 20 && buffer[end - 1] == b'0' {
        end -= 1;
    }
    buffer[end] = b'Z';
    std::str::from_utf8(&buffer[..=end]).unwrap_or_default()
}

/// "00" to "99", two bytes each.
const TWO_DIGITS: [u8; 200] = {
    let mut digits = [0; 200];
    let mut i = 0;
    while i < 100 {
        digits[2 * i] = b'0' + (i / 10) as u8;
        digits[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    digits
};

const DAY_MS: i64 = 86_400_000;

/// Year, month and day of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`,
/// for days ≥ 0).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The moment to stop starting new work, as an `Instant`: `margin` before a deadline given in
/// epoch milliseconds (as Lambda gives an invocation's deadline). A past deadline is now.
pub fn stop_before(deadline_ms: u64, margin: std::time::Duration) -> std::time::Instant {
    let left_ms = (deadline_ms as i64).saturating_sub(now_millis()).max(0) as u64;
    let left = std::time::Duration::from_millis(left_ms);
    std::time::Instant::now() + left.saturating_sub(margin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopping_leaves_the_margin_before_the_deadline() {
        use std::time::{Duration, Instant};
        let deadline = (now_millis() + 60_000) as u64;
        let stop = stop_before(deadline, Duration::from_secs(25));
        let left = stop - Instant::now();
        assert!(left <= Duration::from_secs(35) && left >= Duration::from_secs(34));
        let past = stop_before(0, Duration::from_secs(25));
        assert!(past <= Instant::now());
    }

    /// What `format_millis` wrote through the `time` crate alone, to hold [`format_common`] to.
    fn by_the_time_crate(millis: i64) -> String {
        let t = OffsetDateTime::from_unix_timestamp_nanos(millis as i128 * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let t = t
            .replace_nanosecond((millis.rem_euclid(1000) as u32) * 1_000_000)
            .unwrap_or(t);
        t.format(&Rfc3339).unwrap_or_default()
    }

    #[test]
    fn the_common_range_is_written_as_the_time_crate_writes_it() {
        let edges = [
            0,
            1,
            10,
            100,
            120,
            999,
            1000,
            DAY_MS - 1,
            951_782_400_000,   // 2000-02-29
            4_107_542_400_000, // 2100-03-01
            1_700_000_000_123,
            YEAR_10000_MS - 1,
        ];
        // A prime step visits every millisecond remainder and day of the cycle.
        let walk = (0..20_000).map(|i| i * 12_676_799_999_983 % YEAR_10000_MS);
        for millis in edges.into_iter().chain(walk) {
            assert_eq!(format_millis(millis), by_the_time_crate(millis), "{millis}");
        }
        for outside in [-1, -DAY_MS, YEAR_10000_MS, i64::MAX, i64::MIN] {
            assert_eq!(
                format_millis(outside),
                by_the_time_crate(outside),
                "{outside}"
            );
        }
    }

    #[test]
    fn formats_with_millis_in_utc() {
        assert_eq!(format_millis(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_millis(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
