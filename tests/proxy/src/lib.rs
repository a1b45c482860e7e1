//! A TCP fault proxy for kprod's reliability tests. It sits between a client and one Kafka
//! broker, forwards the bytes unchanged (it is no mock: the broker is real), and on command:
//! resets every connection ([`Proxy::reset`]), stalls them like a blackhole for a while
//! ([`Proxy::stall`]), throttles bandwidth ([`Proxy::throttle`]), adds latency
//! ([`Proxy::latency`]), cuts a connection in the middle of a Kafka frame in either direction
//! ([`Proxy::cut_mid_frame`]), flips a byte inside a frame ([`Proxy::corrupt_frame`]) and refuses
//! connections altogether ([`Proxy::set_down`]).
//!
//! It runs on a tokio runtime the caller owns; the commands are plain (non-async) methods, so a
//! test thread can call them while the runtime forwards. The `kprod-fault-proxy` binary runs
//! proxies with a line-based control socket for scripts (see `src/main.rs`).
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! let rt = tokio::runtime::Runtime::new()?;
//! let proxy = kprod_fault_proxy::Proxy::spawn(
//!     rt.handle(),
//!     "127.0.0.1:49292".parse().unwrap(),
//!     "127.0.0.1:49092".parse().unwrap(),
//! )?;
//! proxy.stall(std::time::Duration::from_secs(5));
//! proxy.cut_mid_frame(kprod_fault_proxy::Direction::ToClient);
//! # Ok(()) }
//! ```

extern crate alloc;

mod conn;
pub mod control;
mod frames;

use alloc::sync::Arc;
use core::net::SocketAddr;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use core::time::Duration;

use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::time::Instant;

/// Which way bytes flow through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client to the broker (requests).
    ToBroker,
    /// From the broker to the client (responses).
    ToClient,
}

/// The faults in force, shared by the accept loop and every connection.
#[derive(Debug, Clone, Default)]
struct Faults {
    /// Nothing moves (and no new connection reaches the broker) until then.
    stall_until: Option<Instant>,
    /// Bytes per second in each direction of each connection; `None` is unlimited.
    rate: Option<u64>,
    /// Added to every chunk's trip through the proxy.
    latency: Duration,
    /// Refuse connections: the listener is closed and open connections are reset.
    down: bool,
    /// Bumped by every reset; a connection resets when it changes.
    resets: u64,
}

/// What a proxy counted since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections ended by a reset (or by going down).
    pub reset: u64,
    /// Connections cut in the middle of a frame.
    pub cut: u64,
    /// Frames corrupted.
    pub corrupted: u64,
    /// Bytes forwarded to the broker.
    pub to_broker: u64,
    /// Bytes forwarded to the client.
    pub to_client: u64,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    reset: AtomicU64,
    cut: AtomicU64,
    corrupted: AtomicU64,
    to_broker: AtomicU64,
    to_client: AtomicU64,
}

/// What the accept loop and the connections share.
#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    faults: watch::Sender<Faults>,
    /// Frames still to cut, per direction (the next frames to start on any connection).
    cut_to_broker: AtomicU32,
    cut_to_client: AtomicU32,
    /// Frames still to corrupt, per direction.
    corrupt_to_broker: AtomicU32,
    corrupt_to_client: AtomicU32,
    counters: Counters,
}

impl Shared {
    fn cuts(&self, dir: Direction) -> &AtomicU32 {
        match dir {
            Direction::ToBroker => &self.cut_to_broker,
            Direction::ToClient => &self.cut_to_client,
        }
    }

    fn corrupts(&self, dir: Direction) -> &AtomicU32 {
        match dir {
            Direction::ToBroker => &self.corrupt_to_broker,
            Direction::ToClient => &self.corrupt_to_client,
        }
    }

    /// Takes one armed cut for `dir`, if any.
    fn take_cut(&self, dir: Direction) -> bool {
        take_one(self.cuts(dir))
    }

    /// Takes one armed corruption for `dir`, if any (and counts it).
    fn take_corrupt(&self, dir: Direction) -> bool {
        let taken = take_one(self.corrupts(dir));
        if taken {
            self.counters.corrupted.fetch_add(1, Ordering::Relaxed);
        }
        taken
    }
}

/// Decrements `n` unless it is 0; true if it did.
fn take_one(n: &AtomicU32) -> bool {
    n.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok()
}

