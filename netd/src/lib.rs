//! berth-netd: berth's network driver: Linux bridges, veth pairs, IPAM, iptables and
//! embedded DNS. Its door is this file: [`Netd`], its options and records, and the re-exports
//! below; every module behind it is private.
//!
//! It is not: a container engine or a Compose implementation. It knows nothing of images,
//! containers' processes or stacks: it wires the network namespace whose path it is handed.
//!
//! The daemon owns one [`Netd`] (async, tokio). Everything it does is recorded in one state
//! file under `state_dir` and can be re-applied: [`Netd::open`] and [`Netd::resync`] re-create
//! whatever is missing (bridges, veths of live namespaces, DNS servers, iptables chains, rules
//! and jumps) without duplicating anything, so a flushed firewall or a deleted bridge heals.
//!
//! Life of a container's networking, as the controller drives it:
//! 1. [`Netd::create_netns`]: a new network namespace pinned at `run_dir/netns/<container>`,
//!    loopback up. The engine's shim joins it (setns) before exec.
//! 2. [`Netd::attach`] once per network: a veth pair, host end on the network's bridge, the
//!    other end moved into the namespace as `eth0`, `eth1`, ... with address and, for the
//!    highest `gateway_priority` non-internal network, the default route. Its `dns_names` are
//!    answered by that network's DNS server from then on.
//! 3. [`Netd::publish`]: DNAT rules for its published ports ([`PortSpec::parse`] reads `-p`).
//! 4. [`render_resolv_conf`] / [`render_hosts`]: content for the files the engine bind-mounts.
//! 5. On removal: [`Netd::unpublish`], [`Netd::detach`], [`Netd::remove_netns`]; or, after a
//!    crash, [`Netd::gc`] with the set of containers that still exist.
//!
//! ```no_run
//! # async fn demo() -> Result<(), berth_netd::NetdError> {
//! use berth_netd::*;
//! let netd = Netd::open(NetdOptions::new("/var/lib/berth/netd", "/run/berth")).await?;
//! netd.create_network(NetworkSpec { name: "shop_default".into(), ..Default::default() }).await?;
//! let ns = netd.create_netns("4f2a...").await?;
//! let att = netd
//!     .attach(
//!         "shop_default",
//!         AttachRequest {
//!             container_id: "4f2a...".into(),
//!             netns_path: ns,
//!             ipv4: None,
//!             preferred_ipv4: None,
//!             dns_names: vec!["shop-web-1".into(), "web".into()],
//!             gateway_priority: 0,
//!             links: vec![],
//!         },
//!     )
//!     .await?;
//! netd.publish("4f2a...", &[PortSpec::parse("8080:80").unwrap()]).await?;
//! let resolv_conf = render_resolv_conf(&[att.gateway], &[], &[]);
//! # let _ = resolv_conf; Ok(()) }
//! ```
//!
//! Host requirements: `iptables` (nft or legacy, both work on Linux 6.x; [`NetdOptions::iptables`]
//! names the binary, default `iptables`, i.e. whatever the distribution's alternative points
//! at, which is also what Docker on the same host uses: rules of both backends would otherwise
//! be evaluated side by side; `-save`/`-restore` are derived from the name). Without
//! br_netfilter (or with net.bridge.bridge-nf-call-iptables=0) hairpin traffic through a
//! published port is masqueraded to the gateway instead of keeping its source address.
//!
//! Tests: `cargo test -p berth-netd`; the privileged ones (tests/privileged.rs) need root and
//! the packages `iptables busybox-static dnsutils` (plus iproute2 and util-linux's nsenter),
//! and run each in a network namespace of their own.
//!
//! Threads and namespaces: netd acts on the network namespace of the thread that called
//! [`Netd::open`] and of the runtime's worker threads (the host's, in the daemon). It never
//! forks; it enters container namespaces with short-lived threads (see `netns.rs`). With
//! [`NetdOptions::dns_exe`] it execs one DNS server process per network (see `dns/process.rs`).
//!
//! Rooms: `endpoints` (containers on networks, published ports) and `dns_servers` add to
//! [`Netd`]; this file keeps the door's public types (errors, options, records) and Netd's
//! life (open, converge, networks, resync, gc, teardown), hence its ~870 lines.
//!
//! Why this file is long: it is the door (options, records, errors and the network calls
//! that use all of them); the driver's life (open, resync, gc, teardown) is in lifecycle.rs.

