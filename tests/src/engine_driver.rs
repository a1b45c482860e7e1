//! A minimal blocking driver for the sans-IO engine, for tests: std `TcpStream`s, a polling
//! loop, and the drain order the engine documents. The product drivers live in `kprod-std`;
//! this one exists so the engine can be checked against a real broker on its own.

extern crate alloc;

use alloc::collections::BTreeMap;
use core::time::Duration;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Instant as StdInstant;

use kprod_core::producer::RecordId;
use kprod_core::producer::{Event, Producer, ProducerRecord, SendError, TransmitError};
use kprod_core::time::Instant;

/// Runs a [`Producer`] over std sockets.
pub struct EngineDriver<'s> {
    /// The engine.
    pub producer: Producer<'s>,
    socks: BTreeMap<u16, (TcpStream, Vec<u8>)>,
    start: StdInstant,
    tx: Vec<u8>,
    /// Completion and fatal events, in the order they came.
    pub events: Vec<Event>,
}

impl<'s> EngineDriver<'s> {
    /// Wraps a producer.
    pub fn new(producer: Producer<'s>) -> Self {
        Self { producer, socks: BTreeMap::new(), start: StdInstant::now(), tx: vec![0; 64 * 1024], events: Vec::new() }
    }

    /// The engine's clock: microseconds since the driver started.
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as u64)
    }

    /// Sends a record, waiting (polling) on retriable errors up to `max_block`.
    pub fn send(&mut self, record: &ProducerRecord<'_>, max_block: Duration) -> Result<RecordId, SendError> {
        let deadline = StdInstant::now() + max_block;
        loop {
            match self.producer.send(record, self.now()) {
                Err(e) if e.is_retriable() && StdInstant::now() < deadline => self.step(),
                other => return other,
            }
        }
    }

    /// Polls until `done(self)` or the timeout; returns whether `done` held.
    pub fn run_until(&mut self, timeout: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let deadline = StdInstant::now() + timeout;
        while StdInstant::now() < deadline {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    /// One round: transmit, events, reads, timers; sleeps briefly when idle.
    pub fn step(&mut self) {
        let mut busy = self.transmit();
        busy |= self.drain_events();
        busy |= self.read();
        let now = self.now();
        self.producer.handle_timeout(now);
        busy |= self.transmit();
        busy |= self.drain_events();
        if !busy {
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    fn transmit(&mut self) -> bool {
        let mut any = false;
        loop {
            let now = self.now();
            match self.producer.poll_transmit(now, &mut self.tx) {
                Ok(Some(t)) => {
                    any = true;
                    let failed = match self.socks.get_mut(&t.conn.0) {
                        Some((s, _)) => write_all_blocking(s, &self.tx[..t.len]).is_err(),
                        None => true,
                    };
                    if failed {
                        self.socks.remove(&t.conn.0);
                        self.producer.handle_disconnected(t.conn, self.now());
                    }
                }
                Ok(None) => return any,
                Err(TransmitError::BufferTooSmall { needed }) => self.tx.resize(needed, 0),
            }
        }
    }

    fn drain_events(&mut self) -> bool {
        let mut any = false;
        while let Some(e) = self.producer.poll_event() {
            any = true;
            match e {
                Event::Connect(conn) => {
                    let addr = self.producer.address(conn).map(|(h, p)| (h.to_owned(), p));
                    let stream = addr.and_then(|(h, p)| connect(&h, p));
                    let now = self.now();
                    match stream {
                        Some(s) => {
                            self.socks.insert(conn.0, (s, Vec::new()));
                            self.producer.handle_connected(conn, now);
                        }
                        None => self.producer.handle_disconnected(conn, now),
                    }
                }
                Event::Close(conn) => {
                    self.socks.remove(&conn.0);
                }
                other => self.events.push(other),
            }
        }
        any
    }

    fn read(&mut self) -> bool {
        let mut any = false;
        let mut dead = Vec::new();
        let mut chunk = [0u8; 64 * 1024];
        let ids: Vec<u16> = self.socks.keys().copied().collect();
        for id in ids {
            let Some((sock, rx)) = self.socks.get_mut(&id) else {
                continue;
            };
            match sock.read(&mut chunk) {
                Ok(0) => dead.push(id),
                Ok(n) => {
                    any = true;
                    rx.extend_from_slice(&chunk[..n]);
                    let now = Instant::from_micros(self.start.elapsed().as_micros() as u64);
                    let used = self.producer.handle_read(kprod_core::producer::conn::ConnId(id), rx, now);
                    rx.drain(..used);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => dead.push(id),
            }
        }
        for id in dead {
            self.socks.remove(&id);
            let now = self.now();
            self.producer.handle_disconnected(kprod_core::producer::conn::ConnId(id), now);
        }
        any
    }
}

fn connect(host: &str, port: u16) -> Option<TcpStream> {
    let addr = (host, port).to_socket_addrs().ok()?.next()?;
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_nodelay(true).ok()?;
    s.set_nonblocking(true).ok()?;
    Some(s)
}

fn write_all_blocking(s: &mut TcpStream, mut buf: &[u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        match s.write(buf) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_micros(100)),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
