//! The service's container: image, command, environment, user and privileges, resources,
//! probes and hooks.

use crate::generate::Ctx;
use crate::{env, names, probes, resources, Error};
use berth_compose::loader::model::Hook;
use berth_compose::loader::Service;
use k8s_openapi::api::core::v1::{
    AppArmorProfile, Capabilities, Container, ContainerPort, ExecAction, Lifecycle,
    LifecycleHandler, SecurityContext,
};
use std::collections::BTreeSet;

/// Kubernetes expands `$(VAR)` in command, args and env values, and turns `$$` into `$`:
/// double each `$` that would start either, so the container gets what Compose passed.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '$' && matches!(chars.peek(), Some('$') | Some('(')) {
            out.push('$');
        }
    }
    out
}

/// The image a service runs: its `image`, or the name Compose gives what it builds.
pub(crate) fn image_of(project: &str, s: &str, svc: &Service) -> String {
    svc.image
        .clone()
        .unwrap_or_else(|| format!("{project}-{s}"))
}

pub(crate) fn main(cx: &mut Ctx, s: &str, svc: &Service) -> Result<Container, Error> {
    let image = image_of(&cx.p.name, s, svc);
    if svc.build.is_some() {
        cx.w.service(s, "build", format!("is not built for the cluster: build and push {image} to a registry the cluster pulls from"));
    }
    let pull = match svc.pull_policy.as_deref() {
        None => None,
        Some("always") => Some("Always"),
        Some("never") => Some("Never"),
        Some("missing" | "if_not_present" | "build") => Some("IfNotPresent"),
        Some(p) => {
            cx.w.service(s, "pull_policy", format!("{p:?} has no Kubernetes equivalent (Always, IfNotPresent, Never) and is left out"));
            None
        }
    };
    if svc.entrypoint.as_ref().is_some_and(|e| e.is_empty()) {
        cx.w.service(
            s,
            "entrypoint",
            "is empty: Kubernetes cannot clear an image's entrypoint, so the image's runs",
        );
    }
    let nonempty = |c: &Option<Vec<String>>| {
        c.as_ref()
            .filter(|v| !v.is_empty())
            .map(|v| v.iter().map(|a| escape(a)).collect::<Vec<_>>())
    };
    let mut ports = vec![];
    let mut seen = BTreeSet::new();
    for p in &svc.ports {
        let proto = p.protocol.as_deref().unwrap_or("tcp").to_ascii_uppercase();
        if seen.insert((p.target, proto.clone())) {
            ports.push(ContainerPort {
                container_port: p.target as i32,
                protocol: Some(proto),
                ..ContainerPort::default()
            });
        }
    }
    let env = env::container_env(cx, s, svc)?;
    let res = resources::requirements(cx, s, svc);
    let (readiness, liveness, startup) = probes::probes(cx, s, svc);
    Ok(Container {
        name: names::label(s).unwrap_or_else(|| "main".into()),
        image: Some(image),
        image_pull_policy: pull.map(str::to_string),
        command: nonempty(&svc.entrypoint),
        args: nonempty(&svc.command),
        env: (!env.is_empty()).then_some(env),
        working_dir: svc.working_dir.clone(),
        ports: (!ports.is_empty()).then_some(ports),
        security_context: security(cx, s, svc),
        resources: res,
        readiness_probe: readiness,
        liveness_probe: liveness,
        startup_probe: startup,
        lifecycle: lifecycle(cx, s, svc),
        tty: svc.tty.filter(|t| *t),
        stdin: svc.stdin_open.filter(|t| *t),
        ..Container::default()
    })
}

