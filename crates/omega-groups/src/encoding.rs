//! The canonical bytes of log entries: what signatures and hashes cover, and (followed by the
//! 64-byte signature) the form stored and sent.
//!
//! Layout (integers big-endian; keys and hashes raw 32 bytes; strings `u32` length + UTF-8):
//!
//! ```text
//! genesis = "omega/group-op/v1\0" 0x00 name creator:32 created_ms:u64 nonce:16
//!           n_members:u32 (key:32 role:u8)*          keys strictly increasing
//! op      = "omega/group-op/v1\0" 0x01 group_id:32 author:32 lamport:u64 timestamp_ms:u64
//!           n_parents:u32 parent:32*                 hashes strictly increasing
//!           kind
//! kind    = 0x01 user:32 role:u8                     Add
//!         | 0x02 user:32                             Remove
//!         | 0x03 user:32 role:u8                     Promote
//!         | 0x04 0x00 | 0x04 0x01 successor:32       Leave
//!         | 0x05 name                                Rename
//! role    = 0x01 member | 0x02 admin | 0x03 owner
//! signed  = genesis|op  signature:64
//! ```
//!
//! Every value has exactly one encoding (sorted sets, no optional padding, no trailing bytes),
//! so decoding and re-encoding gives the same bytes, and the hash of an entry does not depend on
//! who encoded it. The label separates these signatures from every other signature the user
//! key makes (device lists, see `omega_proto::signing`).

use std::collections::{BTreeMap, BTreeSet};

use omega_crypto::UserKey;

use crate::error::DecodeError;
use crate::types::{Genesis, GroupId, Op, OpHash, OpKind, Role, SignedGenesis, SignedOp};
use crate::{MAX_MEMBERS, MAX_NAME_BYTES, MAX_PARENTS};

/// Domain label opening every entry's signing bytes.
pub const GROUP_OP_LABEL: &[u8] = b"omega/group-op/v1\0";
/// Upper bound of an encoded operation (a rename with the longest name and the most parents).
pub const MAX_OP_BYTES: usize = 1024 + 32 * MAX_PARENTS + MAX_NAME_BYTES;
/// Upper bound of an encoded genesis (the most members).
pub const MAX_GENESIS_BYTES: usize = 1024 + 33 * MAX_MEMBERS + MAX_NAME_BYTES;

const TAG_GENESIS: u8 = 0;
const TAG_OP: u8 = 1;
const KIND_ADD: u8 = 1;
const KIND_REMOVE: u8 = 2;
const KIND_PROMOTE: u8 = 3;
const KIND_LEAVE: u8 = 4;
const KIND_RENAME: u8 = 5;
const SIGNATURE_LEN: usize = 64;

fn put_str(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// The bytes the creator signs; their SHA-256 is the group id.
pub fn genesis_signing_bytes(genesis: &Genesis) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + 33 * genesis.members.len());
    out.extend_from_slice(GROUP_OP_LABEL);
    out.push(TAG_GENESIS);
    put_str(&mut out, &genesis.name);
    out.extend_from_slice(genesis.creator.as_bytes());
    out.extend_from_slice(&genesis.created_ms.to_be_bytes());
    out.extend_from_slice(&genesis.nonce);
    out.extend_from_slice(&(genesis.members.len() as u32).to_be_bytes());
    for (user, role) in &genesis.members {
        out.extend_from_slice(user.as_bytes());
        out.push(role.to_byte());
    }
    out
}

