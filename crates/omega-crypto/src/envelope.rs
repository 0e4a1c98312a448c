//! Envelope signatures: the sending device signs every field of an envelope.

use omega_proto::signing::envelope_signing_bytes;
use omega_proto::v1;

use crate::device::DeviceAccount;
use crate::identity::{SignatureError, verify_ed25519};

/// Sets `envelope.signature` to the device's Ed25519 signature over
/// [`omega_proto::signing::envelope_signing_bytes`]. The caller fills every other field first,
/// `sender_device` included (normally `account.ed25519()`).
pub fn sign_envelope(account: &DeviceAccount, envelope: &mut v1::Envelope) {
    envelope.signature = account.sign(&envelope_signing_bytes(envelope)).to_vec();
}

/// Verifies `envelope.signature` with `envelope.sender_device` as the Ed25519 key.
///
/// This proves only that the holder of `sender_device` sent the envelope; the caller still checks
/// that the device belongs to `sender_user` (its verified device list).
pub fn verify_envelope_signature(envelope: &v1::Envelope) -> Result<(), SignatureError> {
    verify_ed25519(
        &envelope.sender_device,
        &envelope_signing_bytes(envelope),
        &envelope.signature,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::KeyError;

    fn signed(account: &DeviceAccount) -> v1::Envelope {
        let mut envelope = v1::Envelope {
            version: 1,
            message_id: vec![1; 16],
            sender_user: vec![2; 32],
            sender_device: account.ed25519().to_vec(),
            recipient_user: vec![4; 32],
            recipient_device: vec![5; 32],
            timestamp_ms: 1_700_000_000_000,
            ciphertext: Some(v1::OlmMessage {
                message_type: 0,
                body: vec![6; 40],
            }),
            sender_devices: Some(v1::SignedDeviceList {
                device_list: vec![7; 20],
                signature: vec![8; 64],
            }),
            signature: Vec::new(),
        };
        sign_envelope(account, &mut envelope);
        envelope
    }

    #[test]
    fn a_signed_envelope_verifies() {
        let account = DeviceAccount::generate();
        let envelope = signed(&account);
        assert_eq!(envelope.signature.len(), 64);
        verify_envelope_signature(&envelope).unwrap();
    }

    #[test]
    fn envelope_signature_detects_a_change_to_any_field() {
        let account = DeviceAccount::generate();
        let other = DeviceAccount::generate();
        let base = signed(&account);
        type Change = Box<dyn Fn(&mut v1::Envelope)>;
        let changes: Vec<(&str, Change)> = vec![
            ("version", Box::new(|e| e.version = 2)),
            ("message_id", Box::new(|e| e.message_id[3] ^= 1)),
            ("sender_user", Box::new(|e| e.sender_user[0] ^= 1)),
            (
                "sender_device",
                Box::new(move |e| e.sender_device = other.ed25519().to_vec()),
            ),
            ("recipient_user", Box::new(|e| e.recipient_user[31] ^= 1)),
            ("recipient_device", Box::new(|e| e.recipient_device[9] ^= 1)),
            ("timestamp_ms", Box::new(|e| e.timestamp_ms += 1)),
            (
                "ciphertext.message_type",
                Box::new(|e| {
                    if let Some(c) = e.ciphertext.as_mut() {
                        c.message_type = 1;
                    }
                }),
            ),
            (
                "ciphertext.body",
                Box::new(|e| {
                    if let Some(c) = e.ciphertext.as_mut() {
                        c.body[0] ^= 1;
                    }
                }),
            ),
            ("ciphertext removed", Box::new(|e| e.ciphertext = None)),
            (
                "sender_devices.device_list",
                Box::new(|e| {
                    if let Some(list) = e.sender_devices.as_mut() {
                        list.device_list.push(0);
                    }
                }),
            ),
            (
                "sender_devices.signature",
                Box::new(|e| {
                    if let Some(list) = e.sender_devices.as_mut() {
                        list.signature[0] ^= 1;
                    }
                }),
            ),
            (
                "sender_devices removed",
                Box::new(|e| e.sender_devices = None),
            ),
            ("signature", Box::new(|e| e.signature[63] ^= 0x40)),
        ];
        for (field, change) in changes {
            let mut changed = base.clone();
            change(&mut changed);
            assert!(
                verify_envelope_signature(&changed).is_err(),
                "changing {field} went unnoticed"
            );
        }
    }

    #[test]
    fn malformed_keys_and_signatures_are_clean_errors() {
        let account = DeviceAccount::generate();
        let mut envelope = signed(&account);
        envelope.signature.truncate(10);
        assert_eq!(
            verify_envelope_signature(&envelope),
            Err(SignatureError::Length { got: 10 })
        );
        let mut envelope = signed(&account);
        envelope.sender_device.clear();
        assert_eq!(
            verify_envelope_signature(&envelope),
            Err(SignatureError::Key(KeyError::Length {
                expected: 32,
                got: 0
            }))
        );
    }
}
