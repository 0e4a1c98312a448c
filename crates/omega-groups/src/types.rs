//! The values of the log: ids, roles, the genesis and the operations, unsigned and signed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use data_encoding::BASE32_NOPAD;
use omega_crypto::{UserIdentity, UserKey};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::encoding;
use crate::error::{CreateError, InvalidGenesis, InvalidOp, NameError};
use crate::{MAX_MEMBERS, MAX_NAME_BYTES, MAX_PARENTS};

/// The id of an entry of the log: SHA-256 of its canonical signing bytes (see [`encoding`]).
///
/// The signature is not covered, so the same content signed twice is one entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpHash(pub [u8; 32]);

impl OpHash {
    /// Hashes canonical signing bytes.
    pub(crate) fn of(signing_bytes: &[u8]) -> Self {
        Self(Sha256::digest(signing_bytes).into())
    }

    /// The raw hash.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for OpHash {
    /// Lowercase hex, 64 characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for OpHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpHash({})", &hex::encode(self.0)[..12])
    }
}

/// A group's id: the hash of its genesis. Printed as lowercase base32 without padding (52
/// characters), like user ids.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub OpHash);

/// Why a string is not a group id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupIdError {
    /// Not base32 of 32 bytes.
    #[error("group id must be 52 base32 characters, got {got:?}")]
    Format { got: String },
}

impl GroupId {
    /// The GossipSub topic the group's messages and operations are published on.
    pub fn topic(&self) -> String {
        format!("/omega/group/{self}")
    }

    /// The hash of the genesis (the root of the DAG).
    pub fn genesis_hash(&self) -> OpHash {
        self.0
    }

    /// Parses the printed form, case-insensitively, ignoring surrounding whitespace.
    pub fn parse(text: &str) -> Result<Self, GroupIdError> {
        let bad = || GroupIdError::Format {
            got: text.to_owned(),
        };
        let bytes = BASE32_NOPAD
            .decode(text.trim().to_ascii_uppercase().as_bytes())
            .map_err(|_| bad())?;
        let array: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
        Ok(Self(OpHash(array)))
    }
}

impl FromStr for GroupId {
    type Err = GroupIdError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&BASE32_NOPAD.encode(&self.0.0).to_ascii_lowercase())
    }
}

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupId({self})")
    }
}

/// A member's role. Ordered: `Member < Admin < Owner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads and sends; may leave.
    Member,
    /// Also adds and removes members (not admins or owners) and renames the group.
    Admin,
    /// Also adds, removes, promotes and demotes anyone, owners included.
    Owner,
}

impl Role {
    /// The role's byte in the canonical encoding.
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Role::Member => 1,
            Role::Admin => 2,
            Role::Owner => 3,
        }
    }

    pub(crate) fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Role::Member),
            2 => Some(Role::Admin),
            3 => Some(Role::Owner),
            _ => None,
        }
    }

    /// The lowercase name (`member`, `admin`, `owner`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role must be member, admin or owner, got {got:?}")]
pub struct RoleError {
    /// What was given.
    pub got: String,
}

impl FromStr for Role {
    type Err = RoleError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "member" => Ok(Role::Member),
            "admin" => Ok(Role::Admin),
            "owner" => Ok(Role::Owner),
            _ => Err(RoleError {
                got: text.to_owned(),
            }),
        }
    }
}

/// Checks a group name: 1 to [`MAX_NAME_BYTES`] bytes of UTF-8, no control characters.
pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.trim().is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong {
            max: MAX_NAME_BYTES,
            got: name.len(),
        });
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::ControlCharacter);
    }
    Ok(())
}

/// The first entry of a group's log, made and signed by its creator, who is its first owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Genesis {
    /// The group's first name.
    pub name: String,
    /// The creator's user key; the creator is an owner and is not listed in `members`.
    pub creator: UserKey,
    /// Everyone else in the group at creation, with their roles.
    pub members: BTreeMap<UserKey, Role>,
    /// When the creator made the group (informational).
    pub created_ms: u64,
    /// Random bytes, so two groups with the same name and members get different ids.
    pub nonce: [u8; 16],
}

