//! Copy-up: an image directory, as the container sees it, copied into a fresh volume.
//!
//! The container's view is an overlay of the image layers, so the copy merges them the way
//! overlayfs(5) does: the highest layer that has an entry wins, a whiteout (a 0/0 character
//! device, see image::extract) hides the entry in every lower layer, an opaque directory
//! (`trusted.overlay.opaque=y`) hides the lower layers' content below it, and a non-directory
//! hides a lower directory of the same name. The volume is written on the host, so nothing a
//! layer holds may redirect a write: an entry already in the volume is only descended into
//! when it is a real directory, never through a symlink.

use super::VolumeError;
use std::collections::HashSet;
use std::ffi::CString;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

const OVERLAY_OPAQUE_XATTR: &[u8] = b"trusted.overlay.opaque\0";

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> VolumeError + '_ {
    move |source| VolumeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Copies the merged content of `target` in `layers` (bottom first) into the empty directory
/// `data`, and gives `data` the owner and mode of the image's directory (moby's
/// copyOwnership; also when that directory is empty). When the image has no directory at
/// `target`, `data` stays as it was made (root, 0755), as on Docker.
pub(super) fn copy_image_dir(
    layers: &[PathBuf],
    target: &str,
    data: &Path,
) -> Result<(), VolumeError> {
    let rel = target.trim_start_matches('/');
    // Paths below `target` (relative to it) that a higher layer hid from the lower ones.
    let mut hidden = HashSet::new();
    let mut top_done = false;
    for layer in layers.iter().rev() {
        let src =
            crate::runtime::rootfs::resolve_in_root(layer, rel).map_err(|e| VolumeError::Io {
                path: layer.clone(),
                source: io::Error::other(e),
            })?;
        let md = match fs::symlink_metadata(&src) {
            Ok(md) => md,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_at(&src)(e)),
        };
        // A whiteout or a file in this layer hides the directory of every lower one.
        if !md.is_dir() {
            break;
        }
        if !top_done {
            set_owner_and_mode(data, &md).map_err(io_at(data))?;
            top_done = true;
        }
        copy_tree(&src, data, Path::new(""), &mut hidden)?;
        if is_opaque(&src) {
            break;
        }
    }
    Ok(())
}

