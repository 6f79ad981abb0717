//! The translation's driver: which services, in which order, and the state the mappers share.

use crate::names;
use crate::object::{Object, MANAGED_BY, MANAGED_BY_LABEL, PROJECT_LABEL, SERVICE_LABEL};
use crate::warnings::Warnings;
use crate::{audit, deps, netpol, services, storage, workload, Error, Options, Warning};
use berth_compose::loader::Project;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The result of a translation: the objects, in apply order, and what did not carry over.
#[derive(Debug, Clone, Default)]
pub struct Manifests {
    pub objects: Vec<Object>,
    pub warnings: Vec<Warning>,
}

/// State shared by the mappers of one translation.
pub(crate) struct Ctx<'a> {
    pub p: &'a Project,
    pub o: &'a Options,
    pub w: Warnings,
    pub out: Vec<Object>,
    /// The exported services, in file order.
    pub selected: Vec<String>,
    /// The same, to look up.
    pub chosen: HashSet<String>,
    /// Services another exported service waits for with service_completed_successfully.
    pub awaited: HashSet<String>,
    /// Compose service -> the name of its Kubernetes Service (and workload).
    pub names: HashMap<String, String>,
    /// Compose service -> what runs it.
    pub kinds: HashMap<String, workload::Kind>,
    /// `Kind/name` of every object made so far, for objects several services share.
    pub made: HashSet<String>,
}

impl Ctx<'_> {
    /// Metadata every object starts from: its name, the namespace asked for, the project's
    /// labels (and the service's, for a service's objects).
    pub fn meta(&self, name: &str, service: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: self.o.namespace.clone(),
            labels: Some(self.labels(service)),
            ..ObjectMeta::default()
        }
    }

    /// The labels `down` selects on, plus the service's when given.
    pub fn labels(&self, service: Option<&str>) -> BTreeMap<String, String> {
        let mut l = BTreeMap::from([
            (MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string()),
            (PROJECT_LABEL.to_string(), self.p.name.clone()),
        ]);
        if let Some(s) = service {
            l.insert(SERVICE_LABEL.to_string(), s.to_string());
        }
        l
    }

    /// The pod selector of a service: its project and service labels.
    pub fn selector(&self, service: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (PROJECT_LABEL.to_string(), self.p.name.clone()),
            (SERVICE_LABEL.to_string(), service.to_string()),
        ])
    }

    pub fn push(&mut self, o: impl Into<Object>) {
        let o = o.into();
        self.made.insert(format!("{}/{}", o.kind(), o.name()));
        self.out.push(o);
    }

    /// Has an object of this kind and name been made?
    pub fn has(&self, kind: &str, name: &str) -> bool {
        self.made.contains(&format!("{kind}/{name}"))
    }
}

/// Translates a loaded project into Kubernetes objects. Pure: reads only the files that bind
/// mounts, configs and secrets name (their content goes into ConfigMaps and Secrets).
pub fn generate(p: &Project, o: &Options) -> Result<Manifests, Error> {
    if !names::is_label_value(&p.name) {
        return Err(Error::BadName {
            what: "project",
            name: p.name.clone(),
            why: "a label value has at most 63 characters".into(),
        });
    }
    if let Some(ns) = &o.namespace {
        if names::label(ns).as_deref() != Some(ns.as_str()) {
            return Err(Error::BadName {
                what: "namespace",
                name: ns.clone(),
                why: "a namespace is a DNS-1123 label (lowercase letters, digits, `-`)".into(),
            });
        }
    }
    let selected = select(p, &o.services)?;
    let mut cx = Ctx {
        p,
        o,
        w: Warnings::default(),
        out: vec![],
        names: HashMap::new(),
        kinds: HashMap::new(),
        made: HashSet::new(),
        chosen: selected.iter().cloned().collect(),
        awaited: selected
            .iter()
            .flat_map(|s| p.services[s].depends_on.iter())
            .filter(|(_, d)| d.condition == "service_completed_successfully")
            .map(|(dep, _)| dep.clone())
            .collect(),
        selected,
    };
    let mut seen: HashMap<String, String> = HashMap::new();
    for s in &cx.selected {
        let name = names::service_name(s).ok_or_else(|| Error::BadName {
            what: "service",
            name: s.clone(),
            why: "a Service name is a DNS-1035 label: it must start with a letter".into(),
        })?;
        if let Some(other) = seen.insert(name.clone(), s.clone()) {
            return Err(Error::NameClash {
                kind: "services",
                a: other,
                b: s.clone(),
                name,
            });
        }
        if name != *s {
            cx.w.service(
                s,
                "name",
                format!("is not a DNS label: its Service is named {name}, and other services must use that name"),
            );
        }
        cx.names.insert(s.clone(), name);
    }
    for s in cx.selected.clone() {
        let k = workload::kind_of(&cx, &s);
        cx.kinds.insert(s, k);
    }
    audit::project(&mut cx);
    storage::project_objects(&mut cx)?;
    for s in cx.selected.clone() {
        let svc = &p.services[&s];
        audit::service(&mut cx, &s, svc);
        workload::export(&mut cx, &s, svc)?;
    }
    services::export(&mut cx);
    netpol::export(&mut cx)?;
    deps::rbac(&mut cx);
    let Ctx { mut out, w, .. } = cx;
    // Stable: within a kind, objects keep the order they were made in (file order).
    out.sort_by_key(Object::rank);
    Ok(Manifests {
        objects: out,
        warnings: w.0,
    })
}

/// The services to export, in file order: those asked for and what they depend on (as `up
/// SERVICE` starts them), or every enabled service.
fn select(p: &Project, wanted: &[String]) -> Result<Vec<String>, Error> {
    for s in wanted {
        if !p.services.contains_key(s) {
            return Err(Error::NoSuchService(s.clone()));
        }
    }
    let set = berth_compose::select_services(p, wanted, false, &Default::default())
        .map_err(|e| Error::Invalid(e.to_string()))?;
    Ok(p.services
        .keys()
        .filter(|s| set.contains(*s))
        .cloned()
        .collect())
}
