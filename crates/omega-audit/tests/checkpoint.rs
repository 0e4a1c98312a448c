//! Signed notes and checkpoints: round trips, tampering, and cross-checks against
//! published Go (`golang.org/x/mod/sumdb/note`) vectors.

use ed25519_dalek::SigningKey;
use omega_audit::{
    Checkpoint, CheckpointError, Log, NoteError, NoteVerifier, open_note, sign_checkpoint,
    sign_note, verifier_key, verify_checkpoint,
};
use proptest::prelude::*;
use rand::RngCore;

fn random_key() -> SigningKey {
    let mut seed = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut seed);
    SigningKey::from_bytes(&seed)
}

// The example of golang.org/x/mod/sumdb/note (package doc and note_test.go): a signer key,
// its verifier key, a text and the note Go produces. Ed25519 is deterministic, so we
// must produce the same bytes.
const GO_SIGNER_KEY_B64: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_VERIFIER_KEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                       then you don't know what your problem is.\n";
const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\n\
                       then you don't know what your problem is.\n\
                       \n\
                       \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

// A sum.golang.org checkpoint and the sum.golang.org verifier key, as quoted in
// transparency-dev/formats `log/note_test.go` (TestSumDBNoteParsing).
const SUMDB_VERIFIER_KEY: &str =
    "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
const SUMDB_CHECKPOINT: &str = "go.sum database tree\n\
                                6476701\n\
                                mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\
                                \n\
                                \u{2014} sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n";

fn go_signing_key() -> SigningKey {
    let bytes = data_encoding::BASE64
        .decode(GO_SIGNER_KEY_B64.as_bytes())
        .unwrap();
    assert_eq!(bytes[0], 0x01);
    SigningKey::from_bytes(&bytes[1..].try_into().unwrap())
}

#[test]
fn go_note_example_verifies_and_is_reproduced() {
    let verifier = NoteVerifier::parse(GO_VERIFIER_KEY).unwrap();
    assert_eq!(verifier.name(), "PeterNeumann");
    assert_eq!(verifier.key_id(), 0xc74f20a3);
    assert_eq!(verifier.to_verifier_key(), GO_VERIFIER_KEY);
    assert_eq!(open_note(GO_NOTE, &verifier).unwrap(), GO_TEXT);

    let key = go_signing_key();
    assert_eq!(verifier_key("PeterNeumann", &key).unwrap(), GO_VERIFIER_KEY);
    assert_eq!(sign_note(GO_TEXT, "PeterNeumann", &key).unwrap(), GO_NOTE);

    let tampered = GO_NOTE.replace("cryptography", "cryptographY");
    assert!(matches!(
        open_note(&tampered, &verifier),
        Err(NoteError::InvalidSignature { .. })
    ));
}

#[test]
fn sum_golang_org_checkpoint_verifies() {
    let checkpoint = verify_checkpoint(SUMDB_CHECKPOINT, SUMDB_VERIFIER_KEY).unwrap();
    assert_eq!(checkpoint.origin, "go.sum database tree");
    assert_eq!(checkpoint.size, 6476701);
    assert_eq!(
        data_encoding::BASE64.encode(&checkpoint.root),
        "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk="
    );
    assert!(checkpoint.extensions.is_empty());
    let tampered = SUMDB_CHECKPOINT.replace("6476701", "6476702");
    assert!(verify_checkpoint(&tampered, SUMDB_VERIFIER_KEY).is_err());
}

#[test]
fn checkpoint_round_trip() {
    let key = random_key();
    let mut log = Log::default();
    for i in 0u32..10 {
        log.append(&i.to_be_bytes());
    }
    let note = sign_checkpoint(
        "example.com/audit",
        log.size(),
        &log.root(),
        "example.com/audit",
        &key,
    )
    .unwrap();
    let vkey = verifier_key("example.com/audit", &key).unwrap();
    let checkpoint = verify_checkpoint(&note, &vkey).unwrap();
    assert_eq!(
        checkpoint,
        Checkpoint {
            origin: "example.com/audit".to_owned(),
            size: 10,
            root: log.root(),
            extensions: Vec::new(),
        }
    );
    let expected_body = format!(
        "example.com/audit\n10\n{}\n\n\u{2014} example.com/audit ",
        data_encoding::BASE64.encode(&log.root())
    );
    assert!(note.starts_with(&expected_body), "{note}");
}

#[test]
fn checkpoint_with_extensions_round_trips() {
    let key = random_key();
    let checkpoint = Checkpoint {
        origin: "log.example".to_owned(),
        size: 0,
        root: omega_audit::EMPTY_ROOT,
        extensions: vec!["ext one".to_owned(), "ext two".to_owned()],
    };
    let body = checkpoint.to_body().unwrap();
    let note = sign_note(&body, "log.example", &key).unwrap();
    let vkey = verifier_key("log.example", &key).unwrap();
    assert_eq!(verify_checkpoint(&note, &vkey).unwrap(), checkpoint);
}

