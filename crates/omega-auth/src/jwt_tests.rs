//! Tests for `jwt`: RFC 8037 Appendix A known answers and attacks on the verifier.

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::*;

/// RFC 8037 A.1 private key `d` and A.2 public key `x`.
const RFC_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const RFC_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
/// RFC 8037 A.4: JWS of "Example of Ed25519 signing" under `{"alg":"EdDSA"}`.
const RFC_JWS: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.\
    hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

const NOW: u64 = 1_700_000_000;

fn rfc_key() -> SigningKey {
    let d: [u8; 32] = BASE64URL_NOPAD
        .decode(RFC_D.as_bytes())
        .unwrap()
        .try_into()
        .unwrap();
    SigningKey::from_bytes(&d)
}

fn signer(seed: u64, kid: &str) -> JwtSigner {
    let mut secret = [0u8; 32];
    StdRng::seed_from_u64(seed).fill_bytes(&mut secret);
    JwtSigner::new(kid, SigningKey::from_bytes(&secret))
}

fn keyset(signer: &JwtSigner) -> JwtKeySet {
    let mut set = JwtKeySet::default();
    set.insert(signer.kid(), signer.verifying_key());
    set
}

fn claims() -> AccessClaims {
    AccessClaims {
        iss: "https://hub.example".into(),
        sub: "m_1".into(),
        tid: "t_1".into(),
        did: "d_1".into(),
        scp: vec!["inbox:read".into()],
        iat: NOW,
        exp: NOW + 900,
        jti: "j_1".into(),
        kind: "member".into(),
    }
}

fn b64(bytes: &[u8]) -> String {
    BASE64URL_NOPAD.encode(bytes)
}

/// HMAC-SHA-256 (RFC 2104), only to forge the classic algorithm-confusion token.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .into()
}

#[test]
fn hmac_helper_matches_rfc4231_case_2() {
    let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    assert_eq!(
        data_encoding::HEXLOWER.encode(&mac),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn rfc8037_public_key_and_signature() {
    let key = rfc_key();
    assert_eq!(b64(key.verifying_key().as_bytes()), RFC_X);
    let jws = sign_compact(br#"{"alg":"EdDSA"}"#, b"Example of Ed25519 signing", &key);
    assert_eq!(jws, RFC_JWS.replace(' ', ""));
}

#[test]
fn rfc8037_jws_verifies_up_to_claims() {
    // A.5: the signature validates; the payload is not a JWT claims set, so that is the
    // first thing to fail (it has no kid, so register the key under the empty kid).
    let mut set = JwtKeySet::default();
    set.insert("", rfc_key().verifying_key());
    let err = set
        .verify::<serde_json::Value>(&RFC_JWS.replace(' ', ""), NOW, 0)
        .unwrap_err();
    assert!(matches!(err, JwtError::Claims(_)), "{err:?}");
}

#[test]
fn sign_then_verify_round_trip() {
    let signer = signer(1, "k1");
    let token = signer.sign(&claims()).unwrap();
    let header = token.split('.').next().unwrap();
    assert_eq!(
        BASE64URL_NOPAD.decode(header.as_bytes()).unwrap(),
        br#"{"alg":"EdDSA","typ":"JWT","kid":"k1"}"#
    );
    let got: AccessClaims = keyset(&signer).verify(&token, NOW, 0).unwrap();
    assert_eq!(got, claims());
    assert!(!format!("{signer:?}").contains(&format!("{:?}", signer.key.to_bytes())));
}

#[test]
fn jwks_shape() {
    let mut set = JwtKeySet::default();
    set.insert("rfc", rfc_key().verifying_key());
    assert_eq!(
        set.jwks_json(),
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": RFC_X, "kid": "rfc",
                         "alg": "EdDSA", "use": "sig"}]})
    );
}

/// A token with arbitrary header and claims JSON, signed by `key`.
fn forge(header: serde_json::Value, claims: serde_json::Value, key: &SigningKey) -> String {
    sign_compact(
        header.to_string().as_bytes(),
        claims.to_string().as_bytes(),
        key,
    )
}

#[test]
fn alg_none_refused() {
    let signer = signer(2, "k1");
    let set = keyset(&signer);
    let token = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#),
        b64(serde_json::to_string(&claims()).unwrap().as_bytes())
    );
    let err = set.verify::<AccessClaims>(&token, NOW, 0).unwrap_err();
    assert!(
        matches!(err, JwtError::Algorithm { ref got } if got == "none"),
        "{err:?}"
    );
}

