use super::*;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

fn sealed() -> (KeystoreSecrets, Vec<u8>) {
    let mut rng = rng();
    let secrets = KeystoreSecrets::generate(&mut rng);
    let sealed = seal(&secrets, b"correct horse", &mut rng).unwrap();
    (secrets, sealed)
}

fn edit(sealed: &[u8], change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(sealed).unwrap();
    change(&mut value);
    serde_json::to_vec(&value).unwrap()
}

fn assert_same(a: &KeystoreSecrets, b: &KeystoreSecrets) {
    assert_eq!(a.user_secret, b.user_secret);
    assert_eq!(a.libp2p_secret, b.libp2p_secret);
    assert_eq!(a.store_key, b.store_key);
}

#[test]
fn seal_then_open_round_trips() {
    let (secrets, sealed) = sealed();
    let opened = open(&sealed, b"correct horse").unwrap();
    assert_same(&opened, &secrets);
}

#[test]
fn sealed_document_has_the_documented_shape() {
    let (_, sealed) = sealed();
    let value: Value = serde_json::from_slice(&sealed).unwrap();
    assert_eq!(value["format"], "omega-keystore");
    assert_eq!(value["version"], 1);
    assert_eq!(value["kdf"]["alg"], "argon2id");
    assert_eq!(value["kdf"]["m_kib"], 19456);
    assert_eq!(value["kdf"]["t"], 2);
    assert_eq!(value["kdf"]["p"], 1);
    let salt = BASE64
        .decode(value["kdf"]["salt"].as_str().unwrap().as_bytes())
        .unwrap();
    assert_eq!(salt.len(), 16);
    let nonce = BASE64
        .decode(value["nonce"].as_str().unwrap().as_bytes())
        .unwrap();
    assert_eq!(nonce.len(), 24);
}

#[test]
fn sealing_twice_uses_fresh_salt_and_nonce() {
    let mut rng = rng();
    let secrets = KeystoreSecrets::generate(&mut rng);
    let first = seal(&secrets, b"pw", &mut rng).unwrap();
    let second = seal(&secrets, b"pw", &mut rng).unwrap();
    assert_ne!(first, second);
}

#[test]
fn wrong_passphrase_is_a_clear_error_not_a_new_identity() {
    let (_, sealed) = sealed();
    let err = open(&sealed, b"correct horse battery").unwrap_err();
    assert!(matches!(err, KeystoreError::WrongPassphrase), "{err}");
    assert_eq!(err.to_string(), "wrong passphrase");
    assert!(matches!(
        open(&sealed, b""),
        Err(KeystoreError::WrongPassphrase)
    ));
}

#[test]
fn tampered_ciphertext_or_nonce_fails_to_open() {
    let (_, sealed) = sealed();
    let flip = |field: &str| {
        edit(&sealed, |value| {
            let mut bytes = BASE64
                .decode(value[field].as_str().unwrap().as_bytes())
                .unwrap();
            bytes[3] ^= 0x01;
            value[field] = json!(BASE64.encode(&bytes));
        })
    };
    for field in ["ciphertext", "nonce"] {
        assert!(
            matches!(
                open(&flip(field), b"correct horse"),
                Err(KeystoreError::WrongPassphrase)
            ),
            "{field}"
        );
    }
}

#[test]
fn tampered_kdf_params_fail_to_open() {
    let (_, sealed) = sealed();
    // Weaker but in-bounds parameters: the header is bound, so this cannot open.
    for (param, weaker) in [("t", json!(1)), ("m_kib", json!(8192)), ("p", json!(2))] {
        let tampered = edit(&sealed, |value| value["kdf"][param] = weaker);
        assert!(
            matches!(
                open(&tampered, b"correct horse"),
                Err(KeystoreError::WrongPassphrase)
            ),
            "{param}"
        );
    }
    let tampered = edit(&sealed, |value| {
        value["kdf"]["salt"] = json!(BASE64.encode(&[9u8; 16]))
    });
    assert!(matches!(
        open(&tampered, b"correct horse"),
        Err(KeystoreError::WrongPassphrase)
    ));
}

