//! `berth container stats`: docker stats' table (CONTAINER ID, NAME, CPU %, MEM USAGE /
//! LIMIT, MEM %, NET I/O, BLOCK I/O, PIDS) with its units, `--format`, `-a`, `--no-trunc`,
//! `--no-stream`; streaming redraws the screen each second as docker 20.10 does.

use crate::client::{q, Client};
use crate::format::units::{bytes_size, human_size};
use crate::format::{context, header, Formatter, Value as Tv};
use clap::Args;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct StatsArgs {
    #[command(flatten)]
    pub flags: StatsFlags,
    pub containers: Vec<String>,
}

// The flags `container stats` and a stack's `stats` share.
// (Not a doc comment: flattened into commands built on demand, it would become their
// help text; see `Command` in cli/mod.rs.)
#[derive(Args, Debug)]
pub struct StatsFlags {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go
    /// template
    #[arg(long)]
    pub format: Option<String>,
}

const STATS_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

fn stats_header() -> Tv {
    header(&[
        ("BlockIO", "BLOCK I/O"),
        ("CPUPerc", "CPU %"),
        ("Container", "CONTAINER"),
        ("ID", "CONTAINER ID"),
        ("MemPerc", "MEM %"),
        ("MemUsage", "MEM USAGE / LIMIT"),
        ("Name", "NAME"),
        ("NetIO", "NET I/O"),
        ("PIDs", "PIDS"),
    ])
}

/// One container's counters at one moment.
struct Sample {
    at: Instant,
    v: Value,
}

impl Sample {
    fn cpu_ns(&self) -> f64 {
        self.v["Stats"]["cpu_usage_ns"].as_f64().unwrap_or(0.0)
    }
}

/// Each target's counters now; a container removed meanwhile drops out of the table.
fn sample_all(c: &Client, targets: &[String]) -> Vec<(String, Sample)> {
    targets
        .iter()
        .filter_map(|t| {
            let v = c
                .get::<Value>(&format!("/containers/{}/stats", q(t)))
                .ok()?;
            Some((
                t.clone(),
                Sample {
                    at: Instant::now(),
                    v,
                },
            ))
        })
        .collect()
}

pub fn show(c: &Client, a: &StatsArgs) -> anyhow::Result<i32> {
    // Named containers must exist, as Docker checks before the first frame.
    for x in &a.containers {
        c.get::<Value>(&format!("/containers/{}/json", q(x)))?;
    }
    show_listed(c, &a.flags, &a.containers, |list| {
        list.iter().map(|_| true).collect()
    })
}

/// [`show`] over the listed containers `pick` keeps (one flag each), listed afresh for every
/// frame so that containers started meanwhile join the table: `berth stats` of a stack.
pub fn show_listed(
    c: &Client,
    a: &StatsFlags,
    named: &[String],
    pick: impl Fn(&[Value]) -> Vec<bool>,
) -> anyhow::Result<i32> {
    let f = Formatter::new(a.format.as_deref(), STATS_TABLE)?;
    let mut previous: HashMap<String, Sample> = HashMap::new();
    let mut first = true;
    loop {
        // As the user named them, or the short ids of the running (-a: all) containers.
        let targets: Vec<String> = if named.is_empty() {
            let list: Vec<Value> = c.get(&format!("/containers?all={}", a.all as u8))?;
            list.iter()
                .zip(pick(&list))
                .filter(|(_, keep)| *keep)
                .filter_map(|(x, _)| x["Id"].as_str().map(|id| id.chars().take(12).collect()))
                .collect()
        } else {
            named.to_vec()
        };
        if first {
            // CPU % needs two samples: the first, then the second half a second on.
            previous = sample_all(c, &targets).into_iter().collect();
            std::thread::sleep(Duration::from_millis(500));
            first = false;
        }
        let now = sample_all(c, &targets);
        let rows: Vec<Tv> = now
            .iter()
            .map(|(t, s)| row(t, s, previous.get(t), !a.no_trunc))
            .collect();
        let out = f.render(&rows, &stats_header())?;
        if !a.no_stream {
            // docker 20.10: clear the screen, cursor home, the table.
            print!("\x1b[2J\x1b[H");
        }
        print!("{out}");
        use std::io::Write;
        std::io::stdout().flush()?;
        if a.no_stream {
            return Ok(0);
        }
        previous = now.into_iter().collect();
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// docker's statsContext for one container: zeros for one that does not run.
fn row(container: &str, s: &Sample, before: Option<&Sample>, trunc: bool) -> Tv {
    let v = &s.v;
    let running = v["Running"].as_bool().unwrap_or(false);
    let id = v["Id"].as_str().unwrap_or("");
    let id = if trunc {
        id.chars().take(12).collect()
    } else {
        id.to_string()
    };
    let st = &v["Stats"];
    let n = |x: &Value| if running { x.as_u64().unwrap_or(0) } else { 0 };
    let cpu = match before {
        Some(b) if running => {
            let dt = s.at.duration_since(b.at).as_secs_f64();
            if dt > 0.0 {
                ((s.cpu_ns() - b.cpu_ns()) / 1e9 / dt * 100.0).max(0.0)
            } else {
                0.0
            }
        }
        _ => 0.0,
    };
    let mem = n(&st["memory_working_set_bytes"]);
    // No limit: the host's memory, as Docker's daemon reports it.
    let limit = if running {
        st["memory_limit_bytes"]
            .as_u64()
            .unwrap_or_else(host_memory)
    } else {
        0
    };
    let mem_perc = if limit > 0 {
        mem as f64 / limit as f64 * 100.0
    } else {
        0.0
    };
    let pair = |a: u64, b: u64, unit: fn(u64) -> String| format!("{} / {}", unit(a), unit(b));
    context(
        "*container.statsContext",
        vec![
            (
                "BlockIO",
                Tv::Str(pair(
                    n(&st["block_read_bytes"]),
                    n(&st["block_write_bytes"]),
                    human_size,
                )),
            ),
            ("CPUPerc", Tv::Str(format!("{cpu:.2}%"))),
            ("Container", Tv::str(container)),
            ("ID", Tv::Str(id)),
            ("MemPerc", Tv::Str(format!("{mem_perc:.2}%"))),
            ("MemUsage", Tv::Str(pair(mem, limit, bytes_size))),
            (
                "Name",
                Tv::str(v["Name"].as_str().unwrap_or("").trim_start_matches('/')),
            ),
            (
                "NetIO",
                Tv::Str(pair(
                    n(&v["Network"]["RxBytes"]),
                    n(&v["Network"]["TxBytes"]),
                    human_size,
                )),
            ),
            ("PIDs", Tv::Str(n(&st["pids_current"]).to_string())),
        ],
        None,
    )
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
