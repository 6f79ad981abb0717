//! Service-level lifecycle commands, as Compose's: `create`, `start`, `stop`, `restart`,
//! `kill`, `rm`, `pause`, `unpause` for [SERVICE...] (all services when none). Start-like
//! actions go in dependency order, stop-like ones in reverse, so a service never runs without
//! what it depends on.

use super::progress::Display;
use super::stack_select::{ServiceContainer, Target};
use super::{confirm, GlobalOpts};
use crate::client::{q, Client};
use clap::{Args, Subcommand};
use serde_json::json;

#[derive(Args, Debug)]
pub struct TimeoutArgs {
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long)]
    pub timeout: Option<u64>,
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ServicesArgs {
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Assume "yes" as answer to all prompts and run non-interactively
    #[arg(short = 'y', long)]
    pub yes: bool,
    pub services: Vec<String>,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum Lifecycle {
    /// Creates containers for a service
    Create(CreateArgs),
    /// Start services
    Start(ServicesArgs),
    /// Stop services
    Stop(TimeoutArgs),
    /// Restart service containers
    Restart(TimeoutArgs),
    /// Force stop service containers
    Kill {
        /// SIGNAL to send to the container
        #[arg(short, long, default_value = "SIGKILL")]
        signal: String,
        services: Vec<String>,
    },
    /// Removes stopped service containers
    Rm {
        /// Don't ask to confirm removal
        #[arg(short, long)]
        force: bool,
        /// Stop the containers, if required, before removing
        #[arg(short, long)]
        stop: bool,
        /// Remove any anonymous volumes attached to containers
        #[arg(short, long)]
        volumes: bool,
        services: Vec<String>,
    },
    /// Pause services
    Pause(ServicesArgs),
    /// Unpause services
    Unpause(ServicesArgs),
}

/// Order in which containers are acted on.
#[derive(Clone, Copy, PartialEq)]
enum Order {
    Dependencies,
    Reverse,
}

pub fn run(g: &GlobalOpts, cmd: &Lifecycle) -> anyhow::Result<i32> {
    let target = Target::resolve(g)?;
    let c = Client::connect(g)?;
    let (services, order, action): (&[String], Order, Action) = match cmd {
        Lifecycle::Create(a) => return create(g, &target, &c, a),
        Lifecycle::Start(a) => (&a.services, Order::Dependencies, Box::new(start)),
        Lifecycle::Stop(a) => {
            let t = a.timeout.map(|t| format!("?t={t}")).unwrap_or_default();
            (&a.services, Order::Reverse, Box::new(move |x| stop(x, &t)))
        }
        Lifecycle::Restart(a) => {
            let t = a.timeout.map(|t| format!("?t={t}")).unwrap_or_default();
            (
                &a.services,
                Order::Dependencies,
                Box::new(move |x| Step::post(x, "Restart", format!("restart{t}"))),
            )
        }
        Lifecycle::Kill { signal, services } => {
            let sig = q(signal);
            (
                services,
                Order::Reverse,
                Box::new(move |x| {
                    if x.running() {
                        Step::post(x, "Kill", format!("kill?signal={sig}"))
                    } else {
                        Step::Skip
                    }
                }),
            )
        }
        Lifecycle::Pause(a) => (
            &a.services,
            Order::Reverse,
            Box::new(|x| when(x.state == "running", x, "Pause", "pause")),
        ),
        Lifecycle::Unpause(a) => (
            &a.services,
            Order::Dependencies,
            Box::new(|x| when(x.state == "paused", x, "Unpause", "unpause")),
        ),
        Lifecycle::Rm {
            force,
            stop,
            volumes,
            services,
        } => {
            return rm(&target, &c, services, *force, *stop, *volumes);
        }
    };
    target.check_services(services)?;
    // What a person stops by hand stays stopped: the daemon's reconcile loop must not bring
    // it back (nor recreate it on a file edit) until it is started again.
    // A service is taken back only once its containers were started here: the loop, woken
    // by the unpark, may recreate them for an edit made while they were parked, and must not
    // do so under this command's feet.
    if matches!(cmd, Lifecycle::Stop(_) | Lifecycle::Kill { .. }) {
        super::stack::park(&c, &target.name, services, true)?;
    }
    let code = match cmd {
        Lifecycle::Restart(_) => {
            let services = target.with_restart_dependents(services);
            apply(&target, &c, &services, order, action)
        }
        // As `up`: a level starts once the conditions its services wait on hold.
        Lifecycle::Start(_) => {
            let load = serde_json::to_value(super::stack::stack_load(g)?)?;
            apply_waiting(&target, &c, services, order, action, Some(load))
        }
        _ => return apply(&target, &c, services, order, action),
    };
    super::stack::park(&c, &target.name, services, false)?;
    code
}

/// Stops the services' running containers, dependents first: `up`'s Ctrl-C and abort.
pub fn stop_services(
    target: &Target,
    c: &Client,
    services: &[String],
    timeout: Option<u64>,
) -> anyhow::Result<i32> {
    super::stack::park(c, &target.name, services, true)?;
    let t = timeout.map(|t| format!("?t={t}")).unwrap_or_default();
    apply(
        target,
        c,
        services,
        Order::Reverse,
        Box::new(move |x| stop(x, &t)),
    )
}

/// Runs `action` on each container of `services`, level by level in `order` and in parallel
/// within a level, as Compose does (five containers that ignore SIGTERM stop in one timeout,
/// not five); a failure does not stop the others (exit code 1 at the end, as Compose).
fn apply(
    target: &Target,
    c: &Client,
    services: &[String],
    order: Order,
    action: Action<'_>,
) -> anyhow::Result<i32> {
    apply_waiting(target, c, services, order, action, None)
}

/// [`apply`], and with the stack's `load` first waiting (through the daemon, which `up`'s
/// waits are) for the depends_on conditions of each level's services.
fn apply_waiting(
    target: &Target,
    c: &Client,
    services: &[String],
    order: Order,
    action: Action<'_>,
    load: Option<serde_json::Value>,
) -> anyhow::Result<i32> {
    let mut groups = target.in_dependency_order(target.containers(c, services, false)?);
    if order == Order::Reverse {
        groups.reverse();
    }
    let failed = std::sync::atomic::AtomicBool::new(false);
    let display = std::sync::Mutex::new(Display::new());
    for level in &groups {
        if let Some(load) = &load {
            let waiting = services_waiting(target, level);
            if !waiting.is_empty() {
                let body = json!({ "load": load, "services": waiting });
                let mut d = display.lock().unwrap_or_else(|p| p.into_inner());
                match super::stack::post_into(c, "/stacks/wait", body, &mut d) {
                    Ok(outcome) => {
                        for w in outcome["warnings"].as_array().into_iter().flatten() {
                            eprintln!("WARN[0000] {}", w.as_str().unwrap_or(""));
                        }
                    }
                    Err(e) => {
                        d.finish(true);
                        return Err(e);
                    }
                }
            }
        }
        let steps: Vec<(&ServiceContainer, Step)> = level.iter().map(|x| (x, action(x))).collect();
        std::thread::scope(|scope| {
            for (x, step) in steps {
                let (display, failed) = (&display, &failed);
                scope.spawn(move || {
                    if let Err(e) = step.run(c, display) {
                        let mut d = display.lock().unwrap_or_else(|p| p.into_inner());
                        d.event("Container", &x.name, "Error", None);
                        eprintln!("berth: {}: {e:#}", x.name);
                        failed.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                });
            }
        });
    }
    let code = i32::from(failed.into_inner());
    let mut display = display.into_inner().unwrap_or_else(|p| p.into_inner());
    display.finish(code != 0);
    Ok(code)
}

/// The services of `level` with a dependency whose condition needs waiting for (healthy, or
/// completed successfully); the others only order the start.
fn services_waiting(target: &Target, level: &[ServiceContainer]) -> Vec<String> {
    let Some(p) = &target.project else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for x in level {
        let waits = p.services.get(&x.service).is_some_and(|s| {
            s.depends_on.values().any(|d| {
                matches!(
                    d.condition.as_str(),
                    "service_healthy" | "service_completed_successfully"
                )
            })
        });
        if waits && !out.contains(&x.service) {
            out.push(x.service.clone());
        }
    }
    out
}

/// What to do to one container (decided from its state).
type Action<'a> = Box<dyn Fn(&ServiceContainer) -> Step + 'a>;

/// One container action: a POST to `/containers/{id}/{path}`, reported as Compose's progress.
enum Step {
    Post {
        id: String,
        name: String,
        verb: &'static str,
        path: String,
    },
    Skip,
}

impl Step {
    fn post(x: &ServiceContainer, verb: &'static str, path: String) -> Step {
        Step::Post {
            id: x.id.clone(),
            name: x.name.clone(),
            verb,
            path,
        }
    }

    fn run(self, c: &Client, display: &std::sync::Mutex<Display>) -> anyhow::Result<()> {
        let Step::Post {
            id,
            name,
            verb,
            path,
        } = self
        else {
            return Ok(());
        };
        let event = |action: &str| {
            let mut d = display.lock().unwrap_or_else(|p| p.into_inner());
            d.event("Container", &name, action, None);
        };
        event(&progressive(verb));
        c.post(&format!("/containers/{id}/{path}"), None)?;
        event(&past(verb));
        Ok(())
    }
}

fn progressive(verb: &str) -> String {
    match verb {
        "Stop" => "Stopping".into(),
        v => format!("{}ing", v.strip_suffix('e').unwrap_or(v)),
    }
}

fn past(verb: &str) -> String {
    match verb {
        "Stop" => "Stopped".into(),
        "Start" => "Started".into(),
        v if v.ends_with('e') => format!("{v}d"),
        v => format!("{v}ed"),
    }
}

fn when(cond: bool, x: &ServiceContainer, verb: &'static str, path: &str) -> Step {
    if cond {
        Step::post(x, verb, path.into())
    } else {
        Step::Skip
    }
}

fn start(x: &ServiceContainer) -> Step {
    when(!x.running(), x, "Start", "start")
}

fn stop(x: &ServiceContainer, t: &str) -> Step {
    when(x.running(), x, "Stop", &format!("stop{t}"))
}

/// `create`: the daemon's `up` without starting, so names, hashes and networks are the same.
fn create(g: &GlobalOpts, target: &Target, c: &Client, a: &CreateArgs) -> anyhow::Result<i32> {
    let services = &a.services;
    target.check_services(services)?;
    let load = super::stack::stack_load(g)?;
    let recreate_volumes = super::stack::volumes_to_recreate(c, &load, a.yes)?;
    let body = json!({
        "load": load,
        "options": { "services": services, "no_start": true, "recreate_volumes": recreate_volumes },
    });
    super::stack::post_with_progress(c, "/stacks/up", body)?;
    Ok(0)
}

/// `rm`: stopped service containers only (running ones with -s, after stopping them); with
/// `volumes` their anonymous volumes too.
fn rm(
    target: &Target,
    c: &Client,
    services: &[String],
    force: bool,
    stop_first: bool,
    volumes: bool,
) -> anyhow::Result<i32> {
    target.check_services(services)?;
    if stop_first {
        let code = apply(
            target,
            c,
            services,
            Order::Reverse,
            Box::new(|x| stop(x, "")),
        )?;
        if code != 0 {
            return Ok(code);
        }
    }
    let mut display = Display::new();
    let stopped: Vec<ServiceContainer> = target
        .containers(c, services, false)?
        .into_iter()
        .filter(|x| !x.running())
        .collect();
    if stopped.is_empty() {
        eprintln!("No stopped containers");
        return Ok(0);
    }
    if !force {
        let names: Vec<&str> = stopped.iter().map(|x| x.name.as_str()).collect();
        eprintln!("Going to remove {}", names.join(", "));
        if !confirm("Are you sure? [yN] ")? {
            return Ok(0);
        }
    }
    super::stack::park(c, &target.name, services, true)?;
    let mut code = 0;
    let v = if volumes { "?v=1" } else { "" };
    for x in &stopped {
        display.event("Container", &x.name, "Removing", None);
        match c.delete(&format!("/containers/{}{v}", x.id)) {
            Ok(_) => display.event("Container", &x.name, "Removed", None),
            Err(e) => {
                display.event("Container", &x.name, "Error", None);
                eprintln!("berth: {}: {e:#}", x.name);
                code = 1;
            }
        }
    }
    display.finish(code != 0);
    Ok(code)
}

#[cfg(test)]
mod tests {
    #[test]
    fn progress_verbs_read_as_compose_prints_them() {
        for (verb, done) in [
            ("Stop", "Stopped"),
            ("Start", "Started"),
            ("Restart", "Restarted"),
            ("Kill", "Killed"),
            ("Pause", "Paused"),
            ("Unpause", "Unpaused"),
        ] {
            assert_eq!(super::past(verb), done);
        }
        for (verb, doing) in [
            ("Stop", "Stopping"),
            ("Restart", "Restarting"),
            ("Pause", "Pausing"),
            ("Kill", "Killing"),
        ] {
            assert_eq!(super::progressive(verb), doing);
        }
    }
}
