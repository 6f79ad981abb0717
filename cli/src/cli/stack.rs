//! Stack commands, as Docker Compose's: `up`, `down`, `ps`, `ls`. The service-level ones
//! live in the `stack_*` modules next to this one.

use super::GlobalOpts;
use crate::client::{q, Client};
use berth_compose::StackLoad;
use clap::Args;
use serde_json::{json, Value};
use std::io::Read;

#[derive(Args, Debug, Default)]
pub struct UpArgs {
    /// Detached mode: run containers in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Recreate containers even if their configuration hasn't changed
    #[arg(long)]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long, conflicts_with = "force_recreate")]
    pub no_recreate: bool,
    /// Recreate anonymous volumes instead of retrieving data from the previous containers
    #[arg(short = 'V', long)]
    pub renew_anon_volumes: bool,
    /// Restrict attaching to the specified services (repeatable)
    #[arg(long)]
    pub attach: Vec<String>,
    /// Do not attach (stream logs) to the specified services (repeatable)
    #[arg(long)]
    pub no_attach: Vec<String>,
    /// Show timestamps
    #[arg(long)]
    pub timestamps: bool,
    /// Assume "yes" as answer to all prompts and run non-interactively
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Watch source code and rebuild/refresh containers when files are updated (the
    /// services' `develop.watch`)
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Don't start the services after creating them
    #[arg(long)]
    pub no_start: bool,
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// Wait for services to be running/healthy (implies detached)
    #[arg(long)]
    pub wait: bool,
    /// Maximum seconds to wait with --wait
    #[arg(long)]
    pub wait_timeout: Option<u64>,
    /// Pull images before starting: always, missing, never (default: each service's pull_policy)
    #[arg(long, value_parser = ["always", "missing", "never", "build"])]
    pub pull: Option<String>,
    /// Build images before starting containers
    #[arg(long, conflicts_with = "no_build")]
    pub build: bool,
    /// Don't build an image, even if it's missing
    #[arg(long)]
    pub no_build: bool,
    /// Scale SERVICE to NUM instances (SERVICE=NUM)
    #[arg(long)]
    pub scale: Vec<String>,
    /// Stops all containers if any container was stopped (incompatible with -d)
    #[arg(long, conflicts_with = "detach")]
    pub abort_on_container_exit: bool,
    /// Return the exit code of the selected service container (implies
    /// --abort-on-container-exit)
    #[arg(long, conflicts_with = "detach")]
    pub exit_code_from: Option<String>,
    /// Produce monochrome output
    #[arg(long)]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    pub no_log_prefix: bool,
    /// Don't watch the stack's files (by default the daemon converges on every saved edit)
    #[arg(long)]
    pub no_watch: bool,
    /// Print the steps `up` would take (with the reason for each) and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Use this timeout in seconds for container shutdown when attached or when containers
    /// are already running
    #[arg(short = 't', long)]
    pub timeout: Option<u64>,
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct DownArgs {
    /// Remove named volumes declared in the volumes section and anonymous volumes
    #[arg(short, long)]
    pub volumes: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Shutdown timeout in seconds
    #[arg(short = 't', long)]
    pub timeout: Option<u64>,
    /// Remove images used by services: "local" remove only images that don't have a custom
    /// tag ("local"|"all")
    #[arg(long, value_parser = ["local", "all"])]
    pub rmi: Option<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all stopped containers
    #[arg(short, long)]
    pub all: bool,
    /// Only display IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Display services
    #[arg(long)]
    pub services: bool,
    /// Format the output: table (default), json, or a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Filter services by a property (supported filters: status)
    #[arg(long)]
    pub filter: Option<String>,
    /// Filter services by status (repeatable)
    #[arg(long, value_parser = ["paused", "restarting", "removing", "running", "dead", "created", "exited"])]
    pub status: Vec<String>,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    pub filter_services: Vec<String>,
}

/// The stack as the CLI sees it: its files, environment and directory, for the daemon to load.
pub fn stack_load(g: &GlobalOpts) -> anyhow::Result<StackLoad> {
    let mut stdin = None;
    if g.files.iter().any(|f| f == "-") {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        stdin = Some(s);
    }
    Ok(StackLoad {
        files: g.files.clone(),
        stdin,
        project_name: g.project_name.clone(),
        project_directory: g.project_directory.clone(),
        env_files: g.env_files.clone(),
        profiles: g.profiles.clone(),
        environment: std::env::vars().collect(),
        cwd: std::env::current_dir().ok(),
    })
}

/// POSTs a stack request (`up`, `down`) with its progress streamed, drawing Compose's
/// progress display as the daemon works; returns the outcome, or fails with the daemon's error.
pub(super) fn post_with_progress(c: &Client, path: &str, body: Value) -> anyhow::Result<Value> {
    let mut display = super::progress::Display::new();
    let result = post_into(c, path, body, &mut display);
    display.finish(result.is_err());
    let outcome = result?;
    for w in outcome["warnings"].as_array().into_iter().flatten() {
        eprintln!("WARN[0000] {}", w.as_str().unwrap_or(""));
    }
    Ok(outcome)
}

/// POSTs `body` with `stream` set and draws its events on `display`; the outcome, or the
/// daemon's error.
pub(super) fn post_into(
    c: &Client,
    path: &str,
    mut body: Value,
    display: &mut super::progress::Display,
) -> anyhow::Result<Value> {
    body["stream"] = json!(true);
    let (mut outcome, mut error) = (None, None);
    c.post_lines(
        path,
        Some(&body),
        Some(std::time::Duration::from_millis(100)),
        |line| {
            match line {
                None => display.tick(),
                Some(v) if v.get("event").is_some() => {
                    let e = &v["event"];
                    display.event(
                        e["kind"].as_str().unwrap_or(""),
                        e["name"].as_str().unwrap_or(""),
                        e["action"].as_str().unwrap_or(""),
                        e["millis"].as_u64(),
                    );
                }
                Some(v) if v.get("outcome").is_some() => outcome = Some(v["outcome"].clone()),
                // An `up` sent before its phases, which found that they must run first.
                Some(v) if v.get("not_ready").is_some() => outcome = Some(v),
                Some(v) => error = Some(v["error"].as_str().unwrap_or("").to_string()),
            }
            Ok(())
        },
    )?;
    if let Some(e) = error {
        anyhow::bail!(e);
    }
    outcome.ok_or_else(|| anyhow::anyhow!("the daemon ended the answer early"))
}

/// The project's volumes whose definition changed since they were made, that the person
/// agrees to recreate (data lost): Compose's question for each, or yes to all with `-y`.
/// No answer (stdin not a terminal, or at its end) is a no: the volume stays as it is.
pub(super) fn volumes_to_recreate(
    c: &Client,
    load: &StackLoad,
    yes: bool,
) -> anyhow::Result<Vec<String>> {
    let Ok(p) = load.load() else {
        // The daemon's `up` reports what does not load, with file and line.
        return Ok(Vec::new());
    };
    let v: Value = c.get("/volumes")?;
    let existing = v["Volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let labels = serde_json::from_value(v["Labels"].clone()).unwrap_or_default();
            Some((v["Name"].as_str()?.to_string(), labels))
        })
        .collect();
    let mut out = Vec::new();
    for name in berth_compose::diverged_volumes(&p, &existing) {
        let question = format!("Volume {name:?} exists but doesn't match configuration in compose file. Recreate (data will be lost)? ");
        if yes || super::confirm(&question).unwrap_or(false) {
            out.push(name);
        }
    }
    Ok(out)
}

/// `up --dry-run`: one line per step, as Compose's dry run marks them; images are not part
/// of the plan (`up` pulls per pull_policy first).
fn print_plan(plan: &Value) {
    let steps = plan.as_array().map(Vec::as_slice).unwrap_or_default();
    let width = steps
        .iter()
        .map(|s| s["kind"].as_str().unwrap_or("").len() + s["name"].as_str().unwrap_or("").len())
        .max()
        .unwrap_or(0);
    for s in steps {
        let (kind, name) = (
            s["kind"].as_str().unwrap_or(""),
            s["name"].as_str().unwrap_or(""),
        );
        let subject = format!("{kind} {name}");
        println!(
            "DRY-RUN MODE -  {subject:<w$}  {:<8}  {}",
            s["action"].as_str().unwrap_or(""),
            s["reason"].as_str().unwrap_or(""),
            w = width + 1
        );
    }
}

/// Compose's checks of `up`'s flags that clap does not make, in Compose's words.
fn check_up_flags(g: &GlobalOpts, a: &UpArgs) -> anyhow::Result<()> {
    if a.no_recreate && a.renew_anon_volumes {
        anyhow::bail!("--no-recreate and --renew-anon-volumes are incompatible");
    }
    if a.detach && (!a.attach.is_empty() || a.watch) {
        anyhow::bail!("--detach cannot be combined with --abort-on-container-exit, --abort-on-container-failure, --attach, --attach-dependencies or --watch");
    }
    if !a.attach.is_empty() {
        let target = super::stack_select::Target::resolve(g)?;
        if let Some(p) = &target.project {
            let unexpected: Vec<&str> = a
                .attach
                .iter()
                .filter(|s| !p.services.contains_key(*s))
                .map(String::as_str)
                .collect();
            if !unexpected.is_empty() {
                anyhow::bail!(
                    "cannot attach to services not included in up: {}",
                    unexpected.join(", ")
                );
            }
        }
    }
    Ok(())
}

pub fn up(g: &GlobalOpts, a: &UpArgs) -> anyhow::Result<i32> {
    check_up_flags(g, a)?;
    // Before anything is made: a stack without `develop.watch` is told so at once.
    let watching = match a.watch {
        true => Some(super::watch::Watching::prepare(g, &a.services)?),
        false => None,
    };
    let load = stack_load(g)?;
    let mut scale = serde_json::Map::new();
    for s in &a.scale {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("invalid --scale {s}: expected SERVICE=NUM"))?;
        scale.insert(
            k.into(),
            json!(v
                .parse::<u32>()
                .map_err(|_| anyhow::anyhow!("invalid --scale {s}"))?),
        );
    }
    let c = Client::connect(g)?;
    let options = json!({
        "services": a.services, "force_recreate": a.force_recreate, "no_recreate": a.no_recreate,
        "renew_anon_volumes": a.renew_anon_volumes,
        "remove_orphans": a.remove_orphans, "no_start": a.no_start, "no_deps": a.no_deps, "scale": scale,
        "wait": a.wait, "wait_timeout": a.wait_timeout, "timeout": a.timeout,
    });
    if a.dry_run {
        let plan = c.post(
            "/stacks/up",
            Some(&json!({ "load": load, "options": options, "dry_run": true })),
        )?;
        print_plan(&plan);
        return Ok(0);
    }
    // The build phase's choice: missing images, or all with --build; none with --no-build.
    // A watched stack follows its build inputs as it follows its files (the daemon's passes
    // rebuild it through the cache): `up` rebuilds it too, so that what it starts and shows
    // is current, not replaced by the first pass after it.
    let watched = !a.no_watch && load.stdin.is_none();
    let when = match (a.no_build, a.build || watched) {
        (true, _) => "never",
        (false, true) => "always",
        (false, false) => "missing",
    };
    let mut body = json!({
        "load": load,
        "pull": "missing",
        "options": options,
        "watch": !a.no_watch,
        "no_build": a.no_build,
    });
    let mut began = chrono::Utc::now();
    // Most `up`s have nothing to pull, build or ask about: the daemon is asked to go on at
    // once if so, and the phases below run only when it answers that one of them would act.
    let mut done = false;
    if a.pull.is_none() {
        let mut first = body.clone();
        first["only_if_ready"] = json!(when);
        done = post_with_progress(&c, "/stacks/up", first)?
            .get("not_ready")
            .is_none();
    }
    if !done {
        body["options"]["recreate_volumes"] = json!(volumes_to_recreate(&c, &load, a.yes)?);
        // The pull phase streams its progress here; `up` itself then only finds the images.
        super::registry::stack_pull_phase(&c, &load, a.pull.as_deref())?;
        if when != "never" && super::build::stack_build(&c, &load, &a.services, when, false)? != 0 {
            return Ok(1);
        }
        began = chrono::Utc::now();
        post_with_progress(&c, "/stacks/up", body)?;
    }
    if a.detach || a.no_start || a.wait {
        return Ok(0);
    }
    if let Some(w) = watching {
        w.spawn(g, &a.services)?;
    }
    let attach = super::stack_attach::AttachOptions {
        services: a.services.clone(),
        attach: a.attach.clone(),
        no_attach: a.no_attach.clone(),
        timestamps: a.timestamps,
        abort_on_container_exit: a.abort_on_container_exit,
        exit_code_from: a.exit_code_from.clone(),
        no_color: a.no_color,
        no_log_prefix: a.no_log_prefix,
        timeout: a.timeout,
        since: Some(format!(
            "{}.{:09}",
            began.timestamp(),
            began.timestamp_subsec_nanos()
        )),
    };
    super::stack_attach::attach(g, &c, &attach)
}

