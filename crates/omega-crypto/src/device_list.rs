//! Verification of signed device lists and of `/omega/keys/1` key bundles.

use std::collections::HashSet;
use std::fmt;

use sha2::{Digest, Sha256};

use omega_proto::v1;

use crate::device::curve25519_key;
use crate::identity::{KeyError, SignatureError, UserKey, device_id, ed25519_key};

/// Why a signed device list was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceListError {
    /// The signed bytes are not a device list.
    #[error("cannot decode device list: {0}")]
    Decode(#[from] omega_proto::DecodeError),
    /// The list's user key is unusable.
    #[error("bad user key in device list: {0}")]
    UserKey(#[source] KeyError),
    /// The list belongs to another user than the one expected.
    #[error("device list is for user {got}, expected {expected}")]
    WrongUser { expected: UserKey, got: UserKey },
    /// The user-key signature does not verify.
    #[error("device list signature: {0}")]
    Signature(#[source] SignatureError),
    /// The list has no devices.
    #[error("device list has no devices, expected at least one")]
    NoDevices,
    /// A device key is unusable.
    #[error("device {index} has a bad {field} key: {source}")]
    DeviceKey {
        index: usize,
        field: &'static str,
        #[source]
        source: KeyError,
    },
    /// Two devices share a key.
    #[error("device {index} repeats the {field} key of an earlier device")]
    Duplicate { index: usize, field: &'static str },
}

/// Why a `/omega/keys/1` response was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyBundleError {
    /// The response carries no device list.
    #[error("keys response has no device list")]
    MissingDevices,
    /// The device list does not verify for the expected user.
    #[error("keys response device list: {0}")]
    DeviceList(#[from] DeviceListError),
    /// The one-time key belongs to a device that is not in the list.
    #[error("keys response names a device that is not in the user's device list")]
    UnknownDevice,
    /// The one-time key is unusable.
    #[error("bad one-time key: {0}")]
    OneTimeKey(#[source] KeyError),
    /// The device's signature over the one-time key does not verify.
    #[error("one-time key signature: {0}")]
    Signature(#[source] SignatureError),
}

/// One device of a verified device list. Its keys are checked: a full-order Ed25519 key and a
/// Curve25519 key that is not of small order.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub ed25519: [u8; 32],
    pub curve25519: [u8; 32],
    pub peer_id: Vec<u8>,
    pub name: String,
    /// Key to seal mailbox deposits to, when the device published one.
    pub sealing_x25519: Option<[u8; 32]>,
}

impl DeviceInfo {
    /// The short printable device id (see [`crate::device_id`]).
    pub fn device_id(&self) -> String {
        device_id(&self.ed25519)
    }

    /// The wire form of this device.
    pub fn to_proto(&self) -> v1::Device {
        v1::Device {
            ed25519: self.ed25519.to_vec(),
            curve25519: self.curve25519.to_vec(),
            peer_id: self.peer_id.clone(),
            name: self.name.clone(),
            sealing_x25519: self
                .sealing_x25519
                .map(|key| key.to_vec())
                .unwrap_or_default(),
        }
    }
}

impl fmt::Debug for DeviceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            ed25519: _,
            curve25519: _,
            peer_id,
            name,
            sealing_x25519,
        } = self;
        f.debug_struct("DeviceInfo")
            .field("device_id", &self.device_id())
            .field("name", name)
            .field("peer_id_len", &peer_id.len())
            .field("sealed_sender", &sealing_x25519.is_some())
            .finish()
    }
}

/// A device list whose user-key signature and device keys have been checked.
#[derive(Clone)]
pub struct VerifiedDeviceList {
    pub user: UserKey,
    pub version: u64,
    pub created_ms: u64,
    pub devices: Vec<DeviceInfo>,
    /// The signed form it was verified from, to pass on unchanged.
    pub signed: v1::SignedDeviceList,
}

impl VerifiedDeviceList {
    /// The device with this Ed25519 key, if listed.
    pub fn device_by_ed25519(&self, ed25519: &[u8]) -> Option<&DeviceInfo> {
        self.devices
            .iter()
            .find(|device| device.ed25519[..] == *ed25519)
    }

    /// The device with this Curve25519 identity key, if listed.
    pub fn device_by_curve25519(&self, curve25519: &[u8]) -> Option<&DeviceInfo> {
        self.devices
            .iter()
            .find(|device| device.curve25519[..] == *curve25519)
    }

    /// SHA-256 of the signed bytes (`signed.device_list`): names exactly this list.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(&self.signed.device_list).into()
    }
}

