//! The daemon's side of networking: joins containers to netd networks before their shim starts
//! (pinned netns, veths, addresses, DNS names, published ports), writes their /etc/hosts and
//! resolv.conf, and releases everything when a container is removed. Networks are made and
//! removed here too, so each tells its events once whichever door asked.

use super::events::EventBus;
use super::http::ApiError;
use berth_engine::container::{ContainerRecord, NetworkEndpoint};
use berth_netd::{AttachRequest, Netd, NetdError, NetworkInfo, NetworkSpec, PortSpec};
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;

/// Docker's name for the network containers join when they name none.
pub const DEFAULT_NETWORK: &str = "bridge";

impl From<NetdError> for ApiError {
    fn from(e: NetdError) -> Self {
        let msg = e.to_string();
        if msg.contains("not found") || msg.contains("no such") {
            ApiError::not_found(msg)
        } else if msg.contains("in use")
            || msg.contains("exists")
            || msg.contains("already")
            || msg.contains("overlap")
        {
            ApiError::conflict(msg)
        } else {
            ApiError::bad_request(msg)
        }
    }
}

pub struct Networks {
    pub netd: Arc<Netd>,
    run_dir: PathBuf,
    /// Where networks made, removed, joined and left are told (see `super::events`).
    pub events: EventBus,
}

/// What a started container gets from its networks.
pub struct NetSetup {
    pub netns: Option<PathBuf>,
    pub hosts: String,
    pub resolv: String,
}

/// The networks a container's config names, the default one when it names none.
pub fn endpoints_of(rec: &ContainerRecord) -> Vec<NetworkEndpoint> {
    if !rec.config.network_mode.is_empty() {
        return Vec::new();
    }
    if rec.config.networks.is_empty() {
        return vec![NetworkEndpoint {
            name: DEFAULT_NETWORK.into(),
            ..Default::default()
        }];
    }
    rec.config.networks.clone()
}

impl Networks {
    pub fn new(netd: Arc<Netd>, run_dir: PathBuf, events: EventBus) -> Self {
        Networks {
            netd,
            run_dir,
            events,
        }
    }

    /// Makes a network; a `create` event. Every door and the stack controller come here.
    pub async fn create_network(&self, spec: NetworkSpec) -> Result<NetworkInfo, ApiError> {
        let info = self.netd.create_network(spec).await?;
        self.events
            .network("create", &info.id, &info.name, &info.labels, None);
        Ok(info)
    }

    /// Removes a network (refused by netd while it has endpoints); a `destroy` event.
    pub async fn remove_network(&self, info: &NetworkInfo) -> Result<(), ApiError> {
        self.remove_network_evicting(info, &HashSet::new()).await
    }

    /// Removes a network whose remaining endpoints all belong to the stopped containers in
    /// `leaving` (see [`Netd::remove_network_evicting`]); a `destroy` event.
    pub async fn remove_network_evicting(
        &self,
        info: &NetworkInfo,
        leaving: &HashSet<String>,
    ) -> Result<(), ApiError> {
        self.netd.remove_network_evicting(&info.id, leaving).await?;
        self.events
            .network("destroy", &info.id, &info.name, &info.labels, None);
        Ok(())
    }

    /// A `connect` or `disconnect` event of container `id` on the network `net` (id or name).
    pub async fn tell(&self, action: &str, net: &str, id: &str) {
        if let Ok(n) = self.netd.brief(net, id).await {
            self.events
                .network(action, &n.id, &n.name, &n.labels, Some(id));
        }
    }

    /// `connect` (at start) or `disconnect` (at exit) events for each of `rec`'s networks,
    /// as dockerd tells them when it joins and leaves them.
    pub async fn tell_all(&self, action: &str, rec: &ContainerRecord) {
        for ep in endpoints_of(rec) {
            self.tell(action, &ep.name, &rec.id).await;
        }
    }

