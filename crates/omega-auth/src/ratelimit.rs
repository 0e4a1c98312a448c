//! Sans-IO request limits: a keyed token bucket ([`KeyedLimiter`]) and a brute-force login
//! [`Lockout`]. Both take the time as `now_ms` (unix or any monotonic milliseconds, as long
//! as the caller is consistent), never read a clock, and hold a bounded number of keys.
//!
//! When full, both forget idle keys first and then the least recently active ones. Forgetting
//! an active key forgives it, so size `max_keys` well above the expected number of
//! concurrent clients; an attacker who can mint keys can always flush state, which is why
//! the hub keys login lockouts by account and rate limits by address.

mod lockout;

use std::collections::HashMap;
use std::hash::Hash;

pub use lockout::{LOCKOUT_RESET_AFTER_MS, Lockout, LockoutConfig};

/// How long to wait before trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limited: retry after {ms} ms")]
pub struct RetryAfter {
    /// Milliseconds until the next attempt can succeed.
    pub ms: u64,
}

impl RetryAfter {
    /// Whole seconds, rounded up and at least 1, for an HTTP `Retry-After` header.
    #[must_use]
    pub fn secs_ceil(&self) -> u64 {
        self.ms.div_ceil(1000).max(1)
    }
}

/// Token bucket parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitConfig {
    /// Bucket size: requests allowed at once after being idle (at least 1 is used).
    pub burst: u32,
    /// Tokens added per second; zero, negative or non-finite means never refilled.
    pub per_second: f64,
    /// Most keys tracked (at least 1 is used).
    pub max_keys: usize,
}

/// Slack for floating-point rounding in token arithmetic (a millionth of a token or
/// millisecond), so a wait computed as 1.000000001 ms is 1 ms, not 2.
const EPSILON: f64 = 1e-6;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last_ms: u64,
}