#[derive(Args, Debug)]
pub struct ScaleArgs {
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// SERVICE=REPLICAS
    #[arg(required = true)]
    pub services: Vec<String>,
}

/// `scale SERVICE=N...`: as `up -d` of those services with those replica counts (Compose's
/// Scale is create + start of them), which the stack then keeps.
pub fn scale(g: &GlobalOpts, a: &ScaleArgs) -> anyhow::Result<i32> {
    let mut scale = serde_json::Map::new();
    for s in &a.services {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("invalid scale specifier: {s}"))?;
        let n: u32 = v.parse().map_err(|_| {
            anyhow::anyhow!("invalid scale specifier: can't parse replica value as int: {s}")
        })?;
        scale.insert(k.into(), json!(n));
    }
    let load = stack_load(g)?;
    let project = load.load().map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(bad) = scale.keys().find(|s| !project.services.contains_key(*s)) {
        anyhow::bail!("no such service: {bad}");
    }
    let c = Client::connect(g)?;
    let services: Vec<&String> = scale.keys().collect();
    let body = json!({
        "load": load,
        "pull": "missing",
        "options": { "services": services, "no_deps": a.no_deps, "scale": scale },
        "scale_only": true,
    });
    post_with_progress(&c, "/stacks/up", body)?;
    Ok(0)
}

