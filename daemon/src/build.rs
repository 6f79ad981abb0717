//! The builder's engine side (berth_build::Host): a RUN step is a container of the daemon's
//! own, removed once its writable layer is read; COPY, ADD and WORKDIR write through a
//! private overlay mount in the fs helper (berth_engine::runtime::fscopy), so paths resolve
//! inside the image; every step's result is an image of the store, found again by its
//! cache key.

use super::containers::Ctr;
use super::Daemon;
use berth_build::host::{AddSpec, Commit, Host, RunSpec, StepOutput};
use berth_engine::container::{ContainerConfig, Status};
use berth_engine::fsutil::new_id;
use berth_engine::image::{diff, Derivation};
use berth_engine::runtime::fscopy::{FsOp, FsRequest};
use berth_engine::runtime::logs::LogFollower;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Marks a build's RUN containers: a daemon start removes those a crash left.
pub const BUILD_LABEL: &str = "berth.build";

pub struct DaemonHost {
    d: Arc<Daemon>,
    /// This build's scratch directory (under the image store's tmp, emptied at start).
    scratch: PathBuf,
    cancelled: watch::Receiver<bool>,
    /// The upper dir each COPY/ADD/WORKDIR layer tar was written from, kept until the step's
    /// commit moves it into the store as the unpacked layer (see `Derivation::unpacked`).
    uppers: std::sync::Mutex<HashMap<PathBuf, PathBuf>>,
}

impl DaemonHost {
    pub fn new(d: Arc<Daemon>, cancelled: watch::Receiver<bool>) -> std::io::Result<DaemonHost> {
        let scratch = d.images.tmp.join(format!("build-{}", new_id()));
        std::fs::create_dir_all(&scratch)?;
        Ok(DaemonHost {
            d,
            scratch,
            cancelled,
            uppers: Default::default(),
        })
    }

    fn check(&self) -> Result<(), String> {
        if *self.cancelled.borrow() {
            return Err("build cancelled".into());
        }
        Ok(())
    }

    /// Runs the fs helper on `image`'s layers with a fresh upper dir; returns that dir
    /// (the caller removes its parent).
    async fn fs_helper(
        &self,
        image: Option<&str>,
        op: FsOp,
        stdin: Option<&Path>,
        stdout: Option<&Path>,
    ) -> Result<PathBuf, String> {
        let layers = match image {
            Some(i) => {
                self.d
                    .images
                    .resolve(i)
                    .await
                    .map_err(|e| e.message)?
                    .layers
            }
            None => Vec::new(),
        };
        let work = self.scratch.join(new_id());
        let req = FsRequest {
            layers,
            upper: work.join("upper"),
            work: work.join("work"),
            mountpoint: work.join("mnt"),
            op,
            scratch: true,
            ..Default::default()
        };
        std::fs::create_dir_all(&req.upper).map_err(|e| e.to_string())?;
        let json = serde_json::to_string(&req).map_err(|e| e.to_string())?;
        let mut cmd = tokio::process::Command::new(self.d.containers.helper_exe());
        cmd.arg("fs-helper").arg(json).stderr(Stdio::piped());
        cmd.stdin(match stdin {
            Some(p) => Stdio::from(std::fs::File::open(p).map_err(|e| e.to_string())?),
            None => Stdio::null(),
        });
        cmd.stdout(match stdout {
            Some(p) => Stdio::from(std::fs::File::create(p).map_err(|e| e.to_string())?),
            None => Stdio::null(),
        });
        // Not `output()`: tokio's sets stdout to a pipe, and an export's tar would go there
        // instead of into its file.
        let out = cmd
            .spawn()
            .map_err(|e| format!("starting the fs helper: {e}"))?
            .wait_with_output()
            .await
            .map_err(|e| format!("running the fs helper: {e}"))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&work);
            let msg = String::from_utf8_lossy(&out.stderr);
            let msg = msg.trim();
            return Err(msg.strip_prefix("berth: ").unwrap_or(msg).to_string());
        }
        Ok(req.upper)
    }

    /// The writable layer in `upper` as a tar in the scratch dir; None when it is empty.
    async fn layer_of(&self, upper: PathBuf) -> Result<Option<PathBuf>, String> {
        let tar = self.scratch_file();
        let path = tar.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<Option<PathBuf>> {
            if std::fs::read_dir(&upper)?.next().is_none() {
                return Ok(None);
            }
            let file = std::fs::File::create(&path)?;
            diff::write_layer(&upper, std::io::BufWriter::new(file))?;
            Ok(Some(path))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("reading the step's layer: {e}"))
    }

    async fn remove_container(&self, ctr: &Arc<Ctr>) {
        if let Err(e) = self.d.containers.remove(ctr, true).await {
            tracing::warn!(container = %ctr.id, error = %e.message, "removing a build container");
        }
    }
}

