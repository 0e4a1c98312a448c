//! Megolm group sessions (vodozemac): one outbound session per sending device per group, whose
//! key travels to the other members over Olm; inbound sessions decrypt what it encrypts.
//! Pickles are encrypted under the store key like Olm sessions.

use std::fmt;

use vodozemac::megolm::{
    GroupSession, GroupSessionPickle, InboundGroupSession, InboundGroupSessionPickle,
    MegolmMessage, SessionConfig, SessionKey,
};
use zeroize::Zeroizing;

use crate::device::PickleError;

/// Why a group message could not be decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MegolmError {
    /// The session key's bytes are not a valid, signed Megolm session key.
    #[error("invalid group session key: {reason}")]
    InvalidKey { reason: String },
    /// The ciphertext is not a Megolm message.
    #[error("malformed group message: {reason}")]
    Malformed { reason: String },
    /// The message does not decrypt with this session (wrong session, tampered, or from an
    /// index before the one the key was shared at).
    #[error("group message does not decrypt: {reason}")]
    Decrypt { reason: String },
}

/// The sending side: encrypts this device's messages to a group.
pub struct OutboundGroup {
    session: GroupSession,
}

impl OutboundGroup {
    /// A fresh session with a random ratchet and signing key.
    pub fn new() -> Self {
        Self {
            session: GroupSession::new(SessionConfig::version_1()),
        }
    }

    /// The session id (unpadded base64 of the session's public signing key).
    pub fn session_id(&self) -> String {
        self.session.session_id()
    }

    /// The index the next message will have.
    pub fn message_index(&self) -> u32 {
        self.session.message_index()
    }

    /// The key that lets a member decrypt from the current index on (secret: send over Olm only).
    pub fn session_key(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.session.session_key().to_bytes())
    }

    /// Encrypts `plaintext`; the ratchet advances, so the caller must persist the session.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Vec<u8> {
        self.session.encrypt(plaintext).to_bytes()
    }

    /// Serializes and encrypts the session state under `key`.
    pub fn pickle(&self, key: &[u8; 32]) -> String {
        self.session.pickle().encrypt(key)
    }

    /// Restores a session from [`Self::pickle`] output.
    pub fn from_pickle(pickle: &str, key: &[u8; 32]) -> Result<Self, PickleError> {
        let pickle = GroupSessionPickle::from_encrypted(pickle, key)?;
        Ok(Self {
            session: GroupSession::from_pickle(pickle),
        })
    }
}

impl Default for OutboundGroup {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for OutboundGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundGroup")
            .field("session_id", &self.session_id())
            .field("message_index", &self.message_index())
            .finish_non_exhaustive()
    }
}

/// The receiving side of another device's outbound session.
pub struct InboundGroup {
    session: InboundGroupSession,
}

impl InboundGroup {
    /// Opens the session from a key received over Olm (its signature is checked).
    pub fn new(session_key: &[u8]) -> Result<Self, MegolmError> {
        let key = SessionKey::from_bytes(session_key).map_err(|error| MegolmError::InvalidKey {
            reason: error.to_string(),
        })?;
        Ok(Self {
            session: InboundGroupSession::new(&key, SessionConfig::version_1()),
        })
    }

    /// The session id; equal to the sender's [`OutboundGroup::session_id`].
    pub fn session_id(&self) -> String {
        self.session.session_id()
    }

    /// The first ratchet index this session can decrypt (the index its key was shared at).
    pub fn first_known_index(&self) -> u32 {
        self.session.first_known_index()
    }

    /// Decrypts a message of this session (its signature and MAC are checked). Returns the
    /// plaintext and the message's index in the ratchet.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<(Vec<u8>, u32), MegolmError> {
        let message =
            MegolmMessage::from_bytes(ciphertext).map_err(|error| MegolmError::Malformed {
                reason: error.to_string(),
            })?;
        let decrypted = self
            .session
            .decrypt(&message)
            .map_err(|error| MegolmError::Decrypt {
                reason: error.to_string(),
            })?;
        Ok((decrypted.plaintext, decrypted.message_index))
    }

    /// Serializes and encrypts the session state under `key`.
    pub fn pickle(&self, key: &[u8; 32]) -> String {
        self.session.pickle().encrypt(key)
    }

    /// Restores a session from [`Self::pickle`] output.
    pub fn from_pickle(pickle: &str, key: &[u8; 32]) -> Result<Self, PickleError> {
        let pickle = InboundGroupSessionPickle::from_encrypted(pickle, key)?;
        Ok(Self {
            session: InboundGroupSession::from_pickle(pickle),
        })
    }
}

impl fmt::Debug for InboundGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundGroup")
            .field("session_id", &self.session_id())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [9; 32];

    #[test]
    fn a_member_with_the_key_decrypts_and_a_later_key_cannot_read_earlier_messages() {
        let mut outbound = OutboundGroup::new();
        let early = outbound.encrypt(b"before you joined");
        let key = outbound.session_key();
        let mut inbound = InboundGroup::new(&key).expect("key");
        assert_eq!(inbound.session_id(), outbound.session_id());
        let message = outbound.encrypt(b"hello group");
        let (plaintext, index) = inbound.decrypt(&message).expect("decrypt");
        assert_eq!(plaintext, b"hello group");
        assert_eq!(index, 1);
        assert!(matches!(
            inbound.decrypt(&early),
            Err(MegolmError::Decrypt { .. })
        ));
    }

    #[test]
    fn another_session_tampering_and_garbage_are_refused() {
        let mut outbound = OutboundGroup::new();
        let mut other = InboundGroup::new(&OutboundGroup::new().session_key()).expect("key");
        let message = outbound.encrypt(b"secret");
        assert!(other.decrypt(&message).is_err());
        let mut inbound = InboundGroup::new(&outbound.session_key()).expect("key");
        let mut tampered = outbound.encrypt(b"secret");
        let middle = tampered.len() / 2;
        tampered[middle] ^= 1;
        assert!(inbound.decrypt(&tampered).is_err());
        assert!(matches!(
            inbound.decrypt(b"garbage"),
            Err(MegolmError::Malformed { .. })
        ));
        assert!(matches!(
            InboundGroup::new(b"not a key"),
            Err(MegolmError::InvalidKey { .. })
        ));
    }

    #[test]
    fn sessions_survive_a_pickle_round_trip_and_refuse_the_wrong_key() {
        let mut outbound = OutboundGroup::new();
        let inbound = InboundGroup::new(&outbound.session_key()).expect("key");
        let _ = outbound.encrypt(b"one");
        let mut outbound = OutboundGroup::from_pickle(&outbound.pickle(&KEY), &KEY).expect("out");
        assert_eq!(outbound.message_index(), 1);
        let message = outbound.encrypt(b"two");
        let mut inbound = InboundGroup::from_pickle(&inbound.pickle(&KEY), &KEY).expect("in");
        assert_eq!(inbound.decrypt(&message).expect("decrypt").0, b"two");
        assert!(OutboundGroup::from_pickle(&outbound.pickle(&KEY), &[1; 32]).is_err());
    }
}
