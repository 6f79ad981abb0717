//! Named volumes: a directory per volume under ROOT/volumes/NAME/_data, with its labels in
//! ROOT/volumes/NAME/volume.json. A new volume is filled from the image's content at the mount
//! path the first time a container mounts it (Docker's copy-up), unless told not to.

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
    /// path (`src`, a directory in an unpacked layer view) are copied in, owners and modes kept.
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
        if empty {
            // Top layer first: the first layer that has the path wins for each file.
            let rel = target.trim_start_matches('/');
            for layer in layers.iter().rev() {
                let src = crate::runtime::rootfs::resolve_in_root(layer, rel).map_err(|e| {
                    VolumeError::Io {
                        path: layer.clone(),
                        source: std::io::Error::other(e),
                    }
                })?;
                if src.is_dir() {
                    copy_tree(&src, &data).map_err(io(&src))?;
                }
            }
        }
        rec.initialized = true;
        write_json(&self.dir(name)?.join("volume.json"), &rec).map_err(io(&data))
    }
}

/// Copies `src` into `dst` without following symlinks and without replacing files already
/// there (a higher layer copied them first).
fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(".wh.") {
            continue;
        }
        let from = entry.path();
        let to = dst.join(&name);
        let md = std::fs::symlink_metadata(&from)?;
        if std::fs::symlink_metadata(&to).is_ok() && !md.is_dir() {
            continue;
        }
        if md.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
        } else if md.is_dir() {
            std::fs::create_dir_all(&to)?;
            copy_tree(&from, &to)?;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(md.mode() & 0o7777))?;
        } else if md.is_file() {
            std::fs::copy(&from, &to)?;
        } else {
            continue;
        }
        let _ = std::os::unix::fs::lchown(&to, Some(md.uid()), Some(md.gid()));
    }
    Ok(())
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