pub fn down(g: &GlobalOpts, a: &DownArgs) -> anyhow::Result<i32> {
    let load = stack_load(g)?;
    let c = Client::connect(g)?;
    let body = json!({
        "load": load,
        "project": g.project_name,
        "options": {
            "volumes": a.volumes, "remove_orphans": a.remove_orphans, "timeout": a.timeout,
            "rmi": a.rmi,
        },
    });
    post_with_progress(&c, "/stacks/down", body)?;
    Ok(0)
}

pub fn ps(g: &GlobalOpts, a: &PsArgs) -> anyhow::Result<i32> {
    // `--filter status=X` is `--status X`; Compose knows no other filter.
    let mut statuses = a.status.clone();
    if let Some(f) = &a.filter {
        if !statuses.is_empty() {
            anyhow::bail!("cannot use --filter and --status together");
        }
        match f.split_once('=') {
            Some(("status", v)) => statuses.push(v.to_string()),
            Some((k, _)) => anyhow::bail!("{k} filter is not supported"),
            None => anyhow::bail!("invalid filter {f:?}: expected status=VALUE"),
        }
    }
    let c = Client::connect(g)?;
    // A stack file broken by an edit still names a registered stack: show what runs.
    let (project, model) =
        match stack_load(g).and_then(|l| l.load().map_err(|e| anyhow::anyhow!("{e}"))) {
            Ok(p) => (g.project_name.clone().unwrap_or(p.name.clone()), Some(p)),
            Err(e) => match &g.project_name {
                Some(p) => (p.clone(), None),
                None => (registered_project(g, &c).ok_or(e)?, None),
            },
        };
    if let Some(e) = stack_error(&c, &project) {
        eprintln!(
            "WARN[0000] stack {project} does not converge; what runs is its last good state: {e}"
        );
    }
    // As Compose: naming a service the project does not have is an error.
    if let Some(m) = &model {
        if let Some(bad) = a
            .filter_services
            .iter()
            .find(|s| !m.services.contains_key(*s))
        {
            anyhow::bail!("no such service: {bad}");
        }
    }
    // Compose lists stopped containers too when a status is asked for.
    let all = a.all || !statuses.is_empty();
    let list: Vec<Value> = c.get(&format!("/containers?all={}", all as u8))?;
    let mut mine: Vec<&Value> = list
        .iter()
        .filter(|x| x["Labels"][berth_compose::LABEL_PROJECT] == project)
        // One-off `run` containers are not the service's replicas: Compose's ps leaves them out.
        .filter(|x| x["Labels"][berth_compose::LABEL_ONEOFF] != "True")
        .filter(|x| {
            a.filter_services.is_empty()
                || a.filter_services
                    .iter()
                    .any(|s| x["Labels"][berth_compose::LABEL_SERVICE] == *s)
        })
        .filter(|x| statuses.is_empty() || statuses.iter().any(|s| x["State"] == *s))
        .collect();
    if model.is_none() {
        if let Some(bad) = a.filter_services.iter().find(|s| {
            !mine
                .iter()
                .any(|x| x["Labels"][berth_compose::LABEL_SERVICE] == **s)
        }) {
            anyhow::bail!("no such service: {bad}");
        }
    }
    // Compose sorts by container name.
    mine.sort_by(|x, y| x["Names"][0].as_str().cmp(&y["Names"][0].as_str()));
    if a.services {
        let mut names: Vec<&str> = mine
            .iter()
            .filter_map(|x| x["Labels"][berth_compose::LABEL_SERVICE].as_str())
            .collect();
        names.sort();
        names.dedup();
        names.iter().for_each(|n| println!("{n}"));
        return Ok(0);
    }
    if a.quiet && a.format.is_none() {
        mine.iter()
            .for_each(|x| println!("{}", x["Id"].as_str().unwrap_or("")));
        return Ok(0);
    }
    let f = crate::format::Formatter::new(a.format.as_deref(), super::listing::COMPOSE_PS_TABLE)?;
    let mut rows = Vec::with_capacity(mine.len());
    for x in &mine {
        // Exit code and health are the inspect document's, as Compose reads them.
        let id = x["Id"].as_str().unwrap_or("");
        let inspect: Value = c
            .get(&format!("/containers/{}/json", q(id)))
            .unwrap_or_default();
        rows.push(super::listing::compose_container(x, &inspect, !a.no_trunc));
    }
    f.print(&rows, &super::listing::compose_header())?;
    Ok(0)
}