#[test]
fn every_flipped_bit_is_rejected() {
    let key = random_key();
    let note = sign_checkpoint("o", 7, &[9u8; 32], "k", &key).unwrap();
    let vkey = verifier_key("k", &key).unwrap();
    verify_checkpoint(&note, &vkey).unwrap();
    let bytes = note.as_bytes();
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut bad = bytes.to_vec();
            bad[i] ^= 1 << bit;
            let Ok(text) = String::from_utf8(bad) else {
                continue;
            };
            assert!(
                verify_checkpoint(&text, &vkey).is_err(),
                "byte {i} bit {bit} accepted: {text:?}"
            );
        }
    }
}

#[test]
fn wrong_key_name_or_key_is_rejected() {
    let key = random_key();
    let other = random_key();
    let note = sign_checkpoint("origin", 1, &[1u8; 32], "alice", &key).unwrap();

    // Same key, other name: the signature line is not by that verifier.
    let renamed = verifier_key("bob", &key).unwrap();
    assert!(matches!(
        verify_checkpoint(&note, &renamed),
        Err(CheckpointError::Note(NoteError::NoTrustedSignature { .. }))
    ));
    // Same name, other key: other key id.
    let wrong_key = verifier_key("alice", &other).unwrap();
    assert!(matches!(
        verify_checkpoint(&note, &wrong_key),
        Err(CheckpointError::Note(NoteError::NoTrustedSignature { .. }))
    ));
    // Signature line renamed to the verifier's name: key id no longer matches.
    let relabelled = note.replace("\u{2014} alice ", "\u{2014} bob ");
    assert!(verify_checkpoint(&relabelled, &renamed).is_err());
    // A verifier key whose id does not match its name and key.
    let vkey = verifier_key("alice", &key).unwrap();
    let forged = vkey.replacen("alice", "alicf", 1);
    assert!(matches!(
        verify_checkpoint(&note, &forged),
        Err(CheckpointError::Note(NoteError::KeyIdMismatch { .. }))
    ));
}

#[test]
fn forged_signature_with_right_key_id_is_rejected() {
    let key = random_key();
    let attacker = random_key();
    let vkey = verifier_key("alice", &key).unwrap();
    let genuine = sign_checkpoint("origin", 1, &[1u8; 32], "alice", &key).unwrap();
    let forged = sign_checkpoint("origin", 2, &[1u8; 32], "alice", &attacker).unwrap();
    // Put alice's key id in front of the attacker's signature.
    let genuine_blob = genuine.rsplit(' ').next().unwrap().trim_end();
    let forged_blob = forged.rsplit(' ').next().unwrap().trim_end();
    let mut blob = data_encoding::BASE64
        .decode(forged_blob.as_bytes())
        .unwrap();
    let genuine_bytes = data_encoding::BASE64
        .decode(genuine_blob.as_bytes())
        .unwrap();
    blob[..4].copy_from_slice(&genuine_bytes[..4]);
    let spliced = forged.replace(forged_blob, &data_encoding::BASE64.encode(&blob));
    assert!(matches!(
        verify_checkpoint(&spliced, &vkey),
        Err(CheckpointError::Note(NoteError::InvalidSignature { .. }))
    ));
}

