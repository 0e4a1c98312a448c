//! Ômega's cryptography: who a user is and how their devices talk.
//!
//! - [`identity`]: the user key ([`UserIdentity`], [`UserKey`]), printable user ids with a typo
//!   checksum, fingerprints and [`safety_number`]s, [`device_id`]s.
//! - [`device`]: a device's Olm account ([`DeviceAccount`]) and sessions ([`OlmSession`]), thin
//!   wrappers over vodozemac speaking `omega_proto` types.
//! - [`device_list`]: verification of a user's signed device list and of `/omega/keys/1` key
//!   bundles.
//! - [`envelope`]: device signatures over envelopes.
//! - [`card`]: `omega:` contact-card URIs and their QR codes (terminal and SVG).
//! - [`link`]: linking a new device to a user (the `omega-link:` URI, the one-time offer, the
//!   keys derived from its secret).
//! - [`keystore`]: the passphrase-sealed keystore file (Argon2id + XChaCha20-Poly1305).
//! - [`backup`]: the sealing of backup files (Argon2id + XChaCha20-Poly1305 in the STREAM
//!   construction), chunk by chunk.
//!
//! It deliberately does no IO and reads no clock: callers pass bytes, times and RNGs. The one
//! exception is randomness inside vodozemac (new accounts, one-time keys, ratchet steps), which
//! comes from the operating system RNG. It stores nothing: persisting pickles and the keystore is
//! the caller's job, and so is deciding whom to trust (showing safety numbers, pinning device
//! lists).
//!
//! ```
//! use omega_crypto::{DeviceAccount, UserIdentity, verify_device_list, verify_keys_response};
//! use omega_proto::v1;
//!
//! let mut rng = rand::rngs::OsRng;
//! let bob = UserIdentity::generate(&mut rng);
//! let mut bob_device = DeviceAccount::generate();
//! let list = v1::DeviceList {
//!     user_key: bob.public_key().as_bytes().to_vec(),
//!     version: 1,
//!     devices: vec![bob_device.device_info(vec![], "laptop")],
//!     created_ms: 0,
//! };
//! let signed = bob.sign_device_list(&list);
//! assert!(verify_device_list(&signed, Some(&bob.public_key())).is_ok());
//!
//! // Alice fetches a key bundle, checks it and opens a session.
//! let alice_device = DeviceAccount::generate();
//! let bundle = verify_keys_response(&bob_device.issue_one_time_key(&signed), &bob.public_key())?;
//! let mut alice_session = alice_device.create_outbound(&bundle)?;
//! let message = alice_session.encrypt(b"hi bob")?;
//!
//! let (_bob_session, plaintext) =
//!     bob_device.create_inbound(&alice_device.curve25519(), &message)?;
//! assert_eq!(plaintext, b"hi bob");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod backup;
pub mod card;
pub mod device;
pub mod device_list;
pub mod envelope;
pub mod identity;
pub mod keystore;
pub mod link;
pub mod mailbox;
pub mod megolm;
pub mod peer_record;
pub mod sealed;

pub use backup::{BackupError, BackupHeader, BackupOpener, BackupParams, BackupSealer, Chunk};
pub use card::{CardError, CardQr, ContactCard, QrError};
pub use device::{DeviceAccount, OlmError, OlmSession, PickleError};
pub use device_list::{
    DeviceInfo, DeviceListError, KeyBundleError, VerifiedDeviceList, VerifiedKeyBundle,
    verify_device_list, verify_keys_response,
};
pub use envelope::{sign_envelope, verify_envelope_signature};
pub use identity::{
    KeyError, SignatureError, UserIdError, UserIdentity, UserKey, device_id, safety_number,
};
pub use keystore::{KeystoreError, KeystoreSecrets, SealError};
pub use mailbox::{mailbox_address, sign_mailbox_auth, verify_mailbox_auth};
pub use megolm::{InboundGroup, MegolmError, OutboundGroup};
pub use peer_record::{
    PeerRecordError, VerifiedPeerRecord, peer_record_key, sign_peer_record, verify_peer_record,
};
