//! mem_limit, cpus, mem_reservation, cpu_shares and deploy.resources -> requests and limits.

use crate::generate::Ctx;
use berth_compose::loader::model::ByteSize;
use berth_compose::loader::Service;
use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::Value;
use std::collections::BTreeMap;

/// Bytes as a Quantity, in binary units when exact ("64Mi").
pub(crate) fn bytes(n: i64) -> Quantity {
    for (unit, size) in [
        ("Ti", 1i64 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if n >= size && n % size == 0 {
            return Quantity(format!("{}{unit}", n / size));
        }
    }
    Quantity(n.to_string())
}

/// CPUs as a Quantity in millicores, Kubernetes' finest unit.
fn cpus(cx: &mut Ctx, s: &str, key: &str, c: f64) -> Option<Quantity> {
    let milli = (c * 1000.0).round() as i64;
    if milli <= 0 {
        cx.w.service(s, key, format!("{c} is below a millicore and is left out"));
        return None;
    }
    if (c * 1000.0 - milli as f64).abs() > 1e-6 {
        cx.w.service(s, key, format!("{c} is rounded to {milli}m"));
    }
    Some(Quantity(if milli % 1000 == 0 {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    }))
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn byte_size(v: &Value) -> Option<i64> {
    serde_json::from_value::<ByteSize>(v.clone())
        .ok()
        .map(|b| b.0)
}

pub(crate) fn requirements(cx: &mut Ctx, s: &str, svc: &Service) -> Option<ResourceRequirements> {
    let mut limits = BTreeMap::new();
    let mut requests = BTreeMap::new();
    // resource -> the Compose key that set its request, for the warning below.
    let mut request_keys: BTreeMap<String, String> = BTreeMap::new();
    let deploy = svc
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_object())
        .cloned()
        .unwrap_or_default();
    for (section, map) in [("limits", &mut limits), ("reservations", &mut requests)] {
        let Some(Value::Object(r)) = deploy.get(section) else {
            continue;
        };
        for (k, v) in r {
            let key = format!("deploy.resources.{section}.{k}");
            match k.as_str() {
                "memory" => match byte_size(v) {
                    Some(b) => {
                        map.insert("memory".to_string(), bytes(b));
                        if section == "reservations" {
                            request_keys.insert("memory".into(), key.clone());
                        }
                    }
                    None => cx.w.service(s, key, format!("{v} is not a size and is left out")),
                },
                "cpus" => {
                    if let Some(q) = number(v).and_then(|c| cpus(cx, s, &key, c)) {
                        map.insert("cpu".to_string(), q);
                        if section == "reservations" {
                            request_keys.insert("cpu".into(), key.clone());
                        }
                    }
                }
                "pids" => cx.w.service(s, key, "has no per-container equivalent (the kubelet's podPidsLimit is per node) and is left out"),
                _ => cx.w.service(s, key, "has no Kubernetes equivalent here (devices need a device plugin's extended resource) and is left out"),
            }
        }
    }
    if let Some(m) = svc.mem_limit {
        limits
            .entry("memory".to_string())
            .or_insert_with(|| bytes(m.0));
    }
    if let Some(c) = svc.cpus {
        if !limits.contains_key("cpu") {
            if let Some(q) = cpus(cx, s, "cpus", c) {
                limits.insert("cpu".to_string(), q);
            }
        }
    }
    if let Some(m) = svc.mem_reservation {
        if !requests.contains_key("memory") {
            requests.insert("memory".to_string(), bytes(m.0));
            request_keys.insert("memory".into(), "mem_reservation".into());
        }
    }
    // cpu_shares is a relative weight, 1024 for a CPU's worth; the kubelet turns a CPU request
    // into exactly that weight (1000m -> 1024 shares), so the request keeps the weight.
    if let Some(sh) = svc.cpu_shares {
        if !requests.contains_key("cpu") {
            if let Some(q) = cpus(cx, s, "cpu_shares", sh as f64 / 1024.0) {
                requests.insert("cpu".to_string(), q);
                request_keys.insert("cpu".into(), "cpu_shares".into());
            }
        }
    }
    if svc.pids_limit.is_some() {
        cx.w.service(s, "pids_limit", "has no per-container equivalent (the kubelet's podPidsLimit is per node) and is left out");
    }
    // A request above its limit is invalid: Compose allows it (the reservation is a hint).
    for (k, req) in requests.iter_mut() {
        if let Some(lim) = limits.get(k) {
            if quantity_value(req) > quantity_value(lim) {
                let key = request_keys.get(k).cloned().unwrap_or_else(|| k.clone());
                cx.w.service(
                    s,
                    key,
                    format!(
                        "asks for more than the limit; the request is lowered to {}",
                        lim.0
                    ),
                );
                *req = lim.clone();
            }
        }
    }
    (!limits.is_empty() || !requests.is_empty()).then(|| ResourceRequirements {
        limits: (!limits.is_empty()).then_some(limits),
        requests: (!requests.is_empty()).then_some(requests),
        ..ResourceRequirements::default()
    })
}

/// The number a Quantity this module wrote stands for (bytes or cores).
fn quantity_value(q: &Quantity) -> f64 {
    let s = q.0.as_str();
    for (unit, mul) in [
        ("Ti", (1u64 << 40) as f64),
        ("Gi", (1u64 << 30) as f64),
        ("Mi", (1u64 << 20) as f64),
        ("Ki", 1024.0),
        ("m", 0.001),
    ] {
        if let Some(n) = s.strip_suffix(unit) {
            return n.parse::<f64>().unwrap_or(0.0) * mul;
        }
    }
    s.parse().unwrap_or(0.0)
}
