//! `berth volume ...`: create, ls, inspect, rm, prune — Docker's commands, output and
//! messages. Stack volumes live in the same store and show up here too.

use super::GlobalOpts;
use crate::client::{q, Client};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Args, Debug)]
pub struct VolumeArgs {
    #[command(subcommand)]
    pub cmd: VolumeCmd,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum VolumeCmd {
    /// Create a volume
    Create {
        /// Set metadata for a volume
        #[arg(long = "label")]
        labels: Vec<String>,
        /// Specify volume driver name (only local)
        #[arg(short, long, default_value = "local")]
        driver: String,
        /// Specify volume name
        #[arg(long = "name", conflicts_with = "volume")]
        name: Option<String>,
        volume: Option<String>,
    },
    /// List volumes
    #[command(alias = "list")]
    Ls {
        /// Only display volume names
        #[arg(short, long)]
        quiet: bool,
        /// Provide filter values (e.g. "dangling=true", "name=x", "label=k=v")
        #[arg(short, long = "filter")]
        filter: Vec<String>,
        /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go
        /// template
        #[arg(long)]
        format: Option<String>,
    },
    /// Display detailed information on one or more volumes
    Inspect {
        /// Format output using a custom template: 'json' or a Go template
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        volumes: Vec<String>,
    },
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm {
        /// Force the removal of one or more volumes
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        volumes: Vec<String>,
    },
    /// Remove unused local volumes
    Prune {
        /// Remove all unused volumes, not just anonymous ones
        #[arg(short, long)]
        all: bool,
        /// Do not prompt for confirmation
        #[arg(short, long)]
        force: bool,
        /// Provide filter values (e.g. "label=k=v")
        #[arg(long = "filter")]
        filter: Vec<String>,
    },
}

/// `--filter k=v`... as Docker's `filters` query parameter.
fn filters(list: &[String], extra: &[(&str, &str)]) -> anyhow::Result<String> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in list {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value)"))?;
        map.entry(k.to_string()).or_default().push(v.to_string());
    }
    for (k, v) in extra {
        map.entry(k.to_string()).or_default().push(v.to_string());
    }
    Ok(if map.is_empty() {
        String::new()
    } else {
        format!("?filters={}", q(&serde_json::to_string(&map)?))
    })
}

/// Docker's units.HumanSize: decimal units, four significant digits.
pub(crate) fn human_size(bytes: u64) -> String {
    crate::format::units::human_size_4(bytes)
}

/// Docker's inspect output: a JSON array indented by four spaces.
fn print_json_array(items: &[Value]) -> anyhow::Result<()> {
    if items.is_empty() {
        println!("[]");
        return Ok(());
    }
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(items, &mut ser)?;
    println!("{}", String::from_utf8(out)?);
    Ok(())
}

pub fn run(g: &GlobalOpts, args: &VolumeArgs) -> anyhow::Result<i32> {
    let c = Client::connect(g)?;
    match &args.cmd {
        VolumeCmd::Create {
            labels,
            driver,
            name,
            volume,
        } => {
            let labels: BTreeMap<&str, &str> = labels
                .iter()
                .map(|l| l.split_once('=').unwrap_or((l.as_str(), "")))
                .collect();
            let body = json!({
                "Name": name.as_ref().or(volume.as_ref()).cloned().unwrap_or_default(),
                "Driver": driver,
                "Labels": labels,
            });
            let v = c.post("/volumes/create", Some(&body))?;
            println!("{}", v["Name"].as_str().unwrap_or(""));
        }
        VolumeCmd::Ls {
            quiet,
            filter,
            format,
        } => {
            let v: Value = c.get(&format!("/volumes{}", filters(filter, &[])?))?;
            let list = v["Volumes"].as_array().cloned().unwrap_or_default();
            let format = match (quiet, format.as_deref()) {
                (true, None) => Some("{{.Name}}"),
                (_, f) => f,
            };
            let f = crate::format::Formatter::new(format, super::listing::VOLUME_TABLE)?;
            let rows: Vec<_> = list.iter().map(super::listing::volume).collect();
            f.print(&rows, &super::listing::volume_header())?;
        }
        VolumeCmd::Inspect { format, volumes } => {
            let mut found = Vec::new();
            let mut errors = Vec::new();
            for n in volumes {
                match c.get::<Value>(&format!("/volumes/{}", q(n))) {
                    Ok(v) => found.push(v),
                    Err(e) => errors.push(e),
                }
            }
            if let Some(f) = format.as_deref().filter(|f| *f != "json") {
                for e in &errors {
                    eprintln!("berth: {e:#}");
                }
                return super::listing::print_inspect(f, &found, !errors.is_empty());
            }
            print_json_array(&found)?;
            for e in &errors {
                eprintln!("berth: {e:#}");
            }
            return Ok(if errors.is_empty() { 0 } else { 1 });
        }
        VolumeCmd::Rm { force, volumes } => {
            let mut code = 0;
            let force = if *force { "?force=1" } else { "" };
            for n in volumes {
                match c.delete(&format!("/volumes/{}{force}", q(n))) {
                    Ok(_) => println!("{n}"),
                    Err(e) => {
                        eprintln!("berth: {e:#}");
                        code = 1;
                    }
                }
            }
            return Ok(code);
        }
        VolumeCmd::Prune { all, force, filter } => {
            if !force {
                let what = if *all { "all" } else { "anonymous" };
                let question = format!("WARNING! This will remove {what} local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] ");
                if !super::confirm(&question)? {
                    return Ok(0);
                }
            }
            let extra: &[(&str, &str)] = if *all { &[("all", "true")] } else { &[] };
            let v = c.post(&format!("/volumes/prune{}", filters(filter, extra)?), None)?;
            let deleted: Vec<&str> = v["VolumesDeleted"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut reclaimed = 0;
            if !deleted.is_empty() {
                println!("Deleted Volumes:\n{}\n", deleted.join("\n"));
                reclaimed = v["SpaceReclaimed"].as_u64().unwrap_or(0);
            }
            println!("Total reclaimed space: {}", human_size(reclaimed));
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_as_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1234), "1.234kB");
        assert_eq!(human_size(12_000), "12kB");
        assert_eq!(human_size(1_500_000), "1.5MB");
        assert_eq!(human_size(123_456_789), "123.5MB");
    }

    #[test]
    fn filters_encode_as_docker() {
        assert_eq!(filters(&[], &[]).unwrap(), "");
        let f = filters(&["dangling=true".into(), "label=a=b".into()], &[]).unwrap();
        let json = crate::client::unq(f.trim_start_matches("?filters="));
        assert_eq!(json, r#"{"dangling":["true"],"label":["a=b"]}"#);
        assert!(filters(&["bogus".into()], &[]).is_err());
    }
}
