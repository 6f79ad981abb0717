//! Containers on networks: their namespaces, attaching (veth, address, routes, names),
//! healing and detaching, published ports, and the resolv.conf they get.

use super::*;

impl Netd {
    /// A new network namespace pinned at `run_dir/netns/<container_id>`, loopback up.
    pub async fn create_netns(&self, container_id: &str) -> Result<PathBuf> {
        valid_id("container id", container_id)?;
        let pin = self.pin_path(container_id);
        let c = format!("create netns for container {container_id}");
        let p = pin.clone();
        tokio::task::spawn_blocking(move || netns::create(&p))
            .await
            .expect("netns create task")
            .map_err(ctx(c, e_netns))?;
        Ok(pin)
    }

    /// Unmounts and unlinks the pin (the namespace goes when its last user does).
    pub async fn remove_netns(&self, container_id: &str) -> Result<()> {
        valid_id("container id", container_id)?;
        netns::remove(&self.pin_path(container_id)).map_err(ctx(
            format!("remove netns of container {container_id}"),
            e_netns,
        ))
    }

    /// Joins a container's namespace to a network. The address is reserved under the state
    /// lock; the veth is made and configured outside it (a handful of netlink round trips),
    /// so the containers of a stack starting at once are plumbed side by side instead of
    /// queueing behind each other; the endpoint is then committed under the lock again.
    pub async fn attach(&self, network: &str, req: AttachRequest) -> Result<Attachment> {
        valid_id("container id", &req.container_id)?;
        let cid = req.container_id.clone();
        let c = format!("attach container {cid} to network {network}");
        let ctr = Netlink::in_netns(&req.netns_path).map_err(ctx(c.clone(), e_link))?;
        let (n, ep, dynamic) = self.reserve(network, &req, &ctr).await?;
        let c = format!("attach container {cid} to network {}", n.name);
        let plumbed = self.plumb(&n, &ep, &ctr).await;

        let mut state = self.state.lock().await;
        let reserved = state
            .networks
            .get_mut(&n.id)
            .and_then(|r| r.endpoints.get_mut(&cid))
            .filter(|e| e.host_ifname == ep.host_ifname);
        let committed = match (plumbed, reserved) {
            (Ok(()), Some(e)) => {
                e.plumbing = false;
                Ok(())
            }
            (Err(e), _) => Err(e_link(c.clone(), e)),
            // Released (the container removed, the daemon's gc) while the veth was made.
            (Ok(()), None) => Err(NetdError::NotAttached {
                network: n.name.clone(),
                container: cid.clone(),
            }),
        };
        let committed = match committed {
            Ok(()) => self
                .fix_default_route(&state, &cid, &ctr)
                .await
                .map_err(ctx(c.clone(), e_link)),
            failed => failed,
        };
        let staged = committed.map(|()| (self.refresh_all_dns(&state), self.saver.stage(&state)));
        drop(state);
        // Written and pushed outside the lock: the attaches of containers starting together
        // share a write (see Saver) and a push to each DNS server (see DnsPush).
        let saved = match staged {
            Ok((names, gen)) => {
                let (saved, ()) =
                    tokio::join!(self.write_staged(gen, Durability::Durable), names.finish());
                saved
            }
            Err(e) => Err(e),
        };
        if let Err(e) = saved {
            self.unreserve(&n.id, &ep, dynamic, n.last_ip).await;
            return Err(e);
        }
        tracing::info!(network = %n.name, container = %cid, ip = %ep.ip, ifname = %ep.ifname, "attached");
        Ok(Attachment {
            network_id: n.id.clone(),
            ifname: ep.ifname,
            ip: ep.ip,
            prefix_len: n.subnet.prefix(),
            gateway: n.gateway,
            mac: mac_string(ep.mac),
        })
    }

