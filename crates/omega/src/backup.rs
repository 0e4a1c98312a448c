//! `omega backup create` and `omega backup restore`: one encrypted file holding an identity with
//! its whole history (contacts, messages, Olm sessions, outbox). The format is in docs/backup.md;
//! the sealing is `omega_crypto::backup`, the file's entries are `archive`.
//!
//! Create takes a consistent snapshot of the store with SQLite's `VACUUM INTO` (it works while a
//! node runs) inside the data directory, then streams the snapshot, the sealed keystore and
//! `public.json` through the sealing writer into a temporary file beside the destination, renamed
//! into place at the end. Restore checks the passphrase before it creates anything, unpacks into
//! a temporary directory beside the target, opens the restored identity as a node would, and only
//! then renames the directory into place: a damaged, truncated or foreign file leaves nothing.

mod archive;
mod snapshot;

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use omega_core::datadir::{API_FILE, DATABASE_FILE, KEYSTORE_FILE, LOCK_FILE, PUBLIC_FILE};
use omega_core::{DataDir, OpenError, PublicInfo};
use omega_crypto::backup::{BackupError, BackupOpener, BackupParams, BackupSealer};
use omega_crypto::{KeystoreError, UserIdentity};
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

use crate::commands::{map_open, now_ms, passphrase, runtime};
use crate::{Exit, exit};

use self::archive::{Entry, OpeningReader, SealingWriter};
use self::snapshot::{snapshot_store, store_facts};

/// Value of the manifest's `format`.
const MANIFEST_FORMAT: &str = "omega-backup";
/// The first entry of every backup.
const MANIFEST: &str = "manifest.json";
/// A manifest larger than this is not one of ours.
const MANIFEST_MAX: u64 = 64 * 1024;
/// The files of an identity, in the order they are written; restore accepts exactly these.
const FILES: [&str; 3] = [PUBLIC_FILE, KEYSTORE_FILE, DATABASE_FILE];
/// Files that must never be overwritten by a backup written into the data directory.
const LIVE_FILES: [&str; 7] = [
    KEYSTORE_FILE,
    DATABASE_FILE,
    "omega.db-wal",
    "omega.db-shm",
    PUBLIC_FILE,
    API_FILE,
    LOCK_FILE,
];

/// What a backup says about itself (the first entry, `manifest.json`).
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: String,
    version: u32,
    created_ms: u64,
    /// The `omega` version that wrote it.
    omega_version: String,
    user_id: String,
    device_id: String,
    name: String,
    /// `PRAGMA user_version` of the store (the number of migrations applied).
    schema_version: i64,
    messages: i64,
    contacts: i64,
}

