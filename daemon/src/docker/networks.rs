//! Network routes in Docker's shapes: list (with filters), inspect, create (IPAM config,
//! internal, labels, the bridge driver), remove, connect, disconnect, prune. Networks are
//! netd's; `host` and `none` are Docker's built-in modes, listed as Docker lists them.

use super::super::api_networks::{self, Connect, CreateNetwork};
use super::super::http::{self, ApiError, ApiResult, Query};
use super::super::networks::DEFAULT_NETWORK;
use super::create_body::EndpointSettings;
use super::filters::Filters;
use super::Door;
use berth_netd::NetworkInfo;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct CreateBody {
    name: Option<String>,
    check_duplicate: Option<bool>,
    driver: Option<String>,
    scope: Option<String>,
    internal: Option<bool>,
    attachable: Option<bool>,
    ingress: Option<bool>,
    config_only: Option<bool>,
    config_from: Option<Value>,
    #[serde(rename = "IPAM")]
    ipam: Option<Ipam>,
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: Option<bool>,
    #[serde(rename = "EnableIPv4")]
    enable_ipv4: Option<bool>,
    options: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct Ipam {
    driver: Option<String>,
    config: Option<Vec<IpamPool>>,
    options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct IpamPool {
    subnet: Option<String>,
    #[serde(rename = "IPRange")]
    ip_range: Option<String>,
    gateway: Option<String>,
    auxiliary_addresses: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct ConnectBody {
    container: Option<String>,
    endpoint_config: Option<EndpointSettings>,
    force: Option<bool>,
}

/// Docker's description of a netd network.
async fn describe(door: &Door, n: &NetworkInfo) -> Value {
    let mut containers = Map::new();
    for e in &n.endpoints {
        let name = match door.d.containers.get(&e.container_id).await {
            Ok(c) => c.name(),
            Err(_) => String::new(),
        };
        containers.insert(
            e.container_id.clone(),
            json!({ "Name": name, "EndpointID": format!("{}{}", &e.container_id[..16.min(e.container_id.len())], &n.id[..16.min(n.id.len())]),
                    "MacAddress": e.mac, "IPv4Address": format!("{}/{}", e.ip, n.subnet.prefix()), "IPv6Address": "" }),
        );
    }
    let mut pool = json!({ "Subnet": n.subnet.to_string(), "Gateway": n.gateway.to_string() });
    if let Some(r) = &n.ip_range {
        pool["IPRange"] = json!(r.to_string());
    }
    let created = chrono::DateTime::from_timestamp(n.created as i64, 0).unwrap_or_default();
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": created.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv6": false,
        "IPAM": { "Driver": "default", "Options": null, "Config": [pool] },
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": containers,
        "Options": { "com.docker.network.bridge.name": n.bridge, "com.docker.network.driver.mtu": n.mtu.to_string() },
        "Labels": n.labels,
    })
}

/// Docker's built-in `host` and `none` (and `bridge` until berth's default network exists).
fn builtin(name: &str) -> Value {
    json!({
        "Name": name, "Id": format!("{:0<64}", hex_of(name)), "Created": "0001-01-01T00:00:00Z", "Scope": "local",
        "Driver": if name == "bridge" { "bridge" } else { name }, "EnableIPv6": false,
        "IPAM": { "Driver": "default", "Options": null, "Config": [] }, "Internal": false, "Attachable": false,
        "Ingress": false, "ConfigFrom": { "Network": "" }, "ConfigOnly": false, "Containers": {}, "Options": {}, "Labels": {},
    })
}

fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

async fn all(door: &Door) -> Vec<Value> {
    let mut out = Vec::new();
    let nets = door.d.nets.netd.list().await;
    for n in &nets {
        out.push(describe(door, n).await);
    }
    if !nets.iter().any(|n| n.name == DEFAULT_NETWORK) {
        out.push(builtin(DEFAULT_NETWORK));
    }
    out.push(builtin("host"));
    out.push(builtin("none"));
    out
}

/// A network by id, id prefix or name, or Docker's 404.
async fn find(door: &Door, r: &str) -> Result<Value, ApiError> {
    for n in all(door).await {
        let id = n["Id"].as_str().unwrap_or("");
        if n["Name"] == r || id == r || (r.len() >= 3 && id.starts_with(r)) {
            return Ok(n);
        }
    }
    Err(ApiError::not_found(format!("network {r} not found")))
}

pub async fn route(
    door: &Arc<Door>,
    m: &Method,
    segs: &[&str],
    q: &Query,
    req: Request<Incoming>,
) -> ApiResult {
    let d = &door.d;
    match (m, segs) {
        (&Method::GET, []) => {
            let f = Filters::parse(
                q,
                &["dangling", "driver", "id", "label", "name", "scope", "type"],
            )?;
            let list: Vec<Value> = all(door)
                .await
                .into_iter()
                .filter(|n| {
                    let any = |k: &str, t: &dyn Fn(&str) -> bool| {
                        f.values(k).is_empty() || f.values(k).iter().any(|x| t(x))
                    };
                    let name = n["Name"].as_str().unwrap_or("");
                    let id = n["Id"].as_str().unwrap_or("");
                    let custom = !["bridge", "host", "none"].contains(&name);
                    let labels: BTreeMap<String, String> =
                        serde_json::from_value(n["Labels"].clone()).unwrap_or_default();
                    any("name", &|x| name.contains(x))
                        && any("id", &|x| id.starts_with(x))
                        && any("driver", &|x| n["Driver"] == x)
                        && any("scope", &|x| x == "local")
                        && any("type", &|x| (x == "custom") == custom)
                        && any("dangling", &|x| {
                            (x == "true")
                                == n["Containers"].as_object().is_none_or(|c| c.is_empty())
                        })
                        && f.labels_match(&labels)
                })
                .collect();
            http::json(&list)
        }
        (&Method::POST, ["create"]) => {
            let body: CreateBody = super::read_json(req).await?;
            create(door, body).await
        }
        (&Method::POST, ["prune"]) => {
            let f = Filters::parse(q, &["label", "label!", "until"])?;
            let mut deleted = Vec::new();
            for n in d.nets.netd.list().await {
                if n.endpoints.is_empty()
                    && n.name != DEFAULT_NETWORK
                    && f.prunable(&n.labels, Some(n.created as i64))?
                    && d.nets.remove_network(&n).await.is_ok()
                {
                    deleted.push(n.name);
                }
            }
            http::json(&json!({ "NetworksDeleted": deleted }))
        }
        (&Method::GET, [r]) => http::json(&find(door, r).await?),
        (&Method::DELETE, [r]) => {
            let n = find(door, r).await?;
            let name = n["Name"].as_str().unwrap_or("").to_string();
            if ["host", "none"].contains(&name.as_str())
                || (name == DEFAULT_NETWORK
                    && n["IPAM"]["Config"].as_array().is_none_or(|c| c.is_empty()))
            {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!("{name} is a pre-defined network and cannot be removed"),
                ));
            }
            api_networks::remove(d, &name).await
        }
        (&Method::POST, [r, op @ ("connect" | "disconnect")]) => {
            let body: ConnectBody = super::read_json(req).await?;
            let n = find(door, r).await?;
            let name = n["Name"].as_str().unwrap_or("").to_string();
            let container = body.container.unwrap_or_default();
            let ctr = super::containers::get(door, &container).await?;
            let ep = body.endpoint_config.unwrap_or_default();
            let c = Connect {
                container: ctr.id.clone(),
                ipv4_address: ep
                    .ipam_config
                    .and_then(|i| i.ipv4_address)
                    .filter(|a| !a.is_empty()),
                aliases: ep.aliases.unwrap_or_default(),
                force: body.force.unwrap_or(false),
            };
            if *op == "connect" {
                api_networks::connect(d, &name, c).await?;
            } else {
                api_networks::disconnect(d, &name, c).await?;
            }
            let mut reply = http::empty()?;
            *reply.status_mut() = StatusCode::OK;
            Ok(reply)
        }
        _ => Err(ApiError::not_found("page not found")),
    }
}

