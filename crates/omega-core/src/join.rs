//! The new device's side of linking (`omega init --link URI`): parse the invite, create this
//! device's keys, claim the offer over `/omega/link/1` (Noise authenticates the existing device's
//! peer id from the URI), open the sealed payload and write the data directory as the same user.
//! See docs/devices.md.

use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use omega_crypto::link::{InviteError, LinkInvite, link_proof, open_payload};
use omega_crypto::sealed::SealingKey;
use omega_crypto::{DeviceAccount, KeystoreSecrets, UserIdentity, verify_device_list};
use omega_net::Protocol;
use omega_proto::{Message, v1};
use zeroize::Zeroize;

use crate::datadir::{DataDir, PublicInfo};

/// Why joining a user failed. Nothing is written to the data directory unless it succeeded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    #[error("invalid link uri: {0}")]
    Invite(#[from] InviteError),
    #[error("{dir} already holds an identity")]
    AlreadyInitialized { dir: std::path::PathBuf },
    #[error("link uri names an invalid peer id or address: {reason}")]
    BadAddress { reason: String },
    #[error("cannot reach the existing device: {reason}")]
    Network { reason: String },
    #[error("the existing device refused the link ({code}): {message}")]
    Refused { code: String, message: String },
    #[error("the existing device answered with something unusable: {reason}")]
    BadAnswer { reason: String },
    #[error(transparent)]
    Open(#[from] crate::OpenError),
}

/// A device that joined its user.
#[derive(Clone, Debug)]
pub struct Joined {
    pub public: PublicInfo,
    /// The user's home mailbox servers (give one to `omega node --mailbox`).
    pub mailboxes: Vec<String>,
    pub contacts: usize,
}

/// Joins the user of the `omega-link:` URI as a new device named `device_name`, creating
/// `data_dir` sealed with `passphrase`.
pub async fn join(
    data_dir: &DataDir,
    uri: &str,
    device_name: &str,
    passphrase: &[u8],
    now_ms: u64,
    timeout: Duration,
) -> Result<Joined, JoinError> {
    let invite = LinkInvite::parse_uri(uri, now_ms)?;
    if data_dir.is_initialized() {
        return Err(JoinError::AlreadyInitialized {
            dir: data_dir.root().to_path_buf(),
        });
    }
    let inviter = PeerId::from_bytes(&invite.peer_id).map_err(|error| JoinError::BadAddress {
        reason: error.to_string(),
    })?;
    let addrs = invite
        .addrs
        .iter()
        .map(|addr| addr.parse::<Multiaddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| JoinError::BadAddress {
            reason: error.to_string(),
        })?;

    let mut secrets = KeystoreSecrets::generate(&mut rand::rngs::OsRng);
    let mut libp2p_secret = secrets.libp2p_secret;
    let keypair =
        Keypair::ed25519_from_bytes(&mut libp2p_secret).map_err(|error| JoinError::Network {
            reason: error.to_string(),
        })?;
    let me = keypair.public().to_peer_id();
    let account = DeviceAccount::generate();
    let mut device = account.device_info(me.to_bytes(), device_name);
    device.sealing_x25519 = SealingKey::derive(&secrets.store_key).public().to_vec();
    let proof = link_proof(&invite.secret, &inviter.to_bytes(), &me.to_bytes());
    let request = v1::LinkRequest {
        proof: proof.to_vec(),
        device: Some(device.clone()),
    }
    .encode_to_vec();

    let mut config = omega_net::Config::new(keypair);
    config.protocols = Vec::new();
    config.request_timeout = timeout;
    let (net, _events) = omega_net::start(config)
        .await
        .map_err(|error| JoinError::Network {
            reason: error.to_string(),
        })?;
    let answer = net
        .request(Protocol::Link, inviter, addrs, request)
        .await
        .map_err(|error| JoinError::Network {
            reason: error.to_string(),
        });
    net.shutdown().await;
    let response =
        omega_proto::decode_link_response(&answer?).map_err(|error| JoinError::BadAnswer {
            reason: error.to_string(),
        })?;
    let sealed = match response.result {
        Some(v1::link_response::Result::Sealed(sealed)) => sealed,
        Some(v1::link_response::Result::Refused(refusal)) => {
            return Err(JoinError::Refused {
                code: refusal.code,
                message: refusal.message,
            });
        }
        None => {
            return Err(JoinError::BadAnswer {
                reason: "empty response".into(),
            });
        }
    };
    let plaintext = open_payload(
        &invite.secret,
        &inviter.to_bytes(),
        &me.to_bytes(),
        &device.ed25519,
        &sealed,
    )
    .map_err(|error| JoinError::BadAnswer {
        reason: error.to_string(),
    })?;
    let mut payload =
        omega_proto::decode_link_payload(&plaintext).map_err(|error| JoinError::BadAnswer {
            reason: error.to_string(),
        })?;
    let bad = |reason: &str| JoinError::BadAnswer {
        reason: reason.to_owned(),
    };
    if payload.user_secret.len() != 32 {
        payload.user_secret.zeroize();
        return Err(bad("the user secret is not 32 bytes"));
    }
    secrets.user_secret.copy_from_slice(&payload.user_secret);
    payload.user_secret.zeroize();
    let user = UserIdentity::from_secret_bytes(&secrets.user_secret);
    if user.public_key() != invite.user {
        return Err(bad("the user secret is not the invite's user"));
    }
    let signed = payload
        .devices
        .take()
        .ok_or_else(|| bad("no device list"))?;
    let devices = verify_device_list(&signed, Some(&invite.user))
        .map_err(|error| bad(&format!("device list: {error}")))?;
    if devices
        .device_by_ed25519(&account.ed25519())
        .is_none_or(|listed| listed.peer_id != me.to_bytes())
    {
        return Err(bad("the device list does not list this device"));
    }
    let contacts = payload.contacts.len();
    let public = data_dir
        .init_linked(
            &payload.name,
            passphrase,
            &secrets,
            &account,
            &devices,
            &payload.contacts,
            (inviter, &invite.addrs),
            now_ms,
        )
        .await?;
    Ok(Joined {
        public,
        mailboxes: payload.mailboxes,
        contacts,
    })
}