/// A token bucket per key.
#[derive(Debug, Clone)]
pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    config: LimitConfig,
    buckets: HashMap<K, Bucket>,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// An empty limiter.
    #[must_use]
    pub fn new(config: LimitConfig) -> Self {
        Self {
            config: sanitize(config),
            buckets: HashMap::new(),
        }
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> LimitConfig {
        self.config
    }

    /// Replaces the configuration, keeping every bucket (capped to the new burst) and
    /// forgetting keys over the new `max_keys` (judged at the latest time seen).
    pub fn reconfigure(&mut self, config: LimitConfig) {
        self.config = sanitize(config);
        let now_ms = self.buckets.values().map(|b| b.last_ms).max().unwrap_or(0);
        let burst = f64::from(self.config.burst);
        for bucket in self.buckets.values_mut() {
            bucket.tokens = bucket.tokens.min(burst);
        }
        while self.buckets.len() > self.config.max_keys {
            self.evict(now_ms);
        }
    }

    /// Takes one token for `key` at `now_ms`, or says how long until one is available.
    ///
    /// # Errors
    /// [`RetryAfter`] when the bucket is empty (`u64::MAX` ms if it never refills).
    pub fn check(&mut self, key: &K, now_ms: u64) -> Result<(), RetryAfter> {
        let config = self.config;
        if !self.buckets.contains_key(key) {
            if self.buckets.len() >= config.max_keys {
                self.evict(now_ms);
            }
            self.buckets.insert(
                key.clone(),
                Bucket {
                    tokens: f64::from(config.burst),
                    last_ms: now_ms,
                },
            );
        }
        let Some(bucket) = self.buckets.get_mut(key) else {
            return Ok(());
        };
        refill(bucket, &config, now_ms);
        if bucket.tokens >= 1.0 - EPSILON {
            bucket.tokens = (bucket.tokens - 1.0).max(0.0);
            return Ok(());
        }
        if config.per_second <= 0.0 {
            return Err(RetryAfter { ms: u64::MAX });
        }
        let wait_ms = ((1.0 - bucket.tokens) * 1000.0 / config.per_second - EPSILON).ceil();
        Err(RetryAfter {
            ms: float_to_ms(wait_ms).max(1),
        })
    }

    /// Forgets `key` (for example after it authenticated).
    pub fn forget(&mut self, key: &K) {
        self.buckets.remove(key);
    }

    /// Keys currently tracked.
    #[must_use]
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no key is tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Frees room: drops every bucket that has refilled completely (a fresh bucket is the
    /// same), and if none has, the least recently used sixteenth (at least one), so the
    /// scan is paid once per many inserts.
    fn evict(&mut self, now_ms: u64) {
        let config = self.config;
        let burst = f64::from(config.burst);
        let before = self.buckets.len();
        self.buckets.retain(|_, bucket| {
            let mut probe = *bucket;
            refill(&mut probe, &config, now_ms);
            probe.tokens < burst
        });
        if self.buckets.len() < before {
            return;
        }
        let mut ages: Vec<u64> = self.buckets.values().map(|b| b.last_ms).collect();
        let n_evict = (config.max_keys / 16).max(1).min(ages.len());
        if n_evict == 0 {
            return;
        }
        let (_, cutoff, _) = ages.select_nth_unstable(n_evict - 1);
        let cutoff = *cutoff;
        let mut removed = 0;
        self.buckets.retain(|_, bucket| {
            if removed < n_evict && bucket.last_ms <= cutoff {
                removed += 1;
                false
            } else {
                true
            }
        });
    }
}

fn sanitize(config: LimitConfig) -> LimitConfig {
    LimitConfig {
        burst: config.burst.max(1),
        per_second: if config.per_second.is_finite() && config.per_second > 0.0 {
            config.per_second
        } else {
            0.0
        },
        max_keys: config.max_keys.max(1),
    }
}

fn refill(bucket: &mut Bucket, config: &LimitConfig, now_ms: u64) {
    // A clock that steps backwards adds nothing and moves the reference point back.
    let elapsed_ms = now_ms.saturating_sub(bucket.last_ms);
    #[allow(clippy::cast_precision_loss)] // exact up to 2^53 ms, about 285 000 years
    let added = elapsed_ms as f64 * config.per_second / 1000.0;
    bucket.tokens = (bucket.tokens + added).min(f64::from(config.burst));
    bucket.last_ms = now_ms;
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn float_to_ms(value: f64) -> u64 {
    // `as` saturates: NaN to 0, too large to u64::MAX.
    value as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(burst: u32, per_second: f64, max_keys: usize) -> KeyedLimiter<&'static str> {
        KeyedLimiter::new(LimitConfig {
            burst,
            per_second,
            max_keys,
        })
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(RetryAfter { ms: 0 }.secs_ceil(), 1);
        assert_eq!(RetryAfter { ms: 1 }.secs_ceil(), 1);
        assert_eq!(RetryAfter { ms: 1000 }.secs_ceil(), 1);
        assert_eq!(RetryAfter { ms: 1001 }.secs_ceil(), 2);
        assert_eq!(
            RetryAfter { ms: u64::MAX }.secs_ceil(),
            u64::MAX.div_ceil(1000)
        );
    }

    #[test]
    fn burst_then_refill() {
        let mut limiter = limiter(3, 2.0, 10);
        let t = 1_000_000;
        for _ in 0..3 {
            assert_eq!(limiter.check(&"a", t), Ok(()));
        }
        assert_eq!(limiter.check(&"a", t), Err(RetryAfter { ms: 500 }));
        assert_eq!(limiter.check(&"a", t + 499), Err(RetryAfter { ms: 1 }));
        assert_eq!(limiter.check(&"a", t + 500), Ok(()));
        assert_eq!(limiter.check(&"a", t + 500), Err(RetryAfter { ms: 500 }));
        // Other keys are independent.
        assert_eq!(limiter.check(&"b", t), Ok(()));
        // Refill caps at the burst.
        let later = t + 60_000;
        for _ in 0..3 {
            assert_eq!(limiter.check(&"a", later), Ok(()));
        }
        assert!(limiter.check(&"a", later).is_err());
    }

    #[test]
    fn clock_going_backwards_does_not_refill() {
        let mut limiter = limiter(1, 1.0, 10);
        assert_eq!(limiter.check(&"a", 10_000), Ok(()));
        assert!(limiter.check(&"a", 5_000).is_err());
        assert!(limiter.check(&"a", 5_999).is_err());
        assert_eq!(limiter.check(&"a", 6_000), Ok(()));
    }

    #[test]
    fn zero_rate_never_refills_and_odd_config_is_sanitized() {
        let mut limiter = limiter(0, f64::NAN, 0);
        assert_eq!(limiter.config().burst, 1);
        assert_eq!(limiter.config().max_keys, 1);
        assert_eq!(limiter.check(&"a", 0), Ok(()));
        assert_eq!(
            limiter.check(&"a", u64::MAX),
            Err(RetryAfter { ms: u64::MAX })
        );
    }

    #[test]
    fn eviction_prefers_idle_buckets() {
        let mut limiter = limiter(2, 1.0, 3);
        limiter.check(&"idle", 0).unwrap();
        limiter.check(&"busy1", 900).unwrap();
        limiter.check(&"busy1", 900).unwrap();
        limiter.check(&"busy2", 950).unwrap();
        limiter.check(&"busy2", 950).unwrap();
        // At 1000 ms "idle" has refilled to 2 tokens; it goes, the busy ones stay.
        limiter.check(&"new", 1000).unwrap();
        assert_eq!(limiter.len(), 3);
        assert!(limiter.check(&"busy1", 1000).is_err());
        assert!(limiter.check(&"busy2", 1000).is_err());
    }

    #[test]
    fn eviction_then_oldest() {
        let mut limiter = limiter(1, 0.001, 3);
        for (i, key) in ["k0", "k1", "k2"].into_iter().enumerate() {
            limiter.check(&key, i as u64).unwrap();
        }
        limiter.check(&"k3", 10).unwrap();
        assert_eq!(limiter.len(), 3);
        // k0 was the oldest, so it was forgotten and has a fresh bucket again.
        assert!(limiter.check(&"k1", 10).is_err());
        assert!(limiter.check(&"k2", 10).is_err());
        assert!(limiter.check(&"k3", 10).is_err());
        assert_eq!(limiter.check(&"k0", 10), Ok(()));
    }

    #[test]
    fn memory_stays_bounded() {
        let mut limiter: KeyedLimiter<u32> = KeyedLimiter::new(LimitConfig {
            burst: 5,
            per_second: 0.01,
            max_keys: 100,
        });
        for key in 0..10_000u32 {
            let _ = limiter.check(&key, u64::from(key));
            assert!(limiter.len() <= 100);
        }
    }

    #[test]
    fn reconfigure_keeps_state() {
        let mut limiter = limiter(5, 1.0, 10);
        for _ in 0..5 {
            limiter.check(&"a", 0).unwrap();
        }
        limiter.check(&"b", 0).unwrap();
        limiter.reconfigure(LimitConfig {
            burst: 2,
            per_second: 1.0,
            max_keys: 10,
        });
        assert!(limiter.check(&"a", 0).is_err(), "a stays empty");
        assert_eq!(limiter.check(&"b", 0), Ok(()), "b had 4, capped to 2");
        assert_eq!(limiter.check(&"b", 0), Ok(()));
        assert!(limiter.check(&"b", 0).is_err());
        limiter.reconfigure(LimitConfig {
            burst: 2,
            per_second: 1.0,
            max_keys: 1,
        });
        assert_eq!(limiter.len(), 1);
    }
}
