//! Canonical bytes covered by signatures.
//!
//! Signatures never cover a protobuf re-encoding (two encoders may legally differ); they cover a
//! fixed, length-prefixed layout defined here, with a domain-separation label per use so a signature
//! made for one purpose can never be replayed for another.

use crate::v1;

/// Label of envelope signatures.
pub const ENVELOPE_LABEL: &[u8] = b"omega/envelope/v1\0";
/// Label of device-list signatures (user key over the encoded DeviceList).
pub const DEVICE_LIST_LABEL: &[u8] = b"omega/device-list/v1\0";
/// Label of one-time-key signatures (device key over its curve25519 key and the one-time key).
pub const ONE_TIME_KEY_LABEL: &[u8] = b"omega/one-time-key/v1\0";

/// Label of mailbox authentication signatures (device key over a server challenge).
pub const MAILBOX_AUTH_LABEL: &[u8] = b"omega/mailbox-auth/v1\0";
/// Label of peer records (DHT keys and signatures).
pub const PEER_RECORD_LABEL: &[u8] = b"omega/peer-record/v1\0";
/// Label of mailbox addresses (recipient hashes).
pub const MAILBOX_ADDRESS_LABEL: &[u8] = b"omega/mailbox/v1\0";

fn put(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&(field.len() as u32).to_be_bytes());
    out.extend_from_slice(field);
}

/// The bytes an envelope's `signature` covers: every field except the signature itself.
pub fn envelope_signing_bytes(envelope: &v1::Envelope) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(256 + envelope.ciphertext.as_ref().map_or(0, |c| c.body.len()));
    out.extend_from_slice(ENVELOPE_LABEL);
    out.extend_from_slice(&envelope.version.to_be_bytes());
    put(&mut out, &envelope.message_id);
    put(&mut out, &envelope.sender_user);
    put(&mut out, &envelope.sender_device);
    put(&mut out, &envelope.recipient_user);
    put(&mut out, &envelope.recipient_device);
    out.extend_from_slice(&envelope.timestamp_ms.to_be_bytes());
    match &envelope.ciphertext {
        Some(ciphertext) => {
            out.push(1);
            out.extend_from_slice(&ciphertext.message_type.to_be_bytes());
            put(&mut out, &ciphertext.body);
        }
        None => out.push(0),
    }
    match &envelope.sender_devices {
        Some(list) => {
            out.push(1);
            put(&mut out, &list.device_list);
            put(&mut out, &list.signature);
        }
        None => out.push(0),
    }
    out
}

/// The bytes a device-list signature covers.
pub fn device_list_signing_bytes(encoded_device_list: &[u8]) -> Vec<u8> {
    [DEVICE_LIST_LABEL, encoded_device_list].concat()
}

/// The bytes a one-time-key signature covers.
pub fn one_time_key_signing_bytes(device_curve25519: &[u8], one_time_key: &[u8]) -> Vec<u8> {
    let mut out = ONE_TIME_KEY_LABEL.to_vec();
    put(&mut out, device_curve25519);
    put(&mut out, one_time_key);
    out
}

/// The bytes a device signs to open its mailbox: binds the server (its peer id), the one-time
/// challenge and the user.
pub fn mailbox_auth_signing_bytes(server_peer_id: &[u8], nonce: &[u8], user_key: &[u8]) -> Vec<u8> {
    let mut out = MAILBOX_AUTH_LABEL.to_vec();
    put(&mut out, server_peer_id);
    put(&mut out, nonce);
    put(&mut out, user_key);
    out
}

/// The input of a mailbox address: SHA-256 of these bytes is the `recipient_hash` (hashing is left
/// to the caller, so this crate stays free of hash dependencies).
pub fn mailbox_address_input(user_key: &[u8], device_curve25519: &[u8]) -> Vec<u8> {
    let mut out = MAILBOX_ADDRESS_LABEL.to_vec();
    put(&mut out, user_key);
    put(&mut out, device_curve25519);
    out
}

/// The input of a peer record's DHT key (SHA-256 of it is the key).
pub fn peer_record_key_input(user_key: &[u8], device_curve25519: &[u8]) -> Vec<u8> {
    let mut out = PEER_RECORD_LABEL.to_vec();
    put(&mut out, user_key);
    put(&mut out, device_curve25519);
    out
}

/// The bytes a peer record's signature covers.
pub fn peer_record_signing_bytes(encoded_record: &[u8]) -> Vec<u8> {
    [PEER_RECORD_LABEL, encoded_record].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_envelope_field_changes_the_signing_bytes() {
        let base = v1::Envelope {
            version: 1,
            message_id: vec![1; 16],
            sender_user: vec![2; 32],
            sender_device: vec![3; 32],
            recipient_user: vec![4; 32],
            recipient_device: vec![5; 32],
            timestamp_ms: 9,
            ciphertext: Some(v1::OlmMessage {
                message_type: 0,
                body: vec![6],
            }),
            sender_devices: None,
            signature: vec![],
        };
        let reference = envelope_signing_bytes(&base);
        type Tamper = Box<dyn Fn(&mut v1::Envelope)>;
        let variants: Vec<Tamper> = vec![
            Box::new(|e| e.message_id[0] ^= 1),
            Box::new(|e| e.sender_user[0] ^= 1),
            Box::new(|e| e.sender_device[0] ^= 1),
            Box::new(|e| e.recipient_user[0] ^= 1),
            Box::new(|e| e.recipient_device[0] ^= 1),
            Box::new(|e| e.timestamp_ms += 1),
            Box::new(|e| e.ciphertext.as_mut().unwrap().message_type = 1),
            Box::new(|e| e.ciphertext.as_mut().unwrap().body.push(0)),
            Box::new(|e| {
                e.sender_devices = Some(v1::SignedDeviceList {
                    device_list: vec![],
                    signature: vec![],
                })
            }),
        ];
        for (index, change) in variants.iter().enumerate() {
            let mut changed = base.clone();
            change(&mut changed);
            assert_ne!(
                envelope_signing_bytes(&changed),
                reference,
                "variant {index}"
            );
        }
        let mut signed = base.clone();
        signed.signature = vec![1; 64];
        assert_eq!(
            envelope_signing_bytes(&signed),
            reference,
            "signature is not covered"
        );
    }
}
