//! Pure state machines of the mailbox protocol, driven with injected time: one-time challenges,
//! fetch sessions and per-source rate limits. No IO, no clock.

use std::collections::HashMap;
use std::hash::Hash;

/// Outstanding challenges: each nonce is valid once, until its expiry.
#[derive(Debug, Default)]
pub struct Challenges {
    pending: HashMap<[u8; 32], i64>,
    ttl_ms: i64,
    max_pending: usize,
}

/// Why a challenge answer was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeError {
    /// Never issued, already used, or expired.
    Stale,
}

impl Challenges {
    pub fn new(ttl_ms: i64, max_pending: usize) -> Self {
        Challenges {
            pending: HashMap::new(),
            ttl_ms,
            max_pending,
        }
    }

    /// Registers a fresh nonce (chosen by the caller's RNG); returns its expiry.
    pub fn issue(&mut self, nonce: [u8; 32], now_ms: i64) -> i64 {
        if self.pending.len() >= self.max_pending {
            self.pending.retain(|_, expires| *expires > now_ms);
            if self.pending.len() >= self.max_pending {
                // Drop the oldest: a flood of challenge requests cannot grow memory.
                if let Some(oldest) = self
                    .pending
                    .iter()
                    .min_by_key(|(_, expires)| **expires)
                    .map(|(nonce, _)| *nonce)
                {
                    self.pending.remove(&oldest);
                }
            }
        }
        let expires = now_ms + self.ttl_ms;
        self.pending.insert(nonce, expires);
        expires
    }

    /// Consumes a nonce: succeeds once, before expiry.
    pub fn redeem(&mut self, nonce: &[u8], now_ms: i64) -> Result<(), ChallengeError> {
        let key: [u8; 32] = nonce.try_into().map_err(|_| ChallengeError::Stale)?;
        match self.pending.remove(&key) {
            Some(expires) if expires > now_ms => Ok(()),
            _ => Err(ChallengeError::Stale),
        }
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// An authenticated device's access to its mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub recipient_hash: [u8; 32],
    pub user_key: [u8; 32],
    pub device_ed25519: [u8; 32],
    pub device_curve25519: [u8; 32],
    pub expires_ms: i64,
}

/// Bearer tokens handed out after a successful challenge.
#[derive(Debug, Default)]
pub struct Sessions {
    grants: HashMap<[u8; 32], Grant>,
    ttl_ms: i64,
    max_sessions: usize,
}

impl Sessions {
    pub fn new(ttl_ms: i64, max_sessions: usize) -> Self {
        Sessions {
            grants: HashMap::new(),
            ttl_ms,
            max_sessions,
        }
    }

    pub fn ttl_ms(&self) -> i64 {
        self.ttl_ms
    }

    /// Stores a grant under a fresh token (chosen by the caller's RNG).
    pub fn open(&mut self, token: [u8; 32], mut grant: Grant, now_ms: i64) -> i64 {
        if self.grants.len() >= self.max_sessions {
            self.grants.retain(|_, grant| grant.expires_ms > now_ms);
        }
        grant.expires_ms = now_ms + self.ttl_ms;
        let expires = grant.expires_ms;
        self.grants.insert(token, grant);
        expires
    }

    /// The grant behind a token, if it is still valid.
    pub fn check(&self, token: &[u8], now_ms: i64) -> Option<&Grant> {
        let key: [u8; 32] = token.try_into().ok()?;
        self.grants
            .get(&key)
            .filter(|grant| grant.expires_ms > now_ms)
    }

    /// Devices of a user that hold a session.
    pub fn devices_of(&self, user_key: &[u8; 32]) -> Vec<[u8; 32]> {
        let mut devices: Vec<[u8; 32]> = self
            .grants
            .values()
            .filter(|grant| &grant.user_key == user_key)
            .map(|grant| grant.device_ed25519)
            .collect();
        devices.sort_unstable();
        devices.dedup();
        devices
    }

    /// Ends every session of a device (after it was removed from its user's device list).
    pub fn revoke_device(&mut self, device_ed25519: &[u8; 32]) {
        self.grants
            .retain(|_, grant| &grant.device_ed25519 != device_ed25519);
    }
}

/// Token-bucket rate limiting per source (a peer id or an IP address).
#[derive(Debug)]
pub struct RateLimiter<K> {
    buckets: HashMap<K, (f64, i64)>,
    per_second: f64,
    burst: f64,
    max_sources: usize,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    pub fn new(per_second: f64, burst: f64, max_sources: usize) -> Self {
        RateLimiter {
            buckets: HashMap::new(),
            per_second,
            burst,
            max_sources,
        }
    }

    /// Takes one token for `source`; on refusal returns how long to wait (ms).
    pub fn check(&mut self, source: &K, now_ms: i64) -> Result<(), u64> {
        self.check_n(source, 1.0, now_ms)
    }

