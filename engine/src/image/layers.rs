//! Unpacked layers: `layers/<diff-id hex>/diff` is the overlayfs lower dir, `layer.json` next
//! to it records the unpacked size. A layer is unpacked into `layers/.tmp-<id>` and renamed
//! into place when complete and synced, so a directory named by a diff id is always whole.

use std::fs;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
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
        self.publish(&tmp, &final_dir, diff_id)?;
        tracing::info!(diff_id, "unpacked layer");
        Ok(())
    }

    /// Moves `dir`, the layer `diff_id`'s files as overlayfs keeps them (a build step's upper
    /// dir on this store's filesystem, whose tar hashed to `diff_id`), into the store instead
    /// of unpacking that tar again: containerd's overlay snapshotter keeps a committed upper
    /// dir the same way. Creating the files anew (and deleting the upper) costs as much as
    /// the step itself for a COPY of many small files. The overlay metadata of the step's
    /// mount (`trusted.overlay.*` but `opaque`) goes, as the tar leaves it out, so the
    /// layer holds exactly what its tar holds. On an error `dir` may be gone or stay; the
    /// caller unpacks the tar instead.
    pub(crate) fn adopt(&self, diff_id: &str, dir: &Path) -> Result<(), ImageError> {
        let final_dir = self.layer_dir(diff_id)?;
        if self.exists(diff_id) {
            return Ok(());
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ImageError::Io { path, source }
        };
        let size = strip_overlay_metadata(dir).map_err(io(dir))?;
        let tmp = self.dir.join(format!("{TMP_PREFIX}{}", fsutil::new_id()));
        let filled = fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmp)
            .map_err(io(&tmp))
            .and_then(|()| {
                let content = tmp.join(CONTENT_DIR);
                fs::rename(dir, &content).map_err(io(&content))?;
                fs::set_permissions(&content, fs::Permissions::from_mode(0o755))
                    .map_err(io(&content))
            })
            .and_then(|()| self.finish(&tmp, diff_id, size));
        if let Err(e) = filled {
            remove_tree(&tmp);
            return Err(e);
        }
        self.publish(&tmp, &final_dir, diff_id)?;
        tracing::info!(diff_id, "adopted layer");
        Ok(())
    }

    /// Renames the complete `tmp` into place as the layer `diff_id`.
    fn publish(&self, tmp: &Path, final_dir: &Path, diff_id: &str) -> Result<(), ImageError> {
        match fs::rename(tmp, final_dir) {
            Ok(()) => {}
            // An earlier, incomplete-looking directory (no record) would block the rename:
            // move it to the trash and retry once.
            Err(e) if final_dir.exists() => {
                tracing::warn!(diff_id, error = %e, "replacing incomplete layer directory");
                self.remove(diff_id);
                if let Err(source) = fs::rename(tmp, final_dir) {
                    remove_tree(tmp);
                    return Err(ImageError::Io {
                        path: final_dir.to_path_buf(),
                        source,
                    });
                }
            }
            Err(source) => {
                remove_tree(tmp);
                return Err(ImageError::Io {
                    path: final_dir.to_path_buf(),
                    source,
                });
            }
        }
        sync_dir(&self.dir);
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
        self.finish(tmp, diff_id, stats.size)
    }

    /// Makes the filled `tmp` durable and records the layer in it.
    fn finish(&self, tmp: &Path, diff_id: &str, size: u64) -> Result<(), ImageError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ImageError::Io { path, source }
        };
        // The rename into place must not become durable before the files it publishes: sync
        // the filesystem the layer lives on (one syncfs per layer, not one fsync per file).
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
            size,
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

/// Removes the `trusted.overlay.*` attributes but `opaque` from the tree `dir` (never
/// following symlinks); returns the bytes of file content it holds.
fn strip_overlay_metadata(dir: &Path) -> io::Result<u64> {
    let mut size = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        super::diff::drop_overlay_metadata(&d)?;
        for e in fs::read_dir(&d)? {
            let e = e?;
            let md = e.metadata()?;
            if md.is_dir() {
                todo.push(e.path());
            } else if !md.file_type().is_symlink() {
                super::diff::drop_overlay_metadata(&e.path())?;
                if md.is_file() {
                    size += md.len();
                }
            }
        }
    }
    Ok(size)
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
