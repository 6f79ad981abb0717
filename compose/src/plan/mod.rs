//! The planner: what `up` does to a project, decided without touching anything.
//!
//! Desired state (the loaded project and `up`'s options) against observed state (what exists,
//! as plain data) -> the ordered actions `up` takes, each with its reason. The daemon's
//! controller asks the same questions ([`select_services`], [`plan_networks`],
//! [`plan_volumes`], [`replica_action`]) and executes the answers, so what `up --dry-run`
//! prints ([`plan_up`]) is what `up` does.

mod resources;

pub use resources::{
    diverged_volumes, network_definition, plan_networks, plan_volumes, NetworkAction,
    NetworkChanges, NetworkDefinition, PlanError,
};

use crate::{config_hash, container_name, levels, replicas, Project};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// The services `up` acts on: those named (all when none are) with their required
/// dependencies unless `no_deps`, less those in `skip`.
pub fn select_services(
    p: &Project,
    services: &[String],
    no_deps: bool,
    skip: &BTreeSet<String>,
) -> Result<HashSet<String>, PlanError> {
    let mut sel = HashSet::new();
    if services.is_empty() {
        sel = p.services.keys().cloned().collect();
    }
    let mut todo: Vec<String> = services.to_vec();
    while let Some(s) = todo.pop() {
        let svc = p
            .services
            .get(&s)
            .ok_or_else(|| PlanError::Invalid(format!("no such service: {s}")))?;
        if sel.insert(s.clone()) && !no_deps {
            todo.extend(
                svc.depends_on
                    .iter()
                    .filter(|(_, d)| d.required)
                    .map(|(k, _)| k.clone()),
            );
        }
    }
    sel.retain(|s| !skip.contains(s));
    Ok(sel)
}

/// The order `down` removes services in, a level at a time: containers of services no
/// longer in the file first (orphans), then the project's levels in reverse dependency
/// order. Without the file (`p` is None), every service with containers at once.
pub fn down_order<'a>(
    p: Option<&Project>,
    with_containers: impl IntoIterator<Item = &'a String>,
) -> Vec<Vec<String>> {
    let present = with_containers.into_iter().cloned();
    let Some(p) = p else {
        return vec![present.collect()];
    };
    let all: HashSet<String> = p.services.keys().cloned().collect();
    let mut l = levels(p, &all);
    l.reverse();
    let orphans: Vec<String> = present.filter(|s| !p.services.contains_key(s)).collect();
    std::iter::once(orphans).chain(l).collect()
}

/// The services of containers that exist but whose service is no longer in the file.
pub fn orphan_services<'a>(
    p: &Project,
    with_containers: impl IntoIterator<Item = &'a String>,
) -> Vec<String> {
    with_containers
        .into_iter()
        .filter(|s| !p.services.contains_key(*s))
        .cloned()
        .collect()
}

/// What a replica's container is doing, as far as the plan cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaState {
    Running,
    Paused,
    Restarting,
    /// Created, exited, dead or being removed: not running.
    Stopped,
}

/// The options of `up` that change what is done to a replica that exists.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplicaPolicy {
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub no_start: bool,
    /// The reconcile loop's mode: a container that is stopped and unchanged stays stopped.
    pub keep_stopped: bool,
}

/// What happens to one replica (a container number of a service).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaAction {
    /// No container has this number yet: create it, then start it unless `start` is false.
    Create { start: bool },
    /// Replace the container (its anonymous volumes carry over), then start it unless
    /// `start` is false.
    Recreate { reason: RecreateReason, start: bool },
    /// Unchanged but not running.
    Start,
    /// `depends_on.restart`: a dependency was recreated or restarted in this pass.
    Restart,
    /// Unchanged, and running (or paused, or restarting under its policy).
    Keep,
    /// Unchanged and stopped, and the reconcile loop leaves stopped containers alone.
    LeaveStopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecreateReason {
    ConfigChanged,
    /// The service's image now names another image (rebuilt, pulled or retagged).
    ImageChanged,
    Forced,
}

/// Decides one replica: `existing` is the config hash and state of the container with its
/// number, if there is one; `dependency_updated` says a dependency with `restart: true` was
/// recreated or restarted earlier in the same pass; `image_changed` that the container's
/// image is no longer the one its service's image name points at.
pub fn replica_action(
    desired_hash: &str,
    existing: Option<(&str, ReplicaState)>,
    policy: ReplicaPolicy,
    dependency_updated: bool,
    image_changed: bool,
) -> ReplicaAction {
    let start = !policy.no_start;
    let Some((hash, state)) = existing else {
        return ReplicaAction::Create { start };
    };
    let changed = hash != desired_hash;
    if (changed || image_changed || policy.force_recreate) && !policy.no_recreate {
        let reason = if changed {
            RecreateReason::ConfigChanged
        } else if image_changed {
            RecreateReason::ImageChanged
        } else {
            RecreateReason::Forced
        };
        return ReplicaAction::Recreate { reason, start };
    }
    let up = matches!(
        state,
        ReplicaState::Running | ReplicaState::Paused | ReplicaState::Restarting
    );
    if start && !up {
        return match policy.keep_stopped {
            true => ReplicaAction::LeaveStopped,
            false => ReplicaAction::Start,
        };
    }
    if dependency_updated && state == ReplicaState::Running {
        return ReplicaAction::Restart;
    }
    ReplicaAction::Keep
}

