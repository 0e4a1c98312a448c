//! Device keys and Olm sessions: thin wrappers over vodozemac that speak `omega_proto` types.
//!
//! vodozemac draws its randomness (new accounts, one-time keys, ratchet keys) from the operating
//! system RNG internally; that is the one place this crate does not take a caller's RNG.

use std::fmt;

use vodozemac::olm::{
    Account, AccountPickle, OlmMessage as VodozemacMessage, PreKeyMessage, Session, SessionConfig,
    SessionPickle,
};
use vodozemac::{Curve25519PublicKey, Curve25519SecretKey};

use omega_proto::v1;

use crate::device_list::VerifiedKeyBundle;
use crate::identity::KeyError;

/// Wire value of `OlmMessage.message_type` for a pre-key message.
pub const MESSAGE_TYPE_PRE_KEY: u32 = 0;
/// Wire value of `OlmMessage.message_type` for a normal message.
pub const MESSAGE_TYPE_NORMAL: u32 = 1;

/// Why an Olm operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OlmError {
    /// A session can only be created from a pre-key message.
    #[error("expected a pre-key message (type 0), got type {got}")]
    NotPreKey { got: u32 },
    /// The message type is neither pre-key nor normal.
    #[error("olm message type must be 0 or 1, got {got}")]
    MessageType { got: u32 },
    /// The message body is not a valid Olm message.
    #[error("malformed olm message: {0}")]
    Malformed(#[source] vodozemac::DecodeError),
    /// A Curve25519 key is unusable.
    #[error("bad curve25519 key: {0}")]
    Key(#[from] KeyError),
    /// vodozemac refused to create the session (unknown one-time key, wrong sender, ...).
    #[error("cannot create olm session: {0}")]
    SessionCreation(#[source] vodozemac::olm::SessionCreationError),
    /// Encryption failed.
    #[error("cannot encrypt: {0}")]
    Encrypt(#[source] vodozemac::olm::EncryptionError),
    /// Decryption failed: wrong session, tampered, replayed or too old.
    #[error("cannot decrypt: {0}")]
    Decrypt(#[source] vodozemac::olm::DecryptionError),
}

/// Why a pickle could not be restored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PickleError {
    /// Authentication failed: wrong pickle key, or the pickle was altered.
    #[error("pickle does not decrypt with this key (wrong key or corrupt pickle)")]
    WrongKey,
    /// The pickle is not in the expected format.
    #[error("malformed pickle: {reason}")]
    Malformed { reason: String },
}

impl From<vodozemac::PickleError> for PickleError {
    fn from(error: vodozemac::PickleError) -> Self {
        match error {
            vodozemac::PickleError::Decryption(_) => Self::WrongKey,
            other => Self::Malformed {
                reason: other.to_string(),
            },
        }
    }
}

/// One device's long-lived Olm account: its Ed25519 signing key, Curve25519 identity key,
/// one-time keys and fallback key.
pub struct DeviceAccount {
    account: Account,
}

impl DeviceAccount {
    /// Creates a new account with fresh keys and a fallback key (OS RNG, inside vodozemac).
    pub fn generate() -> Self {
        let mut account = Account::new();
        account.generate_fallback_key();
        account.mark_keys_as_published();
        Self { account }
    }

    /// Restores an account from [`Self::pickle`] output.
    pub fn from_pickle(pickle: &str, key: &[u8; 32]) -> Result<Self, PickleError> {
        let pickle = AccountPickle::from_encrypted(pickle, key)?;
        Ok(Self {
            account: Account::from_pickle(pickle),
        })
    }

    /// Serializes and encrypts the account (secrets included) under `key`.
    pub fn pickle(&self, key: &[u8; 32]) -> String {
        self.account.pickle().encrypt(key)
    }

    /// The device's Ed25519 public key (signs envelopes and one-time keys).
    pub fn ed25519(&self) -> [u8; 32] {
        *self.account.ed25519_key().as_bytes()
    }

    /// The device's Curve25519 identity key (Olm sessions).
    pub fn curve25519(&self) -> [u8; 32] {
        self.account.curve25519_key().to_bytes()
    }

    /// Signs `message` with the device's Ed25519 key (standard Ed25519).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.account.sign(message).to_bytes()
    }

    /// This device as an entry of a device list.
    pub fn device_info(&self, peer_id: Vec<u8>, name: &str) -> v1::Device {
        v1::Device {
            ed25519: self.ed25519().to_vec(),
            curve25519: self.curve25519().to_vec(),
            peer_id,
            name: name.to_owned(),
            sealing_x25519: Vec::new(),
        }
    }

    /// Answers a `/omega/keys/1` request: one fresh one-time key, signed by this device, alongside
    /// the user's signed device list. Falls back to a fresh fallback key (`fallback: true`) if no
    /// one-time key could be generated.
    pub fn issue_one_time_key(&mut self, devices: &v1::SignedDeviceList) -> v1::KeysResponse {
        let created = self.account.generate_one_time_keys(1).created;
        let (one_time_key, fallback) = match created.first() {
            Some(key) => (Some(*key), false),
            None => {
                self.account.generate_fallback_key();
                (self.account.fallback_key().values().next().copied(), true)
            }
        };
        self.account.mark_keys_as_published();
        let curve25519 = self.curve25519();
        let one_time_key = one_time_key.map(|key| key.to_bytes()).unwrap_or_default();
        let key_signature = self.sign(&omega_proto::signing::one_time_key_signing_bytes(
            &curve25519,
            &one_time_key,
        ));
        v1::KeysResponse {
            devices: Some(devices.clone()),
            device_curve25519: curve25519.to_vec(),
            one_time_key: one_time_key.to_vec(),
            fallback,
            key_signature: key_signature.to_vec(),
        }
    }

    /// Generates `count` fresh one-time keys for a prekey directory, each signed by this device, and
    /// marks them published. The caller must persist the account before uploading them.
    pub fn issue_pre_keys(&mut self, count: usize) -> Vec<v1::SignedPreKey> {
        let created = self.account.generate_one_time_keys(count).created;
        self.account.mark_keys_as_published();
        created
            .iter()
            .map(|key| self.signed_pre_key(&key.to_bytes()))
            .collect()
    }

    /// Replaces the fallback key (the previous one stays usable for sessions already started with
    /// it) and returns the new one, signed, for a prekey directory.
    pub fn rotate_fallback_key(&mut self) -> Option<v1::SignedPreKey> {
        self.account.generate_fallback_key();
        let key = self.account.fallback_key().values().next().copied()?;
        self.account.mark_keys_as_published();
        Some(self.signed_pre_key(&key.to_bytes()))
    }

    fn signed_pre_key(&self, key: &[u8; 32]) -> v1::SignedPreKey {
        let signature = self.sign(&omega_proto::signing::one_time_key_signing_bytes(
            &self.curve25519(),
            key,
        ));
        v1::SignedPreKey {
            key: key.to_vec(),
            signature: signature.to_vec(),
        }
    }

    /// Starts a session with the device of a verified key bundle. Its first messages are pre-key
    /// messages until the other side answers.
    pub fn create_outbound(&self, bundle: &VerifiedKeyBundle) -> Result<OlmSession, OlmError> {
        let session = self
            .account
            .create_outbound_session(
                SessionConfig::version_1(),
                Curve25519PublicKey::from_bytes(bundle.device.curve25519),
                Curve25519PublicKey::from_bytes(bundle.one_time_key),
            )
            .map_err(OlmError::SessionCreation)?;
        Ok(OlmSession { session })
    }

    /// Creates a session from a pre-key message sent by the device whose Curve25519 identity key is
    /// `their_curve25519`, and returns it with the decrypted plaintext. The one-time key used is
    /// consumed: the caller must persist the account afterwards.
    pub fn create_inbound(
        &mut self,
        their_curve25519: &[u8; 32],
        message: &v1::OlmMessage,
    ) -> Result<(OlmSession, Vec<u8>), OlmError> {
        if message.message_type != MESSAGE_TYPE_PRE_KEY {
            return Err(OlmError::NotPreKey {
                got: message.message_type,
            });
        }
        let pre_key = PreKeyMessage::from_bytes(&message.body).map_err(OlmError::Malformed)?;
        let result = self
            .account
            .create_inbound_session(
                SessionConfig::version_1(),
                Curve25519PublicKey::from_bytes(*their_curve25519),
                &pre_key,
            )
            .map_err(OlmError::SessionCreation)?;
        Ok((
            OlmSession {
                session: result.session,
            },
            result.plaintext,
        ))
    }
}

impl fmt::Debug for DeviceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { account: _ } = self;
        f.debug_struct("DeviceAccount")
            .field("device_id", &crate::identity::device_id(&self.ed25519()))
            .finish_non_exhaustive()
    }
}

