//! The produce loop: sends the records as fast as the producer takes them, counts every
//! completion, and reports progress on the UART.

use core::fmt::{self, Write};

use kprod_core::producer::{Completion, DeliveryError, ProducerRecord, SendError};
use kprod_core::record::Header;
use kprod_smoltcp::{Driver, Report};
use smoltcp::iface::{Interface, SocketSet};

use crate::board::now;
use crate::lan9118::{Counters, Lan9118};
use crate::uart::Uart;

/// At most this many `send` calls per loop iteration, so the network is polled in between.
const SENDS_PER_POLL: u32 = 64;
/// A progress line every this many completed records.
const PROGRESS_EVERY: u32 = 250;

/// What happened to the records.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    /// Records `send` accepted.
    pub accepted: u32,
    /// Records the broker acknowledged.
    pub delivered: u32,
    /// Records that failed with `delivery.timeout.ms`.
    pub timed_out: u32,
    /// Records that failed for another reason.
    pub failed_other: u32,
    /// Milliseconds from the first `send` to the last completion.
    pub elapsed_ms: i64,
    /// The Ethernet controller's frame counters at the end.
    pub frames: Counters,
}

impl Tally {
    fn completed(&self) -> u32 {
        self.delivered + self.timed_out + self.failed_other
    }
}

/// Why the loop stopped before every record completed.
pub enum Abort {
    /// `send` refused a record for good.
    Send(SendError),
    /// `send` kept refusing a record (buffer full, metadata pending) for `max.block.ms`.
    Blocked(SendError),
    /// The producer reported a fatal error.
    Fatal(kprod_core::producer::FatalError),
    /// A request frame does not fit the transmit buffer.
    TxBufferTooSmall(usize),
}

impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Send(e) => write!(f, "send refused a record: {e}"),
            Self::Blocked(e) => write!(f, "send was refused for longer than max.block.ms: {e}"),
            Self::Fatal(e) => write!(f, "fatal producer error: {e}"),
            Self::TxBufferTooSmall(n) => {
                write!(f, "a request of {n} bytes does not fit the frame buffer")
            }
        }
    }
}

/// A small formatting buffer on the stack.
struct Text<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
        }
    }
    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> Write for Text<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// What to produce.
pub struct Run {
    pub topic: &'static str,
    /// How many records.
    pub records: u32,
    /// At most this many a second (0: no limit).
    pub rate: u32,
    /// The wall clock at boot (the records' create time is `epoch_ms + now`).
    pub epoch_ms: i64,
    /// `max.block.ms`: how long `send` may keep refusing a record.
    pub max_block_ms: i64,
}

/// The network side: interface, device and sockets.
pub struct Net<'n> {
    pub iface: &'n mut Interface,
    pub device: &'n mut Lan9118,
    pub sockets: &'n mut SocketSet<'static>,
}

