//! [`DeliveryFuture`]: the delivery of one accepted record, as a future.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::delivery::DeliveryHandle;
use crate::error::Error;
use crate::record::RecordMetadata;

/// The delivery of one record that [`AsyncProducer::enqueue`](super::AsyncProducer::enqueue)
/// accepted: resolves to where the record was written, or why it failed.
///
/// The record's fate does not depend on this future: dropping it (fire and forget) leaves the
/// record buffered or in flight, and the producer completes it all the same. The future
/// resolves even without a tokio runtime (any executor, or `futures::executor::block_on`), and
/// at the latest after `delivery.timeout.ms`, the `close` deadline, or the driver task's end
/// ([`Error::Closed`]).
#[derive(Debug)]
pub struct DeliveryFuture {
    handle: DeliveryHandle,
    /// This future's waker key in the batch's completion cell, while it waits.
    slot: Option<usize>,
}

impl DeliveryFuture {
    pub(super) const fn new(handle: DeliveryHandle) -> Self {
        Self { handle, slot: None }
    }

    /// The result if the record is complete, else `None`. Never waits.
    pub fn try_get(&self) -> Option<Result<RecordMetadata, Error>> {
        self.handle.try_get()
    }

    /// Whether the record is complete (delivered or failed).
    pub fn is_done(&self) -> bool {
        self.handle.is_done()
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.handle.poll_result(&mut this.slot, cx)
    }
}

impl Drop for DeliveryFuture {
    fn drop(&mut self) {
        self.handle.forget_waker(&mut self.slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    use kprod_core::producer::{BatchId, RecordId};

    use crate::delivery::{BatchOutcome, Registry};

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn future(reg: &mut Registry, batch: u64, index: u32) -> DeliveryFuture {
        let id = RecordId { batch: BatchId(batch), index };
        DeliveryFuture::new(reg.register(id, 1000 + i64::from(index), None).expect("handle"))
    }

    #[test]
    fn futures_wake_once_per_batch_and_dropped_ones_leave_nothing() {
        let mut reg = Registry::default();
        let (mut a, mut b, c) = (future(&mut reg, 1, 0), future(&mut reg, 1, 1), future(&mut reg, 1, 2));
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = core::task::Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut a).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut a).poll(&mut cx).is_pending(), "a second poll reuses the slot");
        assert!(Pin::new(&mut b).poll(&mut cx).is_pending());
        let mut c = c;
        assert!(Pin::new(&mut c).poll(&mut cx).is_pending());
        drop(c); // its waker goes with it
        assert!(!a.is_done() && a.try_get().is_none());
        let outcome = BatchOutcome::Delivered { topic: Arc::from("t"), partition: 3, base_offset: 70, log_append_time: -1 };
        reg.complete(BatchId(1), outcome).expect("registered").dispatch_to(None);
        assert_eq!(count.0.load(Ordering::SeqCst), 2, "each waiting future woken once, the dropped one not");
        let Poll::Ready(Ok(m)) = Pin::new(&mut b).poll(&mut cx) else { panic!("b is complete") };
        assert_eq!((m.partition, m.offset, m.timestamp), (3, 71, 1001));
        assert!(matches!(Pin::new(&mut a).poll(&mut cx), Poll::Ready(Ok(ref m)) if m.offset == 70));
        assert!(a.is_done());
        assert!(reg.is_empty());
    }

    #[test]
    fn a_failed_batch_fails_every_future() {
        let mut reg = Registry::default();
        let mut f = future(&mut reg, 9, 0);
        for done in reg.fail_all(&Error::Closed) {
            done.dispatch_to(None);
        }
        let mut cx = Context::from_waker(core::task::Waker::noop());
        assert_eq!(Pin::new(&mut f).poll(&mut cx), Poll::Ready(Err(Error::Closed)));
    }
}
