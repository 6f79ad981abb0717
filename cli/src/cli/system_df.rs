//! `berth system df` and `berth system prune`, as the docker CLI's: the daemon answers with
//! the Docker door's own `/system/df` and prune reports (berth's API serves them too), and
//! this module prints them as `docker system df|prune` do, so both CLIs agree on one state.

use super::listing::{container, container_header, image_header, images};
use super::GlobalOpts;
use crate::client::{q, Client};
use crate::format::units::human_size_4;
use crate::format::{context, header, tabwrite, Formatter, Value};
use clap::{Args, Subcommand};
use serde_json::Value as J;

#[derive(Args, Debug)]
pub struct SystemArgs {
    #[command(subcommand)]
    pub cmd: SystemCmd,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum SystemCmd {
    /// Show docker disk usage
    Df {
        /// Show detailed information on space usage
        #[arg(short, long)]
        verbose: bool,
        /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go
        /// template
        #[arg(long)]
        format: Option<String>,
    },
    /// Remove unused data
    Prune {
        /// Remove all unused images not just dangling ones
        #[arg(short, long)]
        all: bool,
        /// Provide filter values (e.g. "label=<key>=<value>")
        #[arg(long)]
        filter: Vec<String>,
        /// Do not prompt for confirmation
        #[arg(short, long)]
        force: bool,
        /// Prune anonymous volumes
        #[arg(long)]
        volumes: bool,
    },
    /// Display system-wide information
    Info {
        #[arg(long)]
        format: Option<String>,
    },
}

pub fn run(g: &GlobalOpts, a: &SystemArgs) -> anyhow::Result<i32> {
    match &a.cmd {
        SystemCmd::Df { verbose, format } => df(g, *verbose, format.as_deref()),
        SystemCmd::Prune {
            all,
            filter,
            force,
            volumes,
        } => prune(g, *all, filter, *force, *volumes),
        SystemCmd::Info { format } => super::system::info(g, format.as_deref()),
    }
}

/// `docker system df`'s summary columns.
const DF_TABLE: &str = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";

/// docker CLI's `Reclaimable`: the size, and its share of `total` when there is any.
fn reclaimable(part: u64, total: u64) -> String {
    match (part * 100).checked_div(total) {
        Some(pct) => format!("{} ({pct}%)", human_size_4(part)),
        None => human_size_4(part),
    }
}

/// One row of the summary, as the CLI's diskUsage*Context (every field a string).
fn row(ty: &str, total: usize, active: usize, size: u64, reclaim: String) -> Value {
    context(
        "*formatter.diskUsageContext",
        vec![
            ("Active", Value::Str(active.to_string())),
            ("Reclaimable", Value::Str(reclaim)),
            ("Size", Value::Str(human_size_4(size))),
            ("TotalCount", Value::Str(total.to_string())),
            ("Type", Value::str(ty)),
        ],
        None,
    )
}

fn list(v: &J, k: &str) -> Vec<J> {
    v[k].as_array().cloned().unwrap_or_default()
}

/// The four summary rows of a `/system/df` answer.
fn summary(v: &J) -> Vec<Value> {
    let images = list(v, "Images");
    let total = v["LayersSize"].as_u64().unwrap_or(0);
    let used: u64 = images
        .iter()
        .filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0)
        .map(|i| {
            let shared = i["SharedSize"].as_i64().unwrap_or(-1);
            match (i["Size"].as_i64(), shared) {
                (Some(size), sh) if sh >= 0 => (size - sh).max(0) as u64,
                _ => 0,
            }
        })
        .sum();
    let active_images = images
        .iter()
        .filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0)
        .count();
    let containers = list(v, "Containers");
    let active = |c: &J| {
        matches!(
            c["State"].as_str(),
            Some("running" | "paused" | "restarting")
        )
    };
    let rw = |c: &J| c["SizeRw"].as_u64().unwrap_or(0);
    let ctr_size: u64 = containers.iter().map(rw).sum();
    let ctr_idle: u64 = containers.iter().filter(|c| !active(c)).map(rw).sum();
    let volumes = list(v, "Volumes");
    let vsize = |x: &J| {
        x["UsageData"]["Size"]
            .as_i64()
            .filter(|s| *s >= 0)
            .unwrap_or(0) as u64
    };
    let refs = |x: &J| x["UsageData"]["RefCount"].as_i64().unwrap_or(0);
    let vol_size: u64 = volumes.iter().map(vsize).sum();
    let vol_idle: u64 = volumes.iter().filter(|x| refs(x) == 0).map(vsize).sum();
    let cache = list(v, "BuildCache");
    let csize = |x: &J| x["Size"].as_u64().unwrap_or(0);
    let cache_size: u64 = cache.iter().map(csize).sum();
    let cache_idle: u64 = cache.iter().filter(|x| x["InUse"] != true).map(csize).sum();
    vec![
        row(
            "Images",
            images.len(),
            active_images,
            total,
            reclaimable(total.saturating_sub(used), total),
        ),
        row(
            "Containers",
            containers.len(),
            containers.iter().filter(|c| active(c)).count(),
            ctr_size,
            reclaimable(ctr_idle, ctr_size),
        ),
        row(
            "Local Volumes",
            volumes.len(),
            volumes.iter().filter(|x| refs(x) > 0).count(),
            vol_size,
            reclaimable(vol_idle, vol_size),
        ),
        row(
            "Build Cache",
            cache.len(),
            cache.iter().filter(|x| x["InUse"] == true).count(),
            cache_size,
            human_size_4(cache_idle),
        ),
    ]
}

