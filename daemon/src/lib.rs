//! berth-daemon: the long-running process behind the API socket.
//!
//! It is: the HTTP API on a root-only unix socket (`api*`), the Docker Engine API on a second
//! one (`docker`: Docker's dialect translated into the same operations), the container manager and its
//! supervision (`containers`, `health`, `reaper`), networks over berth-netd (`networks`),
//! volumes, images and registry glue (`images`, `stack::pull`), the stack registry with its
//! reconcile loops and file watches (`stacks`, `watch`), the controller that converges a
//! loaded Compose project (`stack`), and Prometheus metrics (`metrics`, `exposition`).
//!
//! Its one door: [`run`] is `berth daemon`, started with [`DaemonOptions`] (which also says
//! where the socket and the default root are, for the CLI's client) and [`MetricsAddr`];
//! [`chain_prefix`] names a root's iptables chains (the end-to-end tests look for them).
//! Everything else is private to the crate.
//!
//! It is not: the Compose loader (berth-compose), the engine that makes containers
//! (berth-engine), the network plumbing (berth-netd) or the command line (berth-cli). Only
//! the `berth` binary depends on it, and talks to a running daemon over HTTP only.

mod api;
mod api_build;
mod api_commit;
mod api_manage;
mod api_networks;
mod api_registry;
mod api_stacks;
mod api_top;
mod api_volumes;
mod build;
mod comeback;
mod containers;
mod docker;
mod event_feed;
mod events;
mod exposition;
mod health;
mod http;
mod images;
mod metrics;
mod names;
mod networks;
mod options;
mod reaper;
mod shim_spawn;
mod stack;
mod stacks;
mod trash;
mod volumes;
mod watch;

pub use options::{DaemonOptions, DockerSocket, MetricsAddr};

use containers::Containers;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use images::Images;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use tokio::net::UnixListener;
use tokio::sync::Notify;

pub struct Daemon {
    pub containers: Arc<Containers>,
    pub images: Arc<Images>,
    pub nets: Arc<networks::Networks>,
    pub volumes: volumes::Volumes,
    /// Registered stacks and their reconcile loops.
    pub stacks: stacks::Stacks,
    pub metrics: Arc<metrics::Metrics>,
    pub shutdown: Notify,
    /// One `up`/`down` at a time per stack.
    stack_locks: tokio::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Daemon {
    pub async fn stack_lock(&self, project: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .stack_locks
            .lock()
            .await
            .entry(project.to_string())
            .or_default()
            .clone();
        lock.lock_owned().await
    }
}

/// Runs the daemon until `berth daemon stop`, SIGTERM or SIGINT. Containers keep running.
pub fn run(opts: DaemonOptions) -> anyhow::Result<()> {
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "the berth daemon must run as root"
    );
    // glibc gives each thread that allocates an arena of its own (up to 8 per core), and
    // every blocking-pool thread then keeps the memory it freed: two arenas keep the
    // long-lived daemon small. SAFETY: mallopt only tunes the allocator, before any thread.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    // Two workers are plenty for an API that mostly waits; fewer threads, less memory.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()?;
    rt.block_on(serve(opts))
}

