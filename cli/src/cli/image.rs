//! `berth image ...`: import, load, save, ls, rm, inspect, tag, history.

use super::GlobalOpts;
use crate::client::{q, Client};
use clap::{Args, Subcommand};
use serde_json::Value;

#[derive(Args, Debug)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub cmd: ImageCmd,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum ImageCmd {
    /// Import a root filesystem tar (file or - for stdin) as an image
    Import {
        /// Dockerfile instruction to apply (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL)
        #[arg(short = 'c', long = "change")]
        changes: Vec<String>,
        file: String,
        reference: Option<String>,
    },
    /// Build an image from a Dockerfile
    Build(super::build::BuildArgs),
    /// Load images from a docker-save or OCI layout tar
    Load {
        #[arg(short = 'i', long = "input")]
        input: Option<String>,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Save images to a tar (docker-save and OCI layout)
    Save {
        #[arg(short = 'o', long = "output")]
        output: Option<String>,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// List images
    #[command(alias = "list")]
    Ls {
        /// Show all images (a build's intermediate images are hidden by default)
        #[arg(short, long)]
        all: bool,
        #[arg(short, long)]
        quiet: bool,
        /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go
        /// template
        #[arg(long)]
        format: Option<String>,
        /// Don't truncate output
        #[arg(long)]
        no_trunc: bool,
    },
    /// Remove images
    #[command(alias = "remove")]
    Rm {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Show an image's details as JSON
    Inspect {
        /// Format output using a custom template: 'json' or a Go template
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Give an image another name
    Tag { source: String, target: String },
    /// Show an image's history
    History {
        /// Print sizes and dates in human readable format
        #[arg(short = 'H', long, default_value_t = true, num_args = 0..=1,
              default_missing_value = "true", action = clap::ArgAction::Set)]
        human: bool,
        /// Don't truncate output
        #[arg(long)]
        no_trunc: bool,
        /// Only show image IDs
        #[arg(short, long)]
        quiet: bool,
        image: String,
    },
    /// Pull an image from a registry
    Pull(super::registry::PullArgs),
    /// Push an image to its registry
    Push(super::registry::PushArgs),
    /// Remove unused images
    Prune(super::registry::PruneArgs),
}

fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// Docker's sizes: go-units' HumanSizeWithPrecision(size, 3), e.g. `1.98MB`.
pub fn human_size(bytes: u64) -> String {
    crate::format::units::human_size(bytes)
}

pub fn run(g: &GlobalOpts, args: &ImageArgs) -> anyhow::Result<i32> {
    match &args.cmd {
        ImageCmd::Pull(a) => {
            // `image pull` names images only, never services.
            let c = Client::connect(g)?;
            for name in &a.names {
                super::registry::pull_image(&c, name, a.platform.as_deref(), a.quiet)?;
            }
            return Ok(0);
        }
        ImageCmd::Push(a) => return super::registry::push(g, a),
        ImageCmd::Build(a) => return super::build::run(g, a),
        ImageCmd::Prune(a) => return super::registry::prune(g, a),
        _ => {}
    }
    let c = Client::connect(g)?;
    match &args.cmd {
        ImageCmd::Import {
            changes,
            file,
            reference,
        } => {
            let mut path = format!(
                "/images/import?ref={}",
                q(reference.as_deref().unwrap_or(""))
            );
            for ch in changes {
                path.push_str(&format!("&change={}", q(ch)));
            }
            let v = if file == "-" {
                c.upload(&path, std::io::stdin())?
            } else {
                let f =
                    std::fs::File::open(file).map_err(|e| anyhow::anyhow!("open {file}: {e}"))?;
                c.upload(&path, f)?
            };
            println!("{}", v["Id"].as_str().unwrap_or(""));
        }
        ImageCmd::Load { input, quiet } => {
            let v = match input.as_deref() {
                None | Some("-") => c.upload("/images/load", std::io::stdin())?,
                Some(p) => c.upload(
                    "/images/load",
                    std::fs::File::open(p).map_err(|e| anyhow::anyhow!("open {p}: {e}"))?,
                )?,
            };
            if !quiet {
                for r in v.as_array().into_iter().flatten() {
                    println!("Loaded image: {}", r.as_str().unwrap_or(""));
                }
            }
        }
        ImageCmd::Save { output, images } => {
            let path = format!(
                "/images/save?{}",
                images
                    .iter()
                    .map(|i| format!("name={}", q(i)))
                    .collect::<Vec<_>>()
                    .join("&")
            );
            match output {
                Some(o) => {
                    let tmp = format!("{o}.tmp-{}", std::process::id());
                    let mut f = std::fs::File::create(&tmp)?;
                    let r = c.download(&path, &mut f);
                    if r.is_err() {
                        let _ = std::fs::remove_file(&tmp);
                    }
                    r?;
                    f.sync_all()?;
                    std::fs::rename(&tmp, o)?;
                }
                None => {
                    anyhow::ensure!(
                        !nix::unistd::isatty(1).unwrap_or(false),
                        "cowardly refusing to save to a terminal: use the -o flag or redirect"
                    );
                    c.download(&path, &mut std::io::stdout().lock())?;
                }
            }
        }
        ImageCmd::Ls {
            all,
            quiet,
            format,
            no_trunc,
        } => {
            let list: Vec<Value> = c.get(&format!("/images?all={}", *all as u8))?;
            if *quiet && format.is_none() {
                // One line an image, however many names it has.
                for i in &list {
                    let id = i["Id"].as_str().unwrap_or("");
                    println!(
                        "{}",
                        if *no_trunc {
                            id.to_string()
                        } else {
                            short_id(id)
                        }
                    );
                }
                return Ok(0);
            }
            let f = crate::format::Formatter::new(format.as_deref(), super::listing::IMAGE_TABLE)?;
            let rows: Vec<_> = list
                .iter()
                .flat_map(|i| super::listing::images(i, !no_trunc))
                .collect();
            f.print(&rows, &super::listing::image_header())?;
        }
        ImageCmd::Rm { force, images } => {
            let mut code = 0;
            for i in images {
                match c.delete(&format!("/images/{}?force={}", q(i), *force as u8)) {
                    Ok(v) => {
                        for line in v.as_array().into_iter().flatten() {
                            println!("{}", line.as_str().unwrap_or(""));
                        }
                    }
                    Err(e) => {
                        eprintln!("berth: {e}");
                        code = 1;
                    }
                }
            }
            return Ok(code);
        }
        ImageCmd::Inspect { format, images } => {
            let mut out = Vec::new();
            for i in images {
                out.push(c.get::<Value>(&format!("/images/{}/json", q(i)))?);
            }
            if let Some(f) = format.as_deref().filter(|f| *f != "json") {
                return super::listing::print_inspect(f, &out, false);
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        ImageCmd::Tag { source, target } => {
            c.post(
                &format!("/images/{}/tag?target={}", q(source), q(target)),
                None,
            )?;
        }
        ImageCmd::History {
            image,
            human,
            no_trunc,
            quiet,
        } => {
            let h: Vec<Value> = c.get(&format!("/images/{}/history", q(image)))?;
            // As docker history: ids short and CREATED BY cut at 45 characters unless
            // --no-trunc; CREATED relative (`2 minutes ago`), or RFC 3339 with -H=false.
            let id_of = |e: &Value| {
                let id = e["Id"].as_str().unwrap_or("<missing>");
                if *no_trunc || id == "<missing>" {
                    id.to_string()
                } else {
                    short_id(id)
                }
            };
            if *quiet {
                for e in &h {
                    println!("{}", id_of(e));
                }
                return Ok(0);
            }
            let mut table = String::from("IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT\n");
            for row in h.iter().map(|e| -> [String; 5] {
                let by = e["CreatedBy"].as_str().unwrap_or("").replace('\t', " ");
                let created = e["Created"].as_str().unwrap_or("");
                let created = match chrono::DateTime::parse_from_rfc3339(created) {
                    Ok(t) if *human => {
                        let age = chrono::Utc::now().signed_duration_since(t).num_seconds();
                        format!("{} ago", crate::format::human_duration(age))
                    }
                    Ok(t) => t
                        .with_timezone(&chrono::Utc)
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    Err(_) => "N/A".to_string(),
                };
                let size = e["Size"].as_u64().unwrap_or(0);
                [
                    id_of(e),
                    created,
                    if *no_trunc {
                        by
                    } else {
                        crate::format::ellipsis(&by, 45)
                    },
                    if *human {
                        human_size(size)
                    } else {
                        size.to_string()
                    },
                    e["Comment"].as_str().unwrap_or("").to_string(),
                ]
            }) {
                table.push_str(&row.join("\t"));
                table.push('\n');
            }
            print!("{}", crate::format::tabwrite(&table));
        }
        ImageCmd::Pull(_) | ImageCmd::Push(_) | ImageCmd::Prune(_) | ImageCmd::Build(_) => {
            unreachable!("handled above")
        }
    }
    Ok(0)
}
