//! What `--format` templates see for each listing, field for field as Docker's and Compose's
//! formatter contexts: names, headers, default tables and `{{json .}}` shapes (keys in
//! alphabetical order, as Docker marshals a context).

use crate::format::{
    context, created_either, created_unix, displayable_ports, ellipsis, go_quote, header,
    human_duration, labels_text, string_map, Port, Value,
};
use serde_json::Value as J;

fn s(v: &J) -> String {
    v.as_str().unwrap_or("").to_string()
}

fn ports_of(x: &J) -> Vec<Port> {
    x["Ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(Port::from_api)
        .collect()
}

fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// The networks a listed container is on, sorted, as Docker joins them.
fn networks(x: &J) -> String {
    let mut n: Vec<&String> = x["NetworkSettings"]["Networks"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    n.sort();
    n.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
}

fn mounts(x: &J, trunc: bool) -> (String, usize) {
    let list = x["Mounts"].as_array().cloned().unwrap_or_default();
    let names: Vec<String> = list
        .iter()
        .map(|m| {
            let n = m["Name"]
                .as_str()
                .filter(|n| !n.is_empty())
                .map(String::from);
            let n = n.unwrap_or_else(|| s(&m["Source"]));
            if trunc {
                ellipsis(&n, 15)
            } else {
                n
            }
        })
        .collect();
    // Every volume berth mounts is of the `local` driver.
    let local = list.iter().filter(|m| m["Type"] == "volume").count();
    (names.join(","), local)
}

/// `docker ps`'s columns.
pub const CONTAINER_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

pub fn container_header() -> Value {
    header(&[
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Labels", "LABELS"),
        ("LocalVolumes", "LOCAL VOLUMES"),
        ("Mounts", "MOUNTS"),
        ("Names", "NAMES"),
        ("Networks", "NETWORKS"),
        ("Ports", "PORTS"),
        ("RunningFor", "CREATED"),
        ("Size", "SIZE"),
        ("State", "STATE"),
        ("Status", "STATUS"),
    ])
}

/// docker CLI's `formatter.ContainerContext` for one `GET /containers` entry.
pub fn container(x: &J, trunc: bool) -> Value {
    let id = s(&x["Id"]);
    let cmd = s(&x["Command"]);
    let (created_at, age) = created_either(&x["Created"]);
    let (mounts, local) = mounts(x, trunc);
    let labels = string_map(&x["Labels"]);
    let names: Vec<String> = x["Names"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| n.as_str().unwrap_or("").trim_start_matches('/').to_string())
        .collect();
    context(
        "*formatter.ContainerContext",
        vec![
            (
                "Command",
                Value::Str(go_quote(&if trunc { ellipsis(&cmd, 20) } else { cmd })),
            ),
            ("CreatedAt", Value::Str(created_at)),
            ("ID", Value::Str(if trunc { short(&id) } else { id })),
            ("Image", Value::Str(s(&x["Image"]))),
            ("Labels", Value::Str(labels_text(&labels))),
            ("LocalVolumes", Value::Str(local.to_string())),
            ("Mounts", Value::Str(mounts)),
            ("Names", Value::Str(names.join(","))),
            ("Networks", Value::Str(networks(x))),
            ("Ports", Value::Str(displayable_ports(&ports_of(x)))),
            (
                "RunningFor",
                Value::Str(format!("{} ago", human_duration(age))),
            ),
            // Sized only where the answer has it (`system df`): Docker prints 0B otherwise too.
            (
                "Size",
                Value::Str(super::image::human_size(x["SizeRw"].as_u64().unwrap_or(0))),
            ),
            ("State", Value::Str(s(&x["State"]))),
            ("Status", Value::Str(s(&x["Status"]))),
        ],
        Some(labels),
    )
}

/// Compose's `ps` columns.
pub const COMPOSE_PS_TABLE: &str =
    "table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}";

pub fn compose_header() -> Value {
    header(&[
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("ExitCode", "EXIT CODE"),
        ("Health", "HEALTH"),
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Labels", "LABELS"),
        ("LocalVolumes", "LOCAL VOLUMES"),
        ("Mounts", "MOUNTS"),
        ("Name", "NAME"),
        ("Names", "NAMES"),
        ("Networks", "NETWORKS"),
        ("Ports", "PORTS"),
        ("Project", "PROJECT"),
        ("Publishers", "PUBLISHERS"),
        ("RunningFor", "CREATED"),
        ("Service", "SERVICE"),
        ("Size", "SIZE"),
        ("State", "STATE"),
        ("Status", "STATUS"),
    ])
}

/// Compose's `formatter.ContainerContext` (cmd/formatter/container.go) for one listed
/// container and its inspect document (exit code, health). Compose takes ExitCode and Health
/// from inspecting each container too.
pub fn compose_container(x: &J, inspect: &J, trunc: bool) -> Value {
    let docker = container(x, trunc);
    let Value::Struct(d) = &docker else {
        unreachable!("a container context is a struct")
    };
    let get = |k: &str| {
        d.fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::NoValue)
    };
    let labels = string_map(&x["Labels"]);
    let mut ports = ports_of(x);
    ports.sort_by_key(|p| p.private);
    let publishers = Value::List(
        ports
            .iter()
            .map(|p| {
                context(
                    "api.PortPublisher",
                    vec![
                        ("URL", Value::Str(p.ip.clone())),
                        ("TargetPort", Value::Int(p.private as i64)),
                        ("PublishedPort", Value::Int(p.public as i64)),
                        ("Protocol", Value::Str(p.proto.clone())),
                    ],
                    None,
                )
            })
            .collect(),
    );
    let name = match get("Names") {
        Value::Str(n) => n.split(',').next().unwrap_or("").to_string(),
        _ => String::new(),
    };
    context(
        "*formatter.ContainerContext",
        vec![
            ("Command", get("Command")),
            ("CreatedAt", get("CreatedAt")),
            (
                "ExitCode",
                Value::Int(inspect["State"]["ExitCode"].as_i64().unwrap_or(0)),
            ),
            (
                "Health",
                Value::Str(s(&inspect["State"]["Health"]["Status"])),
            ),
            ("ID", get("ID")),
            ("Image", get("Image")),
            ("Labels", get("Labels")),
            ("LocalVolumes", get("LocalVolumes")),
            ("Mounts", get("Mounts")),
            ("Name", Value::Str(name.clone())),
            ("Names", Value::Str(name)),
            ("Networks", get("Networks")),
            ("Ports", get("Ports")),
            (
                "Project",
                Value::Str(
                    labels
                        .get(berth_compose::LABEL_PROJECT)
                        .cloned()
                        .unwrap_or_default(),
                ),
            ),
            ("Publishers", publishers),
            ("RunningFor", get("RunningFor")),
            (
                "Service",
                Value::Str(
                    labels
                        .get(berth_compose::LABEL_SERVICE)
                        .cloned()
                        .unwrap_or_default(),
                ),
            ),
            ("Size", get("Size")),
            ("State", get("State")),
            ("Status", get("Status")),
        ],
        Some(labels),
    )
}

/// `docker images`' columns.
pub const IMAGE_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

pub fn image_header() -> Value {
    header(&[
        ("Containers", "CONTAINERS"),
        ("CreatedAt", "CREATED AT"),
        ("CreatedSince", "CREATED"),
        ("Digest", "DIGEST"),
        ("ID", "IMAGE ID"),
        ("Repository", "REPOSITORY"),
        ("SharedSize", "SHARED SIZE"),
        ("Size", "SIZE"),
        ("Tag", "TAG"),
        ("UniqueSize", "UNIQUE SIZE"),
        ("VirtualSize", "VIRTUAL SIZE"),
    ])
}

/// docker CLI's `formatter.imageContext`: one per repository:tag of each image.
pub fn images(i: &J, trunc: bool) -> Vec<Value> {
    let id = s(&i["Id"]);
    let (created_at, age) = created_either(&i["Created"]);
    let size = super::image::human_size(i["Size"].as_u64().unwrap_or(0));
    // Counted only by `system df` (Docker's list says -1, shown as N/A).
    let counted = |k: &str| i[k].as_i64().filter(|n| *n >= 0);
    let containers = counted("Containers").map_or("N/A".into(), |n| n.to_string());
    let shared = counted("SharedSize");
    let (shared_size, unique_size) = match shared {
        Some(sh) => (
            crate::format::units::human_size_4(sh as u64),
            crate::format::units::human_size_4(
                i["Size"].as_u64().unwrap_or(0).saturating_sub(sh as u64),
            ),
        ),
        None => ("N/A".into(), "N/A".into()),
    };
    let mut tags: Vec<String> = i["RepoTags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(String::from))
        .collect();
    if tags.is_empty() {
        tags.push("<none>:<none>".into());
    }
    tags.iter()
        .map(|t| {
            let (repo, tag) = match t.rfind(':') {
                Some(i) if !t[i..].contains('/') => (&t[..i], &t[i + 1..]),
                _ => (t.as_str(), ""),
            };
            context(
                "*formatter.imageContext",
                vec![
                    ("Containers", Value::Str(containers.clone())),
                    ("CreatedAt", Value::Str(created_at.clone())),
                    (
                        "CreatedSince",
                        Value::Str(format!("{} ago", human_duration(age))),
                    ),
                    ("Digest", Value::str("<none>")),
                    (
                        "ID",
                        Value::Str(if trunc { short(&id) } else { id.clone() }),
                    ),
                    ("Repository", Value::str(repo)),
                    ("SharedSize", Value::Str(shared_size.clone())),
                    ("Size", Value::Str(size.clone())),
                    ("Tag", Value::str(tag)),
                    ("UniqueSize", Value::Str(unique_size.clone())),
                    ("VirtualSize", Value::Str(size.clone())),
                ],
                None,
            )
        })
        .collect()
}

/// `docker network ls`' columns.
pub const NETWORK_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

pub fn network_header() -> Value {
    header(&[
        ("CreatedAt", "CREATED AT"),
        ("Driver", "DRIVER"),
        ("ID", "NETWORK ID"),
        ("IPv4", "IPV4"),
        ("IPv6", "IPV6"),
        ("Internal", "INTERNAL"),
        ("Labels", "LABELS"),
        ("Name", "NAME"),
        ("Scope", "SCOPE"),
    ])
}

/// docker CLI's `formatter.networkContext` for one berth network.
pub fn network(n: &J, trunc: bool) -> Value {
    let id = s(&n["id"]);
    let labels = string_map(&n["labels"]);
    context(
        "*formatter.networkContext",
        vec![
            (
                "CreatedAt",
                Value::Str(created_unix(n["created"].as_i64().unwrap_or(0))),
            ),
            ("Driver", Value::str("bridge")),
            ("ID", Value::Str(if trunc { short(&id) } else { id })),
            ("IPv4", Value::str("true")),
            ("IPv6", Value::str("false")),
            (
                "Internal",
                Value::Str(n["internal"].as_bool().unwrap_or(false).to_string()),
            ),
            ("Labels", Value::Str(labels_text(&labels))),
            ("Name", Value::Str(s(&n["name"]))),
            ("Scope", Value::str("local")),
        ],
        Some(labels),
    )
}

/// `docker volume ls`' columns.
pub const VOLUME_TABLE: &str = "table {{.Driver}}\t{{.Name}}";

pub fn volume_header() -> Value {
    header(&[
        ("Availability", "AVAILABILITY"),
        ("Driver", "DRIVER"),
        ("Group", "GROUP"),
        ("Labels", "LABELS"),
        ("Links", "LINKS"),
        ("Mountpoint", "MOUNTPOINT"),
        ("Name", "VOLUME NAME"),
        ("Scope", "SCOPE"),
        ("Size", "SIZE"),
        ("Status", "STATUS"),
    ])
}

/// docker CLI's `formatter.volumeContext`.
pub fn volume(v: &J) -> Value {
    let labels = string_map(&v["Labels"]);
    context(
        "*formatter.volumeContext",
        vec![
            ("Availability", Value::str("N/A")),
            (
                "Driver",
                Value::Str(v["Driver"].as_str().unwrap_or("local").into()),
            ),
            ("Group", Value::str("N/A")),
            ("Labels", Value::Str(labels_text(&labels))),
            ("Links", Value::str("N/A")),
            ("Mountpoint", Value::Str(s(&v["Mountpoint"]))),
            ("Name", Value::Str(s(&v["Name"]))),
            (
                "Scope",
                Value::Str(v["Scope"].as_str().unwrap_or("local").into()),
            ),
            ("Size", Value::str("N/A")),
            ("Status", Value::str("N/A")),
        ],
        Some(labels),
    )
}

/// The keys of Docker's inspect documents whose values are Go maps (a missing key prints
/// `<no value>`); every other object is a struct, whose unknown field is an error.
pub const INSPECT_MAPS: &[&str] = &[
    "Labels",
    "Options",
    "Networks",
    "Ports",
    "ExposedPorts",
    "Volumes",
    "Sysctls",
    "Tmpfs",
    "DriverOpts",
    "Containers",
    "Status",
    "Annotations",
    "PortBindings",
    "Aux",
];

/// `inspect -f`: the template run on each document, one line each. As Docker's inspect: a
/// template that does not parse fails with exit code 64 before anything is printed; one that
/// fails on a document is reported after the others' lines, with exit code 1 (as is a lookup
/// that failed, `lookup_failed`).
pub fn print_inspect(format: &str, docs: &[J], lookup_failed: bool) -> anyhow::Result<i32> {
    // Docker's inspect takes the template as it is (no `\t` rewriting, unlike the listings).
    let tmpl = match crate::format::Template::parse(format) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("berth: Template parsing error: {e}");
            return Ok(64);
        }
    };
    let mut out = String::new();
    let mut errors = vec![];
    for d in docs {
        match tmpl.execute(&Value::from_json(d, INSPECT_MAPS)) {
            Ok(text) => {
                out.push_str(&text);
                out.push('\n');
            }
            Err(e) => errors.push(format!("Template parsing error: {e}")),
        }
    }
    use std::io::Write;
    std::io::stdout().lock().write_all(out.as_bytes())?;
    for e in &errors {
        eprintln!("berth: {e}");
    }
    Ok(if errors.is_empty() && !lookup_failed {
        0
    } else {
        1
    })
}
