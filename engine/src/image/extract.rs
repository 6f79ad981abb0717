//! Safe extraction of one layer tar into its own directory.
//!
//! A layer comes from an untrusted image, so every entry is placed relative to a directory fd
//! of the layer root and each parent component is opened with `O_NOFOLLOW`: nothing in the
//! layer (an absolute path, `..`, a symlink planted by an earlier entry, a hardlink to a host
//! file) can make us write outside it. Docker had exactly these bugs in layer extraction
//! (CVE-2014-6407: symlink and hardlink entries in a pulled or loaded image wrote host files;
//! CVE-2014-9356: absolute symlink targets followed at extraction), and containerd chmod'ed a
//! host file through a layer symlink (CVE-2021-32760). Checking a path and then writing by
//! path races with the tree changing (CVE-2018-15664), so after the walk every write goes
//! through the fd of the entry's parent directory.
//!
//! Policy, entry by entry:
//! - absolute paths are contained (leading `/` stripped, as Docker does); `..` that would climb
//!   above the layer root refuses the whole layer;
//! - a parent component that is a symlink (or a non-directory) refuses the layer: we never
//!   write through a symlink, even one pointing inside the layer;
//! - hardlinks must name an existing regular file inside the layer (never a symlink);
//! - character and block devices are skipped (a container has no business shipping them;
//!   `/dev` is a tmpfs the runtime fills), fifos are kept;
//! - mode (setuid/setgid/sticky included), owner, mtime and `user.*` / `security.capability`
//!   xattrs are applied best-effort, through the fd of the entry just created;
//! - OCI whiteouts become overlayfs whiteouts: `.wh.NAME` is a 0/0 character device, the only
//!   device we create, and `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its directory.
//!
//! Why one long file: every entry kind goes through the same fd-relative, no-follow discipline
//! described above; keeping it in one room keeps that discipline auditable. About half of the
//! file is its tests (hostile tars), at the end.
//!
//! Why one long file: every entry kind is placed by the same fd-relative walk, and the tests
//! (half the file, at its end) are the attacks it must refuse.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{
    fchmod, fstatat, futimens, mkdirat, mknodat, utimensat, FileStat, Mode, SFlag, UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use tar::EntryType;

const WHITEOUT_PREFIX: &str = ".wh.";
const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
/// aufs' own bookkeeping entries (`.wh..wh.plnk`, `.wh..wh.aufs`): meaningless for overlayfs.
const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";

/// Why a layer could not be extracted.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("reading layer tar: {}", crate::fsutil::io_error_text(.0))]
    Read(#[source] io::Error),
    #[error("entry {path:?} escapes the layer directory")]
    Escapes { path: String },
    #[error("entry {path:?} would be written through symlink {via:?}")]
    ThroughSymlink { path: String, via: String },
    #[error("entry {path:?}: parent {parent:?} is not a directory")]
    ParentNotDirectory { path: String, parent: String },
    #[error("hardlink {path:?} to {target:?} refused: {reason}")]
    Hardlink {
        path: String,
        target: String,
        reason: &'static str,
    },
    #[error("entry {path:?}: {}", crate::fsutil::io_error_text(source))]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// What extraction found, for the image size Docker reports.
#[derive(Debug, Default, Clone, Copy)]
pub struct ExtractStats {
    /// Bytes of regular file content written.
    pub size: u64,
    /// Entries skipped by policy (devices, unknown types).
    pub skipped: u64,
}

/// Extracts the (uncompressed) layer tar `tar` into the existing, empty directory `dest`,
/// then reads `tar` to its end so a digest computed over the stream covers all of it.
pub fn extract_layer<R: Read>(tar: R, dest: &Path) -> Result<ExtractStats, ExtractError> {
    let root = open_owned(None, dest, OFlag::O_PATH | OFlag::O_DIRECTORY)
        .map_err(|e| io_err(&dest.display().to_string(), e.into()))?;
    let mut ex = Extractor {
        root,
        dir_times: Vec::new(),
        stats: ExtractStats::default(),
    };
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(ExtractError::Read)? {
        let mut entry = entry.map_err(ExtractError::Read)?;
        ex.entry(&mut entry)?;
    }
    ex.restore_dir_times();
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(ExtractError::Read)?;
    Ok(ex.stats)
}

/// A cleaned, root-relative path: never empty components, `.` or `..`.
type RelPath = Vec<OsString>;

struct Extractor {
    root: OwnedFd,
    /// Directories whose mtime is restored at the end: creating children changes it.
    dir_times: Vec<(RelPath, i64)>,
    stats: ExtractStats,
}

/// The metadata of a tar entry we apply to what we create.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(CString, Vec<u8>)>,
}

