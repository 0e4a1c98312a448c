//! Password hashing with Argon2id, stored as PHC strings.
//!
//! Parameters follow the OWASP Password Storage Cheat Sheet's first Argon2id option:
//! m = 19456 KiB, t = 2, p = 1, a 16-byte random salt and a 32-byte output. The PHC string
//! records the parameters, so hashes made with older parameters keep verifying;
//! [`needs_rehash`] tells the caller when to upgrade one after a successful login.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::{CryptoRng, RngCore};
use zeroize::Zeroize;

/// Fewest bytes a new password may have.
pub const MIN_PASSWORD_LEN: usize = 10;
/// Most bytes a password may have; longer input is refused before hashing.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Argon2id memory cost in KiB (OWASP: 19 MiB).
pub const M_COST_KIB: u32 = 19_456;
/// Argon2id iterations (OWASP: 2).
pub const T_COST: u32 = 2;
/// Argon2id lanes (OWASP: 1).
pub const P_COST: u32 = 1;

/// Largest memory cost [`verify_password`] accepts from a stored PHC string (256 MiB), so a
/// tampered row cannot make one login allocate gigabytes.
const MAX_VERIFY_M_COST_KIB: u32 = 256 * 1024;
/// Largest iteration count [`verify_password`] accepts from a stored PHC string.
const MAX_VERIFY_T_COST: u32 = 16;
/// Largest lane count [`verify_password`] accepts from a stored PHC string.
const MAX_VERIFY_P_COST: u32 = 16;

/// A fixed Argon2id hash with the current parameters, verified by [`dummy_verify`]: the
/// password `omega-auth dummy password` with salt bytes 0..16. The password is not secret;
/// the result is discarded, the hash only has to cost the same as a real verification.
const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$AAECAwQFBgcICQoLDA0ODw$icRoMO0FUsXzxbsTX8Z8xxBT36zkYSWhFi2n/EC9/Z8";

/// Why a password could not be hashed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The password is shorter than the policy allows.
    #[error("password too short: expected at least {min} bytes, got {got}")]
    TooShort {
        /// Fewest bytes allowed.
        min: usize,
        /// Bytes given.
        got: usize,
    },
    /// The password is longer than the policy allows.
    #[error("password too long: expected at most {max} bytes, got {got}")]
    TooLong {
        /// Most bytes allowed.
        max: usize,
        /// Bytes given.
        got: usize,
    },
    /// Argon2 refused its input; not expected with the fixed parameters.
    #[error("argon2 hashing failed: {reason}")]
    Hash {
        /// The argon2 crate's description.
        reason: String,
    },
}

/// Checks a new password against the length policy
/// ([`MIN_PASSWORD_LEN`]..=[`MAX_PASSWORD_LEN`] bytes).
///
/// # Errors
/// [`PasswordError::TooShort`] or [`PasswordError::TooLong`].
pub fn check_password_policy(password: &str) -> Result<(), PasswordError> {
    let got = password.len();
    if got < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort {
            min: MIN_PASSWORD_LEN,
            got,
        });
    }
    if got > MAX_PASSWORD_LEN {
        return Err(PasswordError::TooLong {
            max: MAX_PASSWORD_LEN,
            got,
        });
    }
    Ok(())
}