impl Genesis {
    /// Checks the limits: a valid name, the creator not listed, at most [`MAX_MEMBERS`] in all.
    pub fn validate(&self) -> Result<(), InvalidGenesis> {
        check_name(&self.name)?;
        if self.members.contains_key(&self.creator) {
            return Err(InvalidGenesis::CreatorListed);
        }
        let total = self.members.len() + 1;
        if total > MAX_MEMBERS {
            return Err(InvalidGenesis::TooManyMembers {
                max: MAX_MEMBERS,
                got: total,
            });
        }
        Ok(())
    }

    /// Signs as the creator. Fails if `identity` is not the creator or the genesis is invalid.
    pub fn sign(self, identity: &UserIdentity) -> Result<SignedGenesis, CreateError> {
        if identity.public_key() != self.creator {
            return Err(CreateError::NotTheAuthor);
        }
        self.validate()?;
        let bytes = encoding::genesis_signing_bytes(&self);
        let signature = identity.sign(&bytes);
        Ok(SignedGenesis {
            hash: OpHash::of(&bytes),
            genesis: self,
            signature,
        })
    }
}

/// A genesis with its creator's signature. The group id is its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedGenesis {
    genesis: Genesis,
    signature: [u8; 64],
    hash: OpHash,
}

impl SignedGenesis {
    /// Creates and signs a new group's genesis: `identity` is the creator and first owner, the
    /// nonce comes from `rng`.
    pub fn create<R: RngCore + CryptoRng>(
        identity: &UserIdentity,
        name: &str,
        members: BTreeMap<UserKey, Role>,
        created_ms: u64,
        rng: &mut R,
    ) -> Result<Self, CreateError> {
        let mut nonce = [0u8; 16];
        rng.fill_bytes(&mut nonce);
        Genesis {
            name: name.to_owned(),
            creator: identity.public_key(),
            members,
            created_ms,
            nonce,
        }
        .sign(identity)
    }

    /// Wraps a genesis and a signature (from storage or the network). The signature is checked
    /// by [`crate::GroupLog::new`], not here.
    pub fn from_parts(genesis: Genesis, signature: [u8; 64]) -> Self {
        let hash = OpHash::of(&encoding::genesis_signing_bytes(&genesis));
        Self {
            genesis,
            signature,
            hash,
        }
    }

    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The creator's signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The group id.
    pub fn group_id(&self) -> GroupId {
        GroupId(self.hash)
    }

    /// The canonical bytes plus the signature: the form stored and sent.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = encoding::genesis_signing_bytes(&self.genesis);
        bytes.extend_from_slice(&self.signature);
        bytes
    }

    pub(crate) fn verify(&self) -> bool {
        let bytes = encoding::genesis_signing_bytes(&self.genesis);
        self.genesis.creator.verify(&bytes, &self.signature).is_ok()
    }
}

/// What an operation does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OpKind {
    /// Adds a user who is not a member, with a role.
    Add {
        /// The user added.
        #[serde(with = "crate::view::user_key")]
        user: UserKey,
        /// The role given.
        role: Role,
    },
    /// Removes a member other than the author (the author uses `Leave`).
    Remove {
        /// The member removed.
        #[serde(with = "crate::view::user_key")]
        user: UserKey,
    },
    /// Sets a member's role (promotion or demotion).
    Promote {
        /// The member whose role changes.
        #[serde(with = "crate::view::user_key")]
        user: UserKey,
        /// The new role.
        role: Role,
    },
    /// The author leaves. An owner may name a successor, who becomes an owner in the same step;
    /// the last owner must.
    Leave {
        /// A member who becomes an owner.
        #[serde(with = "crate::view::opt_user_key")]
        successor: Option<UserKey>,
    },
    /// Renames the group.
    Rename {
        /// The new name.
        name: String,
    },
}

impl OpKind {
    /// The member whose role this kind of operation may lower, if any: the target of a removal
    /// or a role change, or the author of a leave. Used to find operations that a removal or a
    /// demotion caps (see the crate docs).
    pub(crate) fn lowers(&self, author: &UserKey) -> Option<UserKey> {
        match self {
            OpKind::Remove { user } | OpKind::Promote { user, .. } => Some(*user),
            OpKind::Leave { .. } => Some(*author),
            OpKind::Add { .. } | OpKind::Rename { .. } => None,
        }
    }
}