/// An Olm session (double ratchet) with one other device.
pub struct OlmSession {
    session: Session,
}

impl OlmSession {
    /// Encrypts `plaintext`. The result is a pre-key message (type 0) until this session has
    /// received a message from the other side, a normal message (type 1) afterwards.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<v1::OlmMessage, OlmError> {
        let message = self.session.encrypt(plaintext).map_err(OlmError::Encrypt)?;
        let (message_type, body) = match message {
            VodozemacMessage::PreKey(message) => (MESSAGE_TYPE_PRE_KEY, message.to_bytes()),
            VodozemacMessage::Normal(message) => (MESSAGE_TYPE_NORMAL, message.to_bytes()),
        };
        Ok(v1::OlmMessage { message_type, body })
    }

    /// Decrypts a message of this session. Messages may arrive out of order; each decrypts once.
    pub fn decrypt(&mut self, message: &v1::OlmMessage) -> Result<Vec<u8>, OlmError> {
        let message = to_vodozemac(message)?;
        self.session.decrypt(&message).map_err(OlmError::Decrypt)
    }

    /// Whether `message` is a pre-key message belonging to this session (so it should be
    /// decrypted here rather than create a new inbound session).
    pub fn matches_prekey(&self, message: &v1::OlmMessage) -> bool {
        message.message_type == MESSAGE_TYPE_PRE_KEY
            && PreKeyMessage::from_bytes(&message.body)
                .is_ok_and(|pre_key| pre_key.session_id() == self.session.session_id())
    }

    /// The globally unique session id (unpadded base64, derived from public keys only).
    pub fn session_id(&self) -> String {
        self.session.session_id()
    }

    /// Whether the other side has ever answered: from then on messages are normal messages.
    pub fn has_received_message(&self) -> bool {
        self.session.has_received_message()
    }

    /// Serializes and encrypts the session state under `key`.
    pub fn pickle(&self, key: &[u8; 32]) -> String {
        self.session.pickle().encrypt(key)
    }

    /// Restores a session from [`Self::pickle`] output.
    pub fn from_pickle(pickle: &str, key: &[u8; 32]) -> Result<Self, PickleError> {
        let pickle = SessionPickle::from_encrypted(pickle, key)?;
        Ok(Self {
            session: Session::from_pickle(pickle),
        })
    }
}

