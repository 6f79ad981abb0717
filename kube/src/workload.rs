//! What runs a service: a Deployment, a Job (a one-shot service) or a DaemonSet (deploy.mode
//! global), and the pod they run.

use crate::generate::Ctx;
use crate::object::NETWORK_LABEL_PREFIX;
use crate::{container, deps, names, storage, Error};
use berth_compose::loader::Service;
use berth_compose::parse_duration_secs;
use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, Deployment, DeploymentSpec, DeploymentStrategy,
};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    HostAlias, PodDNSConfig, PodDNSConfigOption, PodSecurityContext, PodSpec, PodTemplateSpec,
    SeccompProfile, Sysctl,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use std::collections::BTreeMap;

/// The controller kind a service becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Deployment,
    DaemonSet,
    /// A one-shot service: `on_failure` retries up to `backoff` times, else it runs once.
    Job {
        on_failure: bool,
        backoff: i32,
    },
}

/// The restart policy a service asks for, in Compose's words (`no`, `always`,
/// `on-failure[:N]`, `unless-stopped`), from `restart` or `deploy.restart_policy`; None when
/// neither is set (Compose then does not restart).
fn restart_of(svc: &Service) -> Option<(String, Option<u64>)> {
    if let Some(r) = &svc.restart {
        return Some(match r.split_once(':') {
            Some(("on-failure", n)) => ("on-failure".into(), n.parse().ok()),
            _ => (r.clone(), None),
        });
    }
    let rp = svc.deploy.as_ref()?.restart_policy.as_ref()?;
    let c = match rp.condition.as_deref() {
        Some("none") => "no",
        Some("on-failure") => "on-failure",
        _ => "always",
    };
    Some((c.into(), rp.max_attempts))
}

/// Decides what runs a service. A service is a Job when nothing can reach it (no ports, no
/// expose), it has no health check, and it is either told not to restart (`restart: "no"` or
/// `on-failure`) or another service waits for it to complete; global services are
/// DaemonSets; everything else is a Deployment.
pub(crate) fn kind_of(cx: &Ctx, s: &str) -> Kind {
    let svc = &cx.p.services[s];
    if svc.deploy.as_ref().and_then(|d| d.mode.as_deref()) == Some("global") {
        return Kind::DaemonSet;
    }
    let reachable = !svc.ports.is_empty() || !svc.expose.is_empty();
    let probed = svc
        .healthcheck
        .as_ref()
        .is_some_and(|h| h.disable != Some(true) && h.test.first().is_some_and(|t| t != "NONE"));
    if reachable || probed {
        return Kind::Deployment;
    }
    let awaited = cx.awaited.contains(s);
    match restart_of(svc) {
        Some((r, _)) if r == "no" => Kind::Job {
            on_failure: false,
            backoff: 0,
        },
        Some((r, n)) if r == "on-failure" => Kind::Job {
            on_failure: true,
            // Docker retries an unbounded on-failure for ever; so does the largest limit.
            backoff: n.map_or(i32::MAX, |n| n.min(i32::MAX as u64) as i32),
        },
        None if awaited => Kind::Job {
            on_failure: false,
            backoff: 0,
        },
        _ => Kind::Deployment,
    }
}