mod dns;
mod dns_servers;
mod endpoints;
mod firewall;
mod ifioctl;
mod ipam;
mod kept_restore;
mod lifecycle;
mod link;
mod link_reaper;
mod netns;
mod ports;
mod resolv;
mod store;

pub use dns::process::main as dns_server_main;
pub use dns::{parse_resolv_conf_nameservers, DnsError};
pub use firewall::FirewallError;
pub use ipam::IpamError;
pub use link::LinkError;
pub use netns::NetnsError;
pub use ports::{PortBinding, PortSpec, PortsError, Protocol};
pub use resolv::{render_hosts, render_resolv_conf};
pub use store::StoreError;

use dns::process::{ServerConfig, ServerProcess};
use dns::{DnsPush, DnsServer, Server};
use firewall::{Desired, Firewall, FwNetwork, FwPort};
use ipnetwork::Ipv4Network;
use link::Netlink;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use store::{Durability, EndpointRecord, NetworkRecord, Saver, State};

/// Errors of [`Netd`]; module errors are wrapped with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum NetdError {
    #[error("{context}: {source}")]
    Store { context: String, source: StoreError },
    #[error("{context}: {source}")]
    Ipam { context: String, source: IpamError },
    #[error("{context}: {source}")]
    Link {
        context: String,
        source: Box<LinkError>,
    },
    #[error("{context}: {source}")]
    Netns { context: String, source: NetnsError },
    #[error("{context}: {source}")]
    Firewall {
        context: String,
        source: FirewallError,
    },
    #[error("{context}: {source}")]
    Dns { context: String, source: DnsError },
    #[error("write sysctl {path}: {source}")]
    Sysctl {
        path: String,
        source: std::io::Error,
    },
    #[error("network {0} not found")]
    NetworkNotFound(String),
    #[error("network {0} already exists")]
    NetworkExists(String),
    #[error("network {network} is in use by containers {containers:?}")]
    NetworkInUse {
        network: String,
        containers: Vec<String>,
    },
    #[error("container {container} is already attached to network {network}")]
    AlreadyAttached { network: String, container: String },
    #[error("container {container} is not attached to network {network}")]
    NotAttached { network: String, container: String },
    #[error("container {0} has no address on a non-internal network to publish ports on")]
    NoPublishAddress(String),
    /// Docker's words for a port another container publishes.
    #[error("Bind for {host_ip}:{port} failed: port is already allocated")]
    PortInUse {
        host_ip: Ipv4Addr,
        container: String,
        spec: String,
        port: u16,
        protocol: Protocol,
    },
    /// Docker's words (from its userland proxy) for a port a host process holds.
    #[error("listen {}4 {host_ip}:{port}: bind: address already in use", protocol.as_str())]
    HostPortBusy {
        container: String,
        host_ip: Ipv4Addr,
        port: u16,
        protocol: Protocol,
    },
    #[error("publish for container {container}: no free host port in {first}-{last}")]
    NoFreePort {
        container: String,
        first: u16,
        last: u16,
    },
    #[error("invalid {what} {value:?}")]
    InvalidName { what: &'static str, value: String },
}

pub type Result<T, E = NetdError> = std::result::Result<T, E>;

fn ctx<E>(
    context: impl Into<String>,
    wrap: fn(String, E) -> NetdError,
) -> impl FnOnce(E) -> NetdError {
    let context = context.into();
    move |e| wrap(context, e)
}
fn e_store(c: String, source: StoreError) -> NetdError {
    NetdError::Store { context: c, source }
}
fn e_ipam(c: String, source: IpamError) -> NetdError {
    NetdError::Ipam { context: c, source }
}
fn e_link(c: String, source: LinkError) -> NetdError {
    NetdError::Link {
        context: c,
        source: Box::new(source),
    }
}
fn e_netns(c: String, source: NetnsError) -> NetdError {
    NetdError::Netns { context: c, source }
}
fn e_fw(c: String, source: FirewallError) -> NetdError {
    NetdError::Firewall { context: c, source }
}
fn e_dns(c: String, source: DnsError) -> NetdError {
    NetdError::Dns { context: c, source }
}

