//! The transaction vocabulary: Java's states, the operations whose results arrive later, and the
//! error classes of Java's `TransactionManager`.

use core::fmt;

use super::super::types::{DeliveryError, FatalError};
use crate::protocol::ErrorCode;

/// Where the transaction stands: the states of Java's `TransactionManager`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    /// `init_transactions` was not called yet.
    Uninitialized,
    /// `init_transactions` is under way (finding the coordinator, InitProducerId).
    Initializing,
    /// No transaction is open.
    Ready,
    /// `begin_transaction` opened one: `send` and `send_offsets_to_transaction` join it.
    InTransaction,
    /// `commit_transaction` is flushing and ending the transaction.
    CommittingTransaction,
    /// `abort_transaction` is ending the transaction.
    AbortingTransaction,
    /// Something failed inside the transaction: only `abort_transaction` is allowed.
    AbortableError,
    /// The producer cannot go on (fenced, not authorized).
    FatalError,
}

/// The transactional calls whose outcome arrives later, through [`super::super::Producer::poll_txn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOp {
    /// `init_transactions`.
    InitTransactions,
    /// `send_offsets_to_transaction`.
    SendOffsets,
    /// `commit_transaction`.
    CommitTransaction,
    /// `abort_transaction`.
    AbortTransaction,
}

/// Why a transactional call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxnError {
    /// The producer has no `transactional.id`.
    NotTransactional,
    /// The call is not allowed in this state (e.g. `send` before `begin_transaction`).
    InvalidState {
        /// The call.
        op: &'static str,
        /// The state it found.
        state: TxnState,
    },
    /// Another call is still under way; wait for its result first.
    Busy(TxnOp),
    /// The transaction cannot commit: abort it with `abort_transaction`; the producer goes on.
    Abortable(AbortCause),
    /// The producer cannot go on: close it (another producer with the same
    /// `transactional.id` fenced it, or it is not authorized).
    Fatal(FatalError),
    /// More offsets (or longer names) than one `send_offsets_to_transaction` call carries.
    OffsetsTooLarge {
        /// The limit that was exceeded.
        limit: &'static str,
    },
    /// One transaction touches more partitions than the engine tracks.
    TooManyPartitions {
        /// The most partitions one transaction may touch.
        limit: usize,
    },
    /// The producer was closed: a call under way when `close` was called ends with this once
    /// the close is done (its records completed, or the close deadline passed), and calls after
    /// `close` are refused with it. A commit that did not finish was not committed: the
    /// coordinator aborts it after `transaction.timeout.ms`, or the next producer with the same
    /// `transactional.id` does at `init_transactions`.
    Closed {
        /// The call.
        op: &'static str,
    },
}

impl TxnError {
    /// Whether the producer cannot go on.
    pub const fn is_fatal(&self) -> bool {
        matches!(self, Self::Fatal(_))
    }

    /// Whether the application should abort the transaction and go on.
    pub const fn is_abortable(&self) -> bool {
        matches!(self, Self::Abortable(_))
    }
}

/// What made a transaction abortable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortCause {
    /// A coordinator or group coordinator refused a request of the transaction.
    Broker(ErrorCode),
    /// A record of the transaction was not delivered.
    Delivery(DeliveryError),
}

impl fmt::Display for TxnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Uninitialized => "UNINITIALIZED",
            Self::Initializing => "INITIALIZING",
            Self::Ready => "READY",
            Self::InTransaction => "IN_TRANSACTION",
            Self::CommittingTransaction => "COMMITTING_TRANSACTION",
            Self::AbortingTransaction => "ABORTING_TRANSACTION",
            Self::AbortableError => "ABORTABLE_ERROR",
            Self::FatalError => "FATAL_ERROR",
        })
    }
}

impl TxnOp {
    /// The call's name (`commit_transaction`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Self::InitTransactions => "init_transactions",
            Self::SendOffsets => "send_offsets_to_transaction",
            Self::CommitTransaction => "commit_transaction",
            Self::AbortTransaction => "abort_transaction",
        }
    }
}

impl fmt::Display for TxnOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for AbortCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Broker(code) => write!(f, "the coordinator refused a request of the transaction: {code}"),
            Self::Delivery(e) => write!(f, "a record of the transaction was not delivered: {e}"),
        }
    }
}

impl fmt::Display for TxnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotTransactional => f.write_str("the producer has no transactional.id; set it to use transactions"),
            Self::InvalidState { op, state } => write!(f, "{op} is not allowed in transaction state {state}"),
            Self::Busy(op) => write!(f, "{op} is still under way; wait for its result"),
            Self::Abortable(cause) => write!(f, "the transaction must be aborted: {cause}"),
            Self::Fatal(e) => write!(f, "fatal transactional error, close the producer: {e}"),
            Self::OffsetsTooLarge { limit } => write!(f, "send_offsets_to_transaction: {limit}"),
            Self::TooManyPartitions { limit } => {
                write!(f, "one transaction may touch at most {limit} partitions; commit more often")
            }
            Self::Closed { op } => {
                write!(f, "{op} did not complete: the producer was closed (finish transactional calls before close)")
            }
        }
    }
}

impl core::error::Error for TxnError {}

/// The outcome of a transactional call, polled with [`super::super::Producer::poll_txn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnResult {
    /// The call.
    pub op: TxnOp,
    /// Done, or why not.
    pub result: Result<(), TxnError>,
}

/// A consumer group member's metadata, for `send_offsets_to_transaction` (Java's
/// `ConsumerGroupMetadata`): the group coordinator fences a zombie whose generation is stale
/// (KIP-447).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupMetadata<'a> {
    /// `group.id`.
    pub group_id: &'a str,
    /// The generation id (-1 if unknown).
    pub generation_id: i32,
    /// The member id ("" if unknown).
    pub member_id: &'a str,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<&'a str>,
}

impl<'a> GroupMetadata<'a> {
    /// Only the group id (Java's `new ConsumerGroupMetadata(groupId)`): no fencing by generation.
    pub const fn new(group_id: &'a str) -> Self {
        Self { group_id, generation_id: -1, member_id: "", group_instance_id: None }
    }
}

/// One partition's offset to commit: the next offset the group reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicPartitionOffset<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition.
    pub partition: i32,
    /// The offset to commit.
    pub offset: i64,
    /// The leader epoch of the last consumed record (-1 if unknown).
    pub leader_epoch: i32,
    /// Metadata to store with the offset.
    pub metadata: Option<&'a str>,
}