    /// Takes `n` tokens (e.g. bytes) for `source`; on refusal takes none and returns how long
    /// to wait (ms) until `n` are there. A request larger than the burst waits for a full
    /// bucket and then goes through, so it is slowed, never refused forever.
    pub fn check_n(&mut self, source: &K, n: f64, now_ms: i64) -> Result<(), u64> {
        if !self.buckets.contains_key(source) && self.buckets.len() >= self.max_sources {
            // Forget sources whose bucket refilled completely: they carry no state worth keeping.
            let (per_second, burst) = (self.per_second, self.burst);
            self.buckets.retain(|_, (tokens, at)| {
                *tokens + (now_ms - *at) as f64 / 1000.0 * per_second < burst
            });
        }
        let (tokens, at) = self
            .buckets
            .entry(source.clone())
            .or_insert((self.burst, now_ms));
        let elapsed = (now_ms - *at).max(0) as f64 / 1000.0;
        *tokens = (*tokens + elapsed * self.per_second).min(self.burst);
        *at = now_ms;
        let n = n.min(self.burst);
        if *tokens >= n {
            *tokens -= n;
            Ok(())
        } else {
            let missing = n - *tokens;
            Err((missing / self.per_second * 1000.0).ceil() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_buckets_take_n_tokens_refuse_without_taking_and_refill_with_time() {
        let mut limiter = RateLimiter::new(100.0, 1000.0, 10);
        assert_eq!(limiter.check_n(&"a", 600.0, 0), Ok(()));
        // 400 left: 600 more would need 200 more tokens, 2 s at 100/s.
        assert_eq!(limiter.check_n(&"a", 600.0, 0), Err(2000));
        assert_eq!(
            limiter.check_n(&"a", 400.0, 0),
            Ok(()),
            "the refusal took nothing"
        );
        assert_eq!(
            limiter.check_n(&"b", 1000.0, 0),
            Ok(()),
            "buckets are per source"
        );
        assert_eq!(limiter.check_n(&"a", 500.0, 5000), Ok(()), "refilled");
        // Larger than the burst: waits for a full bucket, then passes.
        assert!(limiter.check_n(&"a", 5000.0, 5000).is_err());
        assert_eq!(limiter.check_n(&"a", 5000.0, 20_000), Ok(()));
    }

    #[test]
    fn a_challenge_is_redeemed_once_and_only_before_expiry() {
        let mut challenges = Challenges::new(1_000, 10);
        challenges.issue([1; 32], 0);
        assert_eq!(challenges.redeem(&[1; 32], 10), Ok(()));
        assert_eq!(
            challenges.redeem(&[1; 32], 20),
            Err(ChallengeError::Stale),
            "replay"
        );
        challenges.issue([2; 32], 0);
        assert_eq!(
            challenges.redeem(&[2; 32], 1_000),
            Err(ChallengeError::Stale),
            "expired"
        );
        assert_eq!(
            challenges.redeem(&[3; 32], 0),
            Err(ChallengeError::Stale),
            "never issued"
        );
        assert_eq!(challenges.redeem(b"short", 0), Err(ChallengeError::Stale));
    }

    #[test]
    fn challenge_flood_is_bounded() {
        let mut challenges = Challenges::new(1_000_000, 100);
        for n in 0..10_000u32 {
            let mut nonce = [0u8; 32];
            nonce[..4].copy_from_slice(&n.to_be_bytes());
            challenges.issue(nonce, i64::from(n));
        }
        assert!(challenges.len() <= 100);
    }

    #[test]
    fn sessions_expire_and_devices_can_be_revoked() {
        let mut sessions = Sessions::new(100, 10);
        let grant = Grant {
            recipient_hash: [1; 32],
            user_key: [2; 32],
            device_ed25519: [3; 32],
            device_curve25519: [4; 32],
            expires_ms: 0,
        };
        sessions.open([9; 32], grant.clone(), 0);
        assert!(sessions.check(&[9; 32], 50).is_some());
        assert!(sessions.check(&[9; 32], 100).is_none(), "expired");
        sessions.open([8; 32], grant, 0);
        sessions.revoke_device(&[3; 32]);
        assert!(sessions.check(&[8; 32], 1).is_none(), "revoked");
    }

    #[test]
    fn rate_limit_allows_the_burst_then_refills_over_time() {
        let mut limiter = RateLimiter::new(10.0, 5.0, 100);
        for _ in 0..5 {
            assert!(limiter.check(&"a", 0).is_ok());
        }
        let wait = limiter.check(&"a", 0).unwrap_err();
        assert_eq!(wait, 100, "one token every 100 ms");
        assert!(
            limiter.check(&"b", 0).is_ok(),
            "other sources are not affected"
        );
        assert!(limiter.check(&"a", 100).is_ok(), "refilled");
    }
}