async fn serve(opts: DaemonOptions) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.root)?;
    std::fs::create_dir_all(&opts.run_dir)?;
    std::fs::set_permissions(&opts.run_dir, std::fs::Permissions::from_mode(0o700))?;
    let _pid_lock = lock_pid_file(&opts.run_dir)?;
    // Before the first shim starts: its orphaned long-lived half must come back to us.
    reaper::become_subreaper();
    reaper::spawn_sweeper();
    // Compiling Docker's seccomp profile for its three x86 ABIs takes ~14 ms; done now, off
    // the request path, the first `run` finds it cached like every later one.
    tokio::task::spawn_blocking(|| {
        let _ = berth_engine::container::seccomp_filter(&Default::default());
    });
    let sealed = berth_engine::runtime::sealed::SealedExe::create()
        .map_err(|e| anyhow::anyhow!("copying the berth binary into a sealed memfd: {e}"))?;
    // The one event source every part tells and both doors' `/events` read.
    let events = events::EventBus::default();
    let images = Arc::new(
        Images::open(&opts.root, &opts.insecure_registries, events.clone())
            .map_err(|e| anyhow::anyhow!("opening the image store: {e}"))?,
    );
    let mut netd_opts = berth_netd::NetdOptions::new(opts.root.join("network"), &opts.run_dir);
    netd_opts.chain_prefix = chain_prefix(&opts.root);
    // Each network's names are served by a process of its own, from the sealed copy of this
    // binary as the shims are: it outlives this daemon and the next one adopts it, so names
    // keep resolving while no daemon runs.
    netd_opts.dns_exe = Some(sealed.path());
    if let Ok(up) = std::env::var("BERTH_DNS_UPSTREAM") {
        // Tests run their own upstream resolver; production reads /etc/resolv.conf.
        netd_opts.upstream_dns = Some(
            up.split(',')
                .filter_map(|a| a.trim().parse().ok())
                .collect(),
        );
    }
    let netd = berth_netd::Netd::open(netd_opts)
        .await
        .map_err(|e| anyhow::anyhow!("opening networks: {e}"))?;
    let nets = Arc::new(networks::Networks::new(
        Arc::new(netd),
        opts.run_dir.clone(),
        events.clone(),
    ));
    let volumes = volumes::Volumes::open(&opts.root, events)
        .map_err(|e| anyhow::anyhow!("opening the volume store: {e}"))?;
    let containers = Containers::new(
        &opts.root,
        &opts.run_dir,
        &opts.cgroup_parent,
        sealed.path(),
        images.clone(),
        nets.clone(),
        volumes.clone(),
    );
    containers.restore().await;
    // A build's RUN container outlives its build only when the daemon died mid-step.
    for c in containers.all().await {
        if c.rec
            .lock()
            .await
            .config
            .labels
            .contains_key(build::BUILD_LABEL)
        {
            if let Err(e) = containers.remove(&c, true).await {
                tracing::warn!(container = %c.id, error = %e.message, "removing a build's leftover container");
            }
        }
    }
    let live: std::collections::HashSet<String> = containers
        .all()
        .await
        .iter()
        .map(|c| c.id.clone())
        .collect();
    nets.gc(&live).await;
    let daemon = Arc::new(Daemon {
        containers,
        images,
        nets: nets.clone(),
        volumes,
        stacks: stacks::Stacks::new(&opts.root),
        metrics: Arc::new(metrics::Metrics::new(&opts.cgroup_parent)),
        shutdown: Notify::new(),
        stack_locks: Default::default(),
    });
    // Containers are re-adopted above; now every stack resumes converging.
    daemon.stacks.restore(&daemon).await;
    // Level-triggered healing: missing chains, rules or bridges come back within one period.
    let resync = nets.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        for round in 0u64.. {
            tick.tick().await;
            // Rules and bridges every 5 s; every container's veth every 30 s.
            let done = if round % 6 == 0 {
                resync.netd.resync().await
            } else {
                resync.netd.resync_networks().await
            };
            if let Err(e) = done {
                tracing::warn!(error = %e, "network resync");
            }
        }
    });

    if let Some(addr) = opts.metrics_addr {
        let served = metrics::serve(addr, daemon.metrics.clone(), daemon.containers.clone());
        match served {
            Err(e) if !opts.metrics_addr_required => {
                tracing::warn!(address = %addr, error = %e, "metrics are off: the default address is busy");
            }
            other => other?,
        }
    }

    // The Docker Engine API: a second door onto the same daemon (see `docker`). Bound
    // first: a socket that cannot be had stops the start before berth's own is bound.
    let docker_sock = opts.docker_socket.clone();
    if let Some(path) = &docker_sock {
        docker::serve(daemon.clone(), path)?;
    }
    let sock = DaemonOptions::socket_path(&opts.run_dir);
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock)?;
    // The API is root's alone: it can run anything as anyone.
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))?;
    tracing::info!(socket = %sock.display(), root = %opts.root.display(), "berth daemon listening");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let d = daemon.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let d = d.clone();
                        async move {
                            Ok::<_, std::convert::Infallible>(match api::route(d, req).await {
                                Ok(reply) => reply,
                                Err(e) => http::error_reply(e),
                            })
                        }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
            _ = daemon.shutdown.notified() => break,
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!("berth daemon stopping; containers keep running");
    let _ = std::fs::remove_file(&sock);
    if let Some(path) = &docker_sock {
        let _ = std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(opts.run_dir.join("berth.pid"));
    drop(sealed);
    Ok(())
}

/// The iptables chain prefix of the daemon of `root`: `BERTH` for the default root (the
/// names every earlier berth used, so an upgraded daemon finds its own rules), and
/// `BERTH-<6 hex of the root's path>` for any other. Two daemons in one network namespace
/// (a second instance, tests) then never rewrite each other's chains: each rebuilds its
/// chains whole and would otherwise flush the other's rules and delete its jumps.
pub fn chain_prefix(root: &Path) -> String {
    // The path as the kernel resolves it: `/var/lib/../lib/berth` and a symlink to the
    // default root are the default root.
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let default_root = DaemonOptions::DEFAULT_ROOT;
    let default = std::fs::canonicalize(default_root).unwrap_or_else(|_| default_root.into());
    if root == default {
        return "BERTH".into();
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(root.as_os_str().as_encoded_bytes());
    // iptables chain names hold 28 characters; the longest is then
    // BERTH-xxxxxx-ISOLATION-1 (24).
    format!("BERTH-{}", &hex::encode(digest)[..6])
}

/// One daemon per run dir: the pid file is held with an exclusive lock for the daemon's life.
fn lock_pid_file(run_dir: &Path) -> anyhow::Result<std::fs::File> {
    use std::io::Write;
    let path = run_dir.join("berth.pid");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .read(true)
        .open(&path)?;
    // SAFETY: flock on a descriptor we own.
    if unsafe {
        libc::flock(
            std::os::fd::AsRawFd::as_raw_fd(&f),
            libc::LOCK_EX | libc::LOCK_NB,
        )
    } != 0
    {
        let pid = std::fs::read_to_string(&path).unwrap_or_default();
        anyhow::bail!(
            "another berth daemon (pid {}) is using {}",
            pid.trim(),
            run_dir.display()
        );
    }
    f.set_len(0)?;
    write!(f, "{}", std::process::id())?;
    f.flush()?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_prefix_is_berth_for_the_default_root_only() {
        assert_eq!(
            chain_prefix(Path::new(DaemonOptions::DEFAULT_ROOT)),
            "BERTH"
        );
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (pa, pb) = (chain_prefix(a.path()), chain_prefix(b.path()));
        assert_ne!(pa, pb);
        assert!(pa.starts_with("BERTH-") && pa.len() == 12, "{pa}");
        // Stable: the same root always gets the same chains, however it is spelled.
        assert_eq!(chain_prefix(&a.path().join(".")), pa);
        std::fs::create_dir(a.path().join("sub")).unwrap();
        assert_eq!(chain_prefix(&a.path().join("sub/..")), pa);
    }
}
