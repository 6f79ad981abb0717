//! Attached `up`: after the daemon's up, the logs of every container of the selected
//! services, prefixed as `logs -f`; Ctrl-C (or, with --abort-on-container-exit, any
//! container's exit) stops the stack, dependents first, as Compose does.

use super::log_window::LogWindow;
use super::stack_lifecycle::stop_services;
use super::stack_logs::{stream_all, LogStyle};
use super::stack_select::{ServiceContainer, Target};
use super::GlobalOpts;
use crate::client::Client;
use nix::sys::signal::{SigSet, Signal};
use std::sync::mpsc;
use std::time::Duration;

/// How an attached `up` ends.
#[derive(Debug, Default)]
pub struct AttachOptions {
    pub services: Vec<String>,
    /// `--attach`: only these services' logs are shown and waited for (all when empty).
    pub attach: Vec<String>,
    /// `--no-attach`: these services' are not.
    pub no_attach: Vec<String>,
    /// `--timestamps`: each line after its prefix carries the time Docker's logs give it.
    pub timestamps: bool,
    pub abort_on_container_exit: bool,
    pub exit_code_from: Option<String>,
    pub no_color: bool,
    pub no_log_prefix: bool,
    /// `up -t`: seconds the stopped containers get before SIGKILL.
    pub timeout: Option<u64>,
    /// When `up` began (Docker's `since`, Unix seconds.nanoseconds): Compose attaches to
    /// each container, so it shows what a container printed from then on and not what an
    /// unchanged, long-running one printed before.
    pub since: Option<String>,
}

enum Happening {
    Ended(ServiceContainer),
    Interrupted,
}

pub fn attach(g: &GlobalOpts, c: &Client, o: &AttachOptions) -> anyhow::Result<i32> {
    let target = Target::resolve(g)?;
    if let Some(s) = &o.exit_code_from {
        target.check_services(std::slice::from_ref(s))?;
    }
    let mut containers = target.containers(c, &o.services, false)?;
    // As Compose: up ends once the attached containers have exited; the others run on.
    containers.retain(|x| {
        (o.attach.is_empty() || o.attach.contains(&x.service)) && !o.no_attach.contains(&x.service)
    });
    // Compose sorts by name ("predictable colors assignment").
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    // Block the signals before any thread exists, so only the signal thread takes them (the
    // followers inherit the mask). Not earlier: a daemon this command starts must not
    // inherit a blocked SIGTERM.
    let mut sigs = SigSet::empty();
    sigs.add(Signal::SIGINT);
    sigs.add(Signal::SIGTERM);
    sigs.thread_block()?;
    let (tx, rx) = mpsc::channel();
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            if sigs.wait().is_ok() {
                let _ = tx.send(Happening::Interrupted);
            }
        });
    }
    // As Compose: `Attaching to web-1, worker-1` on stdout, names without the project.
    let names: Vec<&str> = containers.iter().map(|x| x.display_name()).collect();
    println!("Attaching to {}", names.join(", "));
    let mut style = LogStyle::new(o.no_log_prefix, o.no_color);
    style.timestamps = o.timestamps;
    let window = LogWindow {
        tail: "all".into(),
        since: o.since.clone(),
        until: None,
    };
    stream_all(g, &containers, true, &window, &style, &tx, Happening::Ended);
    let abort = o.abort_on_container_exit || o.exit_code_from.is_some();
    let mut remaining = containers.len();
    let mut first_exit: Option<i32> = None;
    while remaining > 0 {
        match rx.recv()? {
            Happening::Interrupted => {
                eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
                stop_services(&target, c, &o.services, o.timeout)?;
                return Ok(130);
            }
            Happening::Ended(x) => {
                remaining -= 1;
                let code = exit_code(c, &x.id);
                print!("{}", style.status(&x, &format!("exited with code {code}")));
                first_exit.get_or_insert(code);
                if abort {
                    eprintln!("Aborting on container exit...");
                    stop_services(&target, c, &o.services, o.timeout)?;
                    // As Compose: the others' exits, as their streams end with the stop.
                    while remaining > 0 {
                        let Ok(Happening::Ended(x)) = rx.recv_timeout(Duration::from_secs(5))
                        else {
                            break;
                        };
                        remaining -= 1;
                        let code = exit_code(c, &x.id);
                        print!("{}", style.status(&x, &format!("exited with code {code}")));
                    }
                    break;
                }
            }
        }
    }
    match &o.exit_code_from {
        Some(s) => {
            let from = target.containers(c, std::slice::from_ref(s), false)?;
            Ok(from.first().map(|x| exit_code(c, &x.id)).unwrap_or(0))
        }
        None if abort => Ok(first_exit.unwrap_or(0)),
        None => Ok(0),
    }
}

fn exit_code(c: &Client, id: &str) -> i32 {
    c.post(&format!("/containers/{id}/wait"), None)
        .ok()
        .and_then(|v| v["StatusCode"].as_i64())
        .unwrap_or(0) as i32
}
