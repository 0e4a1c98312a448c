//! Consecutive failed logins per key, with exponential lock.

use std::collections::HashMap;

use super::RetryAfter;

/// Brute-force lockout parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutConfig {
    /// Consecutive failures allowed before the first lock.
    pub free_failures: u32,
    /// First lock duration; each further failure doubles it.
    pub base_ms: u64,
    /// Longest lock.
    pub max_ms: u64,
    /// Most keys tracked (at least 1 is used).
    pub max_keys: usize,
}

impl Default for LockoutConfig {
    /// 5 free failures, then 1 s doubling up to 15 min; 100 000 keys.
    fn default() -> Self {
        Self {
            free_failures: 5,
            base_ms: 1_000,
            max_ms: 15 * 60 * 1_000,
            max_keys: 100_000,
        }
    }
}

/// A key with no failure for this long starts again from zero failures (24 h), so old
/// typos do not count against a member forever.
pub const LOCKOUT_RESET_AFTER_MS: u64 = 24 * 60 * 60 * 1_000;

#[derive(Debug, Clone, Copy)]
struct Strikes {
    failures: u32,
    last_failure_ms: u64,
    locked_until_ms: u64,
}

/// Consecutive failed logins per key (account or account+address), with exponential lock.
#[derive(Debug, Clone, Default)]
pub struct Lockout {
    config: LockoutConfig,
    entries: HashMap<String, Strikes>,
}