    /// The first half of [`Netd::attach`], under the lock: the address (asked for, preferred
    /// or allocated) and the interface name (the first ethN neither in `ctr`'s namespace nor
    /// held by another endpoint of the container), held by an endpoint marked as being
    /// plumbed. Returns the network as it was, the endpoint, and whether the address was
    /// allocated.
    async fn reserve(
        &self,
        network: &str,
        req: &AttachRequest,
        ctr: &Netlink,
    ) -> Result<(NetworkRecord, EndpointRecord, bool)> {
        let mut state = self.state.lock().await;
        let n = state
            .find(network)
            .ok_or_else(|| NetdError::NetworkNotFound(network.into()))?
            .clone();
        let cid = req.container_id.clone();
        if n.endpoints.contains_key(&cid) {
            return Err(NetdError::AlreadyAttached {
                network: n.name,
                container: cid,
            });
        }
        let c = format!("attach container {cid} to network {}", n.name);
        let used = n.used_ips();
        let preferred = req.preferred_ipv4.filter(|&ip| {
            n.ip_range.as_ref().is_none_or(|r| r.contains(ip))
                && ipam::check_static(&n.name, &n.subnet, n.gateway, &used, ip).is_ok()
        });
        let ip = match req.ipv4.or(preferred) {
            Some(ip) => {
                ipam::check_static(&n.name, &n.subnet, n.gateway, &used, ip)
                    .map_err(ctx(c.clone(), e_ipam))?;
                ip
            }
            None => ipam::allocate(
                &n.name,
                &n.subnet,
                n.ip_range.as_ref(),
                n.gateway,
                &used,
                n.last_ip,
            )
            .map_err(ctx(c.clone(), e_ipam))?,
        };
        // Names this container's other endpoints hold, plumbed or not yet.
        let held: Vec<&str> = state
            .networks
            .values()
            .filter_map(|m| m.endpoints.get(&cid))
            .map(|e| e.ifname.as_str())
            .collect();
        let ifname = (0..)
            .map(|i| format!("eth{i}"))
            .find(|name| !held.contains(&name.as_str()) && !ctr.has_link(name))
            .unwrap();
        state.seq += 1;
        let ep = EndpointRecord {
            container_id: cid.clone(),
            netns_path: req.netns_path.clone(),
            ifname,
            host_ifname: format!("vb{}", random_hex(11)),
            ip,
            mac: ipam::mac_for(ip),
            dns_names: req.dns_names.clone(),
            gateway_priority: req.gateway_priority,
            links: req.links.clone(),
            seq: state.seq,
            plumbing: true,
        };
        // Only dynamic allocations move the cursor, as in Docker: a static address elsewhere
        // in the range must not make the allocator skip ahead.
        let dynamic = req.ipv4.is_none() && preferred.is_none();
        let rec = state.networks.get_mut(&n.id).unwrap();
        rec.endpoints.insert(cid, ep.clone());
        if dynamic {
            rec.last_ip = Some(ip);
        }
        Ok((n, ep, dynamic))
    }

    /// Undoes [`Netd::reserve`] after a failed attach: the endpoint (if it is still the one
    /// reserved) and its veth go, and the allocator gets its cursor back.
    async fn unreserve(
        &self,
        net_id: &str,
        ep: &EndpointRecord,
        dynamic: bool,
        last_ip: Option<Ipv4Addr>,
    ) {
        {
            let mut state = self.state.lock().await;
            if let Some(rec) = state.networks.get_mut(net_id) {
                if rec
                    .endpoints
                    .get(&ep.container_id)
                    .is_some_and(|e| e.host_ifname == ep.host_ifname)
                {
                    rec.endpoints.remove(&ep.container_id);
                }
                if dynamic && rec.last_ip == Some(ep.ip) {
                    rec.last_ip = last_ip;
                }
            }
            self.refresh_all_dns(&state).finish().await;
        }
        let _ = self.host.delete(&ep.host_ifname).await;
    }

    /// veth pair, host end on the bridge, peer configured inside the namespace.
    pub(crate) async fn plumb(
        &self,
        n: &NetworkRecord,
        ep: &EndpointRecord,
        ctr: &Netlink,
    ) -> Result<(), LinkError> {
        let bridge = self
            .host
            .index(&n.bridge)?
            .ok_or_else(|| LinkError::NotFound(n.bridge.clone()))?;
        // The peer is born in the container's namespace under its final name.
        self.host
            .add_veth(
                &ep.host_ifname,
                &ep.ifname,
                n.mtu,
                bridge,
                &ep.netns_path,
                ep.mac,
            )
            .await?;
        let res = ctr
            .configure_peer(&ep.ifname, &ep.ifname, ep.mac, ep.ip, n.subnet.prefix())
            .await;
        if res.is_err() {
            let _ = self.host.delete(&ep.host_ifname).await;
        }
        res
    }