/// An operation on a group, before signing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// The group.
    pub group_id: GroupId,
    /// The author's user key (user-level: any of the author's devices may sign with it).
    pub author: UserKey,
    /// Hashes of the entries the author had as heads (at least one, at most [`MAX_PARENTS`]).
    pub parents: BTreeSet<OpHash>,
    /// `1 + max(lamport of parents)`; the genesis has 0. Checked on arrival.
    pub lamport: u64,
    /// When the author made it (informational: never used for ordering).
    pub timestamp_ms: u64,
    /// What it does.
    pub kind: OpKind,
}

impl Op {
    /// Checks the structural limits (parents, name).
    pub fn validate(&self) -> Result<(), InvalidOp> {
        if self.parents.is_empty() {
            return Err(InvalidOp::NoParents);
        }
        if self.parents.len() > MAX_PARENTS {
            return Err(InvalidOp::TooManyParents {
                max: MAX_PARENTS,
                got: self.parents.len(),
            });
        }
        if let OpKind::Rename { name } = &self.kind {
            check_name(name)?;
        }
        Ok(())
    }

    /// Signs as the author. Fails if `identity` is not the author or the op is invalid.
    pub fn sign(self, identity: &UserIdentity) -> Result<SignedOp, CreateError> {
        if identity.public_key() != self.author {
            return Err(CreateError::NotTheAuthor);
        }
        self.validate()?;
        let bytes = encoding::op_signing_bytes(&self);
        let signature = identity.sign(&bytes);
        Ok(SignedOp {
            hash: OpHash::of(&bytes),
            op: self,
            signature,
        })
    }
}

/// An operation with its author's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedOp {
    op: Op,
    signature: [u8; 64],
    hash: OpHash,
}

impl SignedOp {
    /// Wraps an op and a signature (from storage or the network). The signature is checked by
    /// [`crate::GroupLog::apply`], not here.
    pub fn from_parts(op: Op, signature: [u8; 64]) -> Self {
        let hash = OpHash::of(&encoding::op_signing_bytes(&op));
        Self {
            op,
            signature,
            hash,
        }
    }

    /// The operation.
    pub fn op(&self) -> &Op {
        &self.op
    }

    /// The author's signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The operation's id.
    pub fn hash(&self) -> OpHash {
        self.hash
    }

    /// The canonical bytes plus the signature: the form stored and sent.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = encoding::op_signing_bytes(&self.op);
        bytes.extend_from_slice(&self.signature);
        bytes
    }

    pub(crate) fn verify(&self) -> bool {
        let bytes = encoding::op_signing_bytes(&self.op);
        self.op.author.verify(&bytes, &self.signature).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_ids_print_as_base32_and_parse_back() {
        let id = GroupId(OpHash([0xab; 32]));
        let printed = id.to_string();
        assert_eq!(printed.len(), 52);
        assert_eq!(printed, printed.to_ascii_lowercase());
        assert_eq!(GroupId::parse(&printed).unwrap(), id);
        assert_eq!(
            format!(" {} ", printed.to_uppercase())
                .parse::<GroupId>()
                .unwrap(),
            id
        );
        assert_eq!(id.topic(), format!("/omega/group/{printed}"));
        assert!(GroupId::parse(&printed[..51]).is_err());
        assert!(GroupId::parse("not a group id").is_err());
    }

    #[test]
    fn roles_are_ordered_and_parse() {
        assert!(Role::Member < Role::Admin && Role::Admin < Role::Owner);
        for role in [Role::Member, Role::Admin, Role::Owner] {
            assert_eq!(role.to_string().parse::<Role>().unwrap(), role);
            assert_eq!(Role::from_byte(role.to_byte()), Some(role));
        }
        assert_eq!(" ADMIN ".parse::<Role>().unwrap(), Role::Admin);
        assert!("root".parse::<Role>().is_err());
        assert_eq!(Role::from_byte(0), None);
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name("Família ✓"), Ok(()));
        assert_eq!(check_name(&"é".repeat(64)), Ok(()));
        assert_eq!(check_name("  "), Err(NameError::Empty));
        assert_eq!(
            check_name(&"é".repeat(65)),
            Err(NameError::TooLong { max: 128, got: 130 })
        );
        assert_eq!(check_name("a\u{1b}[31m"), Err(NameError::ControlCharacter));
    }
}