/// A container of the project as observed: its number, name, config hash and state.
#[derive(Debug, Clone)]
pub struct ObservedReplica {
    pub number: u32,
    pub name: String,
    pub config_hash: String,
    pub state: ReplicaState,
    /// Its image is no longer what the service's image name points at.
    pub image_changed: bool,
}

/// What exists of a project, as plain data (the daemon reads it from its stores).
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The project's containers (one-offs excluded), by service label.
    pub containers: BTreeMap<String, Vec<ObservedReplica>>,
    /// Networks that exist, by name, with their labels.
    pub networks: BTreeMap<String, BTreeMap<String, String>>,
    /// Volumes that exist, by name.
    pub volumes: BTreeSet<String>,
}

/// `up`'s options, as far as the plan is concerned.
#[derive(Debug, Clone, Default)]
pub struct UpPlanOptions {
    /// The services `up` acts on (with their dependencies unless `--no-deps`).
    pub selected: HashSet<String>,
    pub scale: BTreeMap<String, u32>,
    pub remove_orphans: bool,
    pub policy: ReplicaPolicy,
    pub network_changes: NetworkChanges,
}

/// One step of the plan: what is done to which object, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// `Network`, `Volume` or `Container`, as Compose's progress display names them.
    pub kind: &'static str,
    pub name: String,
    /// `Create`, `Recreate`, `Start`, `Restart`, `Remove`, `Keep`, ...
    pub action: &'static str,
    pub reason: String,
}

fn step(kind: &'static str, name: &str, action: &'static str, reason: impl Into<String>) -> Step {
    Step {
        kind,
        name: name.to_string(),
        action,
        reason: reason.into(),
    }
}

/// The steps of `up` in the order it takes them: networks, volumes, orphans, then the
/// services a dependency level at a time (scale-downs last in each service). Unchanged
/// replicas are in the plan too (`Keep`), so the plan accounts for every container.
pub fn plan_up(
    p: &Project,
    o: &UpPlanOptions,
    observed: &Observed,
) -> Result<Vec<Step>, PlanError> {
    let mut steps = Vec::new();
    for (name, action) in plan_networks(p, &observed.networks, o.network_changes)? {
        match action {
            NetworkAction::Create(_) => {
                steps.push(step("Network", &name, "Create", "does not exist"))
            }
            NetworkAction::Recreate(_) => steps.push(step(
                "Network",
                &name,
                "Recreate",
                "its definition changed (containers are rewired, keeping their addresses)",
            )),
            NetworkAction::LeaveChanged | NetworkAction::Keep => {}
        }
    }
    for (name, _) in plan_volumes(p, &observed.volumes)? {
        steps.push(step("Volume", &name, "Create", "does not exist"));
    }
    for service in orphan_services(p, observed.containers.keys()) {
        for r in &observed.containers[&service] {
            match o.remove_orphans {
                true => steps.push(step(
                    "Container",
                    &r.name,
                    "Remove",
                    "orphan: its service is gone",
                )),
                false => steps.push(step(
                    "Container",
                    &r.name,
                    "Keep",
                    "orphan: its service is gone (--remove-orphans removes it)",
                )),
            }
        }
    }
    let mut updated: HashSet<String> = HashSet::new();
    for level in levels(p, &o.selected) {
        let mut updated_now = Vec::new();
        for s in &level {
            let svc = &p.services[s];
            let hash = config_hash(svc);
            let dependency_updated = svc
                .depends_on
                .iter()
                .any(|(dep, c)| c.restart == Some(true) && updated.contains(dep));
            let want = o.scale.get(s).copied().unwrap_or_else(|| replicas(svc));
            let mut have: BTreeMap<u32, &ObservedReplica> = observed
                .containers
                .get(s)
                .into_iter()
                .flatten()
                .map(|r| (r.number, r))
                .collect();
            for n in 1..=want {
                let name = container_name(&p.name, s, svc, n);
                let existing = have.remove(&n);
                let observed = existing.map(|r| (r.config_hash.as_str(), r.state));
                let image_changed = existing.is_some_and(|r| r.image_changed);
                let action =
                    replica_action(&hash, observed, o.policy, dependency_updated, image_changed);
                if matches!(
                    action,
                    ReplicaAction::Recreate { .. } | ReplicaAction::Restart
                ) {
                    updated_now.push(s.clone());
                }
                steps.extend(replica_steps(&name, action));
            }
            for r in have.into_values().rev() {
                let reason = format!("scaled down to {want}");
                steps.push(step("Container", &r.name, "Remove", reason));
            }
        }
        updated.extend(updated_now);
    }
    Ok(steps)
}