/// Copies what of `src` is not hidden and not already in `dst` (a higher layer put it there).
fn copy_tree(
    src: &Path,
    dst: &Path,
    rel: &Path,
    hidden: &mut HashSet<PathBuf>,
) -> Result<(), VolumeError> {
    for entry in fs::read_dir(src).map_err(io_at(src))? {
        let entry = entry.map_err(io_at(src))?;
        let name = entry.file_name();
        let entry_rel = rel.join(&name);
        if hidden.contains(&entry_rel) {
            continue;
        }
        let from = entry.path();
        let to = dst.join(&name);
        let md = fs::symlink_metadata(&from).map_err(io_at(&from))?;
        if is_whiteout(&md) {
            hidden.insert(entry_rel);
            continue;
        }
        match fs::symlink_metadata(&to) {
            // A higher layer's directory merges with this one's; anything else of a higher
            // layer (a file, a symlink — possibly pointing out of the volume) wins whole.
            Ok(have) => {
                if have.is_dir() && md.is_dir() {
                    copy_tree(&from, &to, &entry_rel, hidden)?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !copy_entry(&from, &to, &md)? {
                    continue;
                }
                if md.is_dir() {
                    copy_tree(&from, &to, &entry_rel, hidden)?;
                    // After its content: a directory without write permission for its owner
                    // is still filled (root ignores modes, but not every copy runs as root).
                    set_owner_and_mode(&to, &md).map_err(io_at(&to))?;
                }
            }
            Err(e) => return Err(io_at(&to)(e)),
        }
        if md.is_dir() && is_opaque(&from) {
            hidden.insert(rel.join(&name));
        }
    }
    Ok(())
}

/// Creates `to` as a copy of the entry `from`; false for kinds a volume does not take
/// (devices, sockets, fifos: Docker's copy skips devices and sockets too in practice, and a
/// volume is mounted nodev).
fn copy_entry(from: &Path, to: &Path, md: &Metadata) -> Result<bool, VolumeError> {
    let ft = md.file_type();
    if ft.is_symlink() {
        let link = fs::read_link(from).map_err(io_at(from))?;
        std::os::unix::fs::symlink(link, to).map_err(io_at(to))?;
        // lchown: the link itself, never what it points at.
        let _ = std::os::unix::fs::lchown(to, Some(md.uid()), Some(md.gid()));
    } else if ft.is_dir() {
        fs::create_dir(to).map_err(io_at(to))?;
    } else if ft.is_file() {
        fs::copy(from, to).map_err(io_at(from))?;
        set_owner_and_mode(to, md).map_err(io_at(to))?;
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// Owner first, then mode: chown(2) clears the set-user-ID and set-group-ID bits of a file.
fn set_owner_and_mode(path: &Path, md: &Metadata) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(md.uid()), Some(md.gid()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(md.mode() & 0o7777))
}

/// An overlayfs whiteout: a character device 0/0.
fn is_whiteout(md: &Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

/// Whether the layer directory `dir` is opaque (hides the lower layers' content).
fn is_opaque(dir: &Path) -> bool {
    let Ok(path) = CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    let mut value = [0u8; 4];
    // SAFETY: both names are NUL-terminated and live for the call; value is a writable buffer
    // of the length passed, which lgetxattr never writes past.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            OVERLAY_OPAQUE_XATTR.as_ptr().cast(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    n == 1 && value[0] == b'y'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(root: &Path, name: &str) -> PathBuf {
        let l = root.join(name);
        fs::create_dir_all(&l).unwrap();
        l
    }

    #[test]
    fn top_directory_takes_the_image_directorys_owner_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let base = layer(dir.path(), "base");
        // An empty image directory still gives its owner and mode.
        fs::create_dir_all(base.join("var/lib/pg")).unwrap();
        std::os::unix::fs::chown(base.join("var/lib/pg"), Some(999), Some(998)).unwrap();
        fs::set_permissions(base.join("var/lib/pg"), fs::Permissions::from_mode(0o700)).unwrap();
        let data = dir.path().join("data");
        fs::create_dir(&data).unwrap();
        copy_image_dir(std::slice::from_ref(&base), "/var/lib/pg", &data).unwrap();
        let md = fs::metadata(&data).unwrap();
        assert_eq!((md.uid(), md.gid(), md.mode() & 0o7777), (999, 998, 0o700));

        // No directory in the image: the volume stays as made.
        let other = dir.path().join("other");
        fs::create_dir(&other).unwrap();
        fs::set_permissions(&other, fs::Permissions::from_mode(0o755)).unwrap();
        copy_image_dir(&[base], "/nowhere", &other).unwrap();
        let md = fs::metadata(&other).unwrap();
        assert_eq!((md.uid(), md.mode() & 0o7777), (0, 0o755));
    }

    #[test]
    fn layers_merge_as_overlayfs_shows_them() {
        let dir = tempfile::tempdir().unwrap();
        let low = layer(dir.path(), "low");
        let high = layer(dir.path(), "high");
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        // low: the directory (0755) with content of every kind.
        fs::create_dir_all(low.join("srv/sub")).unwrap();
        fs::create_dir_all(low.join("srv/gone-dir/x")).unwrap();
        fs::create_dir_all(low.join("srv/opaque/old")).unwrap();
        fs::create_dir_all(low.join("srv/escape")).unwrap();
        fs::write(low.join("srv/sub/f"), "low").unwrap();
        fs::write(low.join("srv/sub/only-low"), "low").unwrap();
        fs::write(low.join("srv/gone"), "low").unwrap();
        fs::write(low.join("srv/escape/planted"), "low").unwrap();
        fs::set_permissions(low.join("srv/sub"), fs::Permissions::from_mode(0o700)).unwrap();
        // high: a newer file, whiteouts, an opaque directory, a symlink over a lower
        // directory pointing out of the volume, a setuid file; the directory is 1777.
        fs::create_dir_all(high.join("srv/sub")).unwrap();
        fs::create_dir_all(high.join("srv/opaque")).unwrap();
        fs::write(high.join("srv/sub/f"), "high").unwrap();
        fs::write(high.join("srv/suid"), "x").unwrap();
        std::os::unix::fs::chown(high.join("srv/suid"), Some(5), Some(5)).unwrap();
        fs::set_permissions(high.join("srv/suid"), fs::Permissions::from_mode(0o4755)).unwrap();
        fs::set_permissions(high.join("srv/sub"), fs::Permissions::from_mode(0o750)).unwrap();
        fs::set_permissions(high.join("srv"), fs::Permissions::from_mode(0o1777)).unwrap();
        std::os::unix::fs::symlink(&outside, high.join("srv/escape")).unwrap();
        for w in ["srv/gone", "srv/gone-dir"] {
            nix::sys::stat::mknod(
                &high.join(w),
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::empty(),
                0,
            )
            .unwrap();
        }
        // Overlay's opaque marker lives in the trusted namespace (root only, as the tests).
        let opaque = CString::new(high.join("srv/opaque").as_os_str().as_bytes()).unwrap();
        // SAFETY: NUL-terminated names and a 1-byte value valid for the call.
        let rc = unsafe {
            libc::lsetxattr(
                opaque.as_ptr(),
                OVERLAY_OPAQUE_XATTR.as_ptr().cast(),
                b"y".as_ptr().cast(),
                1,
                0,
            )
        };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());

        let data = dir.path().join("data");
        fs::create_dir(&data).unwrap();
        copy_image_dir(&[low, high], "srv", &data).unwrap();

        let mode = |p: &str| fs::symlink_metadata(data.join(p)).unwrap().mode() & 0o7777;
        assert_eq!(mode(""), 0o1777, "the highest layer's top directory");
        assert_eq!(fs::read_to_string(data.join("sub/f")).unwrap(), "high");
        assert_eq!(
            fs::read_to_string(data.join("sub/only-low")).unwrap(),
            "low"
        );
        assert_eq!(
            mode("sub"),
            0o750,
            "a lower layer never resets a higher one's mode"
        );
        assert!(!data.join("gone").exists() && !data.join("gone-dir").exists());
        assert!(data.join("opaque").is_dir() && !data.join("opaque/old").exists());
        assert!(fs::symlink_metadata(data.join("escape"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(
            !outside.join("planted").exists(),
            "nothing written through a symlink"
        );
        let suid = fs::metadata(data.join("suid")).unwrap();
        assert_eq!((suid.uid(), suid.mode() & 0o7777), (5, 0o4755));
    }
}
