//! `--embassy`: the async driver (`kprod_smoltcp::asynch`) in an embassy executor, over
//! embassy-net on the TAP device (embassy-net-tuntap), against the real broker.
//!
//! One embassy task runs three futures: embassy-net's stack, the kprod [`Runner`], and the
//! application, which sends every record with [`AsyncProducer::send`] (awaiting backpressure)
//! and awaits the [`Delivery`](kprod_smoltcp::asynch::Delivery) futures, at most
//! [`WINDOW`] pending at once. Streams come from a [`TcpConnector`]: a fixed pool of
//! embassy-net `TcpSocket`s, connected on demand, as a firmware would hold them.

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::net::Ipv4Addr;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::time::Duration;
use std::sync::mpsc;
use std::time::Instant as StdInstant;

use embassy_executor::Executor;
use embassy_futures::join::join;
use embassy_futures::select::select;
use embassy_net::tcp::{ConnectError, State, TcpSocket};
use embassy_net::{IpAddress, IpEndpoint, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_net_tuntap::TunTapDevice;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use kprod_core::config::Config;
use kprod_core::partitioner::DefaultPartitioner;
use kprod_core::producer::{Capacities, ConnError, Producer, ProducerRecord, SendError, Storage};
use kprod_core::record::Header;
use kprod_smoltcp::asynch::{
    AsyncConnector, AsyncProducer, EmbassyTimer, Event, LinkError, Release, Runner, SendFailed, Timer,
};

use crate::run::{Owned, Produced};
use crate::sasl::Refusal;

/// Delivery futures pending at once (the producer's delivery slots).
const WINDOW: usize = 1024;
/// Stream slots of the runner, and sockets in the connector's pool.
const STREAMS: usize = 2;
/// embassy-net socket buffers (the host has memory to spare).
const SOCKET_RX: usize = 256 << 10;
const SOCKET_TX: usize = 1 << 20;
/// Right after a TAP opens, the kernel may drop the first ARP reply.
const TAP_SETTLE: Duration = Duration::from_millis(20);

/// What the embassy task needs, owned (tasks take `'static` arguments).
pub(crate) struct Params {
    pub(crate) tap: String,
    pub(crate) local: (Ipv4Addr, u8),
    pub(crate) broker: (String, u16),
    pub(crate) topic: String,
    pub(crate) records: usize,
    pub(crate) config: Config<'static>,
    pub(crate) make: fn(usize) -> Owned,
    pub(crate) limit: Duration,
    /// Spread the sends evenly over this long (zero: as fast as the producer takes them).
    pub(crate) spread: Duration,
    /// The login must be refused: send one record until `send` fails, and watch ([`refuse`]).
    pub(crate) refusal: bool,
}

/// What a run ended with.
pub(crate) enum Outcome {
    Produced(Produced),
    Refused(Refusal),
}

impl Outcome {
    pub(crate) fn produced(self) -> Result<Produced, String> {
        match self {
            Self::Produced(p) => Ok(p),
            Self::Refused(r) => Err(format!("expected deliveries, the login was refused: {r:?}")),
        }
    }

    pub(crate) fn refusal(self) -> Result<Refusal, String> {
        match self {
            Self::Refused(r) => Ok(r),
            Self::Produced(p) => Err(format!("expected a refused login, {} records were delivered", p.delivered)),
        }
    }
}

/// Streams the connector opened (the runner reports failures, not successes).
static CONNECTS: AtomicUsize = AtomicUsize::new(0);

/// Runs the producer in an embassy executor on this thread until it is done.
pub(crate) fn produce(params: Params) -> Result<Outcome, String> {
    let (tx, rx) = mpsc::channel();
    let done = Arc::new(AtomicBool::new(false));
    let finished = Arc::clone(&done);
    let executor: &'static mut Executor = Box::leak(Box::new(Executor::new()));
    executor.run_until(
        |spawner| spawner.spawn(producer_task(params, tx, finished).expect("the task pool has room for one task")),
        || done.load(Ordering::SeqCst),
    );
    rx.recv().map_err(|_| "the embassy task ended without a result".to_owned())?
}

#[embassy_executor::task]
async fn producer_task(params: Params, out: mpsc::Sender<Result<Outcome, String>>, done: Arc<AtomicBool>) {
    let limit = params.limit;
    let timer = EmbassyTimer;
    let give_up = timer.at(timer.now() + limit);
    let result = match select(run(params), give_up).await {
        embassy_futures::select::Either::First(r) => r,
        embassy_futures::select::Either::Second(()) => Err(format!("not done within {limit:?}")),
    };
    // The receiver waits in `produce` until this is sent.
    let _ = out.send(result);
    done.store(true, Ordering::SeqCst);
}

async fn run(p: Params) -> Result<Outcome, String> {
    let mut device = TunTapDevice::new(&p.tap).map_err(|e| format!("cannot open TAP {}: {e}", p.tap))?;
    device.set_hardware_address(crate::net::mac_for(p.local.0));
    std::thread::sleep(TAP_SETTLE);
    let address = Ipv4Cidr::new(p.local.0, p.local.1);
    let net_config =
        embassy_net::Config::ipv4_static(StaticConfigV4 { address, gateway: None, dns_servers: Default::default() });
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
    let mut resources = StackResources::<4>::new();
    let (stack, mut net) = embassy_net::new(device, net_config, &mut resources, seed);

    let mut buffers: Vec<(Vec<u8>, Vec<u8>)> =
        (0..STREAMS).map(|_| (vec![0u8; SOCKET_RX], vec![0u8; SOCKET_TX])).collect();
    let connector = TcpConnector::new(stack, &mut buffers);
    let caps = Capacities { connections: 4, ..Capacities::default() };
    let storage = Storage::with_capacity(&p.config, caps);
    let max_request = p.config.max_request_size;
    let valid = p.config.clone().validate().map_err(|e| format!("configuration: {e}"))?;
    let bootstrap = [(p.broker.0.as_str(), p.broker.1)];
    let mut engine =
        Producer::new(valid, &bootstrap, storage, EmbassyTimer.now()).map_err(|e| format!("producer: {e:?}"))?;
    // The SCRAM client nonce's entropy (unused without SASL).
    crate::sasl::seed(&mut engine)?;
    let producer: AsyncProducer<'_, NoopRawMutex, EmbassyTimer, DefaultPartitioner, WINDOW> =
        AsyncProducer::new(engine, EmbassyTimer);
    let (mut tx, mut rx) = (vec![0u8; max_request + 64 * 1024], vec![0u8; STREAMS * (64 << 10)]);
    let mut runner: Runner<'_, '_, '_, _, _, _, _, WINDOW, STREAMS> =
        Runner::new(&producer, connector, &mut tx, &mut rx).map_err(|e| format!("runner: {e}"))?;

    let mut completions = Produced::default();
    if p.refusal {
        let (mut links, mut auth_failures) = (Vec::new(), 0usize);
        let io = runner.run(|e| {
            if let Event::Link { error: LinkError::Broker(ConnError::Authentication(_)), .. } = e {
                auth_failures += 1;
            }
            match e {
                Event::Link { .. } => links.push(e.to_string()),
                other => on_event(&mut completions, other),
            }
        });
        let (refused, ()) = match select(net.run(), join(refuse(&producer, &p), io)).await {
            embassy_futures::select::Either::First(never) => match never {},
            embassy_futures::select::Either::Second(done) => done,
        };
        let mut refusal = refused?;
        if completions.delivered + completions.failed > 0 || !completions.errors.is_empty() {
            return Err(format!("no record was accepted, yet: {:?}", completions.errors));
        }
        refusal.link_errors = links;
        refusal.auth_failures = auth_failures;
        refusal.connects = CONNECTS.load(Ordering::SeqCst);
        return Ok(Outcome::Refused(refusal));
    }
    let mut out = Produced { ids: Vec::with_capacity(p.records), ..Produced::default() };
    let app = send_all(&producer, &p, &mut out);
    let io = runner.run(|e| on_event(&mut completions, e));
    // The stack runs forever; the producer's side ends once it is closed.
    let (sent, ()) = match select(net.run(), join(app, io)).await {
        embassy_futures::select::Either::First(never) => match never {},
        embassy_futures::select::Either::Second(done) => done,
    };
    let offsets = sent?;
    out.batches = completions.batches;
    out.delivered = completions.delivered;
    out.failed = completions.failed;
    out.errors.extend(completions.errors);
    out.links = completions.links;
    check_offsets(&out, &offsets)?;
    Ok(Outcome::Produced(out))
}

/// Sends one record until the producer refuses it (typed), then sends every 50 ms for
/// [`crate::sasl::OBSERVE`] more, then closes. The runner's events fill in the rest.
async fn refuse(
    producer: &AsyncProducer<'_, NoopRawMutex, EmbassyTimer, DefaultPartitioner, WINDOW>,
    p: &Params,
) -> Result<Refusal, String> {
    let record = crate::sasl::refused_record(&p.topic);
    let started = StdInstant::now();
    let first = match producer.send(&record).await {
        Ok(d) => return Err(format!("send accepted a record ({:?}) with credentials the broker refuses", d.id())),
        Err(e) => e,
    };
    let after = started.elapsed();
    let mut later = (0usize, 0usize);
    let until = EmbassyTimer.now() + crate::sasl::OBSERVE;
    while EmbassyTimer.now() < until {
        EmbassyTimer.at(EmbassyTimer.now() + Duration::from_millis(50)).await;
        later.0 += 1;
        if let Err(SendFailed::Send(SendError::Authentication { .. })) = producer.send(&record).await {
            later.1 += 1;
        }
    }
    producer.close(EmbassyTimer.now() + Duration::from_secs(5)).await;
    if !matches!(first, SendFailed::Send(SendError::Authentication { .. })) {
        return Err(format!("send failed with {first:?} ({first}), not SendError::Authentication"));
    }
    Ok(Refusal {
        send_error: first.to_string(),
        after,
        link_errors: Vec::new(),
        auth_failures: 0,
        connects: 0,
        later_sends: later,
    })
}

/// Sends every record, awaiting the oldest delivery when [`WINDOW`] are pending, then closes.
/// Returns each record's offset as its delivery future resolved.
async fn send_all(
    producer: &AsyncProducer<'_, NoopRawMutex, EmbassyTimer, DefaultPartitioner, WINDOW>,
    p: &Params,
    out: &mut Produced,
) -> Result<Vec<i64>, String> {
    let mut offsets = Vec::with_capacity(p.records);
    let mut pending = VecDeque::with_capacity(WINDOW);
    let mut failure = None;
    let started = StdInstant::now();
    let t0 = EmbassyTimer.now();
    for i in 0..p.records {
        if !p.spread.is_zero() {
            // Paced: record i is due at i/n of the spread.
            EmbassyTimer.at(t0 + p.spread.mul_f64(i as f64 / p.records as f64)).await;
        }
        let rec = (p.make)(i);
        let headers: Vec<Header<'_>> =
            rec.headers.iter().map(|(k, v)| Header { key: k, value: v.as_deref() }).collect();
        let record = ProducerRecord {
            topic: &p.topic,
            partition: None,
            key: rec.key.as_deref(),
            value: rec.value.as_deref(),
            headers: &headers,
            timestamp: rec.timestamp,
        };
        if pending.len() == WINDOW {
            let delivery: kprod_smoltcp::asynch::Delivery<'_, '_, _, _, _, WINDOW> =
                pending.pop_front().expect("the window is full");
            offsets.push(delivery.await.map_err(|e| format!("record {}: {e}", offsets.len()))?);
        }
        match producer.send(&record).await {
            Ok(d) => {
                out.ids.push(d.id());
                pending.push_back(d);
            }
            Err(e) => {
                failure = Some(format!("record {i}: {e}"));
                break;
            }
        }
    }
    for d in pending {
        let i = offsets.len();
        offsets.push(d.await.map_err(|e| format!("record {i}: {e}"))?);
    }
    out.elapsed = started.elapsed();
    producer.close(EmbassyTimer.now() + Duration::from_secs(10)).await;
    failure.map_or(Ok(offsets), Err)
}

/// Every delivery future resolved to the offset its batch's completion reported.
fn check_offsets(out: &Produced, offsets: &[i64]) -> Result<(), String> {
    for (i, (id, &offset)) in out.ids.iter().zip(offsets).enumerate() {
        let reported = out.batches.get(&id.batch).map(|&(_, base)| base + i64::from(id.index));
        if reported != Some(offset) {
            return Err(format!("record {i}: its delivery future said offset {offset}, its completion {reported:?}"));
        }
    }
    Ok(())
}

fn on_event<CE: core::fmt::Debug, SE: core::fmt::Debug>(out: &mut Produced, e: Event<'_, CE, SE>) {
    match e {
        Event::Completed(c) => out.on_completion(c),
        Event::Fatal(e) => out.errors.push(format!("fatal: {e}")),
        Event::TxBufferTooSmall { needed, capacity } => {
            out.errors.push(format!("tx buffer too small: {needed} > {capacity}"))
        }
        other => out.links.push(other.to_string()),
    }
}

/// Why [`TcpConnector`] could not connect.
#[derive(Debug)]
pub(crate) enum TcpConnectError {
    /// The broker's host is not an IPv4 literal (this test has no DNS).
    NotAnAddress,
    /// Every socket of the pool is in use.
    NoSocket,
    /// embassy-net's connect failed.
    Connect(#[allow(dead_code, reason = "shown through Debug in the runner's link events")] ConnectError),
}

/// Opens embassy-net TCP streams from a fixed pool of sockets (created once over the caller's
/// buffers, as a firmware would over static ones). A socket handed back is closed (`Clean`)
/// or aborted (`Broken`) and returns to the pool; one still closing is aborted before reuse.
pub(crate) struct TcpConnector<'d> {
    pool: Vec<Option<TcpSocket<'d>>>,
}

impl<'d> TcpConnector<'d> {
    fn new(stack: Stack<'d>, buffers: &'d mut [(Vec<u8>, Vec<u8>)]) -> Self {
        let pool = buffers.iter_mut().map(|(rx, tx)| Some(TcpSocket::new(stack, rx, tx))).collect();
        Self { pool }
    }
}

impl<'d> AsyncConnector for TcpConnector<'d> {
    type Stream = TcpSocket<'d>;
    type Error = TcpConnectError;

    async fn connect(&mut self, host: &str, port: u16) -> Result<TcpSocket<'d>, TcpConnectError> {
        let ip: Ipv4Addr = host.parse().map_err(|_| TcpConnectError::NotAnAddress)?;
        let slot = self.pool.iter_mut().find(|s| s.is_some()).ok_or(TcpConnectError::NoSocket)?;
        // The socket stays in the pool while connecting: a connect the runner gives up on
        // (drops) leaves it there, to be aborted before its next use.
        let socket = slot.as_mut().ok_or(TcpConnectError::NoSocket)?;
        if socket.state() != State::Closed {
            socket.abort();
        }
        socket.set_nagle_enabled(false);
        socket.connect(IpEndpoint::new(IpAddress::Ipv4(ip), port)).await.map_err(TcpConnectError::Connect)?;
        CONNECTS.fetch_add(1, Ordering::SeqCst);
        slot.take().ok_or(TcpConnectError::NoSocket)
    }

    fn release(&mut self, mut socket: TcpSocket<'d>, how: Release) {
        match how {
            Release::Clean => socket.close(),
            Release::Broken => socket.abort(),
        }
        if let Some(slot) = self.pool.iter_mut().find(|s| s.is_none()) {
            *slot = Some(socket);
        }
    }
}
