//! The daemon's door to the volume store: blocking work off the runtime, one writer at a time.

use super::http::ApiError;
use berth_engine::volume::{VolumeError, VolumeStore};
use std::path::Path;
use std::sync::{Arc, Mutex};

pub struct Volumes {
    store: Arc<Mutex<VolumeStore>>,
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
    pub fn open(root: &Path) -> Result<Self, VolumeError> {
        Ok(Volumes {
            store: Arc::new(Mutex::new(VolumeStore::open(root)?)),
        })
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
}