/// How to open [`Netd`].
#[derive(Debug, Clone)]
pub struct NetdOptions {
    /// Where `netd.json` (networks, endpoints, addresses, published ports) lives.
    pub state_dir: PathBuf,
    /// Where namespace pins live (`run_dir/netns/<container id>`).
    pub run_dir: PathBuf,
    /// Prefix of every iptables chain (`BERTH-FORWARD`, ...). Tests use a unique one.
    pub chain_prefix: String,
    /// Bridges are named `<bridge_prefix><12 hex of the network id>` (at most 15 bytes).
    pub bridge_prefix: String,
    /// Resolvers for names that are not ours; None = the nameservers of /etc/resolv.conf.
    pub upstream_dns: Option<Vec<SocketAddr>>,
    /// The iptables binary (`iptables`, `iptables-nft`, `iptables-legacy`).
    pub iptables: String,
    /// Port of the embedded DNS servers (53; tests may move it).
    pub dns_port: u16,
    /// Subnet pools for networks without a subnet; None = Docker's defaults.
    pub address_pools: Option<Vec<Ipv4Network>>,
    /// The binary whose `dns-server` subcommand ([`dns_server_main`]) serves each network's
    /// names as a process of its own, which outlives this process and is re-adopted by the
    /// next one (under `run_dir/dns`). None = the servers run inside this process and end
    /// with it.
    pub dns_exe: Option<PathBuf>,
}

impl NetdOptions {
    pub fn new(state_dir: impl Into<PathBuf>, run_dir: impl Into<PathBuf>) -> NetdOptions {
        NetdOptions {
            state_dir: state_dir.into(),
            run_dir: run_dir.into(),
            chain_prefix: "BERTH".into(),
            bridge_prefix: "br-".into(),
            upstream_dns: None,
            iptables: "iptables".into(),
            dns_port: 53,
            address_pools: None,
            dns_exe: None,
        }
    }
}

/// A network to create. Unset fields get Docker's defaults.
#[derive(Debug, Clone, Default)]
pub struct NetworkSpec {
    pub name: String,
    pub subnet: Option<Ipv4Network>,
    pub gateway: Option<Ipv4Addr>,
    pub ip_range: Option<Ipv4Network>,
    /// No egress, no ingress: traffic stays on the bridge.
    pub internal: bool,
    pub mtu: Option<u32>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    pub bridge: String,
    pub subnet: Ipv4Network,
    pub gateway: Ipv4Addr,
    pub ip_range: Option<Ipv4Network>,
    pub internal: bool,
    pub mtu: u32,
    pub labels: BTreeMap<String, String>,
    /// Unix seconds.
    pub created: u64,
    pub endpoints: Vec<EndpointInfo>,
}

/// A network's identity and one container's endpoint on it: what a container's start asks
/// of each of its networks, without [`NetworkInfo`]'s copy of every endpoint (a start of
/// 100 services asked for ~30 000 endpoint copies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkBrief {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// The container's address on it, when it is attached.
    pub attached: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointInfo {
    pub container_id: String,
    pub ifname: String,
    pub host_ifname: String,
    pub ip: Ipv4Addr,
    pub mac: String,
    pub dns_names: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AttachRequest {
    pub container_id: String,
    /// The pinned namespace (from [`Netd::create_netns`] or another container's, for
    /// `network_mode: container:X`).
    pub netns_path: PathBuf,
    /// Static address (`ipv4_address`); None = next free one.
    pub ipv4: Option<Ipv4Addr>,
    /// Without `ipv4`: the address to take if it is free and fits the network (its subnet,
    /// ip_range, not the gateway), else the next free one. A container rewired onto a
    /// network made again keeps its address this way where the new subnet allows it.
    pub preferred_ipv4: Option<Ipv4Addr>,
    /// Names answered by the network's DNS: container name, service name, aliases, links.
    pub dns_names: Vec<String>,
    /// The non-internal network with the highest priority (ties: attached first) holds the
    /// default route.
    pub gateway_priority: i32,
    /// Legacy links `(target container name, alias)`: the alias resolves to the target on
    /// this network for this container only.
    pub links: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub network_id: String,
    pub ifname: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
}

/// The network driver. Cheap to share behind an `Arc`; every operation serialises on one
/// state lock, which is what makes "never two holders of an address" hold.
pub struct Netd {
    opts: NetdOptions,
    saver: std::sync::Arc<Saver>,
    state: tokio::sync::Mutex<State>,
    host: Netlink,
    /// Deletes released veths in the background (see link_reaper).
    reaper: link_reaper::LinkReaper,
    fw: Firewall,
    /// network id -> its DNS server (only touched with `state` held).
    dns: std::sync::Mutex<HashMap<String, Server>>,
    upstream: Vec<SocketAddr>,
}

fn mac_string(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n.div_ceil(2)];
    // /dev/urandom never blocks once the pool is initialised (random(4)).
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf));
    if ok.is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let seed = t.as_nanos() ^ (std::process::id() as u128) << 64;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed >> ((i * 8) % 128)) as u8 ^ (i as u8).wrapping_mul(151);
        }
    }
    let s: String = buf.iter().map(|b| format!("{b:02x}")).collect();
    s[..n].to_string()
}

