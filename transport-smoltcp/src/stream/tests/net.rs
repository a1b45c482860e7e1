//! In-memory streams to the fake broker, a connector handing them out, and a virtual clock.
//!
//! A [`Pipe`] is the client end of one stream. The broker answers whole request frames when the
//! client asks `read_ready` (so answers are there on the next read). Reads and writes move a
//! pseudo-random 1..=`max_read` / 1..=`max_write` bytes, and at most `write_window` bytes wait
//! unread by the broker, so frames are split and joined and writes stop part-way. A `read` or
//! `write` that would block panics: the driver must only call them when the stream says ready.
//! Faults: an error after so many bytes, a broker that hangs up.

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

use embedded_io::{ErrorKind, ErrorType, Read, ReadReady, Write, WriteReady};
use kprod_core::time::Instant;

use super::broker::{FakeBroker, Reply};
use crate::stream::{Clock, Connector, Release};

/// One stream's two directions and its faults.
#[derive(Debug, Default)]
pub(in crate::stream) struct Wire {
    pub(in crate::stream) to_broker: VecDeque<u8>,
    /// What the broker has received and not yet handled (a partial frame).
    pub(in crate::stream) inbox: VecDeque<u8>,
    pub(in crate::stream) to_client: VecDeque<u8>,
    /// The broker hung up: the client reads what is left, then end of stream.
    pub(in crate::stream) broker_closed: bool,
    /// The client let go of it.
    pub(in crate::stream) client_closed: bool,
    /// Reads fail once the client has read this many bytes in total.
    pub(in crate::stream) read_error_after: Option<usize>,
    /// Writes fail once the client has written this many bytes in total.
    pub(in crate::stream) write_error_after: Option<usize>,
    /// The broker hangs up once it has answered this many requests on the stream.
    pub(in crate::stream) close_after_requests: Option<usize>,
    /// While set, answers wait here (in order) instead of going out: a slow broker.
    pub(in crate::stream) held: Option<Vec<u8>>,
    pub(in crate::stream) read_total: usize,
    pub(in crate::stream) written_total: usize,
    pub(in crate::stream) requests: usize,
}

impl Wire {
    /// Bytes the client will read next, as if the broker sent them.
    pub(in crate::stream) fn push_to_client(&mut self, bytes: &[u8]) {
        self.to_client.extend(bytes);
    }

    /// Sends the answers held back, and stops holding.
    pub(in crate::stream) fn release_held(&mut self) {
        let held = self.held.take().unwrap_or_default();
        self.to_client.extend(held);
    }
}

/// The shared world: the broker, every stream opened, and the split sizes.
#[derive(Debug)]
pub(in crate::stream) struct Net {
    pub(in crate::stream) broker: FakeBroker,
    pub(in crate::stream) wires: Vec<Wire>,
    pub(in crate::stream) max_read: usize,
    pub(in crate::stream) max_write: usize,
    pub(in crate::stream) write_window: usize,
    /// Faults given to the next stream opened.
    pub(in crate::stream) next_faults: Vec<Wire>,
    rng: u64,
}

pub(in crate::stream) type SharedNet = Rc<RefCell<Net>>;

impl Net {
    pub(in crate::stream) fn new(broker: FakeBroker) -> SharedNet {
        Rc::new(RefCell::new(Self {
            broker,
            wires: Vec::new(),
            max_read: 7,
            max_write: 13,
            write_window: 64,
            next_faults: Vec::new(),
            rng: 0x2545_f491_4f6c_dd1d,
        }))
    }

    /// 1..=max (xorshift).
    fn draw(&mut self, max: usize) -> usize {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        1 + (self.rng % max.max(1) as u64) as usize
    }

    /// The broker reads every whole request frame of stream `id` and answers.
    fn serve(&mut self, id: usize) {
        loop {
            let w = &mut self.wires[id];
            let received: Vec<u8> = w.to_broker.drain(..).collect();
            w.inbox.extend(received);
            if w.broker_closed || w.inbox.len() < 4 {
                return;
            }
            let prefix: Vec<u8> = w.inbox.iter().take(4).copied().collect();
            let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
            if w.inbox.len() < 4 + size {
                return;
            }
            let frame: Vec<u8> = w.inbox.drain(..4 + size).skip(4).collect();
            let reply = self.broker.handle(&frame);
            let w = &mut self.wires[id];
            w.requests += 1;
            match reply {
                Reply::Frame(bytes) => match w.held.as_mut() {
                    Some(held) => held.extend(bytes),
                    None => w.to_client.extend(bytes),
                },
                Reply::Nothing => {}
                Reply::Close => w.broker_closed = true,
            }
            if w.close_after_requests.is_some_and(|n| w.requests >= n) {
                w.broker_closed = true;
            }
        }
    }
}