    /// The default network exists once a container needs it, as Docker's docker0.
    async fn ensure_default(&self) -> Result<(), ApiError> {
        if self.netd.inspect(DEFAULT_NETWORK).await.is_err() {
            self.create_network(NetworkSpec {
                name: DEFAULT_NETWORK.into(),
                ..Default::default()
            })
            .await?;
        }
        Ok(())
    }

    /// Wires `rec`'s networks (idempotent: a restart finds its netns and addresses in place)
    /// and renders its /etc/hosts and resolv.conf. `shared_netns` is the pinned namespace of the
    /// container named by `network_mode: container:X`.
    /// `keep`: addresses (by network name) the container should keep where it is attached
    /// anew, when they fit (a network made again, see [`berth_netd::AttachRequest`]).
    pub async fn prepare(
        &self,
        rec: &ContainerRecord,
        exposed: &[String],
        shared_netns: Option<PathBuf>,
        keep: &HashMap<String, Ipv4Addr>,
    ) -> Result<NetSetup, ApiError> {
        let started = std::time::Instant::now();
        let cfg = &rec.config;
        let hostname = berth_engine::container::hostname_of(rec);
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let extra: Vec<(Ipv4Addr, Vec<String>)> = cfg
            .extra_hosts
            .iter()
            .filter_map(|h| {
                let (name, ip) = h.split_once(':').or_else(|| h.split_once('='))?;
                Some((ip.parse().ok()?, vec![name.to_string()]))
            })
            .collect();
        match cfg.network_mode.as_str() {
            "host" => {
                return Ok(NetSetup {
                    netns: None,
                    hosts: std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
                    resolv: host_resolv,
                });
            }
            "none" => {
                return Ok(NetSetup {
                    netns: None,
                    hosts: berth_netd::render_hosts(&extra),
                    resolv: host_resolv,
                });
            }
            m if m.starts_with("container:") => {
                return Ok(NetSetup {
                    netns: shared_netns,
                    hosts: berth_netd::render_hosts(&extra),
                    resolv: host_resolv,
                });
            }
            _ => {}
        }
        // A start refused half-way (a busy host port, a taken address) is undone by the
        // caller (Containers::release_unstarted), namespace and veths included.
        let wired = self.wire(rec, exposed, extra, &hostname, keep).await;
        tracing::debug!(container = %&rec.id[..12], micros = started.elapsed().as_micros() as u64, "network prepare");
        wired
    }

