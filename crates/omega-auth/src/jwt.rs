//! JSON Web Tokens signed with Ed25519 only: JWS compact serialization (RFC 7515 §7.1),
//! JWT claims (RFC 7519) and the `EdDSA` algorithm with `OKP` keys (RFC 8037).
//!
//! Verification is deliberately narrow: the header must name `"alg":"EdDSA"` exactly and a
//! `kid` present in the [`JwtKeySet`]; any other algorithm (including `none` and the HMAC
//! family, so a public key can never be used as an HMAC secret), a `crit` header, duplicate
//! header or claim names, padded or non-canonical base64url and tokens over 8 KiB are
//! refused before or instead of checking anything else. Signatures are checked with
//! `verify_strict` (no small-order keys, no malleable signatures).

use std::collections::BTreeMap;

use data_encoding::BASE64URL_NOPAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};

/// Longest token [`JwtKeySet::verify`] reads.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// The only `alg` accepted.
pub const ALG: &str = "EdDSA";

/// Why a token could not be signed or was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Not a well-formed compact JWS (size, part count, base64url, JSON shape).
    #[error("malformed token: {reason}")]
    Malformed {
        /// What was wrong.
        reason: &'static str,
    },
    /// The header's `alg` is not exactly `EdDSA` (`got` is empty when it is missing).
    #[error("unsupported jws algorithm: expected \"EdDSA\", got {got:?}")]
    Algorithm {
        /// The `alg` value found.
        got: String,
    },
    /// The header's `typ` is present and is not `JWT`.
    #[error("unsupported token type: expected \"JWT\", got {got:?}")]
    Type {
        /// The `typ` value found.
        got: String,
    },
    /// The header has a `crit` parameter; no extensions are understood.
    #[error("token header has a crit parameter, no extensions are supported")]
    Critical,
    /// The `kid` is missing or names no key in the set (`kid` is empty when missing).
    #[error("unknown signing key {kid:?}")]
    UnknownKey {
        /// The `kid` value found.
        kid: String,
    },
    /// The signature does not verify under the named key.
    #[error("bad token signature")]
    BadSignature,
    /// The claims are not the expected JSON, or `exp`/`nbf`/`iat` are not integers.
    #[error("invalid token claims: {0}")]
    Claims(#[source] serde_json::Error),
    /// The claims have no `exp`.
    #[error("token has no exp claim")]
    MissingExpiry,
    /// `now` is at or past `exp` plus leeway.
    #[error("token expired at {exp}, now {now}")]
    Expired {
        /// The `exp` claim.
        exp: u64,
        /// The time checked.
        now: u64,
    },
    /// `now` plus leeway is before `nbf`.
    #[error("token not valid before {nbf}, now {now}")]
    NotYetValid {
        /// The `nbf` claim.
        nbf: u64,
        /// The time checked.
        now: u64,
    },
    /// `iat` is after `now` plus leeway.
    #[error("token issued in the future at {iat}, now {now}")]
    IssuedInFuture {
        /// The `iat` claim.
        iat: u64,
        /// The time checked.
        now: u64,
    },
    /// The claims could not be serialized when signing.
    #[error("could not serialize token: {0}")]
    Serialize(#[source] serde_json::Error),
}

/// The claims of a member access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer (the hub's public URL).
    pub iss: String,
    /// Subject: the member id.
    pub sub: String,
    /// Tenant id.
    pub tid: String,
    /// Device (session) id.
    pub did: String,
    /// Granted scopes, as [`crate::scope::Scope`] strings.
    pub scp: Vec<String>,
    /// Issued at, unix seconds.
    pub iat: u64,
    /// Expires at, unix seconds.
    pub exp: u64,
    /// Unique token id.
    pub jti: String,
    /// Principal kind (`"member"`).
    pub kind: String,
}

/// Signs tokens with one Ed25519 key named `kid`. `Debug` does not show the key; the key
/// zeroizes itself on drop.
pub struct JwtSigner {
    kid: String,
    key: SigningKey,
}

#[derive(Serialize)]
struct SignHeader<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

/// Only the header parameters we act on. serde refuses duplicate names for structs, and
/// unknown names are ignored.
#[derive(Deserialize)]
struct VerifyHeader {
    alg: Option<String>,
    typ: Option<String>,
    kid: Option<String>,
    crit: Option<IgnoredAny>,
}

/// The registered time claims (RFC 7519 §4.1.4-6), read before the caller's type.
#[derive(Deserialize)]
struct TimeClaims {
    exp: Option<u64>,
    nbf: Option<u64>,
    iat: Option<u64>,
}

impl JwtSigner {
    /// A signer publishing `kid` in its tokens' headers.
    pub fn new(kid: impl Into<String>, key: SigningKey) -> Self {
        Self {
            kid: kid.into(),
            key,
        }
    }