pub fn ls(g: &GlobalOpts, format: Option<&str>) -> anyhow::Result<i32> {
    let c = Client::connect(g)?;
    let list: Vec<Value> = c.get("/stacks")?;
    if format == Some("json") {
        println!("{}", serde_json::to_string(&list)?);
        return Ok(0);
    }
    // A template sees Compose's ls fields (and berth's Watched); Compose itself takes only
    // table and json here. berth's own table adds WATCHED and each stack's error.
    if let Some(t) = format.filter(|f| *f != "table") {
        use crate::format::{context, header, Value as V};
        let f = crate::format::Formatter::new(Some(t), "")?;
        let rows: Vec<V> = list
            .iter()
            .map(|s| {
                let text = |k: &str| V::Str(s[k].as_str().unwrap_or("").to_string());
                context(
                    "formatter.stackView",
                    vec![
                        ("Name", text("Name")),
                        ("Status", text("Status")),
                        ("ConfigFiles", text("ConfigFiles")),
                        ("Watched", V::Bool(s["Watched"] == true)),
                    ],
                    None,
                )
            })
            .collect();
        let h = header(&[
            ("Name", "NAME"),
            ("Status", "STATUS"),
            ("ConfigFiles", "CONFIG FILES"),
            ("Watched", "WATCHED"),
        ]);
        f.print(&rows, &h)?;
        return Ok(0);
    }
    println!(
        "{:<24} {:<36} {:<8} CONFIG FILES",
        "NAME", "STATUS", "WATCHED"
    );
    for s in &list {
        let mut status = s["Status"].as_str().unwrap_or("").to_string();
        if s["Error"].is_string() {
            status.push_str(", error");
        }
        println!(
            "{:<24} {:<36} {:<8} {}",
            s["Name"].as_str().unwrap_or(""),
            status,
            if s["Watched"] == true { "yes" } else { "no" },
            s["ConfigFiles"].as_str().unwrap_or("")
        );
    }
    for s in &list {
        if let Some(e) = s["Error"].as_str() {
            println!("{}: {e}", s["Name"].as_str().unwrap_or(""));
        }
    }
    Ok(0)
}