impl fmt::Debug for VerifiedDeviceList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            user,
            version,
            created_ms,
            devices,
            signed: _,
        } = self;
        f.debug_struct("VerifiedDeviceList")
            .field("user", user)
            .field("version", version)
            .field("created_ms", created_ms)
            .field("devices", devices)
            .finish_non_exhaustive()
    }
}

/// Verifies a signed device list: it decodes, belongs to `expected_user` (when given), carries a
/// valid signature by its user key, and lists at least one device, each with usable keys and none
/// repeated.
pub fn verify_device_list(
    signed: &v1::SignedDeviceList,
    expected_user: Option<&UserKey>,
) -> Result<VerifiedDeviceList, DeviceListError> {
    let list = omega_proto::decode_device_list(&signed.device_list)?;
    let user = UserKey::from_bytes(&list.user_key).map_err(DeviceListError::UserKey)?;
    if let Some(expected) = expected_user
        && *expected != user
    {
        return Err(DeviceListError::WrongUser {
            expected: *expected,
            got: user,
        });
    }
    user.verify(
        &omega_proto::signing::device_list_signing_bytes(&signed.device_list),
        &signed.signature,
    )
    .map_err(DeviceListError::Signature)?;
    if list.devices.is_empty() {
        return Err(DeviceListError::NoDevices);
    }
    let mut devices = Vec::with_capacity(list.devices.len());
    let mut seen_ed25519 = HashSet::new();
    let mut seen_curve25519 = HashSet::new();
    for (index, device) in list.devices.into_iter().enumerate() {
        let ed25519 = ed25519_key(&device.ed25519)
            .map_err(|source| DeviceListError::DeviceKey {
                index,
                field: "ed25519",
                source,
            })?
            .to_bytes();
        let curve25519 =
            curve25519_key(&device.curve25519).map_err(|source| DeviceListError::DeviceKey {
                index,
                field: "curve25519",
                source,
            })?;
        if !seen_ed25519.insert(ed25519) {
            return Err(DeviceListError::Duplicate {
                index,
                field: "ed25519",
            });
        }
        if !seen_curve25519.insert(curve25519) {
            return Err(DeviceListError::Duplicate {
                index,
                field: "curve25519",
            });
        }
        let sealing_x25519 = match device.sealing_x25519.len() {
            0 => None,
            _ => Some(curve25519_key(&device.sealing_x25519).map_err(|source| {
                DeviceListError::DeviceKey {
                    index,
                    field: "sealing_x25519",
                    source,
                }
            })?),
        };
        devices.push(DeviceInfo {
            ed25519,
            curve25519,
            peer_id: device.peer_id,
            name: device.name,
            sealing_x25519,
        });
    }
    Ok(VerifiedDeviceList {
        user,
        version: list.version,
        created_ms: list.created_ms,
        devices,
        signed: signed.clone(),
    })
}

/// What a verified `/omega/keys/1` response gives: everything needed to start an Olm session.
#[derive(Clone, Debug)]
pub struct VerifiedKeyBundle {
    pub devices: VerifiedDeviceList,
    /// The device the one-time key belongs to (one of `devices`).
    pub device: DeviceInfo,
    pub one_time_key: [u8; 32],
    /// Whether `one_time_key` is the device's fallback key (reusable, weaker forward secrecy).
    pub fallback: bool,
}