/// `omega backup create PATH`.
pub fn create(
    data_dir: &DataDir,
    path: &Path,
    force: bool,
    backup_passphrase_env: Option<&str>,
    json: bool,
) -> Result<()> {
    if !data_dir.is_initialized() {
        return Err(map_open(OpenError::NotInitialized {
            dir: data_dir.root().to_path_buf(),
        }));
    }
    let parent = check_destination(data_dir, path, force)?;
    // The identity's passphrase, always: only its owner backs it up, and the backup is known to
    // hold a keystore that opens with a passphrase they know.
    let passphrase = passphrase(false)?;
    let keystore_path = data_dir.path(KEYSTORE_FILE);
    let keystore = fs::read(&keystore_path)
        .with_context(|| format!("cannot read {}", keystore_path.display()))?;
    let user_key = match omega_crypto::keystore::open(&keystore, &passphrase) {
        Ok(secrets) => UserIdentity::from_secret_bytes(&secrets.user_secret).public_key(),
        Err(KeystoreError::WrongPassphrase) => return Err(map_open(OpenError::WrongPassphrase)),
        Err(other) => {
            return Err(other).context(format!("cannot open {}", keystore_path.display()));
        }
    };
    let backup_passphrase = match backup_passphrase_env {
        Some(var) => env_passphrase(var)?,
        None => passphrase,
    };
    let public_path = data_dir.path(PUBLIC_FILE);
    let public_bytes =
        fs::read(&public_path).with_context(|| format!("cannot read {}", public_path.display()))?;
    let public: PublicInfo = serde_json::from_slice(&public_bytes)
        .with_context(|| format!("{} is not valid", public_path.display()))?;

    // The snapshot holds messages in clear: it lives in the data directory (0700), never beside
    // the destination, and is deleted when `staging` drops.
    let staging = tempfile::Builder::new()
        .prefix(".backup-")
        .tempdir_in(data_dir.root())
        .with_context(|| {
            format!(
                "cannot create a temporary directory in {}",
                data_dir.root().display()
            )
        })?;
    restrict_dir(staging.path())?;
    let snapshot = staging.path().join(DATABASE_FILE);
    let facts = runtime()?.block_on(async {
        snapshot_store(&data_dir.path(DATABASE_FILE), &snapshot).await?;
        store_facts(&snapshot).await
    })?;
    if facts.user_key != user_key.as_bytes() {
        bail!(
            "the keystore and the database in {} belong to different identities",
            data_dir.root().display()
        );
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT.to_owned(),
        version: 1,
        created_ms: now_ms(),
        omega_version: env!("CARGO_PKG_VERSION").to_owned(),
        user_id: user_key.user_id(),
        device_id: public.device_id.clone(),
        name: public.name.clone(),
        schema_version: facts.schema_version,
        messages: facts.messages,
        contacts: facts.contacts,
    };
    let manifest_bytes = serde_json::to_vec(&manifest)?;

    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut temporary = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".tmp")
        .tempfile_in(&parent)
        .with_context(|| format!("cannot create a temporary file in {}", parent.display()))?;
    restrict_file(temporary.as_file())?;
    let sealer = BackupSealer::new(
        &backup_passphrase,
        BackupParams::default(),
        &mut rand::rngs::OsRng,
    )?;
    drop(backup_passphrase);
    let mut writer = SealingWriter::new(BufWriter::new(temporary.as_file_mut()), sealer)?;
    archive::write_file(
        &mut writer,
        MANIFEST,
        manifest_bytes.len() as u64,
        &mut manifest_bytes.as_slice(),
    )?;
    archive::write_file(
        &mut writer,
        PUBLIC_FILE,
        public_bytes.len() as u64,
        &mut public_bytes.as_slice(),
    )?;
    archive::write_file(
        &mut writer,
        KEYSTORE_FILE,
        keystore.len() as u64,
        &mut keystore.as_slice(),
    )?;
    let mut database = File::open(&snapshot).context("cannot read the store snapshot")?;
    let database_len = database.metadata()?.len();
    archive::write_file(&mut writer, DATABASE_FILE, database_len, &mut database)?;
    archive::write_end(&mut writer)?;
    writer
        .finish()?
        .into_inner()
        .map_err(|error| error.into_error())?;
    temporary.as_file().sync_all()?;
    let bytes = temporary.as_file().metadata()?.len();
    let persisted = if force {
        temporary.persist(path)
    } else {
        temporary.persist_noclobber(path)
    };
    persisted.map_err(|error| {
        if error.error.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{} already exists (pass --force to overwrite it)",
                path.display()
            )
        } else {
            anyhow::Error::new(error.error).context(format!("cannot write {}", path.display()))
        }
    })?;
    sync_dir(&parent);
    drop(staging);

    if json {
        println!(
            "{}",
            json!({"path": path, "bytes": bytes, "messages": facts.messages, "contacts": facts.contacts})
        );
    } else {
        println!(
            "backed up {} ({}) to {}: {bytes} bytes, {} message(s), {} contact(s)",
            public.name,
            manifest.user_id,
            path.display(),
            facts.messages,
            facts.contacts
        );
    }
    Ok(())
}

/// Refuses a destination that exists (unless `force`), is a directory, lies in a missing
/// directory or is one of the identity's own files. Returns the destination's directory.
fn check_destination(data_dir: &DataDir, path: &Path, force: bool) -> Result<PathBuf> {
    if path.is_dir() {
        bail!(
            "{} is a directory; give the backup file's path",
            path.display()
        );
    }
    if path.exists() && !force {
        bail!(
            "{} already exists (pass --force to overwrite it)",
            path.display()
        );
    }
    let Some(name) = path.file_name() else {
        bail!("{} does not name a file", path.display());
    };
    let parent = parent_of(path);
    if !parent.is_dir() {
        bail!("the directory {} does not exist", parent.display());
    }
    if let (Ok(parent), Ok(root)) = (parent.canonicalize(), data_dir.root().canonicalize())
        && parent == root
        && LIVE_FILES.iter().any(|live| name == *live)
    {
        bail!(
            "{} is one of the identity's own files; write the backup elsewhere",
            path.display()
        );
    }
    Ok(parent)
}

