//! IPv4 address management: subnets from Docker's default pools and addresses within them.
//!
//! Pure functions over the persisted state (src/store.rs persists it): the caller holds the
//! state lock, so "free" here means "free in that state", which is what makes a double
//! assignment impossible across daemon restarts.

use ipnetwork::Ipv4Network;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    #[error("no free subnet left in the address pools")]
    PoolExhausted,
    #[error("subnet {subnet} overlaps {other}")]
    Overlap {
        subnet: Ipv4Network,
        other: Ipv4Network,
    },
    #[error("gateway {gateway} is not a host address of subnet {subnet}")]
    BadGateway {
        gateway: Ipv4Addr,
        subnet: Ipv4Network,
    },
    #[error("ip range {range} is not inside subnet {subnet}")]
    BadRange {
        range: Ipv4Network,
        subnet: Ipv4Network,
    },
    #[error("subnet {subnet} is too small (needs at least a /30)")]
    TooSmall { subnet: Ipv4Network },
    #[error("no free address left in {range} (network {network})")]
    Exhausted { network: String, range: Ipv4Network },
    #[error("address {ip} is already in use on network {network}")]
    InUse { network: String, ip: Ipv4Addr },
    #[error("address {ip} is not a host address of subnet {subnet} (network {network})")]
    OutOfSubnet {
        network: String,
        ip: Ipv4Addr,
        subnet: Ipv4Network,
    },
}

/// Docker's default-address-pools: 172.17-31.0.0/16, then 192.168.0.0/16 cut into /20s.
pub(crate) fn default_pools() -> Vec<Ipv4Network> {
    let mut v: Vec<Ipv4Network> = (17..=31u8)
        .map(|b| Ipv4Network::new(Ipv4Addr::new(172, b, 0, 0), 16).unwrap())
        .collect();
    v.extend((0..16u8).map(|i| Ipv4Network::new(Ipv4Addr::new(192, 168, i * 16, 0), 20).unwrap()));
    v
}

pub(crate) fn overlaps(a: &Ipv4Network, b: &Ipv4Network) -> bool {
    a.contains(b.network()) || b.contains(a.network())
}

/// First pool subnet overlapping none of `taken` (host routes and existing networks).
pub(crate) fn pick_subnet(
    pools: &[Ipv4Network],
    taken: &[Ipv4Network],
) -> Result<Ipv4Network, IpamError> {
    pools
        .iter()
        .find(|p| !taken.iter().any(|t| overlaps(p, t)))
        .copied()
        .ok_or(IpamError::PoolExhausted)
}

fn is_host_addr(subnet: &Ipv4Network, ip: Ipv4Addr) -> bool {
    subnet.contains(ip) && ip != subnet.network() && ip != subnet.broadcast()
}

/// Checks a requested subnet/gateway/ip_range and fills the defaults (gateway = first address).
pub(crate) fn plan_subnet(
    subnet: Ipv4Network,
    gateway: Option<Ipv4Addr>,
    ip_range: Option<Ipv4Network>,
) -> Result<(Ipv4Network, Ipv4Addr), IpamError> {
    // Normalise 10.1.2.3/24 to 10.1.2.0/24 as Docker does.
    let subnet = Ipv4Network::new(subnet.network(), subnet.prefix()).unwrap();
    if subnet.prefix() > 30 {
        return Err(IpamError::TooSmall { subnet });
    }
    let gateway = gateway.unwrap_or_else(|| Ipv4Addr::from(u32::from(subnet.network()) + 1));
    if !is_host_addr(&subnet, gateway) {
        return Err(IpamError::BadGateway { gateway, subnet });
    }
    if let Some(r) = ip_range {
        if !subnet.contains(r.network()) || r.prefix() < subnet.prefix() {
            return Err(IpamError::BadRange { range: r, subnet });
        }
    }
    Ok((subnet, gateway))
}

/// Validates a static address request.
pub(crate) fn check_static(
    network: &str,
    subnet: &Ipv4Network,
    gateway: Ipv4Addr,
    used: &BTreeSet<Ipv4Addr>,
    ip: Ipv4Addr,
) -> Result<(), IpamError> {
    if !is_host_addr(subnet, ip) {
        return Err(IpamError::OutOfSubnet {
            network: network.to_string(),
            ip,
            subnet: *subnet,
        });
    }
    if ip == gateway || used.contains(&ip) {
        return Err(IpamError::InUse {
            network: network.to_string(),
            ip,
        });
    }
    Ok(())
}

