//! A service's limits: memory, CPUs, pids (from the service or `deploy.resources.limits`),
//! ulimits, and its restart policy (from `restart:` or `deploy.restart_policy`).

use super::bytes_of;
use berth_compose::loader::model::Service;
use berth_engine::container::{Resources, RestartPolicy};
use berth_engine::runtime::spec::Rlimit;
use serde_json::Value;

pub(super) fn resources(svc: &Service) -> Resources {
    let limits = svc.deploy.as_ref().map(|d| &d.resources["limits"]);
    let memory = svc
        .mem_limit
        .map(|b| b.0)
        .or_else(|| limits.and_then(|l| bytes_of(&l["memory"])));
    let cpus = svc.cpus.or_else(|| {
        limits.and_then(|l| {
            l["cpus"]
                .as_f64()
                .or_else(|| l["cpus"].as_str().and_then(|s| s.parse().ok()))
        })
    });
    let pids = svc
        .pids_limit
        .or_else(|| limits.and_then(|l| l["pids"].as_i64()));
    Resources {
        memory,
        cpus,
        cpu_shares: svc.cpu_shares.map(|s| s as u64),
        pids_limit: pids,
        cpuset_cpus: svc.cpuset.clone(),
        ..Default::default()
    }
}

pub(super) fn ulimits(svc: &Service) -> Vec<Rlimit> {
    let mut ulimits = Vec::new();
    for (k, v) in &svc.ulimits {
        let (soft, hard) = match v {
            Value::Number(n) => (n.as_u64().unwrap_or(0), n.as_u64().unwrap_or(0)),
            Value::Object(o) => (
                o.get("soft").and_then(Value::as_u64).unwrap_or(0),
                o.get("hard").and_then(Value::as_u64).unwrap_or(0),
            ),
            _ => continue,
        };
        ulimits.push(Rlimit {
            name: k.to_ascii_lowercase(),
            soft,
            hard,
        });
    }
    ulimits
}

pub(super) fn restart_policy(name: &str, svc: &Service) -> Result<RestartPolicy, String> {
    Ok(match svc.restart.clone().or_else(|| deploy_restart(svc)) {
        None => RestartPolicy::No,
        Some(r) => RestartPolicy::parse(&r).map_err(|e| format!("service {name}: {e}"))?,
    })
}

/// `deploy.restart_policy` as Compose maps it onto a container when `restart:` is absent.
fn deploy_restart(svc: &Service) -> Option<String> {
    let rp = svc.deploy.as_ref()?.restart_policy.as_ref()?;
    Some(match (rp.condition.as_deref(), rp.max_attempts) {
        (Some("none"), _) => "no".into(),
        (Some("on-failure"), Some(n)) => format!("on-failure:{n}"),
        (Some("on-failure"), None) => "on-failure".into(),
        _ => "always".into(),
    })
}