/// user, cap_add/cap_drop, privileged, read_only, security_opt.
fn security(cx: &mut Ctx, s: &str, svc: &Service) -> Option<SecurityContext> {
    let mut sc = SecurityContext::default();
    if let Some(u) = &svc.user {
        let (user, group) = u
            .split_once(':')
            .map_or((u.as_str(), None), |(a, b)| (a, Some(b)));
        match user.parse::<i64>() {
            Ok(n) => sc.run_as_user = Some(n),
            Err(_) => cx.w.service(s, "user", format!("{user:?} is a user name; Kubernetes takes numeric ids only, so the image's user runs")),
        }
        if let Some(g) = group {
            match g.parse::<i64>() {
                Ok(n) => sc.run_as_group = Some(n),
                Err(_) => cx.w.service(s, "user", format!("group {g:?} is a name; Kubernetes takes numeric ids only, so it is left out")),
            }
        }
    }
    let caps = |v: &[String]| -> Option<Vec<String>> {
        (!v.is_empty()).then(|| {
            v.iter()
                .map(|c| c.trim_start_matches("CAP_").to_ascii_uppercase())
                .collect()
        })
    };
    if !svc.cap_add.is_empty() || !svc.cap_drop.is_empty() {
        sc.capabilities = Some(Capabilities {
            add: caps(&svc.cap_add),
            drop: caps(&svc.cap_drop),
        });
    }
    sc.privileged = svc.privileged.filter(|p| *p);
    sc.read_only_root_filesystem = svc.read_only.filter(|r| *r);
    for (i, o) in svc.security_opt.iter().enumerate() {
        let (k, v) = o
            .split_once(['=', ':'])
            .map_or((o.as_str(), ""), |(k, v)| (k, v));
        match (k, v) {
            ("no-new-privileges", "" | "true") => sc.allow_privilege_escalation = Some(false),
            ("no-new-privileges", "false") => {}
            ("seccomp", "unconfined") => {} // the pod's seccomp profile (workload.rs)
            ("apparmor", "unconfined") => {
                sc.app_armor_profile = Some(AppArmorProfile {
                    type_: "Unconfined".into(),
                    ..AppArmorProfile::default()
                })
            }
            ("apparmor", p) => {
                sc.app_armor_profile = Some(AppArmorProfile {
                    type_: "Localhost".into(),
                    localhost_profile: Some(p.to_string()),
                })
            }
            ("seccomp", _) => cx.w.service(s, format!("security_opt[{i}]"), format!("{o:?}: a seccomp profile file must be installed on the nodes (seccompProfile Localhost); the runtime's default profile applies")),
            _ => cx.w.service(s, format!("security_opt[{i}]"), format!("{o:?} has no Kubernetes equivalent and is left out")),
        }
    }
    (sc != SecurityContext::default()).then_some(sc)
}

/// post_start / pre_stop: Kubernetes runs one exec handler of each.
fn lifecycle(cx: &mut Ctx, s: &str, svc: &Service) -> Option<Lifecycle> {
    let mut handler = |key: &str, hooks: &[Hook]| -> Option<LifecycleHandler> {
        let h = hooks.first()?;
        if hooks.len() > 1 {
            cx.w.service(
                s,
                format!("{key}[1]"),
                "and later hooks are left out: Kubernetes runs one handler",
            );
        }
        for (k, set) in [
            ("user", h.user.is_some()),
            ("privileged", h.privileged.is_some()),
            ("working_dir", h.working_dir.is_some()),
            ("environment", !h.environment.is_empty()),
        ] {
            if set {
                cx.w.service(s, format!("{key}[0].{k}"), "has no Kubernetes equivalent (the hook runs as the container does) and is left out");
            }
        }
        Some(LifecycleHandler {
            exec: Some(ExecAction {
                command: Some(h.command.clone()),
            }),
            ..LifecycleHandler::default()
        })
    };
    let post_start = handler("post_start", &svc.post_start);
    let pre_stop = handler("pre_stop", &svc.pre_stop);
    (post_start.is_some() || pre_stop.is_some()).then_some(Lifecycle {
        post_start,
        pre_stop,
        ..Lifecycle::default()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn escape_keeps_what_compose_passed() {
        use super::escape;
        assert_eq!(escape("httpd -p $p"), "httpd -p $p");
        assert_eq!(escape("echo $(date)"), "echo $$(date)");
        assert_eq!(escape("pid $$"), "pid $$$");
        assert_eq!(escape("$"), "$");
    }
}
