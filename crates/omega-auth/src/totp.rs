//! Time-based one-time passwords exactly as RFC 6238 (HMAC-SHA-1, 6 digits, 30-second
//! step, T0 = 0) over RFC 4226 HOTP, and single-use recovery codes ([`RecoveryCodes`]).
//!
//! These are the parameters every authenticator app supports; the `otpauth://` URI from
//! [`otpauth_uri`] spells them out anyway. Replay protection needs the caller to store the
//! last accepted time step per member and pass it back to [`verify`].

mod recovery;

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, KeyInit, Mac};
use rand::{CryptoRng, RngCore};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

pub use recovery::{RecoveryCodes, normalize_recovery_code, recovery_code_hash};

/// Bytes in a [`TotpSecret`] (160 bits, the HMAC-SHA-1 output size RFC 4226 §4 recommends).
pub const SECRET_LEN: usize = 20;
/// Digits in a code.
pub const DIGITS: u32 = 6;
/// Seconds per time step.
pub const PERIOD_SECS: u64 = 30;
/// Steps accepted either side of the current one, for clock drift.
pub const SKEW_STEPS: u64 = 1;

/// A member's TOTP shared secret. Zeroized on drop; `Debug` prints it redacted.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct TotpSecret {
    bytes: [u8; SECRET_LEN],
}

/// Why a base32 TOTP secret could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretDecodeError {
    /// Not RFC 4648 base32.
    #[error("totp secret is not valid base32")]
    Base32,
    /// Decoded to the wrong number of bytes.
    #[error("totp secret has wrong length: expected {expected} bytes, got {got}")]
    Length {
        /// Bytes required.
        expected: usize,
        /// Bytes decoded.
        got: usize,
    },
}

/// Why a submitted TOTP code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TotpError {
    /// Not exactly six ASCII digits after trimming whitespace.
    #[error("totp code malformed: expected 6 ascii digits")]
    Malformed,
    /// The code matches no step in the accepted window.
    #[error("totp code does not match")]
    Mismatch,
    /// The code matches, but its step was already used (or an older one was).
    #[error("totp code already used")]
    Replayed,
}

impl TotpSecret {
    /// A fresh random secret.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut bytes = [0u8; SECRET_LEN];
        rng.fill_bytes(&mut bytes);
        Self { bytes }
    }

    /// Wraps raw secret bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; SECRET_LEN]) -> Self {
        Self { bytes }
    }

    /// Reads a secret written by [`Self::to_base32`]. Case, spaces, dashes and `=` padding
    /// are tolerated, as people copy secrets by hand.
    ///
    /// # Errors
    /// [`SecretDecodeError::Base32`] or [`SecretDecodeError::Length`] (must be 20 bytes).
    pub fn from_base32(text: &str) -> Result<Self, SecretDecodeError> {
        let mut cleaned: Vec<u8> = text
            .bytes()
            .filter(|b| !b.is_ascii_whitespace() && *b != b'-' && *b != b'=')
            .map(|b| b.to_ascii_uppercase())
            .collect();
        let decoded = BASE32_NOPAD.decode(&cleaned);
        cleaned.zeroize();
        let mut decoded = decoded.map_err(|_| SecretDecodeError::Base32)?;
        let result = match <[u8; SECRET_LEN]>::try_from(decoded.as_slice()) {
            Ok(bytes) => Ok(Self { bytes }),
            Err(_) => Err(SecretDecodeError::Length {
                expected: SECRET_LEN,
                got: decoded.len(),
            }),
        };
        decoded.zeroize();
        result
    }

    /// RFC 4648 base32, uppercase, no padding (32 characters), as authenticator apps expect.
    #[must_use]
    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.bytes)
    }

    /// The raw secret bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; SECRET_LEN] {
        &self.bytes
    }
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self { bytes: _ } = self;
        f.write_str("TotpSecret(<redacted>)")
    }
}

/// RFC 4226 HOTP: HMAC-SHA-1 of the big-endian counter, dynamic truncation, modulo
/// 10^`digits`, zero-padded to `digits` characters. `digits` is clamped to 1..=9.
#[must_use]
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let digits = digits.clamp(1, 9);
    // HMAC accepts keys of any length, so this never fails; an empty string can match no
    // code, so even the impossible branch fails closed.
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    let value = binary % 10u32.pow(digits);
    format!("{value:0width$}", width = digits as usize)
}

/// The time step containing `unix_secs`.
#[must_use]
pub fn step_at(unix_secs: u64) -> u64 {
    unix_secs / PERIOD_SECS
}

/// The six-digit code for `unix_secs`.
#[must_use]
pub fn code_at(secret: &TotpSecret, unix_secs: u64) -> String {
    hotp(&secret.bytes, step_at(unix_secs), DIGITS)
}

/// Checks a submitted code at `unix_secs`, accepting the current step and one step either
/// side. `last_used_step` is the step of the last code this member used; a code whose step
/// is not after it is refused, so each code works once and older codes never do.
///
/// Returns the matched step; store it as the new `last_used_step`.
///
/// # Errors
/// [`TotpError::Malformed`], [`TotpError::Mismatch`] or [`TotpError::Replayed`].
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    unix_secs: u64,
    last_used_step: Option<u64>,
) -> Result<u64, TotpError> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TotpError::Malformed);
    }
    let now = step_at(unix_secs);
    let mut best_fresh: Option<u64> = None;
    let mut matched_any = false;
    // Every candidate is computed and compared, so timing does not reveal which one matched.
    for step in now.saturating_sub(SKEW_STEPS)..=now.saturating_add(SKEW_STEPS) {
        let expected = hotp(&secret.bytes, step, DIGITS);
        let is_match = bool::from(expected.as_bytes().ct_eq(code.as_bytes()));
        if is_match {
            matched_any = true;
            if last_used_step.is_none_or(|last| step > last) {
                best_fresh = Some(best_fresh.map_or(step, |best| best.max(step)));
            }
        }
    }
    match best_fresh {
        Some(step) => Ok(step),
        None if matched_any => Err(TotpError::Replayed),
        None => Err(TotpError::Mismatch),
    }
}