fn replica_steps(name: &str, action: ReplicaAction) -> Vec<Step> {
    let start = |reason: &str| step("Container", name, "Start", reason);
    match action {
        ReplicaAction::Create { start: then_start } => {
            let mut v = vec![step("Container", name, "Create", "does not exist")];
            v.extend(then_start.then(|| start("created")));
            v
        }
        ReplicaAction::Recreate {
            reason,
            start: then_start,
        } => {
            let why = match reason {
                RecreateReason::ConfigChanged => "its configuration changed",
                RecreateReason::ImageChanged => "its image changed",
                RecreateReason::Forced => "--force-recreate",
            };
            let mut v = vec![step("Container", name, "Recreate", why)];
            v.extend(then_start.then(|| start("recreated")));
            v
        }
        ReplicaAction::Start => vec![start("not running")],
        ReplicaAction::Restart => vec![step(
            "Container",
            name,
            "Restart",
            "a dependency with `restart: true` was updated",
        )],
        ReplicaAction::Keep => vec![step("Container", name, "Keep", "up to date")],
        ReplicaAction::LeaveStopped => {
            vec![step("Container", name, "Keep", "stopped and unchanged")]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: ReplicaState = ReplicaState::Running;
    const OFF: ReplicaState = ReplicaState::Stopped;

    fn act(existing: Option<(&str, ReplicaState)>, p: ReplicaPolicy, dep: bool) -> ReplicaAction {
        replica_action("h1", existing, p, dep, false)
    }

    #[test]
    fn a_missing_replica_is_created_and_started_unless_no_start() {
        let p = ReplicaPolicy::default();
        assert_eq!(act(None, p, false), ReplicaAction::Create { start: true });
        let p = ReplicaPolicy {
            no_start: true,
            ..p
        };
        assert_eq!(act(None, p, false), ReplicaAction::Create { start: false });
    }

    #[test]
    fn only_a_changed_hash_or_force_recreates_and_no_recreate_wins() {
        let p = ReplicaPolicy::default();
        let changed = ReplicaAction::Recreate {
            reason: RecreateReason::ConfigChanged,
            start: true,
        };
        assert_eq!(act(Some(("h0", RUN)), p, false), changed);
        assert_eq!(act(Some(("h1", RUN)), p, false), ReplicaAction::Keep);
        let forced = ReplicaPolicy {
            force_recreate: true,
            ..p
        };
        assert!(matches!(
            act(Some(("h1", RUN)), forced, false),
            ReplicaAction::Recreate {
                reason: RecreateReason::Forced,
                ..
            }
        ));
        let never = ReplicaPolicy {
            no_recreate: true,
            ..p
        };
        assert_eq!(act(Some(("h0", RUN)), never, false), ReplicaAction::Keep);
    }

    #[test]
    fn a_stopped_replica_starts_unless_the_loop_keeps_it_stopped() {
        let p = ReplicaPolicy::default();
        assert_eq!(act(Some(("h1", OFF)), p, false), ReplicaAction::Start);
        let kept = ReplicaPolicy {
            keep_stopped: true,
            ..p
        };
        assert_eq!(
            act(Some(("h1", OFF)), kept, false),
            ReplicaAction::LeaveStopped
        );
        let paused = Some(("h1", ReplicaState::Paused));
        assert_eq!(act(paused, p, false), ReplicaAction::Keep);
    }

    #[test]
    fn down_removes_orphans_first_then_dependents_before_their_dependencies() {
        let p = crate::load(&crate::LoadOptions {
            files: vec!["-".into()],
            stdin: Some(
                "services:\n  db: {image: x}\n  web: {image: x, depends_on: [db]}\n".into(),
            ),
            project_name: Some("d".into()),
            cwd: Some(std::env::temp_dir()),
            ..Default::default()
        })
        .unwrap();
        let present: Vec<String> = vec!["db".into(), "gone".into(), "web".into()];
        let order = down_order(Some(&p), &present);
        assert_eq!(
            order,
            vec![
                vec!["gone".to_string()],
                vec!["web".into()],
                vec!["db".into()]
            ]
        );
        assert_eq!(down_order(None, &present), vec![present.clone()]);
        assert_eq!(orphan_services(&p, &present), vec!["gone".to_string()]);
    }

    #[test]
    fn only_a_running_replica_restarts_after_its_dependency() {
        let p = ReplicaPolicy::default();
        assert_eq!(act(Some(("h1", RUN)), p, true), ReplicaAction::Restart);
        let paused = Some(("h1", ReplicaState::Paused));
        assert_eq!(act(paused, p, true), ReplicaAction::Keep);
    }
}