fn df(g: &GlobalOpts, verbose: bool, format: Option<&str>) -> anyhow::Result<i32> {
    if verbose && format.is_some_and(|f| f != "table") {
        anyhow::bail!("--format with --verbose is not supported yet: use one or the other");
    }
    let v: J = Client::connect(g)?.get("/system/df")?;
    if !verbose {
        let f = Formatter::new(format, DF_TABLE)?;
        let head = header(&[
            ("Active", "ACTIVE"),
            ("Reclaimable", "RECLAIMABLE"),
            ("Size", "SIZE"),
            ("TotalCount", "TOTAL"),
            ("Type", "TYPE"),
        ]);
        f.print(&summary(&v), &head)?;
        return Ok(0);
    }
    let mut out = String::from("Images space usage:\n\n");
    // One row an image, under its first tag, as the CLI's verbose df.
    let rows: Vec<Value> = list(&v, "Images")
        .iter()
        .filter_map(|i| images(i, true).into_iter().next())
        .collect();
    out += &Formatter::new(
        Some("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}"),
        "",
    )?
    .render(&rows, &image_header())?;
    out += "\nContainers space usage:\n\n";
    let rows: Vec<Value> = list(&v, "Containers")
        .iter()
        .map(|c| container(c, true))
        .collect();
    out += &Formatter::new(
        Some("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}"),
        "",
    )?
    .render(&rows, &container_header())?;
    out += "\nLocal Volumes space usage:\n\n";
    let mut table = String::from("VOLUME NAME\tLINKS\tSIZE\n");
    for x in list(&v, "Volumes") {
        let size = x["UsageData"]["Size"].as_i64().unwrap_or(-1);
        table += &format!(
            "{}\t{}\t{}\n",
            x["Name"].as_str().unwrap_or(""),
            x["UsageData"]["RefCount"].as_i64().unwrap_or(-1),
            if size < 0 {
                "N/A".into()
            } else {
                human_size_4(size as u64)
            },
        );
    }
    out += &tabwrite(&table);
    let cache: u64 = list(&v, "BuildCache")
        .iter()
        .map(|x| x["Size"].as_u64().unwrap_or(0))
        .sum();
    out += &format!("\nBuild cache usage: {}\n\n", human_size_4(cache));
    out += &tabwrite("CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED\n");
    print!("{out}");
    Ok(0)
}

/// The `filters` query of `--filter k=v` flags, Docker's JSON object of lists.
fn filters_query(filter: &[String]) -> anyhow::Result<String> {
    let mut map: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for f in filter {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value)"))?;
        map.entry(k).or_default().push(v);
    }
    Ok(if map.is_empty() {
        String::new()
    } else {
        format!("filters={}", q(&serde_json::to_string(&map)?))
    })
}

/// The docker CLI's confirmation text for these flags.
fn warning(all: bool, volumes: bool, filter: &[String]) -> String {
    let mut w = vec![
        "all stopped containers",
        "all networks not used by at least one container",
    ];
    if volumes {
        w.push("all anonymous volumes not used by at least one container");
    }
    w.push(if all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    });
    w.push(if all {
        "all build cache"
    } else {
        "unused build cache"
    });
    let mut text = String::from("WARNING! This will remove:\n");
    for x in w {
        text += &format!("  - {x}\n");
    }
    // Only the filters the CLI knows of are named, sorted.
    let mut shown: Vec<&String> = filter
        .iter()
        .filter(|f| {
            let k = f.split('=').next().unwrap_or("");
            ["label", "label!", "until"].contains(&k)
        })
        .collect();
    shown.sort();
    if !shown.is_empty() {
        text += "\n  Items to be pruned will be filtered with:\n";
        for f in shown {
            text += &format!("  - {f}\n");
        }
    }
    text + "\nAre you sure you want to continue? [y/N] "
}

