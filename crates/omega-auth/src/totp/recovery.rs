//! Single-use recovery codes for members who lost their authenticator.
//!
//! A code is 12 characters from Crockford's base32 alphabet in lowercase
//! (`0-9a-z` without `i`, `l`, `o`, `u`), shown as `xxxx-xxxx-xxxx`: 60 random bits each.
//! The letters people confuse with digits never appear, and when typed anyway they are read
//! as Crockford says (`o` as `0`, `i` and `l` as `1`). Only [`recovery_code_hash`] is stored.

use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Crockford base32, lowercase.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Symbols per code (12 × 5 = 60 bits).
const CODE_SYMBOLS: usize = 12;
/// Symbols per dash-separated group.
const GROUP: usize = 4;

/// Freshly generated recovery codes, to show the member once. Zeroized on drop; `Debug`
/// prints them redacted.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RecoveryCodes {
    codes: Vec<String>,
}

impl RecoveryCodes {
    /// Draws `n` codes (the hub uses 10) formatted `xxxx-xxxx-xxxx`.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R, n: usize) -> Self {
        let codes = (0..n).map(|_| one_code(rng)).collect();
        Self { codes }
    }

    /// The codes as shown to the member.
    #[must_use]
    pub fn codes(&self) -> &[String] {
        &self.codes
    }

    /// [`recovery_code_hash`] of each code, in the same order, for storage.
    #[must_use]
    pub fn hashes(&self) -> Vec<[u8; 32]> {
        self.codes.iter().map(|c| recovery_code_hash(c)).collect()
    }
}

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self { codes } = self;
        write!(f, "RecoveryCodes(<{} redacted>)", codes.len())
    }
}

fn one_code<R: RngCore + CryptoRng>(rng: &mut R) -> String {
    let mut bits = rng.next_u64();
    let mut out = String::with_capacity(CODE_SYMBOLS + CODE_SYMBOLS / GROUP);
    for index in 0..CODE_SYMBOLS {
        if index > 0 && index % GROUP == 0 {
            out.push('-');
        }
        out.push(char::from(ALPHABET[(bits & 0x1f) as usize]));
        bits >>= 5;
    }
    bits.zeroize();
    out
}

/// The canonical form of a typed code: lowercase, spaces and dashes removed, `o` read as
/// `0` and `i`/`l` as `1`. Any other input is kept as is (it will simply not match).
#[must_use]
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            other => other,
        })
        .collect()
}

/// SHA-256 of [`normalize_recovery_code`]`(code)`: what the hub stores and looks up. The
/// codes carry 60 random bits, so a fast hash is enough.
#[must_use]
pub fn recovery_code_hash(code: &str) -> [u8; 32] {
    let mut normalized = normalize_recovery_code(code);
    let hash = Sha256::digest(normalized.as_bytes()).into();
    normalized.zeroize();
    hash
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn format_and_alphabet() {
        let mut rng = StdRng::seed_from_u64(5);
        let codes = RecoveryCodes::generate(&mut rng, 10);
        assert_eq!(codes.codes().len(), 10);
        for code in codes.codes() {
            assert_eq!(code.len(), 14, "{code}");
            let parts: Vec<&str> = code.split('-').collect();
            assert_eq!(parts.len(), 3, "{code}");
            for part in parts {
                assert_eq!(part.len(), 4);
                assert!(part.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
                assert!(!part.contains(['i', 'l', 'o', 'u']));
            }
        }
        let unique: HashSet<&String> = codes.codes().iter().collect();
        assert_eq!(unique.len(), 10);
        assert_eq!(format!("{codes:?}"), "RecoveryCodes(<10 redacted>)");
    }

    #[test]
    fn all_symbols_reachable() {
        let mut rng = StdRng::seed_from_u64(6);
        let codes = RecoveryCodes::generate(&mut rng, 200);
        let seen: HashSet<char> = codes.codes().iter().flat_map(|c| c.chars()).collect();
        assert_eq!(seen.len(), 33, "32 symbols plus the dash");
    }

    #[test]
    fn hash_normalizes_case_dashes_and_confusables() {
        let canonical = recovery_code_hash("ab01-cd23-ef45");
        for typed in [
            "ab01cd23ef45",
            "AB01-CD23-EF45",
            " ab01 cd23 ef45 ",
            "abOI-cd23-ef45",
            "ab0l-CD23-ef45",
        ] {
            assert_eq!(recovery_code_hash(typed), canonical, "{typed}");
        }
        assert_ne!(recovery_code_hash("ab01-cd23-ef46"), canonical);
        assert_eq!(canonical, <[u8; 32]>::from(Sha256::digest(b"ab01cd23ef45")));
    }

    #[test]
    fn hashes_match_codes() {
        let mut rng = StdRng::seed_from_u64(7);
        let codes = RecoveryCodes::generate(&mut rng, 3);
        let hashes = codes.hashes();
        for (code, hash) in codes.codes().iter().zip(&hashes) {
            assert_eq!(recovery_code_hash(&code.to_uppercase()), *hash);
        }
    }
}