/// Whether bridged IPv4 frames traverse iptables in this namespace (br_netfilter loaded and
/// net.bridge.bridge-nf-call-iptables on; the sysctl is per namespace since Linux 5.3).
fn bridge_nf_call_iptables() -> bool {
    std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables")
        .is_ok_and(|v| v.trim() == "1")
}

/// Whether nothing on the host listens on `ip:port` (bind and drop a socket).
fn host_port_free(proto: Protocol, ip: Ipv4Addr, port: u16) -> bool {
    let addr = SocketAddr::new(IpAddr::V4(ip), port);
    match proto {
        Protocol::Tcp => std::net::TcpListener::bind(addr).is_ok(),
        Protocol::Udp => std::net::UdpSocket::bind(addr).is_ok(),
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Sysctls under /proc/sys/net are per network namespace: the one of the writing thread.
fn sysctl(path: &str, value: &str) -> Result<()> {
    let full = format!("/proc/sys/{path}");
    std::fs::write(&full, value).map_err(|source| NetdError::Sysctl { path: full, source })
}

fn valid_id(what: &'static str, s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(NetdError::InvalidName {
            what,
            value: s.to_string(),
        })
    }
}

fn info(n: &NetworkRecord) -> NetworkInfo {
    NetworkInfo {
        id: n.id.clone(),
        name: n.name.clone(),
        bridge: n.bridge.clone(),
        subnet: n.subnet,
        gateway: n.gateway,
        ip_range: n.ip_range,
        internal: n.internal,
        mtu: n.mtu,
        labels: n.labels.clone(),
        created: n.created,
        endpoints: n
            .endpoints
            .values()
            .map(|e| EndpointInfo {
                container_id: e.container_id.clone(),
                ifname: e.ifname.clone(),
                host_ifname: e.host_ifname.clone(),
                ip: e.ip,
                mac: mac_string(e.mac),
                dns_names: e.dns_names.clone(),
            })
            .collect(),
    }
}

/// The endpoint of `container` that should hold the default route: highest priority among
/// non-internal networks, earliest attachment on ties.
fn route_holder<'a>(
    state: &'a State,
    container: &str,
) -> Option<(&'a NetworkRecord, &'a EndpointRecord)> {
    state
        .networks
        .values()
        .filter(|n| !n.internal)
        .filter_map(|n| n.endpoints.get(container).map(|e| (n, e)))
        .max_by(|a, b| {
            a.1.gateway_priority
                .cmp(&b.1.gateway_priority)
                .then(b.1.seq.cmp(&a.1.seq))
        })
}

impl Netd {
    fn save(&self, state: &State) -> Result<()> {
        self.saver
            .flush(self.saver.stage(state), Durability::Durable)
            .map_err(ctx("save netd state", e_store))
    }

    /// Writes staged snapshot `gen` (see Saver) from a blocking thread, for callers that
    /// released the state lock first.
    async fn write_staged(&self, gen: u64, durability: Durability) -> Result<()> {
        let saver = self.saver.clone();
        tokio::task::spawn_blocking(move || saver.flush(gen, durability))
            .await
            .expect("state write does not panic")
            .map_err(ctx("save netd state", e_store))
    }

    fn pin_path(&self, container_id: &str) -> PathBuf {
        self.opts.run_dir.join("netns").join(container_id)
    }

