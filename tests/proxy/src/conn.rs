//! One proxied connection: two pipes (client to broker, broker to client), each a reader and a
//! writer joined by a small bounded queue, so latency delays bytes without lowering throughput
//! and a stalled writer stops the reader through backpressure.

use alloc::sync::Arc;
use core::sync::atomic::Ordering;
use core::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::frames::FrameCutter;
use crate::{Direction, Faults, Shared};

/// Largest chunk read at once.
const CHUNK: usize = 16 * 1024;
/// Chunks queued between a reader and its writer (so at most 16 × 16 KiB per direction).
const QUEUE: usize = 16;

/// How one direction of a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// End of stream or an error on either side.
    Closed,
    /// Cut in the middle of a frame.
    Cut,
}

/// Forwards `client` to the upstream broker until either side closes, a reset or a cut.
pub(crate) async fn serve(shared: Arc<Shared>, mut client: TcpStream) {
    let mut faults = shared.faults.subscribe();
    let generation = faults.borrow().resets;
    // A connection made during a stall waits, like a SYN that goes unanswered.
    if !gate(&mut faults, generation).await {
        reset(&shared, &client, None);
        return;
    }
    let Ok(mut upstream) = TcpStream::connect(shared.upstream).await else {
        return; // The broker is not there: the client sees its connection close.
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let ended = {
        let (cr, cw) = client.split();
        let (ur, uw) = upstream.split();
        let mut on_reset = faults.clone();
        tokio::select! {
            end = pipe(cr, uw, Direction::ToBroker, &shared, faults.clone(), generation) => Some(end),
            end = pipe(ur, cw, Direction::ToClient, &shared, faults.clone(), generation) => Some(end),
            () = reset_signal(&mut on_reset, generation) => None,
        }
    };
    match ended {
        None => reset(&shared, &client, Some(&upstream)),
        Some(End::Cut) => {
            shared.counters.cut.fetch_add(1, Ordering::Relaxed);
            // A clean close right after the half frame: the peer reads a truncated frame, then EOF.
            let _ = client.shutdown().await;
            let _ = upstream.shutdown().await;
        }
        Some(End::Closed) => {}
    }
}

/// Drops the connection with RST (SO_LINGER 0) on both sides.
fn reset(shared: &Shared, client: &TcpStream, upstream: Option<&TcpStream>) {
    shared.counters.reset.fetch_add(1, Ordering::Relaxed);
    let _ = client.set_zero_linger();
    if let Some(u) = upstream {
        let _ = u.set_zero_linger();
    }
}

/// Waits while the connection is stalled. False once a reset (of this connection's
/// generation) arrives or the proxy is gone.
async fn gate(faults: &mut watch::Receiver<Faults>, generation: u64) -> bool {
    loop {
        let (until, resets) = {
            let f = faults.borrow_and_update();
            (f.stall_until, f.resets)
        };
        if resets != generation {
            return false;
        }
        match until {
            Some(t) if t > Instant::now() => tokio::select! {
                () = tokio::time::sleep_until(t) => {}
                changed = faults.changed() => if changed.is_err() { return false },
            },
            _ => return true,
        }
    }
}

/// Completes when a reset arrives (or the proxy is dropped).
async fn reset_signal(faults: &mut watch::Receiver<Faults>, generation: u64) {
    loop {
        if faults.borrow_and_update().resets != generation {
            return;
        }
        if faults.changed().await.is_err() {
            return;
        }
    }
}

async fn pipe(
    r: ReadHalf<'_>,
    w: WriteHalf<'_>,
    dir: Direction,
    shared: &Shared,
    faults: watch::Receiver<Faults>,
    generation: u64,
) -> End {
    let (tx, rx) = mpsc::channel(QUEUE);
    let read = read_side(r, tx, dir, shared, faults.clone(), generation);
    let write = write_side(w, rx, dir, shared, faults, generation);
    tokio::pin!(read, write);
    tokio::select! {
        end = &mut read => {
            // Forward what was read (up to the cut) before the connection ends.
            write.await;
            end
        }
        () = &mut write => End::Closed,
    }
}

async fn read_side(
    mut r: ReadHalf<'_>,
    tx: mpsc::Sender<(Instant, Vec<u8>)>,
    dir: Direction,
    shared: &Shared,
    mut faults: watch::Receiver<Faults>,
    generation: u64,
) -> End {
    let mut cutter = FrameCutter::default();
    loop {
        if !gate(&mut faults, generation).await {
            return End::Closed;
        }
        let mut buf = vec![0; CHUNK];
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => return End::Closed,
            Ok(n) => n,
        };
        let cut = cutter.scan(&mut buf[..n], &mut || shared.take_cut(dir), &mut || shared.take_corrupt(dir));
        buf.truncate(cut.unwrap_or(n));
        let due = Instant::now() + faults.borrow().latency;
        if tx.send((due, buf)).await.is_err() {
            return End::Closed;
        }
        if cut.is_some() {
            return End::Cut;
        }
    }
}

async fn write_side(
    mut w: WriteHalf<'_>,
    mut rx: mpsc::Receiver<(Instant, Vec<u8>)>,
    dir: Direction,
    shared: &Shared,
    mut faults: watch::Receiver<Faults>,
    generation: u64,
) {
    let counter = match dir {
        Direction::ToBroker => &shared.counters.to_broker,
        Direction::ToClient => &shared.counters.to_client,
    };
    while let Some((due, buf)) = rx.recv().await {
        tokio::time::sleep_until(due).await;
        if !gate(&mut faults, generation).await || w.write_all(&buf).await.is_err() {
            return;
        }
        counter.fetch_add(buf.len() as u64, Ordering::Relaxed);
        let rate = faults.borrow().rate;
        if let Some(rate) = rate {
            tokio::time::sleep(Duration::from_secs_f64(buf.len() as f64 / rate as f64)).await;
        }
    }
}
