//! `berth exec` and `berth run`: a command in a service's container, or in a one-off
//! container made from the service's config, as Compose's.

use super::exec::ExecArgs;
use super::stack::stack_load;
use super::stack_select::Target;
use super::GlobalOpts;
use crate::client::Client;
use clap::Args;
use serde_json::json;

#[derive(Args, Debug)]
pub struct StackExecArgs {
    /// Disable pseudo-TTY allocation (a TTY is allocated when stdin is a terminal)
    #[arg(short = 'T', long = "no-tty")]
    pub no_tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Run the command as this user
    #[arg(short, long)]
    pub user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    pub service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StackRunArgs {
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// Disable pseudo-TTY allocation (a TTY is allocated when stdin is a terminal)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Override the entrypoint of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Run as specified username or uid
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Use the service's network aliases in the networks the container connects to
    #[arg(long)]
    pub use_aliases: bool,
    pub service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Compose allocates a TTY by default, but only when there is a terminal to give it.
fn wants_tty(no_tty: bool) -> bool {
    !no_tty && nix::unistd::isatty(0).unwrap_or(false)
}

pub fn exec(g: &GlobalOpts, a: &StackExecArgs) -> anyhow::Result<i32> {
    let target = Target::resolve(g)?;
    let c = Client::connect(g)?;
    let ctr = target.replica(&c, &a.service, a.index)?;
    if !ctr.running() {
        anyhow::bail!("service {:?} is not running", a.service);
    }
    let args = ExecArgs {
        interactive: !a.detach,
        tty: wants_tty(a.no_tty),
        env: a.env.clone(),
        user: a.user.clone(),
        workdir: a.workdir.clone(),
        detach: a.detach,
        container: ctr.id,
        command: a.command.clone(),
    };
    super::exec::run(&c, &args)
}

pub fn run(g: &GlobalOpts, a: &StackRunArgs) -> anyhow::Result<i32> {
    let target = Target::resolve(g)?;
    let project = target
        .project
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("run needs the project's compose file"))?;
    let svc = project
        .services
        .get(&a.service)
        .ok_or_else(|| anyhow::anyhow!("no such service: {}", a.service))?;
    let load = stack_load(g)?;
    let c = Client::connect(g)?;
    let deps: Vec<&String> = svc.depends_on.keys().collect();
    if !a.no_deps && !deps.is_empty() {
        // The daemon's `up` of just the dependencies (and theirs): already-running ones stay,
        // and a running stack is taken as it runs, never reconfigured from this shell.
        let body = json!({ "load": load, "options": { "services": deps }, "for_run": true });
        super::stack::post_with_progress(&c, "/stacks/up", body)?;
    }
    let tty = wants_tty(a.no_tty);
    let interactive = !a.detach;
    let body = json!({
        "load": load,
        "service": a.service,
        "options": {
            "name": a.name,
            "command": (!a.command.is_empty()).then(|| a.command.clone()),
            "entrypoint": a.entrypoint.as_ref().map(|e| shell_words(e)),
            "env": a.env, "user": a.user, "workdir": a.workdir,
            "tty": tty, "interactive": interactive, "rm": a.rm, "use_aliases": a.use_aliases,
        },
    });
    let created = c.post("/stacks/run", Some(&body))?;
    let id = created["Id"].as_str().unwrap_or("").to_string();
    // A command that cannot start fails the run with exit 1, as Compose's (the daemon's
    // error), and with --rm leaves no `Created` container behind, as Docker's daemon removes it.
    let start = if a.detach { "start" } else { "start?attach=1" };
    let started = match c.post(&format!("/containers/{id}/{start}"), None) {
        Ok(v) => v,
        Err(e) => return super::container::start_failure(&c, &id, e, a.rm).map(|_| 1),
    };
    if a.detach {
        // As Compose: the container's full id.
        println!("{id}");
        return Ok(0);
    }
    let sock = started["attach_socket"].as_str().unwrap_or("");
    let code = super::attach::attach(&c, &id, sock, interactive, tty)?;
    if a.rm {
        let _ = c.post(&format!("/containers/{id}/wait?condition=removed"), None);
    }
    Ok(code)
}

/// `--entrypoint "sh -c"` is a command line, split on whitespace as Compose does.
fn shell_words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}
