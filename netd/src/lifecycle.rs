//! The driver's life: open (load the state and re-create what is missing), resync after
//! the host changed under it, collect what dead containers left, and tear everything down.

use super::*;

impl Netd {
    /// Loads the persisted state and re-creates whatever of it is missing.
    pub async fn open(opts: NetdOptions) -> Result<Netd> {
        // IFNAMSIZ is 16 with the NUL: bridge names are at most 15 bytes. iptables chain
        // names are at most 28 (XT_EXTENSION_MAXNAMELEN 29); our longest suffix is 12.
        if opts.bridge_prefix.len() > 3 || !opts.bridge_prefix.is_ascii() {
            return Err(NetdError::InvalidName {
                what: "bridge prefix (at most 3 bytes)",
                value: opts.bridge_prefix,
            });
        }
        let chain_ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if opts.chain_prefix.is_empty()
            || opts.chain_prefix.len() > 16
            || !opts.chain_prefix.chars().all(chain_ok)
        {
            return Err(NetdError::InvalidName {
                what: "chain prefix (1-16 of [A-Za-z0-9_-])",
                value: opts.chain_prefix,
            });
        }
        let state_path = opts.state_dir.join("netd.json");
        let state = State::load(&state_path).map_err(ctx("open netd state", e_store))?;
        let host = Netlink::current().map_err(ctx("open netlink", e_link))?;
        let reaper = link_reaper::LinkReaper::start().map_err(ctx("open netlink", e_link))?;
        let upstream = match &opts.upstream_dns {
            Some(u) => u.clone(),
            None => std::fs::read_to_string("/etc/resolv.conf")
                .map(|t| parse_resolv_conf_nameservers(&t))
                .unwrap_or_default(),
        };
        let fw = Firewall::new(&opts.iptables, &opts.chain_prefix);
        let netd = Netd {
            opts,
            saver: std::sync::Arc::new(Saver::new(state_path)),
            state: tokio::sync::Mutex::new(state),
            host,
            reaper,
            fw,
            dns: Default::default(),
            upstream,
        };
        {
            // A network that cannot be re-created now (say, its DNS address is taken) must not
            // keep the daemon from starting; resync retries and reports it.
            let state = netd.state.lock().await;
            if let Err(e) = netd.converge(&state, true, true).await {
                tracing::error!(error = %e, "re-creating persisted networks");
            }
            if netd.opts.dns_exe.is_some() {
                netd.stop_orphan_dns_servers(&state);
            }
        }
        Ok(netd)
    }

    /// Re-creates missing bridges, veths, DNS servers, chains, rules and jumps. Cheap when
    /// nothing is missing; never duplicates a rule.
    pub async fn resync(&self) -> Result<()> {
        let state = self.state.lock().await;
        self.converge(&state, false, true).await
    }

    /// [`Netd::resync`] without the per-container veth check: bridges, DNS servers and the
    /// firewall only. Checking each veth parses its link over netlink (two messages per
    /// container), the largest part of an idle daemon's CPU with many containers, while the
    /// firewall is what other software rewrites behind our back.
    pub async fn resync_networks(&self) -> Result<()> {
        let state = self.state.lock().await;
        self.converge(&state, false, false).await
    }

    /// Frees everything held for containers not in `live`: endpoints, addresses, DNS names,
    /// published ports, namespace pins.
    pub async fn gc(&self, live_container_ids: &HashSet<String>) -> Result<()> {
        let mut state = self.state.lock().await;
        let dead: Vec<(String, String)> = state
            .networks
            .values()
            .flat_map(|n| {
                n.endpoints
                    .keys()
                    .filter(|c| !live_container_ids.contains(*c))
                    .map(|c| (n.id.clone(), c.clone()))
            })
            .collect();
        let mut first_err = None;
        for (net, c) in &dead {
            if let Err(e) = self.detach_locked(&mut state, net, c).await {
                first_err.get_or_insert(e);
            }
        }
        state
            .published
            .retain(|c, _| live_container_ids.contains(c));
        self.save(&state)?;
        if let Ok(rd) = std::fs::read_dir(self.opts.run_dir.join("netns")) {
            for ent in rd.flatten() {
                let name = ent.file_name().to_string_lossy().into_owned();
                if !live_container_ids.contains(&name) {
                    if let Err(e) = netns::remove(&ent.path()) {
                        first_err
                            .get_or_insert(e_netns(format!("gc netns of container {name}"), e));
                    }
                }
            }
        }
        self.apply_firewall(&state, false).await?;
        first_err.map_or(Ok(()), Err)
    }

