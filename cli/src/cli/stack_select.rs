//! Which containers a service-level command acts on: the project's (by its labels), of the
//! named services, in dependency order.

use super::stack::stack_load;
use super::GlobalOpts;
use crate::client::Client;
use berth_compose::levels;
use berth_compose::loader::Project;
use berth_compose::{LABEL_NUMBER, LABEL_ONEOFF, LABEL_PROJECT, LABEL_SERVICE};
use serde_json::Value;
use std::collections::HashSet;

/// One container of the project, as `GET /containers` lists it.
#[derive(Debug, Clone)]
pub struct ServiceContainer {
    pub id: String,
    pub name: String,
    pub service: String,
    pub number: u32,
    pub oneoff: bool,
    pub state: String,
    pub raw: Value,
}

impl ServiceContainer {
    /// The name Compose shows in log prefixes and `Attaching to`: `SERVICE-N` for a
    /// container named `PROJECT-SERVICE-N`, the full name otherwise (a `container_name`, a
    /// one-off), as its getContainerNameWithoutProject.
    pub fn display_name(&self) -> &str {
        let project = self.raw["Labels"][LABEL_PROJECT].as_str().unwrap_or("");
        let default = format!("{project}-{}-{}", self.service, self.number);
        if self.name == default {
            &self.name[project.len() + 1..]
        } else {
            &self.name
        }
    }

    pub fn running(&self) -> bool {
        matches!(self.state.as_str(), "running" | "paused" | "restarting")
    }
}

/// The project a command acts on: its name, and its model when the files load (only -p and
/// no files is enough for commands that need no dependency order).
pub struct Target {
    pub name: String,
    pub project: Option<Project>,
}

impl Target {
    pub fn resolve(g: &GlobalOpts) -> anyhow::Result<Target> {
        let loaded = stack_load(g)?.load();
        match (loaded, &g.project_name) {
            (Ok(p), _) => Ok(Target {
                name: p.name.clone(),
                project: Some(p),
            }),
            (Err(_), Some(name)) => Ok(Target {
                name: name.clone(),
                project: None,
            }),
            (Err(e), None) => Err(anyhow::anyhow!("{e}")),
        }
    }

    /// `services` plus, transitively, the services that depend on one of them with
    /// `restart: true`: Compose restarts those after an explicit restart of their dependency.
    /// All services stay all services (an empty list).
    pub fn with_restart_dependents(&self, services: &[String]) -> Vec<String> {
        let Some(p) = &self.project else {
            return services.to_vec();
        };
        if services.is_empty() {
            return Vec::new();
        }
        let mut out: Vec<String> = services.to_vec();
        let mut i = 0;
        while i < out.len() {
            let dep = out[i].clone();
            for (name, svc) in &p.services {
                let follows = svc
                    .depends_on
                    .get(&dep)
                    .is_some_and(|d| d.restart == Some(true));
                if follows && !out.contains(name) {
                    out.push(name.clone());
                }
            }
            i += 1;
        }
        out
    }

    /// Fails on a service the project does not define, as Compose does.
    pub fn check_services(&self, services: &[String]) -> anyhow::Result<()> {
        if let Some(p) = &self.project {
            if let Some(s) = services.iter().find(|s| !p.services.contains_key(*s)) {
                anyhow::bail!("no such service: {s}");
            }
        }
        Ok(())
    }

    /// The project's service containers (one-offs only with `oneoff`), of `services` (all
    /// when empty), sorted by service and number.
    pub fn containers(
        &self,
        c: &Client,
        services: &[String],
        oneoff: bool,
    ) -> anyhow::Result<Vec<ServiceContainer>> {
        let list: Vec<Value> = c.get("/containers?all=1")?;
        let mut out: Vec<ServiceContainer> = list
            .into_iter()
            .filter(|x| x["Labels"][LABEL_PROJECT] == self.name.as_str())
            .map(|x| {
                let label = |k: &str| x["Labels"][k].as_str().unwrap_or("").to_string();
                ServiceContainer {
                    id: x["Id"].as_str().unwrap_or("").into(),
                    name: x["Names"][0]
                        .as_str()
                        .unwrap_or("")
                        .trim_start_matches('/')
                        .into(),
                    service: label(LABEL_SERVICE),
                    number: label(LABEL_NUMBER).parse().unwrap_or(0),
                    oneoff: label(LABEL_ONEOFF) == "True",
                    state: x["State"].as_str().unwrap_or("").into(),
                    raw: x,
                }
            })
            .filter(|x| oneoff || !x.oneoff)
            .filter(|x| services.is_empty() || services.contains(&x.service))
            .collect();
        out.sort_by(|a, b| (&a.service, a.number).cmp(&(&b.service, b.number)));
        Ok(out)
    }

    /// Container `index` (1-based) of `service`: what `exec` and `port` act on.
    pub fn replica(
        &self,
        c: &Client,
        service: &str,
        index: u32,
    ) -> anyhow::Result<ServiceContainer> {
        self.check_services(&[service.to_string()])?;
        self.containers(c, &[service.to_string()], false)?
            .into_iter()
            .find(|x| x.number == index)
            .ok_or_else(|| anyhow::anyhow!("service {service:?} has no container number {index}"))
    }

    /// `containers` grouped in dependency order: dependencies first. Services the files no
    /// longer define (or all, without a model) form one last group.
    pub fn in_dependency_order(&self, all: Vec<ServiceContainer>) -> Vec<Vec<ServiceContainer>> {
        let Some(p) = &self.project else {
            return vec![all];
        };
        let services: HashSet<String> = all.iter().map(|x| x.service.clone()).collect();
        let mut groups: Vec<Vec<ServiceContainer>> = levels(p, &services)
            .into_iter()
            .map(|level| {
                all.iter()
                    .filter(|x| level.contains(&x.service))
                    .cloned()
                    .collect()
            })
            .collect();
        let rest: Vec<ServiceContainer> = all
            .into_iter()
            .filter(|x| !p.services.contains_key(&x.service))
            .collect();
        if !rest.is_empty() {
            groups.push(rest);
        }
        groups
    }
}
