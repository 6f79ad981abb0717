//! `berth watch` and `up --watch`: Compose's `develop.watch`. Unlike the daemon's watch of
//! the stack's own files (which keeps the stack converged with what the files say), this
//! follows a service's *source* while someone develops it, as Compose's client does: files
//! saved under a rule's `path` (but for its `ignore` patterns, .dockerignore syntax) are
//! copied into the service's running containers at `target` (`sync`), then the containers
//! restarted (`sync+restart`), or only restarted (`restart`), or the service's image rebuilt
//! and the service brought up again (`rebuild`). It runs in the foreground until Ctrl-C.

use super::stack::stack_load;
use super::stack_select::Target;
use super::GlobalOpts;
use crate::client::{q, Client};
use anyhow::{bail, Context};
use berth_build::ignore::Ignore;
use clap::Args;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// Changes are acted on once the files have been quiet this long (Compose's quiet period),
/// so an editor's save (temp file, rename) or a `git checkout` is one batch.
const QUIET: Duration = Duration::from_millis(500);

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// Do not build & start services before watching
    #[arg(long)]
    pub no_up: bool,
    /// Hide build output
    #[arg(long)]
    pub quiet: bool,
    /// Prune dangling images on rebuild (berth's rebuilds leave none: accepted for Compose's
    /// sake)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub prune: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Sync,
    SyncRestart,
    Restart,
    Rebuild,
}

/// One `develop.watch` item of a service.
struct Rule {
    service: String,
    action: Action,
    path: PathBuf,
    target: String,
    ignore: Ignore,
}

/// The rules of the `services` (all when empty) of the project; an error names a rule
/// berth cannot follow.
fn rules(target: &Target, services: &[String]) -> anyhow::Result<Vec<Rule>> {
    let Some(p) = &target.project else {
        bail!("watch needs the project's compose file");
    };
    target.check_services(services)?;
    let mut out = Vec::new();
    for (name, svc) in &p.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        let items = svc
            .develop
            .as_ref()
            .and_then(|d| d.get("watch"))
            .and_then(Value::as_array);
        for (i, w) in items.into_iter().flatten().enumerate() {
            let at = || format!("service {name}: develop.watch[{i}]");
            let action = match w["action"].as_str().unwrap_or("") {
                "sync" => Action::Sync,
                "sync+restart" => Action::SyncRestart,
                "restart" => Action::Restart,
                "rebuild" => Action::Rebuild,
                "sync+exec" => bail!("{}: action sync+exec is not supported yet", at()),
                other => bail!("{}: unknown action {other:?}", at()),
            };
            // Nothing is ignored silently (the README's promise): newer keys are named.
            for key in w.as_object().into_iter().flat_map(|m| m.keys()) {
                let empty_exec = key == "exec" && w["exec"]["command"].is_null();
                if !empty_exec && !matches!(key.as_str(), "action" | "path" | "target" | "ignore") {
                    eprintln!(
                        "WARN[0000] {}.{key} is not supported yet and is ignored",
                        at()
                    );
                }
            }
            let path = PathBuf::from(w["path"].as_str().unwrap_or(""));
            let target = w["target"].as_str().unwrap_or("").to_string();
            if matches!(action, Action::Sync | Action::SyncRestart) && target.is_empty() {
                bail!("{}: a {} action needs a target", at(), action_name(action));
            }
            if action == Action::Rebuild && svc.build.is_none() {
                bail!("{}: rebuild needs a build section", at());
            }
            let patterns: Vec<&str> = w["ignore"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let ignore =
                Ignore::from_patterns(patterns).with_context(|| format!("{}: ignore", at()))?;
            out.push(Rule {
                service: name.clone(),
                action,
                path,
                target,
                ignore,
            });
        }
    }
    if out.is_empty() {
        bail!("none of the selected services is configured for watch, consider setting a 'develop' section");
    }
    Ok(out)
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Sync => "sync",
        Action::SyncRestart => "sync+restart",
        Action::Restart => "restart",
        Action::Rebuild => "rebuild",
    }
}

/// Files editors write beside the real ones (Compose's ephemeral-file matcher): never synced.
fn ephemeral(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.starts_with(".#")
        || name == "4913"
}

