//! `berth kube generate | apply | down`: the stack on a Kubernetes cluster (berth-kube does
//! the translation and the API calls; this is flags, loading and printing).

use super::GlobalOpts;
use anyhow::Context;
use berth_compose::loader::{self, Project};
use berth_kube::{BindAs, Expose, Options};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct KubeArgs {
    #[command(subcommand)]
    command: KubeCommand,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
enum KubeCommand {
    /// Print the stack as Kubernetes manifests (or write them with -o)
    Generate(GenerateArgs),
    /// Send the manifests to the cluster with server-side apply
    Apply(ApplyArgs),
    /// Remove what `kube apply` sent for this project (claims only with -v)
    Down(DownArgs),
}

// How to translate: shared by generate and apply.
// (Not a doc comment: flattened into commands built on demand, it would become their
// help text; see `Command` in cli/mod.rs.)
#[derive(Args, Debug)]
struct TranslateArgs {
    /// Services to export, with what they depend on (default: every enabled service)
    services: Vec<String>,
    /// Namespace of every object (apply: default the context's)
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Service type for published ports: clusterip, nodeport or loadbalancer
    #[arg(long, default_value = "clusterip", value_parser = clap::value_parser!(Expose))]
    expose: Expose,
    /// What bind mounts become: configmap (their content) or hostpath
    #[arg(long = "bind-as", default_value = "configmap", value_parser = clap::value_parser!(BindAs))]
    bind_as: BindAs,
    /// Size of a volume's claim without a berth.kube/size label
    #[arg(long = "volume-size", default_value = "1Gi")]
    volume_size: String,
    /// Image of the init containers that wait for dependencies (runs `kubectl wait`)
    #[arg(long = "wait-image")]
    wait_image: Option<String>,
}

#[derive(Args, Debug)]
struct GenerateArgs {
    #[command(flatten)]
    t: TranslateArgs,
    /// Write to a directory (one file per object) or a .yaml file instead of stdout
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct ApplyArgs {
    #[command(flatten)]
    t: TranslateArgs,
    /// kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// kubeconfig context (default: the current one)
    #[arg(long)]
    context: Option<String>,
    /// Have the server check everything and persist nothing
    #[arg(long)]
    dry_run: bool,
    /// Also delete the project's objects the stack no longer has (claims excepted)
    #[arg(long)]
    remove_orphans: bool,
}

#[derive(Args, Debug)]
struct DownArgs {
    /// Namespace (default: the context's)
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// kubeconfig context (default: the current one)
    #[arg(long)]
    context: Option<String>,
    /// Also delete the PersistentVolumeClaims (the volumes' data)
    #[arg(short = 'v', long)]
    volumes: bool,
    /// Have the server check the deletions and persist nothing
    #[arg(long)]
    dry_run: bool,
}

pub fn run(global: &GlobalOpts, args: &KubeArgs) -> anyhow::Result<i32> {
    match &args.command {
        KubeCommand::Generate(a) => generate(global, a),
        KubeCommand::Apply(a) => apply(global, a),
        KubeCommand::Down(a) => down(global, a),
    }
}

/// Loads the stack as the other stack commands do; a service named on the command line is
/// enabled even if its profiles are not (as `up SERVICE` does).
fn load(global: &GlobalOpts, services: &[String]) -> anyhow::Result<Project> {
    let mut opts = super::config::load_options(global)?;
    let project = loader::load(&opts)?;
    let missing: Vec<&String> = services
        .iter()
        .filter(|s| !project.services.contains_key(*s))
        .collect();
    if missing.is_empty() {
        return Ok(project);
    }
    let mut all = opts.clone();
    all.profiles = vec!["*".into()];
    let every = loader::load(&all)?;
    for s in missing {
        let svc = every
            .services
            .get(s)
            .ok_or_else(|| anyhow::anyhow!("no such service: {s}"))?;
        opts.profiles.extend(svc.profiles.iter().cloned());
    }
    Ok(loader::load(&opts)?)
}

fn options(t: &TranslateArgs, namespace: Option<String>) -> Options {
    let mut o = Options {
        services: t.services.clone(),
        namespace,
        expose: t.expose,
        bind_as: t.bind_as,
        volume_size: t.volume_size.clone(),
        ..Options::default()
    };
    if let Some(i) = &t.wait_image {
        o.wait_image = i.clone();
    }
    o
}

fn translate(project: &Project, o: &Options) -> anyhow::Result<Vec<berth_kube::Object>> {
    let m = berth_kube::generate(project, o)?;
    for w in &m.warnings {
        eprintln!("WARN[0000] {w}");
    }
    Ok(m.objects)
}

fn generate(global: &GlobalOpts, a: &GenerateArgs) -> anyhow::Result<i32> {
    let project = load(global, &a.t.services)?;
    let objects = translate(&project, &options(&a.t, a.t.namespace.clone()))?;
    match &a.output {
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(berth_kube::to_yaml_stream(&objects)?.as_bytes())?;
        }
        Some(path) => {
            let files = berth_kube::write(&objects, path)?;
            eprintln!(
                "wrote {} object(s) to {}",
                objects.len(),
                if files.len() == 1 && berth_kube::is_file_target(path) {
                    path.display().to_string()
                } else {
                    format!("{} files in {}", files.len(), path.display())
                }
            );
        }
    }
    Ok(0)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn apply(global: &GlobalOpts, a: &ApplyArgs) -> anyhow::Result<i32> {
    let project = load(global, &a.t.services)?;
    let rt = runtime()?;
    let (client, ns) = rt.block_on(berth_kube::cluster::connect(
        a.kubeconfig.as_deref(),
        a.context.as_deref(),
        a.t.namespace.as_deref(),
    ))?;
    // The namespace is known now: the objects (and the waits' RoleBinding) name it.
    let objects = translate(&project, &options(&a.t, Some(ns.clone())))?;
    let (applied, removed) = rt.block_on(berth_kube::cluster::apply(
        &client,
        &ns,
        &objects,
        a.dry_run,
        a.remove_orphans,
    ))?;
    let how = if a.dry_run { " (server dry run)" } else { "" };
    for d in applied {
        println!(
            "{}/{} serverside-applied{how}",
            d.kind.to_ascii_lowercase(),
            d.name
        );
    }
    for d in removed {
        println!("{}/{} deleted{how}", d.kind.to_ascii_lowercase(), d.name);
    }
    Ok(0)
}

fn down(global: &GlobalOpts, a: &DownArgs) -> anyhow::Result<i32> {
    // The project name is all `down` needs: from the stack, or -p when there is no file.
    let name = match load(global, &[]) {
        Ok(p) => p.name,
        Err(e) => match &global.project_name {
            Some(n) => loader::normalize_project_name(n),
            None => return Err(e.context("the project name comes from the stack file, or -p")),
        },
    };
    let rt = runtime()?;
    let (client, ns) = rt.block_on(berth_kube::cluster::connect(
        a.kubeconfig.as_deref(),
        a.context.as_deref(),
        a.namespace.as_deref(),
    ))?;
    let removed = rt.block_on(berth_kube::cluster::down(
        &client, &ns, &name, a.volumes, a.dry_run,
    ))?;
    let how = if a.dry_run { " (server dry run)" } else { "" };
    if removed.is_empty() {
        eprintln!("no objects of project {name} in namespace {ns}");
    }
    for d in removed {
        println!("{}/{} deleted{how}", d.kind.to_ascii_lowercase(), d.name);
    }
    Ok(0)
}
