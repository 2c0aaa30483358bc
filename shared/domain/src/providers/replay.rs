//! Freshness and replay rules shared by every signed HR source.
//!
//! A delivery is accepted only while its signed timestamp is within [`TOLERANCE_SECS`] of
//! now (both directions: a clock ahead of ours is as suspect as one behind), and only once:
//! its replay key is remembered for [`REMEMBER_SECS`], longer than the window, so a captured
//! delivery can be replayed neither inside the window (the key is taken) nor after it (stale).

use sha2::{Digest, Sha256};

/// Five minutes, the window BambooHR's and Standard Webhooks' own verifiers use.
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// How long a replay key is kept: the window on both sides, plus a margin for clock skew
/// between the function's instances.
pub const REMEMBER_SECS: i64 = 2 * TOLERANCE_SECS + 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    Stale,
    Future,
}

/// Whether `timestamp_secs` is within the window around `now_secs`.
pub fn freshness(timestamp_secs: i64, now_secs: i64) -> Freshness {
    if now_secs - timestamp_secs > TOLERANCE_SECS {
        Freshness::Stale
    } else if timestamp_secs - now_secs > TOLERANCE_SECS {
        Freshness::Future
    } else {
        Freshness::Fresh
    }
}

/// A fixed-length key naming one delivery: the SHA-256 (hex) of what identifies it (a
/// signature, a message id), so the stored key never carries the sender's text.
pub fn replay_key(identity: &str) -> String {
    hex::encode(Sha256::digest(identity.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_five_minutes_each_way() {
        assert_eq!(freshness(1_000, 1_000), Freshness::Fresh);
        assert_eq!(freshness(700, 1_000), Freshness::Fresh);
        assert_eq!(freshness(699, 1_000), Freshness::Stale);
        assert_eq!(freshness(1_300, 1_000), Freshness::Fresh);
        assert_eq!(freshness(1_301, 1_000), Freshness::Future);
    }

    #[test]
    fn replay_keys_are_fixed_length_and_distinct() {
        assert_eq!(replay_key("a").len(), 64);
        assert_ne!(replay_key("a"), replay_key("b"));
        assert_eq!(replay_key("a"), replay_key("a"));
    }
}