impl Extractor {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<(), ExtractError> {
        let raw = entry.path().map_err(ExtractError::Read)?.into_owned();
        let shown = raw.display().to_string();
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let rel = clean(&raw).ok_or_else(|| ExtractError::Escapes {
            path: shown.clone(),
        })?;
        let Some((name, parents)) = rel.split_last() else {
            // The layer root itself (`./`): its attributes come from the container's upper dir.
            return Ok(());
        };
        let name_str = name.to_string_lossy();
        if name_str.starts_with(WHITEOUT_PREFIX) {
            return self.whiteout(parents, &name_str, &shown);
        }
        let meta = read_meta(entry)?;
        match kind {
            EntryType::Directory => {
                let parent = self.open_parent(parents, &shown)?;
                self.directory(&parent, name, &meta, &shown)?;
                self.dir_times.push((rel.clone(), meta.mtime));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let parent = self.open_parent(parents, &shown)?;
                replace_existing(&parent, name, false).map_err(|e| io_err(&shown, e))?;
                let fd = open_owned(
                    Some(parent.as_raw_fd()),
                    name.as_os_str(),
                    OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW,
                )
                .map_err(|e| io_err(&shown, e.into()))?;
                let mut file = File::from(fd);
                let n = io::copy(entry, &mut file).map_err(ExtractError::Read)?;
                self.stats.size += n;
                apply_meta_fd(file.as_raw_fd(), &meta, &shown);
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(ExtractError::Read)?
                    .ok_or_else(|| io_err(&shown, io::Error::other("symlink without target")))?
                    .into_owned();
                let parent = self.open_parent(parents, &shown)?;
                replace_existing(&parent, name, false).map_err(|e| io_err(&shown, e))?;
                // The target is stored verbatim and never followed here; inside a container it
                // resolves against the container's root.
                symlinkat(
                    target.as_os_str(),
                    Some(parent.as_raw_fd()),
                    name.as_os_str(),
                )
                .map_err(|e| io_err(&shown, e.into()))?;
                apply_meta_at(&parent, name, &meta, false, &shown);
            }
            EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(ExtractError::Read)?
                    .ok_or_else(|| io_err(&shown, io::Error::other("hardlink without target")))?
                    .into_owned();
                self.hardlink(parents, name, &target, &shown)?;
            }
            EntryType::Fifo => {
                let parent = self.open_parent(parents, &shown)?;
                replace_existing(&parent, name, false).map_err(|e| io_err(&shown, e))?;
                mknodat(
                    Some(parent.as_raw_fd()),
                    name.as_os_str(),
                    SFlag::S_IFIFO,
                    Mode::from_bits_truncate(0o600),
                    0,
                )
                .map_err(|e| io_err(&shown, e.into()))?;
                apply_meta_at(&parent, name, &meta, true, &shown);
            }
            EntryType::Char | EntryType::Block => {
                // A device node in an image would give the container raw access to host
                // hardware if it were ever reachable; Docker skips them in rootless mode and
                // the runtime creates the few /dev nodes a container needs.
                tracing::warn!(path = %shown, "skipping device node in layer");
                self.stats.skipped += 1;
            }
            other => {
                tracing::warn!(path = %shown, kind = ?other, "skipping unsupported tar entry type");
                self.stats.skipped += 1;
            }
        }
        Ok(())
    }

    /// Opens the directory `parents` below the root, creating missing components (mode 0755
    /// as Docker does) and refusing any component that is a symlink or not a directory.
    fn open_parent(&self, parents: &[OsString], shown: &str) -> Result<OwnedFd, ExtractError> {
        self.walk(parents, true, shown)
    }

    fn walk(
        &self,
        parents: &[OsString],
        create: bool,
        shown: &str,
    ) -> Result<OwnedFd, ExtractError> {
        let mut cur = self.root.try_clone().map_err(|e| io_err(shown, e))?;
        for (i, comp) in parents.iter().enumerate() {
            let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW;
            let next = match open_owned(Some(cur.as_raw_fd()), comp.as_os_str(), flags) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) if create => {
                    match mkdirat(
                        Some(cur.as_raw_fd()),
                        comp.as_os_str(),
                        Mode::from_bits_truncate(0o755),
                    ) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(io_err(shown, e.into())),
                    }
                    open_owned(Some(cur.as_raw_fd()), comp.as_os_str(), flags)
                        .map_err(|e| io_err(shown, e.into()))?
                }
                Err(Errno::ENOTDIR) | Err(Errno::ELOOP) => {
                    let so_far = join(&parents[..=i]);
                    let is_link = fstatat(
                        Some(cur.as_raw_fd()),
                        comp.as_os_str(),
                        AtFlags::AT_SYMLINK_NOFOLLOW,
                    )
                    .is_ok_and(|st| file_type(&st) == SFlag::S_IFLNK);
                    return Err(if is_link {
                        ExtractError::ThroughSymlink {
                            path: shown.to_string(),
                            via: so_far,
                        }
                    } else {
                        ExtractError::ParentNotDirectory {
                            path: shown.to_string(),
                            parent: so_far,
                        }
                    });
                }
                Err(e) => return Err(io_err(shown, e.into())),
            };
            cur = next;
        }
        Ok(cur)
    }

    fn directory(
        &self,
        parent: &OwnedFd,
        name: &OsStr,
        meta: &Meta,
        shown: &str,
    ) -> Result<(), ExtractError> {
        // `.wh.d` then `d/` in one layer means "the lower d is gone, this is a new d": in
        // overlayfs terms a directory that is opaque, not one merged with the lower d.
        let replaces_whiteout =
            fstatat(Some(parent.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)
                .is_ok_and(|st| is_whiteout(&st));
        replace_existing(parent, name, true).map_err(|e| io_err(shown, e))?;
        match mkdirat(
            Some(parent.as_raw_fd()),
            name,
            Mode::from_bits_truncate(0o700),
        ) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(io_err(shown, e.into())),
        }
        let fd = open_owned(
            Some(parent.as_raw_fd()),
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
        )
        .map_err(|e| io_err(shown, e.into()))?;
        apply_meta_fd(fd.as_raw_fd(), meta, shown);
        if replaces_whiteout {
            set_xattr(fd.as_raw_fd(), OVERLAY_OPAQUE_XATTR, b"y").map_err(|e| io_err(shown, e))?;
        }
        Ok(())
    }

    fn hardlink(
        &self,
        parents: &[OsString],
        name: &OsStr,
        target: &Path,
        shown: &str,
    ) -> Result<(), ExtractError> {
        let target_shown = target.display().to_string();
        let refuse = |reason| ExtractError::Hardlink {
            path: shown.to_string(),
            target: target_shown.clone(),
            reason,
        };
        // Hardlink targets are archive paths too: `/etc/passwd` means the layer's etc/passwd,
        // which must already have been extracted (a link can never reach a host file).
        let target_rel = clean(target).ok_or_else(|| refuse("target escapes the layer"))?;
        let Some((target_name, target_parents)) = target_rel.split_last() else {
            return Err(refuse("target is the layer root"));
        };
        let target_dir = match self.walk(target_parents, false, shown) {
            Ok(fd) => fd,
            Err(ExtractError::ThroughSymlink { .. }) => {
                return Err(refuse("target is reached through a symlink"))
            }
            Err(_) => return Err(refuse("target does not exist in the layer")),
        };
        let st = fstatat(
            Some(target_dir.as_raw_fd()),
            target_name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|_| refuse("target does not exist in the layer"))?;
        match file_type(&st) {
            SFlag::S_IFREG | SFlag::S_IFIFO => {}
            SFlag::S_IFLNK => return Err(refuse("target is a symlink")),
            _ => return Err(refuse("target is not a regular file")),
        }
        let parent = self.open_parent(parents, shown)?;
        if target_parents == parents && target_name == name {
            return Ok(());
        }
        replace_existing(&parent, name, false).map_err(|e| io_err(shown, e))?;
        // Flags 0: linkat does not follow a symlink in oldpath (we checked it is none anyway).
        linkat(
            Some(target_dir.as_raw_fd()),
            target_name.as_os_str(),
            Some(parent.as_raw_fd()),
            name,
            AtFlags::empty(),
        )
        .map_err(|e| io_err(shown, e.into()))
    }

    fn whiteout(&self, parents: &[OsString], name: &str, shown: &str) -> Result<(), ExtractError> {
        let parent = self.open_parent(parents, shown)?;
        if name == WHITEOUT_OPAQUE {
            // The directory hides everything below it in lower layers (overlayfs(5), "whiteouts
            // and opaque directories"); entries of this same layer stay visible.
            let dir = open_owned(
                Some(parent.as_raw_fd()),
                ".",
                OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            )
            .map_err(|e| io_err(shown, e.into()))?;
            set_xattr(dir.as_raw_fd(), OVERLAY_OPAQUE_XATTR, b"y").map_err(|e| io_err(shown, e))?;
            return Ok(());
        }
        if name.starts_with(WHITEOUT_META_PREFIX) {
            return Ok(());
        }
        let hidden = &name[WHITEOUT_PREFIX.len()..];
        if hidden.is_empty() || hidden == "." || hidden == ".." || hidden.contains('/') {
            return Err(ExtractError::Escapes {
                path: shown.to_string(),
            });
        }
        let hidden = OsStr::new(hidden);
        // A whiteout hides lower layers only (image-spec layer.md, "Whiteouts"): what this
        // layer already put under that name stays. A file of ours hides the lower one anyway;
        // a directory of ours must not merge with the lower one, so it becomes opaque.
        match fstatat(
            Some(parent.as_raw_fd()),
            hidden,
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) if file_type(&st) == SFlag::S_IFDIR => {
                let dir = open_owned(
                    Some(parent.as_raw_fd()),
                    hidden,
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
                )
                .map_err(|e| io_err(shown, e.into()))?;
                return set_xattr(dir.as_raw_fd(), OVERLAY_OPAQUE_XATTR, b"y")
                    .map_err(|e| io_err(shown, e));
            }
            Ok(_) => return Ok(()),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(io_err(shown, e.into())),
        }
        // The one device node we ever create: overlayfs reads a 0/0 character device as
        // "deleted in this layer".
        mknodat(
            Some(parent.as_raw_fd()),
            hidden,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o000),
            0,
        )
        .map_err(|e| io_err(shown, e.into()))
    }

    fn restore_dir_times(&self) {
        // Deepest first is not needed: setting a directory's own times does not touch its
        // parent's.
        for (rel, mtime) in &self.dir_times {
            let Some((name, parents)) = rel.split_last() else {
                continue;
            };
            if let Ok(parent) = self.walk(parents, false, "") {
                let t = TimeSpec::new(*mtime, 0);
                let _ = utimensat(
                    Some(parent.as_raw_fd()),
                    name.as_os_str(),
                    &t,
                    &t,
                    UtimensatFlags::NoFollowSymlink,
                );
            }
        }
    }
}

