//! Mailbox addressing and authentication: which mailbox belongs to a device, and the device's proof
//! (a signature over a server's one-time challenge) that it may open it.

use sha2::{Digest, Sha256};

use crate::device::DeviceAccount;
use crate::identity::{SignatureError, UserKey};

/// The mailbox address of a device: SHA-256 over the user key and the device's Curve25519 key.
/// Depositors compute it from a contact card; the server never learns more than this hash.
pub fn mailbox_address(user: &UserKey, device_curve25519: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(omega_proto::signing::mailbox_address_input(
        user.as_bytes(),
        device_curve25519,
    ))
    .into()
}

/// The device's answer to a server challenge.
pub fn sign_mailbox_auth(
    account: &DeviceAccount,
    server_peer_id: &[u8],
    nonce: &[u8],
    user: &UserKey,
) -> [u8; 64] {
    account.sign(&omega_proto::signing::mailbox_auth_signing_bytes(
        server_peer_id,
        nonce,
        user.as_bytes(),
    ))
}

/// Checks a device's answer to a challenge (the server side).
pub fn verify_mailbox_auth(
    device_ed25519: &[u8],
    server_peer_id: &[u8],
    nonce: &[u8],
    user: &UserKey,
    signature: &[u8],
) -> Result<(), SignatureError> {
    crate::identity::verify_ed25519(
        device_ed25519,
        &omega_proto::signing::mailbox_auth_signing_bytes(server_peer_id, nonce, user.as_bytes()),
        signature,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserIdentity;

    #[test]
    fn auth_signature_binds_server_nonce_and_user() {
        let user = UserIdentity::generate(&mut rand::rngs::OsRng).public_key();
        let other = UserIdentity::generate(&mut rand::rngs::OsRng).public_key();
        let account = DeviceAccount::generate();
        let signature = sign_mailbox_auth(&account, b"server", b"nonce", &user);
        let device = account.ed25519();
        assert!(verify_mailbox_auth(&device, b"server", b"nonce", &user, &signature).is_ok());
        assert!(verify_mailbox_auth(&device, b"other", b"nonce", &user, &signature).is_err());
        assert!(verify_mailbox_auth(&device, b"server", b"nonce2", &user, &signature).is_err());
        assert!(verify_mailbox_auth(&device, b"server", b"nonce", &other, &signature).is_err());
        let stranger = DeviceAccount::generate().ed25519();
        assert!(verify_mailbox_auth(&stranger, b"server", b"nonce", &user, &signature).is_err());
    }

    #[test]
    fn mailbox_address_differs_per_device() {
        let user = UserIdentity::generate(&mut rand::rngs::OsRng).public_key();
        assert_ne!(
            mailbox_address(&user, &[1; 32]),
            mailbox_address(&user, &[2; 32])
        );
    }

    #[test]
    fn issued_pre_keys_verify_and_differ() {
        let mut account = DeviceAccount::generate();
        let keys = account.issue_pre_keys(10);
        assert_eq!(keys.len(), 10);
        let fallback = account.rotate_fallback_key().expect("fallback");
        for key in keys.iter().chain(std::iter::once(&fallback)) {
            crate::identity::verify_ed25519(
                &account.ed25519(),
                &omega_proto::signing::one_time_key_signing_bytes(&account.curve25519(), &key.key),
                &key.signature,
            )
            .expect("signed by the device");
        }
        let mut distinct: Vec<_> = keys.iter().map(|key| key.key.clone()).collect();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 10);
    }
}
