//! The blocking producer's transactional API, with the Java client's method names. Each call
//! starts the engine's operation under the lock and waits (up to `max.block.ms`) for its
//! result, which the IO thread stores when the engine gives it. A call that timed out may be
//! repeated: it waits for the same operation again, as in the Java client.

use std::time::Instant as StdInstant;

use kprod_core::producer::txn::{GroupMetadata, TopicPartitionOffset, TxnError, TxnOp};
use kprod_core::producer::Producer as Engine;
use kprod_core::time::Instant;

use super::Producer;
use crate::error::Error;

impl<K: ?Sized, V: ?Sized> Producer<K, V> {
    /// Registers `transactional.id` with its coordinator: gets the producer id and epoch,
    /// fences any older producer with the same id and completes its open transaction. Call
    /// once, before the first transaction.
    pub fn init_transactions(&self) -> Result<(), Error> {
        self.txn_call(TxnOp::InitTransactions, |e, now| e.init_transactions(now))
    }

    /// Opens a transaction: the records sent until `commit_transaction` or
    /// `abort_transaction` are written atomically.
    pub fn begin_transaction(&self) -> Result<(), Error> {
        self.shared.lock().engine.begin_transaction().map_err(Error::from_txn)
    }

    /// Commits a consumer group's offsets with the transaction (consume-transform-produce):
    /// they become visible only if it commits. `group` carries the consumer's generation and
    /// member id, so the group coordinator fences a zombie (KIP-447).
    pub fn send_offsets_to_transaction(
        &self,
        offsets: &[TopicPartitionOffset<'_>],
        group: &GroupMetadata<'_>,
    ) -> Result<(), Error> {
        self.txn_call(TxnOp::SendOffsets, |e, now| e.send_offsets_to_transaction(offsets, group, now))
    }

    /// Flushes every record of the transaction, then commits it. An abortable error
    /// ([`Error::is_abortable`]) means: call `abort_transaction`; a fatal one
    /// ([`Error::is_fatal`]): close the producer.
    pub fn commit_transaction(&self) -> Result<(), Error> {
        self.txn_call(TxnOp::CommitTransaction, |e, now| e.commit_transaction(now))
    }

    /// Aborts the transaction: records not yet sent fail with
    /// `DeliveryError::TransactionAborted`, and nothing of it becomes visible to
    /// `read_committed` consumers.
    pub fn abort_transaction(&self) -> Result<(), Error> {
        self.txn_call(TxnOp::AbortTransaction, |e, now| e.abort_transaction(now))
    }

    /// Whether the open (or last) transaction uses transactions V2 (KIP-890: the broker's
    /// `transaction.version` is 2 or more), else the V1 flow.
    pub fn transaction_v2(&self) -> bool {
        self.shared.lock().engine.txn_v2()
    }

    /// The node id of the transaction coordinator, once found (for diagnostics and tests).
    pub fn transaction_coordinator(&self) -> Option<i32> {
        self.shared.lock().engine.txn_coordinator()
    }

    fn txn_call(
        &self,
        op: TxnOp,
        start: impl FnOnce(&mut Engine<'static>, Instant) -> Result<(), TxnError>,
    ) -> Result<(), Error> {
        let started = StdInstant::now();
        let deadline = started + self.block_limit();
        let mut st = self.shared.lock();
        let now = self.shared.now();
        match start(&mut st.engine, now) {
            Ok(()) => st.txn_result = None,
            // The same call timed out before: wait for it again.
            Err(TxnError::Busy(busy)) if busy == op => {}
            Err(e) => return Err(Error::from_txn(e)),
        }
        self.shared.wake_io(&mut st);
        loop {
            if let Some(r) = st.txn_result.filter(|r| r.op == op) {
                st.txn_result = None;
                return r.result.map_err(Error::from_txn);
            }
            if st.io_stopped {
                return Err(Error::Closed);
            }
            let (guard, time_left) = self.shared.wait_until(st, deadline);
            st = guard;
            if !time_left {
                return Err(Error::completion_timeout(started.elapsed(), st.cause_since(now)));
            }
        }
    }
}