/// The `otpauth://` provisioning URI (Google Authenticator Key Uri Format) to show as a QR
/// code: `otpauth://totp/Issuer:account?secret=…&issuer=Issuer&algorithm=SHA1&digits=6&period=30`.
/// Issuer and account are percent-encoded (everything but RFC 3986 unreserved characters).
#[must_use]
pub fn otpauth_uri(secret: &TotpSecret, issuer: &str, account: &str) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={PERIOD_SECS}",
        account = percent_encode(account),
        secret = secret.to_base32(),
    )
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    const RFC_KEY: &[u8; 20] = b"12345678901234567890";

    #[test]
    fn rfc4226_appendix_d() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(hotp(RFC_KEY, counter as u64, 6), *want, "counter {counter}");
        }
    }

    #[test]
    fn rfc6238_appendix_b_sha1() {
        let secret = TotpSecret::from_bytes(*RFC_KEY);
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, want) in vectors {
            assert_eq!(hotp(RFC_KEY, time / 30, 8), want, "time {time}");
            assert_eq!(code_at(&secret, time), want[2..], "time {time}");
            assert_eq!(verify(&secret, &want[2..], time, None), Ok(time / 30));
        }
    }

    #[test]
    fn base32_round_trip_and_tolerance() {
        let secret = TotpSecret::from_bytes(*RFC_KEY);
        let text = secret.to_base32();
        assert_eq!(text, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let spaced = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq";
        assert_eq!(TotpSecret::from_base32(spaced).unwrap().as_bytes(), RFC_KEY);
        assert_eq!(TotpSecret::from_base32(&text).unwrap().as_bytes(), RFC_KEY);
        assert_eq!(
            TotpSecret::from_base32("GEZDGNBV").unwrap_err(),
            SecretDecodeError::Length {
                expected: 20,
                got: 5
            }
        );
        assert_eq!(
            TotpSecret::from_base32("not base32 at all!").unwrap_err(),
            SecretDecodeError::Base32
        );
    }

    #[test]
    fn generate_is_random_and_debug_is_redacted() {
        let mut rng = StdRng::seed_from_u64(9);
        let a = TotpSecret::generate(&mut rng);
        let b = TotpSecret::generate(&mut rng);
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_eq!(format!("{a:?}"), "TotpSecret(<redacted>)");
    }

    #[test]
    fn skew_one_step_accepted_two_refused() {
        let secret = TotpSecret::from_bytes(*RFC_KEY);
        let now: u64 = 1_700_000_000;
        let step = now / 30;
        for (offset, ok) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let at = step.checked_add_signed(offset).unwrap();
            let code = hotp(RFC_KEY, at, 6);
            let result = verify(&secret, &code, now, None);
            if ok {
                assert_eq!(result, Ok(at), "offset {offset}");
            } else {
                assert_eq!(result, Err(TotpError::Mismatch), "offset {offset}");
            }
        }
    }

    #[test]
    fn replay_is_refused() {
        let secret = TotpSecret::from_bytes(*RFC_KEY);
        let now = 1_700_000_000;
        let code = code_at(&secret, now);
        let step = verify(&secret, &code, now, None).unwrap();
        assert_eq!(
            verify(&secret, &code, now, Some(step)),
            Err(TotpError::Replayed)
        );
        assert_eq!(
            verify(&secret, &code, now + 5, Some(step)),
            Err(TotpError::Replayed)
        );
        // The previous step's code is also refused once a later one was used.
        let older = hotp(RFC_KEY, step - 1, 6);
        assert_eq!(
            verify(&secret, &older, now, Some(step)),
            Err(TotpError::Replayed)
        );
        // The next step's code is still fine.
        let next = code_at(&secret, now + 30);
        assert_eq!(verify(&secret, &next, now + 30, Some(step)), Ok(step + 1));
    }

    #[test]
    fn malformed_codes() {
        let secret = TotpSecret::from_bytes(*RFC_KEY);
        for code in [
            "",
            "12345",
            "1234567",
            "12345a",
            "12 3456",
            "١٢٣٤٥٦",
            "+12345",
        ] {
            assert_eq!(
                verify(&secret, code, 59, None),
                Err(TotpError::Malformed),
                "{code:?}"
            );
        }
        assert_eq!(verify(&secret, " 287082\n", 59, None), Ok(1));
        assert_eq!(
            verify(&secret, "000000", 59, None),
            Err(TotpError::Mismatch)
        );
    }

    #[test]
    fn time_zero_does_not_underflow() {
        let secret = TotpSecret::from_bytes(*RFC_KEY);
        assert_eq!(verify(&secret, "755224", 0, None), Ok(0));
        assert_eq!(verify(&secret, "287082", 0, None), Ok(1));
    }

    #[test]
    fn uri_format() {
        let secret = TotpSecret::from_bytes(*RFC_KEY);
        assert_eq!(
            otpauth_uri(&secret, "Ômega Hub", "ana@example.com"),
            "otpauth://totp/%C3%94mega%20Hub:ana%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=%C3%94mega%20Hub&algorithm=SHA1&digits=6&period=30"
        );
    }
}
