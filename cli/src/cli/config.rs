//! `berth config`: print the normalized project model.

use super::GlobalOpts;
use anyhow::Context;
use berth_compose::loader::{self, LoadOptions, Project};
use clap::Args;
use std::io::{Read, Write};

#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Output format: yaml or json
    #[arg(long, default_value = "yaml")]
    pub format: String,
    /// Print the service names, one per line
    #[arg(long)]
    pub services: bool,
    /// Print the volume names, one per line
    #[arg(long)]
    pub volumes: bool,
    /// Print the network names, one per line
    #[arg(long)]
    pub networks: bool,
    /// Print the profile names, one per line
    #[arg(long = "profiles")]
    pub show_profiles: bool,
    /// Print the image names, one per line
    #[arg(long)]
    pub images: bool,
    /// Only validate the configuration, print nothing
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not interpolate environment variables
    #[arg(long)]
    pub no_interpolate: bool,
}

/// Builds loader options from the global flags and the process environment.
pub fn load_options(global: &GlobalOpts) -> anyhow::Result<LoadOptions> {
    let mut opts = LoadOptions {
        files: global.files.clone(),
        project_name: global.project_name.clone(),
        project_directory: global.project_directory.clone(),
        env_files: global.env_files.clone(),
        profiles: global.profiles.clone(),
        environment: std::env::vars().collect(),
        ..LoadOptions::default()
    };
    if opts.files.iter().any(|f| f == "-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the compose file from standard input")?;
        opts.stdin = Some(s);
    }
    Ok(opts)
}

pub fn run(global: &GlobalOpts, args: &ConfigArgs) -> anyhow::Result<i32> {
    let mut opts = load_options(global)?;
    opts.interpolate = !args.no_interpolate;
    if args.show_profiles {
        opts.profiles = vec!["*".into()];
    }
    let project = loader::load(&opts)?;
    let mut out = String::new();
    if args.quiet {
        return Ok(0);
    }
    // names come from the printed model, which holds every entry even without interpolation
    let model = project.to_json();
    let names = |key: &str| -> String {
        model
            .get(key)
            .and_then(|m| m.as_object())
            .map(|m| m.keys().map(|k| format!("{k}\n")).collect())
            .unwrap_or_default()
    };
    if args.services {
        out = names("services");
    } else if args.volumes {
        out = names("volumes");
    } else if args.networks {
        out = names("networks");
    } else if args.show_profiles {
        let mut ps: Vec<&String> = project
            .services
            .values()
            .flat_map(|s| s.profiles.iter())
            .collect();
        ps.sort();
        ps.dedup();
        for p in ps {
            out.push_str(p);
            out.push('\n');
        }
    } else if args.images {
        for (name, s) in &project.services {
            out.push_str(&image_name(&project, name, s.image.as_deref()));
            out.push('\n');
        }
    } else {
        out = render(&project, &args.format)?;
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    Ok(0)
}

fn image_name(project: &Project, service: &str, image: Option<&str>) -> String {
    match image {
        Some(i) => i.to_string(),
        None => format!("{}-{}", project.name, service),
    }
}

/// Renders the model in `format` (json or yaml), as Compose prints it.
pub fn render(project: &Project, format: &str) -> anyhow::Result<String> {
    match format {
        "json" => Ok(berth_compose::render::json(&project.to_json())),
        "yaml" | "yml" => Ok(berth_compose::render::yaml(&project.to_model())),
        other => anyhow::bail!("unsupported format {other:?}: use yaml or json"),
    }
}