/// Verifies a `/omega/keys/1` response: the device list verifies for `expected_user`, the
/// one-time key belongs to one of its devices and carries that device's signature.
pub fn verify_keys_response(
    response: &v1::KeysResponse,
    expected_user: &UserKey,
) -> Result<VerifiedKeyBundle, KeyBundleError> {
    let signed = response
        .devices
        .as_ref()
        .ok_or(KeyBundleError::MissingDevices)?;
    let devices = verify_device_list(signed, Some(expected_user))?;
    let device = devices
        .device_by_curve25519(&response.device_curve25519)
        .ok_or(KeyBundleError::UnknownDevice)?
        .clone();
    let one_time_key =
        curve25519_key(&response.one_time_key).map_err(KeyBundleError::OneTimeKey)?;
    crate::identity::verify_ed25519(
        &device.ed25519,
        &omega_proto::signing::one_time_key_signing_bytes(&device.curve25519, &one_time_key),
        &response.key_signature,
    )
    .map_err(KeyBundleError::Signature)?;
    Ok(VerifiedKeyBundle {
        devices,
        device,
        one_time_key,
        fallback: response.fallback,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeviceAccount, UserIdentity};
    use prost::Message;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    struct User {
        identity: UserIdentity,
        account: DeviceAccount,
        list: v1::DeviceList,
    }

    fn user(seed: u64) -> User {
        let identity = UserIdentity::generate(&mut StdRng::seed_from_u64(seed));
        let account = DeviceAccount::generate();
        let list = v1::DeviceList {
            user_key: identity.public_key().as_bytes().to_vec(),
            version: 3,
            devices: vec![account.device_info(vec![1, 2, 3], "laptop")],
            created_ms: 1_700_000_000_000,
        };
        User {
            identity,
            account,
            list,
        }
    }

    #[test]
    fn a_signed_list_verifies_with_its_fields() {
        let alice = user(1);
        let signed = alice.identity.sign_device_list(&alice.list);
        let verified = verify_device_list(&signed, Some(&alice.identity.public_key())).unwrap();
        assert_eq!(verified.user, alice.identity.public_key());
        assert_eq!(verified.version, 3);
        assert_eq!(verified.created_ms, 1_700_000_000_000);
        assert_eq!(verified.devices.len(), 1);
        assert_eq!(verified.devices[0].name, "laptop");
        let ed25519 = alice.account.ed25519();
        assert!(verified.device_by_ed25519(&ed25519).is_some());
        assert!(
            verified
                .device_by_curve25519(&alice.account.curve25519())
                .is_some()
        );
        assert!(verified.device_by_ed25519(&[0; 32]).is_none());
        assert_eq!(
            verified.hash(),
            <[u8; 32]>::from(Sha256::digest(&signed.device_list))
        );
        assert!(verify_device_list(&signed, None).is_ok());
    }

    #[test]
    fn a_flipped_signature_bit_is_refused() {
        let alice = user(2);
        let mut signed = alice.identity.sign_device_list(&alice.list);
        signed.signature[5] ^= 0x10;
        assert!(matches!(
            verify_device_list(&signed, None),
            Err(DeviceListError::Signature(SignatureError::Invalid))
        ));
    }

    #[test]
    fn a_list_for_another_user_is_refused() {
        let alice = user(3);
        let bob = user(4);
        let signed = alice.identity.sign_device_list(&alice.list);
        let err = verify_device_list(&signed, Some(&bob.identity.public_key())).unwrap_err();
        assert!(matches!(err, DeviceListError::WrongUser { .. }), "{err}");
        assert!(
            err.to_string()
                .contains(&bob.identity.public_key().user_id())
        );
    }

    #[test]
    fn a_list_signed_by_someone_else_is_refused() {
        let alice = user(5);
        let mallory = user(6);
        // Mallory signs a list that names Alice as the user.
        let signed = mallory.identity.sign_device_list(&alice.list);
        assert!(matches!(
            verify_device_list(&signed, Some(&alice.identity.public_key())),
            Err(DeviceListError::Signature(_))
        ));
    }

    #[test]
    fn tampered_inner_bytes_are_refused() {
        let alice = user(7);
        let signed = alice.identity.sign_device_list(&alice.list);
        for index in 0..signed.device_list.len() {
            let mut tampered = signed.clone();
            tampered.device_list[index] ^= 0x01;
            assert!(
                verify_device_list(&tampered, None).is_err(),
                "byte {index} changed and still verified"
            );
        }
        let mut appended = signed.clone();
        appended.device_list.extend_from_slice(&[0x20, 0x04]);
        assert!(verify_device_list(&appended, None).is_err());
    }

    #[test]
    fn empty_duplicate_and_bad_key_lists_are_refused() {
        let alice = user(8);
        let mut list = alice.list.clone();
        list.devices.clear();
        assert!(matches!(
            verify_device_list(&alice.identity.sign_device_list(&list), None),
            Err(DeviceListError::NoDevices)
        ));

        let mut list = alice.list.clone();
        list.devices.push(list.devices[0].clone());
        assert!(matches!(
            verify_device_list(&alice.identity.sign_device_list(&list), None),
            Err(DeviceListError::Duplicate { index: 1, .. })
        ));

        let mut list = alice.list.clone();
        list.devices[0].curve25519 = vec![0; 32];
        assert!(matches!(
            verify_device_list(&alice.identity.sign_device_list(&list), None),
            Err(DeviceListError::DeviceKey {
                field: "curve25519",
                source: KeyError::WeakKey,
                ..
            })
        ));

        let mut list = alice.list.clone();
        list.devices[0].ed25519.truncate(31);
        assert!(matches!(
            verify_device_list(&alice.identity.sign_device_list(&list), None),
            Err(DeviceListError::DeviceKey {
                field: "ed25519",
                source: KeyError::Length { got: 31, .. },
                ..
            })
        ));

        let garbage = v1::SignedDeviceList {
            device_list: vec![0xff; 7],
            signature: vec![0; 64],
        };
        assert!(matches!(
            verify_device_list(&garbage, None),
            Err(DeviceListError::Decode(_))
        ));
        let no_user = v1::SignedDeviceList {
            device_list: v1::DeviceList::default().encode_to_vec(),
            signature: vec![0; 64],
        };
        assert!(matches!(
            verify_device_list(&no_user, None),
            Err(DeviceListError::UserKey(KeyError::Length { got: 0, .. }))
        ));
    }

    #[test]
    fn a_keys_response_verifies() {
        let mut bob = user(9);
        let signed = bob.identity.sign_device_list(&bob.list);
        let response = bob.account.issue_one_time_key(&signed);
        let bundle = verify_keys_response(&response, &bob.identity.public_key()).unwrap();
        assert_eq!(bundle.device.curve25519, bob.account.curve25519());
        assert_eq!(bundle.one_time_key[..], response.one_time_key[..]);
        assert!(!bundle.fallback);
    }

    #[test]
    fn a_one_time_key_signed_by_another_device_is_refused() {
        let mut bob = user(10);
        let mut other = DeviceAccount::generate();
        bob.list.devices.push(other.device_info(vec![4], "phone"));
        let signed = bob.identity.sign_device_list(&bob.list);
        let mut response = bob.account.issue_one_time_key(&signed);
        // The other (listed) device signs Bob's laptop key: still not the laptop's signature.
        response.key_signature = other
            .sign(&omega_proto::signing::one_time_key_signing_bytes(
                &response.device_curve25519,
                &response.one_time_key,
            ))
            .to_vec();
        assert!(matches!(
            verify_keys_response(&response, &bob.identity.public_key()),
            Err(KeyBundleError::Signature(SignatureError::Invalid))
        ));
        // A response naming a device outside the list.
        let mut foreign = other.issue_one_time_key(&signed);
        foreign.device_curve25519 = DeviceAccount::generate().curve25519().to_vec();
        assert!(matches!(
            verify_keys_response(&foreign, &bob.identity.public_key()),
            Err(KeyBundleError::UnknownDevice)
        ));
    }

    #[test]
    fn a_keys_response_for_the_wrong_user_or_without_a_list_is_refused() {
        let mut bob = user(11);
        let carol = user(12);
        let signed = bob.identity.sign_device_list(&bob.list);
        let mut response = bob.account.issue_one_time_key(&signed);
        assert!(matches!(
            verify_keys_response(&response, &carol.identity.public_key()),
            Err(KeyBundleError::DeviceList(
                DeviceListError::WrongUser { .. }
            ))
        ));
        response.one_time_key = vec![0; 32];
        assert!(matches!(
            verify_keys_response(&response, &bob.identity.public_key()),
            Err(KeyBundleError::OneTimeKey(KeyError::WeakKey))
        ));
        response.devices = None;
        assert!(matches!(
            verify_keys_response(&response, &bob.identity.public_key()),
            Err(KeyBundleError::MissingDevices)
        ));
    }
}
