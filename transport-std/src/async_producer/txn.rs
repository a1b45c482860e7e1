//! The tokio producer's transactional API, with the Java client's method names: each call
//! starts the engine's operation and awaits its result (up to `max.block.ms`). Dropping the
//! future does not cancel the operation; calling the same method again awaits it.

use core::pin::pin;
use std::time::Instant as StdInstant;

use kprod_core::producer::txn::{GroupMetadata, TopicPartitionOffset, TxnError, TxnOp};
use kprod_core::producer::Producer as Engine;
use kprod_core::time::Instant;

use super::{deadline_after, AsyncProducer};
use crate::error::Error;

impl<K: ?Sized, V: ?Sized> AsyncProducer<K, V> {
    /// Registers `transactional.id` with its coordinator and fences older producers with the
    /// same id. Call once, before the first transaction.
    pub async fn init_transactions(&self) -> Result<(), Error> {
        self.txn_call(TxnOp::InitTransactions, |e, now| e.init_transactions(now)).await
    }

    /// Opens a transaction.
    pub fn begin_transaction(&self) -> Result<(), Error> {
        self.inner.shared.lock().engine.begin_transaction().map_err(Error::from_txn)
    }

    /// Commits a consumer group's offsets with the transaction (see the blocking
    /// `Producer::send_offsets_to_transaction`).
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: &[TopicPartitionOffset<'_>],
        group: &GroupMetadata<'_>,
    ) -> Result<(), Error> {
        self.txn_call(TxnOp::SendOffsets, |e, now| e.send_offsets_to_transaction(offsets, group, now)).await
    }

    /// Flushes the transaction's records, then commits it ([`Error::is_abortable`]: abort;
    /// [`Error::is_fatal`]: close).
    pub async fn commit_transaction(&self) -> Result<(), Error> {
        self.txn_call(TxnOp::CommitTransaction, |e, now| e.commit_transaction(now)).await
    }

    /// Aborts the transaction: records not yet sent fail with
    /// `DeliveryError::TransactionAborted`.
    pub async fn abort_transaction(&self) -> Result<(), Error> {
        self.txn_call(TxnOp::AbortTransaction, |e, now| e.abort_transaction(now)).await
    }

    /// Whether the open (or last) transaction uses transactions V2 (KIP-890).
    pub fn transaction_v2(&self) -> bool {
        self.inner.shared.lock().engine.txn_v2()
    }

    async fn txn_call(
        &self,
        op: TxnOp,
        start: impl FnOnce(&mut Engine<'static>, Instant) -> Result<(), TxnError>,
    ) -> Result<(), Error> {
        let shared = &*self.inner.shared;
        let started = StdInstant::now();
        let deadline = deadline_after(started, self.inner.max_block);
        let first = shared.clock.at(started);
        {
            let mut st = shared.lock();
            match start(&mut st.engine, first) {
                Ok(()) => st.txn_result = None,
                // The same call was dropped or timed out before: await it again.
                Err(TxnError::Busy(busy)) if busy == op => {}
                Err(e) => return Err(Error::from_txn(e)),
            }
        }
        shared.wake.notify_one();
        loop {
            let mut progress = pin!(shared.progress.notified());
            progress.as_mut().enable();
            {
                let mut st = shared.lock();
                if let Some(r) = st.txn_result.filter(|r| r.op == op) {
                    st.txn_result = None;
                    return r.result.map_err(Error::from_txn);
                }
                if st.io_stopped {
                    return Err(Error::Closed);
                }
            }
            if tokio::time::timeout_at(deadline.into(), progress).await.is_err() {
                return Err(Error::completion_timeout(started.elapsed(), shared.lock().cause_since(first)));
            }
        }
    }
}