/// Tells the daemon's reconcile loop to leave `services` (all when empty) alone, or to take
/// them back: a service stopped or removed by hand stays so until `up`/`start`.
pub(super) fn park(
    c: &Client,
    project: &str,
    services: &[String],
    parked: bool,
) -> anyhow::Result<()> {
    let body = json!({ "services": services, "parked": parked });
    c.post(&format!("/stacks/{}/park", q(project)), Some(&body))
        .map(drop)
}

/// The registered stack whose files include the one this command would load (-f, else the
/// default names in the current directory).
fn registered_project(g: &GlobalOpts, c: &Client) -> Option<String> {
    let cwd = std::env::current_dir().ok()?;
    let dir = g
        .project_directory
        .as_ref()
        .map(|d| cwd.join(d))
        .unwrap_or(cwd);
    let candidates: Vec<std::path::PathBuf> = if g.files.is_empty() {
        [
            "compose.yaml",
            "compose.yml",
            "docker-compose.yaml",
            "docker-compose.yml",
        ]
        .iter()
        .map(|f| dir.join(f))
        .collect()
    } else {
        g.files.iter().map(|f| dir.join(f)).collect()
    };
    let list: Vec<Value> = c.get("/stacks").ok()?;
    list.into_iter().find_map(|s| {
        let files = s["ConfigFiles"].as_str().unwrap_or("");
        files
            .split(',')
            .any(|f| candidates.iter().any(|c| c.as_os_str() == f))
            .then(|| s["Name"].as_str().map(String::from))
            .flatten()
    })
}

/// The reason a registered stack does not converge, if it doesn't.
pub(super) fn stack_error(c: &Client, project: &str) -> Option<String> {
    let list: Vec<Value> = c.get("/stacks").ok()?;
    list.into_iter()
        .find(|s| s["Name"] == project)
        .and_then(|s| s["Error"].as_str().map(String::from))
}
