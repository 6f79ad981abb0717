//! `berth container exec`: the daemon says where the container is; a helper started from a
//! sealed copy of this binary enters it (see berth_engine::runtime::exec).

use crate::client::{q, Client};
use berth_engine::runtime::exec::ExecRequest;
use clap::Args;
use serde_json::Value;

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Keep STDIN open
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Run the command in the background
    #[arg(short, long)]
    pub detach: bool,
    pub container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

pub fn run(c: &Client, a: &ExecArgs) -> anyhow::Result<i32> {
    let info: Value = c.get(&format!("/containers/{}/exec-info", q(&a.container)))?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(String::from))
            .collect()
    };
    let mut env = strings(&info["env"]);
    for e in &a.env {
        let key = e.split('=').next().unwrap_or("");
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    let req = ExecRequest {
        pid: info["pid"].as_i64().unwrap_or(0) as i32,
        pid_start_time: info["pid_start_time"].as_u64().unwrap_or(0),
        args: a.command.clone(),
        env,
        user: a
            .user
            .clone()
            .unwrap_or_else(|| info["user"].as_str().unwrap_or("").to_string()),
        cwd: a
            .workdir
            .clone()
            .unwrap_or_else(|| info["cwd"].as_str().unwrap_or("/").to_string()),
        capabilities: strings(&info["capabilities"]),
        cgroups: strings(&info["cgroups"])
            .into_iter()
            .map(Into::into)
            .collect(),
        tty: a.tty,
        interactive: a.interactive,
        privileged: info["privileged"].as_bool().unwrap_or(false),
        rlimits: serde_json::from_value(info["rlimits"].clone()).unwrap_or_default(),
    };
    let sealed = crate::sealed::SealedExe::create()?;
    let mut cmd = std::process::Command::new(sealed.path());
    cmd.arg("exec-helper").arg(serde_json::to_string(&req)?);
    if !a.interactive {
        cmd.stdin(std::process::Stdio::null());
    }
    if a.detach {
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd.spawn()?;
        return Ok(0);
    }
    let status = cmd.status()?;
    Ok(status.code().unwrap_or(255))
}
