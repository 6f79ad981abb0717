//! `berth container attach|rename|update|top`: acting on a container that exists, as the
//! docker CLI does (same flags, output and messages).

use super::attach::{parse_detach_keys, Ended, Session, DEFAULT_DETACH_KEYS};
use crate::client::{q, Client};
use berth_engine::container as model;
use clap::Args;
use serde_json::{json, Value};

#[derive(Args, Debug)]
pub struct AttachArgs {
    #[command(flatten)]
    pub flags: AttachFlags,
    pub container: String,
}

// The flags `container attach` and a stack's `attach` share.
// (Not a doc comment: flattened into commands built on demand, it would become their
// help text; see `Command` in cli/mod.rs.)
#[derive(Args, Debug)]
pub struct AttachFlags {
    /// Do not attach STDIN
    #[arg(long)]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(
        long,
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    pub detach_keys: Option<String>,
}

/// `container attach`: the container's output from now on, our input to it; ends with the
/// container (its exit code) or on the detach keys (Docker prints `read escape sequence`
/// and exits 1, the container runs on).
pub fn attach(c: &Client, a: &AttachArgs) -> anyhow::Result<i32> {
    attach_to(c, &a.container, &a.flags)
}

/// [`attach`] to `container` (a name or id).
pub fn attach_to(c: &Client, container: &str, a: &AttachFlags) -> anyhow::Result<i32> {
    let detach_keys = match &a.detach_keys {
        Some(k) => parse_detach_keys(k)?,
        None => DEFAULT_DETACH_KEYS.to_vec(),
    };
    let info: Value = c.get(&format!("/containers/{}/attach-info", q(container)))?;
    not_running_message(&info)?;
    let tty = info["Tty"].as_bool().unwrap_or(false);
    let stdin = !a.no_stdin && info["OpenStdin"].as_bool().unwrap_or(false);
    // Docker's CheckTty: a terminal container's input must be a terminal.
    if tty && stdin && !nix::unistd::isatty(0).unwrap_or(false) {
        anyhow::bail!("the input device is not a TTY");
    }
    let id = info["Id"].as_str().unwrap_or("").to_string();
    let session = Session {
        id: &id,
        sock: info["AttachSocket"].as_str().unwrap_or(""),
        stdin,
        tty,
        close_stdin: false,
        // With a terminal, Ctrl-C is a keystroke the container's terminal turns into SIGINT.
        sig_proxy: a.sig_proxy && !tty,
        detach_keys,
    };
    let ended = match session.run(c) {
        Ok(e) => e,
        // It ended between the look and the connect.
        Err(e) => {
            let info: Value = c.get(&format!("/containers/{id}/attach-info"))?;
            not_running_message(&info)?;
            return Err(e);
        }
    };
    match ended {
        Ended::Exited(code) => Ok(code),
        Ended::Detached => {
            eprintln!("read escape sequence");
            Ok(1)
        }
    }
}

/// Docker's refusals to attach to a container that does not run.
fn not_running_message(info: &Value) -> anyhow::Result<()> {
    match info["Status"].as_str().unwrap_or("") {
        "running" => Ok(()),
        "paused" => anyhow::bail!("You cannot attach to a paused container, unpause it first"),
        "restarting" => {
            anyhow::bail!("You cannot attach to a restarting container, wait until it is running")
        }
        _ => anyhow::bail!("You cannot attach to a stopped container, start it first"),
    }
}

/// `container rename OLD NEW`: quiet on success, as Docker.
pub fn rename(c: &Client, container: &str, new_name: &str) -> anyhow::Result<i32> {
    c.post(
        &format!("/containers/{}/rename?name={}", q(container), q(new_name)),
        None,
    )?;
    Ok(0)
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub resources: super::container::ResourceFlags,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `container update`: Docker's body for the flags given; each container's name printed as
/// it is updated, errors after, exit 1 if any failed.
pub fn update(c: &Client, a: &UpdateArgs) -> anyhow::Result<i32> {
    let mut body = serde_json::Map::new();
    let r = a.resources.to_resources()?;
    if let Some(m) = r.memory {
        body.insert("Memory".into(), json!(m));
    }
    if let Some(cpus) = r.cpus {
        body.insert("NanoCpus".into(), json!((cpus * 1e9).round() as i64));
    }
    if let Some(shares) = r.cpu_shares {
        body.insert("CpuShares".into(), json!(shares));
    }
    if let Some(pids) = r.pids_limit {
        body.insert("PidsLimit".into(), json!(pids));
    }
    if let Some(set) = r.cpuset_cpus {
        body.insert("CpusetCpus".into(), json!(set));
    }
    for (k, v) in [
        ("MemorySwap", r.memory_swap),
        ("MemoryReservation", r.memory_reservation),
        ("CpuPeriod", r.cpu_period.map(|p| p as i64)),
        ("CpuQuota", r.cpu_quota),
        ("BlkioWeight", r.blkio_weight.map(i64::from)),
    ] {
        if let Some(v) = v {
            body.insert(k.into(), json!(v));
        }
    }
    if let Some(set) = r.cpuset_mems {
        body.insert("CpusetMems".into(), json!(set));
    }
    if let Some(r) = &a.restart {
        let policy = model::RestartPolicy::parse(r).map_err(anyhow::Error::msg)?;
        let retries = match policy {
            model::RestartPolicy::OnFailure { max_retries } => max_retries,
            _ => 0,
        };
        body.insert(
            "RestartPolicy".into(),
            json!({ "Name": policy.name(), "MaximumRetryCount": retries }),
        );
    }
    if body.is_empty() {
        anyhow::bail!("you must provide one or more flags when using this command");
    }
    let body = Value::Object(body);
    let mut code = 0;
    for x in &a.containers {
        match c.post(&format!("/containers/{}/update", q(x)), Some(&body)) {
            Ok(v) => {
                for w in v["Warnings"].as_array().into_iter().flatten() {
                    eprintln!("WARNING: {}", w.as_str().unwrap_or(""));
                }
                println!("{x}");
            }
            Err(e) => {
                eprintln!("berth: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

/// `container top CONTAINER [ps OPTIONS]`: the columns as Docker's CLI aligns them (Go's
/// tabwriter with a least width of 20 and a padding of 3; CMD last and unpadded).
pub fn top(c: &Client, container: &str, ps_args: &[String]) -> anyhow::Result<i32> {
    let mut path = format!("/containers/{}/top", q(container));
    if !ps_args.is_empty() {
        path.push_str(&format!("?ps_args={}", q(&ps_args.join(" "))));
    }
    let v: Value = c.get(&path)?;
    let mut text = cells(&v["Titles"]).join("\t") + "\n";
    for p in v["Processes"].as_array().into_iter().flatten() {
        text.push_str(&cells(p).join("\t"));
        text.push('\n');
    }
    print!("{}", crate::format::tabwrite_with(&text, 20, 3));
    Ok(0)
}

/// A JSON array of strings (a `top` row) as its cells.
pub(super) fn cells(row: &Value) -> Vec<String> {
    row.as_array()
        .into_iter()
        .flatten()
        .map(|x| x.as_str().unwrap_or("").to_string())
        .collect()
}
