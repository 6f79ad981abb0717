//! Stack routes: `up`, `down`, and the list of stacks. The daemon loads the stack files itself
//! (with the caller's environment and directory), so it can reload them later.

use super::http::{self, ApiError, ApiResult, Query};
use super::Daemon;
use crate::stack::controller::{self, DownOptions, Outcome, Progress, RunOptions, UpOptions};
use crate::stack::ports::ContainerPort;
use berth_compose::{StackLoad, LABEL_FILES, LABEL_PROJECT, LABEL_WORKDIR};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
struct UpRequest {
    load: StackLoad,
    #[serde(default)]
    options: UpOptions,
    /// Watch the stack's files and converge on every saved edit (`up --no-watch` turns it off).
    #[serde(default = "yes")]
    watch: bool,
    /// `up --pull POLICY` overriding every service's pull_policy.
    #[serde(default)]
    pull: Option<String>,
    /// `up --no-build`: recorded, so that the stack's loop does not build either.
    #[serde(default)]
    no_build: bool,
    /// Stream progress events as JSON lines while the work runs (see [`stream_outcome`]).
    #[serde(default)]
    stream: bool,
    /// The dependencies of a one-off `run`: a running stack is acted on as it runs (see
    /// [`one_off_dependencies`]), never reconfigured from the caller's files and environment.
    #[serde(default)]
    for_run: bool,
    /// `up --dry-run`: answer the plan (the steps `up` would take) and change nothing.
    #[serde(default)]
    dry_run: bool,
    /// `scale SERVICE=N`: act on the named services only, and keep the registered stack as
    /// its last `up` left it (services, watch) with these replica counts on top.
    #[serde(default)]
    scale_only: bool,
    /// The CLI sent this `up` before its pull and build phases (and its volume question),
    /// `When` being its build phase's choice: go on only if none of them would act, else
    /// answer `{"not_ready": why}` having changed nothing (see stack::ready).
    #[serde(default)]
    only_if_ready: Option<crate::stack::build::When>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
struct ParkRequest {
    #[serde(default)]
    services: Vec<String>,
    parked: bool,
}

/// `berth pull` of a stack (and `up`'s pull phase, streamed to its CLI).
#[derive(Debug, Deserialize)]
struct PullRequest {
    load: StackLoad,
    #[serde(default)]
    services: Vec<String>,
    /// None: each service's pull_policy; `berth pull` sends "always".
    #[serde(default)]
    policy: Option<String>,
}

/// `berth build` of a stack (and `up`'s build phase, streamed to its CLI).
#[derive(Debug, Deserialize)]
struct BuildRequest {
    load: StackLoad,
    #[serde(default)]
    services: Vec<String>,
    #[serde(default)]
    when: crate::stack::build::When,
    #[serde(default)]
    quiet: bool,
}

#[derive(Debug, Deserialize)]
struct RunRequest {
    load: StackLoad,
    service: String,
    #[serde(default)]
    options: RunOptions,
}

/// `start`: wait for the depends_on conditions of `services` (healthy, completed), as `up`
/// does before starting them.
#[derive(Debug, Deserialize)]
struct WaitRequest {
    load: StackLoad,
    services: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct DownRequest {
    #[serde(default)]
    load: Option<StackLoad>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    options: DownOptions,
    #[serde(default)]
    stream: bool,
}

pub async fn route(
    d: &Arc<Daemon>,
    m: &hyper::Method,
    rest: &[&str],
    body: bytes::Bytes,
) -> ApiResult {
    use hyper::Method;
    let parse = |what: &str| ApiError::bad_request(format!("invalid {what} request"));
    match (m, rest) {
        (&Method::GET, []) => list(d).await,
        (&Method::POST, ["up"]) => {
            let req: UpRequest = serde_json::from_slice(&body).map_err(|_| parse("up"))?;
            let project = req.load.load()?;
            if req.dry_run {
                return http::json(&controller::plan(d, &project, &req.options).await?);
            }
            if req.for_run {
                if let Some(running) = d.stacks.load_of(&project.name).await {
                    return one_off_dependencies(d, running, req).await;
                }
            }
            if let Some(when) = req.only_if_ready {
                if let Some(why) = crate::stack::ready::unready(d, &project, when).await? {
                    return http::json(&json!({ "not_ready": why }));
                }
            }
            // Registered first: a stack whose first `up` fails half-way is retried by its loop.
            let mut record = super::stacks::StackRecord {
                name: project.name.clone(),
                load: req.load.clone(),
                options: req.options.clone(),
                watch: req.watch && req.load.stdin.is_none(),
                parked: Default::default(),
                no_build: req.no_build,
            };
            if req.scale_only {
                if let Some((old, _)) = d.stacks.snapshot(&project.name).await {
                    let scale = std::mem::take(&mut record.options.scale);
                    record.options = old.options;
                    record.options.scale.extend(scale);
                    record.watch = old.watch;
                    record.no_build = old.no_build;
                }
            }
            let (d, mut o, pull) = (d.clone(), req.options, req.pull);
            answer(req.stream, move |progress| async move {
                o.progress = progress;
                let _guard = d.stack_lock(&project.name).await;
                // The record's write (it waits for the disk) beside the images' check; the
                // stack is registered before anything is made, watched while it is made.
                let log = super::api_registry::log_progress(&project.name);
                let (registered, pulled) = tokio::join!(
                    d.stacks.register(&d, record),
                    crate::stack::pull::ensure_images(&d, &project, &[], pull.as_deref(), log)
                );
                registered?;
                pulled?;
                let (outcome, ()) = tokio::join!(
                    controller::up(&d, &project, &o),
                    d.stacks.watch_project(&project)
                );
                let outcome = outcome?;
                d.stacks.converged(&project.name).await;
                d.metrics.set_stack_config_error(&project.name, false);
                Ok(outcome)
            })
            .await
        }
        (&Method::POST, ["down"]) => {
            let req: DownRequest = serde_json::from_slice(&body).map_err(|_| parse("down"))?;
            let began = std::time::Instant::now();
            // A file that no longer loads must not stop a `down`: the labels name the project.
            let project = req.load.as_ref().map(|l| l.load()).transpose();
            let loaded = began.elapsed().as_micros() as u64;
            let (name, project) = match (project, req.project) {
                (Ok(Some(p)), _) => (p.name.clone(), Some(p)),
                (_, Some(name)) => (name, None),
                (Err(e), None) => return Err(e.into()),
                (Ok(None), None) => return Err(ApiError::bad_request("down needs a project")),
            };
            // Forgotten first, so no reconcile pass brings anything back while it goes.
            d.stacks.deregister(&name).await;
            let deregistered = began.elapsed().as_micros() as u64;
            tracing::debug!(project = %name, loaded, deregistered, "down request (micros)");
            let (d, mut o) = (d.clone(), req.options);
            answer(req.stream, move |progress| async move {
                o.progress = progress;
                let _guard = d.stack_lock(&name).await;
                controller::down(&d, &name, project.as_ref(), &o).await
            })
            .await
        }
        (&Method::POST, ["pull"]) => {
            let req: PullRequest = serde_json::from_slice(&body).map_err(|_| parse("pull"))?;
            let project = req.load.load()?;
            let d = d.clone();
            Ok(super::api_registry::stream(move |progress| async move {
                crate::stack::pull::ensure_images(
                    &d,
                    &project,
                    &req.services,
                    req.policy.as_deref(),
                    progress,
                )
                .await?;
                Ok(json!({ "status": "pulled" }))
            }))
        }
        (&Method::POST, ["build"]) => {
            let req: BuildRequest = serde_json::from_slice(&body).map_err(|_| parse("build"))?;
            let project = req.load.load()?;
            for s in &req.services {
                if !project.services.contains_key(s) {
                    return Err(ApiError::bad_request(format!("no such service: {s}")));
                }
            }
            let d = d.clone();
            Ok(super::api_build::stream_build(
                req.quiet,
                move |progress, cancel| async move {
                    let built = crate::stack::build::ensure_built(
                        &d,
                        &project,
                        &req.services,
                        req.when,
                        &progress,
                        cancel,
                    )
                    .await?;
                    Ok(json!({ "status": "built", "Services": built }))
                },
            ))
        }
        (&Method::POST, ["run"]) => {
            let req: RunRequest = serde_json::from_slice(&body).map_err(|_| parse("run"))?;
            let project = req.load.load()?;
            let log = super::api_registry::log_progress(&project.name);
            let one = std::slice::from_ref(&req.service);
            crate::stack::pull::ensure_images(d, &project, one, None, log).await?;
            let c = controller::create_oneoff(d, &project, &req.service, &req.options).await?;
            let name = c.rec.lock().await.config.name.clone();
            http::json(&json!({ "Id": c.id, "Name": name }))
        }
        (&Method::POST, ["wait"]) => {
            let req: WaitRequest = serde_json::from_slice(&body).map_err(|_| parse("wait"))?;
            let project = req.load.load()?;
            let d = d.clone();
            stream_outcome(move |progress| async move {
                let mut out = Outcome::default();
                for s in req
                    .services
                    .iter()
                    .filter(|s| project.services.contains_key(*s))
                {
                    let warnings =
                        ContainerPort::wait_dependencies(&*d, &project, s, &progress).await?;
                    out.warnings.extend(warnings);
                }
                Ok(out)
            })
        }
        (&Method::POST, [name, "park"]) => {
            let req: ParkRequest = serde_json::from_slice(&body).map_err(|_| parse("park"))?;
            d.stacks.park(name, &req.services, req.parked).await?;
            http::empty()
        }
        (&Method::POST, ["config"]) => {
            let load: StackLoad = serde_json::from_slice(&body).map_err(|_| parse("config"))?;
            http::json(&load.load()?.to_json())
        }
        _ => Err(ApiError::not_found(format!(
            "no route for {m} /stacks/{}",
            rest.join("/")
        ))),
    }
}

/// Starts the dependencies of a one-off `run` of a registered stack from the stack as it
/// runs: its own files and environment, not the caller's (a shell whose environment
/// interpolates another subnet must not move every running container). What is missing is
/// created, what is stopped is started; nothing is recreated, no network is made again, and
/// the stack's record (what `up` asked for) stays as it is.
async fn one_off_dependencies(d: &Arc<Daemon>, running: StackLoad, req: UpRequest) -> ApiResult {
    let project = tokio::task::spawn_blocking(move || running.load().map_err(ApiError::from))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    let mut o = req.options;
    o.no_recreate = true;
    o.force_recreate = false;
    o.renew_anon_volumes = false;
    o.recreate_volumes.clear();
    o.as_running = true;
    o.remove_orphans = false;
    let d = d.clone();
    answer(req.stream, move |progress| async move {
        o.progress = progress;
        let _guard = d.stack_lock(&project.name).await;
        crate::stack::pull::ensure_images(
            &d,
            &project,
            &o.services,
            None,
            super::api_registry::log_progress(&project.name),
        )
        .await?;
        controller::up(&d, &project, &o).await
    })
    .await
}

/// Answers with the outcome of `work` (an `up` or `down`): one JSON body, or with `stream`
/// its progress as it happens (see [`stream_outcome`]).
async fn answer<F, Fut>(stream: bool, work: F) -> ApiResult
where
    F: FnOnce(Progress) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Outcome, ApiError>> + Send + 'static,
{
    if stream {
        return stream_outcome(work);
    }
    http::json(&work(Progress::default()).await?)
}

/// Runs `work` and streams its progress as JSON lines while it runs: `{"event": Event}` for
/// each step the moment it happens, then one last `{"outcome": Outcome}` or
/// `{"error": message}`. The CLI draws Compose's live display from these. The work goes on
/// if the client goes away (an interrupted `up` must not leave a half-made container).
fn stream_outcome<F, Fut>(work: F) -> ApiResult
where
    F: FnOnce(Progress) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Outcome, ApiError>> + Send + 'static,
{
    let (progress, mut events) = Progress::channel();
    let (tx, reply) = http::channel("application/x-ndjson");
    let line = |v: serde_json::Value| bytes::Bytes::from(v.to_string() + "\n");
    tokio::spawn(async move {
        let work = tokio::spawn(work(progress));
        // The channel ends when the work (and every task it spawned) let go of its sender.
        while let Some(e) = events.recv().await {
            let _ = tx.send(line(json!({ "event": e }))).await;
        }
        let last = match work.await {
            Ok(Ok(outcome)) => json!({ "outcome": outcome }),
            Ok(Err(e)) => json!({ "error": e.message }),
            Err(e) => json!({ "error": e.to_string() }),
        };
        let _ = tx.send(line(last)).await;
    });
    Ok(reply)
}

/// Stacks known from their containers' labels and from the registry: `berth ls`, with
/// whether each is watched and why its last reconcile failed, if it did.
async fn list(d: &Daemon) -> ApiResult {
    #[derive(Default)]
    struct Row {
        counts: BTreeMap<String, usize>,
        files: String,
        dir: String,
    }
    let mut stacks: BTreeMap<String, Row> = BTreeMap::new();
    for name in d.stacks.names().await {
        stacks.entry(name).or_default();
    }
    for c in d.containers.all().await {
        let r = c.rec.lock().await;
        let Some(p) = r.config.labels.get(LABEL_PROJECT) else {
            continue;
        };
        let e = stacks.entry(p.clone()).or_default();
        *e.counts
            .entry(r.state.status.as_str().to_string())
            .or_default() += 1;
        let label = |k: &str| r.config.labels.get(k).cloned().unwrap_or_default();
        e.files = label(LABEL_FILES);
        e.dir = label(LABEL_WORKDIR);
    }
    let mut out = Vec::new();
    for (name, row) in stacks {
        let mut status = row
            .counts
            .iter()
            .map(|(s, n)| format!("{s}({n})"))
            .collect::<Vec<_>>()
            .join(", ");
        let st = d.stacks.status(&name).await.unwrap_or_default();
        if status.is_empty() {
            status = "created(0)".into();
        }
        out.push(json!({
            "Name": name, "Status": status, "ConfigFiles": row.files, "WorkingDir": row.dir,
            "Watched": st.watched, "Error": st.error, "LastReconcile": st.last_reconcile,
        }));
    }
    http::json(&out)
}

/// `GET /events?project=X&since=&until=`: the events of one project (or all): its
/// containers', networks', volumes' and the stack's own, from the daemon's one bus (which the
/// Docker door's `/events` reads too), past ones from `since`, as JSON lines, until `until`
/// or the client goes away.
pub async fn events(d: &Daemon, q: &Query) -> ApiResult {
    let project = q.get("project").map(String::from);
    let w = super::event_feed::Window::from_query(q)?;
    Ok(super::event_feed::serve(
        &d.containers.events,
        w,
        "application/x-ndjson",
        move |e| {
            (project.is_none() || e.labels.get(LABEL_PROJECT) == project.as_ref())
                .then(|| serde_json::to_string(e).unwrap_or_default() + "\n")
        },
    ))
}
