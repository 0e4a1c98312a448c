//! Ômega wire types and their canonical signing bytes.
//!
//! The schema lives in `proto/omega/v1/omega.proto` and is compiled at build time with a pure-Rust
//! protobuf compiler, so no `protoc` is needed. This crate adds what protobuf alone does not give:
//! bounded decoding ([`decode_envelope`] and friends refuse oversized or malformed input with a typed
//! error) and the canonical bytes that signatures cover ([`signing`]).
//!
//! It deliberately does no IO, reads no clock and holds no keys: signing and verifying happen in
//! `omega-crypto`, transport in `omega-net`.
//!
//! ```
//! use omega_proto::{decode_ack, decode_envelope, v1, Message};
//! let ack = v1::Ack { message_id: vec![7; 16], status: v1::AckStatus::Accepted as i32, reason: String::new() };
//! assert_eq!(decode_ack(&ack.encode_to_vec()).unwrap(), ack);
//! // An envelope missing its keys, signature and ciphertext is refused with a precise error.
//! let envelope = v1::Envelope { version: 1, message_id: vec![7; 16], ..Default::default() };
//! let error = decode_envelope(&envelope.encode_to_vec()).unwrap_err();
//! assert_eq!(error.to_string(), "envelope.sender_user must be 32 bytes, got 0");
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod signing;

/// Generated types of package `omega.v1`.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/omega.v1.rs"));
}

pub use prost::Message;

/// Wire version written by this build.
pub const WIRE_VERSION: u32 = 1;

/// Largest envelope accepted on the wire (bytes). Text messages are small; files travel as chunks.
pub const MAX_ENVELOPE_BYTES: usize = 256 * 1024;

/// Length of a message id (a UUID).
pub const MESSAGE_ID_LEN: usize = 16;

/// Why bytes could not be turned into a wire value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is larger than the limit for this type.
    #[error("{kind} is {got} bytes, more than the limit of {limit}")]
    TooLarge {
        kind: &'static str,
        got: usize,
        limit: usize,
    },
    /// The bytes are not valid protobuf for this type.
    #[error("malformed {kind}: {source}")]
    Malformed {
        kind: &'static str,
        #[source]
        source: prost::DecodeError,
    },
    /// A field has the wrong length.
    #[error("{kind}.{field} must be {expected} bytes, got {got}")]
    FieldLength {
        kind: &'static str,
        field: &'static str,
        expected: usize,
        got: usize,
    },
    /// A field that must be present is missing.
    #[error("{kind}.{field} is missing")]
    Missing {
        kind: &'static str,
        field: &'static str,
    },
    /// The envelope uses a wire version this build does not speak.
    #[error("unsupported wire version {got}, expected {expected}")]
    Version { got: u32, expected: u32 },
}

fn decode_bounded<M: Message + Default>(
    kind: &'static str,
    bytes: &[u8],
    limit: usize,
) -> Result<M, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge {
            kind,
            got: bytes.len(),
            limit,
        });
    }
    M::decode(bytes).map_err(|source| DecodeError::Malformed { kind, source })
}

fn check_len(
    kind: &'static str,
    field: &'static str,
    value: &[u8],
    expected: usize,
) -> Result<(), DecodeError> {
    if value.len() == expected {
        Ok(())
    } else {
        Err(DecodeError::FieldLength {
            kind,
            field,
            expected,
            got: value.len(),
        })
    }
}

/// Decodes an envelope and checks its structure: version, field lengths, presence of the ciphertext.
/// It does not verify the signature (that needs keys: `omega-crypto`).
pub fn decode_envelope(bytes: &[u8]) -> Result<v1::Envelope, DecodeError> {
    const KIND: &str = "envelope";
    let envelope: v1::Envelope = decode_bounded(KIND, bytes, MAX_ENVELOPE_BYTES)?;
    if envelope.version != WIRE_VERSION {
        return Err(DecodeError::Version {
            got: envelope.version,
            expected: WIRE_VERSION,
        });
    }
    check_len(KIND, "message_id", &envelope.message_id, MESSAGE_ID_LEN)?;
    check_len(KIND, "sender_user", &envelope.sender_user, 32)?;
    check_len(KIND, "sender_device", &envelope.sender_device, 32)?;
    check_len(KIND, "recipient_user", &envelope.recipient_user, 32)?;
    check_len(KIND, "recipient_device", &envelope.recipient_device, 32)?;
    check_len(KIND, "signature", &envelope.signature, 64)?;
    let ciphertext = envelope.ciphertext.as_ref().ok_or(DecodeError::Missing {
        kind: KIND,
        field: "ciphertext",
    })?;
    if ciphertext.body.is_empty() {
        return Err(DecodeError::Missing {
            kind: KIND,
            field: "ciphertext.body",
        });
    }
    Ok(envelope)
}

