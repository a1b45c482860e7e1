//! The network between the producer and the brokers: one [`Link`] per TCP connection the
//! driver opened, carrying byte streams with delays, and a time-ordered queue of everything
//! that will happen (arrivals, connects, drops, cluster changes).
//!
//! Each direction of a link keeps TCP's order: an arrival is never scheduled before the previous
//! one in the same direction. A drop at time `t` loses every byte that would arrive after `t`,
//! so "request lost" and "response lost" are the same fault placed before or after the broker
//! read the request.

use alloc::collections::BTreeMap;

use kprod_core::producer::conn::ConnId;
use kprod_core::time::Instant;

/// A change to the cluster, scheduled in virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterEvent {
    /// The broker stops: its connections drop, connects to it fail, its partitions move.
    BrokerDown(i32),
    /// The broker starts again.
    BrokerUp(i32),
    /// A partition's leadership moves to another broker (epoch + 1).
    LeaderMove {
        /// Topic index.
        topic: usize,
        /// Partition.
        partition: usize,
        /// The new leader.
        to: i32,
    },
    /// The transaction coordinator moves to broker `to`, the group coordinator to `group_to`.
    CoordinatorMove {
        /// The transaction coordinator's new node.
        to: i32,
        /// The group coordinator's new node.
        group_to: i32,
    },
    /// Another producer with the same transactional id calls InitProducerId (a fence).
    Fence,
    /// A topic grows to this many partitions.
    GrowTopic {
        /// Topic index.
        topic: usize,
        /// The new partition count.
        partitions: usize,
    },
}

/// Something that happens at a point in virtual time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// The link's connect succeeded.
    Connected(usize),
    /// The link's connect failed.
    ConnectFailed(usize),
    /// Bytes reach the broker end of a link.
    ToBroker(usize, Vec<u8>),
    /// Bytes reach the producer end of a link.
    ToClient(usize, Vec<u8>),
    /// The link breaks (both directions).
    Drop(usize),
    /// A cluster change.
    Cluster(ClusterEvent),
    /// Nothing: wakes the driver (e.g. for a scenario step).
    Wake,
}

/// One TCP connection.
#[derive(Debug, Clone)]
pub struct Link {
    /// The engine's connection id.
    pub conn: ConnId,
    /// The broker.
    pub node: i32,
    /// The producer still uses it (no Close, no disconnect reported).
    pub client_open: bool,
    /// The connect completed.
    pub connected: bool,
    /// The broker end still reads (bytes sent before a client Close may still arrive).
    pub broker_open: bool,
    /// Bytes the broker has read but not yet parsed into a whole frame.
    pub broker_rx: Vec<u8>,
    /// Bytes the producer has not consumed yet.
    pub client_rx: Vec<u8>,
    /// The last scheduled arrival at the broker.
    pub last_up: Instant,
    /// The last scheduled arrival at the producer.
    pub last_down: Instant,
    /// Requests the broker has answered on this link.
    pub requests: u64,
    /// The broker side of SASL on this link.
    pub auth: super::sasl::LinkAuth,
}

/// All links and the event queue.
#[derive(Debug, Default)]
pub struct Net {
    /// Every link ever opened (index = link id).
    pub links: Vec<Link>,
    /// The current link of each engine connection id.
    pub by_conn: BTreeMap<u16, usize>,
    queue: BTreeMap<(Instant, u64), NetEvent>,
    seq: u64,
}

impl Net {
    /// Schedules `ev` at `at`; events at the same instant keep their scheduling order.
    pub fn schedule(&mut self, at: Instant, ev: NetEvent) {
        self.seq += 1;
        self.queue.insert((at, self.seq), ev);
    }

    /// When the next event happens.
    pub fn next_time(&self) -> Option<Instant> {
        self.queue.keys().next().map(|k| k.0)
    }

    /// The next event due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<NetEvent> {
        let (&key, _) = self.queue.iter().next().filter(|(k, _)| k.0 <= now)?;
        self.queue.remove(&key)
    }

    /// The next event if it is due at or before `now`, without taking it.
    pub fn peek_due(&self, now: Instant) -> Option<&NetEvent> {
        self.queue.iter().next().filter(|(k, _)| k.0 <= now).map(|(_, e)| e)
    }

    /// How many events are scheduled.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether anything but wake-ups and cluster changes is scheduled.
    pub fn has_traffic(&self) -> bool {
        self.queue.values().any(|e| !matches!(e, NetEvent::Cluster(_) | NetEvent::Wake))
    }

    /// Opens a new link for `conn` to `node` and makes it the connection's current link.
    pub fn open(&mut self, conn: ConnId, node: i32, now: Instant) -> usize {
        let id = self.links.len();
        self.links.push(Link {
            conn,
            node,
            client_open: true,
            connected: false,
            broker_open: true,
            broker_rx: Vec::new(),
            client_rx: Vec::new(),
            last_up: now,
            last_down: now,
            requests: 0,
            auth: super::sasl::LinkAuth::Fresh,
        });
        self.by_conn.insert(conn.0, id);
        id
    }

    /// The current link of `conn`, if the producer still uses it.
    pub fn current(&self, conn: ConnId) -> Option<usize> {
        self.by_conn.get(&conn.0).copied().filter(|&l| self.links[l].client_open)
    }

    /// Links the producer still uses.
    pub fn open_links(&self) -> impl Iterator<Item = &Link> {
        self.links.iter().filter(|l| l.client_open)
    }

    /// The arrival time of bytes sent now towards the broker after `delay`, in stream order.
    pub fn arrival_up(&mut self, link: usize, at: Instant) -> Instant {
        let l = &mut self.links[link];
        l.last_up = l.last_up.max(at);
        l.last_up
    }

    /// The arrival time of bytes sent towards the producer, in stream order.
    pub fn arrival_down(&mut self, link: usize, at: Instant) -> Instant {
        let l = &mut self.links[link];
        l.last_down = l.last_down.max(at);
        l.last_down
    }
}
