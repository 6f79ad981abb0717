//! Read-only service-level views, as Compose's: `top`, `port`, `images`, `events`.

use super::stack_logs::JsonLines;
use super::stack_select::Target;
use super::GlobalOpts;
use crate::client::{q, Client};
use clap::Args;
use serde_json::{json, Value};

#[derive(Args, Debug)]
pub struct PortArgs {
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// tcp or udp
    #[arg(long, default_value = "tcp")]
    pub protocol: String,
    pub service: String,
    pub private_port: u16,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Output events as a stream of json objects
    #[arg(long)]
    pub json: bool,
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
    pub services: Vec<String>,
}

/// `top`, as Compose's: one table of every running container's processes (one-offs
/// included), sorted by container name, led by SERVICE and `#` (the replica; empty for a
/// one-off), CMD last; nothing at all when no container runs. Like Compose, names that are
/// not services select nothing rather than fail.
pub fn top(g: &GlobalOpts, services: &[String]) -> anyhow::Result<i32> {
    let target = Target::resolve(g)?;
    let c = Client::connect(g)?;
    let mut running: Vec<_> = target
        .containers(&c, services, true)?
        .into_iter()
        .filter(|x| x.running())
        .collect();
    running.sort_by(|a, b| a.name.cmp(&b.name));
    // Titles in the order first seen (containers may differ), CMD moved last.
    let mut titles: Vec<String> = vec!["SERVICE".into(), "#".into()];
    let mut rows: Vec<Vec<(String, String)>> = Vec::new();
    for x in &running {
        let v: Value = c.get(&format!("/containers/{}/top", x.id))?;
        let heads: Vec<String> = super::container_ops::cells(&v["Titles"]);
        for h in &heads {
            if !titles.contains(h) {
                titles.push(h.clone());
            }
        }
        let replica = if x.oneoff {
            String::new()
        } else {
            x.number.to_string()
        };
        for p in v["Processes"].as_array().into_iter().flatten() {
            let mut row = vec![
                ("SERVICE".to_string(), x.service.clone()),
                ("#".to_string(), replica.clone()),
            ];
            row.extend(heads.iter().cloned().zip(super::container_ops::cells(p)));
            rows.push(row);
        }
    }
    if rows.is_empty() {
        return Ok(0);
    }
    if let Some(i) = titles.iter().position(|t| t == "CMD") {
        let cmd = titles.remove(i);
        titles.push(cmd);
    }
    let mut text = titles.join("\t") + "\n";
    for row in &rows {
        let line: Vec<&str> = titles
            .iter()
            .map(|t| {
                row.iter()
                    .find(|(k, _)| k == t)
                    .map_or("-", |(_, v)| v.as_str())
            })
            .collect();
        text.push_str(&line.join("\t"));
        text.push('\n');
    }
    print!("{}", crate::format::tabwrite_with(&text, 4, 2));
    Ok(0)
}

/// `port`: the public address of one of the service's private ports.
pub fn port(g: &GlobalOpts, a: &PortArgs) -> anyhow::Result<i32> {
    let target = Target::resolve(g)?;
    let c = Client::connect(g)?;
    let x = target.replica(&c, &a.service, a.index)?;
    let ports: Vec<Value> = c.get(&format!("/containers/{}/port", x.id))?;
    let found = ports.iter().find(|p| {
        p["container_port"] == a.private_port
            && p["protocol"]
                .as_str()
                .unwrap_or("tcp")
                .eq_ignore_ascii_case(&a.protocol)
    });
    match found {
        Some(p) => {
            println!("{}:{}", p["host_ip"].as_str().unwrap_or(""), p["host_port"]);
            Ok(0)
        }
        None => anyhow::bail!(
            "no port {}/{} published for service {:?}",
            a.private_port,
            a.protocol,
            a.service
        ),
    }
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Only display IDs
    #[arg(short, long)]
    pub quiet: bool,
    pub services: Vec<String>,
}

