//! The data directory: where an identity lives on disk, and how it is created and opened.
//!
//! ```text
//! DIR/keystore.sealed   user key, libp2p key, store key — sealed with the passphrase
//! DIR/omega.db          the local store (SQLite, WAL)
//! DIR/public.json       public facts (user id, device id, card) readable without the passphrase
//! DIR/api.json          URL and token of the running node's local API (0600; removed on exit)
//! DIR/node.lock         held by the running node, so two nodes never share a directory
//! ```

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use libp2p::identity::Keypair;
use omega_crypto::sealed::SealingKey;
use omega_crypto::{
    ContactCard, DeviceAccount, KeystoreSecrets, UserIdentity, VerifiedDeviceList, device_id,
    verify_device_list,
};
use omega_proto::{Message, v1};
use omega_store::{IdentityRow, Store};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::OpenError;

/// File names inside a data directory.
pub const KEYSTORE_FILE: &str = "keystore.sealed";
pub const DATABASE_FILE: &str = "omega.db";
pub const PUBLIC_FILE: &str = "public.json";
pub const API_FILE: &str = "api.json";
pub const LOCK_FILE: &str = "node.lock";

/// Public facts about the identity in a data directory (no secrets).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PublicInfo {
    pub user_id: String,
    pub device_id: String,
    pub name: String,
    /// The `omega:` card, with the addresses the node last listened on.
    pub card: String,
    pub fingerprint: String,
    /// The addresses in the card (full multiaddrs, direct and relayed).
    #[serde(default)]
    pub addrs: Vec<String>,
}

/// Where the running node's local API is.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiInfo {
    pub url: String,
    pub token: String,
    pub pid: u32,
}

/// An identity opened with its passphrase: everything the node needs.
pub struct Opened {
    pub user: UserIdentity,
    pub keypair: Keypair,
    pub account: DeviceAccount,
    pub store_key: Zeroizing<[u8; 32]>,
    pub store: Store,
    pub name: String,
    pub devices: VerifiedDeviceList,
}