/// `path` relative to the rule's, `/`-separated, if the rule covers it and does not ignore it.
fn covered(rule: &Rule, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(&rule.path).ok()?;
    let rel = rel.to_string_lossy().into_owned();
    if ephemeral(path) || (!rel.is_empty() && rule.ignore.excludes(&rel)) {
        return None;
    }
    Some(rel)
}

pub fn watch(g: &GlobalOpts, a: &WatchArgs) -> anyhow::Result<i32> {
    let target = Target::resolve(g)?;
    let rules = rules(&target, &a.services)?;
    if !a.no_up {
        let up = super::stack::UpArgs {
            detach: true,
            services: a.services.clone(),
            ..Default::default()
        };
        super::stack::up(g, &up)?;
    }
    follow(g, &target.name, rules, &a.services, a.quiet)
}

/// `up --watch`'s watch: the rules, read (and refused) before `up` makes anything.
pub struct Watching {
    project: String,
    rules: Vec<Rule>,
}

impl Watching {
    /// The rules of `services` (all when empty); an error names what cannot be followed.
    pub fn prepare(g: &GlobalOpts, services: &[String]) -> anyhow::Result<Watching> {
        let target = Target::resolve(g)?;
        let rules = rules(&target, services)?;
        Ok(Watching {
            project: target.name,
            rules,
        })
    }

    /// Follows the rules on a thread of its own while `up` stays attached.
    pub fn spawn(self, g: &GlobalOpts, services: &[String]) -> anyhow::Result<()> {
        // Attached `up` takes Ctrl-C on its signal thread (see stack_attach): this thread
        // must not be the one the kernel hands SIGINT to, or the default action ends the
        // process before the containers are stopped. A thread inherits its creator's mask.
        let mut sigs = nix::sys::signal::SigSet::empty();
        sigs.add(nix::sys::signal::Signal::SIGINT);
        sigs.add(nix::sys::signal::Signal::SIGTERM);
        sigs.thread_block()?;
        let (g, services) = (g.clone(), services.to_vec());
        std::thread::spawn(move || {
            if let Err(e) = follow(&g, &self.project, self.rules, &services, false) {
                eprintln!("berth: watch: {e:#}");
            }
        });
        Ok(())
    }
}

/// Watches every rule's path and acts on each quiet batch of changes until interrupted.
fn follow(
    g: &GlobalOpts,
    project: &str,
    rules: Vec<Rule>,
    services: &[String],
    quiet: bool,
) -> anyhow::Result<i32> {
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(tx).context("starting the file watch")?;
    let mut watched = BTreeSet::new();
    for r in &rules {
        if watched.insert(r.path.clone()) {
            // A path that does not exist yet cannot be watched: said, and skipped.
            if r.path.exists() {
                notify::Watcher::watch(&mut watcher, &r.path, notify::RecursiveMode::Recursive)
                    .with_context(|| format!("watching {}", r.path.display()))?;
            } else {
                eprintln!(
                    "WARN[0000] service {}: {} does not exist and is not watched",
                    r.service,
                    r.path.display()
                );
            }
        }
    }
    let c = Client::connect(g)?;
    println!("Watch enabled");
    loop {
        let mut changed = BTreeSet::new();
        let first = rx.recv().context("the file watch ended")?;
        collect(first, &mut changed);
        while let Ok(e) = rx.recv_timeout(QUIET) {
            collect(e, &mut changed);
        }
        // Per service: its rules' actions and the files each sync rule copies or deletes.
        let mut work: BTreeMap<&str, Batch> = BTreeMap::new();
        for r in &rules {
            let hits: Vec<(PathBuf, String)> = changed
                .iter()
                .filter_map(|p| covered(r, p).map(|rel| (p.clone(), rel)))
                .collect();
            if hits.is_empty() {
                continue;
            }
            let b = work.entry(&r.service).or_default();
            b.changes += hits.len();
            b.actions.insert(r.action);
            if matches!(r.action, Action::Sync | Action::SyncRestart) {
                for (host, rel) in hits {
                    b.sync.push((r.target.clone(), host, rel));
                }
            }
        }
        for (service, b) in work {
            if let Err(e) = act(g, &c, project, service, &b, services, quiet) {
                eprintln!("berth: watch: service {service}: {e:#}");
            }
        }
    }
}