#[test]
fn hs256_with_public_key_as_secret_refused() {
    let signer = signer(3, "k1");
    let set = keyset(&signer);
    let public = signer.verifying_key().to_bytes();
    for header in [
        br#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#.as_slice(),
        br#"{"alg":"EdDSA","typ":"JWT","kid":"k1"}"#.as_slice(),
    ] {
        let input = format!(
            "{}.{}",
            b64(header),
            b64(serde_json::to_string(&claims()).unwrap().as_bytes())
        );
        let token = format!("{input}.{}", b64(&hmac_sha256(&public, input.as_bytes())));
        let err = set.verify::<AccessClaims>(&token, NOW, 0).unwrap_err();
        match header.windows(5).any(|w| w == b"HS256") {
            true => assert!(matches!(err, JwtError::Algorithm { ref got } if got == "HS256")),
            false => assert!(matches!(err, JwtError::BadSignature), "{err:?}"),
        }
    }
}

#[test]
fn alg_variants_refused() {
    let signer = signer(4, "k1");
    let set = keyset(&signer);
    let body = json!({"exp": NOW + 60});
    for alg in [
        json!("EdDSA "),
        json!("eddsa"),
        json!("Ed25519"),
        json!("ES256"),
        json!(""),
    ] {
        let token = forge(json!({"alg": alg, "kid": "k1"}), body.clone(), &signer.key);
        let err = set.verify::<serde_json::Value>(&token, NOW, 0).unwrap_err();
        assert!(matches!(err, JwtError::Algorithm { .. }), "{alg}: {err:?}");
    }
    let missing = forge(json!({"kid": "k1"}), body.clone(), &signer.key);
    let err = set
        .verify::<serde_json::Value>(&missing, NOW, 0)
        .unwrap_err();
    assert!(
        matches!(err, JwtError::Algorithm { ref got } if got.is_empty()),
        "{err:?}"
    );
    // A non-string alg or a duplicated alg is not even a valid header.
    let numeric = forge(json!({"alg": 1, "kid": "k1"}), body.clone(), &signer.key);
    let duplicate = sign_compact(
        br#"{"alg":"none","alg":"EdDSA","kid":"k1"}"#,
        body.to_string().as_bytes(),
        &signer.key,
    );
    for token in [numeric, duplicate] {
        let err = set.verify::<serde_json::Value>(&token, NOW, 0).unwrap_err();
        assert!(matches!(err, JwtError::Malformed { .. }), "{err:?}");
    }
}

#[test]
fn crit_typ_and_kid_checks() {
    let signer = signer(5, "k1");
    let set = keyset(&signer);
    let body = json!({"exp": NOW + 60});
    let cases = [
        json!({"alg": "EdDSA", "kid": "k1", "crit": ["exp"]}),
        json!({"alg": "EdDSA", "kid": "k1", "typ": "JOSE+JSON"}),
        json!({"alg": "EdDSA", "kid": "k2"}),
        json!({"alg": "EdDSA"}),
    ];
    let errors: Vec<JwtError> = cases
        .into_iter()
        .map(|h| {
            let token = forge(h, body.clone(), &signer.key);
            set.verify::<serde_json::Value>(&token, NOW, 0).unwrap_err()
        })
        .collect();
    assert!(matches!(errors[0], JwtError::Critical));
    assert!(matches!(errors[1], JwtError::Type { .. }));
    assert!(matches!(errors[2], JwtError::UnknownKey { ref kid } if kid == "k2"));
    assert!(matches!(errors[3], JwtError::UnknownKey { ref kid } if kid.is_empty()));
    // Lowercase typ is fine (RFC 7519 §5.1 recommends case-insensitive comparison).
    let token = forge(
        json!({"alg": "EdDSA", "kid": "k1", "typ": "jwt"}),
        body,
        &signer.key,
    );
    assert!(set.verify::<serde_json::Value>(&token, NOW, 0).is_ok());
}

#[test]
fn signature_tampering_refused() {
    let signer = signer(6, "k1");
    let set = keyset(&signer);
    let token = signer.sign(&claims()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();

    let mut signature = BASE64URL_NOPAD.decode(parts[2].as_bytes()).unwrap();
    signature[10] ^= 0x01;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], b64(&signature));

    let mut other = claims();
    other.sub = "m_admin".into();
    let other_payload = b64(serde_json::to_string(&other).unwrap().as_bytes());
    let swapped = format!("{}.{}.{}", parts[0], other_payload, parts[2]);

    let short = format!("{}.{}.{}", parts[0], parts[1], b64(&signature[..63]));
    let wrong_key = {
        let mut set = JwtKeySet::default();
        set.insert("k1", self::signer(7, "k1").verifying_key());
        set
    };
    for (name, set, token) in [
        ("flipped", &set, flipped.as_str()),
        ("swapped", &set, swapped.as_str()),
        ("short", &set, short.as_str()),
        ("wrong key", &wrong_key, token.as_str()),
    ] {
        let err = set.verify::<AccessClaims>(token, NOW, 0).unwrap_err();
        assert!(matches!(err, JwtError::BadSignature), "{name}: {err:?}");
    }
}