/// The client end of a stream.
#[derive(Debug)]
pub(in crate::stream) struct Pipe {
    pub(in crate::stream) net: SharedNet,
    pub(in crate::stream) id: usize,
}

impl Pipe {
    /// Opens a new stream to the broker.
    pub(in crate::stream) fn open(net: &SharedNet) -> Self {
        let mut n = net.borrow_mut();
        let wire = n.next_faults.pop().unwrap_or_default();
        n.wires.push(wire);
        Self { net: Rc::clone(net), id: n.wires.len() - 1 }
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        self.net.borrow_mut().wires[self.id].client_closed = true;
    }
}

impl ErrorType for Pipe {
    type Error = ErrorKind;
}

impl ReadReady for Pipe {
    fn read_ready(&mut self) -> Result<bool, ErrorKind> {
        let mut n = self.net.borrow_mut();
        n.serve(self.id);
        let w = &n.wires[self.id];
        if w.read_error_after.is_some_and(|limit| w.read_total >= limit) {
            return Err(ErrorKind::ConnectionReset);
        }
        Ok(!w.to_client.is_empty() || w.broker_closed)
    }
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        let mut n = self.net.borrow_mut();
        let max = n.max_read;
        let chunk = n.draw(max);
        let w = &mut n.wires[self.id];
        assert!(!w.to_client.is_empty() || w.broker_closed, "read on a stream that is not ready would block");
        assert!(!buf.is_empty(), "read into an empty buffer");
        let mut take = chunk.min(buf.len()).min(w.to_client.len());
        if let Some(limit) = w.read_error_after {
            take = take.min(limit.saturating_sub(w.read_total));
            if take == 0 && !w.to_client.is_empty() {
                return Err(ErrorKind::ConnectionReset);
            }
        }
        for (slot, b) in buf.iter_mut().zip(w.to_client.drain(..take)) {
            *slot = b;
        }
        w.read_total += take;
        Ok(take)
    }
}

impl WriteReady for Pipe {
    fn write_ready(&mut self) -> Result<bool, ErrorKind> {
        let n = self.net.borrow();
        let w = &n.wires[self.id];
        if w.write_error_after.is_some_and(|limit| w.written_total >= limit) {
            return Err(ErrorKind::BrokenPipe);
        }
        Ok(w.to_broker.len() < n.write_window)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        let mut n = self.net.borrow_mut();
        let max = n.max_write;
        let chunk = n.draw(max);
        let window = n.write_window;
        let w = &mut n.wires[self.id];
        assert!(w.to_broker.len() < window, "write on a stream that is not ready would block");
        let mut take = chunk.min(buf.len()).min(window - w.to_broker.len());
        if let Some(limit) = w.write_error_after {
            take = take.min(limit.saturating_sub(w.written_total));
            if take == 0 {
                return Err(ErrorKind::BrokenPipe);
            }
        }
        w.to_broker.extend(&buf[..take]);
        w.written_total += take;
        Ok(take)
    }

    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

/// Opens [`Pipe`]s to the fake broker, whatever the address; can refuse the first few.
#[derive(Debug)]
pub(in crate::stream) struct TestConnector {
    pub(in crate::stream) net: SharedNet,
    /// Every connect asked for.
    pub(in crate::stream) connects: Vec<(String, u16)>,
    /// Connects to refuse before succeeding again.
    pub(in crate::stream) refuse: usize,
    /// How each stream came back.
    pub(in crate::stream) released: Vec<Release>,
}

impl TestConnector {
    pub(in crate::stream) fn new(net: &SharedNet) -> Self {
        Self { net: Rc::clone(net), connects: Vec::new(), refuse: 0, released: Vec::new() }
    }
}

impl Connector for TestConnector {
    type Stream = Pipe;
    type Error = &'static str;

    fn connect(&mut self, host: &str, port: u16) -> Result<Pipe, &'static str> {
        self.connects.push((host.to_string(), port));
        if self.refuse > 0 {
            self.refuse -= 1;
            return Err("connection refused");
        }
        Ok(Pipe::open(&self.net))
    }

    fn release(&mut self, stream: Pipe, how: Release) {
        self.released.push(how);
        drop(stream);
    }
}

/// Virtual time: each reading moves it on by 20 µs (so busy loops progress), and `idle` jumps
/// to the instant asked for.
#[derive(Debug, Clone, Default)]
pub(in crate::stream) struct TestClock(pub(in crate::stream) Rc<Cell<u64>>);

impl Clock for TestClock {
    fn now(&mut self) -> Instant {
        let t = self.0.get() + 20;
        self.0.set(t);
        Instant::from_micros(t)
    }

    fn idle(&mut self, until: Instant) {
        self.0.set(self.0.get().max(until.as_micros()));
    }
}
