//! The application's main loop over the driver: send records as the engine takes them, poll
//! the interface and the driver, keep every completion, sleep until the next deadline.

use core::time::Duration;
use std::collections::HashMap;
use std::time::Instant as StdInstant;

use kprod_core::producer::ProducerRecord;
use kprod_core::producer::{BatchId, Completion, RecordId};
use kprod_core::record::Header;
use kprod_smoltcp::{Driver, Report, Stats};

use crate::net::Net;
use crate::sasl::Login;

/// A record the loop owns until the engine accepts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owned {
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) headers: Vec<(String, Option<Vec<u8>>)>,
    pub(crate) timestamp: i64,
}

/// What a run produced, as the completions told.
#[derive(Debug, Default)]
pub(crate) struct Produced {
    /// The id `send` gave record `i`.
    pub(crate) ids: Vec<RecordId>,
    /// Delivered batches: partition and base offset.
    pub(crate) batches: HashMap<BatchId, (u32, i64)>,
    /// Records delivered, by the completions' counts.
    pub(crate) delivered: u64,
    /// Records failed.
    pub(crate) failed: u64,
    /// Failures and fatal errors, as text.
    pub(crate) errors: Vec<String>,
    /// Connection news, as text.
    pub(crate) links: Vec<String>,
    /// From the first send to the last completion.
    pub(crate) elapsed: Duration,
    /// The driver's counters at the end.
    pub(crate) stats: Stats,
}

impl Produced {
    /// Counts a completion and keeps where a delivered batch went.
    pub(crate) fn on_completion(&mut self, c: Completion<&str>) {
        match c {
            Completion::Delivered { batch, partition, base_offset, records, .. } => {
                self.delivered += u64::from(records);
                if self.batches.insert(batch, (partition, base_offset)).is_some() {
                    self.errors.push(format!("batch {batch:?} completed twice"));
                }
            }
            Completion::Failed { batch, records, reason, .. } => {
                self.failed += u64::from(records);
                self.errors.push(format!("batch {batch:?} ({records} records) failed: {reason}"));
            }
        }
    }

    fn on_report(&mut self, r: Report<'_>) {
        match r {
            Report::Completed(c) => self.on_completion(c),
            Report::Fatal(e) => self.errors.push(format!("fatal: {e}")),
            Report::Connected { conn, remote, local_port } => {
                self.links.push(format!("conn {} connected to {remote} from port {local_port}", conn.0));
            }
            Report::ConnectFailed { conn, error } => {
                self.links.push(format!("conn {} connect failed: {error}", conn.0))
            }
            Report::Disconnected { conn, error } => self.links.push(format!("conn {} lost: {error}", conn.0)),
            Report::TxBufferTooSmall { needed, capacity } => {
                self.errors.push(format!("tx buffer too small: {needed} > {capacity}"));
            }
            other => self.links.push(format!("{other:?}")),
        }
    }
}

/// Records handed to the engine per loop turn at most, so the network keeps moving while the
/// buffer has room.
const SENDS_PER_TURN: usize = 512;

/// How a run goes beyond its records.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pace<'l> {
    /// Spread the sends evenly over this long (zero: as fast as the engine takes them).
    pub(crate) spread: Duration,
    /// The SASL login, whose OAUTHBEARER tokens the loop hands in when the engine asks.
    pub(crate) login: Option<&'l Login>,
}

/// Produces records `0..n` (made by `make`) to `topic`, then closes the producer. Fails after
/// `limit`.
pub(crate) fn produce(
    net: &mut Net,
    driver: &mut Driver<'static>,
    topic: &str,
    n: usize,
    mut make: impl FnMut(usize) -> Owned,
    limit: Duration,
    pace: Pace<'_>,
) -> Result<Produced, String> {
    let mut out = Produced { ids: Vec::with_capacity(n), ..Produced::default() };
    let started = StdInstant::now();
    let deadline = started + limit;
    let mut current: Option<Owned> = None;
    let mut flushed = false;
    let mut first_send: Option<StdInstant> = None;
    loop {
        let now = net.now();
        let mut busy = false;
        // Paced: record i is due at i/n of the spread.
        let due = if pace.spread.is_zero() {
            n
        } else {
            let elapsed = started.elapsed().as_secs_f64() / pace.spread.as_secs_f64();
            ((n as f64 * elapsed).ceil() as usize).min(n)
        };
        for _ in 0..SENDS_PER_TURN {
            let i = out.ids.len();
            if i == n || i >= due {
                break;
            }
            let rec = current.get_or_insert_with(|| make(i));
            let headers: Vec<Header<'_>> =
                rec.headers.iter().map(|(k, v)| Header { key: k, value: v.as_deref() }).collect();
            let record = ProducerRecord {
                topic,
                partition: None,
                key: rec.key.as_deref(),
                value: rec.value.as_deref(),
                headers: &headers,
                timestamp: rec.timestamp,
            };
            match driver.send(&record, now) {
                Ok(id) => {
                    first_send.get_or_insert_with(StdInstant::now);
                    out.ids.push(id);
                    current = None;
                    busy = true;
                }
                Err(e) if e.is_retriable() => {
                    busy = false;
                    break;
                }
                Err(e) => return Err(format!("record {i}: {e}")),
            }
        }
        if out.ids.len() == n && !flushed {
            driver.flush(now);
            flushed = true;
        }
        net.poll(now);
        driver.poll(now, &mut net.iface, &mut net.sockets, |r| out.on_report(r));
        if let Some(login) = pace.login {
            login.provide_token(driver, now)?;
        }
        if flushed && driver.producer().pending_batches() == 0 {
            break;
        }
        if StdInstant::now() > deadline {
            return Err(format!(
                "not done within {limit:?}: {} of {n} records accepted, {} batches pending, {} delivered; links: {:?}",
                out.ids.len(),
                driver.producer().pending_batches(),
                out.delivered,
                out.links
            ));
        }
        if !busy {
            // Paced with records still to send: wake for the next one within 10 ms.
            let cap = (out.ids.len() < n && !pace.spread.is_zero())
                .then(|| net.now() + smoltcp::time::Duration::from_millis(10));
            net.wait([driver.poll_at(), cap].into_iter().flatten().min());
        }
    }
    out.elapsed = first_send.map_or(Duration::ZERO, |t| t.elapsed());
    close(net, driver, &mut out)?;
    out.stats = *driver.stats();
    Ok(out)
}

/// Closes the producer and waits until its sockets are closed (the broker answered our FIN).
fn close(net: &mut Net, driver: &mut Driver<'static>, out: &mut Produced) -> Result<(), String> {
    driver.close(Duration::from_secs(10), net.now());
    let deadline = StdInstant::now() + Duration::from_secs(20);
    while !driver.is_closed() {
        if StdInstant::now() > deadline {
            return Err(format!("close did not finish: slots {:?}", driver.slots()));
        }
        let now = net.now();
        net.poll(now);
        driver.poll(now, &mut net.iface, &mut net.sockets, |r| out.on_report(r));
        net.wait(driver.poll_at());
    }
    Ok(())
}