/// The lines one prune report adds (`Deleted Containers:` and its ids, ...), as the docker
/// CLI prints each kind.
fn report(kind: &str, v: &J) -> Option<String> {
    let strings = |k: &str| -> Vec<String> {
        v[k].as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(String::from))
            .collect()
    };
    let (title, lines) = match kind {
        "containers" => ("Deleted Containers:", strings("ContainersDeleted")),
        "networks" => ("Deleted Networks:", strings("NetworksDeleted")),
        "volumes" => ("Deleted Volumes:", strings("VolumesDeleted")),
        "images" => (
            "Deleted Images:",
            v["ImagesDeleted"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|x| {
                    let untagged = x["Untagged"].as_str().map(|t| format!("untagged: {t}"));
                    let deleted = x["Deleted"].as_str().map(|t| format!("deleted: {t}"));
                    untagged.into_iter().chain(deleted)
                })
                .collect(),
        ),
        _ => (
            "Deleted build cache objects:",
            strings("CachesDeleted")
                .into_iter()
                .map(|id| id.trim_start_matches("sha256:").to_string())
                .collect(),
        ),
    };
    if lines.is_empty() {
        return None;
    }
    Some(format!("{title}\n{}\n", lines.join("\n")))
}

fn prune(
    g: &GlobalOpts,
    all: bool,
    filter: &[String],
    force: bool,
    volumes: bool,
) -> anyhow::Result<i32> {
    if volumes && filter.iter().any(|f| f.starts_with("until=")) {
        anyhow::bail!("ERROR: The \"until\" filter is not supported with \"--volumes\"");
    }
    let query = filters_query(filter)?;
    if !force && !super::confirm(&warning(all, volumes, filter))? {
        return Ok(0);
    }
    let c = Client::connect(g)?;
    let mut kinds = vec!["containers", "networks"];
    if volumes {
        kinds.push("volumes");
    }
    kinds.extend(["images", "build"]);
    let mut reclaimed = 0u64;
    for kind in kinds {
        // As the docker CLI: `-a` makes the image prune take every unused image, and the
        // volume prune every unused volume rather than anonymous ones only.
        let mut params: Vec<String> = vec![];
        if !query.is_empty() {
            params.push(query.clone());
        }
        let extra = match (kind, all) {
            ("images", _) => Some(format!("dangling={}", !all)),
            ("volumes", true) => Some("all=true".to_string()),
            _ => None,
        };
        if let Some(e) = extra {
            params = vec![with_filter(filter, &e)?];
        }
        let path = format!("/system/prune/{kind}?{}", params.join("&"));
        let v: J = c.post(&path, None)?;
        reclaimed += v["SpaceReclaimed"].as_u64().unwrap_or(0);
        if let Some(text) = report(kind, &v) {
            println!("{text}");
        }
    }
    println!("Total reclaimed space: {}", human_size_4(reclaimed));
    Ok(0)
}

/// The filters query with one more `k=v` (the CLI adds `dangling` and `all` this way).
fn with_filter(filter: &[String], extra: &str) -> anyhow::Result<String> {
    let mut all = filter.to_vec();
    all.push(extra.to_string());
    filters_query(&all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_as_docker() {
        assert_eq!(
            warning(false, false, &[]),
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - unused build cache\n\nAre you sure you want to continue? [y/N] "
        );
        let w = warning(true, true, &["until=1h".into(), "label=a=b".into()]);
        assert!(w.contains("  - all anonymous volumes not used by at least one container\n  - all images without at least one container associated to them\n  - all build cache\n\n  Items to be pruned will be filtered with:\n  - label=a=b\n  - until=1h\n\nAre"), "{w}");
    }

    #[test]
    fn reclaimable_as_docker() {
        assert_eq!(reclaimable(0, 0), "0B");
        assert_eq!(reclaimable(0, 3), "0B (0%)");
        assert_eq!(reclaimable(1_984_000, 1_984_000), "1.984MB (100%)");
    }
}