    /// The key id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half, to put in a [`JwtKeySet`].
    #[must_use]
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Signs `claims` under the header `{"alg":"EdDSA","typ":"JWT","kid":"<kid>"}`.
    ///
    /// # Errors
    /// [`JwtError::Serialize`] if `claims` does not serialize.
    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, JwtError> {
        let header = serde_json::to_vec(&SignHeader {
            alg: ALG,
            typ: "JWT",
            kid: &self.kid,
        })
        .map_err(JwtError::Serialize)?;
        let payload = serde_json::to_vec(claims).map_err(JwtError::Serialize)?;
        Ok(sign_compact(&header, &payload, &self.key))
    }
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self { kid, key: _ } = self;
        f.debug_struct("JwtSigner")
            .field("kid", kid)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The compact JWS `BASE64URL(header).BASE64URL(payload).BASE64URL(signature)` with the
/// Ed25519 signature over the ASCII of the first two parts. The bytes are used as given;
/// [`JwtSigner::sign`] is the checked way to make tokens.
#[must_use]
pub fn sign_compact(header_json: &[u8], payload: &[u8], key: &SigningKey) -> String {
    let mut token = BASE64URL_NOPAD.encode(header_json);
    token.push('.');
    token.push_str(&BASE64URL_NOPAD.encode(payload));
    let signature = key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&BASE64URL_NOPAD.encode(&signature.to_bytes()));
    token
}

/// The public keys tokens may be signed with, by `kid`.
#[derive(Debug, Clone, Default)]
pub struct JwtKeySet {
    keys: BTreeMap<String, VerifyingKey>,
}

impl JwtKeySet {
    /// Adds or replaces the key named `kid`.
    pub fn insert(&mut self, kid: impl Into<String>, key: VerifyingKey) {
        self.keys.insert(kid.into(), key);
    }

    /// Removes the key named `kid` (retired keys stop verifying at once).
    pub fn remove(&mut self, kid: &str) -> Option<VerifyingKey> {
        self.keys.remove(kid)
    }

    /// The number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies `token` at `now_secs` and returns its claims.
    ///
    /// Checks, in order: size and shape, `alg` is exactly `EdDSA`, no `crit`, `typ` is `JWT`
    /// if present, `kid` is known, the signature (`verify_strict`), then the claims: `exp`
    /// is required and must be after `now_secs - leeway_secs`; `nbf`, if present, must be at
    /// or before `now_secs + leeway_secs`; `iat`, if present, must not be after
    /// `now_secs + leeway_secs`. Other claims are left to `C` and the caller.
    ///
    /// # Errors
    /// The [`JwtError`] for the first check that fails.
    pub fn verify<C: DeserializeOwned>(
        &self,
        token: &str,
        now_secs: u64,
        leeway_secs: u64,
    ) -> Result<C, JwtError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Malformed {
                reason: "token longer than 8 KiB",
            });
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed {
                reason: "expected three dot-separated parts",
            });
        };

        let header_json = decode_part(header_b64, "header is not base64url")?;
        let header: VerifyHeader =
            serde_json::from_slice(&header_json).map_err(|_| JwtError::Malformed {
                reason: "header is not a json object with string parameters",
            })?;
        if header.alg.as_deref() != Some(ALG) {
            return Err(JwtError::Algorithm {
                got: header.alg.unwrap_or_default(),
            });
        }
        if header.crit.is_some() {
            return Err(JwtError::Critical);
        }
        if let Some(typ) = header.typ
            && !typ.eq_ignore_ascii_case("JWT")
        {
            return Err(JwtError::Type { got: typ });
        }
        let kid = header.kid.unwrap_or_default();
        let Some(key) = self.keys.get(&kid) else {
            return Err(JwtError::UnknownKey { kid });
        };

        let signature_bytes = decode_part(signature_b64, "signature is not base64url")?;
        let signature =
            Signature::from_slice(&signature_bytes).map_err(|_| JwtError::BadSignature)?;
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        key.verify_strict(signing_input.as_bytes(), &signature)
            .map_err(|_| JwtError::BadSignature)?;

        let payload = decode_part(payload_b64, "payload is not base64url")?;
        let times: TimeClaims = serde_json::from_slice(&payload).map_err(JwtError::Claims)?;
        let exp = times.exp.ok_or(JwtError::MissingExpiry)?;
        if now_secs >= exp.saturating_add(leeway_secs) {
            return Err(JwtError::Expired { exp, now: now_secs });
        }
        if let Some(nbf) = times.nbf
            && now_secs.saturating_add(leeway_secs) < nbf
        {
            return Err(JwtError::NotYetValid { nbf, now: now_secs });
        }
        if let Some(iat) = times.iat
            && iat > now_secs.saturating_add(leeway_secs)
        {
            return Err(JwtError::IssuedInFuture { iat, now: now_secs });
        }
        serde_json::from_slice(&payload).map_err(JwtError::Claims)
    }

    /// The set as a JWK Set (RFC 7517 §5) of `OKP`/`Ed25519` keys (RFC 8037 §2), sorted by
    /// `kid`, for `/.well-known/jwks.json`.
    #[must_use]
    pub fn jwks_json(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|(kid, key)| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": BASE64URL_NOPAD.encode(key.as_bytes()),
                    "kid": kid,
                    "alg": ALG,
                    "use": "sig",
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

fn decode_part(part: &str, reason: &'static str) -> Result<Vec<u8>, JwtError> {
    BASE64URL_NOPAD
        .decode(part.as_bytes())
        .map_err(|_| JwtError::Malformed { reason })
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
