//! The DNS server of each network: its configuration (every name on the network), started,
//! stopped, and refreshed when names come and go.

use super::*;

impl Netd {
    /// Where the DNS server processes keep their records and control sockets.
    pub(crate) fn dns_dir(&self) -> PathBuf {
        self.opts.run_dir.join("dns")
    }

    /// The server process of network `n`. Files are named by the first 12 hex digits of the
    /// network id (as its bridge), which keeps the control socket's path well under the 108
    /// bytes a unix socket address holds.
    pub(crate) fn dns_server_config(&self, n: &NetworkRecord, listen: SocketAddr) -> ServerConfig {
        let short = &n.id[..12.min(n.id.len())];
        ServerConfig {
            network: n.name.clone(),
            listen,
            upstream: self.upstream.clone(),
            control: self.dns_dir().join(format!("{short}.sock")),
            record: self.dns_dir().join(format!("{short}.json")),
        }
    }

    /// Ends the DNS server of network `id`, if it has one.
    pub(crate) fn stop_dns(&self, id: &str) {
        if let Some(server) = self.dns.lock().unwrap().remove(id) {
            server.stop();
        }
    }

    /// Stops recorded DNS server processes of networks this state does not hold (their
    /// network was removed while no daemon ran, or its state was lost).
    pub(crate) fn stop_orphan_dns_servers(&self, state: &State) {
        let Ok(dir) = std::fs::read_dir(self.dns_dir()) else {
            return;
        };
        for entry in dir.flatten() {
            let path = entry.path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            let short = path
                .file_stem()
                .and_then(|x| x.to_str())
                .unwrap_or_default()
                .to_string();
            if state.networks.keys().any(|id| id.starts_with(&short)) {
                continue;
            }
            if let Some(p) = ServerProcess::recorded(&short, &path) {
                tracing::info!(network = %short, "stopping the dns server of a network that is gone");
                p.stop();
            }
        }
    }

    /// Names registered on a network: name -> addresses (lowercase).
    pub(crate) fn names_on(n: &NetworkRecord) -> HashMap<String, Vec<Ipv4Addr>> {
        let mut names: HashMap<String, Vec<Ipv4Addr>> = HashMap::new();
        for ep in n.endpoints.values() {
            for name in &ep.dns_names {
                let v = names.entry(name.to_ascii_lowercase()).or_default();
                if !v.contains(&ep.ip) {
                    v.push(ep.ip);
                }
            }
        }
        names
    }

    /// Gives every network's DNS server its current names (an attach on one network changes
    /// what a multi-homed container sees through the others too). Call with the state lock
    /// held; the returned push may finish after it is released.
    pub(crate) fn refresh_all_dns(&self, state: &State) -> DnsPush {
        let by_net: HashMap<&str, HashMap<String, Vec<Ipv4Addr>>> = state
            .networks
            .values()
            .map(|n| (n.id.as_str(), Self::names_on(n)))
            .collect();
        let dns = self.dns.lock().unwrap();
        let mut push = DnsPush::default();
        for n in state.networks.values() {
            let Some(server) = dns.get(&n.id) else {
                continue;
            };
            let names = by_net[n.id.as_str()].clone();
            let mut extra = HashMap::new();
            let mut ptr = HashMap::new();
            for ep in n.endpoints.values() {
                if let Some(first) = ep.dns_names.first() {
                    ptr.insert(ep.ip, first.to_ascii_lowercase());
                }
                let mut view: HashMap<String, Vec<Ipv4Addr>> = HashMap::new();
                for other in state.networks.values().filter(|m| m.id != n.id) {
                    if other.endpoints.contains_key(&ep.container_id) {
                        for (name, ips) in &by_net[other.id.as_str()] {
                            if !names.contains_key(name) {
                                view.entry(name.clone()).or_default().extend(ips);
                            }
                        }
                    }
                }
                // Links are this container's private names for containers on this network.
                for (target, alias) in &ep.links {
                    let target = target.to_ascii_lowercase();
                    let hit = n.endpoints.values().find(|o| {
                        o.container_id == target
                            || o.dns_names.iter().any(|d| d.eq_ignore_ascii_case(&target))
                    });
                    if let Some(o) = hit {
                        view.insert(alias.to_ascii_lowercase(), vec![o.ip]);
                    }
                }
                if !view.is_empty() {
                    extra.insert(ep.ip, view);
                }
            }
            server.set_records(dns::Records { names, extra, ptr }, &mut push);
        }
        push
    }
}