/// `omega backup restore PATH`.
pub fn restore(
    data_dir: &DataDir,
    path: &Path,
    backup_passphrase_env: Option<&str>,
    json: bool,
) -> Result<()> {
    let target = data_dir.root();
    check_target(data_dir)?;
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut input = BufReader::with_capacity(256 * 1024, file);
    let cannot = || format!("cannot restore from {}", path.display());
    let header = archive::read_header(&mut input).with_context(cannot)?;
    let backup_passphrase = match backup_passphrase_env {
        Some(var) => env_passphrase(var)?,
        None => passphrase(false)?,
    };
    let opener = BackupOpener::new(&header, &backup_passphrase).map_err(|error| match error {
        BackupError::WrongPassphrase => Exit {
            code: exit::WRONG_PASSPHRASE,
            message: format!(
                "wrong passphrase: {} could not be opened with it",
                path.display()
            ),
        }
        .into(),
        other => anyhow::Error::new(other).context(cannot()),
    })?;
    // With a separate backup passphrase, the identity inside still opens with its own.
    let identity_passphrase = match backup_passphrase_env {
        Some(_) => passphrase(false)?,
        None => backup_passphrase,
    };

    let parent = parent_of(target);
    let created = create_missing(&parent)?;
    let restored = unpack_and_verify(input, opener, &identity_passphrase, &parent, target)
        .with_context(cannot);
    let restored = match restored {
        Ok(restored) => restored,
        Err(error) => {
            for dir in created.iter().rev() {
                let _ = fs::remove_dir(dir);
            }
            return Err(error);
        }
    };
    if json {
        println!(
            "{}",
            json!({"user_id": restored.user_id, "messages": restored.messages, "contacts": restored.contacts})
        );
    } else {
        println!(
            "restored {} ({}) into {}: {} message(s), {} contact(s)",
            restored.name,
            restored.user_id,
            target.display(),
            restored.messages,
            restored.contacts
        );
        println!(
            "start it with `omega node`; do not keep running the same identity elsewhere (its \
             sessions would diverge)"
        );
    }
    Ok(())
}

struct Restored {
    user_id: String,
    name: String,
    messages: i64,
    contacts: i64,
}

/// Refuses a target that holds an identity or anything else.
fn check_target(data_dir: &DataDir) -> Result<()> {
    let target = data_dir.root();
    if data_dir.is_initialized() {
        bail!(
            "{} already holds an identity; restore into an empty or new directory",
            target.display()
        );
    }
    match fs::read_dir(target) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "{} is not empty; restore into an empty or new directory",
                    target.display()
                );
            }
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotADirectory => {
            bail!("{} is not a directory", target.display())
        }
        Err(error) => Err(error).with_context(|| format!("cannot read {}", target.display())),
    }
}

