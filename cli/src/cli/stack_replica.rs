//! Compose's service commands that act on a service's containers through berth's
//! container-level ones: `cp`, `export`, `stats`, `wait`, `attach`. Which replica each picks,
//! and the words it fails with, are Compose's (v2.40): `cp` reads from the newest container
//! and writes into every one, `export` and `attach` take `--index` (else the first running
//! one), `wait` waits for every running container of the services.

use super::stack_select::{ServiceContainer, Target};
use super::GlobalOpts;
use crate::client::{q, Client};
use berth_compose::{LABEL_PROJECT, LABEL_SERVICE};
use clap::Args;
use serde_json::Value;

#[derive(Args, Debug)]
pub struct CpArgs {
    /// Include containers created by the run command
    #[arg(long)]
    pub all: bool,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 0)]
    pub index: u32,
    /// Archive mode (copy all uid/gid information; berth always keeps them)
    #[arg(short, long)]
    pub archive: bool,
    /// SERVICE:SRC_PATH or SRC_PATH
    pub source: String,
    /// DEST_PATH or SERVICE:DEST_PATH
    pub destination: String,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 0)]
    pub index: u32,
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<String>,
    pub service: String,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    #[command(flatten)]
    pub flags: super::stats::StatsFlags,
    pub service: Option<String>,
}

#[derive(Args, Debug)]
pub struct WaitArgs {
    /// Drops project when the first container stops
    #[arg(long)]
    pub down_project: bool,
    #[arg(required = true)]
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 0)]
    pub index: u32,
    #[command(flatten)]
    pub opts: super::container_ops::AttachFlags,
    pub service: String,
}

/// Compose's getSpecifiedContainer: the running container `index` of `service`, or the
/// first by number when `index` is 0.
fn specified(
    t: &Target,
    c: &Client,
    service: &str,
    index: u32,
) -> anyhow::Result<ServiceContainer> {
    let mut list: Vec<ServiceContainer> = t
        .containers(c, &[service.to_string()], false)?
        .into_iter()
        .filter(|x| x.running() && (index == 0 || x.number == index))
        .collect();
    list.sort_by_key(|x| x.number);
    match list.into_iter().next() {
        Some(x) => Ok(x),
        None if index > 0 => anyhow::bail!("service {service:?} is not running container #{index}"),
        None => anyhow::bail!("service {service:?} is not running"),
    }
}

/// `SERVICE:PATH` -> (service, path); a local path (`./x`, `/x`, `-`) -> None.
fn split(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':')
}

/// Compose's progress line for one container, plain: ` ID TEXT STATUS`.
fn event(name: &str, text: &str, status: &str) {
    eprintln!(" {name} {text} {status}");
}

pub fn cp(g: &GlobalOpts, a: &CpArgs) -> anyhow::Result<i32> {
    let t = Target::resolve(g)?;
    let c = Client::connect(g)?;
    let (service, out) = match (split(&a.source), split(&a.destination)) {
        (Some((s, _)), None) => (s, true),
        (None, Some((s, _))) => (s, false),
        (Some(_), Some(_)) => anyhow::bail!("copying between services is not supported"),
        (None, None) => anyhow::bail!("source or destination must be a service path"),
    };
    let mut targets = if a.index > 0 {
        let x = t
            .containers(&c, &[service.to_string()], false)?
            .into_iter()
            .find(|x| x.number == a.index && x.running());
        match x {
            Some(x) => vec![x],
            None => anyhow::bail!("service {service:?} is not running container #{}", a.index),
        }
    } else {
        t.containers(&c, &[service.to_string()], a.all)?
    };
    if targets.is_empty() {
        anyhow::bail!("no container found for service {service:?}");
    }
    if out {
        // Out of the service: one container, the newest, as Docker lists them first.
        targets.sort_by_key(|x| std::cmp::Reverse(created(x)));
        targets.truncate(1);
    }
    for x in &targets {
        let (src, dst) = if out {
            (
                format!(
                    "{}:{}",
                    x.name,
                    a.source.split_once(':').unwrap_or_default().1
                ),
                a.destination.clone(),
            )
        } else {
            (
                a.source.clone(),
                format!(
                    "{}:{}",
                    x.name,
                    a.destination.split_once(':').unwrap_or_default().1
                ),
            )
        };
        let text = format!("copy {src} to {dst}");
        event(&x.name, &text, "Copying");
        super::copy::cp(&c, &src, &dst)?;
        event(&x.name, &text, "Copied");
    }
    Ok(0)
}

