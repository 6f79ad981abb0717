//! `cp` and `export`: a helper process that looks at a container's filesystem from inside —
//! the container's own mount namespace when it runs, a private overlay mount (gone with the
//! helper) when it does not. Paths and symlinks therefore resolve within the container and
//! nothing it holds can point the copy at the host; nothing is ever mounted on the host.

use super::procinfo;
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct FsRequest {
    pub running: bool,
    pub pid: i32,
    pub pid_start_time: u64,
    /// Image layers bottom first, and the container's upper/work dirs and empty mountpoint.
    pub layers: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub mountpoint: PathBuf,
    pub op: FsOp,
    /// The upper dir is scratch, read once and deleted (a build step's), not a container's:
    /// it is mounted `volatile`, never synced.
    #[serde(default)]
    pub scratch: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub enum FsOp {
    /// The whole filesystem (mounts excluded) as a tar on stdout.
    #[default]
    Export,
    /// PATH as a tar on stdout, its entries named from PATH's last component.
    Out(String),
    /// A tar on stdin extracted into the directory DIR.
    In(String),
    /// Succeeds when PATH is a directory.
    IsDir(String),
    /// PATH's name, size, mode, mtime and link target as JSON on stdout (Docker's
    /// `X-Docker-Container-Path-Stat`, for `docker cp`); the last component is not followed.
    Stat(String),
    /// A build's COPY/ADD/WORKDIR: DIR made with its missing parents, then a tar on stdin
    /// extracted into it, `chown` (USER[:GROUP], names resolved in the image) and `chmod`
    /// applied to every entry it holds.
    Add {
        dir: String,
        chown: Option<String>,
        chmod: Option<u32>,
    },
}

/// Runs the request; returns the process exit code.
pub fn run(req: &FsRequest) -> i32 {
    let _ = nix::sys::prctl::set_dumpable(false);
    match enter(req).and_then(|()| perform(&req.op)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("berth: {e}");
            1
        }
    }
}

fn enter(req: &FsRequest) -> Result<(), String> {
    if req.running {
        let pidfd = procinfo::pidfd_for(req.pid, req.pid_start_time)
            .map_err(|_| "the container stopped meanwhile".to_string())?;
        // Entering the mount namespace also moves our root to the container's root.
        return setns(&pidfd, CloneFlags::CLONE_NEWNS)
            .map_err(|e| format!("entering the container's mount namespace: {e}"));
    }
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("unsharing the mount namespace: {e}"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("making mounts private: {e}"))?;
    let mount = match req.scratch {
        true => super::rootfs::mount_overlay_scratch,
        false => super::rootfs::mount_overlay_at,
    };
    mount(
        &req.layers,
        &req.upper,
        &req.work,
        &req.mountpoint,
        MsFlags::MS_NODEV,
    )?;
    nix::unistd::chroot(&req.mountpoint).map_err(|e| format!("chroot: {e}"))?;
    nix::unistd::chdir("/").map_err(|e| format!("chdir: {e}"))
}

fn perform(op: &FsOp) -> Result<(), String> {
    match op {
        FsOp::Export => {
            let mut b = tar::Builder::new(io::BufWriter::new(io::stdout().lock()));
            b.follow_symlinks(false);
            let root_dev = std::fs::symlink_metadata("/")
                .map_err(|e| e.to_string())?
                .dev();
            walk(&mut b, Path::new("/"), root_dev)?;
            b.into_inner()
                .and_then(|mut w| w.flush())
                .map_err(|e| format!("writing the archive: {e}"))
        }
        FsOp::Out(path) => {
            let p = Path::new(path);
            let md = std::fs::symlink_metadata(p).map_err(|e| {
                format!("could not find the file {path} in container: {}", text(&e))
            })?;
            let name = p
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."));
            let mut b = tar::Builder::new(io::BufWriter::new(io::stdout().lock()));
            b.follow_symlinks(false);
            if md.is_dir() {
                b.append_dir_all(&name, p)
                    .map_err(|e| format!("archiving {path}: {}", text(&e)))?;
            } else {
                b.append_path_with_name(p, &name)
                    .map_err(|e| format!("archiving {path}: {}", text(&e)))?;
            }
            b.into_inner()
                .and_then(|mut w| w.flush())
                .map_err(|e| format!("writing the archive: {e}"))
        }
        FsOp::IsDir(path) => match std::fs::metadata(path) {
            Ok(md) if md.is_dir() => Ok(()),
            _ => Err(format!("{path} is not a directory")),
        },
        FsOp::Add { dir, chown, chmod } => add(dir, chown.as_deref(), *chmod),
        FsOp::Stat(path) => {
            let p = Path::new(path);
            let md = std::fs::symlink_metadata(p).map_err(|e| {
                format!("could not find the file {path} in container: {}", text(&e))
            })?;
            let link = std::fs::read_link(p)
                .map(|l| l.display().to_string())
                .unwrap_or_default();
            let stat = serde_json::json!({
                "name": p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "/".into()),
                "size": md.size(),
                "mode": md.mode(),
                "mtime": md.mtime(),
                "mtime_nsec": md.mtime_nsec(),
                "linkTarget": link,
            });
            let mut out = io::stdout().lock();
            writeln!(out, "{stat}").map_err(|e| e.to_string())
        }
        FsOp::In(dir) => {
            let md = std::fs::metadata(dir).map_err(|e| {
                format!(
                    "could not find the directory {dir} in container: {}",
                    text(&e)
                )
            })?;
            if !md.is_dir() {
                return Err(format!("{dir} is not a directory in the container"));
            }
            // The safe extractor refuses to write through symlinks or outside `dir`.
            crate::image::extract_layer(io::stdin().lock(), Path::new(dir))
                .map(drop)
                .map_err(|e| format!("extracting into {dir}: {e}"))
        }
    }
}