/// Decodes an acknowledgement of /omega/msg/1.
pub fn decode_ack(bytes: &[u8]) -> Result<v1::Ack, DecodeError> {
    decode_bounded("ack", bytes, 4 * 1024)
}

impl std::fmt::Debug for v1::LinkPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            user_secret: _,
            name,
            mailboxes,
            devices,
            contacts,
            addrs,
        } = self;
        f.debug_struct("LinkPayload")
            .field("name", name)
            .field("mailboxes", mailboxes)
            .field("devices", &devices.is_some())
            .field("contacts", &contacts.len())
            .field("addrs", addrs)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for v1::LinkInvite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            peer_id: _,
            addrs,
            secret: _,
            expires_ms,
            user_key: _,
        } = self;
        f.debug_struct("LinkInvite")
            .field("addrs", addrs)
            .field("expires_ms", expires_ms)
            .finish_non_exhaustive()
    }
}

/// Largest `/omega/link/1` response (the payload carries the contacts' cards).
pub const MAX_LINK_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Decodes a request of /omega/link/1.
pub fn decode_link_request(bytes: &[u8]) -> Result<v1::LinkRequest, DecodeError> {
    let request: v1::LinkRequest = decode_bounded("link request", bytes, 4096)?;
    check_len("link request", "proof", &request.proof, 32)?;
    Ok(request)
}

/// Decodes a response of /omega/link/1.
pub fn decode_link_response(bytes: &[u8]) -> Result<v1::LinkResponse, DecodeError> {
    decode_bounded("link response", bytes, MAX_LINK_RESPONSE_BYTES)
}

/// Decodes a sealed link payload once opened.
pub fn decode_link_payload(bytes: &[u8]) -> Result<v1::LinkPayload, DecodeError> {
    decode_bounded("link payload", bytes, MAX_LINK_RESPONSE_BYTES)
}

/// Decodes an `omega-link:` URI's payload.
pub fn decode_link_invite(bytes: &[u8]) -> Result<v1::LinkInvite, DecodeError> {
    let invite: v1::LinkInvite = decode_bounded("link invite", bytes, 4096)?;
    check_len("link invite", "secret", &invite.secret, 32)?;
    check_len("link invite", "user_key", &invite.user_key, 32)?;
    Ok(invite)
}

/// Decodes a request of /omega/keys/1.
pub fn decode_keys_request(bytes: &[u8]) -> Result<v1::KeysRequest, DecodeError> {
    let request: v1::KeysRequest = decode_bounded("keys request", bytes, 1024)?;
    check_len("keys request", "user_key", &request.user_key, 32)?;
    Ok(request)
}

/// Decodes a response of /omega/keys/1.
pub fn decode_keys_response(bytes: &[u8]) -> Result<v1::KeysResponse, DecodeError> {
    decode_bounded("keys response", bytes, 64 * 1024)
}

/// Decodes the plaintext content of a message.
pub fn decode_content(bytes: &[u8]) -> Result<v1::Content, DecodeError> {
    decode_bounded("content", bytes, MAX_ENVELOPE_BYTES)
}

/// Decodes a group message (a GossipSub publication or a carried one).
pub fn decode_group_message(bytes: &[u8]) -> Result<v1::GroupMessage, DecodeError> {
    decode_bounded("group message", bytes, MAX_ENVELOPE_BYTES)
}

/// Decodes the plaintext of a group message.
pub fn decode_group_payload(bytes: &[u8]) -> Result<v1::GroupPayload, DecodeError> {
    decode_bounded("group payload", bytes, MAX_ENVELOPE_BYTES)
}

/// Decodes a contact card (the payload of an `omega:` URI).
pub fn decode_contact_card(bytes: &[u8]) -> Result<v1::ContactCard, DecodeError> {
    decode_bounded("contact card", bytes, 16 * 1024)
}

/// Largest mailbox request (a deposit carries one envelope plus a little framing).
pub const MAX_MAILBOX_REQUEST_BYTES: usize = MAX_ENVELOPE_BYTES + 1024;

/// Decodes a request of /omega/mailbox/1.
pub fn decode_mailbox_request(bytes: &[u8]) -> Result<v1::MailboxRequest, DecodeError> {
    decode_bounded("mailbox request", bytes, MAX_MAILBOX_REQUEST_BYTES)
}

/// Decodes a response of /omega/mailbox/1 (a fetch page may carry many envelopes).
pub fn decode_mailbox_response(bytes: &[u8]) -> Result<v1::MailboxResponse, DecodeError> {
    decode_bounded("mailbox response", bytes, 8 * 1024 * 1024)
}

