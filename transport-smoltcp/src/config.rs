//! [`DriverConfig`]: the driver's own settings (the engine's are in `kprod_core::config`).

use core::time::Duration;

use smoltcp::wire::IpAddress;

/// The first port of the ephemeral range (IANA: 49152-65535).
pub const EPHEMERAL_FIRST: u16 = 49152;
/// How many ports the ephemeral range holds.
pub const EPHEMERAL_COUNT: u16 = 16384;

/// The driver's settings. `Default` suits a small device; the host test raises the budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverConfig<'a> {
    /// How long a connection may take to be established before it is aborted and reported as
    /// [`crate::ConnectError::Timeout`], when the engine gives no timeout of its own (10 s). The
    /// engine gives one for every connect: `socket.connection.setup.timeout.ms`, doubling with
    /// each failed attempt up to `socket.connection.setup.timeout.max.ms`, as in Java.
    pub connect_timeout: Duration,
    /// How long a socket closed at the engine's request may take to finish its FIN exchange
    /// before it is aborted and its slot freed (5 s).
    pub close_linger: Duration,
    /// Where the ephemeral local port counter starts (offset into 49152-65535). Ports are
    /// taken in order from there, skipping ones in use, so there is no hidden randomness; seed
    /// it differently on each boot (a hardware RNG, a boot counter) so that a rebooted device
    /// does not reuse the 4-tuples of connections the broker may still remember.
    pub port_seed: u16,
    /// Host names the driver resolves without DNS (compared without case), e.g. the names
    /// brokers advertise. IP literals need no entry.
    pub hosts: &'a [(&'a str, IpAddress)],
    /// At most this many request frames are handed to sockets per `poll` (16). The three
    /// budgets are at least 1: 0 is taken as 1.
    pub max_frames_per_poll: usize,
    /// At most this many engine events (connects, closes, completions) are handled per `poll`
    /// (64).
    pub max_events_per_poll: usize,
    /// At most this many bytes are read from each socket per `poll` (16 KiB).
    pub max_read_per_poll: usize,
    /// Nagle's algorithm on the sockets. Off: the driver writes whole request frames, so
    /// there are no small writes to coalesce, and Nagle would only delay the last segment of
    /// each request.
    pub nagle: bool,
    /// TCP keep-alive interval for the sockets (`None`: smoltcp's default, off).
    pub keep_alive: Option<Duration>,
    /// smoltcp's socket timeout: a connection whose sent data stays unacknowledged this long
    /// is reset (`None`: never; the engine's `request.timeout.ms` still closes it).
    pub socket_timeout: Option<Duration>,
}

impl Default for DriverConfig<'_> {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            close_linger: Duration::from_secs(5),
            port_seed: 0,
            hosts: &[],
            max_frames_per_poll: 16,
            max_events_per_poll: 64,
            max_read_per_poll: 16 * 1024,
            nagle: false,
            keep_alive: None,
            socket_timeout: None,
        }
    }
}

/// The ephemeral port counter: ports in order from a seed, skipping those in use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ports {
    next: u16,
}

impl Ports {
    pub(crate) const fn new(seed: u16) -> Self {
        Self { next: seed % EPHEMERAL_COUNT }
    }

    /// The next port for which `in_use` is false (if all are in use, the next one anyway:
    /// smoltcp then tells the connections apart by the remote endpoint).
    pub(crate) fn take(&mut self, in_use: impl Fn(u16) -> bool) -> u16 {
        let first = self.next;
        loop {
            let port = EPHEMERAL_FIRST + self.next;
            self.next = (self.next + 1) % EPHEMERAL_COUNT;
            if !in_use(port) || self.next == first {
                return port;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_count_up_from_the_seed_wrap_and_skip_ports_in_use() {
        let mut p = Ports::new(3);
        assert_eq!(p.take(|_| false), EPHEMERAL_FIRST + 3);
        assert_eq!(p.take(|port| port == EPHEMERAL_FIRST + 4), EPHEMERAL_FIRST + 5);
        let mut p = Ports::new(EPHEMERAL_COUNT - 1);
        assert_eq!(p.take(|_| false), u16::MAX);
        assert_eq!(p.take(|_| false), EPHEMERAL_FIRST);
        let mut p = Ports::new(u16::MAX);
        let port = p.take(|_| false);
        assert!(port >= EPHEMERAL_FIRST, "{port}");
        // Every port in use: still a port, no endless loop.
        assert!(Ports::new(0).take(|_| true) >= EPHEMERAL_FIRST);
    }
}