/// One proxy: a listener forwarding every connection to one upstream address.
#[derive(Debug)]
pub struct Proxy {
    shared: Arc<Shared>,
    listen: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Binds `listen` (port 0 picks one) and forwards each connection to `upstream`, on `rt`.
    ///
    /// # Errors
    /// If `listen` cannot be bound.
    pub fn spawn(rt: &Handle, listen: SocketAddr, upstream: SocketAddr) -> std::io::Result<Self> {
        let std_listener = std::net::TcpListener::bind(listen)?;
        std_listener.set_nonblocking(true)?;
        let listen = std_listener.local_addr()?;
        let listener = {
            let _guard = rt.enter();
            TcpListener::from_std(std_listener)?
        };
        let shared = Arc::new(Shared {
            upstream,
            faults: watch::Sender::new(Faults::default()),
            cut_to_broker: AtomicU32::new(0),
            cut_to_client: AtomicU32::new(0),
            corrupt_to_broker: AtomicU32::new(0),
            corrupt_to_client: AtomicU32::new(0),
            counters: Counters::default(),
        });
        let task = rt.spawn(accept_loop(Arc::clone(&shared), listener, listen));
        Ok(Self { shared, listen, task })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.listen
    }

    /// Resets every open connection (the client sees ECONNRESET); new ones are accepted.
    pub fn reset(&self) {
        self.shared.faults.send_modify(|f| f.resets += 1);
    }

    /// Stalls every connection for `d`, open and new ones alike: no byte moves either way and
    /// new connections are held before they reach the broker, as if the network dropped every
    /// packet. The bytes in flight are delivered afterwards, as TCP would once the path heals.
    pub fn stall(&self, d: Duration) {
        let until = Instant::now() + d;
        self.shared.faults.send_modify(|f| f.stall_until = Some(until));
    }

    /// Limits each direction of each connection to `bytes_per_sec` (`None`: unlimited).
    pub fn throttle(&self, bytes_per_sec: Option<u64>) {
        self.shared.faults.send_modify(|f| f.rate = bytes_per_sec.filter(|&r| r > 0));
    }

    /// Delays every byte by `d` on its way through (each direction).
    pub fn latency(&self, d: Duration) {
        self.shared.faults.send_modify(|f| f.latency = d);
    }

    /// Cuts the next frame to start in `dir`, on whichever connection it is: the proxy
    /// forwards its length and half its body, then closes both sides of that connection.
    pub fn cut_mid_frame(&self, dir: Direction) {
        self.shared.cuts(dir).fetch_add(1, Ordering::AcqRel);
    }

    /// Flips one byte (at three quarters of its body) of the next frame to start in `dir`, on
    /// whichever connection it is, and forwards the rest unchanged: a record batch fails its CRC
    /// check, a request header its parse.
    pub fn corrupt_frame(&self, dir: Direction) {
        self.shared.corrupts(dir).fetch_add(1, Ordering::AcqRel);
    }

    /// Down: closes the listener (connections are refused) and resets open connections. Up:
    /// listens again on the same address.
    pub fn set_down(&self, down: bool) {
        self.shared.faults.send_modify(|f| {
            if down && !f.down {
                f.resets += 1;
            }
            f.down = down;
        });
    }

    /// Lifts every fault (stall, throttle, latency, armed cuts, down).
    pub fn clear(&self) {
        self.shared.cut_to_broker.store(0, Ordering::Release);
        self.shared.cut_to_client.store(0, Ordering::Release);
        self.shared.corrupt_to_broker.store(0, Ordering::Release);
        self.shared.corrupt_to_client.store(0, Ordering::Release);
        self.shared.faults.send_modify(|f| *f = Faults { resets: f.resets, ..Faults::default() });
    }

    /// What the proxy counted so far.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        Stats {
            accepted: c.accepted.load(Ordering::Relaxed),
            reset: c.reset.load(Ordering::Relaxed),
            cut: c.cut.load(Ordering::Relaxed),
            corrupted: c.corrupted.load(Ordering::Relaxed),
            to_broker: c.to_broker.load(Ordering::Relaxed),
            to_client: c.to_client.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Open connections end with a reset; the listener closes with the accept loop.
        self.shared.faults.send_modify(|f| f.resets += 1);
        self.task.abort();
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, listen: SocketAddr) {
    let mut faults = shared.faults.subscribe();
    let mut listener = Some(listener);
    loop {
        let down = faults.borrow_and_update().down;
        if down {
            listener = None;
        } else if listener.is_none() {
            match TcpListener::bind(listen).await {
                Ok(l) => listener = Some(l),
                Err(_) => {
                    // The port is still held by a closing socket: try again shortly.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            }
        }
        let Some(l) = &listener else {
            if faults.changed().await.is_err() {
                return;
            }
            continue;
        };
        tokio::select! {
            accepted = l.accept() => {
                if let Ok((client, _)) = accepted {
                    shared.counters.accepted.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(conn::serve(Arc::clone(&shared), client));
                }
            }
            changed = faults.changed() => if changed.is_err() { return },
        }
    }
}
