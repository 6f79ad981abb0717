//! What `berth daemon` is started with, and the defaults the CLI shares with it (where the
//! socket is, which root, which metrics address).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub root: PathBuf,
    pub run_dir: PathBuf,
    /// cgroup parent every container's cgroup is created under.
    pub cgroup_parent: String,
    /// Where /metrics is served; None disables the metrics server.
    pub metrics_addr: Option<SocketAddr>,
    /// The address was asked for: failing to bind it stops the daemon. The default one that
    /// is busy (a second daemon, dockerd) only costs the metrics, with a warning.
    pub metrics_addr_required: bool,
    /// Registries (`host[:port]`) spoken to over plain HTTP besides loopback.
    pub insecure_registries: Vec<String>,
    /// Where the Docker Engine API is served; None turns it off (`--docker-socket none`).
    pub docker_socket: Option<PathBuf>,
}

impl DaemonOptions {
    /// The root every daemon uses unless told otherwise (`--root`, BERTH_ROOT).
    pub const DEFAULT_ROOT: &'static str = "/var/lib/berth";

    /// dockerd's default metrics address, which berth takes unless told otherwise.
    pub const DEFAULT_METRICS_ADDR: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9323);

    /// The API socket of the daemon whose run dir is `run_dir`.
    pub fn socket_path(run_dir: &Path) -> PathBuf {
        run_dir.join("berth.sock")
    }

    /// The Docker API socket of the daemon whose run dir is `run_dir`, unless moved.
    pub fn docker_socket_path(run_dir: &Path) -> PathBuf {
        run_dir.join("docker.sock")
    }
}

/// Where the Docker Engine API socket goes: a path, or nowhere (`none`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerSocket(pub Option<PathBuf>);

impl std::str::FromStr for DockerSocket {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("none") {
            return Ok(DockerSocket(None));
        }
        if s.is_empty() {
            return Err("expected a socket path or none".into());
        }
        // `unix:///var/run/docker.sock` as DOCKER_HOST spells it works too.
        Ok(DockerSocket(Some(PathBuf::from(
            s.strip_prefix("unix://").unwrap_or(s),
        ))))
    }
}

/// Where the metrics server listens: an address, or nowhere (`none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsAddr(pub Option<SocketAddr>);

impl std::str::FromStr for MetricsAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("none") {
            return Ok(MetricsAddr(None));
        }
        s.parse().map(|a| MetricsAddr(Some(a))).map_err(|_| {
            format!("invalid metrics address {s:?}: expected IP:PORT (e.g. 127.0.0.1:9323) or none")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_addr_parses_none_and_addresses() {
        assert_eq!("none".parse::<MetricsAddr>().unwrap(), MetricsAddr(None));
        assert_eq!(
            "127.0.0.1:9323".parse::<MetricsAddr>().unwrap().0,
            Some("127.0.0.1:9323".parse().unwrap())
        );
        let err = "localhost".parse::<MetricsAddr>().unwrap_err();
        assert!(err.contains("IP:PORT"), "{err}");
    }
}
