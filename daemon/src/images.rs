//! The daemon's door to the image store: one writer at a time, blocking work off the runtime.

use super::events::EventBus;
use super::http::ApiError;
use berth_engine::image::{ImageError, ImageStore, Reference, ResolvedImage};
use berth_engine::registry::{
    Credential, Platform, Progress, PullOutcome, Registries, RegistryError, RegistryOptions,
};
use hyper::StatusCode;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where pull and push progress goes (a streamed API reply, or a log).
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

pub struct Images {
    store: Arc<Mutex<ImageStore>>,
    registries: Arc<Registries>,
    /// Scratch space for uploads (same filesystem as the store).
    pub tmp: PathBuf,
    /// Where pulls, pushes, tags and removals are told (see `super::events`).
    pub events: EventBus,
}

impl From<ImageError> for ApiError {
    fn from(e: ImageError) -> Self {
        match e {
            ImageError::NotFound { .. } => ApiError::not_found(e.to_string()),
            ImageError::Conflict { .. } => ApiError::conflict(e.to_string()),
            ImageError::Io { .. } | ImageError::Encode { .. } | ImageError::LayerMissing { .. } => {
                ApiError::internal(e.to_string())
            }
            _ => ApiError::bad_request(e.to_string()),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Image(e) => e.into(),
            RegistryError::Unauthorized { .. } => {
                ApiError::new(StatusCode::UNAUTHORIZED, e.to_string())
            }
            RegistryError::Denied { .. } => ApiError::new(StatusCode::FORBIDDEN, e.to_string()),
            RegistryError::ManifestUnknown { .. } | RegistryError::NoPlatform { .. } => {
                ApiError::not_found(e.to_string())
            }
            RegistryError::Connect { .. }
            | RegistryError::Status { .. }
            | RegistryError::Protocol { .. }
            | RegistryError::Blob { .. } => ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()),
            RegistryError::Credentials { .. } => ApiError::internal(e.to_string()),
            RegistryError::InvalidPlatform { .. } => ApiError::bad_request(e.to_string()),
        }
    }
}