/// Decodes a signed peer record (a DHT value).
pub fn decode_signed_peer_record(bytes: &[u8]) -> Result<v1::SignedPeerRecord, DecodeError> {
    decode_bounded("signed peer record", bytes, 32 * 1024)
}

/// Decodes a peer record (the signed bytes inside a `SignedPeerRecord`).
pub fn decode_peer_record(bytes: &[u8]) -> Result<v1::PeerRecord, DecodeError> {
    decode_bounded("peer record", bytes, 32 * 1024)
}

/// Decodes a sealed envelope (a mailbox deposit).
pub fn decode_sealed_envelope(bytes: &[u8]) -> Result<v1::SealedEnvelope, DecodeError> {
    const KIND: &str = "sealed envelope";
    let sealed: v1::SealedEnvelope = decode_bounded(KIND, bytes, MAX_MAILBOX_REQUEST_BYTES)?;
    check_len(KIND, "ephemeral_x25519", &sealed.ephemeral_x25519, 32)?;
    check_len(KIND, "nonce", &sealed.nonce, 24)?;
    Ok(sealed)
}

/// Longest sealed file chunk: `omega_files::MAX_CHUNK_LEN` (4 MiB) plus its 16-byte tag.
pub const MAX_BLOB_CHUNK_BYTES: usize = 4 * 1024 * 1024 + 16;

/// Largest `/omega/blob/1` request or response: one sealed chunk plus its id and framing.
pub const MAX_BLOB_MESSAGE_BYTES: usize = MAX_BLOB_CHUNK_BYTES + 1024;

/// Length of a blob id (SHA-256 of the blob's bytes).
pub const BLOB_ID_LEN: usize = 32;

/// Decodes a request of /omega/blob/1 and checks it: an operation, a 32-byte id, a chunk no
/// longer than [`MAX_BLOB_CHUNK_BYTES`]. It does not check the hash (the store does).
pub fn decode_blob_request(bytes: &[u8]) -> Result<v1::BlobRequest, DecodeError> {
    const KIND: &str = "blob request";
    let request: v1::BlobRequest = decode_bounded(KIND, bytes, MAX_BLOB_MESSAGE_BYTES)?;
    match &request.op {
        Some(v1::blob_request::Op::Put(put)) => {
            check_len(KIND, "put.id", &put.id, BLOB_ID_LEN)?;
            if put.data.len() > MAX_BLOB_CHUNK_BYTES {
                return Err(DecodeError::TooLarge {
                    kind: "blob",
                    got: put.data.len(),
                    limit: MAX_BLOB_CHUNK_BYTES,
                });
            }
        }
        Some(v1::blob_request::Op::Get(get)) => check_len(KIND, "get.id", &get.id, BLOB_ID_LEN)?,
        None => {
            return Err(DecodeError::Missing {
                kind: KIND,
                field: "op",
            });
        }
    }
    Ok(request)
}

/// Decodes a response of /omega/blob/1.
pub fn decode_blob_response(bytes: &[u8]) -> Result<v1::BlobResponse, DecodeError> {
    const KIND: &str = "blob response";
    let response: v1::BlobResponse = decode_bounded(KIND, bytes, MAX_BLOB_MESSAGE_BYTES)?;
    if response.result.is_none() {
        return Err(DecodeError::Missing {
            kind: KIND,
            field: "result",
        });
    }
    Ok(response)
}

