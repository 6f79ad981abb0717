//! The daemon's door to the volume store: blocking work off the runtime, one writer at a time;
//! and the one place a container's volume mounts become host directories, for stack services
//! and `container run` alike.

use super::containers::Containers;
use super::events::EventBus;
use super::http::ApiError;
use super::images::Images;
use berth_compose::{LABEL_ANONYMOUS, LABEL_PROJECT};
use berth_engine::container::{ContainerConfig, ContainerRecord};
use berth_engine::volume::{VolumeError, VolumeRecord, VolumeStore};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Mount kind of an anonymous volume until it is resolved (`-nocopy` may follow). A `volume`
/// mount with no source is anonymous too (`-v /path`, `--mount type=volume,target=/path`).
pub const ANONYMOUS_VOLUME: &str = "volume-anonymous";

#[derive(Clone)]
pub struct Volumes {
    store: Arc<Mutex<VolumeStore>>,
    /// Where volumes made, removed, mounted and unmounted are told (see `super::events`).
    events: EventBus,
}

impl From<VolumeError> for ApiError {
    fn from(e: VolumeError) -> Self {
        match e {
            VolumeError::NotFound(_) => ApiError::not_found(e.to_string()),
            VolumeError::InvalidName(_) => ApiError::bad_request(e.to_string()),
            VolumeError::Io { .. } => ApiError::internal(e.to_string()),
        }
    }
}

impl Volumes {
    pub fn open(root: &Path, events: EventBus) -> Result<Self, VolumeError> {
        Ok(Volumes {
            store: Arc::new(Mutex::new(VolumeStore::open(root)?)),
            events,
        })
    }

    /// Makes the volume unless it exists (a `create` event when it did not); its record.
    pub async fn create(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
    ) -> Result<VolumeRecord, ApiError> {
        let n = name.to_string();
        let (rec, made) = self
            .with(move |v| {
                let made = v.get(&n).is_err();
                Ok((v.ensure(&n, &labels)?, made))
            })
            .await?;
        if made {
            self.events.volume("create", &rec.name, &rec.labels, &[]);
        }
        Ok(rec)
    }

    /// Removes the volume, with its `destroy` event; returns the bytes its data held.
    pub async fn remove(&self, name: &str) -> Result<u64, ApiError> {
        let n = name.to_string();
        let (rec, size) = self
            .with(move |v| {
                let rec = v.get(&n)?;
                let size = disk_usage(&v.data_path(&n)?);
                v.remove(&n)?;
                Ok((rec, size))
            })
            .await?;
        self.events.volume("destroy", &rec.name, &rec.labels, &[]);
        Ok(size)
    }

    /// `mount` (at start) or `unmount` (at exit) events for each named or anonymous volume
    /// `rec` mounts, with the attributes dockerd gives them.
    pub fn tell_mounts(&self, action: &str, rec: &ContainerRecord) {
        for m in rec.config.mounts.iter().filter(|m| m.kind == "volume") {
            // A resolved volume mount's source is the volume's data directory, NAME/_data.
            let path = Path::new(&m.source);
            let Some(name) = path.parent().and_then(Path::file_name) else {
                continue;
            };
            let mut attrs = vec![("container", rec.id.clone())];
            if action == "mount" {
                attrs.push(("destination", m.target.clone()));
                attrs.push(("propagation", String::new()));
                attrs.push(("read/write", (!m.read_only).to_string()));
            }
            self.events
                .volume(action, &name.to_string_lossy(), &BTreeMap::new(), &attrs);
        }
    }