/// Makes the service's workload object.
pub(crate) fn export(cx: &mut Ctx, s: &str, svc: &Service) -> Result<(), Error> {
    let kind = cx.kinds[s];
    let name = cx.names[s].clone();
    if kind == Kind::Deployment || kind == Kind::DaemonSet {
        if let Some((r, _)) = restart_of(svc) {
            if r == "no" || r == "on-failure" {
                let key = if svc.restart.is_some() {
                    "restart"
                } else {
                    "deploy.restart_policy.condition"
                };
                cx.w.service(
                    s,
                    key,
                    format!("is not kept: a {kind:?}'s pods are always restarted"),
                );
            }
        }
    }
    if let Some(rp) = svc.deploy.as_ref().and_then(|d| d.restart_policy.as_ref()) {
        for (k, set) in [
            ("delay", rp.delay.is_some()),
            ("window", rp.window.is_some()),
        ] {
            if set {
                cx.w.service(s, format!("deploy.restart_policy.{k}"), "has no Kubernetes equivalent (restarts back off exponentially) and is left out");
            }
        }
    }
    let template = pod_template(cx, s, svc, kind)?;
    let selector = LabelSelector {
        match_labels: Some(cx.selector(s)),
        ..LabelSelector::default()
    };
    let mut meta = cx.meta(&name, Some(s));
    if let Some(d) = &svc.deploy {
        // deploy.labels are the Swarm service's own labels: the workload object's.
        let (labels, annotations) = split_labels(&d.labels);
        meta.labels.get_or_insert_with(BTreeMap::new).extend(labels);
        if !annotations.is_empty() {
            meta.annotations = Some(annotations);
        }
    }
    let replicas = i32::try_from(svc.replicas()).unwrap_or(i32::MAX);
    match kind {
        Kind::Deployment => cx.push(Deployment {
            metadata: meta,
            spec: DeploymentSpec {
                replicas: Some(replicas),
                selector,
                // Compose stops the old container before it starts the new one; a rolling
                // update would also need a second mount of every ReadWriteOnce claim.
                strategy: Some(DeploymentStrategy {
                    type_: Some("Recreate".into()),
                    ..DeploymentStrategy::default()
                }),
                template,
                ..DeploymentSpec::default()
            },
            ..Deployment::default()
        }),
        Kind::DaemonSet => cx.push(DaemonSet {
            metadata: meta,
            spec: DaemonSetSpec {
                selector,
                template,
                ..DaemonSetSpec::default()
            },
            ..DaemonSet::default()
        }),
        Kind::Job { backoff, .. } => cx.push(Job {
            metadata: meta,
            spec: Some(JobSpec {
                backoff_limit: Some(backoff),
                completions: (replicas != 1).then_some(replicas),
                parallelism: (replicas != 1).then_some(replicas),
                template,
                ..JobSpec::default()
            }),
            ..Job::default()
        }),
    }
    Ok(())
}

/// Compose labels as Kubernetes labels where they are valid ones, annotations otherwise (a
/// label value is at most 63 characters of `[A-Za-z0-9_.-]`; an annotation holds anything).
pub(crate) fn split_labels(
    l: &indexmap::IndexMap<String, String>,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let (mut labels, mut annotations) = (BTreeMap::new(), BTreeMap::new());
    for (k, v) in l {
        if !names::is_qualified_name(k) {
            continue; // not even an annotation key: audit::service warns
        }
        if names::is_label_value(v) {
            labels.insert(k.clone(), v.clone());
        } else {
            annotations.insert(k.clone(), v.clone());
        }
    }
    (labels, annotations)
}