impl Images {
    /// Opens the store under `root/images`; `insecure` registries get plain HTTP.
    pub fn open(root: &Path, insecure: &[String], events: EventBus) -> Result<Self, ImageError> {
        let tmp = root.join("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(|source| ImageError::Io {
            path: tmp.clone(),
            source,
        })?;
        Ok(Images {
            store: Arc::new(Mutex::new(ImageStore::open(&root.join("images"))?)),
            registries: Arc::new(Registries::new(RegistryOptions {
                insecure: insecure.to_vec(),
                credentials: root.join("credentials.json"),
                docker_config: None,
                max_concurrent: 3,
            })),
            tmp,
            events,
        })
    }

    /// Runs `f` on the store in the blocking pool.
    pub async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut ImageStore) -> Result<T, ImageError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::from)
    }

    /// The image `reference` names, as every container start asks: answered here when the
    /// store is free and has the image's config parsed already (memory and a stat of each
    /// layer), else on a blocking thread.
    pub async fn resolve(&self, reference: &str) -> Result<ResolvedImage, ApiError> {
        if let Ok(store) = self.store.try_lock() {
            if let Some(resolved) = store.resolve_if_cached(reference) {
                return resolved.map_err(ApiError::from);
            }
        }
        let r = reference.to_string();
        self.with(move |s| s.resolve(&r)).await
    }

    pub async fn count(&self) -> usize {
        self.with(|s| s.list()).await.map(|l| l.len()).unwrap_or(0)
    }

    /// Pulls `reference` (normalized as Docker: `busybox` is docker.io/library/busybox:latest)
    /// for `platform` (default: this host's), reporting to `progress`.
    pub async fn pull(
        &self,
        reference: &str,
        platform: Option<&str>,
        progress: ProgressFn,
    ) -> Result<PullOutcome, ApiError> {
        self.pull_as(reference, platform, None, progress).await
    }

    /// [`Images::pull`] with the caller's credential (Docker's `X-Registry-Auth`) when given.
    pub async fn pull_as(
        &self,
        reference: &str,
        platform: Option<&str>,
        credential: Option<Credential>,
        progress: ProgressFn,
    ) -> Result<PullOutcome, ApiError> {
        let reference = Reference::parse(reference).map_err(ImageError::from)?;
        let platform = match platform.filter(|p| !p.is_empty()) {
            Some(p) => Platform::parse(p)?,
            None => Platform::host(),
        };
        let (store, registries) = (self.store.clone(), self.registries.clone());
        let (id, name) = (reference.familiar(), reference.familiar_name());
        let pulled = tokio::task::spawn_blocking(move || {
            registries.pull_as(&store, &reference, &platform, credential, &*progress)
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::from)?;
        self.events.image("pull", &id, &name);
        Ok(pulled)
    }

    /// Pushes the image `local` names to the registry and tag of `target` (default: `local`).
    pub async fn push(
        &self,
        local: &str,
        target: Option<&str>,
        progress: ProgressFn,
    ) -> Result<String, ApiError> {
        self.push_as(local, target, None, progress).await
    }

    /// [`Images::push`] with the caller's credential when given.
    pub async fn push_as(
        &self,
        local: &str,
        target: Option<&str>,
        credential: Option<Credential>,
        progress: ProgressFn,
    ) -> Result<String, ApiError> {
        let target = Reference::parse(target.unwrap_or(local)).map_err(ImageError::from)?;
        let local = local.to_string();
        let (store, registries) = (self.store.clone(), self.registries.clone());
        let (id, name) = (target.familiar(), target.familiar_name());
        let digest = tokio::task::spawn_blocking(move || {
            registries.push_as(&store, &local, &target, credential, &*progress)
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::from)?;
        self.events.image("push", &id, &name);
        Ok(digest)
    }

    /// Points the tag `target` at the image `source` names; a `tag` event.
    pub async fn tag(&self, source: &str, target: &str) -> Result<(), ApiError> {
        let (s, t) = (source.to_string(), target.to_string());
        let id = self
            .with(move |st| {
                st.tag(&s, &t)?;
                Ok(st.resolve(&s)?.id)
            })
            .await?;
        let name = Reference::parse(target)
            .map(|r| r.familiar())
            .unwrap_or_else(|_| target.to_string());
        self.events.image("tag", &id, &name);
        Ok(())
    }

    /// `rmi`: Docker's report lines, with an `untag` event for each tag removed and a
    /// `delete` for the image when it went.
    pub async fn remove(&self, reference: &str, force: bool) -> Result<Vec<String>, ApiError> {
        let r = reference.to_string();
        let (id, lines) = self
            .with(move |s| {
                let id = s.resolve(&r)?.id;
                Ok((id, s.remove(&r, force)?))
            })
            .await?;
        self.removed(&id, &lines);
        Ok(lines)
    }

    /// The events of a removal's report lines (`Untagged: X`, `Deleted: ID`) of image `id`
    /// (empty for a prune's report: each image's untags come before its `Deleted` line).
    pub fn removed(&self, id: &str, lines: &[String]) {
        let mut untags = 0;
        for l in lines {
            if l.starts_with("Untagged: ") {
                untags += 1;
            } else if let Some(d) = l.strip_prefix("Deleted: ") {
                for _ in 0..std::mem::take(&mut untags) {
                    self.events.image("untag", d, d);
                }
                self.events.image("delete", d, d);
            }
        }
        for _ in 0..untags {
            self.events.image("untag", id, id);
        }
    }

    /// An import's events, as dockerd's: `tag` when it was given a name, then `import`.
    pub fn imported(&self, id: &str, reference: Option<&str>) {
        if let Some(r) = reference {
            let name = Reference::parse(r)
                .map(|r| r.familiar())
                .unwrap_or_else(|_| r.to_string());
            self.events.image("tag", id, &name);
        }
        self.events.image("import", id, id);
    }

    /// A `load` or `save` event for each image id of `references` (ids or names).
    pub async fn noted(&self, action: &str, references: &[String]) {
        let refs = references.to_vec();
        let ids = self
            .with(move |s| {
                Ok(refs
                    .iter()
                    .filter_map(|r| s.resolve(r).ok().map(|i| i.id))
                    .collect::<Vec<_>>())
            })
            .await
            .unwrap_or_default();
        for id in ids {
            self.events.image(action, &id, &id);
        }
    }

    /// `login`: checks the credential against the registry, then stores it (0600).
    pub async fn login(&self, registry: &str, credential: Credential) -> Result<(), ApiError> {
        let registry = registry.to_string();
        let registries = self.registries.clone();
        tokio::task::spawn_blocking(move || registries.login(&registry, credential))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(ApiError::from)
    }

    /// Checks a credential against a registry, storing nothing (Docker's `POST /auth`).
    pub async fn check_login(
        &self,
        registry: &str,
        credential: Credential,
    ) -> Result<(), ApiError> {
        let registry = registry.to_string();
        let registries = self.registries.clone();
        tokio::task::spawn_blocking(move || registries.check_login(&registry, &credential))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(ApiError::from)
    }

    pub async fn logout(&self, registry: &str) -> Result<bool, ApiError> {
        let registry = registry.to_string();
        let registries = self.registries.clone();
        tokio::task::spawn_blocking(move || registries.logout(&registry))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(ApiError::from)
    }
}
