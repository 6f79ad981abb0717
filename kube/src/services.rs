//! ports, expose, aliases, links and container_name -> Services.
//!
//! Every service on a stack network gets a headless Service named after it: its DNS name then
//! answers with the addresses of its ready pods, as Compose's DNS answers with its
//! containers', and every port is reachable, as on a Compose network. Network aliases, link
//! aliases and container_name are more headless Services selecting the same pods. With
//! `--expose nodeport|loadbalancer`, a service's published ports are also put on a
//! `NAME-published` Service of that type.

use crate::generate::Ctx;
use crate::{names, Expose};
use berth_compose::loader::Service as ComposeService;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{BTreeSet, HashMap};

/// The lowest and highest node port of a default cluster (kube-apiserver
/// --service-node-port-range).
const NODE_PORTS: std::ops::RangeInclusive<i32> = 30000..=32767;

/// Does the service have a network of its own (and so a DNS name)?
pub(crate) fn has_service(svc: &ComposeService) -> bool {
    matches!(svc.network_mode.as_deref(), None | Some("bridge"))
}

/// (port, protocol) pairs reachable on the service's pods: published targets and `expose`.
fn internal_ports(cx: &mut Ctx, s: &str, svc: &ComposeService) -> Vec<(i32, String)> {
    let mut out: Vec<(i32, String)> = vec![];
    let mut add = |p: i32, proto: String| {
        if !out.contains(&(p, proto.clone())) {
            out.push((p, proto));
        }
    };
    for p in &svc.ports {
        add(
            p.target as i32,
            p.protocol.as_deref().unwrap_or("tcp").to_ascii_uppercase(),
        );
    }
    for (i, e) in svc.expose.iter().enumerate() {
        let (range, proto) = e.split_once('/').unwrap_or((e.as_str(), "tcp"));
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        match (a.parse::<i32>(), b.parse::<i32>()) {
            (Ok(a), Ok(b)) if a <= b && b - a < 1000 => {
                for p in a..=b {
                    add(p, proto.to_ascii_uppercase());
                }
            }
            _ => cx.w.service(
                s,
                format!("expose[{i}]"),
                format!("{e:?} is not a port or range and is left out"),
            ),
        }
    }
    out
}

fn port(name: String, port: i32, target: i32, proto: &str) -> ServicePort {
    ServicePort {
        name: Some(name),
        port,
        target_port: Some(IntOrString::Int(target)),
        protocol: Some(proto.to_string()),
        ..ServicePort::default()
    }
}

