//! Published ports: Docker's `-p` syntax and the bindings netd turns them into.
//!
//! Door: [`PortSpec::parse`] (`[IP:][HOST[-HOST]:]CTR[-CTR][/tcp|/udp]`), [`PortBinding`].

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PortsError {
    #[error("invalid port spec {spec:?}: {reason}")]
    Invalid { spec: String, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `-p` argument. Ranges are inclusive `(first, last)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    /// `None` = every address (`0.0.0.0`, also what an empty IP or `0.0.0.0` parse to).
    pub host_ip: Option<IpAddr>,
    /// `None` = let netd pick a free ephemeral port per container port.
    pub host_ports: Option<(u16, u16)>,
    pub container_ports: (u16, u16),
    pub protocol: Protocol,
}

/// A published port as installed: one host port to one container port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    pub container_id: String,
    pub protocol: Protocol,
    /// `0.0.0.0` = every address of the host.
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

impl PortSpec {
    /// Parses Docker's `-p` syntax: `80`, `8080:80`, `127.0.0.1:8080:80`, `127.0.0.1::80`,
    /// `8000-8001:80-81/udp`, `[::1]:8080:80`.
    pub fn parse(spec: &str) -> Result<PortSpec, PortsError> {
        let bad = |reason: &str| PortsError::Invalid {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let (rest, protocol) = match spec.rsplit_once('/') {
            Some((r, "tcp")) | Some((r, "TCP")) => (r, Protocol::Tcp),
            Some((r, "udp")) | Some((r, "UDP")) => (r, Protocol::Udp),
            Some((_, p)) => return Err(bad(&format!("unsupported protocol {p:?}"))),
            None => (spec, Protocol::Tcp),
        };
        // An IPv6 host address is bracketed because it contains colons itself.
        let (ip_part, rest) = if let Some(after) = rest.strip_prefix('[') {
            let (ip, tail) = after
                .split_once(']')
                .ok_or_else(|| bad("unterminated '['"))?;
            let tail = tail
                .strip_prefix(':')
                .ok_or_else(|| bad("expected ':' after ']'"))?;
            (Some(ip), tail)
        } else {
            (None, rest)
        };
        let parts: Vec<&str> = rest.split(':').collect();
        let (ip_str, host, ctr) = match (ip_part, parts.as_slice()) {
            (None, [c]) => (None, None, *c),
            (None, [h, c]) => (None, Some(*h), *c),
            (None, [ip, h, c]) => (Some(*ip), Some(*h), *c),
            (Some(ip), [h, c]) => (Some(ip), Some(*h), *c),
            _ => return Err(bad("expected [IP:][HOST:]CONTAINER")),
        };
        let host_ip = match ip_str {
            None | Some("") => None,
            Some(s) => {
                let ip: IpAddr = s
                    .parse()
                    .map_err(|_| bad(&format!("invalid host ip {s:?}")))?;
                if ip.is_unspecified() && ip.is_ipv4() {
                    None
                } else {
                    Some(ip)
                }
            }
        };
        let container_ports = parse_range(ctr).map_err(|r| bad(&r))?;
        let host_ports = match host {
            None | Some("") => None,
            Some(h) => Some(parse_range(h).map_err(|r| bad(&r))?),
        };
        if let Some((hf, hl)) = host_ports {
            let (cf, cl) = container_ports;
            // Docker: equal lengths map 1:1; a host range for one container port means "any one of".
            if cf != cl && hl - hf != cl - cf {
                return Err(bad("host and container port ranges differ in length"));
            }
        }
        Ok(PortSpec {
            host_ip,
            host_ports,
            container_ports,
            protocol,
        })
    }
}

fn parse_range(s: &str) -> Result<(u16, u16), String> {
    let port = |p: &str| -> Result<u16, String> {
        match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(format!("invalid port {p:?}")),
            Ok(n) => Ok(n),
        }
    };
    match s.split_once('-') {
        None => {
            let p = port(s)?;
            Ok((p, p))
        }
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if a > b {
                return Err(format!("invalid port range {s:?}"));
            }
            Ok((a, b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_forms() {
        let p = PortSpec::parse("80").unwrap();
        assert_eq!(
            p,
            PortSpec {
                host_ip: None,
                host_ports: None,
                container_ports: (80, 80),
                protocol: Protocol::Tcp
            }
        );
        let p = PortSpec::parse("8080:80/udp").unwrap();
        assert_eq!(
            (p.host_ports, p.container_ports, p.protocol),
            (Some((8080, 8080)), (80, 80), Protocol::Udp)
        );
        let p = PortSpec::parse("127.0.0.1:8080:80").unwrap();
        assert_eq!(p.host_ip, Some("127.0.0.1".parse().unwrap()));
        let p = PortSpec::parse("127.0.0.1::80").unwrap();
        assert_eq!((p.host_ip.is_some(), p.host_ports), (true, None));
        let p = PortSpec::parse("0.0.0.0:8000-8001:80-81").unwrap();
        assert_eq!(
            (p.host_ip, p.host_ports, p.container_ports),
            (None, Some((8000, 8001)), (80, 81))
        );
        let p = PortSpec::parse("8000-8010:80").unwrap();
        assert_eq!(
            (p.host_ports, p.container_ports),
            (Some((8000, 8010)), (80, 80))
        );
        let p = PortSpec::parse("[::1]:8080:80").unwrap();
        assert_eq!(p.host_ip, Some("::1".parse().unwrap()));
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "0",
            "70000",
            "a:b",
            "80/sctp",
            "8000-8001:80-82",
            "90-80",
            "1:2:3:4",
            "[::1:80:80",
        ] {
            assert!(PortSpec::parse(s).is_err(), "{s} should fail");
        }
    }
}