/// One container's image, as Compose's ImageSummary.
struct ImageRow {
    container: String,
    id: String,
    repository: String,
    tag: String,
    platform: String,
    size: u64,
    /// When the image was last tagged (Compose's CREATED), else its creation time.
    last_tag_time: String,
}

/// `images`, as Compose's: one row per container of the project (stopped ones and one-offs
/// too), sorted by container name: CONTAINER REPOSITORY TAG PLATFORM IMAGE ID SIZE CREATED;
/// `--format json` (one array) and `-q` (the image ids, once each).
pub fn images(g: &GlobalOpts, a: &ImagesArgs) -> anyhow::Result<i32> {
    if !matches!(a.format.as_str(), "table" | "json") {
        anyhow::bail!(
            "format value {:?} could not be parsed: parsing failed",
            a.format
        );
    }
    let target = Target::resolve(g)?;
    let c = Client::connect(g)?;
    let mut rows: Vec<ImageRow> = Vec::new();
    for x in target.containers(&c, &a.services, true)? {
        let image_id = x.raw["ImageID"].as_str().unwrap_or("");
        let i: Value = c.get(&format!("/images/{}/json", q(image_id)))?;
        let (repository, tag) = familiar_repo_tag(x.raw["Image"].as_str().unwrap_or(""));
        let platform = [&i["Os"], &i["Architecture"], &i["Variant"]]
            .iter()
            .filter_map(|v| v.as_str().filter(|s| !s.is_empty()))
            .collect::<Vec<_>>()
            .join("/");
        let last_tag_time = i["Metadata"]["LastTagTime"]
            .as_str()
            .filter(|t| !t.is_empty() && !t.starts_with("0001-"))
            .or(i["Created"].as_str())
            .unwrap_or("")
            .to_string();
        rows.push(ImageRow {
            container: x.name.clone(),
            id: i["Id"].as_str().unwrap_or(image_id).to_string(),
            repository,
            tag,
            platform,
            size: i["Size"].as_u64().unwrap_or(0),
            last_tag_time,
        });
    }
    rows.sort_by(|a, b| a.container.cmp(&b.container));
    if a.quiet {
        let mut seen: Vec<&str> = Vec::new();
        for r in &rows {
            let id = r.id.split_once(':').map_or(r.id.as_str(), |(_, h)| h);
            if !seen.contains(&id) {
                seen.push(id);
                println!("{id}");
            }
        }
        return Ok(0);
    }
    if a.format == "json" {
        let list: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({
                    "ID": r.id, "ContainerName": r.container, "Repository": r.repository,
                    "Tag": r.tag, "Platform": r.platform, "Size": r.size,
                    "LastTagTime": r.last_tag_time,
                })
            })
            .collect();
        println!("{}", serde_json::to_string(&list)?);
        return Ok(0);
    }
    let mut text = "CONTAINER\tREPOSITORY\tTAG\tPLATFORM\tIMAGE ID\tSIZE\tCREATED\n".to_string();
    for r in &rows {
        let (_, age) = crate::format::created(&r.last_tag_time);
        let or_none = |s: &str| {
            if s.is_empty() {
                "<none>".to_string()
            } else {
                s.to_string()
            }
        };
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{} ago\n",
            r.container,
            or_none(&r.repository),
            or_none(&r.tag),
            r.platform,
            r.id.trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect::<String>(),
            super::image::human_size(r.size),
            crate::format::human_duration(age),
        ));
    }
    print!("{}", crate::format::tabwrite_with(&text, 20, 3));
    Ok(0)
}

/// The repository and tag Compose shows for a container's image reference: the familiar
/// name (`docker.io/library/` dropped), `latest` when no tag is given, no tag for a digest
/// reference, nothing for an image id.
fn familiar_repo_tag(reference: &str) -> (String, String) {
    if reference.starts_with("sha256:") || reference.is_empty() {
        return (String::new(), String::new());
    }
    let (name, digest) = match reference.split_once('@') {
        Some((n, _)) => (n, true),
        None => (reference, false),
    };
    let (repo, tag) = match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => (&name[..i], Some(&name[i + 1..])),
        _ => (name, None),
    };
    let repo = repo
        .strip_prefix("docker.io/library/")
        .or_else(|| repo.strip_prefix("docker.io/"))
        .unwrap_or(repo);
    let tag = match (tag, digest) {
        (Some(t), _) => t.to_string(),
        (None, true) => String::new(),
        (None, false) => "latest".to_string(),
    };
    (repo.to_string(), tag)
}