    pub async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&VolumeStore) -> Result<T, VolumeError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store.lock().unwrap_or_else(|p| p.into_inner())))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(ApiError::from)
    }

    /// Docker's treatment of a container's volume mounts: a named volume is created when
    /// missing and reused when present, an anonymous one gets a fresh 64-hex-digit name and
    /// the `com.docker.volume.anonymous` label (with the stack's project label when the
    /// container has one, so `down -v` finds it), and a fresh volume is filled from the image's
    /// content at the mount path unless `nocopy`. Each mount's source becomes the volume's
    /// data directory, its kind plain `volume`. Returns the names of the volumes this call
    /// created, so a caller whose create then fails can take them back.
    pub async fn resolve_mounts(
        &self,
        images: &Images,
        cfg: &mut ContainerConfig,
    ) -> Result<Vec<String>, ApiError> {
        let needs_layers = cfg
            .mounts
            .iter()
            .any(|m| m.kind.starts_with("volume") && !m.kind.ends_with("nocopy"));
        let layers = if needs_layers {
            images.resolve(&cfg.image).await?.layers
        } else {
            Vec::new()
        };
        let project = cfg.labels.get(LABEL_PROJECT).cloned();
        let mut created = Vec::new();
        for m in cfg
            .mounts
            .iter_mut()
            .filter(|m| m.kind.starts_with("volume"))
        {
            let copy = !m.kind.ends_with("nocopy");
            let anonymous = m.kind.starts_with(ANONYMOUS_VOLUME) || m.source.is_empty();
            let name = if m.source.is_empty() {
                berth_engine::fsutil::new_id()
            } else {
                m.source.clone()
            };
            let mut labels = BTreeMap::new();
            if anonymous {
                labels.insert(LABEL_ANONYMOUS.to_string(), String::new());
                if let Some(p) = &project {
                    labels.insert(LABEL_PROJECT.to_string(), p.clone());
                }
            }
            let told = labels.clone();
            let (target, layers, n) = (m.target.clone(), layers.clone(), name.clone());
            let (path, made) = self
                .with(move |v| {
                    let made = v.get(&n).is_err();
                    v.ensure(&n, &labels)?;
                    if copy {
                        v.initialize_from(&n, &layers, &target)?;
                    }
                    Ok((v.data_path(&n)?, made))
                })
                .await?;
            if made {
                self.events.volume("create", &name, &told, &[]);
                created.push(name);
            }
            m.kind = "volume".into();
            m.source = path.display().to_string();
        }
        Ok(created)
    }

    /// Removes the named volumes (those a failed create made); errors are only logged, the
    /// create's own error is the one that matters.
    pub async fn remove_quietly(&self, names: Vec<String>) {
        if names.is_empty() {
            return;
        }
        for n in names {
            if let Err(e) = self.remove(&n).await {
                tracing::warn!(volume = %n, error = %e.message, "removing the volumes of a failed create");
            }
        }
    }

    /// `rm -v` and `--rm`: the anonymous volumes among the given mounts (named ones stay, as
    /// Docker keeps them), but none whose data directory is in `in_use`.
    pub async fn remove_anonymous(
        &self,
        mounts: Vec<berth_engine::container::MountConfig>,
        in_use: std::collections::HashSet<PathBuf>,
    ) -> Result<(), ApiError> {
        let sources: Vec<PathBuf> = mounts
            .into_iter()
            .filter(|m| m.kind == "volume")
            .map(|m| PathBuf::from(m.source))
            .filter(|p| !in_use.contains(p))
            .collect();
        if sources.is_empty() {
            return Ok(());
        }
        let names = self
            .with(move |store| {
                let mut names = Vec::new();
                for v in store.list() {
                    if v.labels.contains_key(LABEL_ANONYMOUS)
                        && sources.contains(&store.data_path(&v.name)?)
                    {
                        names.push(v.name);
                    }
                }
                Ok(names)
            })
            .await?;
        for n in names {
            self.remove(&n).await?;
        }
        Ok(())
    }

    /// The ids of the containers (running or not) that mount the volume `name`.
    pub async fn users(
        &self,
        containers: &Containers,
        name: &str,
    ) -> Result<Vec<String>, ApiError> {
        let n = name.to_string();
        let data = self.with(move |v| v.data_path(&n)).await?;
        Ok(containers.using_volume(&data).await)
    }
}

/// Bytes held by the files under `dir` (hard links once), for `volume prune`'s "Total
/// reclaimed space".
pub fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                stack.push(e.path());
            } else if seen.insert((md.dev(), md.ino())) {
                total += md.len();
            }
        }
    }
    total
}
