//! Sending an export to a cluster, and taking it away again (the `cluster` feature).
//!
//! [`apply`] sends every object with server-side apply (field manager `berth`, forcing
//! ownership of the fields it sets, as `kubectl apply --server-side --force-conflicts`);
//! [`down`] lists, kind by kind, the objects labelled with berth and the project, and deletes
//! them with background propagation (a Job's pods go with it). Both talk to whatever
//! [`kube::Client`] they are given: [`connect`] makes one from the kubeconfig.

use crate::object::{api_resource, KINDS, MANAGED_BY, MANAGED_BY_LABEL, PROJECT_LABEL};
use crate::{Error, Object};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::collections::HashSet;
use std::path::Path;

/// The field manager berth's server-side applies are recorded under.
pub const FIELD_MANAGER: &str = "berth";

/// A client for the kubeconfig's current context (or `context`), and the namespace to use:
/// `namespace`, else the context's, else `default`. The kubeconfig is `kubeconfig`, else
/// $KUBECONFIG, else ~/.kube/config; without one, the in-cluster service account is used, as
/// kubectl does.
pub async fn connect(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    namespace: Option<&str>,
) -> Result<(Client, String), Error> {
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..KubeConfigOptions::default()
    };
    let in_context = |e: String| match context {
        Some(c) => Error::Kubeconfig(format!("context {c:?}: {e}")),
        None => Error::Kubeconfig(e),
    };
    let config = match (kubeconfig, context) {
        (Some(path), _) => {
            let kc = Kubeconfig::read_from(path)
                .map_err(|e| Error::Kubeconfig(format!("{}: {e}", path.display())))?;
            Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| in_context(e.to_string()))?
        }
        (None, Some(_)) => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| in_context(e.to_string()))?,
        (None, None) => Config::infer().await.map_err(|e| {
            let hint = if Kubeconfig::read().is_err() {
                " (no kubeconfig: set KUBECONFIG or write ~/.kube/config)"
            } else {
                ""
            };
            Error::Kubeconfig(format!("{e}{hint}"))
        })?,
    };
    let ns = namespace
        .map(str::to_string)
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).map_err(|e| Error::Kubeconfig(e.to_string()))?;
    Ok((client, ns))
}

fn api(client: &Client, namespace: &str, kind: &'static str) -> Api<DynamicObject> {
    let ar = api_resource(kind).expect("every exported kind has an API resource");
    Api::namespaced_with(client.clone(), namespace, &ar)
}

fn api_error(
    action: &'static str,
    kind: &'static str,
    name: &str,
) -> impl FnOnce(kube::Error) -> Error {
    let name = name.to_string();
    move |error| Error::Api {
        action,
        kind,
        name,
        error,
    }
}

/// One object sent or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub kind: &'static str,
    pub name: String,
}

/// Server-side applies every object into `namespace` (which each object is set to), in
/// order. `dry_run` has the server check and default everything but persist nothing. With
/// `remove_orphans`, objects of the project that the export no longer has are deleted
/// afterwards (claims excepted, as `down` keeps them); they are returned second.
pub async fn apply(
    client: &Client,
    namespace: &str,
    objects: &[Object],
    dry_run: bool,
    remove_orphans: bool,
) -> Result<(Vec<Done>, Vec<Done>), Error> {
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    params.dry_run = dry_run;
    let mut applied = vec![];
    let mut project = None;
    for o in objects {
        let mut o = o.clone();
        o.metadata_mut().namespace = Some(namespace.to_string());
        project = project.or_else(|| {
            o.metadata()
                .labels
                .as_ref()
                .and_then(|l| l.get(PROJECT_LABEL).cloned())
        });
        let (kind, name) = (o.kind(), o.name().to_string());
        let value =
            serde_json::to_value(&o).map_err(|e| Error::Invalid(format!("{kind} {name}: {e}")))?;
        let obj: DynamicObject = serde_json::from_value(value)
            .map_err(|e| Error::Invalid(format!("{kind} {name}: {e}")))?;
        api(client, namespace, kind)
            .patch(&name, &params, &Patch::Apply(&obj))
            .await
            .map_err(api_error("applying", kind, &name))?;
        applied.push(Done { kind, name });
    }
    let mut removed = vec![];
    if let (true, Some(project)) = (remove_orphans, project) {
        let keep: HashSet<(&str, &str)> =
            applied.iter().map(|d| (d.kind, d.name.as_str())).collect();
        for d in list(client, namespace, &project, false).await? {
            if !keep.contains(&(d.kind, d.name.as_str())) {
                delete(client, namespace, &d, dry_run).await?;
                removed.push(d);
            }
        }
    }
    Ok((applied, removed))
}

/// The objects of `project` in `namespace`, in the order they are to be removed (the reverse
/// of apply order); claims only with `volumes`.
pub async fn list(
    client: &Client,
    namespace: &str,
    project: &str,
    volumes: bool,
) -> Result<Vec<Done>, Error> {
    let selector = format!("{MANAGED_BY_LABEL}={MANAGED_BY},{PROJECT_LABEL}={project}");
    let mut out = vec![];
    for kind in KINDS.iter().rev() {
        if *kind == "PersistentVolumeClaim" && !volumes {
            continue;
        }
        let found = api(client, namespace, kind)
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(api_error("listing", kind, "(all)"))?;
        for o in found.items {
            if let Some(name) = o.metadata.name {
                out.push(Done { kind, name });
            }
        }
    }
    Ok(out)
}

async fn delete(client: &Client, namespace: &str, d: &Done, dry_run: bool) -> Result<(), Error> {
    let mut params = DeleteParams::background();
    params.dry_run = dry_run;
    match api(client, namespace, d.kind)
        .delete(&d.name, &params)
        .await
    {
        Ok(_) => Ok(()),
        // Gone meanwhile (a Job's pods, a second `down`): what was asked for holds.
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(api_error("deleting", d.kind, &d.name)(e)),
    }
}

/// Removes every object of `project` that berth applied to `namespace`, workloads first.
/// PersistentVolumeClaims (the data) stay unless `volumes`, as `down` keeps volumes without
/// `-v`. Returns what was removed.
pub async fn down(
    client: &Client,
    namespace: &str,
    project: &str,
    volumes: bool,
    dry_run: bool,
) -> Result<Vec<Done>, Error> {
    let found = list(client, namespace, project, volumes).await?;
    for d in &found {
        delete(client, namespace, d, dry_run).await?;
    }
    Ok(found)
}
