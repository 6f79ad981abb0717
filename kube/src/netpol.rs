//! networks -> NetworkPolicies: pods on a common stack network may talk, others may not.
//!
//! Each pod is labelled with its networks (`berth.kube/net.NAME: "true"`). Per network, a
//! policy selects its pods and admits ingress from pods of the same network; a pod on two
//! networks is selected by both and admits the union, as a container on two Compose networks
//! is reachable from both. Published ports admit ingress from anywhere, as a published port
//! does. `network_mode: none` denies everything; a service whose networks are all `internal`
//! may only send to its networks' pods (and DNS), as an internal network has no way out.

use crate::generate::Ctx;
use crate::object::NETWORK_LABEL_PREFIX;
use crate::workload::{pod_networks, split_labels};
use crate::{deps, names, Error};
use berth_compose::network_name;
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

fn members(cx: &Ctx, net: &str) -> LabelSelector {
    let mut l = BTreeMap::from([(crate::object::PROJECT_LABEL.to_string(), cx.p.name.clone())]);
    l.insert(format!("{NETWORK_LABEL_PREFIX}{net}"), "true".into());
    LabelSelector {
        match_labels: Some(l),
        ..LabelSelector::default()
    }
}

fn of_service(cx: &Ctx, s: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(cx.selector(s)),
        ..LabelSelector::default()
    }
}

fn policy(cx: &Ctx, name: &str, service: Option<&str>, spec: NetworkPolicySpec) -> NetworkPolicy {
    NetworkPolicy {
        metadata: cx.meta(name, service),
        spec: Some(spec),
    }
}

fn port(p: i32, proto: &str) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(p)),
        protocol: Some(proto.to_string()),
        ..NetworkPolicyPort::default()
    }
}

pub(crate) fn export(cx: &mut Ctx) -> Result<(), Error> {
    // The networks in use, in the order the project declares them.
    let used: Vec<String> =
        cx.p.networks
            .keys()
            .filter(|n| cx.selected.iter().any(|s| pod_networks(cx, s).contains(n)))
            .cloned()
            .collect();
    for net in &used {
        let label = format!("{NETWORK_LABEL_PREFIX}{net}");
        if !names::is_qualified_name(&label) {
            return Err(Error::BadName {
                what: "network",
                name: net.clone(),
                why: format!("its pod label {label:?} is not a valid label key (at most 63 characters after the /)"),
            });
        }
        let name = names::subdomain(&network_name(cx.p, net)).ok_or_else(|| Error::BadName {
            what: "network",
            name: net.clone(),
            why: "no valid object name".into(),
        })?;
        let mut np = policy(
            cx,
            &name,
            None,
            NetworkPolicySpec {
                pod_selector: Some(members(cx, net)),
                policy_types: Some(vec!["Ingress".into()]),
                ingress: Some(vec![NetworkPolicyIngressRule {
                    from: Some(vec![NetworkPolicyPeer {
                        pod_selector: Some(members(cx, net)),
                        ..NetworkPolicyPeer::default()
                    }]),
                    ..NetworkPolicyIngressRule::default()
                }]),
                ..NetworkPolicySpec::default()
            },
        );
        let (labels, annotations) = split_labels(&cx.p.networks[net].labels);
        np.metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .extend(labels);
        if !annotations.is_empty() {
            np.metadata.annotations = Some(annotations);
        }
        cx.push(np);
    }
    for s in cx.selected.clone() {
        let svc = &cx.p.services[&s];
        let name = cx.names[&s].clone();
        if svc.network_mode.as_deref() == Some("none") {
            let np = policy(
                cx,
                &format!("{name}-isolated"),
                Some(&s),
                NetworkPolicySpec {
                    pod_selector: Some(of_service(cx, &s)),
                    policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
                    ..NetworkPolicySpec::default()
                },
            );
            cx.push(np);
            continue;
        }
        let nets = pod_networks(cx, &s);
        if nets.is_empty() {
            continue; // host network: policies do not apply
        }
        let public: Vec<NetworkPolicyPort> = svc
            .ports
            .iter()
            .filter(|p| {
                !p.host_ip
                    .as_deref()
                    .is_some_and(|ip| ip.starts_with("127.") || ip == "::1")
            })
            .map(|p| {
                port(
                    p.target as i32,
                    &p.protocol.as_deref().unwrap_or("tcp").to_ascii_uppercase(),
                )
            })
            .collect();
        let internal_only = nets.iter().all(|n| {
            cx.p.networks
                .get(n)
                .is_some_and(|d| d.internal == Some(true))
        });
        if !public.is_empty() && !internal_only {
            let np = policy(
                cx,
                &format!("{name}-published"),
                Some(&s),
                NetworkPolicySpec {
                    pod_selector: Some(of_service(cx, &s)),
                    policy_types: Some(vec!["Ingress".into()]),
                    ingress: Some(vec![NetworkPolicyIngressRule {
                        ports: Some(public),
                        from: None,
                    }]),
                    ..NetworkPolicySpec::default()
                },
            );
            cx.push(np);
        }
        if internal_only {
            let mut rules = vec![
                NetworkPolicyEgressRule {
                    to: Some(
                        nets.iter()
                            .map(|n| NetworkPolicyPeer {
                                pod_selector: Some(members(cx, n)),
                                ..NetworkPolicyPeer::default()
                            })
                            .collect(),
                    ),
                    ports: None,
                },
                // Names are resolved by the cluster's DNS, wherever it runs.
                NetworkPolicyEgressRule {
                    to: None,
                    ports: Some(vec![port(53, "UDP"), port(53, "TCP")]),
                },
            ];
            if deps::has_waits(cx, &s) {
                cx.w.service(&s, "depends_on", "waits ask the Kubernetes API, so this service on internal networks only may also reach ports 443 and 6443 anywhere");
                rules.push(NetworkPolicyEgressRule {
                    to: None,
                    ports: Some(vec![port(443, "TCP"), port(6443, "TCP")]),
                });
            }
            if !svc.ports.is_empty() {
                cx.w.service(
                    &s,
                    "ports",
                    "are not published: the service is on internal networks only",
                );
            }
            let np = policy(
                cx,
                &format!("{name}-internal"),
                Some(&s),
                NetworkPolicySpec {
                    pod_selector: Some(of_service(cx, &s)),
                    policy_types: Some(vec!["Egress".into()]),
                    egress: Some(rules),
                    ..NetworkPolicySpec::default()
                },
            );
            cx.push(np);
        }
    }
    Ok(())
}