/// The bytes an operation's author signs; their SHA-256 is the operation's hash.
pub fn op_signing_bytes(op: &Op) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + 32 * op.parents.len());
    out.extend_from_slice(GROUP_OP_LABEL);
    out.push(TAG_OP);
    out.extend_from_slice(op.group_id.0.as_bytes());
    out.extend_from_slice(op.author.as_bytes());
    out.extend_from_slice(&op.lamport.to_be_bytes());
    out.extend_from_slice(&op.timestamp_ms.to_be_bytes());
    out.extend_from_slice(&(op.parents.len() as u32).to_be_bytes());
    for parent in &op.parents {
        out.extend_from_slice(parent.as_bytes());
    }
    match &op.kind {
        OpKind::Add { user, role } => {
            out.push(KIND_ADD);
            out.extend_from_slice(user.as_bytes());
            out.push(role.to_byte());
        }
        OpKind::Remove { user } => {
            out.push(KIND_REMOVE);
            out.extend_from_slice(user.as_bytes());
        }
        OpKind::Promote { user, role } => {
            out.push(KIND_PROMOTE);
            out.extend_from_slice(user.as_bytes());
            out.push(role.to_byte());
        }
        OpKind::Leave { successor } => {
            out.push(KIND_LEAVE);
            match successor {
                Some(user) => {
                    out.push(1);
                    out.extend_from_slice(user.as_bytes());
                }
                None => out.push(0),
            }
        }
        OpKind::Rename { name } => {
            out.push(KIND_RENAME);
            put_str(&mut out, name);
        }
    }
    out
}

/// Decodes a signed genesis ([`SignedGenesis::to_bytes`]). Checks the format and the limits, not
/// the signature.
pub fn decode_genesis(bytes: &[u8]) -> Result<SignedGenesis, DecodeError> {
    if bytes.len() > MAX_GENESIS_BYTES {
        return Err(DecodeError::TooLarge {
            max: MAX_GENESIS_BYTES,
            got: bytes.len(),
        });
    }
    let mut reader = Reader::open(bytes, TAG_GENESIS)?;
    let name = reader.string()?;
    let creator = reader.user_key()?;
    let created_ms = reader.u64()?;
    let nonce: [u8; 16] = reader.array()?;
    let n_members = reader.u32()? as usize;
    if n_members >= MAX_MEMBERS {
        return Err(DecodeError::TooMany {
            what: "members",
            max: MAX_MEMBERS - 1,
            got: n_members,
        });
    }
    let mut members = BTreeMap::new();
    let mut previous: Option<UserKey> = None;
    for _ in 0..n_members {
        let user = reader.user_key()?;
        if previous.is_some_and(|previous| previous >= user) {
            return Err(DecodeError::NotCanonical { what: "members" });
        }
        previous = Some(user);
        members.insert(user, reader.role()?);
    }
    let signature = reader.signature()?;
    let genesis = Genesis {
        name,
        creator,
        members,
        created_ms,
        nonce,
    };
    genesis.validate()?;
    Ok(SignedGenesis::from_parts(genesis, signature))
}

/// Decodes a signed operation ([`SignedOp::to_bytes`]). Checks the format and the limits, not
/// the signature.
pub fn decode_op(bytes: &[u8]) -> Result<SignedOp, DecodeError> {
    if bytes.len() > MAX_OP_BYTES {
        return Err(DecodeError::TooLarge {
            max: MAX_OP_BYTES,
            got: bytes.len(),
        });
    }
    let mut reader = Reader::open(bytes, TAG_OP)?;
    let group_id = GroupId(OpHash(reader.array()?));
    let author = reader.user_key()?;
    let lamport = reader.u64()?;
    let timestamp_ms = reader.u64()?;
    let n_parents = reader.u32()? as usize;
    if n_parents > MAX_PARENTS {
        return Err(DecodeError::TooMany {
            what: "parents",
            max: MAX_PARENTS,
            got: n_parents,
        });
    }
    let mut parents = BTreeSet::new();
    let mut previous: Option<OpHash> = None;
    for _ in 0..n_parents {
        let parent = OpHash(reader.array()?);
        if previous.is_some_and(|previous| previous >= parent) {
            return Err(DecodeError::NotCanonical { what: "parents" });
        }
        previous = Some(parent);
        parents.insert(parent);
    }
    let kind = match reader.u8()? {
        KIND_ADD => OpKind::Add {
            user: reader.user_key()?,
            role: reader.role()?,
        },
        KIND_REMOVE => OpKind::Remove {
            user: reader.user_key()?,
        },
        KIND_PROMOTE => OpKind::Promote {
            user: reader.user_key()?,
            role: reader.role()?,
        },
        KIND_LEAVE => match reader.u8()? {
            0 => OpKind::Leave { successor: None },
            1 => OpKind::Leave {
                successor: Some(reader.user_key()?),
            },
            got => {
                return Err(DecodeError::UnknownTag {
                    what: "successor flag",
                    got,
                });
            }
        },
        KIND_RENAME => OpKind::Rename {
            name: reader.string()?,
        },
        got => return Err(DecodeError::UnknownTag { what: "kind", got }),
    };
    let signature = reader.signature()?;
    let op = Op {
        group_id,
        author,
        parents,
        lamport,
        timestamp_ms,
        kind,
    };
    op.validate()?;
    Ok(SignedOp::from_parts(op, signature))
}

