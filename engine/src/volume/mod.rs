//! Named volumes: a directory per volume under ROOT/volumes/NAME/_data, with its labels in
//! ROOT/volumes/NAME/volume.json. A new volume is filled from the image's content at the mount
//! path the first time a container mounts it (Docker's copy-up), unless told not to.

mod copyup;

use crate::fsutil::{read_json, write_json};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct VolumeRecord {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub created: String,
    /// Set once the first mount copied the image's content in (or chose not to).
    pub initialized: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("invalid volume name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error("no such volume: {0}")]
    NotFound(String),
    #[error("volume {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub struct VolumeStore {
    root: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> VolumeError + '_ {
    move |source| VolumeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl VolumeStore {
    pub fn open(root: &Path) -> Result<Self, VolumeError> {
        let root = root.join("volumes");
        std::fs::create_dir_all(&root).map_err(io(&root))?;
        Ok(VolumeStore { root })
    }

    fn dir(&self, name: &str) -> Result<PathBuf, VolumeError> {
        if !crate::fsutil::is_valid_name(name) {
            return Err(VolumeError::InvalidName(name.into()));
        }
        Ok(self.root.join(name))
    }

    /// The host directory holding the volume's data.
    pub fn data_path(&self, name: &str) -> Result<PathBuf, VolumeError> {
        Ok(self.dir(name)?.join("_data"))
    }

    /// Creates the volume if it does not exist; returns its record.
    pub fn ensure(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<VolumeRecord, VolumeError> {
        if let Ok(r) = self.get(name) {
            return Ok(r);
        }
        let dir = self.dir(name)?;
        let data = dir.join("_data");
        std::fs::create_dir_all(&data).map_err(io(&data))?;
        let rec = VolumeRecord {
            name: name.into(),
            labels: labels.clone(),
            created: crate::runtime::logs::now_rfc3339(),
            initialized: false,
        };
        write_json(&dir.join("volume.json"), &rec).map_err(io(&dir))?;
        Ok(rec)
    }

    pub fn get(&self, name: &str) -> Result<VolumeRecord, VolumeError> {
        let dir = self.dir(name)?;
        read_json(&dir.join("volume.json")).map_err(|_| VolumeError::NotFound(name.into()))
    }

    pub fn list(&self) -> Vec<VolumeRecord> {
        let mut out: Vec<VolumeRecord> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| read_json(&e.path().join("volume.json")).ok())
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    pub fn remove(&self, name: &str) -> Result<(), VolumeError> {
        let dir = self.dir(name)?;
        if !dir.join("volume.json").exists() {
            return Err(VolumeError::NotFound(name.into()));
        }
        // The record goes first: a crash mid-way leaves an orphan directory, never a volume
        // that claims data it no longer has.
        std::fs::remove_file(dir.join("volume.json")).map_err(io(&dir))?;
        std::fs::remove_dir_all(&dir).map_err(io(&dir))
    }

    /// Docker's copy-up: the first time a volume is mounted, the image's files at the mount
    /// path are copied in as the container would see them (layers bottom first, merged as
    /// overlayfs merges them), owners and modes kept — the volume's top directory included, so
    /// a non-root service can write into a fresh volume mounted over a directory it owns, as
    /// it could on Docker (moby's copyExistingContents + copyOwnership).
    pub fn initialize_from(
        &self,
        name: &str,
        layers: &[PathBuf],
        target: &str,
    ) -> Result<(), VolumeError> {
        let mut rec = self.get(name)?;
        if rec.initialized {
            return Ok(());
        }
        let data = self.data_path(name)?;
        let empty = std::fs::read_dir(&data)
            .map(|mut d| d.next().is_none())
            .unwrap_or(true);
        // A volume that already holds data (made and filled by hand) is the user's: neither
        // its content nor its top directory changes, as Docker does.
        if empty {
            copyup::copy_image_dir(layers, target, &data)?;
        }
        rec.initialized = true;
        write_json(&self.dir(name)?.join("volume.json"), &rec).map_err(io(&data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_copy_up_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = VolumeStore::open(dir.path()).unwrap();
        let layer = dir.path().join("layer");
        std::fs::create_dir_all(layer.join("srv/data/sub")).unwrap();
        std::fs::write(layer.join("srv/data/sub/f"), "seed").unwrap();
        store.ensure("p_data", &BTreeMap::new()).unwrap();
        store
            .initialize_from("p_data", std::slice::from_ref(&layer), "/srv/data")
            .unwrap();
        let data = store.data_path("p_data").unwrap();
        assert_eq!(std::fs::read_to_string(data.join("sub/f")).unwrap(), "seed");
        // A second mount never copies again (the user's changes stay).
        std::fs::remove_file(data.join("sub/f")).unwrap();
        store
            .initialize_from("p_data", &[layer], "/srv/data")
            .unwrap();
        assert!(!data.join("sub/f").exists());
        assert_eq!(store.list().len(), 1);
        store.remove("p_data").unwrap();
        assert!(store.get("p_data").is_err());
        assert!(store.ensure("../x", &BTreeMap::new()).is_err());
    }
}