/// Runs inside the image's root (chrooted), so the destination's symlinks resolve within it.
fn add(dir: &str, chown: Option<&str>, chmod: Option<u32>) -> Result<(), String> {
    let owner = chown
        .map(|spec| super::user::resolve(spec).map_err(|e| format!("--chown={spec}: {e}")))
        .transpose()?;
    let dir = Path::new(dir);
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("creating {}: {}", dir.display(), text(&e)))?;
    let mut archive = tar::Archive::new(io::stdin().lock());
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    archive.set_unpack_xattrs(true);
    for entry in archive
        .entries()
        .map_err(|e| format!("reading the files: {e}"))?
    {
        let mut entry = entry.map_err(|e| format!("reading the files: {e}"))?;
        let rel = entry.path().map_err(|e| e.to_string())?.into_owned();
        if rel.components().any(|c| {
            !matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        }) {
            return Err(format!("refusing the path {}", rel.display()));
        }
        let target = dir.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("creating {}: {}", parent.display(), text(&e)))?;
        }
        // A file replaces what is there (a symlink is not followed); a directory merges.
        if !entry.header().entry_type().is_dir()
            && target.symlink_metadata().is_ok_and(|m| !m.is_dir())
        {
            let _ = std::fs::remove_file(&target);
        }
        entry
            .unpack(&target)
            .map_err(|e| format!("copying {}: {}", rel.display(), text(&e)))?;
        if let Some(u) = &owner {
            std::os::unix::fs::lchown(&target, Some(u.uid), Some(u.gid))
                .map_err(|e| format!("chown {}: {e}", rel.display()))?;
        }
        if let Some(mode) = chmod {
            if !entry.header().entry_type().is_symlink() {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| format!("chmod {}: {}", rel.display(), text(&e)))?;
            }
        }
    }
    Ok(())
}

/// Adds `dir`'s tree, not descending into other filesystems (proc, sys, dev, volumes, the
/// engine's /etc files): `export` is the container's own filesystem, as Docker's.
fn walk(b: &mut tar::Builder<impl Write>, dir: &Path, root_dev: u64) -> Result<(), String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("reading {}: {}", dir.display(), text(&e)))?
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let Ok(md) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if md.dev() != root_dev || md.file_type().is_socket() {
            if md.is_dir() {
                // Keep the mountpoint itself, as Docker's export does for /proc and /sys.
                let _ = append_empty_dir(b, &path, &md);
            }
            continue;
        }
        let name = path.strip_prefix("/").unwrap_or(&path).to_path_buf();
        b.append_path_with_name(&path, &name)
            .map_err(|err| format!("archiving {}: {}", path.display(), text(&err)))?;
        if md.is_dir() {
            walk(b, &path, root_dev)?;
        }
    }
    Ok(())
}

fn append_empty_dir(
    b: &mut tar::Builder<impl Write>,
    path: &Path,
    md: &std::fs::Metadata,
) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(md.mode() & 0o7777);
    h.set_size(0);
    h.set_mtime(md.mtime().max(0) as u64);
    b.append_data(&mut h, path.strip_prefix("/").unwrap_or(path), io::empty())
}

use crate::fsutil::io_error_text as text;
use std::os::unix::fs::FileTypeExt;