#[test]
fn unknown_signatures_are_ignored_but_needed_one_must_exist() {
    let key = random_key();
    let vkey = verifier_key("log", &key).unwrap();
    let note = sign_checkpoint("origin", 3, &[2u8; 32], "log", &key).unwrap();
    let with_witness = format!(
        "{note}\u{2014} witness AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    );
    assert_eq!(verify_checkpoint(&with_witness, &vkey).unwrap().size, 3);
    let only_witness = with_witness.replacen("\u{2014} log ", "\u{2014} other ", 1);
    assert!(verify_checkpoint(&only_witness, &vkey).is_err());
}

#[test]
fn malformed_notes_and_bodies_are_rejected() {
    let key = random_key();
    let vkey = verifier_key("k", &key).unwrap();
    let sign = |body: &str| sign_note(body, "k", &key).unwrap();
    for body in [
        "origin\n",
        "origin\n12\n",
        "origin\n012\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "origin\n+12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "origin\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "origin\n18446744073709551616\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "origin\n12\nAAAA\n",
        "origin\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
        "origin\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n \u{7f}\n",
    ] {
        assert!(
            matches!(
                verify_checkpoint(&sign(body), &vkey),
                Err(CheckpointError::MalformedCheckpoint { .. })
            ),
            "{body:?}"
        );
    }
    let good = sign_checkpoint("o", 1, &[0u8; 32], "k", &key).unwrap();
    for bad in [
        String::new(),
        good.replace("\n\n", "\n"),
        good.trim_end().to_owned(),
        good.replace('\u{2014}', "-"),
        good.replace("\u{2014} ", "\u{2014}"),
        format!("{good}\n"),
        format!("{good}garbage\n"),
        good.replace("o\n", "o\r\n"),
    ] {
        assert!(
            matches!(
                verify_checkpoint(&bad, &vkey),
                Err(CheckpointError::Note(_))
            ),
            "{bad:?}"
        );
    }
    // Signing refuses texts that could not be opened as notes.
    assert!(sign_note("no newline", "k", &key).is_err());
    assert!(sign_note("a\n\nb\n", "k", &key).is_err());
    assert!(sign_note("a\n", "bad name", &key).is_err());
    assert!(sign_note("a\n", "a+b", &key).is_err());
    assert!(sign_checkpoint("two\nlines", 1, &[0u8; 32], "k", &key).is_err());
    assert!(sign_checkpoint("", 1, &[0u8; 32], "k", &key).is_err());
}

#[test]
fn too_many_signatures_are_rejected() {
    let key = random_key();
    let vkey = verifier_key("k", &key).unwrap();
    let mut note = sign_checkpoint("o", 1, &[0u8; 32], "k", &key).unwrap();
    for i in 0..100 {
        note.push_str(&format!("\u{2014} w{i} AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"));
    }
    assert!(verify_checkpoint(&note, &vkey).is_err());
}

#[test]
fn malformed_verifier_keys_are_rejected() {
    let key = random_key();
    let vkey = verifier_key("k", &key).unwrap();
    for bad in [
        "",
        "k",
        "k+",
        "k+00000000",
        "+00000000+AAAA",
        "k+zzzzzzzz+AAAA",
        "k+0000000+AAAA",
        "k+00000000+",
        "k+00000000+AA==",
        "k+00000000+AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        assert!(
            verify_checkpoint("x\n\n\u{2014} k AAAA\n", bad).is_err(),
            "{bad:?}"
        );
        assert!(NoteVerifier::parse(bad).is_err(), "{bad:?}");
    }
    // Every truncation of a good key is refused, as in the Go tests.
    for end in 0..vkey.len() {
        if vkey.is_char_boundary(end) {
            assert!(
                NoteVerifier::parse(&vkey[..end]).is_err(),
                "{}",
                &vkey[..end]
            );
        }
    }
    for start in 1..vkey.len() {
        assert!(
            NoteVerifier::parse(&vkey[start..]).is_err(),
            "{}",
            &vkey[start..]
        );
    }
}

proptest! {
    #[test]
    fn parsers_never_panic_on_garbage(text in ".{0,300}", bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let lossy = String::from_utf8_lossy(&bytes);
        for input in [text.as_str(), lossy.as_ref()] {
            let _ = verify_checkpoint(input, input);
            let _ = verify_checkpoint(input, GO_VERIFIER_KEY);
            let _ = NoteVerifier::parse(input);
            let _ = Checkpoint::parse_body(input);
            let verifier = NoteVerifier::parse(GO_VERIFIER_KEY).unwrap();
            let _ = open_note(input, &verifier);
        }
    }

    #[test]
    fn parsers_never_panic_on_near_valid_notes(
        cut in any::<prop::sample::Index>(), insert in ".{0,8}", at in any::<prop::sample::Index>(),
    ) {
        let base = SUMDB_CHECKPOINT;
        let cut_at = cut.index(base.len() + 1);
        let insert_at = at.index(base.len() + 1);
        for candidate in [base.get(..cut_at), base.get(cut_at..)].into_iter().flatten() {
            prop_assert!(verify_checkpoint(candidate, SUMDB_VERIFIER_KEY).is_err() || candidate == base);
        }
        if let (Some(head), Some(tail)) = (base.get(..insert_at), base.get(insert_at..)) {
            let mutated = format!("{head}{insert}{tail}");
            let _ = verify_checkpoint(&mutated, SUMDB_VERIFIER_KEY);
        }
    }

    #[test]
    fn checkpoints_round_trip(origin in "[a-z./]{1,20}", size in any::<u64>(), root in any::<[u8; 32]>(), seed in any::<[u8; 32]>()) {
        let key = SigningKey::from_bytes(&seed);
        let note = sign_checkpoint(&origin, size, &root, "log", &key).unwrap();
        let checkpoint = verify_checkpoint(&note, &verifier_key("log", &key).unwrap()).unwrap();
        prop_assert_eq!(checkpoint.origin, origin);
        prop_assert_eq!(checkpoint.size, size);
        prop_assert_eq!(checkpoint.root, root);
    }
}
