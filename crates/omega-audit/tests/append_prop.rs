//! Property tests of a growing log, seen as an auditor sees it (signed heads and JSON proof
//! bundles): a proof made at one size stays valid against that size's head however the log
//! grows, a fresh proof for the same entry verifies against every later head, consistency
//! proofs verify between any two heads, and flipping any byte of any proof hash is caught.

use data_encoding::BASE64;
use ed25519_dalek::SigningKey;
use omega_audit::{Log, ProofBundle, SignedHead, sign_checkpoint, verifier_key, verify_bundle};
use proptest::prelude::*;
use proptest::sample::Index;

const ORIGIN: &str = "hub.example/audit";

fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

fn head(log: &Log, key: &SigningKey) -> SignedHead {
    let note = sign_checkpoint(ORIGIN, log.size(), &log.root(), ORIGIN, key).unwrap();
    SignedHead::new(note, verifier_key(ORIGIN, key).unwrap()).unwrap()
}

/// Through JSON and back, as the auditor downloads it.
fn download<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) -> T {
    serde_json::from_str(&serde_json::to_string(value).unwrap()).unwrap()
}

/// `bundle` with one byte of one proof hash xor-ed with a non-zero mask; `None` if the
/// proof has no hashes.
fn flip_byte(bundle: &ProofBundle, which: Index, byte: Index, mask: u8) -> Option<ProofBundle> {
    let mut bundle = bundle.clone();
    let (ProofBundle::Inclusion { hashes, .. } | ProofBundle::Consistency { hashes, .. }) =
        &mut bundle;
    if hashes.is_empty() {
        return None;
    }
    let at = which.index(hashes.len());
    let mut raw = BASE64.decode(hashes[at].as_bytes()).unwrap();
    let byte = byte.index(raw.len());
    raw[byte] ^= mask;
    hashes[at] = BASE64.encode(&raw);
    Some(bundle)
}

/// A head recorded while the log grew, with the proofs made at that moment.
struct Recorded {
    head: SignedHead,
    /// (index, entry, inclusion bundle at this size).
    inclusions: Vec<(u64, String, ProofBundle)>,
    /// (index of an earlier head, consistency bundle from it to this one).
    consistencies: Vec<(usize, ProofBundle)>,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn growing_log_keeps_every_proof_valid(
        entries in prop::collection::vec(any::<String>(), 1..=200),
        cuts in prop::collection::vec(any::<Index>(), 0..6),
        picks in prop::collection::vec(any::<Index>(), 1..6),
        flips in prop::collection::vec((any::<Index>(), any::<Index>(), 1u8..=255), 1..4),
    ) {
        let key = signing_key();
        let pinned = verifier_key(ORIGIN, &key).unwrap();
        let n = entries.len();
        let mut sizes: Vec<usize> = cuts.iter().map(|cut| cut.index(n) + 1).collect();
        sizes.push(n);
        sizes.sort_unstable();
        sizes.dedup();

        // Grow the log, recording a head and proofs made right then at every chosen size.
        let mut log = Log::default();
        let mut recorded: Vec<Recorded> = Vec::new();
        for entry in &entries {
            log.append(entry.as_bytes());
            let size = log.size();
            if !sizes.contains(&(size as usize)) {
                continue;
            }
            let mut indices: Vec<u64> = picks.iter().map(|pick| pick.index(size as usize) as u64).collect();
            indices.extend([0, size - 1]);
            indices.sort_unstable();
            indices.dedup();
            let inclusions = indices
                .into_iter()
                .map(|index| {
                    let entry = entries[index as usize].clone();
                    let proof = log.prove_inclusion(index, size).unwrap();
                    (index, entry.clone(), ProofBundle::inclusion(index, size, entry, &proof))
                })
                .collect();
            let consistencies = recorded
                .iter()
                .enumerate()
                .map(|(earlier, old)| {
                    let proof = log.prove_consistency(old.head.size, size).unwrap();
                    (earlier, ProofBundle::consistency(old.head.size, size, &proof))
                })
                .collect();
            recorded.push(Recorded { head: head(&log, &key), inclusions, consistencies });
        }
        prop_assert_eq!(recorded.len(), sizes.len());

        for (at, then) in recorded.iter().enumerate() {
            let old_head = download(&then.head);
            for (index, entry, bundle) in &then.inclusions {
                // The proof made back then still verifies against the head of back then...
                let verified = verify_bundle(&old_head, &download(bundle), None, Some(&pinned));
                prop_assert!(verified.is_ok(), "index {} size {}: {:?}", index, old_head.size, verified);
                // ...and a fresh proof for the same entry verifies against every later head.
                for later in &recorded[at..] {
                    let proof = log.prove_inclusion(*index, later.head.size).unwrap();
                    let fresh = ProofBundle::inclusion(*index, later.head.size, entry.clone(), &proof);
                    let verified = verify_bundle(&download(&later.head), &download(&fresh), None, Some(&pinned));
                    prop_assert!(verified.is_ok(), "index {} size {}: {:?}", index, later.head.size, verified);
                }
                for &(which, byte, mask) in &flips {
                    if let Some(bad) = flip_byte(bundle, which, byte, mask) {
                        prop_assert!(verify_bundle(&old_head, &bad, None, Some(&pinned)).is_err());
                    }
                }
            }
            for (earlier, bundle) in &then.consistencies {
                let old = download(&recorded[*earlier].head);
                let verified = verify_bundle(&old_head, &download(bundle), Some(&old), Some(&pinned));
                prop_assert!(verified.is_ok(), "{} -> {}: {:?}", old.size, old_head.size, verified);
                for &(which, byte, mask) in &flips {
                    if let Some(bad) = flip_byte(bundle, which, byte, mask) {
                        prop_assert!(verify_bundle(&old_head, &bad, Some(&old), Some(&pinned)).is_err());
                    }
                }
            }
        }
    }
}
