//! The daemon's door to the image store: one writer at a time, blocking work off the runtime.

use super::http::ApiError;
use berth_engine::image::{ImageError, ImageStore, ResolvedImage};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub struct Images {
    store: Arc<Mutex<ImageStore>>,
    /// Scratch space for uploads (same filesystem as the store).
    pub tmp: PathBuf,
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

impl Images {
    pub fn open(root: &Path) -> Result<Self, ImageError> {
        let tmp = root.join("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(|source| ImageError::Io {
            path: tmp.clone(),
            source,
        })?;
        Ok(Images {
            store: Arc::new(Mutex::new(ImageStore::open(&root.join("images"))?)),
            tmp,
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

    pub async fn resolve(&self, reference: &str) -> Result<ResolvedImage, ApiError> {
        let r = reference.to_string();
        self.with(move |s| s.resolve(&r)).await
    }

    pub async fn count(&self) -> usize {
        self.with(|s| s.list()).await.map(|l| l.len()).unwrap_or(0)
    }
}
