//! Signed peer records: where a device can be reached, published in the DHT under a key derived
//! from its user and device keys, signed by the device, bound to the user by the device list.

use omega_proto::{Message, v1};
use sha2::{Digest, Sha256};

use crate::device::DeviceAccount;
use crate::device_list::{DeviceInfo, DeviceListError, verify_device_list};
use crate::identity::UserKey;

/// Why a peer record was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerRecordError {
    #[error("malformed peer record: {0}")]
    Malformed(#[from] omega_proto::DecodeError),
    #[error("peer record has no device list")]
    MissingDevices,
    #[error("peer record device list: {0}")]
    Devices(#[from] DeviceListError),
    #[error("the signing device is not in the device list")]
    UnknownDevice,
    #[error("bad peer record signature")]
    BadSignature,
    #[error("the record is stored under a key that is not its own")]
    WrongKey,
    #[error("peer record has {got} addresses, more than {limit}")]
    TooManyAddrs { got: usize, limit: usize },
}

/// Most addresses a record may list.
pub const MAX_RECORD_ADDRS: usize = 32;

/// A verified record.
#[derive(Clone, Debug)]
pub struct VerifiedPeerRecord {
    pub user: UserKey,
    pub device: DeviceInfo,
    pub addrs: Vec<String>,
    pub issued_ms: u64,
    pub devices_version: u64,
}

/// The DHT key of a device's record.
pub fn peer_record_key(user: &UserKey, device_curve25519: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(omega_proto::signing::peer_record_key_input(
        user.as_bytes(),
        device_curve25519,
    ))
    .into()
}

/// Signs a record for this device, listing `addrs`.
pub fn sign_peer_record(
    account: &DeviceAccount,
    devices: &v1::SignedDeviceList,
    addrs: Vec<String>,
    issued_ms: u64,
) -> v1::SignedPeerRecord {
    let record = v1::PeerRecord {
        devices: Some(devices.clone()),
        device_ed25519: account.ed25519().to_vec(),
        addrs,
        issued_ms,
    }
    .encode_to_vec();
    let signature = account.sign(&omega_proto::signing::peer_record_signing_bytes(&record));
    v1::SignedPeerRecord {
        record,
        signature: signature.to_vec(),
    }
}

/// Verifies an encoded `SignedPeerRecord`; with `key`, also that it is stored under its own key.
pub fn verify_peer_record(
    bytes: &[u8],
    expected_user: Option<&UserKey>,
    key: Option<&[u8]>,
) -> Result<VerifiedPeerRecord, PeerRecordError> {
    let signed = omega_proto::decode_signed_peer_record(bytes)?;
    let record = omega_proto::decode_peer_record(&signed.record)?;
    let list = record
        .devices
        .as_ref()
        .ok_or(PeerRecordError::MissingDevices)?;
    let devices = verify_device_list(list, expected_user)?;
    let device = devices
        .device_by_ed25519(&record.device_ed25519)
        .ok_or(PeerRecordError::UnknownDevice)?
        .clone();
    crate::identity::verify_ed25519(
        &device.ed25519,
        &omega_proto::signing::peer_record_signing_bytes(&signed.record),
        &signed.signature,
    )
    .map_err(|_| PeerRecordError::BadSignature)?;
    if record.addrs.len() > MAX_RECORD_ADDRS {
        return Err(PeerRecordError::TooManyAddrs {
            got: record.addrs.len(),
            limit: MAX_RECORD_ADDRS,
        });
    }
    if let Some(key) = key
        && key != peer_record_key(&devices.user, &device.curve25519)
    {
        return Err(PeerRecordError::WrongKey);
    }
    Ok(VerifiedPeerRecord {
        user: devices.user,
        device,
        addrs: record.addrs,
        issued_ms: record.issued_ms,
        devices_version: devices.version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserIdentity;

    fn setup() -> (UserIdentity, DeviceAccount, v1::SignedDeviceList) {
        let user = UserIdentity::generate(&mut rand::rngs::OsRng);
        let account = DeviceAccount::generate();
        let list = v1::DeviceList {
            user_key: user.public_key().as_bytes().to_vec(),
            version: 1,
            devices: vec![account.device_info(vec![1, 2, 3], "laptop")],
            created_ms: 0,
        };
        let signed = user.sign_device_list(&list);
        (user, account, signed)
    }

    #[test]
    fn record_round_trips_and_binds_its_key() {
        let (user, account, devices) = setup();
        let record = sign_peer_record(&account, &devices, vec!["/ip4/127.0.0.1/tcp/1".into()], 5)
            .encode_to_vec();
        let key = peer_record_key(&user.public_key(), &account.curve25519());
        let verified = verify_peer_record(&record, Some(&user.public_key()), Some(&key)).unwrap();
        assert_eq!(verified.addrs, ["/ip4/127.0.0.1/tcp/1"]);
        assert_eq!(verified.issued_ms, 5);
        assert!(matches!(
            verify_peer_record(&record, None, Some(&[0u8; 32])),
            Err(PeerRecordError::WrongKey)
        ));
    }

    #[test]
    fn tampered_or_foreign_records_are_refused() {
        let (user, account, devices) = setup();
        let mut signed = sign_peer_record(&account, &devices, vec!["/ip4/1.2.3.4/tcp/1".into()], 5);
        let last = signed.record.len() - 1;
        signed.record[last] ^= 1;
        assert!(verify_peer_record(&signed.encode_to_vec(), None, None).is_err());
        // A device not in the list cannot speak for the user.
        let stranger = DeviceAccount::generate();
        let forged = sign_peer_record(&stranger, &devices, vec![], 5).encode_to_vec();
        assert!(matches!(
            verify_peer_record(&forged, Some(&user.public_key()), None),
            Err(PeerRecordError::UnknownDevice)
        ));
        assert!(verify_peer_record(b"garbage", None, None).is_err());
    }
}
