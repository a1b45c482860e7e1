//! The async tests' world: a one-future executor on virtual time ([`run`], [`VTimer`]), the
//! blocking tests' in-memory streams to the fake broker behind async traits ([`AsyncPipe`]),
//! and a connector handing them out that can refuse or hang ([`AsyncTestConnector`]).
//!
//! Virtual time moves 10 µs per poll (work takes time) and, when every future waits, jumps to
//! the earliest timer. Every future waiting with no timer set is a hang: the test fails.

extern crate alloc;
extern crate std;

use alloc::rc::Rc;
use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::future::{pending, poll_fn, Future};
use core::pin::pin;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context, Poll, Waker};

use embedded_io::{ErrorKind, ErrorType, Read as _, ReadReady as _, Write as _, WriteReady as _};
use kprod_core::time::Instant;

use crate::stream::asynch::{AsyncConnector, Release, Timer};
use crate::stream::tests::net::{Pipe, SharedNet, TestConnector};
use crate::stream::Connector as _;

/// Polls before a test is declared stuck in a busy loop.
const POLL_LIMIT: u64 = 20_000_000;

/// Virtual time and the timers waiting on it.
#[derive(Debug, Clone, Default)]
pub(super) struct VTimer(Rc<VInner>);

#[derive(Debug, Default)]
struct VInner {
    now: Cell<u64>,
    timers: RefCell<Vec<(u64, Waker)>>,
}

impl VTimer {
    fn advance_to(&self, t: u64) {
        self.0.now.set(self.0.now.get().max(t));
        let now = self.0.now.get();
        self.0.timers.borrow_mut().retain(|(at, waker)| {
            let due = *at <= now;
            if due {
                waker.wake_by_ref();
            }
            !due
        });
    }
}

impl Timer for VTimer {
    fn now(&self) -> Instant {
        Instant::from_micros(self.0.now.get())
    }

    fn at(&self, deadline: Instant) -> impl Future<Output = ()> {
        poll_fn(move |cx| {
            if self.0.now.get() >= deadline.as_micros() {
                return Poll::Ready(());
            }
            self.0.timers.borrow_mut().push((deadline.as_micros(), cx.waker().clone()));
            Poll::Pending
        })
    }
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Runs `f` to completion on virtual time.
pub(super) fn run<F: Future>(timer: &VTimer, f: F) -> F::Output {
    let flag = Arc::new(Flag(AtomicBool::new(true)));
    let waker = Waker::from(Arc::clone(&flag));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    for _ in 0..POLL_LIMIT {
        if flag.0.swap(false, Ordering::SeqCst) {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            timer.advance_to(timer.0.now.get() + 10);
            continue;
        }
        let next = timer.0.timers.borrow().iter().map(|(at, _)| *at).min();
        let next = next.expect("hang: every future waits and no timer is set");
        timer.advance_to(next);
    }
    panic!("busy loop: {POLL_LIMIT} polls without finishing");
}

/// A blocking test [`Pipe`] with async `read`/`write`: the broker runs whenever the stream is
/// polled; a call that would block waits (woken by the executor's timers, or a write).
#[derive(Debug)]
pub(super) struct AsyncPipe(pub(super) Pipe);

impl AsyncPipe {
    fn broker_closed(&self) -> bool {
        self.0.net.borrow().wires[self.0.id].broker_closed
    }
}

std::thread_local! {
    /// Streams waiting to read: any write may have produced their answer.
    static READERS: RefCell<Vec<Waker>> = const { RefCell::new(Vec::new()) };
}

fn wake_readers() {
    READERS.with(|r| r.borrow_mut().drain(..).for_each(Waker::wake));
}

impl ErrorType for AsyncPipe {
    type Error = ErrorKind;
}

impl embedded_io_async::Read for AsyncPipe {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        poll_fn(|cx| match self.0.read_ready() {
            Ok(true) => Poll::Ready(self.0.read(buf)),
            Ok(false) => {
                READERS.with(|r| r.borrow_mut().push(cx.waker().clone()));
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        })
        .await
    }
}

impl embedded_io_async::Write for AsyncPipe {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        // The broker reads what waits for it; a broker that hung up refuses more (a reset).
        let _ = self.0.read_ready();
        if self.broker_closed() {
            return Err(ErrorKind::BrokenPipe);
        }
        let written = match self.0.write_ready()? {
            true => self.0.write(buf),
            // The broker drained the window just now, so this is only a write error.
            false => Err(ErrorKind::BrokenPipe),
        };
        wake_readers();
        written
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

/// Opens [`AsyncPipe`]s through the blocking tests' connector (which can refuse); the first
/// `hang` connects never finish.
#[derive(Debug)]
pub(super) struct AsyncTestConnector {
    pub(super) inner: TestConnector,
    pub(super) hang: usize,
}

impl AsyncTestConnector {
    pub(super) fn new(net: &SharedNet) -> Self {
        Self { inner: TestConnector::new(net), hang: 0 }
    }
}

impl AsyncConnector for AsyncTestConnector {
    type Stream = AsyncPipe;
    type Error = &'static str;

    async fn connect(&mut self, host: &str, port: u16) -> Result<AsyncPipe, &'static str> {
        if self.hang > 0 {
            self.hang -= 1;
            pending::<()>().await;
        }
        self.inner.connect(host, port).map(AsyncPipe)
    }

    fn release(&mut self, stream: AsyncPipe, how: Release) {
        self.inner.release(stream.0, how);
    }
}