impl Lockout {
    /// An empty tracker.
    #[must_use]
    pub fn new(config: LockoutConfig) -> Self {
        Self {
            config,
            entries: HashMap::new(),
        }
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> LockoutConfig {
        self.config
    }

    /// Replaces the configuration, keeping every count and lock in progress (new locks use
    /// the new durations) and forgetting keys over the new `max_keys` (judged at the latest
    /// failure seen).
    pub fn reconfigure(&mut self, config: LockoutConfig) {
        self.config = config;
        let now_ms = self
            .entries
            .values()
            .map(|s| s.last_failure_ms)
            .max()
            .unwrap_or(0);
        while self.entries.len() > config.max_keys.max(1) {
            self.evict(now_ms);
        }
    }

    /// Whether `key` may attempt a login at `now_ms`. Call before verifying the password.
    ///
    /// # Errors
    /// [`RetryAfter`] while the key is locked.
    pub fn check(&self, key: &str, now_ms: u64) -> Result<(), RetryAfter> {
        match self.entries.get(key) {
            Some(strikes) if strikes.locked_until_ms > now_ms => Err(RetryAfter {
                ms: strikes.locked_until_ms - now_ms,
            }),
            _ => Ok(()),
        }
    }

    /// Records a failed attempt. From the `free_failures`-th consecutive failure on, the key
    /// is locked for `base_ms * 2^(failures - free_failures)`, at most `max_ms`. A key quiet
    /// for [`LOCKOUT_RESET_AFTER_MS`] starts again from zero.
    pub fn record_failure(&mut self, key: &str, now_ms: u64) {
        let config = self.config;
        if !self.entries.contains_key(key) && self.entries.len() >= config.max_keys.max(1) {
            self.evict(now_ms);
        }
        let strikes = self.entries.entry(key.to_owned()).or_insert(Strikes {
            failures: 0,
            last_failure_ms: now_ms,
            locked_until_ms: 0,
        });
        if now_ms.saturating_sub(strikes.last_failure_ms) >= LOCKOUT_RESET_AFTER_MS {
            strikes.failures = 0;
        }
        strikes.failures = strikes.failures.saturating_add(1);
        strikes.last_failure_ms = now_ms;
        if strikes.failures >= config.free_failures.max(1) {
            let doublings = strikes.failures - config.free_failures.max(1);
            let lock_ms = 1u64
                .checked_shl(doublings)
                .and_then(|factor| config.base_ms.checked_mul(factor))
                .map_or(config.max_ms, |ms| ms.min(config.max_ms));
            strikes.locked_until_ms = now_ms.saturating_add(lock_ms);
        }
    }

    /// Records a successful login: the key starts again from zero.
    pub fn record_success(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// Consecutive failures currently counted for `key`.
    #[must_use]
    pub fn failures(&self, key: &str) -> u32 {
        self.entries.get(key).map_or(0, |s| s.failures)
    }

    /// Keys currently tracked.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Frees room: drops keys quiet for [`LOCKOUT_RESET_AFTER_MS`] and not locked (they
    /// would start from zero anyway); failing that, unlocked keys; failing that, the least
    /// recently failed sixteenth (at least one).
    fn evict(&mut self, now_ms: u64) {
        let config = self.config;
        let before = self.entries.len();
        self.entries.retain(|_, s| {
            s.locked_until_ms > now_ms
                || now_ms.saturating_sub(s.last_failure_ms) < LOCKOUT_RESET_AFTER_MS
        });
        if self.entries.len() < before {
            return;
        }
        self.entries.retain(|_, s| s.locked_until_ms > now_ms);
        if self.entries.len() < before {
            return;
        }
        let mut ages: Vec<u64> = self.entries.values().map(|s| s.last_failure_ms).collect();
        let n_evict = (config.max_keys / 16).max(1).min(ages.len());
        if n_evict == 0 {
            return;
        }
        let (_, cutoff, _) = ages.select_nth_unstable(n_evict - 1);
        let cutoff = *cutoff;
        let mut removed = 0;
        self.entries.retain(|_, s| {
            if removed < n_evict && s.last_failure_ms <= cutoff {
                removed += 1;
                false
            } else {
                true
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_exponential_and_capped() {
        let mut lockout = Lockout::default();
        let key = "acct:ana";
        let mut now = 1_000_000;
        for _ in 0..4 {
            lockout.record_failure(key, now);
            assert_eq!(lockout.check(key, now), Ok(()));
        }
        let mut expected = 1_000;
        for _ in 0..15 {
            lockout.record_failure(key, now);
            assert_eq!(lockout.check(key, now), Err(RetryAfter { ms: expected }));
            assert!(lockout.check(key, now + expected - 1).is_err());
            assert_eq!(lockout.check(key, now + expected), Ok(()));
            now += expected;
            expected = (expected * 2).min(15 * 60 * 1000);
        }
        assert_eq!(lockout.failures(key), 19);
        assert_eq!(lockout.check("other", now), Ok(()));
        lockout.record_success(key);
        assert_eq!(lockout.failures(key), 0);
        assert_eq!(lockout.check(key, now), Ok(()));
        for _ in 0..100 {
            lockout.record_failure(key, now);
        }
        assert_eq!(
            lockout.check(key, now),
            Err(RetryAfter { ms: 15 * 60 * 1000 })
        );
    }

    #[test]
    fn lockout_reconfigure_keeps_state() {
        let mut lockout = Lockout::default();
        for _ in 0..5 {
            lockout.record_failure("a", 0);
        }
        lockout.record_failure("b", 0);
        lockout.reconfigure(LockoutConfig {
            free_failures: 2,
            base_ms: 10,
            max_ms: 100,
            max_keys: 10,
        });
        assert_eq!(lockout.failures("a"), 5);
        assert_eq!(
            lockout.check("a", 0),
            Err(RetryAfter { ms: 1_000 }),
            "lock kept"
        );
        lockout.record_failure("b", 0);
        assert_eq!(
            lockout.check("b", 0),
            Err(RetryAfter { ms: 10 }),
            "new durations"
        );
        lockout.record_failure("a", 0);
        assert_eq!(
            lockout.check("a", 0),
            Err(RetryAfter { ms: 100 }),
            "10 * 2^4 capped"
        );
        lockout.reconfigure(LockoutConfig {
            max_keys: 1,
            ..lockout.config()
        });
        assert_eq!(lockout.len(), 1);
    }

    #[test]
    fn lockout_resets_after_quiet_period() {
        let mut lockout = Lockout::default();
        for _ in 0..4 {
            lockout.record_failure("k", 0);
        }
        lockout.record_failure("k", LOCKOUT_RESET_AFTER_MS);
        assert_eq!(lockout.failures("k"), 1);
        assert_eq!(lockout.check("k", LOCKOUT_RESET_AFTER_MS), Ok(()));
    }

    #[test]
    fn lockout_memory_bounded_and_keeps_locked_keys() {
        let mut lockout = Lockout::new(LockoutConfig {
            free_failures: 1,
            max_keys: 50,
            ..LockoutConfig::default()
        });
        lockout.record_failure("victim", 0);
        for i in 0..5_000u64 {
            lockout.record_failure(&format!("spray{i}"), 2_000 + i * 1_000);
            assert!(lockout.len() <= 50);
        }
        assert_eq!(
            lockout.failures("victim"),
            0,
            "unlocked victim forgotten under spray"
        );
        let mut lockout = Lockout::new(LockoutConfig {
            max_keys: 2,
            ..LockoutConfig::default()
        });
        for _ in 0..5 {
            lockout.record_failure("locked", 0);
        }
        lockout.record_failure("unlocked", 0);
        lockout.record_failure("third", 10);
        assert!(
            lockout.check("locked", 10).is_err(),
            "unlocked keys go first"
        );
        assert_eq!(lockout.failures("unlocked"), 0);
    }

    #[test]
    fn all_keys_locked_evicts_oldest() {
        let mut lockout = Lockout::new(LockoutConfig {
            free_failures: 1,
            base_ms: 60_000,
            max_keys: 3,
            ..LockoutConfig::default()
        });
        for (i, key) in ["k0", "k1", "k2", "k3"].into_iter().enumerate() {
            lockout.record_failure(key, i as u64);
        }
        assert_eq!(lockout.len(), 3);
        assert_eq!(lockout.failures("k0"), 0);
        assert!(lockout.check("k1", 10).is_err());
    }
}