/// Hashes a password that passes [`check_password_policy`] with Argon2id and a fresh
/// 16-byte salt from `rng`, returning the PHC string to store
/// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
///
/// # Errors
/// The policy errors, or [`PasswordError::Hash`] if argon2 fails.
pub fn hash_password<R: RngCore + CryptoRng>(
    password: &str,
    rng: &mut R,
) -> Result<String, PasswordError> {
    check_password_policy(password)?;
    let mut salt_bytes = [0u8; 16];
    rng.fill_bytes(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(hash_error);
    salt_bytes.zeroize();
    let salt = salt?;
    let phc = hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(hash_error)?;
    Ok(phc.to_string())
}

/// Verifies `password` against a stored PHC string in constant time (argon2 compares the
/// outputs with `subtle`).
///
/// Returns `false`, without panicking, for a malformed PHC string, an algorithm other than
/// Argon2id, parameters beyond sane bounds (m > 256 MiB, t > 16, p > 16) or a password longer
/// than [`MAX_PASSWORD_LEN`]. Shorter-than-policy passwords are still checked, so a policy
/// change never locks anyone out.
#[must_use]
pub fn verify_password(phc: &str, password: &str) -> bool {
    if password.len() > MAX_PASSWORD_LEN {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.m_cost() > MAX_VERIFY_M_COST_KIB
        || params.t_cost() > MAX_VERIFY_T_COST
        || params.p_cost() > MAX_VERIFY_P_COST
    {
        return false;
    }
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Spends the time of one [`verify_password`] against a fixed hash and discards the result.
///
/// Call it when the account does not exist, so the response time does not tell an attacker
/// which accounts exist.
pub fn dummy_verify(password: &str) {
    let _ = std::hint::black_box(verify_password(DUMMY_PHC, password));
}

/// Whether a stored PHC string should be replaced by a fresh [`hash_password`] (after a
/// successful login, while the plaintext is at hand): true when it is not Argon2id v19 with
/// the current parameters, or does not parse.
#[must_use]
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() || parsed.version != Some(0x13) {
        return true;
    }
    match Params::try_from(&parsed) {
        Ok(params) => {
            params.m_cost() != M_COST_KIB || params.t_cost() != T_COST || params.p_cost() != P_COST
        }
        Err(_) => true,
    }
}

fn hasher() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, Some(32)).map_err(hash_error)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_error(error: impl std::fmt::Display) -> PasswordError {
    PasswordError::Hash {
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn hash_then_verify() {
        let mut rng = StdRng::seed_from_u64(1);
        let phc = hash_password("correct horse battery", &mut rng).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password(&phc, "correct horse battery"));
        assert!(!verify_password(&phc, "correct horse batterY"));
        assert!(!needs_rehash(&phc));
    }

    #[test]
    fn salts_differ() {
        let mut rng = StdRng::seed_from_u64(2);
        let a = hash_password("0123456789", &mut rng).unwrap();
        let b = hash_password("0123456789", &mut rng).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn policy_bounds() {
        assert_eq!(
            check_password_policy("123456789"),
            Err(PasswordError::TooShort { min: 10, got: 9 })
        );
        assert_eq!(check_password_policy("1234567890"), Ok(()));
        assert_eq!(check_password_policy(&"x".repeat(1024)), Ok(()));
        assert_eq!(
            check_password_policy(&"x".repeat(1025)),
            Err(PasswordError::TooLong {
                max: 1024,
                got: 1025
            })
        );
        let mut rng = StdRng::seed_from_u64(3);
        assert!(matches!(
            hash_password("short", &mut rng),
            Err(PasswordError::TooShort { .. })
        ));
    }

    #[test]
    fn malformed_phc_is_false_not_panic() {
        for phc in [
            "",
            "$",
            "$argon2id$",
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "$argon2id$v=19$m=19456,t=2,p=1$!!!$!!!",
            "$argon2id$v=19$m=4294967295,t=2,p=1$AAECAwQFBgcICQoLDA0ODw$icRoMO0FUsXzxbsTX8Z8xxBT36zkYSWhFi2n/EC9/Z8",
            "$argon2i$v=19$m=19456,t=2,p=1$AAECAwQFBgcICQoLDA0ODw$icRoMO0FUsXzxbsTX8Z8xxBT36zkYSWhFi2n/EC9/Z8",
            "$pbkdf2-sha256$i=1000$AAAA$AAAA",
            "plaintext",
        ] {
            assert!(!verify_password(phc, "anything long"), "{phc}");
            assert!(needs_rehash(phc) || phc.starts_with("$argon2id$v=19$m=19456"));
        }
    }

    #[test]
    fn overlong_password_is_refused_without_hashing() {
        assert!(!verify_password(
            DUMMY_PHC,
            &"x".repeat(MAX_PASSWORD_LEN + 1)
        ));
    }

    #[test]
    fn dummy_hash_uses_current_parameters() {
        // If the parameters change, regenerate DUMMY_PHC so unknown users cost the same.
        assert!(!needs_rehash(DUMMY_PHC));
        assert!(verify_password(DUMMY_PHC, "omega-auth dummy password"));
        dummy_verify("whatever password");
    }

    #[test]
    fn older_parameters_still_verify_but_need_rehash() {
        let params = Params::new(8 * 1024, 1, 1, Some(32)).unwrap();
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let phc = weak
            .hash_password(b"legacy password", &salt)
            .unwrap()
            .to_string();
        assert!(verify_password(&phc, "legacy password"));
        assert!(needs_rehash(&phc));
    }
}