#[derive(Default)]
struct Batch {
    changes: usize,
    actions: BTreeSet<Action>,
    /// (target in the container, host file, its path relative to the rule's).
    sync: Vec<(String, PathBuf, String)>,
}

fn collect(e: notify::Result<notify::Event>, into: &mut BTreeSet<PathBuf>) {
    if let Ok(e) = e {
        if !matches!(e.kind, notify::EventKind::Access(_)) {
            into.extend(e.paths);
        }
    }
}

/// One batch of one service: a rebuild supersedes the rest (the new containers are made
/// from the new image); otherwise sync, then restart when a rule asks.
fn act(
    g: &GlobalOpts,
    c: &Client,
    project: &str,
    service: &str,
    b: &Batch,
    services: &[String],
    quiet: bool,
) -> anyhow::Result<()> {
    if b.actions.contains(&Action::Rebuild) {
        println!("Rebuilding service(s) [\"{service}\"] after changes were detected...");
        let load = stack_load(g)?;
        if super::build::stack_build(c, &load, &[service.to_string()], "always", quiet)? != 0 {
            bail!("the rebuild failed; the service runs as it was");
        }
        println!("service(s) [\"{service}\"] successfully built");
        let up = super::stack::UpArgs {
            detach: true,
            no_build: false,
            services: services.to_vec(),
            ..Default::default()
        };
        super::stack::up(g, &up)?;
        return Ok(());
    }
    let target = Target {
        name: project.to_string(),
        project: None,
    };
    let containers: Vec<_> = target
        .containers(c, &[service.to_string()], false)?
        .into_iter()
        .filter(|x| x.running())
        .collect();
    if !b.sync.is_empty() {
        println!(
            "Syncing service \"{service}\" after {} changes were detected",
            b.changes
        );
        for x in &containers {
            sync(c, &x.id, &b.sync)?;
        }
    }
    if b.actions.contains(&Action::SyncRestart) || b.actions.contains(&Action::Restart) {
        if b.sync.is_empty() {
            println!(
                "Restarting service \"{service}\" after {} changes were detected",
                b.changes
            );
        }
        for x in &containers {
            c.post(&format!("/containers/{}/restart", q(&x.id)), None)?;
        }
    }
    Ok(())
}

/// Copies what exists into the container and deletes what no longer does (`rm -rf` in the
/// container, as Compose's sync).
fn sync(c: &Client, ctr: &str, files: &[(String, PathBuf, String)]) -> anyhow::Result<()> {
    // By directory of the container: (host file, its path under that directory).
    let mut copy: BTreeMap<String, Vec<(PathBuf, String)>> = BTreeMap::new();
    let mut gone = Vec::new();
    for (target, host, rel) in files {
        let (dir, name) = if rel.is_empty() {
            // The rule's path is the file itself: it becomes the target.
            let t = Path::new(target);
            let dir = t.parent().unwrap_or(Path::new("/")).display().to_string();
            let name = t.file_name().map(|n| n.to_string_lossy().into_owned());
            (dir, name.unwrap_or_default())
        } else {
            (target.clone(), rel.clone())
        };
        if host.symlink_metadata().is_ok() {
            copy.entry(dir).or_default().push((host.clone(), name));
        } else {
            gone.push(format!("{}/{name}", dir.trim_end_matches('/')));
        }
    }
    for (dir, files) in &copy {
        super::copy::sync_into(c, ctr, dir, files)?;
    }
    if !gone.is_empty() {
        let mut command = vec!["rm".to_string(), "-rf".to_string()];
        command.extend(gone);
        let args = super::exec::ExecArgs {
            interactive: false,
            tty: false,
            env: Vec::new(),
            user: None,
            workdir: None,
            detach: false,
            container: ctr.to_string(),
            command,
        };
        if super::exec::run(c, &args)? != 0 {
            bail!("removing the deleted files from container {ctr} failed");
        }
    }
    Ok(())
}
