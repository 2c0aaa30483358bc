//! When a failed delivery is tried again.

use std::time::Duration;

/// The delays before each retry, after the first (immediate) attempt: 5 s, 5 min, 30 min,
/// 2 h, 5 h, 10 h, 14 h, 20 h, 24 h, so ten attempts over about three days.
const DEFAULT_RETRY_DELAYS: [u64; 9] = [
    5,
    5 * 60,
    30 * 60,
    2 * 3600,
    5 * 3600,
    10 * 3600,
    14 * 3600,
    20 * 3600,
    24 * 3600,
];

/// Each delay is stretched or shrunk by up to this fraction, so endpoints that failed
/// together are not all retried in the same instant.
const JITTER: f64 = 0.1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    retry_delays: Vec<Duration>,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self {
            retry_delays: DEFAULT_RETRY_DELAYS
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
        }
    }
}

impl RetrySchedule {
    pub fn new(retry_delays: Vec<Duration>) -> Self {
        Self { retry_delays }
    }

    /// `"1s,1s,1s"`: comma-separated delays before each retry, each a number with a unit of
    /// `ms`, `s`, `m`, `h` or `d`. An empty text means the default schedule.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        text.split(',')
            .map(|part| parse_duration(part.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map(Self::new)
    }

    /// Attempts in all, the first one included.
    pub fn max_attempts(&self) -> u32 {
        self.retry_delays.len() as u32 + 1
    }

    /// The delay before the next attempt once `attempts_made` have failed, before jitter;
    /// `None` when the schedule is exhausted.
    pub fn delay_after(&self, attempts_made: u32) -> Option<Duration> {
        let index = attempts_made.checked_sub(1)? as usize;
        self.retry_delays.get(index).copied()
    }

    /// `delay` scaled by a factor in `[1 - JITTER, 1 + JITTER)`, `unit` being uniform in `[0, 1)`.
    pub fn jittered(delay: Duration, unit: f64) -> Duration {
        let factor = 1.0 - JITTER + 2.0 * JITTER * unit.clamp(0.0, 1.0);
        delay.mul_f64(factor)
    }
}

/// `"15s"`, `"250ms"`, `"5m"`, `"2h"`, `"1d"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit (ms, s, m, h or d)"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number"))?;
    let seconds = match unit {
        "ms" => return Ok(Duration::from_millis(number)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?} has an unknown unit (ms, s, m, h or d)")),
    };
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_is_ten_attempts_over_about_three_days() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.max_attempts(), 10);
        assert_eq!(schedule.delay_after(1), Some(Duration::from_secs(5)));
        assert_eq!(
            schedule.delay_after(9),
            Some(Duration::from_secs(24 * 3600))
        );
        assert_eq!(schedule.delay_after(10), None);
        let total: u64 = DEFAULT_RETRY_DELAYS.iter().sum();
        assert_eq!(total / 3600, 75);
    }

    #[test]
    fn a_compressed_schedule_parses() {
        let schedule = RetrySchedule::parse("1s, 1s,250ms").unwrap();
        assert_eq!(schedule.max_attempts(), 4);
        assert_eq!(schedule.delay_after(3), Some(Duration::from_millis(250)));
        assert_eq!(RetrySchedule::parse("").unwrap(), RetrySchedule::default());
        for bad in ["1", "s", "1x", "1s,,2s", "-1s", "99999999999999999999d"] {
            assert!(RetrySchedule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let base = Duration::from_secs(100);
        assert_eq!(RetrySchedule::jittered(base, 0.0), Duration::from_secs(90));
        assert_eq!(RetrySchedule::jittered(base, 0.5), base);
        assert!(RetrySchedule::jittered(base, 0.999) < Duration::from_secs(110));
    }
}