    /// Namespace, endpoints on every network, published ports, /etc/hosts and resolv.conf.
    async fn wire(
        &self,
        rec: &ContainerRecord,
        exposed: &[String],
        extra: Vec<(Ipv4Addr, Vec<String>)>,
        hostname: &str,
        keep: &HashMap<String, Ipv4Addr>,
    ) -> Result<NetSetup, ApiError> {
        let cfg = &rec.config;
        let endpoints = endpoints_of(rec);
        if endpoints.iter().any(|e| e.name == DEFAULT_NETWORK) {
            self.ensure_default().await?;
        }
        let netns = berth_netd::netns_path(&self.run_dir, &rec.id);
        if !netns.exists() {
            let t = std::time::Instant::now();
            self.netd.create_netns(&rec.id).await?;
            tracing::debug!(container = %&rec.id[..12], micros = t.elapsed().as_micros() as u64, "netd create_netns");
        }
        let short = rec.id[..12].to_string();
        // `--link NAME[:ALIAS]`: the target's name doubles as the alias when none is given.
        let links: Vec<(String, String)> = cfg
            .links
            .iter()
            .map(|l| match l.split_once(':') {
                Some((t, a)) => (t.to_string(), a.to_string()),
                None => (l.clone(), l.clone()),
            })
            .collect();
        let mut first_ip = None;
        for (i, ep) in endpoints.iter().enumerate() {
            let brief =
                self.netd.brief(&ep.name, &rec.id).await.map_err(|e| {
                    ApiError::not_found(format!("network {} not found: {e}", ep.name))
                })?;
            let ip = match brief.attached {
                Some(ip) => ip,
                None => {
                    let mut dns_names = vec![cfg.name.clone(), short.clone()];
                    dns_names.extend(ep.aliases.iter().cloned());
                    let ipv4 = ep
                        .ipv4_address
                        .as_deref()
                        .filter(|s| !s.is_empty())
                        .map(|s| s.parse::<Ipv4Addr>())
                        .transpose()
                        .map_err(|_| {
                            ApiError::bad_request(format!(
                                "invalid IPv4 address for network {}",
                                ep.name
                            ))
                        })?;
                    let req = AttachRequest {
                        container_id: rec.id.clone(),
                        netns_path: netns.clone(),
                        ipv4,
                        preferred_ipv4: keep.get(&ep.name).copied(),
                        dns_names,
                        // Earlier networks win the default route.
                        gateway_priority: ep.priority.saturating_mul(1000) - i as i32,
                        links: links.clone(),
                    };
                    let t = std::time::Instant::now();
                    let ip = self.netd.attach(&ep.name, req).await?.ip;
                    // scripts/bench-network reads this (BERTH_LOG=...=debug).
                    tracing::debug!(network = %ep.name, container = %short, micros = t.elapsed().as_micros() as u64, "netd attach");
                    ip
                }
            };
            first_ip.get_or_insert(ip);
        }
        if self.netd.published(&rec.id).await.is_empty() {
            let mut specs = Vec::new();
            for p in &cfg.ports {
                specs.push(
                    PortSpec::parse(p)
                        .map_err(|e| ApiError::bad_request(format!("invalid port {p}: {e}")))?,
                );
            }
            if cfg.publish_all {
                for e in exposed {
                    let (port, proto) = e.split_once('/').unwrap_or((e.as_str(), "tcp"));
                    specs.push(
                        PortSpec::parse(&format!("{port}/{proto}"))
                            .map_err(|e| ApiError::bad_request(e.to_string()))?,
                    );
                }
            }
            if !specs.is_empty() {
                self.netd.publish(&rec.id, &specs).await?;
            }
        }
        let mut entries = Vec::new();
        if let Some(ip) = first_ip {
            entries.push((ip, vec![hostname.to_string()]));
        }
        entries.extend(extra);
        let resolv = if cfg.dns.is_empty() && cfg.dns_search.is_empty() {
            self.netd.resolv_conf(&rec.id).await
        } else {
            let servers: Vec<Ipv4Addr> = cfg.dns.iter().filter_map(|d| d.parse().ok()).collect();
            let base = self.netd.resolv_conf(&rec.id).await;
            let gateways: Vec<Ipv4Addr> = berth_netd::parse_resolv_conf_nameservers(&base)
                .into_iter()
                .filter_map(|a| match a.ip() {
                    std::net::IpAddr::V4(v4) => Some(v4),
                    _ => None,
                })
                .collect();
            berth_netd::render_resolv_conf(
                if servers.is_empty() {
                    &gateways
                } else {
                    &servers
                },
                &cfg.dns_search,
                &[],
            )
        };
        Ok(NetSetup {
            netns: Some(netns),
            hosts: berth_netd::render_hosts(&entries),
            resolv,
        })
    }

    /// Everything of a removed container: published ports, endpoints, its netns.
    pub async fn release(&self, id: &str) {
        let started = std::time::Instant::now();
        if let Err(e) = self.netd.release_container(id).await {
            tracing::warn!(container = %id, error = %e, "releasing the container's network");
        }
        tracing::debug!(container = %&id[..12.min(id.len())], micros = started.elapsed().as_micros() as u64, "network release");
    }

    /// Frees what belongs to containers that no longer exist (after a crash).
    pub async fn gc(&self, live: &HashSet<String>) {
        if let Err(e) = self.netd.gc(live).await {
            tracing::warn!(error = %e, "network garbage collection");
        }
    }
}