    /// Creates a network: subnet (given or from the pools, skipping every routed subnet and
    /// every other network), bridge, DNS server, firewall rules.
    pub async fn create_network(&self, spec: NetworkSpec) -> Result<NetworkInfo> {
        valid_id("network name", &spec.name)?;
        let mut state = self.state.lock().await;
        if state.find(&spec.name).is_some_and(|n| n.name == spec.name) {
            return Err(NetdError::NetworkExists(spec.name));
        }
        let c = format!("create network {}", spec.name);
        let existing: Vec<Ipv4Network> = state.networks.values().map(|n| n.subnet).collect();
        let subnet = match spec.subnet {
            Some(s) => {
                if let Some(o) = existing.iter().find(|o| ipam::overlaps(o, &s)) {
                    return Err(e_ipam(
                        c,
                        IpamError::Overlap {
                            subnet: s,
                            other: *o,
                        },
                    ));
                }
                s
            }
            None => {
                let mut taken = self
                    .host
                    .routed_subnets()
                    .await
                    .map_err(ctx(c.clone(), e_link))?;
                taken.extend(existing);
                let pools = self
                    .opts
                    .address_pools
                    .clone()
                    .unwrap_or_else(ipam::default_pools);
                ipam::pick_subnet(&pools, &taken).map_err(ctx(c.clone(), e_ipam))?
            }
        };
        let (subnet, gateway) = ipam::plan_subnet(subnet, spec.gateway, spec.ip_range)
            .map_err(ctx(c.clone(), e_ipam))?;
        let id = random_hex(64);
        let rec = NetworkRecord {
            bridge: format!("{}{}", self.opts.bridge_prefix, &id[..12]),
            id: id.clone(),
            name: spec.name.clone(),
            subnet,
            gateway,
            ip_range: spec.ip_range,
            internal: spec.internal,
            mtu: spec.mtu.unwrap_or(1500),
            labels: spec.labels,
            created: now_secs(),
            last_ip: None,
            endpoints: BTreeMap::new(),
        };
        state.networks.insert(id.clone(), rec.clone());
        // Rules and record only with the network: a network whose isolation rules could not
        // be installed must not exist (it would be reachable from every other network). The
        // rules name the bridge, not need it: they go in while it is made (the firewall's
        // iptables-restore and the DNS server's start are each several ms of waiting).
        let t = std::time::Instant::now();
        let micros = |t: std::time::Instant| t.elapsed().as_micros() as u64;
        let ((realized, realize_us), (rules, rules_us)) = tokio::join!(
            async { (self.realize_network(&rec).await, micros(t)) },
            async { (self.apply_firewall(&state, false).await, micros(t)) }
        );
        tracing::debug!(network = %rec.name, realize_us, rules_us, "network prepare phases (micros)");
        let done = match (realized, rules) {
            (Ok(()), Ok(())) => self.save(&state),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        if let Err(e) = done {
            state.networks.remove(&id);
            self.stop_dns(&id);
            let _ = self.host.delete(&rec.bridge).await;
            let _ = self.apply_firewall(&state, false).await;
            return Err(e);
        }
        tracing::info!(network = %rec.name, subnet = %rec.subnet, bridge = %rec.bridge, "network created");
        Ok(info(&rec))
    }

    /// Removes a network without endpoints: DNS server, bridge, rules, record.
    pub async fn remove_network(&self, id_or_name: &str) -> Result<()> {
        self.remove_network_evicting(id_or_name, &HashSet::new())
            .await
    }

    /// Removes a network whose endpoints all belong to containers in `leaving` (stopped
    /// containers on their way out): their endpoints on it go with it, their host veths in
    /// the bridge's own deletion. `down` removes a network this way as soon as its
    /// containers have stopped, without waiting for the rest of their removal; their
    /// release later finds nothing left of them on it. Any other endpoint refuses it.
    pub async fn remove_network_evicting(
        &self,
        id_or_name: &str,
        leaving: &HashSet<String>,
    ) -> Result<()> {
        let mut state = self.state.lock().await;
        let n = state
            .find(id_or_name)
            .ok_or_else(|| NetdError::NetworkNotFound(id_or_name.into()))?
            .clone();
        let staying: Vec<String> = n
            .endpoints
            .keys()
            .filter(|c| !leaving.contains(*c))
            .cloned()
            .collect();
        if !staying.is_empty() {
            return Err(NetdError::NetworkInUse {
                network: n.name,
                containers: staying,
            });
        }
        let t = std::time::Instant::now();
        self.stop_dns(&n.id);
        state.networks.remove(&n.id);
        // The evicted containers' published ports, for a failed removal to put back.
        let published_before: Vec<(String, Vec<PortBinding>)> = (n.endpoints.keys())
            .filter_map(|c| Some((c.clone(), state.published.get(c)?.clone())))
            .collect();
        for ep in n.endpoints.values() {
            if let Some(b) = state.published.get_mut(&ep.container_id) {
                b.retain(|b| b.container_ip != ep.ip);
                if b.is_empty() {
                    state.published.remove(&ep.container_id);
                }
            }
        }
        // The bridge's deletion waits out full RCU grace periods in the kernel (~40 ms): on
        // the link reaper's thread, in one request with the evicted veths (deleted apart,
        // each set waits its own), and without the state lock, which the releases of the
        // containers being removed beside it need. The rules' rewrite does not depend on
        // it, and the rules no longer name the bridge either way. Until the bridge is gone
        // its route keeps its subnet from being picked for a new network.
        let mut links: Vec<String> = n
            .endpoints
            .values()
            .map(|ep| ep.host_ifname.clone())
            .collect();
        links.push(n.bridge.clone());
        let mut deletion = self.reaper.delete_now(links);
        let (rules, ()) = tokio::join!(self.apply_firewall(&state, false), deletion.doomed());
        let rules_at = t.elapsed().as_micros() as u64;
        // Saved once the links are doomed: a crash from here on leaves them to the next
        // start, which deletes the doomed group.
        self.save(&state)?;
        drop(state);
        if let Err(e) = deletion.gone().await {
            // Back as it was, but for the containers released meanwhile; a veth that did
            // go is made again by the next resync.
            let mut state = self.state.lock().await;
            let mut n = n.clone();
            n.endpoints.retain(|c, _| self.pin_path(c).exists());
            for (c, b) in published_before {
                if n.endpoints.contains_key(&c) {
                    state.published.insert(c, b);
                }
            }
            state.networks.insert(n.id.clone(), n.clone());
            if let Err(e) = self.apply_firewall(&state, false).await {
                tracing::warn!(network = %n.name, error = %e, "restoring rules after a failed removal");
            }
            self.save(&state)?;
            return Err(e_link(format!("remove network {}", n.name), e));
        }
        tracing::debug!(
            network = %n.name,
            micros = t.elapsed().as_micros() as u64,
            evicted = n.endpoints.len(),
            rules_applied = rules_at,
            "network removed"
        );
        rules
    }

    pub async fn list(&self) -> Vec<NetworkInfo> {
        self.state
            .lock()
            .await
            .networks
            .values()
            .map(info)
            .collect()
    }

    /// The network (by id, unique id prefix or name) in brief, with `container`'s address.
    pub async fn brief(&self, id_or_name: &str, container: &str) -> Result<NetworkBrief> {
        let state = self.state.lock().await;
        let n = state
            .find(id_or_name)
            .ok_or_else(|| NetdError::NetworkNotFound(id_or_name.into()))?;
        Ok(NetworkBrief {
            id: n.id.clone(),
            name: n.name.clone(),
            labels: n.labels.clone(),
            attached: n.endpoints.get(container).map(|e| e.ip),
        })
    }

    /// By id, unique id prefix (3+ chars) or name.
    pub async fn inspect(&self, id_or_name: &str) -> Result<NetworkInfo> {
        let state = self.state.lock().await;
        state
            .find(id_or_name)
            .map(info)
            .ok_or_else(|| NetdError::NetworkNotFound(id_or_name.into()))
    }
}

/// Where a namespace pin of `container_id` lives for a given run dir (for the engine).
pub fn netns_path(run_dir: &Path, container_id: &str) -> PathBuf {
    run_dir.join("netns").join(container_id)
}

/// The daemon shares one Netd across tasks and spawns its futures: both must stay possible.
#[allow(dead_code)]
fn _assert_send_sync(n: &'static Netd) {
    fn send<T: Send>(_: T) {}
    fn sync<T: Send + Sync>() {}
    sync::<Netd>();
    let live = Box::leak(Box::new(HashSet::new()));
    send(n.create_network(NetworkSpec::default()));
    send(n.remove_network(""));
    send(n.create_netns(""));
    send(n.remove_netns(""));
    send(n.attach(
        "",
        AttachRequest {
            container_id: String::new(),
            netns_path: PathBuf::new(),
            ipv4: None,
            preferred_ipv4: None,
            dns_names: vec![],
            gateway_priority: 0,
            links: vec![],
        },
    ));
    send(n.detach("", ""));
    send(n.publish("", &[]));
    send(n.unpublish(""));
    send(n.resync());
    send(n.gc(live));
    send(n.teardown());
    send(n.list());
    send(n.inspect(""));
    send(n.brief("", ""));
}