/// Cleans an archive path into root-relative components; `None` if `..` climbs above the root.
/// Resolving `..` lexically is safe because we never follow symlinks while extracting.
fn clean(raw: &Path) -> Option<RelPath> {
    let mut out = RelPath::new();
    for comp in raw.components() {
        match comp {
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                out.pop()?;
            }
            Component::Normal(n) => out.push(n.to_os_string()),
        }
    }
    Some(out)
}

fn join(parts: &[OsString]) -> String {
    parts
        .iter()
        .map(|p| p.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn read_meta<R: Read>(entry: &mut tar::Entry<R>) -> Result<Meta, ExtractError> {
    let h = entry.header();
    let mode = h.mode().map_err(ExtractError::Read)? & 0o7777;
    // Some writers leave numeric fields blank; like GNU tar, read those as 0 rather than
    // refusing the layer.
    let uid = h.uid().ok().and_then(|v| v.try_into().ok()).unwrap_or(0);
    let gid = h.gid().ok().and_then(|v| v.try_into().ok()).unwrap_or(0);
    let mtime = h.mtime().ok().and_then(|v| v.try_into().ok()).unwrap_or(0);
    let mut xattrs = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(ExtractError::Read)? {
        for ext in exts {
            let ext = ext.map_err(ExtractError::Read)?;
            let Some(name) = ext
                .key()
                .ok()
                .and_then(|k| k.strip_prefix(PAX_XATTR_PREFIX))
            else {
                continue;
            };
            // trusted.* could forge overlayfs metadata (redirects, opaque markers) and
            // security.selinux is host policy; file capabilities are part of the image.
            if !(name.starts_with("user.") || name == "security.capability") {
                tracing::debug!(xattr = name, "skipping xattr from layer");
                continue;
            }
            if let Ok(c) = CString::new(name) {
                xattrs.push((c, ext.value_bytes().to_vec()));
            }
        }
    }
    Ok(Meta {
        mode,
        uid,
        gid,
        mtime,
        xattrs,
    })
}

/// Applies owner, then mode (chown clears setuid/setgid, so it must come first), xattrs and
/// mtime through the fd of an entry we just created. Best-effort, as Docker when not root.
fn apply_meta_fd(fd: RawFd, meta: &Meta, shown: &str) {
    if let Err(e) = fchown(
        fd,
        Some(Uid::from_raw(meta.uid)),
        Some(Gid::from_raw(meta.gid)),
    ) {
        tracing::debug!(path = shown, error = %e, "cannot chown layer entry");
    }
    if let Err(e) = fchmod(fd, Mode::from_bits_truncate(meta.mode)) {
        tracing::debug!(path = shown, error = %e, "cannot chmod layer entry");
    }
    for (name, value) in &meta.xattrs {
        if let Err(e) = set_xattr_c(fd, name, value) {
            tracing::debug!(path = shown, xattr = ?name, error = %e, "cannot set xattr on layer entry");
        }
    }
    let t = TimeSpec::new(meta.mtime, 0);
    let _ = futimens(fd, &t, &t);
}

/// Metadata for entries we cannot open (symlinks, fifos), by name under their parent fd.
fn apply_meta_at(parent: &OwnedFd, name: &OsStr, meta: &Meta, set_mode: bool, shown: &str) {
    let dir = Some(parent.as_raw_fd());
    if let Err(e) = fchownat(
        dir,
        name,
        Some(Uid::from_raw(meta.uid)),
        Some(Gid::from_raw(meta.gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    ) {
        tracing::debug!(path = shown, error = %e, "cannot chown layer entry");
    }
    if set_mode {
        // Only for fifos we just created under a private directory; fchmodat cannot act on a
        // symlink itself, so it is never called for one.
        let _ = nix::sys::stat::fchmodat(
            dir,
            name,
            Mode::from_bits_truncate(meta.mode & 0o777),
            nix::sys::stat::FchmodatFlags::NoFollowSymlink,
        )
        .or_else(|_| {
            nix::sys::stat::fchmodat(
                dir,
                name,
                Mode::from_bits_truncate(meta.mode & 0o777),
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
        });
    }
    let t = TimeSpec::new(meta.mtime, 0);
    let _ = utimensat(dir, name, &t, &t, UtimensatFlags::NoFollowSymlink);
}

/// Makes room for a new entry `name`: removes what is there, except a directory when a
/// directory is coming (tar semantics: later entries win, directories merge).
fn replace_existing(parent: &OwnedFd, name: &OsStr, keep_dir: bool) -> io::Result<()> {
    let st = match fstatat(Some(parent.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if file_type(&st) == SFlag::S_IFDIR {
        if keep_dir {
            return Ok(());
        }
        remove_tree_at(parent, name)
    } else {
        unlinkat(Some(parent.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir).map_err(Into::into)
    }
}

/// Removes the directory `name` under `parent` and everything in it, never following symlinks.
fn remove_tree_at(parent: &OwnedFd, name: &OsStr) -> io::Result<()> {
    let dir = open_owned(
        Some(parent.as_raw_fd()),
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
    )?;
    let mut children = Vec::new();
    {
        let mut listing = nix::dir::Dir::from_fd(dir.try_clone()?.into_raw_fd())?;
        for e in listing.iter() {
            let e = e?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                children.push(OsStr::from_bytes(n).to_os_string());
            }
        }
    }
    for child in children {
        replace_existing(&dir, &child, false)?;
    }
    unlinkat(Some(parent.as_raw_fd()), name, UnlinkatFlags::RemoveDir).map_err(Into::into)
}

/// `openat` returning an owned fd, always with `O_CLOEXEC` (the daemon spawns shims).
fn open_owned<P: ?Sized + nix::NixPath>(
    dir: Option<RawFd>,
    path: &P,
    flags: OFlag,
) -> nix::Result<OwnedFd> {
    let fd = openat(
        dir,
        path,
        flags | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )?;
    // SAFETY: openat just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An overlayfs whiteout: a 0/0 character device.
fn is_whiteout(st: &FileStat) -> bool {
    file_type(st) == SFlag::S_IFCHR && st.st_rdev == 0
}

fn file_type(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

fn set_xattr(fd: RawFd, name: &str, value: &[u8]) -> io::Result<()> {
    let name = CString::new(name).map_err(io::Error::other)?;
    set_xattr_c(fd, &name, value)
}

fn set_xattr_c(fd: RawFd, name: &CString, value: &[u8]) -> io::Result<()> {
    // SAFETY: name is a valid NUL-terminated string and value a live slice of the given
    // length; fsetxattr only reads them during the call.
    let rc = unsafe { libc::fsetxattr(fd, name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn io_err(path: &str, source: io::Error) -> ExtractError {
    ExtractError::Io {
        path: path.to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

    /// Builds tars with raw names: the tar crate's own setters refuse `..` and absolute paths,
    /// which is exactly what these tests need to write.
    struct TarBuilder(tar::Builder<Vec<u8>>);

    impl TarBuilder {
        fn new() -> Self {
            TarBuilder(tar::Builder::new(Vec::new()))
        }

        fn raw(
            &mut self,
            kind: EntryType,
            name: &str,
            link: &str,
            mode: u32,
            data: &[u8],
        ) -> &mut Self {
            self.raw_owned(kind, name, link, mode, 0, 0, data)
        }

        #[allow(clippy::too_many_arguments)]
        fn raw_owned(
            &mut self,
            kind: EntryType,
            name: &str,
            link: &str,
            mode: u32,
            uid: u64,
            gid: u64,
            data: &[u8],
        ) -> &mut Self {
            let mut h = tar::Header::new_gnu();
            {
                let gnu = h.as_gnu_mut().unwrap();
                gnu.name[..name.len()].copy_from_slice(name.as_bytes());
                gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
            }
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_uid(uid);
            h.set_gid(gid);
            h.set_mtime(1_600_000_000);
            h.set_size(data.len() as u64);
            h.set_cksum();
            self.0.append(&h, data).unwrap();
            self
        }

        fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
            self.raw(EntryType::Regular, name, "", 0o644, data)
        }

        fn dir(&mut self, name: &str) -> &mut Self {
            self.raw(EntryType::Directory, name, "", 0o755, b"")
        }

        fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
            self.raw(EntryType::Symlink, name, target, 0o777, b"")
        }

        fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
            self.raw(EntryType::Link, name, target, 0o644, b"")
        }

        fn device(&mut self, kind: EntryType, name: &str, major: u32, minor: u32) -> &mut Self {
            let mut h = tar::Header::new_gnu();
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_entry_type(kind);
            h.set_mode(0o666);
            h.set_size(0);
            h.set_device_major(major).unwrap();
            h.set_device_minor(minor).unwrap();
            h.set_cksum();
            self.0.append(&h, io::empty()).unwrap();
            self
        }

        fn bytes(&mut self) -> Vec<u8> {
            let b = std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()));
            b.into_inner().unwrap()
        }
    }

    /// A sandbox: `outside/` stands for the host, `layer/` is where the layer goes.
    struct Sandbox {
        tmp: tempfile::TempDir,
    }

    impl Sandbox {
        fn new() -> Self {
            let tmp = tempfile::tempdir().unwrap();
            fs::create_dir(tmp.path().join("layer")).unwrap();
            fs::create_dir(tmp.path().join("outside")).unwrap();
            fs::write(tmp.path().join("outside/secret"), b"host data").unwrap();
            Sandbox { tmp }
        }

        fn layer(&self) -> PathBuf {
            self.tmp.path().join("layer")
        }

        fn outside(&self) -> PathBuf {
            self.tmp.path().join("outside")
        }

        fn extract(&self, tar: &[u8]) -> Result<ExtractStats, ExtractError> {
            extract_layer(tar, &self.layer())
        }

        /// Everything in the sandbox outside the layer dir is exactly what we put there.
        fn assert_outside_untouched(&self) {
            let mut names: Vec<String> = fs::read_dir(self.tmp.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            assert_eq!(names, vec!["layer", "outside"]);
            let inside: Vec<_> = fs::read_dir(self.outside())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(inside, vec![OsString::from("secret")]);
            assert_eq!(
                fs::read(self.outside().join("secret")).unwrap(),
                b"host data"
            );
            assert_eq!(
                fs::metadata(self.outside().join("secret")).unwrap().nlink(),
                1
            );
        }
    }

    use std::path::PathBuf;

    #[test]
    fn extracts_regular_tree_with_metadata() {
        let sb = Sandbox::new();
        let tar = TarBuilder::new()
            .dir("./")
            .dir("etc/")
            .file("etc/hostname", b"box\n")
            .raw_owned(
                EntryType::Regular,
                "usr/bin/su",
                "",
                0o4755,
                1000,
                1001,
                b"#!suid",
            )
            .raw(EntryType::Regular, "usr/bin/wall", "", 0o2755, b"sgid")
            .raw(EntryType::Directory, "tmp/", "", 0o1777, b"")
            .symlink("bin", "usr/bin")
            .symlink("abs", "/etc/hostname")
            .hardlink("etc/hostname.link", "/etc/hostname")
            .raw(EntryType::Fifo, "run/fifo", "", 0o640, b"")
            .bytes();
        let stats = sb.extract(&tar).unwrap();
        let l = sb.layer();
        assert_eq!(stats.size, 4 + 6 + 4);
        assert_eq!(fs::read(l.join("etc/hostname")).unwrap(), b"box\n");
        let su = fs::metadata(l.join("usr/bin/su")).unwrap();
        assert_eq!(
            su.permissions().mode() & 0o7777,
            0o4755,
            "setuid kept inside the layer"
        );
        assert_eq!((su.uid(), su.gid()), (1000, 1001));
        assert_eq!(su.mtime(), 1_600_000_000);
        assert_eq!(
            fs::metadata(l.join("usr/bin/wall"))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777,
            0o2755
        );
        assert_eq!(
            fs::metadata(l.join("tmp")).unwrap().permissions().mode() & 0o7777,
            0o1777
        );
        assert_eq!(fs::read_link(l.join("bin")).unwrap(), Path::new("usr/bin"));
        assert_eq!(
            fs::read_link(l.join("abs")).unwrap(),
            Path::new("/etc/hostname")
        );
        let a = fs::metadata(l.join("etc/hostname")).unwrap();
        let b = fs::metadata(l.join("etc/hostname.link")).unwrap();
        assert_eq!(a.ino(), b.ino(), "hardlink inside the layer works");
        assert!(fs::symlink_metadata(l.join("run/fifo"))
            .unwrap()
            .file_type()
            .is_fifo());
        assert_eq!(
            fs::metadata(l.join("etc")).unwrap().mtime(),
            1_600_000_000,
            "dir mtime restored"
        );
        sb.assert_outside_untouched();
    }

    #[test]
    fn absolute_paths_are_contained() {
        let sb = Sandbox::new();
        let target = format!("{}/evil", sb.outside().display());
        let tar = TarBuilder::new()
            .file(&target, b"x")
            .file("/etc/abs-evil", b"y")
            .bytes();
        sb.extract(&tar).unwrap();
        let contained = sb.layer().join(target.trim_start_matches('/'));
        assert_eq!(fs::read(contained).unwrap(), b"x");
        assert_eq!(fs::read(sb.layer().join("etc/abs-evil")).unwrap(), b"y");
        assert!(!Path::new("/etc/abs-evil").exists());
        sb.assert_outside_untouched();
    }

    #[test]
    fn dotdot_escapes_are_refused() {
        for name in [
            "../evil",
            "a/../../evil",
            "./../outside/evil",
            "a/b/../../../outside/secret",
        ] {
            let sb = Sandbox::new();
            let tar = TarBuilder::new().dir("a/").file(name, b"pwned").bytes();
            let err = sb.extract(&tar).unwrap_err();
            assert!(matches!(err, ExtractError::Escapes { .. }), "{name}: {err}");
            sb.assert_outside_untouched();
        }
        // `..` that stays inside is fine.
        let sb = Sandbox::new();
        sb.extract(&TarBuilder::new().file("a/../b", b"ok").bytes())
            .unwrap();
        assert_eq!(fs::read(sb.layer().join("b")).unwrap(), b"ok");
    }

    #[test]
    fn never_writes_through_a_symlink() {
        let outside = Sandbox::new();
        for target in ["/", "../..", "..", ""] {
            let sb = Sandbox::new();
            let target = if target.is_empty() {
                outside.outside().display().to_string()
            } else {
                target.to_string()
            };
            // Relative to /, the second entry would be <tmp>/outside/evil if followed.
            let through = format!("{}/evil", outside.outside().display())
                .trim_start_matches('/')
                .to_string();
            let tar = TarBuilder::new()
                .symlink("link", &target)
                .file(&format!("link/{through}"), b"pwned")
                .bytes();
            let err = sb.extract(&tar).unwrap_err();
            assert!(
                matches!(err, ExtractError::ThroughSymlink { .. }),
                "{target}: {err}"
            );
            outside.assert_outside_untouched();
            sb.assert_outside_untouched();
        }
        // A later regular file replaces a symlink rather than writing to its target.
        let sb = Sandbox::new();
        let secret = sb.outside().join("secret");
        let tar = TarBuilder::new()
            .symlink("x", &secret.display().to_string())
            .file("x", b"replaced")
            .bytes();
        sb.extract(&tar).unwrap();
        assert_eq!(fs::read(sb.layer().join("x")).unwrap(), b"replaced");
        assert!(fs::symlink_metadata(sb.layer().join("x"))
            .unwrap()
            .is_file());
        sb.assert_outside_untouched();
        // Same for a directory entry named like an existing symlink to outside.
        let sb = Sandbox::new();
        let tar = TarBuilder::new()
            .symlink("d", &sb.outside().display().to_string())
            .dir("d/")
            .file("d/f", b"in")
            .bytes();
        sb.extract(&tar).unwrap();
        assert!(fs::symlink_metadata(sb.layer().join("d")).unwrap().is_dir());
        assert_eq!(fs::read(sb.layer().join("d/f")).unwrap(), b"in");
        sb.assert_outside_untouched();
    }

    #[test]
    fn hardlinks_never_reach_outside() {
        let sb = Sandbox::new();
        let secret = sb.outside().join("secret").display().to_string();
        for target in ["/etc/passwd", "../outside/secret", secret.as_str()] {
            let tar = TarBuilder::new().hardlink("stolen", target).bytes();
            let err = sb.extract(&tar).unwrap_err();
            assert!(
                matches!(err, ExtractError::Hardlink { .. }),
                "{target}: {err}"
            );
            assert!(!sb.layer().join("stolen").exists());
        }
        let passwd_links = fs::metadata("/etc/passwd").unwrap().nlink();
        assert_eq!(fs::metadata("/etc/passwd").unwrap().nlink(), passwd_links);
        // Through a symlink to outside, or to a symlink: refused too.
        let tar = TarBuilder::new()
            .symlink("out", &sb.outside().display().to_string())
            .hardlink("via", "out/secret")
            .bytes();
        assert!(matches!(
            sb.extract(&tar).unwrap_err(),
            ExtractError::Hardlink { .. }
        ));
        let sb2 = Sandbox::new();
        let tar = TarBuilder::new()
            .symlink("s", "/etc/passwd")
            .hardlink("h", "s")
            .bytes();
        let err = sb2.extract(&tar).unwrap_err();
        assert!(
            matches!(
                err,
                ExtractError::Hardlink {
                    reason: "target is a symlink",
                    ..
                }
            ),
            "{err}"
        );
        sb.assert_outside_untouched();
        sb2.assert_outside_untouched();
    }

    #[test]
    fn device_nodes_are_skipped_fifos_kept() {
        let sb = Sandbox::new();
        let tar = TarBuilder::new()
            .device(EntryType::Char, "dev/mem", 1, 1)
            .device(EntryType::Block, "dev/sda", 8, 0)
            .device(EntryType::Char, "dev/null0", 0, 0)
            .raw(EntryType::Fifo, "pipe", "", 0o600, b"")
            .bytes();
        let stats = sb.extract(&tar).unwrap();
        assert_eq!(stats.skipped, 3);
        for dev in ["dev/mem", "dev/sda", "dev/null0"] {
            assert!(
                fs::symlink_metadata(sb.layer().join(dev)).is_err(),
                "{dev} must not exist"
            );
        }
        assert!(fs::symlink_metadata(sb.layer().join("pipe"))
            .unwrap()
            .file_type()
            .is_fifo());
        sb.assert_outside_untouched();
    }

    fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
        let p = CString::new(path.as_os_str().as_bytes()).unwrap();
        let n = CString::new(name).unwrap();
        let mut buf = vec![0u8; 64];
        // SAFETY: valid C strings and a buffer of the length passed.
        let len =
            unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        (len >= 0).then(|| buf[..len as usize].to_vec())
    }

    #[test]
    fn whiteouts_become_overlay_whiteouts() {
        let sb = Sandbox::new();
        let tar = TarBuilder::new()
            .file("etc/keep", b"k")
            .file("etc/.wh.gone", b"")
            .file(".wh.toplevel", b"")
            .file("var/cache/.wh..wh..opq", b"")
            .file("var/cache/fresh", b"new")
            .file("x/.wh..wh.plnk", b"")
            .bytes();
        sb.extract(&tar).unwrap();
        let l = sb.layer();
        for w in ["etc/gone", "toplevel"] {
            let m = fs::symlink_metadata(l.join(w)).unwrap();
            assert!(m.file_type().is_char_device(), "{w} is a whiteout");
            assert_eq!(m.rdev(), 0, "{w} is 0/0");
        }
        assert!(!l.join("etc/.wh.gone").exists());
        assert_eq!(
            xattr(&l.join("var/cache"), OVERLAY_OPAQUE_XATTR).as_deref(),
            Some(&b"y"[..])
        );
        assert_eq!(fs::read(l.join("var/cache/fresh")).unwrap(), b"new");
        assert!(!l.join("var/cache/.wh..wh..opq").exists());
        assert!(!l.join("x/.wh..wh.plnk").exists());
        sb.assert_outside_untouched();
        // A whiteout name may not climb.
        let sb = Sandbox::new();
        let err = sb
            .extract(&TarBuilder::new().file(".wh...", b"").bytes())
            .unwrap_err();
        assert!(matches!(err, ExtractError::Escapes { .. }), "{err}");
    }

    #[test]
    fn whiteouts_only_hide_lower_layers() {
        let sb = Sandbox::new();
        let tar = TarBuilder::new()
            .file("f", b"mine")
            .file(".wh.f", b"")
            .dir("d/")
            .file("d/inner", b"1")
            .file(".wh.d", b"")
            .file(".wh.e", b"")
            .dir("e/")
            .file("e/new", b"2")
            .file(".wh.g", b"")
            .file("g", b"file over whiteout")
            .bytes();
        sb.extract(&tar).unwrap();
        let l = sb.layer();
        assert_eq!(
            fs::read(l.join("f")).unwrap(),
            b"mine",
            "a same-layer file survives its whiteout"
        );
        assert_eq!(fs::read(l.join("d/inner")).unwrap(), b"1");
        assert_eq!(
            xattr(&l.join("d"), OVERLAY_OPAQUE_XATTR).as_deref(),
            Some(&b"y"[..])
        );
        assert!(fs::symlink_metadata(l.join("e")).unwrap().is_dir());
        assert_eq!(
            xattr(&l.join("e"), OVERLAY_OPAQUE_XATTR).as_deref(),
            Some(&b"y"[..]),
            "new dir replacing a whiteout is opaque"
        );
        assert_eq!(fs::read(l.join("g")).unwrap(), b"file over whiteout");
        sb.assert_outside_untouched();
    }

    #[test]
    fn later_entries_replace_earlier_ones() {
        let sb = Sandbox::new();
        let tar = TarBuilder::new()
            .file("a", b"file")
            .dir("a/")
            .file("a/inner", b"1")
            .file("b/deep/file", b"2")
            .file("b", b"now a file")
            .bytes();
        sb.extract(&tar).unwrap();
        assert_eq!(fs::read(sb.layer().join("a/inner")).unwrap(), b"1");
        assert_eq!(fs::read(sb.layer().join("b")).unwrap(), b"now a file");
        // A parent that is a regular file is refused, not replaced implicitly.
        let sb = Sandbox::new();
        let err = sb
            .extract(&TarBuilder::new().file("f", b"").file("f/x", b"").bytes())
            .unwrap_err();
        assert!(
            matches!(err, ExtractError::ParentNotDirectory { .. }),
            "{err}"
        );
    }

    #[test]
    fn xattrs_from_pax_headers_are_filtered() {
        let sb = Sandbox::new();
        let mut b = tar::Builder::new(Vec::new());
        let pax: Vec<(&str, &[u8])> = vec![
            ("SCHILY.xattr.user.kept", b"v"),
            ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
            ("SCHILY.xattr.trusted.overlay.redirect", b"/etc"),
        ];
        b.append_pax_extensions(pax).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_path("d/").unwrap();
        h.set_entry_type(EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_cksum();
        b.append(&h, io::empty()).unwrap();
        sb.extract(&b.into_inner().unwrap()).unwrap();
        let d = sb.layer().join("d");
        assert_eq!(xattr(&d, "user.kept").as_deref(), Some(&b"v"[..]));
        assert_eq!(xattr(&d, "trusted.overlay.opaque"), None);
        assert_eq!(xattr(&d, "trusted.overlay.redirect"), None);
    }

    #[test]
    fn reads_the_stream_to_its_end() {
        let sb = Sandbox::new();
        let mut tar = TarBuilder::new().file("f", b"x").bytes();
        tar.extend_from_slice(&[0u8; 4096]);
        let mut cursor = io::Cursor::new(tar.clone());
        extract_layer(&mut cursor, &sb.layer()).unwrap();
        assert_eq!(cursor.position() as usize, tar.len());
    }
}
