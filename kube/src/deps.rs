//! depends_on -> init containers that wait for the dependency, and the account they ask the
//! Kubernetes API with.
//!
//! `service_started` and `service_healthy` wait until the dependency's pods (those its
//! Service selects) are Ready: with a health check their readiness probe is that check, so
//! Ready means healthy. `service_completed_successfully` waits for the dependency's Job to be
//! Complete. The waits run `kubectl wait` (the image's entrypoint) under a ServiceAccount
//! that may read the namespace's pods and Jobs.

use crate::generate::Ctx;
use crate::object::{PROJECT_LABEL, SERVICE_LABEL};
use crate::workload::Kind;
use crate::{names, Warning};
use k8s_openapi::api::core::v1::{Container, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};

/// The dependencies of `s` that are exported, with their conditions.
fn waited<'a>(
    cx: &'a Ctx,
    s: &str,
) -> impl Iterator<Item = (&'a String, &'a berth_compose::loader::model::Dependency)> + 'a {
    let chosen = &cx.chosen;
    cx.p.services[s]
        .depends_on
        .iter()
        .filter(move |(d, _)| chosen.contains(*d))
}

/// Does `s` get init containers that wait? (A Job has started once it exists: nothing
/// waits for `service_started` of one.)
pub(crate) fn has_waits(cx: &Ctx, s: &str) -> bool {
    waited(cx, s).any(|(dep, d)| {
        d.condition == "service_completed_successfully"
            || !matches!(cx.kinds[dep], Kind::Job { .. })
    })
}

/// The ServiceAccount the waiting pods run as.
pub(crate) fn account_name(cx: &Ctx) -> String {
    names::subdomain(&format!("{}-wait", cx.p.name)).unwrap_or_else(|| "berth-wait".into())
}

pub(crate) fn waits(cx: &mut Ctx, s: &str) -> Vec<Container> {
    let mut out = vec![];
    let mut warnings = vec![];
    for (dep, d) in waited(cx, s) {
        let key = format!("depends_on.{dep}");
        // links imply `restart: true`; only a written one asks for something.
        let linked = cx.p.services[s]
            .links
            .iter()
            .any(|l| l.split(':').next() == Some(dep.as_str()));
        if d.restart == Some(true) && !linked {
            warnings.push((format!("{key}.restart"), "has no Kubernetes equivalent (a dependency's restart does not restart this service) and is left out".to_string()));
        }
        let kind = cx.kinds[dep];
        let name = &cx.names[dep];
        let pods = vec![
            "wait".to_string(),
            "--for=condition=Ready".into(),
            "pod".into(),
            "-l".into(),
            format!("{PROJECT_LABEL}={},{SERVICE_LABEL}={dep}", cx.p.name),
            "--timeout=-1s".into(),
        ];
        let args = match (d.condition.as_str(), kind) {
            ("service_completed_successfully", Kind::Job { .. }) => vec![
                "wait".to_string(),
                "--for=condition=Complete".into(),
                format!("job/{name}"),
                "--timeout=-1s".into(),
            ],
            ("service_completed_successfully", _) => {
                warnings.push((format!("{key}.condition"), format!("{dep} runs as a {kind:?}, which never completes: this waits until it is Ready instead")));
                pods
            }
            // A Job has started once it exists; its pod may already be gone.
            (_, Kind::Job { .. }) => continue,
            ("service_healthy", _) => {
                if cx.p.services[dep].healthcheck.is_none() {
                    warnings.push((
                        format!("{key}.condition"),
                        format!("{dep} has no healthcheck: this waits until it is Ready (running)"),
                    ));
                }
                pods
            }
            _ => pods,
        };
        let cname = names::label(&format!("wait-{dep}")).unwrap_or_else(|| "wait".into());
        out.push(Container {
            name: cname,
            image: Some(cx.o.wait_image.clone()),
            args: Some(args),
            ..Container::default()
        });
    }
    for (k, m) in warnings {
        cx.w.service(s, k, m);
    }
    out
}

/// The ServiceAccount, Role and RoleBinding the waits need, when any service waits.
pub(crate) fn rbac(cx: &mut Ctx) {
    if !cx.selected.iter().any(|s| has_waits(cx, s)) {
        return;
    }
    let name = account_name(cx);
    let namespace = match &cx.o.namespace {
        Some(ns) => ns.clone(),
        None => {
            cx.w.0.push(Warning {
                scope: "project".into(),
                key: "depends_on".into(),
                message: "waits run as a ServiceAccount whose RoleBinding must name its namespace: it names `default`; pass --namespace for another".into(),
            });
            "default".into()
        }
    };
    cx.push(ServiceAccount {
        metadata: cx.meta(&name, None),
        ..ServiceAccount::default()
    });
    let rule = |group: &str, resource: &str| PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(vec![resource.to_string()]),
        verbs: vec!["get".into(), "list".into(), "watch".into()],
        ..PolicyRule::default()
    };
    cx.push(Role {
        metadata: cx.meta(&name, None),
        rules: Some(vec![rule("", "pods"), rule("batch", "jobs")]),
    });
    cx.push(RoleBinding {
        metadata: cx.meta(&name, None),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: name.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name,
            namespace: Some(namespace),
            ..Subject::default()
        }]),
    });
}