/// `events`: the project's container events as they happen, as Compose prints them.
pub fn events(g: &GlobalOpts, a: &EventsArgs) -> anyhow::Result<i32> {
    let target = Target::resolve(g)?;
    target.check_services(&a.services)?;
    let c = Client::connect(g)?;
    let services = a.services.clone();
    let json = a.json;
    let mut out = JsonLines::new(|e: Value| {
        // The daemon's stream carries the project's network and volume events too; Compose's
        // `events` shows containers only (and berth's stack events).
        if !matches!(e["type"].as_str(), Some("container" | "stack")) {
            return None;
        }
        let service = e["labels"][berth_compose::LABEL_SERVICE]
            .as_str()
            .unwrap_or("");
        if !services.is_empty() && !services.iter().any(|s| s == service) {
            return None;
        }
        Some(event_line(&e, service, json) + "\n")
    });
    // Compose's --since/--until, read as the docker CLI reads them (10m, RFC 3339, Unix).
    let window = super::log_window::LogWindow::new("", a.since.as_deref(), a.until.as_deref())?;
    let path = format!("/events?project={}{}", q(&target.name), window.range());
    c.download(&path, &mut out)?;
    Ok(0)
}

/// An event as Compose prints it: a line of text, or with --json its JSON shape.
fn event_line(e: &Value, service: &str, json: bool) -> String {
    let (name, image) = (
        e["name"].as_str().unwrap_or(""),
        e["image"].as_str().unwrap_or(""),
    );
    if e["type"] == "stack" {
        let error = e["labels"]["error"].as_str().unwrap_or("");
        // `recreate`: which container of which service, and why.
        let reason = e["labels"]["reason"].as_str().unwrap_or("");
        if json {
            let mut attributes = json!({ "name": name, "error": error });
            if !reason.is_empty() {
                attributes["service"] = json!(service);
                attributes["container"] = e["labels"]["container"].clone();
                attributes["reason"] = json!(reason);
            }
            return json!({
                "time": e["time"], "type": "stack", "action": e["action"],
                "attributes": attributes,
            })
            .to_string();
        }
        let error = if error.is_empty() { reason } else { error };
        let detail = if error.is_empty() {
            String::new()
        } else {
            format!(" ({error})")
        };
        return format!(
            "{} stack {} {name}{detail}",
            e["time"].as_str().unwrap_or(""),
            e["action"].as_str().unwrap_or("")
        );
    }
    if json {
        return json!({
            "time": e["time"], "type": "container", "action": e["action"],
            "id": e["id"], "service": service,
            "attributes": { "name": name, "image": image },
        })
        .to_string();
    }
    format!(
        "{} container {} {} (image={image}, name={name})",
        e["time"].as_str().unwrap_or(""),
        e["action"].as_str().unwrap_or(""),
        e["id"].as_str().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_show_as_compose_shows_them() {
        let rt = |r: &str| familiar_repo_tag(r);
        assert_eq!(rt("bb:local"), ("bb".into(), "local".into()));
        assert_eq!(rt("busybox"), ("busybox".into(), "latest".into()));
        assert_eq!(
            rt("docker.io/library/nginx:1"),
            ("nginx".into(), "1".into())
        );
        assert_eq!(rt("docker.io/me/app"), ("me/app".into(), "latest".into()));
        assert_eq!(
            rt("localhost:5000/x"),
            ("localhost:5000/x".into(), "latest".into())
        );
        assert_eq!(
            rt("ghcr.io/o/a@sha256:abc"),
            ("ghcr.io/o/a".into(), String::new())
        );
        assert_eq!(rt("sha256:abc"), (String::new(), String::new()));
    }
}
