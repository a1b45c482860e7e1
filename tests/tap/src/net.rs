//! The host side of the test: a smoltcp interface on the TAP device, its sockets, a clock, and
//! a driver built over them.

use core::time::Duration;
use std::os::unix::io::AsRawFd;
use std::time::{Instant as StdInstant, SystemTime, UNIX_EPOCH};

use kprod_core::config::Config;
use kprod_core::producer::{Capacities, Producer, Storage};
use kprod_smoltcp::{to_core, Driver, DriverConfig, Slot};
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketSet};
use smoltcp::phy::{Medium, TunTapInterface};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration as NetDuration, Instant as NetInstant};
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};

/// Right after a TAP opens, the kernel may drop the first ARP reply: wait this long before the
/// first frame goes out.
const TAP_SETTLE: Duration = Duration::from_millis(20);

/// Buffer sizes for one run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    /// TCP sockets, one slot each (the engine gets as many connection slots).
    pub(crate) sockets: usize,
    /// smoltcp send buffer per socket: bounds the bytes in flight per connection.
    pub(crate) socket_tx: usize,
    /// smoltcp receive buffer per socket: the advertised window (scaled past 64 KiB).
    pub(crate) socket_rx: usize,
    /// Response reassembly buffer per slot.
    pub(crate) slot_rx: usize,
}

impl Sizes {
    /// Large buffers: the host has memory to spare (the embedded budget is in the crate docs).
    pub(crate) const HOST: Self = Self { sockets: 3, socket_tx: 4 << 20, socket_rx: 256 << 10, slot_rx: 64 << 10 };
}

/// The TAP device, the interface on it and the socket set.
pub(crate) struct Net {
    pub(crate) device: TunTapInterface,
    pub(crate) iface: Interface,
    pub(crate) sockets: SocketSet<'static>,
    epoch: StdInstant,
    /// Seeds the ephemeral ports and smoltcp's initial sequence numbers (printed, so a run can
    /// be related to a packet capture).
    pub(crate) seed: u64,
}

impl Net {
    /// Attaches to the TAP device `tap` (created and addressed by the script) with address
    /// `local`.
    pub(crate) fn open(tap: &str, local: IpCidr) -> Result<Self, String> {
        let mut device =
            TunTapInterface::new(tap, Medium::Ethernet).map_err(|e| format!("cannot open TAP {tap}: {e}"))?;
        std::thread::sleep(TAP_SETTLE);
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
        let core::net::IpAddr::V4(ip) = local.address().into() else {
            return Err(format!("{local}: the TAP test runs over IPv4"));
        };
        let mut config = IfaceConfig::new(EthernetAddress(mac_for(ip)).into());
        config.random_seed = seed;
        let epoch = StdInstant::now();
        let mut iface = Interface::new(config, &mut device, NetInstant::ZERO);
        let mut added = Ok(());
        iface.update_ip_addrs(|a| {
            added = a.push(local).map_err(|_| "the interface has no room for an address".to_owned())
        });
        added?;
        Ok(Self { device, iface, sockets: SocketSet::new(vec![]), epoch, seed })
    }

    /// The clock: microseconds since the interface was opened.
    pub(crate) fn now(&self) -> NetInstant {
        NetInstant::from_micros(i64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(i64::MAX))
    }

    /// A driver for a producer with `config` bootstrapping from `broker`, over new sockets.
    pub(crate) fn driver(
        &mut self,
        config: Config<'static>,
        broker: (&str, u16),
        sizes: Sizes,
    ) -> Result<Driver<'static>, String> {
        let mut slots = Vec::new();
        for _ in 0..sizes.sockets {
            let rx = tcp::SocketBuffer::new(vec![0u8; sizes.socket_rx]);
            let tx = tcp::SocketBuffer::new(vec![0u8; sizes.socket_tx]);
            let handle = self.sockets.add(tcp::Socket::new(rx, tx));
            slots.push(Slot::new(handle, vec![0u8; sizes.slot_rx]));
        }
        // The frame buffer holds the largest request; being owned, it would grow if needed.
        let tx = vec![0u8; config.max_request_size + 64 * 1024];
        let caps = Capacities { connections: sizes.sockets, ..Capacities::default() };
        let storage = Storage::with_capacity(&config, caps);
        let valid = config.validate().map_err(|e| format!("configuration: {e}"))?;
        let mut producer =
            Producer::new(valid, &[broker], storage, to_core(self.now())).map_err(|e| format!("producer: {e:?}"))?;
        // The SCRAM client nonce's entropy (unused without SASL).
        crate::sasl::seed(&mut producer)?;
        let driver_config = DriverConfig {
            port_seed: (self.seed >> 7) as u16,
            max_frames_per_poll: 64,
            max_events_per_poll: 1024,
            max_read_per_poll: 256 * 1024,
            ..DriverConfig::default()
        };
        Driver::new(producer, slots, tx, driver_config).map_err(|e| format!("driver: {e}"))
    }

    /// One round of the interface.
    pub(crate) fn poll(&mut self, now: NetInstant) {
        self.iface.poll(now, &mut self.device, &mut self.sockets);
    }

    /// Sleeps until the TAP has a frame, or until the earlier of the interface's and `driver_at`.
    pub(crate) fn wait(&mut self, driver_at: Option<NetInstant>) {
        let now = self.now();
        let at = [self.iface.poll_at(now, &self.sockets), driver_at].into_iter().flatten().min();
        let delay = at.map(|t| if t > now { t - now } else { NetDuration::ZERO });
        if delay != Some(NetDuration::ZERO) {
            // An error here (EINTR) only ends the wait early.
            let _ = smoltcp::phy::wait(self.device.as_raw_fd(), delay);
        }
    }
}

/// The interface's MAC address: locally administered, made of its IPv4 address, so that several
/// runs can share one bridge in the namespace (`tap-test.sh --sasl` runs its cases side by side).
pub(crate) fn mac_for(ip: core::net::Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x6b, a, b, c, d]
}

/// `a.b.c.d/n`.
pub(crate) fn parse_cidr(s: &str) -> Result<IpCidr, String> {
    let (ip, len) = s.split_once('/').ok_or_else(|| format!("{s}: expected ADDRESS/PREFIX"))?;
    let ip: core::net::Ipv4Addr = ip.parse().map_err(|e| format!("{s}: {e}"))?;
    let len: u8 = len.parse().map_err(|e| format!("{s}: {e}"))?;
    Ok(IpCidr::new(IpAddress::Ipv4(ip), len))
}