    /// Removes everything netd created: endpoints, networks, namespace pins, chains and
    /// jumps, and forgets the state. For tests and uninstall.
    pub async fn teardown(&self) -> Result<()> {
        self.gc(&HashSet::new()).await?;
        let mut state = self.state.lock().await;
        for n in state.networks.values() {
            self.stop_dns(&n.id);
            self.host
                .delete(&n.bridge)
                .await
                .map_err(ctx(format!("remove network {}", n.name), e_link))?;
        }
        state.networks.clear();
        self.save(&state)?;
        self.fw
            .remove_all()
            .await
            .map_err(ctx("remove firewall chains", e_fw))
    }

    /// Re-creates bridges, DNS servers and the firewall, and with `endpoints` the veths of
    /// live namespaces.
    pub(crate) async fn converge(
        &self,
        state: &State,
        force_fw: bool,
        endpoints: bool,
    ) -> Result<()> {
        let mut first_err = None;
        for n in state.networks.values() {
            if let Err(e) = self.realize_network(n).await {
                tracing::warn!(network = %n.name, error = %e, "re-create network");
                first_err.get_or_insert(e);
                continue;
            }
            if !endpoints {
                continue;
            }
            for ep in n.endpoints.values() {
                if let Err(e) = self.heal_endpoint(state, n, ep).await {
                    tracing::warn!(network = %n.name, container = %ep.container_id, error = %e, "re-create endpoint");
                }
            }
        }
        self.refresh_all_dns(state).finish().await;
        if let Err(e) = self.apply_firewall(state, force_fw).await {
            first_err.get_or_insert(e);
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Bridge up with its address, route_localnet, DNS server running.
    pub(crate) async fn realize_network(&self, n: &NetworkRecord) -> Result<()> {
        let c = || format!("network {} bridge {}", n.name, n.bridge);
        self.host
            .ensure_bridge(&n.bridge, n.mtu, n.gateway, n.subnet.prefix())
            .await
            .map_err(ctx(c(), e_link))?;
        // Forwarding is what a bridge network is for; Docker sets it the same way.
        sysctl("net/ipv4/ip_forward", "1")?;
        // Lets 127.0.0.1:port reach a container via OUTPUT DNAT (see firewall.rs).
        sysctl(&format!("net/ipv4/conf/{}/route_localnet", n.bridge), "1")?;
        let running = self
            .dns
            .lock()
            .unwrap()
            .get(&n.id)
            .is_some_and(|d| d.is_running());
        if !running {
            // A server that stopped answering (its control socket gone) must free the address
            // for the one started below; a dead one's files go too.
            let old = self.dns.lock().unwrap().remove(&n.id);
            if let Some(old) = old {
                old.stop();
            }
            let addr = SocketAddr::new(IpAddr::V4(n.gateway), self.opts.dns_port);
            let server = match &self.opts.dns_exe {
                None => Server::InProcess(
                    DnsServer::start(&n.name, addr, self.upstream.clone())
                        .await
                        .map_err(ctx(c(), e_dns))?,
                ),
                Some(exe) => {
                    let cfg = self.dns_server_config(n, addr);
                    let adopted = ServerProcess::adopt(&cfg);
                    Server::Process(std::sync::Arc::new(match adopted {
                        Some(p) => p,
                        None => {
                            std::fs::create_dir_all(self.dns_dir()).map_err(|e| {
                                NetdError::Dns {
                                    context: c(),
                                    source: DnsError::Io {
                                        network: n.name.clone(),
                                        path: self.dns_dir(),
                                        source: e,
                                    },
                                }
                            })?;
                            ServerProcess::start(exe, cfg)
                                .await
                                .map_err(ctx(c(), e_dns))?
                        }
                    }))
                }
            };
            self.dns.lock().unwrap().insert(n.id.clone(), server);
        }
        Ok(())
    }

    pub(crate) async fn apply_firewall(&self, state: &State, force: bool) -> Result<()> {
        let desired = Desired {
            networks: state
                .networks
                .values()
                .map(|n| FwNetwork {
                    bridge: n.bridge.clone(),
                    subnet: n.subnet,
                    internal: n.internal,
                })
                .collect(),
            ports: state
                .published
                .values()
                .flatten()
                .map(|b| FwPort {
                    protocol: b.protocol,
                    host_ip: (!b.host_ip.is_unspecified()).then_some(b.host_ip),
                    host_port: b.host_port,
                    container_ip: b.container_ip,
                    container_port: b.container_port,
                })
                .collect(),
            hairpin_masquerade: !bridge_nf_call_iptables(),
        };
        self.fw
            .apply(&desired, force)
            .await
            .map_err(ctx("apply firewall", e_fw))
    }
}
