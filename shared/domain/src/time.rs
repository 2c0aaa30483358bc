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

    #[test]
    fn formats_with_millis_in_utc() {
        assert_eq!(format_millis(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_millis(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
