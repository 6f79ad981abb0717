//! Network routes: create, list, inspect, remove, prune, connect, disconnect; and a
//! container's network settings and published ports.

use super::containers::Ctr;
use super::http::{self, ApiError, ApiResult, Query};
use super::networks::DEFAULT_NETWORK;
use super::Daemon;
use berth_engine::container::{NetworkEndpoint, Status};
use berth_netd::{AttachRequest, NetworkSpec};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
pub struct CreateNetwork {
    pub name: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    #[serde(rename = "IPRange")]
    pub ip_range: Option<String>,
    pub internal: bool,
    #[serde(rename = "MTU")]
    pub mtu: Option<u32>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
pub struct Connect {
    pub container: String,
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: Option<String>,
    pub aliases: Vec<String>,
    pub force: bool,
}

fn parse<T: std::str::FromStr>(v: &Option<String>, what: &str) -> Result<Option<T>, ApiError> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<T>()
                .map_err(|_| ApiError::bad_request(format!("invalid {what}: {s}")))
        })
        .transpose()
}

pub async fn create(d: &Daemon, body: CreateNetwork) -> ApiResult {
    if body.name.is_empty() {
        return Err(ApiError::bad_request("a network needs a name"));
    }
    let spec = NetworkSpec {
        name: body.name,
        subnet: parse(&body.subnet, "subnet")?,
        gateway: parse(&body.gateway, "gateway")?,
        ip_range: parse(&body.ip_range, "ip range")?,
        internal: body.internal,
        mtu: body.mtu,
        labels: body.labels,
    };
    http::json(&d.nets.create_network(spec).await?)
}

pub async fn remove(d: &Daemon, name: &str) -> ApiResult {
    let info = d.nets.netd.inspect(name).await?;
    if !info.endpoints.is_empty() {
        return Err(ApiError::conflict(format!(
            "error while removing network: network {} has active endpoints",
            info.name
        )));
    }
    d.nets.remove_network(&info).await?;
    http::empty()
}

pub async fn prune(d: &Daemon) -> ApiResult {
    let mut removed = Vec::new();
    for n in d.nets.netd.list().await {
        if n.endpoints.is_empty()
            && n.name != DEFAULT_NETWORK
            && d.nets.remove_network(&n).await.is_ok()
        {
            removed.push(n.name);
        }
    }
    http::json(&removed)
}

pub async fn connect(d: &Arc<Daemon>, net: &str, body: Connect) -> ApiResult {
    let info = d.nets.netd.inspect(net).await?;
    let ctr = d.containers.get(&body.container).await?;
    let mut rec = ctr.rec.lock().await;
    if !rec.config.network_mode.is_empty() {
        return Err(ApiError::bad_request(format!("container sharing network namespace with another container or host cannot be connected to any other network ({})", rec.config.network_mode)));
    }
    if rec.config.networks.is_empty() {
        rec.config.networks.push(NetworkEndpoint {
            name: DEFAULT_NETWORK.into(),
            ..Default::default()
        });
    }
    if rec
        .config
        .networks
        .iter()
        .any(|e| e.name == info.name || e.name == info.id)
    {
        return Err(ApiError::conflict(format!(
            "endpoint with name {} already exists in network {}",
            rec.config.name, info.name
        )));
    }
    let ep = NetworkEndpoint {
        name: info.name.clone(),
        aliases: body.aliases.clone(),
        ipv4_address: body.ipv4_address.clone(),
        priority: 0,
    };
    let netns = berth_netd::netns_path(&d.containers.run_dir, &rec.id);
    if netns.exists() {
        let mut dns_names = vec![rec.config.name.clone(), rec.id[..12].to_string()];
        dns_names.extend(body.aliases.iter().cloned());
        let ipv4 = parse(&body.ipv4_address, "IPv4 address")?;
        let req = AttachRequest {
            container_id: rec.id.clone(),
            netns_path: netns,
            ipv4,
            preferred_ipv4: None,
            dns_names,
            gateway_priority: -100,
            links: Vec::new(),
        };
        d.nets.netd.attach(&info.name, req).await?;
        d.nets.tell("connect", &info.id, &rec.id).await;
    }
    rec.config.networks.push(ep);
    berth_engine::fsutil::write_json(&d.containers.layout(&rec.id).record(), &*rec)?;
    http::empty()
}

