//! Spacing of message resends.

use std::time::Duration;

/// Exponential backoff with full jitter for resending a message after
/// [`SendOutcome::Retry`](super::SendOutcome::Retry).
///
/// Attempt `n` (counting from 0) waits a random share of `min(base · 2ⁿ, max)`; the caller
/// supplies the random share as `jitter` (this crate reads no RNG). When the source named a
/// wait ([`SendOutcome::Retry`](super::SendOutcome::Retry) `after`), wait at least that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many sends to try in all, the first one included.
    pub max_attempts: u32,
    /// The ceiling of the first retry's wait.
    pub base: Duration,
    /// The ceiling of any wait.
    pub max: Duration,
}

impl Default for RetryPolicy {
    /// Six attempts, waits up to 1 s, 2 s, 4 s, … capped at 60 s.
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before retrying after attempt `attempt` (0 for the first send)
    /// failed: `jitter · min(base · 2^attempt, max)`. `jitter` is clamped to `[0, 1]`; NaN
    /// counts as 1 (wait the longest rather than hammer the source).
    #[must_use]
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let ceiling = 2_u32
            .checked_pow(attempt)
            .and_then(|factor| self.base.checked_mul(factor))
            .map_or(self.max, |delay| delay.min(self.max));
        let jitter = if jitter.is_nan() {
            1.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        Duration::try_from_secs_f64(ceiling.as_secs_f64() * jitter)
            .map_or(ceiling, |delay| delay.min(ceiling))
    }

    /// Whether no attempt is left after `attempts_made` sends.
    #[must_use]
    pub const fn exhausted(&self, attempts_made: u32) -> bool {
        attempts_made >= self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let secs = |attempt| policy.delay(attempt, 1.0).as_secs_f64();
        assert_eq!(
            [0, 1, 2, 5, 6, 7, 40, u32::MAX].map(secs),
            [1.0, 2.0, 4.0, 32.0, 60.0, 60.0, 60.0, 60.0]
        );
        assert_eq!(policy.delay(3, 0.0), Duration::ZERO);
        assert_eq!(policy.delay(3, 0.5), Duration::from_secs(4));
        assert_eq!(policy.delay(3, f64::NAN), Duration::from_secs(8));
        assert_eq!(policy.delay(3, 7.0), Duration::from_secs(8));
        assert_eq!(policy.delay(3, -1.0), Duration::ZERO);
    }

    #[test]
    fn huge_policies_do_not_overflow() {
        let policy = RetryPolicy {
            max_attempts: 1,
            base: Duration::MAX,
            max: Duration::MAX,
        };
        assert!(policy.delay(10, 1.0) <= Duration::MAX);
        assert!(policy.delay(0, 0.999_999_9) <= Duration::MAX);
    }

    #[test]
    fn exhausted_after_max_attempts() {
        let policy = RetryPolicy::default();
        assert!(!policy.exhausted(5));
        assert!(policy.exhausted(6));
        assert!(policy.exhausted(7));
    }
}
