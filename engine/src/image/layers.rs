//! Unpacked layers: `layers/<diff-id hex>/diff` is the overlayfs lower dir, `layer.json` next
//! to it records the unpacked size. A layer is unpacked into `layers/.tmp-<id>` and renamed
//! into place when complete and synced, so a directory named by a diff id is always whole.

use std::fs;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::blobs::{decompress, sync_dir, HashingReader};
use super::extract::extract_layer;
use super::reference::is_sha256_digest;
use super::ImageError;
use crate::fsutil;

pub(crate) const TMP_PREFIX: &str = ".tmp-";
pub(crate) const TRASH_PREFIX: &str = ".trash-";
const CONTENT_DIR: &str = "diff";
const RECORD_FILE: &str = "layer.json";

#[derive(Debug, Serialize, Deserialize)]
struct LayerRecord {
    diff_id: String,
    size: u64,
}

#[derive(Clone)]
pub(crate) struct LayerStore {
    dir: PathBuf,
}

impl LayerStore {
    pub(crate) fn new(dir: PathBuf) -> LayerStore {
        LayerStore { dir }
    }

    fn layer_dir(&self, diff_id: &str) -> Result<PathBuf, ImageError> {
        if !is_sha256_digest(diff_id) {
            return Err(ImageError::InvalidDigest {
                digest: diff_id.to_string(),
            });
        }
        Ok(self.dir.join(&diff_id["sha256:".len()..]))
    }

    /// The directory the runtime mounts as a lower dir.
    pub(crate) fn content_path(&self, diff_id: &str) -> Result<PathBuf, ImageError> {
        Ok(self.layer_dir(diff_id)?.join(CONTENT_DIR))
    }

    pub(crate) fn exists(&self, diff_id: &str) -> bool {
        self.layer_dir(diff_id)
            .is_ok_and(|d| d.join(RECORD_FILE).is_file())
    }

    /// Bytes of file content in the unpacked layer (0 if unknown).
    pub(crate) fn size(&self, diff_id: &str) -> u64 {
        self.layer_dir(diff_id)
            .ok()
            .and_then(|d| fsutil::read_json::<LayerRecord>(&d.join(RECORD_FILE)).ok())
            .map_or(0, |r| r.size)
    }

    /// Unpacks the (possibly compressed) layer tar `blob` unless a layer with `diff_id` is
    /// already there. The uncompressed stream must hash to `diff_id`.
    pub(crate) fn unpack(&self, diff_id: &str, blob: impl Read) -> Result<(), ImageError> {
        let final_dir = self.layer_dir(diff_id)?;
        if self.exists(diff_id) {
            tracing::debug!(diff_id, "layer already unpacked");
            return Ok(());
        }
        let tmp = self.dir.join(format!("{TMP_PREFIX}{}", fsutil::new_id()));
        let result = self.unpack_into(&tmp, diff_id, blob);
        if let Err(e) = result {
            remove_tree(&tmp);
            return Err(e);
        }
        match fs::rename(&tmp, &final_dir) {
            Ok(()) => {}
            // An earlier, incomplete-looking directory (no record) would block the rename:
            // move it to the trash and retry once.
            Err(e) if final_dir.exists() => {
                tracing::warn!(diff_id, error = %e, "replacing incomplete layer directory");
                self.remove(diff_id);
                if let Err(source) = fs::rename(&tmp, &final_dir) {
                    remove_tree(&tmp);
                    return Err(ImageError::Io {
                        path: final_dir,
                        source,
                    });
                }
            }
            Err(source) => {
                remove_tree(&tmp);
                return Err(ImageError::Io {
                    path: final_dir,
                    source,
                });
            }
        }
        sync_dir(&self.dir);
        tracing::info!(diff_id, "unpacked layer");
        Ok(())
    }

    fn unpack_into(&self, tmp: &Path, diff_id: &str, blob: impl Read) -> Result<(), ImageError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ImageError::Io { path, source }
        };
        fs::DirBuilder::new()
            .mode(0o700)
            .create(tmp)
            .map_err(io(tmp))?;
        let content = tmp.join(CONTENT_DIR);
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&content)
            .map_err(io(&content))?;
        let decompressed = decompress(blob).map_err(|source| ImageError::Layer {
            diff_id: diff_id.to_string(),
            source: super::extract::ExtractError::Read(source),
        })?;
        let mut hashing = HashingReader::new(decompressed);
        let stats = extract_layer(&mut hashing, &content).map_err(|source| ImageError::Layer {
            diff_id: diff_id.to_string(),
            source,
        })?;
        let actual = hashing.digest();
        if actual != diff_id {
            return Err(ImageError::DigestMismatch {
                expected: diff_id.to_string(),
                actual,
            });
        }
        // The rename below must not become durable before the files it publishes: sync the
        // filesystem the layer lives on (one syncfs per layer, not one fsync per file).
        let dir = fs::File::open(tmp).map_err(io(tmp))?;
        // SAFETY: syncfs only reads the fd, which `dir` keeps open for the call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(ImageError::Io {
                path: tmp.to_path_buf(),
                source: io::Error::last_os_error(),
            });
        }
        let record = LayerRecord {
            diff_id: diff_id.to_string(),
            size: stats.size,
        };
        let record_path = tmp.join(RECORD_FILE);
        fsutil::write_json(&record_path, &record).map_err(io(&record_path))?;
        Ok(())
    }

    /// Removes a layer: renamed to the trash first, so a crash midway never leaves a
    /// half-deleted directory under its diff id.
    pub(crate) fn remove(&self, diff_id: &str) {
        let Ok(dir) = self.layer_dir(diff_id) else {
            return;
        };
        let trash = self.dir.join(format!("{TRASH_PREFIX}{}", fsutil::new_id()));
        match fs::rename(&dir, &trash) {
            Ok(()) => {
                sync_dir(&self.dir);
                remove_tree(&trash);
                tracing::info!(diff_id, "removed layer");
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(diff_id, error = %e, "cannot remove layer"),
        }
    }

    /// Diff ids of every complete layer, and removes leftovers of interrupted unpacks and
    /// removals.
    pub(crate) fn scan_and_clean(&self) -> Vec<String> {
        let mut ids = Vec::new();
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return ids;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TMP_PREFIX) || name.starts_with(TRASH_PREFIX) {
                tracing::info!(path = %entry.path().display(), "removing leftover layer directory");
                remove_tree(&entry.path());
                continue;
            }
            let diff_id = format!("sha256:{name}");
            if is_sha256_digest(&diff_id) {
                if self.exists(&diff_id) {
                    ids.push(diff_id);
                } else {
                    self.remove(&diff_id);
                }
            }
        }
        ids
    }
}

/// Removes a tree we own. std's remove_dir_all does not follow symlinks (CVE-2022-21658 was
/// fixed in Rust 1.58.1), so a layer's symlink to / cannot redirect it.
fn remove_tree(path: &Path) {
    if let Err(e) = fs::remove_dir_all(path) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove directory");
        }
    }
}