pub async fn disconnect(d: &Arc<Daemon>, net: &str, body: Connect) -> ApiResult {
    let info = d.nets.netd.inspect(net).await?;
    let ctr = d.containers.get(&body.container).await?;
    let mut rec = ctr.rec.lock().await;
    let attached = info.endpoints.iter().any(|e| e.container_id == rec.id);
    let configured = super::networks::endpoints_of(&rec)
        .iter()
        .any(|e| e.name == info.name);
    if !attached && !configured {
        return Err(ApiError::bad_request(format!(
            "container {} is not connected to network {}",
            rec.config.name, info.name
        )));
    }
    if attached {
        d.nets.netd.detach(&info.id, &rec.id).await?;
        d.nets.tell("disconnect", &info.id, &rec.id).await;
    }
    if rec.config.networks.is_empty() {
        rec.config.networks.push(NetworkEndpoint {
            name: DEFAULT_NETWORK.into(),
            ..Default::default()
        });
    }
    rec.config
        .networks
        .retain(|e| e.name != info.name && e.name != info.id);
    if rec.config.networks.is_empty() {
        // Docker leaves a container with no network at all; so do we.
        rec.config.network_mode = "none".into();
    }
    berth_engine::fsutil::write_json(&d.containers.layout(&rec.id).record(), &*rec)?;
    http::empty()
}

/// `NetworkSettings` of `docker inspect`: per network address, gateway, MAC, aliases; ports.
pub async fn settings(d: &Daemon, id: &str, aliases: &[NetworkEndpoint]) -> Value {
    let mut networks = serde_json::Map::new();
    for n in d.nets.netd.list().await {
        if let Some(e) = n.endpoints.iter().find(|e| e.container_id == id) {
            let al = aliases
                .iter()
                .find(|a| a.name == n.name)
                .map(|a| a.aliases.clone())
                .unwrap_or_default();
            networks.insert(
                n.name.clone(),
                json!({
                    "NetworkID": n.id, "IPAddress": e.ip.to_string(), "IPPrefixLen": n.subnet.prefix(),
                    "Gateway": n.gateway.to_string(), "MacAddress": e.mac, "Aliases": al, "DNSNames": e.dns_names,
                }),
            );
        }
    }
    let mut ports: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for p in d.nets.netd.published(id).await {
        let proto = format!("{:?}", p.protocol).to_lowercase();
        ports
            .entry(format!("{}/{proto}", p.container_port))
            .or_default()
            .push(json!({ "HostIp": p.host_ip.to_string(), "HostPort": p.host_port.to_string() }));
    }
    json!({ "Networks": networks, "Ports": ports })
}

pub async fn port(d: &Daemon, ctr: &Ctr) -> ApiResult {
    let id = ctr.id.clone();
    if ctr.rec.lock().await.state.status != Status::Running {
        return Err(ApiError::conflict(format!(
            "container {} is not running",
            &id[..12]
        )));
    }
    http::json(&d.nets.netd.published(&id).await)
}

pub async fn route(
    d: &Arc<Daemon>,
    m: &hyper::Method,
    rest: &[&str],
    _q: &Query,
    body: bytes::Bytes,
) -> ApiResult {
    use hyper::Method;
    let json_body = |b: &bytes::Bytes| -> Result<Connect, ApiError> {
        if b.is_empty() {
            return Ok(Connect::default());
        }
        serde_json::from_slice(b)
            .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
    };
    match (m, rest) {
        (&Method::GET, []) => http::json(&d.nets.netd.list().await),
        (&Method::POST, []) => {
            let req: CreateNetwork = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))?;
            create(d, req).await
        }
        (&Method::POST, ["prune"]) => prune(d).await,
        (&Method::GET, [n]) => http::json(&d.nets.netd.inspect(n).await?),
        (&Method::DELETE, [n]) => remove(d, n).await,
        (&Method::POST, [n, "connect"]) => connect(d, n, json_body(&body)?).await,
        (&Method::POST, [n, "disconnect"]) => disconnect(d, n, json_body(&body)?).await,
        _ => Err(ApiError::not_found(format!(
            "no route for {m} /networks/{}",
            rest.join("/")
        ))),
    }
}