/// The container's creation time, as the API lists it (RFC 3339 sorts as text).
fn created(x: &ServiceContainer) -> (String, u32) {
    (
        x.raw["Created"].as_str().unwrap_or("").to_string(),
        x.number,
    )
}

pub fn export(g: &GlobalOpts, a: &ExportArgs) -> anyhow::Result<i32> {
    let t = Target::resolve(g)?;
    let c = Client::connect(g)?;
    let x = specified(&t, &c, &a.service, a.index)?;
    if a.output.is_none() && nix::unistd::isatty(1).unwrap_or(false) {
        anyhow::bail!("output option is required when exporting to terminal");
    }
    let to = a.output.as_deref().unwrap_or("");
    event(&x.name, &format!("export {} to {to}", x.name), "Exporting");
    super::copy::export(&c, &x.id, a.output.as_deref())
}

pub fn stats(g: &GlobalOpts, a: &StatsArgs) -> anyhow::Result<i32> {
    let t = Target::resolve(g)?;
    let c = Client::connect(g)?;
    // Compose's filter: the project's label, and the service's when one is named.
    super::stats::show_listed(&c, &a.flags, &[], |list: &[Value]| {
        list.iter()
            .map(|x| {
                x["Labels"][LABEL_PROJECT] == t.name.as_str()
                    && a.service
                        .as_ref()
                        .is_none_or(|s| x["Labels"][LABEL_SERVICE] == s.as_str())
            })
            .collect()
    })
}

/// `wait SERVICE...`: blocks until every running container of the services has exited,
/// printing each as it does; exits with the last status (`--down-project`: then takes the
/// project down, as `down --remove-orphans`).
pub fn wait(g: &GlobalOpts, a: &WaitArgs) -> anyhow::Result<i32> {
    let t = Target::resolve(g)?;
    let c = Client::connect(g)?;
    let running: Vec<ServiceContainer> = t
        .containers(&c, &a.services, true)?
        .into_iter()
        .filter(ServiceContainer::running)
        .collect();
    if running.is_empty() {
        anyhow::bail!("no containers for project {:?}", t.name);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    for x in running.iter().cloned() {
        let (g, tx) = (g.clone(), tx.clone());
        std::thread::spawn(move || {
            let r = Client::connect(&g)
                .and_then(|c| c.post(&format!("/containers/{}/wait", q(&x.id)), None));
            let _ = tx.send((x.id, r));
        });
    }
    drop(tx);
    let mut code = 0;
    for (id, r) in rx {
        let v = r?;
        let status = v["StatusCode"].as_i64().unwrap_or(0);
        println!("container {id:?} exited with status code {status}");
        code = status as i32;
    }
    if a.down_project {
        let body = serde_json::json!({
            "load": super::stack::stack_load(g)?,
            "project": t.name,
            "options": { "remove_orphans": true },
        });
        super::stack::post_with_progress(&c, "/stacks/down", body)?;
    }
    Ok(code)
}

pub fn attach(g: &GlobalOpts, a: &AttachArgs) -> anyhow::Result<i32> {
    let t = Target::resolve(g)?;
    let c = Client::connect(g)?;
    let x = specified(&t, &c, &a.service, a.index)?;
    super::container_ops::attach_to(&c, &x.id, &a.opts)
}