    /// Points the container's default route at its route holder's gateway (or removes it).
    pub(crate) async fn fix_default_route(
        &self,
        state: &State,
        container: &str,
        ctr: &Netlink,
    ) -> Result<(), LinkError> {
        match route_holder(state, container) {
            // Idempotent: cheaper than reading the routes first to see whether it is needed.
            Some((n, _)) => ctr.set_default_route(n.gateway).await,
            None => ctr.clear_default_route().await,
        }
    }

    /// Re-creates the veth of an endpoint whose namespace still exists but whose host end is
    /// gone (bridge deleted and re-created, or host end deleted by hand).
    pub(crate) async fn heal_endpoint(
        &self,
        state: &State,
        n: &NetworkRecord,
        ep: &EndpointRecord,
    ) -> Result<(), LinkError> {
        // An attach in flight makes its veth itself.
        if ep.plumbing {
            return Ok(());
        }
        if let Some(host_end) = self.host.link(&ep.host_ifname).await? {
            // Deleting a bridge frees its ports without deleting them: re-enslave the host
            // end to the (re-created) bridge if needed.
            let bridge = self
                .host
                .index(&n.bridge)?
                .ok_or_else(|| LinkError::NotFound(n.bridge.clone()))?;
            if link::controller_of(&host_end) != Some(bridge) {
                self.host.set_controller(&ep.host_ifname, bridge).await?;
            }
            return Ok(());
        }
        if !ep.netns_path.exists() {
            return Ok(());
        }
        let ctr = Netlink::in_netns(&ep.netns_path)?;
        // Deleting the host end deletes the peer too (veth(4)); a stale eth of the same name
        // can therefore only be something else, which we leave alone.
        if ctr.index(&ep.ifname)?.is_some() {
            return Ok(());
        }
        self.plumb(n, ep, &ctr).await?;
        self.fix_default_route(state, &ep.container_id, &ctr).await
    }

    /// Removes a container from a network: veth gone, address freed, DNS names gone, ports
    /// published through that address dropped.
    pub async fn detach(&self, network: &str, container_id: &str) -> Result<()> {
        let mut state = self.state.lock().await;
        let n = state
            .find(network)
            .ok_or_else(|| NetdError::NetworkNotFound(network.into()))?
            .clone();
        if !n.endpoints.contains_key(container_id) {
            return Err(NetdError::NotAttached {
                network: n.name,
                container: container_id.into(),
            });
        }
        let ports_before = state.published.get(container_id).map(Vec::len);
        self.detach_locked(&mut state, &n.id, container_id).await?;
        self.save(&state)?;
        // The rules depend on networks and published ports only: a detach that dropped no
        // port leaves them as they are (resync still heals them), and spares a container's
        // removal a dozen iptables runs.
        if state.published.get(container_id).map(Vec::len) != ports_before {
            self.apply_firewall(&state, false).await?;
        }
        Ok(())
    }

    /// A renamed container (`container rename`): its old name gives way to the new one in
    /// every network's DNS, and links to it by the old name follow it, as Docker's rename
    /// renames the container's endpoints. Aliases and the short id stay.
    pub async fn rename_container(&self, container_id: &str, old: &str, new: &str) -> Result<()> {
        let mut state = self.state.lock().await;
        let mut changed = false;
        for n in state.networks.values_mut() {
            for ep in n.endpoints.values_mut() {
                if ep.container_id == container_id {
                    for name in ep.dns_names.iter_mut().filter(|d| d.as_str() == old) {
                        *name = new.to_string();
                        changed = true;
                    }
                }
                for (target, _) in ep.links.iter_mut().filter(|(t, _)| t.as_str() == old) {
                    *target = new.to_string();
                    changed = true;
                }
            }
        }
        if changed {
            self.save(&state)?;
            self.refresh_all_dns(&state).finish().await;
        }
        Ok(())
    }