/// Unpacks into a temporary directory beside `target`, checks that the identity opens with its
/// passphrase and matches the manifest, then renames the directory to `target`.
fn unpack_and_verify(
    input: impl Read,
    opener: BackupOpener,
    identity_passphrase: &[u8],
    parent: &Path,
    target: &Path,
) -> Result<Restored> {
    let staging = tempfile::Builder::new()
        .prefix(".omega-restore-")
        .tempdir_in(parent)
        .with_context(|| {
            format!(
                "cannot create a temporary directory in {}",
                parent.display()
            )
        })?;
    // It becomes the data directory: only its owner may enter.
    restrict_dir(staging.path())?;
    let mut reader = OpeningReader::new(input, opener);
    let manifest: Manifest = match archive::read_entry(&mut reader)? {
        Entry::File { name, size } if name == MANIFEST && size <= MANIFEST_MAX => {
            let mut bytes = Vec::new();
            (&mut reader).take(size).read_to_end(&mut bytes)?;
            serde_json::from_slice(&bytes).context("the backup's manifest is not valid")?
        }
        _ => bail!("the backup is malformed: it does not start with its manifest"),
    };
    if manifest.format != MANIFEST_FORMAT || manifest.version != 1 {
        bail!(
            "the backup's manifest is {:?} version {}, expected {MANIFEST_FORMAT:?} version 1",
            manifest.format,
            manifest.version
        );
    }
    let mut seen = BTreeSet::new();
    loop {
        let (name, size) = match archive::read_entry(&mut reader)? {
            Entry::End => break,
            Entry::File { name, size } => (name, size),
        };
        let Some(known) = FILES.iter().find(|file| **file == name) else {
            bail!("the backup is malformed: unexpected file {name:?}");
        };
        if !seen.insert(*known) {
            bail!("the backup is malformed: {name} appears twice");
        }
        let destination = staging.path().join(known);
        let mut out = private_file(&destination)?;
        let copied = std::io::copy(&mut (&mut reader).take(size), &mut out)?;
        if copied != size {
            bail!("the backup is malformed: {name} ends early ({copied} of {size} bytes)");
        }
        out.sync_all()?;
        if *known == KEYSTORE_FILE {
            // Fail fast, before the store is unpacked, if the identity will not open.
            check_keystore(&destination, identity_passphrase)?;
        }
    }
    // Reading to the end authenticates the final chunk: only now is the backup known complete.
    archive::expect_end_of_stream(&mut reader)?;
    if let Some(missing) = FILES.iter().find(|file| !seen.contains(*file)) {
        bail!("the backup is malformed: it holds no {missing}");
    }

    let restored_dir = DataDir::new(staging.path());
    let public = restored_dir.read_public().map_err(map_open)?;
    let (user_id, facts) = runtime()?.block_on(async {
        let opened = restored_dir
            .open(identity_passphrase)
            .await
            .map_err(map_open)
            .context("the restored identity does not open")?;
        let user_id = opened.user.public_key().user_id();
        opened.store.close().await;
        drop(opened);
        let facts = store_facts(&restored_dir.path(DATABASE_FILE)).await?;
        Ok::<_, anyhow::Error>((user_id, facts))
    })?;
    if user_id != manifest.user_id || public.user_id != manifest.user_id {
        bail!(
            "the backup is inconsistent: its manifest names {}, its keystore {user_id}, its public.json {}",
            manifest.user_id,
            public.user_id
        );
    }
    sync_dir(staging.path());
    let staged = staging.keep();
    if let Err(error) = fs::rename(&staged, target) {
        let _ = fs::remove_dir_all(&staged);
        return Err(error)
            .with_context(|| format!("cannot move the restored identity to {}", target.display()));
    }
    sync_dir(parent);
    Ok(Restored {
        user_id,
        name: public.name,
        messages: facts.messages,
        contacts: facts.contacts,
    })
}

fn check_keystore(path: &Path, passphrase: &[u8]) -> Result<()> {
    let sealed = fs::read(path)?;
    match omega_crypto::keystore::open(&sealed, passphrase) {
        Ok(_secrets) => Ok(()),
        Err(KeystoreError::WrongPassphrase) => Err(Exit {
            code: exit::WRONG_PASSPHRASE,
            message: "wrong passphrase: the identity in the backup does not open with it".into(),
        }
        .into()),
        Err(other) => Err(other).context("the backup's keystore is not valid"),
    }
}

/// A passphrase from the environment variable `var`.
fn env_passphrase(var: &str) -> Result<Zeroizing<Vec<u8>>> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Ok(Zeroizing::new(value.into_bytes())),
        Ok(_) => bail!("--backup-passphrase-env {var}: the variable is empty"),
        Err(_) => bail!("--backup-passphrase-env {var}: the variable is not set"),
    }
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Creates `dir` and its missing ancestors; returns those it created, outermost first.
fn create_missing(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut current = Some(dir);
    while let Some(path) = current {
        if path.as_os_str().is_empty() || path.exists() {
            break;
        }
        missing.push(path.to_path_buf());
        current = path.parent();
    }
    missing.reverse();
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(missing)
}

/// A new file only its owner can read.
fn private_file(path: &Path) -> Result<File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

fn restrict_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", dir.display()))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn restrict_file(file: &File) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// Makes a rename in `dir` durable (best effort; not every platform can sync a directory).
fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}