/// Next free address after `last` (wrapping), like Docker's allocator: a just-freed address is
/// not handed out again at once, so a stale peer's ARP cache or connection does not hit the
/// wrong container.
pub(crate) fn allocate(
    network: &str,
    subnet: &Ipv4Network,
    range: Option<&Ipv4Network>,
    gateway: Ipv4Addr,
    used: &BTreeSet<Ipv4Addr>,
    last: Option<Ipv4Addr>,
) -> Result<Ipv4Addr, IpamError> {
    let range = range.unwrap_or(subnet);
    let first = u32::from(range.network());
    let last_in_range = u32::from(range.broadcast());
    let span = (last_in_range - first) as u64 + 1;
    let start = match last {
        Some(l) if range.contains(l) => u32::from(l) - first + 1,
        _ => 0,
    } as u64;
    for i in 0..span {
        let ip = Ipv4Addr::from(first + ((start + i) % span) as u32);
        if is_host_addr(subnet, ip) && ip != gateway && !used.contains(&ip) {
            return Ok(ip);
        }
    }
    Err(IpamError::Exhausted {
        network: network.to_string(),
        range: *range,
    })
}

/// Docker's MAC scheme: 02:42 followed by the IPv4 address, so it is stable and unique per IP.
pub(crate) fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Ipv4Network {
        s.parse().unwrap()
    }

    #[test]
    fn pools_skip_taken_subnets() {
        let pools = default_pools();
        assert_eq!(pick_subnet(&pools, &[]).unwrap(), n("172.17.0.0/16"));
        // A host route inside 172.17/16 (e.g. Docker's docker0) pushes us to 172.18.
        let got = pick_subnet(&pools, &[n("172.17.5.0/24"), n("0.0.0.0/32")]).unwrap();
        assert_eq!(got, n("172.18.0.0/16"));
        let all172: Vec<_> = (17..=31).map(|b| n(&format!("172.{b}.0.0/16"))).collect();
        assert_eq!(pick_subnet(&pools, &all172).unwrap(), n("192.168.0.0/20"));
        assert!(pick_subnet(&pools, &[n("128.0.0.0/1")]).is_err());
    }

    #[test]
    fn plan_defaults_gateway_and_checks() {
        let (s, g) = plan_subnet(n("10.9.8.7/24"), None, None).unwrap();
        assert_eq!((s, g), (n("10.9.8.0/24"), "10.9.8.1".parse().unwrap()));
        assert!(plan_subnet(n("10.9.8.0/24"), Some("10.9.8.255".parse().unwrap()), None).is_err());
        assert!(plan_subnet(n("10.9.8.0/24"), None, Some(n("10.9.9.0/25"))).is_err());
        assert!(plan_subnet(n("10.9.8.0/24"), None, Some(n("10.9.8.128/25"))).is_ok());
    }

    #[test]
    fn allocates_sequentially_and_wraps() {
        let s = n("10.0.0.0/29"); // .1 gateway, .2-.6 hosts
        let gw: Ipv4Addr = "10.0.0.1".parse().unwrap();
        let mut used = BTreeSet::new();
        let mut last = None;
        let mut got = vec![];
        for _ in 0..5 {
            let ip = allocate("n", &s, None, gw, &used, last).unwrap();
            used.insert(ip);
            last = Some(ip);
            got.push(ip.octets()[3]);
        }
        assert_eq!(got, vec![2, 3, 4, 5, 6]);
        assert!(allocate("n", &s, None, gw, &used, last).is_err());
        used.remove(&"10.0.0.3".parse().unwrap());
        assert_eq!(
            allocate("n", &s, None, gw, &used, last).unwrap(),
            "10.0.0.3".parse::<Ipv4Addr>().unwrap()
        );
        // ip_range restricts the choice.
        let r = n("10.0.0.4/30");
        let ip = allocate("n", &s, Some(&r), gw, &BTreeSet::new(), None).unwrap();
        assert_eq!(ip, "10.0.0.4".parse::<Ipv4Addr>().unwrap());
        assert!(check_static("n", &s, gw, &used, gw).is_err());
        assert!(check_static("n", &s, gw, &used, "10.0.0.7".parse().unwrap()).is_err());
        assert!(check_static("n", &s, gw, &used, "10.0.0.3".parse().unwrap()).is_ok());
    }
}
