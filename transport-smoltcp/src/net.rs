//! Small conversions between smoltcp's world and the engine's: clocks and broker addresses.

use kprod_core::time::Instant as CoreInstant;
use smoltcp::time::Instant as NetInstant;
use smoltcp::wire::IpAddress;

use crate::report::ConnectError;

/// smoltcp's clock (signed microseconds) as the engine's (unsigned microseconds). Both count
/// from the same epoch the application chose; an instant before it is clamped to the epoch.
pub fn to_core(t: NetInstant) -> CoreInstant {
    CoreInstant::from_micros(u64::try_from(t.total_micros()).unwrap_or(0))
}

/// The engine's clock as smoltcp's, saturating at smoltcp's largest instant.
pub fn to_net(t: CoreInstant) -> NetInstant {
    NetInstant::from_micros(i64::try_from(t.as_micros()).unwrap_or(i64::MAX))
}

/// `t + d` on smoltcp's clock, saturating.
pub(crate) fn net_after(t: NetInstant, d: core::time::Duration) -> NetInstant {
    let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
    NetInstant::from_micros(t.total_micros().saturating_add(micros))
}

/// A broker host as an IP address: an IPv4 literal (`10.0.0.1`), an IPv6 literal (`::1` or
/// `[::1]`, with the `proto-ipv6` feature), or a name listed in `hosts` (compared without case).
/// Nothing else: there is no DNS (yet), so any other name is [`ConnectError::UnresolvedHost`].
pub fn resolve(host: &str, hosts: &[(&str, IpAddress)]) -> Result<IpAddress, ConnectError> {
    if let Ok(ip) = host.parse::<core::net::Ipv4Addr>() {
        return Ok(IpAddress::Ipv4(ip));
    }
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(_ip) = bare.parse::<core::net::Ipv6Addr>() {
        #[cfg(feature = "proto-ipv6")]
        return Ok(IpAddress::Ipv6(_ip));
        #[cfg(not(feature = "proto-ipv6"))]
        return Err(ConnectError::Ipv6Disabled);
    }
    hosts
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(host))
        .map(|&(_, ip)| ip)
        .ok_or(ConnectError::UnresolvedHost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_convert_both_ways_and_clamp() {
        let t = NetInstant::from_micros(1_234_567);
        assert_eq!(to_core(t).as_micros(), 1_234_567);
        assert_eq!(to_net(to_core(t)), t);
        assert_eq!(to_core(NetInstant::from_micros(-5)), CoreInstant::ZERO);
        assert_eq!(to_net(CoreInstant::MAX).total_micros(), i64::MAX);
        let late = NetInstant::from_micros(i64::MAX - 1);
        assert_eq!(net_after(late, core::time::Duration::from_secs(1)).total_micros(), i64::MAX);
    }

    #[test]
    fn literals_then_the_host_table_then_a_typed_error() {
        let table = [("broker-1", IpAddress::v4(10, 0, 0, 7))];
        assert_eq!(resolve("10.200.0.1", &table), Ok(IpAddress::v4(10, 200, 0, 1)));
        assert_eq!(resolve("BROKER-1", &table), Ok(IpAddress::v4(10, 0, 0, 7)));
        assert_eq!(resolve("kafka.example", &table), Err(ConnectError::UnresolvedHost));
        assert_eq!(resolve("10.200.0.256", &[]), Err(ConnectError::UnresolvedHost));
        assert_eq!(resolve("", &[]), Err(ConnectError::UnresolvedHost));
        #[cfg(not(feature = "proto-ipv6"))]
        assert_eq!(resolve("[::1]", &[]), Err(ConnectError::Ipv6Disabled));
        #[cfg(feature = "proto-ipv6")]
        assert_eq!(resolve("[::1]", &[]), Ok(IpAddress::Ipv6(core::net::Ipv6Addr::LOCALHOST)));
    }
}