/// A cursor over bytes that fails instead of reading past the end.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn open(bytes: &'a [u8], tag: u8) -> Result<Self, DecodeError> {
        let mut reader = Self { rest: bytes };
        if reader.take(GROUP_OP_LABEL.len())? != GROUP_OP_LABEL {
            return Err(DecodeError::Label);
        }
        let got = reader.u8()?;
        if got != tag {
            return Err(DecodeError::UnknownTag {
                what: "entry type",
                got,
            });
        }
        Ok(reader)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn user_key(&mut self) -> Result<UserKey, DecodeError> {
        Ok(UserKey::from_bytes(self.take(32)?)?)
    }

    fn role(&mut self) -> Result<Role, DecodeError> {
        let got = self.u8()?;
        Role::from_byte(got).ok_or(DecodeError::UnknownTag { what: "role", got })
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let len = self.u32()? as usize;
        if len > MAX_NAME_BYTES {
            return Err(DecodeError::TooMany {
                what: "name bytes",
                max: MAX_NAME_BYTES,
                got: len,
            });
        }
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Utf8)
    }

    /// The final field: exactly 64 bytes must remain.
    fn signature(&mut self) -> Result<[u8; 64], DecodeError> {
        let signature = self.array::<SIGNATURE_LEN>()?;
        if !self.rest.is_empty() {
            return Err(DecodeError::TrailingBytes {
                extra: self.rest.len(),
            });
        }
        Ok(signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use omega_crypto::UserIdentity;
    use proptest::prelude::*;

    fn identity(byte: u8) -> UserIdentity {
        UserIdentity::from_secret_bytes(&[byte; 32])
    }

    fn genesis() -> SignedGenesis {
        let members = BTreeMap::from([
            (identity(2).public_key(), Role::Admin),
            (identity(3).public_key(), Role::Member),
        ]);
        Genesis {
            name: "ops".into(),
            creator: identity(1).public_key(),
            members,
            created_ms: 1_700_000_000_000,
            nonce: [7; 16],
        }
        .sign(&identity(1))
        .unwrap()
    }

    fn op(kind: OpKind) -> SignedOp {
        let genesis = genesis();
        Op {
            group_id: genesis.group_id(),
            author: identity(1).public_key(),
            parents: BTreeSet::from([genesis.group_id().genesis_hash(), OpHash([9; 32])]),
            lamport: 2,
            timestamp_ms: 1_700_000_000_001,
            kind,
        }
        .sign(&identity(1))
        .unwrap()
    }

    fn every_kind() -> Vec<OpKind> {
        let user = identity(3).public_key();
        vec![
            OpKind::Add {
                user,
                role: Role::Admin,
            },
            OpKind::Remove { user },
            OpKind::Promote {
                user,
                role: Role::Owner,
            },
            OpKind::Leave { successor: None },
            OpKind::Leave {
                successor: Some(user),
            },
            OpKind::Rename {
                name: "renamed ✓".into(),
            },
        ]
    }

    #[test]
    fn every_kind_round_trips_byte_for_byte() {
        for kind in every_kind() {
            let signed = op(kind);
            let bytes = signed.to_bytes();
            let decoded = decode_op(&bytes).unwrap();
            assert_eq!(decoded, signed);
            assert_eq!(decoded.to_bytes(), bytes);
            assert_eq!(decoded.hash(), signed.hash());
        }
        let genesis = genesis();
        let decoded = decode_genesis(&genesis.to_bytes()).unwrap();
        assert_eq!(decoded, genesis);
        assert_eq!(decoded.group_id(), genesis.group_id());
    }

    /// The layout is a contract between members running different versions: a change here
    /// is a new label.
    #[test]
    fn signing_bytes_snapshot() {
        let genesis = genesis();
        assert_eq!(
            hex::encode(genesis_signing_bytes(genesis.genesis())),
            concat!(
                "6f6d6567612f67726f75702d6f702f763100", // label
                "00",                                   // genesis
                "000000036f7073",                       // name
                "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c", // creator
                "0000018bcfe56800",                     // created_ms
                "07070707070707070707070707070707",     // nonce
                "00000002",                             // members
                "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394",
                "02", // admin
                "ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1",
                "01", // member
            )
        );
        assert_eq!(
            hex::encode(op_signing_bytes(
                op(OpKind::Remove {
                    user: identity(3).public_key()
                })
                .op()
            )),
            concat!(
                "6f6d6567612f67726f75702d6f702f763100", // label
                "01",                                   // op
                "GROUP",
                "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c", // author
                "0000000000000002",                                                 // lamport
                "0000018bcfe56801",                                                 // timestamp
                "00000002",                                                         // parents
                "PARENTS",
                "02", // remove
                "ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1",
            )
            .replace("GROUP", &hex::encode(genesis.group_id().genesis_hash().0))
            .replace("PARENTS", &{
                let mut parents = [genesis.group_id().genesis_hash(), OpHash([9; 32])];
                parents.sort();
                parents.iter().map(|p| hex::encode(p.0)).collect::<String>()
            })
        );
    }

    #[test]
    fn non_canonical_and_damaged_bytes_are_refused() {
        let bytes = op(OpKind::Leave { successor: None }).to_bytes();
        assert_eq!(
            decode_op(&bytes[..bytes.len() - 1]),
            Err(DecodeError::Truncated)
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            decode_op(&longer),
            Err(DecodeError::TrailingBytes { extra: 1 })
        );
        let mut label = bytes.clone();
        label[0] ^= 1;
        assert_eq!(decode_op(&label), Err(DecodeError::Label));
        // Swap the two parents: same set, not the canonical order.
        let parents_at = GROUP_OP_LABEL.len() + 1 + 32 + 32 + 8 + 8 + 4;
        let mut swapped = bytes.clone();
        let (first, second) = (
            bytes[parents_at..parents_at + 32].to_vec(),
            bytes[parents_at + 32..parents_at + 64].to_vec(),
        );
        swapped[parents_at..parents_at + 32].copy_from_slice(&second);
        swapped[parents_at + 32..parents_at + 64].copy_from_slice(&first);
        assert_eq!(
            decode_op(&swapped),
            Err(DecodeError::NotCanonical { what: "parents" })
        );
        // A genesis is not an op, and the other way round.
        assert!(matches!(
            decode_op(&genesis().to_bytes()),
            Err(DecodeError::UnknownTag { .. })
        ));
        assert!(matches!(
            decode_genesis(&bytes),
            Err(DecodeError::UnknownTag { .. })
        ));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode_op(&bytes);
            let _ = decode_genesis(&bytes);
        }

        #[test]
        fn flipping_any_byte_changes_the_hash_or_fails(index in 0usize..200, bit in 0u8..8) {
            let signed = op(OpKind::Rename { name: "some name".into() });
            let mut bytes = signed.to_bytes();
            let index = index % bytes.len();
            bytes[index] ^= 1 << bit;
            if let Ok(decoded) = decode_op(&bytes) {
                // Either the signed content changed (new hash, and the signature no longer
                // verifies) or only the signature did.
                prop_assert!(decoded.hash() != signed.hash() || decoded.signature() != signed.signature());
                prop_assert!(!decoded.verify());
            }
        }
    }
}
