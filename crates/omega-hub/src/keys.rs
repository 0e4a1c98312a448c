//! Signing keys: the JWT keys (rotating, identified by `kid`, published as a JWKS) and the audit
//! log's checkpoint key. Secrets are sealed in the database under the master key, so every hub
//! instance on one PostgreSQL database signs with the same keys.

use std::sync::{Arc, RwLock};

use ed25519_dalek::{SigningKey, VerifyingKey};
use omega_auth::jwt::{JwtKeySet, JwtSigner};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::seal::MasterKey;
use crate::store::{HubDb, SigningKeyRow, StoreError, now_ms};

const JWT: &str = "jwt";
const AUDIT: &str = "audit";

/// Why keys could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key {purpose}/{kid}: {message}")]
    Key {
        purpose: String,
        kid: String,
        message: String,
    },
}

/// The keys in use right now.
pub struct Keys {
    pub jwt_signer: JwtSigner,
    pub jwt_keys: JwtKeySet,
    pub audit_key: SigningKey,
    /// The checkpoint origin line (also the signed-note key name).
    pub audit_origin: String,
}

/// Loads, creates and rotates keys; hands out the current set.
pub struct KeyRing {
    db: HubDb,
    master: Arc<MasterKey>,
    current: RwLock<Arc<Keys>>,
}

impl KeyRing {
    /// Loads the keys, creating the first ones, and rotates the JWT key if it is older than
    /// `rotation_ms`.
    pub async fn load(
        db: HubDb,
        master: Arc<MasterKey>,
        rotation_ms: i64,
        grace_ms: i64,
    ) -> Result<KeyRing, KeyError> {
        let keys = build(&db, &master, rotation_ms, grace_ms, false).await?;
        Ok(KeyRing {
            db,
            master,
            current: RwLock::new(Arc::new(keys)),
        })
    }

    /// The current keys.
    pub fn current(&self) -> Arc<Keys> {
        match self.current.read() {
            Ok(keys) => keys.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reloads from the database (another instance may have rotated), rotating if due, or
    /// now when `force`.
    pub async fn refresh(
        &self,
        rotation_ms: i64,
        grace_ms: i64,
        force: bool,
    ) -> Result<(), KeyError> {
        let keys = build(&self.db, &self.master, rotation_ms, grace_ms, force).await?;
        match self.current.write() {
            Ok(mut current) => *current = Arc::new(keys),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(keys),
        }
        Ok(())
    }
}

async fn build(
    db: &HubDb,
    master: &MasterKey,
    rotation_ms: i64,
    grace_ms: i64,
    force: bool,
) -> Result<Keys, KeyError> {
    let now = now_ms();
    let mut jwt_rows = db.signing_keys(JWT).await?;
    let newest_live = jwt_rows.iter().find(|row| row.retired_ms.is_none());
    let due = newest_live.is_none_or(|row| now - row.created_ms >= rotation_ms);
    if force || due {
        let previous: Vec<String> = jwt_rows
            .iter()
            .filter(|row| row.retired_ms.is_none())
            .map(|row| row.kid.clone())
            .collect();
        create_key(db, master, JWT, now).await?;
        for kid in previous {
            db.retire_signing_key(JWT, &kid, now).await?;
        }
        jwt_rows = db.signing_keys(JWT).await?;
    }
    let mut jwt_keys = JwtKeySet::default();
    let mut signer = None;
    for row in &jwt_rows {
        let live = row
            .retired_ms
            .is_none_or(|retired| now - retired < grace_ms);
        if !live {
            continue;
        }
        let verifying = verifying_key(row)?;
        jwt_keys.insert(row.kid.clone(), verifying);
        if signer.is_none() && row.retired_ms.is_none() {
            signer = Some(JwtSigner::new(row.kid.clone(), open_key(master, row)?));
        }
    }
    let jwt_signer = signer.ok_or_else(|| KeyError::Key {
        purpose: JWT.into(),
        kid: String::new(),
        message: "no live key after rotation".into(),
    })?;

    let mut audit_rows = db.signing_keys(AUDIT).await?;
    if audit_rows.is_empty() {
        create_key(db, master, AUDIT, now).await?;
        audit_rows = db.signing_keys(AUDIT).await?;
    }
    // The audit key never rotates by itself: auditors pin it. The oldest one is the log's.
    let audit_row = audit_rows.last().ok_or_else(|| KeyError::Key {
        purpose: AUDIT.into(),
        kid: String::new(),
        message: "missing".into(),
    })?;
    let audit_key = open_key(master, audit_row)?;
    Ok(Keys {
        jwt_signer,
        jwt_keys,
        audit_origin: format!("omega-hub/{}", audit_row.kid),
        audit_key,
    })
}

async fn create_key(
    db: &HubDb,
    master: &MasterKey,
    purpose: &str,
    now: i64,
) -> Result<(), KeyError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(seed.as_mut());
    let key = SigningKey::from_bytes(&seed);
    let mut kid_bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut kid_bytes);
    let kid = hex::encode(kid_bytes);
    let row = SigningKeyRow {
        purpose: purpose.into(),
        secret_sealed: master.seal(&format!("{purpose}:{kid}"), seed.as_ref()),
        public_key: key.verifying_key().to_bytes().to_vec(),
        kid,
        created_ms: now,
        retired_ms: None,
    };
    match db.insert_signing_key(&row).await {
        Ok(()) | Err(StoreError::Conflict { .. }) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

fn open_key(master: &MasterKey, row: &SigningKeyRow) -> Result<SigningKey, KeyError> {
    let key_error = |message: String| KeyError::Key {
        purpose: row.purpose.clone(),
        kid: row.kid.clone(),
        message,
    };
    let seed = master
        .open(&format!("{}:{}", row.purpose, row.kid), &row.secret_sealed)
        .map_err(|error| key_error(error.to_string()))?;
    let seed: [u8; 32] = seed
        .as_slice()
        .try_into()
        .map_err(|_| key_error("sealed seed is not 32 bytes".into()))?;
    let key = SigningKey::from_bytes(&seed);
    if key.verifying_key().to_bytes().as_slice() != row.public_key.as_slice() {
        return Err(key_error("secret does not match the public key".into()));
    }
    Ok(key)
}

fn verifying_key(row: &SigningKeyRow) -> Result<VerifyingKey, KeyError> {
    let bytes: [u8; 32] = row
        .public_key
        .as_slice()
        .try_into()
        .map_err(|_| KeyError::Key {
            purpose: row.purpose.clone(),
            kid: row.kid.clone(),
            message: "public key is not 32 bytes".into(),
        })?;
    VerifyingKey::from_bytes(&bytes).map_err(|error| KeyError::Key {
        purpose: row.purpose.clone(),
        kid: row.kid.clone(),
        message: error.to_string(),
    })
}
