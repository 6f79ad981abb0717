//! `berth container stats`: CPU, memory and pids from each container's cgroup.

use crate::client::{q, Client};
use serde_json::Value;
use std::time::{Duration, Instant};

fn sample(c: &Client, id: &str) -> anyhow::Result<Value> {
    c.get(&format!("/containers/{}/stats", q(id)))
}

pub fn show(c: &Client, containers: &[String], no_stream: bool) -> anyhow::Result<i32> {
    let ids: Vec<String> = if containers.is_empty() {
        let list: Vec<Value> = c.get("/containers")?;
        list.iter()
            .filter_map(|x| x["Id"].as_str().map(String::from))
            .collect()
    } else {
        containers.to_vec()
    };
    loop {
        let first: Vec<(Instant, Value)> = ids
            .iter()
            .map(|i| Ok((Instant::now(), sample(c, i)?)))
            .collect::<anyhow::Result<_>>()?;
        std::thread::sleep(Duration::from_millis(500));
        println!(
            "{:<14} {:<24} {:>8} {:>24} {:>8} {:>6}",
            "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS"
        );
        for (i, (t0, s0)) in ids.iter().zip(first) {
            let s1 = sample(c, i)?;
            let dt = t0.elapsed().as_secs_f64();
            let cpu = |s: &Value| s["Stats"]["cpu_usage_ns"].as_f64().unwrap_or(0.0);
            let cpu_pct = (cpu(&s1) - cpu(&s0)) / 1e9 / dt * 100.0;
            let mem = s1["Stats"]["memory_working_set_bytes"]
                .as_u64()
                .unwrap_or(0);
            let limit = s1["Stats"]["memory_limit_bytes"]
                .as_u64()
                .unwrap_or_else(host_memory);
            let id: String = s1["Id"].as_str().unwrap_or("").chars().take(12).collect();
            println!(
                "{:<14} {:<24} {:>7.2}% {:>24} {:>7.2}% {:>6}",
                id,
                s1["Name"].as_str().unwrap_or(""),
                cpu_pct,
                format!("{} / {}", mib(mem), mib(limit)),
                if limit > 0 {
                    mem as f64 / limit as f64 * 100.0
                } else {
                    0.0
                },
                s1["Stats"]["pids_current"].as_u64().unwrap_or(0)
            );
        }
        if no_stream {
            return Ok(0);
        }
    }
}

fn mib(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.2}GiB", b as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.2}MiB", b as f64 / (1u64 << 20) as f64)
    }
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}
