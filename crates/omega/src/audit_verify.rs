//! `omega audit verify`: checks a signed tree head and an inclusion or consistency proof
//! downloaded from a hub's audit API, offline, with `omega_audit::bundle`.

use std::path::Path;

use anyhow::{Context, Result};
use omega_audit::bundle::{ProofBundle, SignedHead, Verified, verify_bundle};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What `--json` prints on success.
#[derive(Serialize)]
struct Report<'a> {
    ok: bool,
    /// Whether `--key` was given; if not, the head was checked against its own key.
    pinned: bool,
    /// The verifier key the heads were checked against.
    verifier_key: &'a str,
    #[serde(flatten)]
    verified: &'a Verified,
}

/// Reads HEAD.json, PROOF.json and (for a consistency proof) the old HEAD.json, verifies
/// them against `key` (else the head's own verifier key), and prints what was proven. An
/// error says which file could not be read or parsed, or what did not verify.
pub fn run(
    head: &Path,
    proof: &Path,
    old_head: Option<&Path>,
    key: Option<&str>,
    json: bool,
) -> Result<()> {
    let head_value: SignedHead = read_json(head, "a signed head object")?;
    let proof_value: ProofBundle = read_json(proof, "a proof bundle object")?;
    let old_head_value: Option<SignedHead> = old_head
        .map(|path| read_json(path, "a signed head object"))
        .transpose()?;
    let verified = verify_bundle(&head_value, &proof_value, old_head_value.as_ref(), key)
        .with_context(|| {
            format!(
                "audit proof {} does not verify against {}",
                proof.display(),
                head.display()
            )
        })?;
    let verifier_key = key.unwrap_or(&head_value.verifier_key);
    if json {
        let report = Report {
            ok: true,
            pinned: key.is_some(),
            verifier_key,
            verified: &verified,
        };
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("ok: {verified}");
        if key.is_none() {
            eprintln!(
                "warning: no --key given; checked against the head's own key {verifier_key}: \
                 compare it with the hub's published key"
            );
        }
    }
    Ok(())
}

/// Parses `path` as JSON of type `T`, naming the file and what was expected on failure.
fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: expected {what}", path.display()))
}