impl fmt::Debug for OlmSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { session: _ } = self;
        f.debug_struct("OlmSession")
            .field("session_id", &self.session_id())
            .field("has_received_message", &self.has_received_message())
            .finish_non_exhaustive()
    }
}

fn to_vodozemac(message: &v1::OlmMessage) -> Result<VodozemacMessage, OlmError> {
    let message_type = match message.message_type {
        MESSAGE_TYPE_PRE_KEY => 0,
        MESSAGE_TYPE_NORMAL => 1,
        got => return Err(OlmError::MessageType { got }),
    };
    VodozemacMessage::from_parts(message_type, &message.body).map_err(OlmError::Malformed)
}

/// Checks that `bytes` is a 32-byte Curve25519 key that is not of small order (a Diffie-Hellman
/// with it would be non-contributory, and vodozemac would refuse the session).
pub(crate) fn curve25519_key(bytes: &[u8]) -> Result<[u8; 32], KeyError> {
    let array: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Length {
        expected: 32,
        got: bytes.len(),
    })?;
    // Any clamped scalar works for the check: the result is all-zero exactly when the point has
    // small order. The scalar is public and never used for anything else.
    let probe = Curve25519SecretKey::from_slice(&[0x5a; 32]);
    match probe.diffie_hellman(&Curve25519PublicKey::from_bytes(array)) {
        Some(_) => Ok(array),
        None => Err(KeyError::WeakKey),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_pickle_round_trips_and_a_wrong_key_is_an_error() {
        let account = DeviceAccount::generate();
        let pickle = account.pickle(&[1; 32]);
        let restored = DeviceAccount::from_pickle(&pickle, &[1; 32]).unwrap();
        assert_eq!(restored.ed25519(), account.ed25519());
        assert_eq!(restored.curve25519(), account.curve25519());
        assert!(matches!(
            DeviceAccount::from_pickle(&pickle, &[2; 32]),
            Err(PickleError::WrongKey)
        ));
        assert!(matches!(
            DeviceAccount::from_pickle("not a pickle!", &[1; 32]),
            Err(PickleError::Malformed { .. })
        ));
    }

    #[test]
    fn debug_shows_no_secrets() {
        let account = DeviceAccount::generate();
        let debug = format!("{account:?}");
        assert!(debug.starts_with("DeviceAccount"), "{debug}");
        assert!(debug.contains(&crate::identity::device_id(&account.ed25519())));
    }

    #[test]
    fn issued_one_time_keys_are_fresh_and_signed() {
        let mut account = DeviceAccount::generate();
        let devices = v1::SignedDeviceList::default();
        let first = account.issue_one_time_key(&devices);
        let second = account.issue_one_time_key(&devices);
        assert!(!first.fallback);
        assert_eq!(first.one_time_key.len(), 32);
        assert_ne!(first.one_time_key, second.one_time_key);
        crate::identity::verify_ed25519(
            &account.ed25519(),
            &omega_proto::signing::one_time_key_signing_bytes(
                &first.device_curve25519,
                &first.one_time_key,
            ),
            &first.key_signature,
        )
        .unwrap();
    }

    #[test]
    fn create_inbound_refuses_normal_and_garbage_messages() {
        let mut account = DeviceAccount::generate();
        let normal = v1::OlmMessage {
            message_type: MESSAGE_TYPE_NORMAL,
            body: vec![1, 2, 3],
        };
        assert!(matches!(
            account.create_inbound(&[9; 32], &normal),
            Err(OlmError::NotPreKey { got: 1 })
        ));
        let garbage = v1::OlmMessage {
            message_type: MESSAGE_TYPE_PRE_KEY,
            body: vec![1, 2, 3],
        };
        assert!(matches!(
            account.create_inbound(&[9; 32], &garbage),
            Err(OlmError::Malformed(_))
        ));
    }

    #[test]
    fn small_order_curve25519_keys_are_refused() {
        assert_eq!(curve25519_key(&[0; 32]), Err(KeyError::WeakKey));
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(curve25519_key(&one), Err(KeyError::WeakKey));
        assert!(matches!(
            curve25519_key(&[9; 31]),
            Err(KeyError::Length { got: 31, .. })
        ));
        let account = DeviceAccount::generate();
        assert_eq!(
            curve25519_key(&account.curve25519()),
            Ok(account.curve25519())
        );
    }
}
