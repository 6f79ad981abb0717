//! Read-only service-level views, as Compose's: `top`, `port`, `images`, `events`.

use super::stack_logs::JsonLines;
use super::stack_select::Target;
use super::GlobalOpts;
use crate::client::{q, Client};
use clap::Args;
use serde_json::{json, Value};
use std::io::Write;

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
    pub services: Vec<String>,
}

/// `top`: each running container's processes, under its name.
pub fn top(g: &GlobalOpts, services: &[String]) -> anyhow::Result<i32> {
    let target = Target::resolve(g)?;
    target.check_services(services)?;
    let c = Client::connect(g)?;
    for x in target
        .containers(&c, services, false)?
        .iter()
        .filter(|x| x.running())
    {
        let v: Value = c.get(&format!("/containers/{}/top", x.id))?;
        let rows: Vec<Vec<String>> = std::iter::once(v["Titles"].clone())
            .chain(v["Processes"].as_array().into_iter().flatten().cloned())
            .map(|r| {
                r.as_array()
                    .into_iter()
                    .flatten()
                    .map(|f| f.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .collect();
        println!("{}", x.name);
        print_table(&rows);
        println!();
    }
    Ok(0)
}

/// Columns as wide as their widest cell, the last one unpadded.
fn print_table(rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(String::len)
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = std::io::stdout().lock();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   ", w = widths[i]));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
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

/// `images`: the images the project's containers use, with their ids and sizes.
pub fn images(g: &GlobalOpts, services: &[String]) -> anyhow::Result<i32> {
    let target = Target::resolve(g)?;
    target.check_services(services)?;
    let c = Client::connect(g)?;
    let images: Vec<Value> = c.get("/images")?;
    let rows = std::iter::once(
        ["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"]
            .map(String::from)
            .to_vec(),
    );
    let body = target
        .containers(&c, services, false)?
        .into_iter()
        .map(|x| {
            let image_id = x.raw["ImageID"].as_str().unwrap_or("").to_string();
            let size = images
                .iter()
                .find(|i| i["Id"] == image_id.as_str())
                .and_then(|i| i["Size"].as_u64())
                .unwrap_or(0);
            let reference = x.raw["Image"].as_str().unwrap_or("").to_string();
            let (repo, tag) = reference.rsplit_once(':').unwrap_or((&reference, "latest"));
            vec![
                x.name.clone(),
                repo.to_string(),
                tag.to_string(),
                image_id
                    .trim_start_matches("sha256:")
                    .chars()
                    .take(12)
                    .collect(),
                super::image::human_size(size),
            ]
        });
    print_table(&rows.chain(body).collect::<Vec<_>>());
    Ok(0)
}

/// `events`: the project's container events as they happen, as Compose prints them.
pub fn events(g: &GlobalOpts, a: &EventsArgs) -> anyhow::Result<i32> {
    let target = Target::resolve(g)?;
    target.check_services(&a.services)?;
    let c = Client::connect(g)?;
    let services = a.services.clone();
    let json = a.json;
    let mut out = JsonLines::new(|e: Value| {
        let service = e["labels"][berth_compose::LABEL_SERVICE]
            .as_str()
            .unwrap_or("");
        if !services.is_empty() && !services.iter().any(|s| s == service) {
            return None;
        }
        Some(event_line(&e, service, json) + "\n")
    });
    c.download(&format!("/events?project={}", q(&target.name)), &mut out)?;
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
        if json {
            return json!({
                "time": e["time"], "type": "stack", "action": e["action"],
                "attributes": { "name": name, "error": error },
            })
            .to_string();
        }
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