fn pod_template(
    cx: &mut Ctx,
    s: &str,
    svc: &Service,
    kind: Kind,
) -> Result<PodTemplateSpec, Error> {
    let mut labels = cx.labels(Some(s));
    for net in pod_networks(cx, s) {
        labels.insert(format!("{NETWORK_LABEL_PREFIX}{net}"), "true".into());
    }
    let (user_labels, mut annotations) = split_labels(&svc.labels);
    for k in svc.labels.keys() {
        if !names::is_qualified_name(k) {
            cx.w.service(
                s,
                format!("labels.{k}"),
                "is not a valid Kubernetes label or annotation key and is left out",
            );
        }
    }
    for (k, v) in user_labels {
        labels.entry(k).or_insert(v);
    }
    for (k, v) in &svc.annotations {
        if names::is_qualified_name(k) {
            annotations.insert(k.clone(), v.clone());
        } else {
            cx.w.service(
                s,
                format!("annotations.{k}"),
                "is not a valid Kubernetes annotation key and is left out",
            );
        }
    }
    let mounts = storage::service_mounts(cx, s, svc)?;
    let waits = deps::waits(cx, s);
    let mut main = container::main(cx, s, svc)?;
    main.volume_mounts = (!mounts.mounts.is_empty()).then_some(mounts.mounts);
    let mut spec = PodSpec {
        containers: vec![main],
        init_containers: (!waits.is_empty()).then_some(waits.clone()),
        service_account_name: (!waits.is_empty()).then(|| deps::account_name(cx)),
        volumes: (!mounts.volumes.is_empty()).then_some(mounts.volumes),
        restart_policy: match kind {
            Kind::Job {
                on_failure: true, ..
            } => Some("OnFailure".into()),
            Kind::Job { .. } => Some("Never".into()),
            _ => None,
        },
        // init: a pid 1 that forwards signals and reaps. With a shared process namespace the
        // pod's pause process is pid 1 and reaps, and the service's process, no longer pid 1,
        // gets the default signal dispositions (SIGTERM ends it).
        share_process_namespace: svc.init.filter(|i| *i),
        termination_grace_period_seconds: grace(cx, s, svc),
        security_context: Some(pod_security(cx, s, svc)),
        ..PodSpec::default()
    };
    host_settings(cx, s, svc, &mut spec);
    Ok(PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(spec),
    })
}

/// The stack networks a service's pods are on (network_mode service:X: X's).
pub(crate) fn pod_networks(cx: &Ctx, s: &str) -> Vec<String> {
    let svc = &cx.p.services[s];
    match svc.network_mode.as_deref() {
        Some(m) if m.starts_with("service:") => {
            let other = &m["service:".len()..];
            match cx.p.services.get(other) {
                Some(o) if o.network_mode.is_none() => o.networks.keys().cloned().collect(),
                _ => vec![],
            }
        }
        Some(_) => vec![],
        None => svc.networks.keys().cloned().collect(),
    }
}

fn grace(cx: &mut Ctx, s: &str, svc: &Service) -> Option<i64> {
    let g = svc.stop_grace_period.as_deref()?;
    match parse_duration_secs(g) {
        Some(secs) => Some(secs.ceil() as i64),
        None => {
            cx.w.service(
                s,
                "stop_grace_period",
                format!("{g:?} is not a duration and is left out"),
            );
            None
        }
    }
}

fn pod_security(cx: &mut Ctx, s: &str, svc: &Service) -> PodSecurityContext {
    // Docker confines every container with its default seccomp profile; on Kubernetes that
    // is the runtime's default profile (the same rules in containerd and CRI-O), which is
    // not applied unless asked for.
    let mut seccomp = "RuntimeDefault";
    for o in &svc.security_opt {
        if matches!(o.as_str(), "seccomp=unconfined" | "seccomp:unconfined") {
            seccomp = "Unconfined";
        }
    }
    if svc.privileged == Some(true) {
        seccomp = "Unconfined";
    }
    let mut groups = vec![];
    for (i, g) in svc.group_add.iter().enumerate() {
        match g
            .as_i64()
            .or_else(|| g.as_str().and_then(|s| s.parse().ok()))
        {
            Some(n) => groups.push(n),
            None => cx.w.service(
                s,
                format!("group_add[{i}]"),
                format!("{g} is a group name; Kubernetes takes group ids only, so it is left out"),
            ),
        }
    }
    let sysctls: Vec<Sysctl> = svc
        .sysctls
        .iter()
        .map(|(k, v)| Sysctl {
            name: k.clone(),
            value: v.clone(),
        })
        .collect();
    PodSecurityContext {
        seccomp_profile: Some(SeccompProfile {
            type_: seccomp.into(),
            ..SeccompProfile::default()
        }),
        supplemental_groups: (!groups.is_empty()).then_some(groups),
        sysctls: (!sysctls.is_empty()).then_some(sysctls),
        ..PodSecurityContext::default()
    }
}

