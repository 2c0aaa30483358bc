//! What an attempt's result means for its delivery.

use std::time::Duration;

use super::schedule::RetrySchedule;

/// `Retry-After` is honoured up to a day; a longer one is read as a day.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// How long a receiver has to answer an attempt unless the fan-out is configured otherwise.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long an attempt with `timeout` holds its delivery: past this, the sweep may assume the
/// attempt was lost (its process died) and try again. The API reads it too, so a manual retry
/// never moves a delivery an attempt in flight holds.
pub fn lease_for(timeout: Duration) -> Duration {
    timeout + Duration::from_secs(5)
}

/// How one HTTP attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// The receiver answered. `retry_after` is its `Retry-After`, when it sent one.
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// No answer within the timeout.
    TimedOut(Duration),
    /// No answer at all: refused connection, DNS failure, TLS error, a forbidden address.
    Failed(String),
}

impl AttemptResult {
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub fn succeeded(&self) -> bool {
        matches!(
            self,
            Self::Status {
                code: 200..=299,
                ..
            }
        )
    }

    /// For `last_error`; `None` on success. Never includes the response body (it could carry
    /// anything).
    pub fn error(&self) -> Option<String> {
        match self {
            Self::Status {
                code: 200..=299, ..
            } => None,
            Self::Status {
                code: code @ 300..=399,
                ..
            } => Some(format!("HTTP {code}: redirects are not followed")),
            Self::Status { code, .. } => Some(format!("HTTP {code}")),
            Self::TimedOut(after) => Some(format!("no response within {}s", after.as_secs_f64())),
            Self::Failed(reason) => Some(reason.clone()),
        }
    }
}

/// What happens to the delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    /// Try again at this time (epoch ms).
    RetryAt(i64),
    /// The schedule is used up: the delivery is kept as failed.
    Exhausted,
    /// 410 Gone: the receiver asks us to stop; the endpoint is disabled.
    EndpointGone,
}

/// The decision after the `attempts_made`-th attempt (this one included) ended in `result`
/// at `now` (epoch ms). `jitter_unit` is uniform in `[0, 1)`.
pub fn decide(
    result: &AttemptResult,
    attempts_made: u32,
    schedule: &RetrySchedule,
    now: i64,
    jitter_unit: f64,
) -> Next {
    if result.succeeded() {
        return Next::Delivered;
    }
    if result.status() == Some(410) {
        return Next::EndpointGone;
    }
    let Some(delay) = schedule.delay_after(attempts_made) else {
        return Next::Exhausted;
    };
    let mut delay = RetrySchedule::jittered(delay, jitter_unit);
    if let AttemptResult::Status {
        code: 429 | 503,
        retry_after: Some(asked),
    } = result
    {
        delay = delay.max((*asked).min(MAX_RETRY_AFTER));
    }
    Next::RetryAt(now + delay.as_millis() as i64)
}

/// A `Retry-After` value: delta-seconds, or an HTTP date (relative to `now`, epoch ms).
pub fn parse_retry_after(value: &str, now: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let millis = (at.unix_timestamp_nanos() / 1_000_000) as i64 - now;
    Some(Duration::from_millis(millis.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> AttemptResult {
        AttemptResult::Status {
            code,
            retry_after: None,
        }
    }

    fn fast() -> RetrySchedule {
        RetrySchedule::parse("1s,1s,1s").unwrap()
    }

    #[test]
    fn any_2xx_delivers_and_410_disables() {
        for code in [200, 201, 202, 204, 299] {
            assert_eq!(decide(&status(code), 1, &fast(), 0, 0.5), Next::Delivered);
        }
        assert_eq!(decide(&status(410), 1, &fast(), 0, 0.5), Next::EndpointGone);
    }

    #[test]
    fn failures_follow_the_schedule_then_exhaust() {
        for result in [
            status(500),
            status(302),
            status(404),
            AttemptResult::TimedOut(Duration::from_secs(15)),
            AttemptResult::Failed("connection refused".into()),
        ] {
            assert_eq!(
                decide(&result, 1, &fast(), 10_000, 0.5),
                Next::RetryAt(11_000)
            );
            assert_eq!(
                decide(&result, 3, &fast(), 10_000, 0.5),
                Next::RetryAt(11_000)
            );
            assert_eq!(decide(&result, 4, &fast(), 10_000, 0.5), Next::Exhausted);
        }
    }

    #[test]
    fn retry_after_on_429_and_503_pushes_the_retry_back_but_never_forward() {
        let asked = |code, secs| AttemptResult::Status {
            code,
            retry_after: Some(Duration::from_secs(secs)),
        };
        assert_eq!(
            decide(&asked(429, 3), 1, &fast(), 0, 0.5),
            Next::RetryAt(3_000)
        );
        assert_eq!(
            decide(&asked(503, 3), 1, &fast(), 0, 0.5),
            Next::RetryAt(3_000)
        );
        // A shorter Retry-After than the schedule does not make the retry earlier.
        let slow = RetrySchedule::default();
        assert_eq!(
            decide(&asked(429, 1), 1, &slow, 0, 0.5),
            Next::RetryAt(5_000)
        );
        // Only 429 and 503 carry meaning; a day is the most anyone gets.
        assert_eq!(
            decide(&asked(500, 30), 1, &fast(), 0, 0.5),
            Next::RetryAt(1_000)
        );
        assert_eq!(
            decide(&asked(503, 10 * 86_400), 1, &fast(), 0, 0.5),
            Next::RetryAt(86_400_000)
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(
            parse_retry_after(" 120 ", 0),
            Some(Duration::from_secs(120))
        );
        let now = 784_111_777_000 - 30_000; // 30 s before Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", 0), None);
    }

    #[test]
    fn errors_describe_without_bodies() {
        assert_eq!(status(204).error(), None);
        assert_eq!(
            status(301).error().unwrap(),
            "HTTP 301: redirects are not followed"
        );
        assert_eq!(
            AttemptResult::TimedOut(Duration::from_secs(15))
                .error()
                .unwrap(),
            "no response within 15s"
        );
    }
}