    /// Everything of a container that is being removed: its addresses, DNS names and
    /// published ports go at once; its namespace pin is dropped, and with the namespace the
    /// kernel destroys its veth pairs on its own. Deleting each veth here instead would make
    /// every removal wait out an RCU grace period (unregister_netdevice -> synchronize_net,
    /// ~10-20 ms a device).
    pub async fn release_container(&self, container_id: &str) -> Result<()> {
        let mut host_ends = Vec::new();
        let (staged, names, rules) = {
            let mut state = self.state.lock().await;
            let had_ports = state.published.remove(container_id).is_some();
            let mut changed = had_ports;
            for n in state.networks.values_mut() {
                if let Some(ep) = n.endpoints.remove(container_id) {
                    host_ends.push(ep.host_ifname);
                    changed = true;
                }
            }
            let names = match changed {
                true => self.refresh_all_dns(&state),
                false => DnsPush::default(),
            };
            let staged = changed.then(|| self.saver.stage(&state));
            let rules = match had_ports {
                true => self.apply_firewall(&state, false).await,
                false => Ok(()),
            };
            (staged, names, rules)
        };
        // Written and pushed outside the lock: the containers of a stack going down at once
        // share a write (see Saver) and a push (see DnsPush). Not durable: a release only
        // frees (see Durability::Atomic).
        let saved = async {
            match staged {
                Some(gen) => self.write_staged(gen, Durability::Atomic).await,
                None => Ok(()),
            }
        };
        let (saved, ()) = tokio::join!(saved, names.finish());
        saved?;
        rules?;
        // The pairs would go with the container's namespace, but only once its last
        // reference is dropped, which the kernel does from a work queue (seconds behind under
        // load) or later if anything still holds it. Docker's bridge driver deletes the host
        // end itself too. In the background, batched (see link_reaper): each deletion waits
        // out an RCU grace period, which `down` need not wait for.
        self.reaper.delete(host_ends);
        match self.remove_netns(container_id).await {
            Ok(()) => Ok(()),
            // A container without a namespace of its own (host, none, container:X).
            Err(e) if !self.pin_path(container_id).exists() => {
                tracing::debug!(container = %container_id, error = %e, "no namespace to release");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn detach_locked(
        &self,
        state: &mut State,
        net_id: &str,
        container_id: &str,
    ) -> Result<()> {
        let n = state.networks.get_mut(net_id).unwrap();
        let Some(ep) = n.endpoints.remove(container_id) else {
            return Ok(());
        };
        let name = n.name.clone();
        let c = format!("detach container {container_id} from network {name}");
        self.host
            .delete(&ep.host_ifname)
            .await
            .map_err(ctx(c.clone(), e_link))?;
        if let Some(b) = state.published.get_mut(container_id) {
            b.retain(|b| b.container_ip != ep.ip);
            if b.is_empty() {
                state.published.remove(container_id);
            }
        }
        self.refresh_all_dns(state).finish().await;
        if ep.netns_path.exists() {
            // The default route may have gone with the veth; give it to the next holder.
            if let Ok(ctr) = Netlink::in_netns(&ep.netns_path) {
                if let Err(e) = self.fix_default_route(state, container_id, &ctr).await {
                    tracing::warn!(container = %container_id, error = %e, "move default route");
                }
            }
        }
        tracing::info!(network = %name, container = %container_id, "detached");
        Ok(())
    }

    /// Publishes ports of an attached container (added to what it already has).
    pub async fn publish(
        &self,
        container_id: &str,
        ports: &[PortSpec],
    ) -> Result<Vec<PortBinding>> {
        let mut state = self.state.lock().await;
        let (_, ep) = route_holder(&state, container_id)
            .or_else(|| {
                state
                    .networks
                    .values()
                    .filter(|n| !n.internal)
                    .find_map(|n| n.endpoints.get(container_id).map(|e| (n, e)))
            })
            .ok_or_else(|| NetdError::NoPublishAddress(container_id.into()))?;
        let cip = ep.ip;
        let mut taken: Vec<PortBinding> = state.published.values().flatten().cloned().collect();
        let mut new = Vec::new();
        for spec in ports {
            let host_ip = match spec.host_ip {
                None => Ipv4Addr::UNSPECIFIED,
                Some(IpAddr::V4(ip)) => ip,
                // netd is IPv4-only: an IPv6 host address has nothing to bind to.
                Some(IpAddr::V6(_)) => continue,
            };
            let clash = |taken: &[PortBinding], port: u16| {
                taken.iter().any(|b| {
                    b.protocol == spec.protocol
                        && b.host_port == port
                        && (b.host_ip == host_ip
                            || b.host_ip.is_unspecified()
                            || host_ip.is_unspecified())
                })
            };
            let (cf, cl) = spec.container_ports;
            for (i, cport) in (cf..=cl).enumerate() {
                let (first, last) = match spec.host_ports {
                    Some((hf, hl)) if hl - hf == cl - cf => (hf + i as u16, hf + i as u16),
                    Some((hf, hl)) => (hf, hl),
                    None => (49153, 65535),
                };
                // A port must be free of host listeners too, picked or asked for: DNAT
                // would silently steal their traffic. Docker's userland proxy refuses such a
                // port by failing to bind it; so does this probe.
                let port = (first..=last)
                    .find(|p| !clash(&taken, *p) && host_port_free(spec.protocol, host_ip, *p));
                let Some(port) = port else {
                    return Err(if first == last && clash(&taken, first) {
                        NetdError::PortInUse {
                            host_ip,
                            container: container_id.into(),
                            spec: format!("{host_ip}:{first}->{cport}"),
                            port: first,
                            protocol: spec.protocol,
                        }
                    } else if first == last {
                        NetdError::HostPortBusy {
                            container: container_id.into(),
                            host_ip,
                            port: first,
                            protocol: spec.protocol,
                        }
                    } else {
                        NetdError::NoFreePort {
                            container: container_id.into(),
                            first,
                            last,
                        }
                    });
                };
                let b = PortBinding {
                    container_id: container_id.into(),
                    protocol: spec.protocol,
                    host_ip,
                    host_port: port,
                    container_ip: cip,
                    container_port: cport,
                };
                taken.push(b.clone());
                new.push(b);
            }
        }
        state
            .published
            .entry(container_id.into())
            .or_default()
            .extend(new.iter().cloned());
        let done = match self.apply_firewall(&state, false).await {
            Ok(()) => self.save(&state),
            Err(e) => Err(e),
        };
        if let Err(e) = done {
            let mine = state.published.get_mut(container_id).unwrap();
            mine.truncate(mine.len() - new.len());
            if mine.is_empty() {
                state.published.remove(container_id);
            }
            let _ = self.apply_firewall(&state, false).await;
            return Err(e);
        }
        Ok(new)
    }

    /// Removes every published port of a container.
    pub async fn unpublish(&self, container_id: &str) -> Result<()> {
        let mut state = self.state.lock().await;
        // Nothing published, nothing to rewrite (see detach).
        if state.published.remove(container_id).is_some() {
            self.save(&state)?;
            self.apply_firewall(&state, false).await?;
        }
        Ok(())
    }

    /// The bindings currently published for a container.
    pub async fn published(&self, container_id: &str) -> Vec<PortBinding> {
        self.state
            .lock()
            .await
            .published
            .get(container_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Content for the container's /etc/resolv.conf: the gateways of its networks, the
    /// default-route network first.
    pub async fn resolv_conf(&self, container_id: &str) -> String {
        let state = self.state.lock().await;
        let mut eps: Vec<(&NetworkRecord, &EndpointRecord)> = state
            .networks
            .values()
            .filter_map(|n| n.endpoints.get(container_id).map(|e| (n, e)))
            .collect();
        eps.sort_by(|a, b| {
            b.1.gateway_priority
                .cmp(&a.1.gateway_priority)
                .then(a.1.seq.cmp(&b.1.seq))
        });
        let ns: Vec<Ipv4Addr> = eps.iter().map(|(n, _)| n.gateway).collect();
        render_resolv_conf(&ns, &[], &[])
    }
}