/// hostname, extra_hosts, dns*, network_mode/pid/ipc host, platform.
fn host_settings(cx: &mut Ctx, s: &str, svc: &Service, spec: &mut PodSpec) {
    if let Some(h) = &svc.hostname {
        match names::label(h) {
            Some(l) if l == *h => spec.hostname = Some(l),
            _ => cx.w.service(
                s,
                "hostname",
                format!("{h:?} is not a DNS label, which a pod's hostname must be; it is left out"),
            ),
        }
    }
    let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, e) in svc.extra_hosts.iter().enumerate() {
        let split = e.split_once('=').or_else(|| e.split_once(':'));
        match split {
            Some((host, ip)) if !ip.is_empty() && ip != "host-gateway" => {
                let ip = ip.trim_start_matches('[').trim_end_matches(']').to_string();
                aliases.entry(ip).or_default().push(host.to_string());
            }
            _ => cx.w.service(s, format!("extra_hosts[{i}]"), format!("{e:?} has no fixed address (host-gateway has no pod equivalent) and is left out")),
        }
    }
    if !aliases.is_empty() {
        spec.host_aliases = Some(
            aliases
                .into_iter()
                .map(|(ip, hostnames)| HostAlias {
                    ip,
                    hostnames: Some(hostnames),
                })
                .collect(),
        );
    }
    // Docker's embedded DNS answers the stack's names and forwards the rest to `dns`; with
    // the default ClusterFirst policy the cluster's DNS answers first and these are added.
    if !svc.dns.is_empty() || !svc.dns_search.is_empty() || !svc.dns_opt.is_empty() {
        spec.dns_config = Some(PodDNSConfig {
            nameservers: (!svc.dns.is_empty()).then(|| svc.dns.clone()),
            searches: (!svc.dns_search.is_empty()).then(|| svc.dns_search.clone()),
            options: (!svc.dns_opt.is_empty()).then(|| {
                svc.dns_opt
                    .iter()
                    .map(|o| {
                        let (n, v) = o
                            .split_once(':')
                            .map_or((o.as_str(), None), |(n, v)| (n, Some(v.to_string())));
                        PodDNSConfigOption {
                            name: Some(n.to_string()),
                            value: v,
                        }
                    })
                    .collect()
            }),
        });
    }
    match svc.network_mode.as_deref() {
        None | Some("bridge") => {}
        Some("host") => spec.host_network = Some(true),
        Some("none") => {} // netpol isolates the pod
        Some(m) => cx.w.service(s, "network_mode", format!("{m:?}: pods cannot share another's network namespace; this one joins the same stack networks instead")),
    }
    match svc.pid.as_deref() {
        None => {}
        Some("host") => spec.host_pid = Some(true),
        Some(m) => cx.w.service(
            s,
            "pid",
            format!("{m:?} has no Kubernetes equivalent and is left out"),
        ),
    }
    match svc.ipc.as_deref() {
        None | Some("private") => {}
        Some("host") => spec.host_ipc = Some(true),
        Some(m) => cx.w.service(
            s,
            "ipc",
            format!("{m:?} has no Kubernetes equivalent and is left out"),
        ),
    }
    if let Some(p) = &svc.platform {
        let mut parts = p.split('/');
        let (os, arch, variant) = (parts.next(), parts.next(), parts.next());
        let mut sel = BTreeMap::new();
        if let Some(os) = os.filter(|o| !o.is_empty()) {
            sel.insert("kubernetes.io/os".to_string(), os.to_string());
        }
        if let Some(arch) = arch {
            sel.insert("kubernetes.io/arch".to_string(), arch.to_string());
        }
        if variant.is_some() {
            cx.w.service(
                s,
                "platform",
                format!("{p:?}: nodes are labelled by os and arch only; the variant is left out"),
            );
        }
        spec.node_selector = Some(sel);
    }
}
