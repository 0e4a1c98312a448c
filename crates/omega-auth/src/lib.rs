//! The authentication primitives of the Ômega business hub.
//!
//! What it does: hashes and verifies member passwords with Argon2id ([`password`]); issues
//! and checks RFC 6238 TOTP codes and single-use recovery codes ([`totp`]); signs and
//! verifies Ed25519 (`EdDSA`) JWT access tokens and publishes their JWK Set ([`jwt`]); mints
//! and parses opaque refresh tokens and API keys stored only as hashes ([`secret_token`]);
//! limits request rates and locks out password guessing ([`ratelimit`]); and names roles
//! and the scopes they grant ([`scope`]).
//!
//! What it does not do: no IO, no storage, no HTTP, no clock and no global RNG. Callers
//! pass the time (`now_ms` unix milliseconds, or unix seconds where the protocol counts in
//! seconds) and a `&mut (impl RngCore + CryptoRng)`, and store what they are handed (PHC
//! strings, hashes, last used TOTP step). It implements no cryptographic primitive itself:
//! Argon2, Ed25519, HMAC-SHA-1 and SHA-256 come from the RustCrypto and dalek crates. JWTs
//! are `EdDSA` only; no other JOSE algorithm, JWE or key type is supported.
//!
//! ```
//! use ed25519_dalek::SigningKey;
//! use omega_auth::jwt::{AccessClaims, JwtKeySet, JwtSigner};
//! use omega_auth::scope::{Role, scope_strings};
//! use omega_auth::totp::{self, TotpSecret};
//! use rand::{SeedableRng, rngs::StdRng};
//!
//! let mut rng = StdRng::seed_from_u64(7);
//! let now = 1_700_000_000;
//!
//! // Second factor: the authenticator app shows code_at(now); the hub verifies it once.
//! let secret = TotpSecret::generate(&mut rng);
//! let step = totp::verify(&secret, &totp::code_at(&secret, now), now, None)?;
//! assert!(totp::verify(&secret, &totp::code_at(&secret, now), now, Some(step)).is_err());
//!
//! // Access token for an agent.
//! let signer = JwtSigner::new("2026-01", SigningKey::from_bytes(&[1; 32]));
//! let mut keys = JwtKeySet::default();
//! keys.insert(signer.kid(), signer.verifying_key());
//! let claims = AccessClaims {
//!     iss: "https://hub.example".into(),
//!     sub: "member-1".into(),
//!     tid: "tenant-1".into(),
//!     did: "device-1".into(),
//!     scp: scope_strings(Role::Agent.default_scopes()),
//!     iat: now,
//!     exp: now + 900,
//!     jti: "token-1".into(),
//!     kind: "member".into(),
//! };
//! let token = signer.sign(&claims)?;
//! let checked: AccessClaims = keys.verify(&token, now, 30)?;
//! assert_eq!(checked, claims);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod jwt;
pub mod password;
pub mod ratelimit;
pub mod scope;
pub mod secret_token;
pub mod totp;

pub use jwt::{AccessClaims, JwtError, JwtKeySet, JwtSigner};
pub use password::{PasswordError, check_password_policy, hash_password, verify_password};
pub use ratelimit::{KeyedLimiter, LimitConfig, Lockout, LockoutConfig, RetryAfter};
pub use scope::{Role, Scope, ScopeError, parse_scopes};
pub use secret_token::{
    ApiKeyMaterial, ct_eq, new_api_key, new_refresh_token, parse_api_key, token_hash,
};
pub use totp::{RecoveryCodes, TotpError, TotpSecret, recovery_code_hash};
