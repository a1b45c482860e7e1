//! The firmware's settings, from the emulator's command line (semihosting `SYS_GET_CMDLINE`):
//! space-separated `key=value` words. Producer settings use Kafka's Java property names and go
//! to `Config::set_property`; the rest are the firmware's own:
//!
//! - `bootstrap.servers=HOST:PORT`: one broker, an IP literal (10.0.2.2:9092; QEMU's
//!   user-mode network reaches the host's 127.0.0.1 at 10.0.2.2);
//! - `topic=NAME` (`firmware`), `records=N` (10000), `rate=N`: at most N records a second
//!   (0, the default: as fast as the producer takes them);
//! - `ip=ADDR/PREFIX` (10.0.2.15/24) and `gateway=ADDR` (10.0.2.2): QEMU's user-mode network.

use core::fmt;

use kprod_core::config::{Config, ConfigError};
use smoltcp::wire::{IpCidr, Ipv4Address};

/// The parsed settings.
pub struct Args {
    pub broker: (&'static str, u16),
    pub topic: &'static str,
    pub records: u32,
    pub rate: u32,
    pub ip: IpCidr,
    pub gateway: Ipv4Address,
}

/// A word of the command line that is not a setting.
pub enum ArgError {
    /// Not `key=value`, or a value of the firmware's own keys that does not parse.
    Bad(&'static str),
    /// A producer property the core refuses (unknown name, bad value).
    Property(&'static str, ConfigError),
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bad(word) => write!(
                f,
                "bad argument `{word}`: expected key=value with bootstrap.servers=IP:PORT, topic=NAME, records=N, rate=N, \
                 ip=ADDR/PREFIX, gateway=ADDR, or a producer property"
            ),
            Self::Property(word, e) => write!(f, "bad producer property `{word}`: {e}"),
        }
    }
}

impl Args {
    /// Parses `cmdline`, applying producer properties to `config`.
    pub fn parse(cmdline: &'static str, config: &mut Config<'static>) -> Result<Self, ArgError> {
        let mut args = Self {
            broker: ("10.0.2.2", 9092),
            topic: "firmware",
            records: 10_000,
            rate: 0,
            ip: IpCidr::new(Ipv4Address::new(10, 0, 2, 15).into(), 24),
            gateway: Ipv4Address::new(10, 0, 2, 2),
        };
        for word in cmdline.split_ascii_whitespace() {
            let Some((key, value)) = word.split_once('=') else {
                // The first word may be the program name.
                if word.contains('/') || word.ends_with("firmware") {
                    continue;
                }
                return Err(ArgError::Bad(word));
            };
            let bad = || ArgError::Bad(word);
            match key {
                "bootstrap.servers" => {
                    let (host, port) = value.rsplit_once(':').ok_or_else(bad)?;
                    host.parse::<Ipv4Address>().map_err(|_| bad())?;
                    args.broker = (host, port.parse().map_err(|_| bad())?);
                }
                "topic" => args.topic = value,
                "records" => args.records = value.parse().map_err(|_| bad())?,
                "rate" => args.rate = value.parse().map_err(|_| bad())?,
                "ip" => args.ip = value.parse().map_err(|_| bad())?,
                "gateway" => args.gateway = value.parse().map_err(|_| bad())?,
                _ => config
                    .set_property(key, value)
                    .map_err(|e| ArgError::Property(word, e))?,
            }
        }
        Ok(args)
    }
}
