//! `berth pull`, `push`, `login`, `logout` and `image pull|push|prune`: the daemon does the
//! work (so `up` can pull too) and streams progress, which is shown one line per layer event
//! (on a terminal the download counter redraws in place).

use super::{confirm, prompt, GlobalOpts};
use crate::client::{q, Client};
use anyhow::bail;
use clap::Args;
use serde_json::{json, Value};
use std::io::{IsTerminal, Read, Write};

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Images (NAME[:TAG|@DIGEST]) or, with a stack file, services; none: every service
    pub names: Vec<String>,
    /// Platform to select from a multi-platform image (os/arch[/variant])
    #[arg(long)]
    pub platform: Option<String>,
    /// Print only errors
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// The image to push (NAME[:TAG]); its name says the registry and repository
    pub name: String,
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Registry (default: Docker Hub)
    pub server: Option<String>,
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (prefer --password-stdin: a command line is visible to others)
    #[arg(short, long)]
    pub password: Option<String>,
    /// Read the password from standard input
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    pub server: Option<String>,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all images no container uses, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
}

/// `berth pull`: with no names, or names that are all services of the stack file, pulls the
/// stack's images; otherwise each name is an image.
pub fn pull(g: &GlobalOpts, a: &PullArgs) -> anyhow::Result<i32> {
    let c = Client::connect(g)?;
    if a.names.is_empty() || names_are_services(g, &c, &a.names) {
        let load = super::stack::stack_load(g)?;
        let body = json!({ "load": load, "services": a.names, "policy": "always" });
        stream(&c, "/stacks/pull", Some(&body), a.quiet)?;
        return Ok(0);
    }
    for name in &a.names {
        pull_image(&c, name, a.platform.as_deref(), a.quiet)?;
    }
    Ok(0)
}

/// `up`'s pull phase: what each service's pull_policy (or `--pull`) asks for, with progress.
pub fn stack_pull_phase(
    c: &Client,
    load: &berth_compose::StackLoad,
    policy: Option<&str>,
) -> anyhow::Result<()> {
    let body = json!({ "load": load, "policy": policy });
    stream(c, "/stacks/pull", Some(&body), false)?;
    Ok(())
}

pub fn pull_image(
    c: &Client,
    name: &str,
    platform: Option<&str>,
    quiet: bool,
) -> anyhow::Result<()> {
    let mut path = format!("/images/create?fromImage={}", q(name));
    if let Some(p) = platform {
        path.push_str(&format!("&platform={}", q(p)));
    }
    let last = stream(c, &path, None, quiet)?;
    if quiet {
        if let Some(id) = last["Id"].as_str() {
            println!("{id}");
        }
    }
    Ok(())
}

fn names_are_services(g: &GlobalOpts, c: &Client, names: &[String]) -> bool {
    let Ok(load) = super::stack::stack_load(g) else {
        return false;
    };
    let Ok(config) = c.post(
        "/stacks/config",
        Some(&serde_json::to_value(load).unwrap_or_default()),
    ) else {
        return false;
    };
    names.iter().all(|n| config["services"].get(n).is_some())
}

pub fn push(g: &GlobalOpts, a: &PushArgs) -> anyhow::Result<i32> {
    let c = Client::connect(g)?;
    stream(&c, &format!("/images/{}/push", q(&a.name)), None, a.quiet)?;
    Ok(0)
}

pub fn login(g: &GlobalOpts, a: &LoginArgs) -> anyhow::Result<i32> {
    let server = a.server.clone().unwrap_or_else(|| "docker.io".into());
    let username = match &a.username {
        Some(u) => u.clone(),
        None => {
            if a.password_stdin {
                bail!("--password-stdin needs --username");
            }
            prompt("Username: ")?
        }
    };
    let password = if a.password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = &a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p.clone()
    } else {
        prompt_hidden("Password: ")?
    };
    if password.is_empty() {
        bail!("password required");
    }
    let c = Client::connect(g)?;
    let body = json!({ "username": username, "password": password, "serveraddress": server });
    let v = c.post("/auth", Some(&body))?;
    println!("{}", v["Status"].as_str().unwrap_or("Login Succeeded"));
    Ok(0)
}

pub fn logout(g: &GlobalOpts, a: &LogoutArgs) -> anyhow::Result<i32> {
    let server = a.server.clone().unwrap_or_else(|| "docker.io".into());
    let c = Client::connect(g)?;
    let v = c.delete(&format!("/auth/{}", q(&server)))?;
    if v["Removed"].as_bool() == Some(true) {
        println!("Removing login credentials for {server}");
    } else {
        println!("Not logged in to {server}");
    }
    Ok(0)
}

pub fn prune(g: &GlobalOpts, a: &PruneArgs) -> anyhow::Result<i32> {
    if !a.force && std::io::stdin().is_terminal() {
        let what = if a.all {
            "all images without at least one container associated to them"
        } else {
            "all dangling images"
        };
        if !confirm(&format!(
            "WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] "
        ))? {
            return Ok(0);
        }
    }
    let c = Client::connect(g)?;
    let v = c.post(&format!("/images/prune?all={}", a.all as u8), None)?;
    let deleted: Vec<&str> = v["ImagesDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str())
        .collect();
    if !deleted.is_empty() {
        println!("Deleted Images:");
        for l in deleted {
            // Docker's prune lists them lowercase: `untagged: bb:1`, `deleted: sha256:...`.
            let l = l
                .strip_prefix("Untagged:")
                .map(|r| format!("untagged:{r}"))
                .or_else(|| l.strip_prefix("Deleted:").map(|r| format!("deleted:{r}")))
                .unwrap_or_else(|| l.to_string());
            println!("{l}");
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        super::image::human_size(v["SpaceReclaimed"].as_u64().unwrap_or(0))
    );
    Ok(0)
}

/// Shows a progress stream; returns its last line, or fails with its `error`.
fn stream(c: &Client, path: &str, body: Option<&Value>, quiet: bool) -> anyhow::Result<Value> {
    let tty = std::io::stdout().is_terminal();
    let mut out = std::io::stdout().lock();
    let mut redraw = false;
    let mut last = Value::Null;
    c.post_lines(path, body, None, |v| {
        let Some(v) = v else { return Ok(()) };
        if let Some(e) = v["error"].as_str() {
            if redraw {
                writeln!(out)?;
            }
            bail!("{e}");
        }
        let status = v["status"].as_str().unwrap_or("");
        let id = v["id"].as_str().unwrap_or("");
        if quiet || matches!(status, "pulled" | "pushed") {
            last = v;
            return Ok(());
        }
        if status == "Downloading" {
            if tty {
                let (cur, total) = (v["current"].as_u64().unwrap_or(0), v["total"].as_u64());
                let total = total.map(super::image::human_size).unwrap_or_default();
                write!(
                    out,
                    "\r\x1b[K{id}: Downloading {}/{total}",
                    super::image::human_size(cur)
                )?;
                out.flush()?;
                redraw = true;
            }
            return Ok(());
        }
        if redraw {
            write!(out, "\r\x1b[K")?;
            redraw = false;
        }
        if id.is_empty() {
            writeln!(out, "{status}")?;
        } else {
            writeln!(out, "{id}: {status}")?;
        }
        last = v;
        Ok(())
    })?;
    Ok(last)
}

/// Reads a line from the terminal with echo off (restored even on error).
fn prompt_hidden(label: &str) -> anyhow::Result<String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return prompt(label);
    }
    let saved = tcgetattr(&stdin)?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet)?;
    let answer = prompt(label);
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    eprintln!();
    answer
}