/// Paths of one data directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.root.join(file)
    }

    /// Whether an identity was created here.
    pub fn is_initialized(&self) -> bool {
        self.path(KEYSTORE_FILE).exists()
    }

    /// Creates a new identity: user key, one device, a signed device list, the sealed keystore.
    pub async fn init(
        &self,
        name: &str,
        passphrase: &[u8],
        now_ms: u64,
    ) -> Result<PublicInfo, OpenError> {
        validate_name(name)?;
        if self.is_initialized() {
            return Err(OpenError::AlreadyInitialized {
                dir: self.root.clone(),
            });
        }
        fs::create_dir_all(&self.root).map_err(|source| OpenError::Io {
            path: self.root.clone(),
            source,
        })?;
        restrict_dir(&self.root);
        let mut rng = rand::rngs::OsRng;
        let secrets = KeystoreSecrets::generate(&mut rng);
        let user = UserIdentity::from_secret_bytes(&secrets.user_secret);
        let keypair = libp2p_keypair(&secrets)?;
        let account = DeviceAccount::generate();
        let mut device = account.device_info(keypair.public().to_peer_id().to_bytes(), "primary");
        device.sealing_x25519 = SealingKey::derive(&secrets.store_key).public().to_vec();
        let list = v1::DeviceList {
            user_key: user.public_key().as_bytes().to_vec(),
            version: 1,
            devices: vec![device],
            created_ms: now_ms,
        };
        let signed = user.sign_device_list(&list);
        let store = Store::open(&self.path(DATABASE_FILE)).await?;
        store
            .create_identity(&IdentityRow {
                user_key: user.public_key().as_bytes().to_vec(),
                name: name.to_owned(),
                account_pickle: account.pickle(&secrets.store_key),
                device_list: signed.encode_to_vec(),
                created_ms: now_ms as i64,
            })
            .await?;
        store.close().await;
        let sealed = omega_crypto::keystore::seal(&secrets, passphrase, &mut rng)
            .map_err(|error| OpenError::Keystore(error.to_string()))?;
        write_private(&self.path(KEYSTORE_FILE), &sealed)?;
        let devices = verify_device_list(&signed, Some(&user.public_key()))
            .map_err(|error| OpenError::Keystore(error.to_string()))?;
        let public = public_info(name, &devices, &account, Vec::new(), Vec::new());
        self.write_public(&public)?;
        Ok(public)
    }

    /// Creates this directory for a device that joined an existing user (see [`crate::join`]):
    /// the user secret and device list it was given, its own keys, the user's contacts, and
    /// where the existing device listens.
    #[allow(clippy::too_many_arguments)]
    pub async fn init_linked(
        &self,
        name: &str,
        passphrase: &[u8],
        secrets: &KeystoreSecrets,
        account: &DeviceAccount,
        devices: &VerifiedDeviceList,
        contacts: &[v1::LinkContact],
        inviter: (libp2p::PeerId, &[String]),
        now_ms: u64,
    ) -> Result<PublicInfo, OpenError> {
        validate_name(name)?;
        if self.is_initialized() {
            return Err(OpenError::AlreadyInitialized {
                dir: self.root.clone(),
            });
        }
        fs::create_dir_all(&self.root).map_err(|source| OpenError::Io {
            path: self.root.clone(),
            source,
        })?;
        restrict_dir(&self.root);
        let store = Store::open(&self.path(DATABASE_FILE)).await?;
        store
            .create_identity(&IdentityRow {
                user_key: devices.user.as_bytes().to_vec(),
                name: name.to_owned(),
                account_pickle: account.pickle(&secrets.store_key),
                device_list: devices.signed.encode_to_vec(),
                created_ms: now_ms as i64,
            })
            .await?;
        for contact in contacts {
            let Some(card) = contact.card.as_ref() else {
                continue;
            };
            let Some(signed) = card.devices.as_ref() else {
                continue;
            };
            let Ok(list) = verify_device_list(signed, None) else {
                continue;
            };
            if list.user == devices.user {
                continue;
            }
            let alias = contact.alias.trim();
            store
                .upsert_contact(&omega_store::ContactRow {
                    user_key: list.user.as_bytes().to_vec(),
                    user_id: list.user.user_id(),
                    alias: (!alias.is_empty()).then(|| alias.to_owned()),
                    name: card.name.chars().take(64).collect(),
                    device_list: signed.encode_to_vec(),
                    device_list_version: list.version as i64,
                    addrs: card.addrs.iter().take(16).cloned().collect(),
                    mailboxes: card.mailboxes.iter().take(16).cloned().collect(),
                    verified: contact.verified,
                    added_ms: now_ms as i64,
                })
                .await?;
        }
        let (peer, addrs) = inviter;
        store.set_own_device_addrs(&peer.to_bytes(), addrs).await?;
        store.close().await;
        let mut rng = rand::rngs::OsRng;
        let sealed = omega_crypto::keystore::seal(secrets, passphrase, &mut rng)
            .map_err(|error| OpenError::Keystore(error.to_string()))?;
        write_private(&self.path(KEYSTORE_FILE), &sealed)?;
        let public = public_info(name, devices, account, Vec::new(), Vec::new());
        self.write_public(&public)?;
        Ok(public)
    }

    /// Opens the identity with its passphrase. A wrong passphrase is [`OpenError::WrongPassphrase`].
    pub async fn open(&self, passphrase: &[u8]) -> Result<Opened, OpenError> {
        let keystore_path = self.path(KEYSTORE_FILE);
        let sealed = match fs::read(&keystore_path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(OpenError::NotInitialized {
                    dir: self.root.clone(),
                });
            }
            Err(source) => {
                return Err(OpenError::Io {
                    path: keystore_path,
                    source,
                });
            }
        };
        let secrets =
            omega_crypto::keystore::open(&sealed, passphrase).map_err(|error| match error {
                omega_crypto::KeystoreError::WrongPassphrase => OpenError::WrongPassphrase,
                other => OpenError::Keystore(other.to_string()),
            })?;
        let user = UserIdentity::from_secret_bytes(&secrets.user_secret);
        let keypair = libp2p_keypair(&secrets)?;
        let store = Store::open(&self.path(DATABASE_FILE)).await?;
        let row = store.identity().await?.ok_or(OpenError::Keystore(
            "the keystore opened but the database holds no identity".into(),
        ))?;
        if row.user_key != user.public_key().as_bytes() {
            return Err(OpenError::Keystore(
                "the keystore and the database belong to different identities".into(),
            ));
        }
        let account = DeviceAccount::from_pickle(&row.account_pickle, &secrets.store_key)
            .map_err(|error| OpenError::Keystore(format!("device account: {error}")))?;
        let signed = omega_proto::v1::SignedDeviceList::decode(row.device_list.as_slice())
            .map_err(|error| OpenError::Keystore(format!("device list: {error}")))?;
        let mut devices = verify_device_list(&signed, Some(&user.public_key()))
            .map_err(|error| OpenError::Keystore(format!("device list: {error}")))?;
        let sealing = SealingKey::derive(&secrets.store_key).public();
        let ours = account.ed25519();
        if devices
            .device_by_ed25519(&ours)
            .is_some_and(|device| device.sealing_x25519 != Some(sealing))
        {
            // An identity from before sealed sender: list our sealing key in a newer device list.
            let list = v1::DeviceList {
                user_key: user.public_key().as_bytes().to_vec(),
                version: devices.version + 1,
                devices: devices
                    .devices
                    .iter()
                    .map(|device| {
                        let mut proto = device.to_proto();
                        if device.ed25519 == ours {
                            proto.sealing_x25519 = sealing.to_vec();
                        }
                        proto
                    })
                    .collect(),
                created_ms: devices.created_ms,
            };
            let signed = user.sign_device_list(&list);
            store.save_device_list(&signed.encode_to_vec()).await?;
            devices = verify_device_list(&signed, Some(&user.public_key()))
                .map_err(|error| OpenError::Keystore(format!("device list: {error}")))?;
        }
        Ok(Opened {
            user,
            keypair,
            account,
            store_key: Zeroizing::new(secrets.store_key),
            store,
            name: row.name,
            devices,
        })
    }

    /// Public facts, readable without the passphrase.
    pub fn read_public(&self) -> Result<PublicInfo, OpenError> {
        let path = self.path(PUBLIC_FILE);
        let bytes = fs::read(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                OpenError::NotInitialized {
                    dir: self.root.clone(),
                }
            } else {
                OpenError::Io {
                    path: path.clone(),
                    source,
                }
            }
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|error| OpenError::Keystore(format!("{PUBLIC_FILE}: {error}")))
    }

    pub fn write_public(&self, public: &PublicInfo) -> Result<(), OpenError> {
        let json = serde_json::to_vec_pretty(public)
            .map_err(|error| OpenError::Keystore(error.to_string()))?;
        write_atomic(&self.path(PUBLIC_FILE), &json, false)
    }

    /// Where the running node listens, if one runs.
    pub fn read_api(&self) -> Option<ApiInfo> {
        let bytes = fs::read(self.path(API_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub fn write_api(&self, api: &ApiInfo) -> Result<(), OpenError> {
        let json =
            serde_json::to_vec(api).map_err(|error| OpenError::Keystore(error.to_string()))?;
        write_private(&self.path(API_FILE), &json)
    }

    pub fn remove_api(&self) {
        let _ = fs::remove_file(self.path(API_FILE));
    }

    /// Takes the directory's lock for as long as the returned file lives.
    pub fn lock(&self) -> Result<fs::File, OpenError> {
        let path = self.path(LOCK_FILE);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| OpenError::Io {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(fs::TryLockError::WouldBlock) => Err(OpenError::Locked {
                dir: self.root.clone(),
            }),
            Err(fs::TryLockError::Error(source)) => Err(OpenError::Io { path, source }),
        }
    }
}

/// Public facts derived from an identity and the node's current addresses.
pub fn public_info(
    name: &str,
    devices: &VerifiedDeviceList,
    account: &DeviceAccount,
    addrs: Vec<String>,
    mailboxes: Vec<String>,
) -> PublicInfo {
    let card = ContactCard {
        name: name.to_owned(),
        devices: devices.clone(),
        addrs: addrs.clone(),
        mailboxes,
    };
    PublicInfo {
        user_id: devices.user.user_id(),
        device_id: device_id(&account.ed25519()),
        name: name.to_owned(),
        card: card.to_uri(),
        fingerprint: devices.user.fingerprint(),
        addrs,
    }
}

fn validate_name(name: &str) -> Result<(), OpenError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 64 || trimmed.chars().any(char::is_control) {
        return Err(OpenError::InvalidName {
            reason: "a name is 1 to 64 printable characters".into(),
        });
    }
    Ok(())
}

fn libp2p_keypair(secrets: &KeystoreSecrets) -> Result<Keypair, OpenError> {
    let mut secret = secrets.libp2p_secret;
    Keypair::ed25519_from_bytes(&mut secret)
        .map_err(|error| OpenError::Keystore(format!("libp2p key: {error}")))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), OpenError> {
    write_atomic(path, bytes, true)
}

/// Writes via a temporary file and a rename, so a crash never leaves half a file.
fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), OpenError> {
    let tmp = path.with_extension("tmp");
    let io = |source| OpenError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.create(true).truncate(true).write(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

fn restrict_dir(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    }
    #[cfg(not(unix))]
    let _ = dir;
}