#[test]
fn hostile_kdf_params_are_refused_before_any_work() {
    let (_, sealed) = sealed();
    let cases = [
        ("m_kib", json!(4u64 * 1024 * 1024 + 1)),
        ("m_kib", json!(u64::MAX)),
        ("m_kib", json!(8191)),
        ("t", json!(101)),
        ("t", json!(0)),
        ("p", json!(17)),
        ("p", json!(0)),
    ];
    for (param, value) in cases {
        let tampered = edit(&sealed, |document| document["kdf"][param] = value.clone());
        let err = open(&tampered, b"correct horse").unwrap_err();
        assert!(
            matches!(err, KeystoreError::KdfOutOfBounds { param: p, .. } if p == param),
            "{param}={value}: {err}"
        );
    }
}

#[test]
fn unsupported_version_is_reported_as_such() {
    let (_, sealed) = sealed();
    let tampered = edit(&sealed, |value| {
        value["version"] = json!(2);
        value["kdf"] = json!("something new");
    });
    let err = open(&tampered, b"correct horse").unwrap_err();
    assert!(
        matches!(
            err,
            KeystoreError::UnsupportedVersion {
                got: 2,
                expected: 1
            }
        ),
        "{err}"
    );
}

#[test]
fn garbage_and_malformed_documents_are_corrupt() {
    let (_, sealed) = sealed();
    let corrupt: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"not json".to_vec(),
        b"{}".to_vec(),
        b"[1,2,3]".to_vec(),
        b"\xff\xfe\x00".to_vec(),
        edit(&sealed, |value| value["format"] = json!("other")),
        edit(&sealed, |value| value["nonce"] = json!("!!!")),
        edit(&sealed, |value| {
            value["nonce"] = json!(BASE64.encode(&[0u8; 12]))
        }),
        edit(&sealed, |value| {
            value["ciphertext"] = json!(BASE64.encode(&[0u8; 5]))
        }),
        edit(&sealed, |value| {
            value["kdf"]["salt"] = json!(BASE64.encode(&[0u8; 8]))
        }),
        edit(&sealed, |value| value["kdf"]["alg"] = json!("scrypt")),
        edit(&sealed, |value| value["extra"] = json!(1)),
        edit(&sealed, |value| value["kdf"]["t"] = json!("two")),
        edit(&sealed, |value| value["kdf"]["t"] = json!(-1)),
        edit(&sealed, |value| {
            value.as_object_mut().unwrap().remove("ciphertext");
        }),
    ];
    for (index, document) in corrupt.iter().enumerate() {
        let err = open(document, b"correct horse").unwrap_err();
        assert!(
            matches!(err, KeystoreError::Corrupt { .. }),
            "case {index}: {err}"
        );
    }
}

#[test]
fn debug_prints_no_secret() {
    let secrets = KeystoreSecrets {
        user_secret: [0xab; 32],
        libp2p_secret: [0xcd; 32],
        store_key: [0xef; 32],
    };
    let debug = format!("{secrets:?}");
    assert_eq!(debug, "KeystoreSecrets { .. }");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn open_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = open(&bytes, b"pw");
    }

    #[test]
    fn open_never_panics_on_arbitrary_fields(
        version in any::<u64>(),
        m_kib in prop_oneof![Just(0u64), Just(u64::MAX), 4_194_305u64..u64::MAX],
        t in any::<u64>(),
        p in any::<u64>(),
        salt in ".{0,40}",
        nonce in ".{0,40}",
        ciphertext in ".{0,200}",
    ) {
        let document = json!({
            "format": "omega-keystore", "version": version,
            "kdf": {"alg": "argon2id", "m_kib": m_kib, "t": t, "p": p, "salt": salt},
            "nonce": nonce, "ciphertext": ciphertext,
        });
        // m_kib is always out of bounds here, so no case pays for a key derivation.
        prop_assert!(open(&serde_json::to_vec(&document).unwrap(), b"pw").is_err());
    }
}