/// Produces `run.records` records to `run.topic`: record `i` has key `fw-<i>`, value
/// `seq=<i> ts=<timestamp>`, headers `seq: <i>` and `board: mps2-an386`, and the create time
/// `epoch_ms + now`. Returns when every accepted record has completed.
pub fn produce(
    driver: &mut Driver<'static>,
    net: Net<'_>,
    out: &mut Uart,
    run: &Run,
) -> Result<Tally, Abort> {
    let Run {
        topic,
        records,
        rate,
        epoch_ms,
        max_block_ms,
    } = *run;
    let mut tally = Tally::default();
    let started = now().total_millis();
    let mut blocked_since: Option<i64> = None;
    let mut abort: Option<Abort> = None;
    let mut next_progress = PROGRESS_EVERY;
    while tally.completed() < records {
        let t = now();
        let allowed = match rate {
            0 => records,
            _ => u32::try_from(i64::from(rate) * (t.total_millis() - started) / 1000)
                .unwrap_or(records)
                .min(records),
        };
        for _ in 0..SENDS_PER_POLL {
            if tally.accepted >= allowed {
                break;
            }
            match send(
                driver,
                topic,
                tally.accepted,
                epoch_ms + t.total_millis(),
                t,
            ) {
                Ok(()) => {
                    tally.accepted += 1;
                    blocked_since = None;
                }
                Err(
                    e @ (SendError::BufferFull | SendError::MetadataPending | SendError::Topic(_)),
                ) => {
                    let since = *blocked_since.get_or_insert(t.total_millis());
                    if t.total_millis() - since > max_block_ms {
                        return Err(Abort::Blocked(e));
                    }
                    break;
                }
                Err(e) => return Err(Abort::Send(e)),
            }
        }
        net.iface.poll(t, net.device, net.sockets);
        driver.poll(t, net.iface, net.sockets, |report| match report {
            Report::Completed(Completion::Delivered { records, .. }) => tally.delivered += records,
            Report::Completed(Completion::Failed {
                records,
                reason,
                partition,
                ..
            }) => {
                if reason == DeliveryError::DeliveryTimeout {
                    tally.timed_out += records;
                } else {
                    tally.failed_other += records;
                    let _ = writeln!(
                        out,
                        "failed: {records} records of partition {partition}: {reason}"
                    );
                }
            }
            Report::Fatal(e) => abort = Some(Abort::Fatal(e)),
            Report::TxBufferTooSmall { needed, .. } => {
                abort = Some(Abort::TxBufferTooSmall(needed))
            }
            Report::Connected { conn, remote, .. } => {
                let _ = writeln!(out, "link: {conn:?} connected to {remote}");
            }
            Report::ConnectFailed { conn, error } => {
                let _ = writeln!(out, "link: {conn:?} connect failed: {error}");
            }
            Report::Disconnected { conn, error } => {
                let _ = writeln!(out, "link: {conn:?} disconnected: {error}");
            }
            _ => {}
        });
        if let Some(a) = abort.take() {
            return Err(a);
        }
        if tally.completed() >= next_progress {
            next_progress = (tally.completed() / PROGRESS_EVERY + 1) * PROGRESS_EVERY;
            let _ = writeln!(
                out,
                "progress: accepted={} delivered={} timed_out={} failed_other={} ms={}",
                tally.accepted,
                tally.delivered,
                tally.timed_out,
                tally.failed_other,
                now().total_millis() - started
            );
        }
        // Sleep until the stack or the producer has work; SysTick wakes us every millisecond.
        let wake = [net.iface.poll_at(t, net.sockets), driver.poll_at()]
            .into_iter()
            .flatten()
            .min();
        let more_to_send = tally.accepted < allowed && blocked_since.is_none();
        if !more_to_send && wake.is_none_or(|w| w > now()) {
            cortex_m::asm::wfi();
        }
    }
    tally.elapsed_ms = now().total_millis() - started;
    tally.frames = net.device.counters();
    Ok(tally)
}

/// Sends record `seq`. Not inlined: its frame and the poll's are not stacked in the loop's.
#[inline(never)]
fn send(
    driver: &mut Driver<'static>,
    topic: &str,
    seq: u32,
    timestamp: i64,
    t: smoltcp::time::Instant,
) -> Result<(), SendError> {
    let (mut key, mut value, mut seq_text) =
        (Text::<16>::new(), Text::<48>::new(), Text::<12>::new());
    // The buffers hold the longest u32 and i64 in decimal: these writes cannot fail.
    let _ = write!(key, "fw-{seq}");
    let _ = write!(value, "seq={seq} ts={timestamp}");
    let _ = write!(seq_text, "{seq}");
    let headers = [
        Header {
            key: "seq",
            value: Some(seq_text.bytes()),
        },
        Header {
            key: "board",
            value: Some(b"mps2-an386"),
        },
    ];
    let record = ProducerRecord {
        topic,
        partition: None,
        key: Some(key.bytes()),
        value: Some(value.bytes()),
        headers: &headers,
        timestamp,
    };
    driver.send(&record, t).map(|_| ())
}