async fn create(door: &Door, b: CreateBody) -> ApiResult {
    let name = b
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("network name must not be empty"))?;
    if ["bridge", "host", "none"].contains(&name.as_str()) && name != DEFAULT_NETWORK {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{name} is a pre-defined network and cannot be created"),
        ));
    }
    match b.driver.as_deref().unwrap_or("") {
        "" | "bridge" => {}
        other => {
            return Err(ApiError::bad_request(format!(
                "network driver {other} is not supported by berth (bridge only)"
            )))
        }
    }
    let mut warnings = Vec::new();
    if b.enable_ipv6.unwrap_or(false) {
        return Err(ApiError::bad_request(
            "IPv6 networks are not supported by berth",
        ));
    }
    if b.enable_ipv4 == Some(false)
        || b.config_only.unwrap_or(false)
        || b.ingress.unwrap_or(false)
        || b.config_from
            .as_ref()
            .is_some_and(|c| !c.is_null() && c["Network"] != "")
    {
        return Err(ApiError::bad_request("berth networks are IPv4 bridges: EnableIPv4=false, ConfigOnly, ConfigFrom and Ingress are not supported"));
    }
    let _ = (b.check_duplicate, b.scope, b.attachable);
    let mut mtu = None;
    for (k, v) in b.options.unwrap_or_default() {
        match k.as_str() {
            "com.docker.network.driver.mtu" => {
                mtu = Some(
                    v.parse()
                        .map_err(|_| ApiError::bad_request(format!("invalid MTU {v}")))?,
                )
            }
            _ => warnings.push(format!(
                "network option {k} is not supported by berth and was ignored"
            )),
        }
    }
    let ipam = b.ipam.unwrap_or_default();
    if let Some(dr) = ipam
        .driver
        .as_deref()
        .filter(|d| !d.is_empty() && *d != "default")
    {
        return Err(ApiError::bad_request(format!(
            "IPAM driver {dr} is not supported by berth"
        )));
    }
    if ipam.options.as_ref().is_some_and(|o| !o.is_empty()) {
        warnings.push("IPAM options are not supported by berth and were ignored".into());
    }
    let pools = ipam.config.unwrap_or_default();
    if pools.len() > 1 {
        return Err(ApiError::bad_request("berth networks take one IPAM pool"));
    }
    let pool = pools.into_iter().next().unwrap_or_default();
    if pool
        .auxiliary_addresses
        .as_ref()
        .is_some_and(|a| !a.is_empty())
    {
        warnings.push("IPAM AuxiliaryAddresses are not supported by berth and were ignored".into());
    }
    let req = CreateNetwork {
        name: name.clone(),
        subnet: pool.subnet,
        gateway: pool.gateway,
        ip_range: pool.ip_range,
        internal: b.internal.unwrap_or(false),
        mtu,
        labels: b.labels.unwrap_or_default(),
    };
    api_networks::create(&door.d, req).await.map_err(|e| {
        if e.status == StatusCode::CONFLICT && e.message.contains("exist") {
            ApiError::conflict(format!("network with name {name} already exists"))
        } else {
            e
        }
    })?;
    let info = door.d.nets.netd.inspect(&name).await?;
    let mut reply = http::json(&json!({ "Id": info.id, "Warning": warnings.join("; ") }))?;
    *reply.status_mut() = StatusCode::CREATED;
    Ok(reply)
}