/// Removes the fs helper's work directory an upper dir is in (the upper with it, if the
/// store did not take it).
fn remove_work_of(upper: &Path) {
    if let Some(work) = upper.parent() {
        let _ = std::fs::remove_dir_all(work);
    }
}

impl Drop for DaemonHost {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

impl Host for DaemonHost {
    async fn base_image(&self, reference: &str, pull: bool) -> Result<String, String> {
        self.check()?;
        if !pull {
            if let Ok(image) = self.d.images.resolve(reference).await {
                return Ok(image.id);
            }
        }
        let quiet: super::images::ProgressFn = Arc::new(|_| {});
        self.d
            .images
            .pull(reference, None, quiet)
            .await
            .map(|p| p.id)
            .map_err(|e| format!("{reference}: {}", e.message))
    }

    async fn image_config(&self, image: &str) -> Result<Value, String> {
        let image = image.to_string();
        let v = self
            .d
            .images
            .with(move |s| s.config_json(&image))
            .await
            .map_err(|e| e.message)?;
        Ok(match &v["config"] {
            Value::Object(_) => v["config"].clone(),
            _ => json!({}),
        })
    }

    async fn cached(&self, key: &str) -> Option<String> {
        let key = key.to_string();
        self.d
            .images
            .with(move |s| Ok(s.cached(&key)))
            .await
            .ok()
            .flatten()
    }