/// Decodes a device list (the signed bytes inside a `SignedDeviceList`).
pub fn decode_device_list(bytes: &[u8]) -> Result<v1::DeviceList, DecodeError> {
    decode_bounded("device list", bytes, 16 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> v1::Envelope {
        v1::Envelope {
            version: 1,
            message_id: vec![1; 16],
            sender_user: vec![2; 32],
            sender_device: vec![3; 32],
            recipient_user: vec![4; 32],
            recipient_device: vec![5; 32],
            timestamp_ms: 1_700_000_000_000,
            ciphertext: Some(v1::OlmMessage {
                message_type: 1,
                body: vec![6; 8],
            }),
            sender_devices: None,
            signature: vec![7; 64],
        }
    }

    #[test]
    fn envelope_encoding_is_stable_hex_snapshot() {
        // A change here is a wire break: bump the version instead.
        let hex = hex::encode(sample().encode_to_vec());
        assert_eq!(
            hex,
            "08011210010101010101010101010101010101011a200202020202020202020202020202020202020202020202020202020202020202222003030303030303030303030303030303030303030303030303030303030303032a200404040404040404040404040404040404040404040404040404040404040404322005050505050505050505050505050505050505050505050505050505050505053880d095ffbc31420c0801120806060606060606067a4007070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707"
        );
    }

    #[test]
    fn blob_requests_are_checked_for_op_id_length_and_chunk_size() {
        let put = |id: Vec<u8>, data: Vec<u8>| v1::BlobRequest {
            op: Some(v1::blob_request::Op::Put(v1::BlobPut { id, data })),
        };
        let ok = put(vec![1; 32], vec![2; 100]);
        assert_eq!(decode_blob_request(&ok.encode_to_vec()).unwrap(), ok);
        let err = decode_blob_request(&put(vec![1; 31], vec![]).encode_to_vec()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "blob request.put.id must be 32 bytes, got 31"
        );
        let big = put(vec![1; 32], vec![0; MAX_BLOB_CHUNK_BYTES + 1]);
        assert!(matches!(
            decode_blob_request(&big.encode_to_vec()),
            Err(DecodeError::TooLarge { kind: "blob", .. })
        ));
        let err = decode_blob_request(&v1::BlobRequest { op: None }.encode_to_vec()).unwrap_err();
        assert_eq!(err.to_string(), "blob request.op is missing");
        let get = v1::BlobRequest {
            op: Some(v1::blob_request::Op::Get(v1::BlobGet { id: vec![3; 32] })),
        };
        assert_eq!(decode_blob_request(&get.encode_to_vec()).unwrap(), get);
        let err = decode_blob_response(&[]).unwrap_err();
        assert_eq!(err.to_string(), "blob response.result is missing");
    }

    #[test]
    fn wrong_version_is_refused() {
        let mut envelope = sample();
        envelope.version = 2;
        let err = decode_envelope(&envelope.encode_to_vec()).unwrap_err();
        assert!(matches!(err, DecodeError::Version { got: 2, .. }), "{err}");
    }

    #[test]
    fn short_field_is_refused_with_expected_and_got() {
        let mut envelope = sample();
        envelope.sender_user.truncate(31);
        let err = decode_envelope(&envelope.encode_to_vec()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "envelope.sender_user must be 32 bytes, got 31"
        );
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let bytes = vec![0u8; MAX_ENVELOPE_BYTES + 1];
        assert!(matches!(
            decode_envelope(&bytes),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn garbage_is_a_clean_error() {
        for garbage in [&b"\xff\xff\xff\xff"[..], b"hello world", b"\x0a\x80"] {
            assert!(decode_envelope(garbage).is_err());
        }
    }

    fn arb_envelope() -> impl Strategy<Value = v1::Envelope> {
        (
            prop::collection::vec(any::<u8>(), 16),
            prop::collection::vec(any::<u8>(), 32),
            prop::collection::vec(any::<u8>(), 32),
            any::<u64>(),
            0u32..2,
            prop::collection::vec(any::<u8>(), 1..2048),
            prop::collection::vec(any::<u8>(), 64),
            prop::option::of(prop::collection::vec(any::<u8>(), 0..256)),
        )
            .prop_map(
                |(message_id, user, device, timestamp_ms, message_type, body, signature, list)| {
                    v1::Envelope {
                        version: 1,
                        message_id,
                        sender_user: user.clone(),
                        sender_device: device.clone(),
                        recipient_user: device,
                        recipient_device: user,
                        timestamp_ms,
                        ciphertext: Some(v1::OlmMessage { message_type, body }),
                        sender_devices: list.map(|device_list| v1::SignedDeviceList {
                            device_list,
                            signature: vec![9; 64],
                        }),
                        signature,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn envelope_round_trips(envelope in arb_envelope()) {
            let bytes = envelope.encode_to_vec();
            let decoded = decode_envelope(&bytes).unwrap();
            prop_assert_eq!(&decoded, &envelope);
            prop_assert_eq!(decoded.encode_to_vec(), bytes);
        }

        #[test]
        fn decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_envelope(&bytes);
            let _ = decode_content(&bytes);
            let _ = decode_keys_response(&bytes);
            let _ = decode_contact_card(&bytes);
        }
    }
}

#[cfg(test)]
mod fuzz_corpus {
    /// Replays the fuzz corpus (`fuzz/corpus/envelope`) as a unit test: nothing may panic, and the
    /// structurally valid seed must still decode.
    #[test]
    fn fuzz_corpus_replays_without_panic() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/envelope");
        let mut replayed = 0;
        for entry in std::fs::read_dir(&dir).expect("corpus directory") {
            let path = entry.expect("corpus entry").path();
            let bytes = std::fs::read(&path).expect("corpus file");
            let decoded = crate::decode_envelope(&bytes);
            if path
                .file_name()
                .is_some_and(|name| name == "valid-structure")
            {
                assert!(decoded.is_ok(), "{}", path.display());
            }
            let _ = crate::decode_content(&bytes);
            let _ = crate::decode_keys_response(&bytes);
            replayed += 1;
        }
        assert!(replayed >= 5, "corpus has {replayed} entries");
    }
}
