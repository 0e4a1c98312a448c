//! One error type per operation.

use omega_crypto::KeyError;

use crate::resolve::IgnoreReason;
use crate::types::{GroupId, OpHash};

/// Why a group name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Empty or only whitespace.
    #[error("group name is empty")]
    Empty,
    /// Longer than the limit, in bytes of UTF-8.
    #[error("group name must be at most {max} bytes, got {got}")]
    TooLong { max: usize, got: usize },
    /// Holds a control character (newline, escape, ...).
    #[error("group name holds a control character")]
    ControlCharacter,
}

/// Why an operation is structurally invalid (whatever the state of the group).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidOp {
    /// Every operation names at least one parent (the genesis at least).
    #[error("operation has no parents, expected at least one")]
    NoParents,
    /// Too many parents.
    #[error("operation must have at most {max} parents, got {got}")]
    TooManyParents { max: usize, got: usize },
    /// A rename to an unacceptable name.
    #[error("bad name: {0}")]
    Name(#[from] NameError),
}

/// Why a genesis is structurally invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidGenesis {
    /// Creator plus members exceed the limit.
    #[error("group must have at most {max} members, got {got}")]
    TooManyMembers { max: usize, got: usize },
    /// The creator is an owner by being the creator and is not listed again.
    #[error("the creator is listed among the members, expected only the others")]
    CreatorListed,
    /// An unacceptable name.
    #[error("bad name: {0}")]
    Name(#[from] NameError),
}

/// Why bytes are not a log entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// More bytes than any valid entry has.
    #[error("entry must be at most {max} bytes, got {got}")]
    TooLarge { max: usize, got: usize },
    /// The bytes end inside a field.
    #[error("entry is truncated")]
    Truncated,
    /// Bytes after the signature.
    #[error("entry has {extra} bytes after the signature, expected none")]
    TrailingBytes { extra: usize },
    /// Not an Ômega group entry (wrong domain label).
    #[error("entry does not start with the group-op label")]
    Label,
    /// A tag byte with no meaning.
    #[error("unknown {what} tag {got}")]
    UnknownTag { what: &'static str, got: u8 },
    /// A count over its limit.
    #[error("too many {what}: at most {max}, got {got}")]
    TooMany {
        what: &'static str,
        max: usize,
        got: usize,
    },
    /// A set not in strictly increasing order (so not the one canonical encoding).
    #[error("{what} are not strictly increasing")]
    NotCanonical { what: &'static str },
    /// A string that is not UTF-8.
    #[error("name is not UTF-8")]
    Utf8,
    /// A user key that is not a usable Ed25519 key.
    #[error("bad user key: {0}")]
    Key(#[from] KeyError),
    /// A well-formed operation over the limits.
    #[error("invalid operation: {0}")]
    Op(#[from] InvalidOp),
    /// A well-formed genesis over the limits.
    #[error("invalid genesis: {0}")]
    Genesis(#[from] InvalidGenesis),
}

/// Why a genesis does not start a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GenesisError {
    /// Over the limits.
    #[error("invalid genesis: {0}")]
    Invalid(#[from] InvalidGenesis),
    /// The creator's signature does not verify.
    #[error("genesis signature does not verify for its creator")]
    BadSignature,
}

/// Why an operation was refused by [`crate::GroupLog::apply`]. A refused operation is not stored;
/// an operation that is stored but has no effect is not an error (see
/// [`crate::Effect::Ignored`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    /// The operation belongs to another group.
    #[error("operation is for group {got}, expected {expected}")]
    WrongGroup { expected: GroupId, got: GroupId },
    /// Over the limits.
    #[error("invalid operation: {0}")]
    Invalid(#[from] InvalidOp),
    /// The author's signature does not verify.
    #[error("operation signature does not verify for its author")]
    BadSignature,
    /// The Lamport clock is not `1 + max(parents)`.
    #[error("operation lamport must be {expected}, got {got}")]
    BadLamport { expected: u64, got: u64 },
    /// The author was never added to the group in the operation's past, so the operation could
    /// never take effect; refusing it keeps strangers from growing the log.
    #[error("operation author was never a member in the operation's past")]
    UnknownAuthor,
    /// Too many operations already wait for parents.
    #[error("too many operations wait for parents: at most {max}")]
    PendingFull { max: usize },
    /// The operation waited for a parent that was refused.
    #[error("operation waited for parent {parent}, which was refused")]
    ParentRefused { parent: OpHash },
}

/// Why an operation or a genesis could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// The identity signing is not the author (or the creator).
    #[error("the signing identity is not the author")]
    NotTheAuthor,
    /// The operation would have no effect in the current state.
    #[error("not allowed now: {0}")]
    Unauthorized(IgnoreReason),
    /// Over the limits.
    #[error("invalid operation: {0}")]
    Invalid(#[from] InvalidOp),
    /// Over the limits.
    #[error("invalid genesis: {0}")]
    Genesis(#[from] InvalidGenesis),
}

impl From<NameError> for CreateError {
    fn from(error: NameError) -> Self {
        CreateError::Invalid(InvalidOp::Name(error))
    }
}