    async fn run(
        &self,
        spec: &RunSpec,
        output: &(dyn Fn(&[u8]) + Send + Sync),
    ) -> Result<StepOutput, String> {
        self.check()?;
        let network_mode = match spec.network.as_str() {
            "none" | "host" => spec.network.clone(),
            "default" | "" => String::new(),
            other => return Err(format!("network mode {other:?} not supported for RUN")),
        };
        let cfg = ContainerConfig {
            image: spec.image.clone(),
            cmd: Some(spec.argv.clone()),
            entrypoint: Some(Vec::new()),
            env: spec.env.clone(),
            working_dir: Some(spec.workdir.clone()).filter(|w| !w.is_empty()),
            user: Some(spec.user.clone()).filter(|u| !u.is_empty()),
            network_mode,
            extra_hosts: spec.extra_hosts.clone(),
            shm_size: spec.shm_size,
            labels: [(BUILD_LABEL.to_string(), "run".to_string())].into(),
            // Its layer is read into the step's image at once; a crash meanwhile loses the
            // step, which the next daemon removes and the next build runs again.
            ephemeral: true,
            ..Default::default()
        };
        let ctr = self.d.containers.create(cfg).await.map_err(|e| e.message)?;
        let log = self.d.containers.layout(&ctr.id).log();
        let mut follower = LogFollower::at_end(&log);
        let mut status = ctr.status.subscribe();
        if let Err(e) = self.d.containers.start(&ctr, false).await {
            self.remove_container(&ctr).await;
            return Err(e.message);
        }
        let mut cancelled = self.cancelled.clone();
        loop {
            let running = matches!(
                *status.borrow_and_update(),
                Status::Running | Status::Restarting | Status::Created
            );
            for e in follower.poll() {
                output(e.log.as_bytes());
            }
            if !running {
                break;
            }
            if *cancelled.borrow() {
                let _ = self.d.containers.kill(&ctr, "KILL").await;
                self.d
                    .containers
                    .wait_not_running(&ctr, Duration::from_secs(10))
                    .await;
                self.remove_container(&ctr).await;
                return Err("build cancelled".into());
            }
            tokio::select! {
                _ = status.changed() => {}
                _ = cancelled.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        let exit_code = ctr.rec.lock().await.state.exit_code;
        let layer = if exit_code == 0 {
            self.layer_of(self.d.containers.layout(&ctr.id).upper())
                .await
        } else {
            Ok(None)
        };
        self.remove_container(&ctr).await;
        Ok(StepOutput {
            exit_code,
            layer: layer?,
        })
    }

    async fn add(&self, spec: &AddSpec) -> Result<StepOutput, String> {
        self.check()?;
        let op = FsOp::Add {
            dir: spec.dest_dir.clone(),
            chown: spec.chown.clone(),
            chmod: spec.chmod,
        };
        let upper = self
            .fs_helper(spec.image.as_deref(), op, spec.tar.as_deref(), None)
            .await?;
        let layer = self.layer_of(upper.clone()).await;
        match &layer {
            Ok(Some(tar)) => {
                let mut uppers = self.uppers.lock().unwrap_or_else(|e| e.into_inner());
                uppers.insert(tar.clone(), upper);
            }
            _ => remove_work_of(&upper),
        }
        Ok(StepOutput {
            exit_code: 0,
            layer: layer?,
        })
    }

    async fn is_dir(&self, image: Option<&str>, path: &str) -> Result<bool, String> {
        if image.is_none() {
            return Ok(false);
        }
        let answer = self
            .fs_helper(image, FsOp::IsDir(path.to_string()), None, None)
            .await;
        if let Ok(upper) = &answer {
            if let Some(work) = upper.parent() {
                let _ = std::fs::remove_dir_all(work);
            }
        }
        Ok(answer.is_ok())
    }

    async fn export(&self, image: &str, path: &str) -> Result<PathBuf, String> {
        self.check()?;
        let out = self.scratch_file();
        let upper = self
            .fs_helper(Some(image), FsOp::Out(path.to_string()), None, Some(&out))
            .await
            .map_err(|e| {
                let _ = std::fs::remove_file(&out);
                e.replace(" in container", "")
            })?;
        if let Some(work) = upper.parent() {
            let _ = std::fs::remove_dir_all(work);
        }
        Ok(out)
    }

    async fn commit(&self, c: &Commit) -> Result<String, String> {
        let c = c.clone();
        let upper = c.layer.as_ref().and_then(|l| {
            let mut uppers = self.uppers.lock().unwrap_or_else(|e| e.into_inner());
            uppers.remove(l)
        });
        let unpacked = upper.clone();
        let stored = self
            .d
            .images
            .with(move |s| {
                s.derive(&Derivation {
                    parent: c.parent.as_deref(),
                    layer: c.layer.as_deref(),
                    unpacked: unpacked.as_deref(),
                    config: c.config.clone(),
                    created_by: c.created_by.clone(),
                    author: c.author.clone(),
                    cache_key: Some(c.cache_key.clone()),
                    reference: None,
                })
            })
            .await;
        // What the store did not take (all of it, unless it adopted the upper dir).
        if let Some(u) = &upper {
            remove_work_of(u);
        }
        stored.map(|s| s.id).map_err(|e| e.message)
    }

    async fn tag(&self, image: &str, reference: &str) -> Result<(), String> {
        self.d
            .images
            .tag(image, reference)
            .await
            .map_err(|e| e.message)
    }

    fn scratch_file(&self) -> PathBuf {
        self.scratch.join(format!("{}.tar", new_id()))
    }
}
