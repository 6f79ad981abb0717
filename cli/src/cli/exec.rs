//! `berth container exec`: the daemon says where the container is; a helper started from a
//! sealed copy of this binary enters it (see berth_engine::runtime::exec).

use crate::client::{q, Client};
use berth_engine::runtime::exec::ExecRequest;
use clap::Args;

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
    // The daemon's answer is the exec as the container would run it (its user, environment,
    // working directory, capabilities, cgroup, seccomp filter); the flags adjust it.
    let mut req: ExecRequest = c.get(&format!("/containers/{}/exec-info", q(&a.container)))?;
    for e in &a.env {
        let key = e.split('=').next().unwrap_or("");
        req.env.retain(|x| x.split('=').next() != Some(key));
        req.env.push(e.clone());
    }
    req.args = a.command.clone();
    if let Some(user) = &a.user {
        req.user = user.clone();
    }
    if let Some(dir) = &a.workdir {
        req.cwd = dir.clone();
    }
    req.tty = a.tty;
    req.interactive = a.interactive;
    let sealed = berth_engine::runtime::sealed::SealedExe::create()?;
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