fn headless(cx: &Ctx, name: &str, s: &str, ports: &[ServicePort]) -> Service {
    Service {
        metadata: cx.meta(name, Some(s)),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(cx.selector(s)),
            ports: (!ports.is_empty()).then(|| ports.to_vec()),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// Makes every service's Services.
pub(crate) fn export(cx: &mut Ctx) {
    // Kubernetes names are per namespace; Compose aliases are per network. The first claim
    // of a name wins, in file order, services' own names first.
    let mut taken: HashMap<String, String> = cx
        .names
        .iter()
        .filter(|(s, _)| has_service(&cx.p.services[*s]))
        .map(|(s, n)| (n.clone(), s.clone()))
        .collect();
    // `links: [db:database]` on another service: that one reaches db as "database".
    let mut linked: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for o in &cx.selected {
        for l in &cx.p.services[o].links {
            if let Some((target, alias)) = l.split_once(':') {
                if target != alias {
                    linked
                        .entry(target.to_string())
                        .or_default()
                        .push((alias.to_string(), format!("links (of {o})")));
                }
            }
        }
    }
    for s in cx.selected.clone() {
        let svc = &cx.p.services[&s];
        if !has_service(svc) {
            continue;
        }
        let name = cx.names[&s].clone();
        let internal = internal_ports(cx, &s, svc);
        let ports: Vec<ServicePort> = internal
            .iter()
            .map(|(p, proto)| port(format!("{}-{p}", proto.to_ascii_lowercase()), *p, *p, proto))
            .collect();
        cx.push(headless(cx, &name, &s, &ports));
        for (alias, key) in aliases(cx, &s, linked.get(&s)) {
            match names::service_name(&alias) {
                Some(n) if n == alias => match taken.get(&n) {
                    Some(owner) if *owner == s => {}
                    Some(owner) => cx.w.service(&s, key, format!("{alias:?} is already the name of {owner}'s Service (Kubernetes names are per namespace, not per network); it is left out")),
                    None => {
                        taken.insert(n.clone(), s.clone());
                        cx.push(headless(cx, &n, &s, &ports));
                    }
                },
                _ => cx.w.service(&s, key, format!("{alias:?} is not a DNS-1035 label, which a Service name must be; it is left out")),
            }
        }
        published(cx, &s, svc, &name);
    }
}

/// The other names a service answers to, with the key that gives each.
fn aliases(cx: &Ctx, s: &str, linked: Option<&Vec<(String, String)>>) -> Vec<(String, String)> {
    let svc = &cx.p.services[s];
    let mut out = vec![];
    for (net, ep) in &svc.networks {
        for a in ep.iter().flat_map(|e| e.aliases.iter()) {
            out.push((a.clone(), format!("networks.{net}.aliases")));
        }
    }
    if let Some(c) = &svc.container_name {
        out.push((c.clone(), "container_name".into()));
    }
    out.extend(linked.into_iter().flatten().cloned());
    let mut seen = BTreeSet::new();
    out.retain(|(a, _)| a != s && seen.insert(a.clone()));
    out
}

/// The `NAME-published` Service of type NodePort or LoadBalancer, for `--expose`.
fn published(cx: &mut Ctx, s: &str, svc: &ComposeService, name: &str) {
    let mut ports: Vec<ServicePort> = vec![];
    for (i, p) in svc.ports.iter().enumerate() {
        let key = format!("ports[{i}]");
        let loopback = p
            .host_ip
            .as_deref()
            .is_some_and(|ip| ip.starts_with("127.") || ip == "::1" || ip == "localhost");
        if loopback {
            if cx.o.expose != Expose::ClusterIp {
                cx.w.service(
                    s,
                    key,
                    format!(
                        "is published on {} only: it stays inside the cluster",
                        p.host_ip.as_deref().unwrap_or("")
                    ),
                );
            }
            continue;
        }
        if cx.o.expose == Expose::ClusterIp {
            continue;
        }
        if let Some(ip) = p
            .host_ip
            .as_deref()
            .filter(|ip| !matches!(*ip, "0.0.0.0" | "::" | ""))
        {
            cx.w.service(
                s,
                format!("{key}.host_ip"),
                format!("{ip}: a Service listens on every node address (or the load balancer's)"),
            );
        }
        let proto = p.protocol.as_deref().unwrap_or("tcp").to_ascii_uppercase();
        let target = p.target as i32;
        let published = match p.published.as_deref() {
            None => None,
            Some(v) => {
                let first = v.split('-').next().unwrap_or(v);
                if first != v {
                    cx.w.service(
                        s,
                        format!("{key}.published"),
                        format!("the range {v} becomes its first port, {first}"),
                    );
                }
                first.parse::<i32>().ok()
            }
        };
        let number = published.unwrap_or(target);
        if ports
            .iter()
            .any(|q| q.port == number && q.protocol.as_deref() == Some(proto.as_str()))
        {
            continue;
        }
        let mut sp = port(
            format!("{}-{number}", proto.to_ascii_lowercase()),
            number,
            target,
            &proto,
        );
        if cx.o.expose == Expose::NodePort {
            match published {
                Some(n) if NODE_PORTS.contains(&n) => sp.node_port = Some(n),
                Some(n) => cx.w.service(
                    s,
                    format!("{key}.published"),
                    format!(
                        "{n} is outside the node-port range {}-{}: the cluster picks the node port",
                        NODE_PORTS.start(),
                        NODE_PORTS.end()
                    ),
                ),
                None => {}
            }
        }
        ports.push(sp);
    }
    if ports.is_empty() {
        return;
    }
    let type_ = match cx.o.expose {
        Expose::NodePort => "NodePort",
        _ => "LoadBalancer",
    };
    let name = format!("{name}-published");
    cx.push(Service {
        metadata: cx.meta(&name, Some(s)),
        spec: Some(ServiceSpec {
            type_: Some(type_.into()),
            selector: Some(cx.selector(s)),
            ports: Some(ports),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    });
}