#[test]
fn time_claims() {
    let signer = signer(8, "k1");
    let set = keyset(&signer);
    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": "k1"});
    let check = |body: serde_json::Value, leeway: u64| {
        let token = forge(header.clone(), body, &signer.key);
        set.verify::<serde_json::Value>(&token, NOW, leeway)
    };
    assert!(check(json!({"exp": NOW + 1}), 0).is_ok());
    assert!(matches!(
        check(json!({"exp": NOW}), 0),
        Err(JwtError::Expired { .. })
    ));
    assert!(check(json!({"exp": NOW}), 30).is_ok());
    assert!(matches!(
        check(json!({"exp": NOW - 30}), 30),
        Err(JwtError::Expired { .. })
    ));
    assert!(matches!(
        check(json!({"sub": "x"}), 0),
        Err(JwtError::MissingExpiry)
    ));
    assert!(matches!(
        check(json!({"exp": "soon"}), 0),
        Err(JwtError::Claims(_))
    ));
    assert!(matches!(
        check(json!({"exp": 1.5e9}), 0),
        Err(JwtError::Claims(_))
    ));
    assert!(matches!(check(json!([1, 2]), 0), Err(JwtError::Claims(_))));
    assert!(matches!(
        check(json!({"exp": NOW + 600, "nbf": NOW + 60}), 0),
        Err(JwtError::NotYetValid { .. })
    ));
    assert!(check(json!({"exp": NOW + 600, "nbf": NOW + 60}), 60).is_ok());
    assert!(matches!(
        check(json!({"exp": NOW + 600, "iat": NOW + 120}), 60),
        Err(JwtError::IssuedInFuture { .. })
    ));
    assert!(check(json!({"exp": NOW + 600, "iat": NOW + 60}), 60).is_ok());
    assert!(check(json!({"exp": u64::MAX}), u64::MAX).is_ok());
}

#[test]
fn shape_and_size_refused() {
    let signer = signer(9, "k1");
    let set = keyset(&signer);
    let token = signer.sign(&claims()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let oversize = forge(
        json!({"alg": "EdDSA", "kid": "k1"}),
        json!({"exp": NOW + 60, "pad": "x".repeat(MAX_TOKEN_LEN)}),
        &signer.key,
    );
    let padded = format!("{}=.{}.{}", parts[0], parts[1], parts[2]);
    let cases = [
        String::new(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{token}.{}", parts[2]),
        format!("{}.{}.{}", "!!!", parts[1], parts[2]),
        format!("{}.{}.{}", parts[0], parts[1], "*not base64*"),
        format!("{}.{}.{}", b64(b"not json"), parts[1], parts[2]),
        format!("{}.{}.{}", b64(b"[\"EdDSA\"]"), parts[1], parts[2]),
        padded,
        oversize,
    ];
    for case in &cases {
        let err = set.verify::<AccessClaims>(case, NOW, 0).unwrap_err();
        assert!(
            matches!(err, JwtError::Malformed { .. }),
            "{case:.60}: {err:?}"
        );
    }
    // Garbage in the payload is only read after the signature, which it cannot pass.
    let garbage_payload = format!("{}.{}.{}", parts[0], "%%%", parts[2]);
    let err = set
        .verify::<AccessClaims>(&garbage_payload, NOW, 0)
        .unwrap_err();
    assert!(matches!(err, JwtError::BadSignature), "{err:?}");
}

#[test]
fn removed_key_stops_verifying() {
    let signer = signer(10, "k1");
    let mut set = keyset(&signer);
    let token = signer.sign(&claims()).unwrap();
    assert!(set.verify::<AccessClaims>(&token, NOW, 0).is_ok());
    assert!(set.remove("k1").is_some());
    assert!(set.is_empty());
    assert!(matches!(
        set.verify::<AccessClaims>(&token, NOW, 0),
        Err(JwtError::UnknownKey { .. })
    ));
}

proptest::proptest! {
    #[test]
    fn verify_never_panics(token in ".{0,300}", dots in proptest::collection::vec(0usize..300, 0..4)) {
        let signer = signer(11, "k1");
        let set = keyset(&signer);
        let mut token = token;
        for d in dots {
            let mut at = d.min(token.len());
            while !token.is_char_boundary(at) { at -= 1; }
            token.insert(at, '.');
        }
        let _ = set.verify::<AccessClaims>(&token, NOW, 0);
    }
}
