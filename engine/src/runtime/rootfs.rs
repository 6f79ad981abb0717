//! Building the container's filesystem view inside its own mount namespace: the overlay root,
//! /proc, /sys, /dev, the engine-owned /etc files, volumes and tmpfs mounts, then pivot_root,
//! Docker's masked and read-only paths, and an optional read-only root.
//!
//! Every mount is made after the shim's child unshared its mount namespace, so none of them is
//! ever visible on the host and all vanish with the container's last process.

use super::spec::{Mount, MountKind, Spec};
use crate::cgroups::{View, CGROUP_ROOT};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::unistd::{chdir, pivot_root};
use std::fs;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

/// Paths Docker hides from containers (moby's oci/defaults.go): files get /dev/null bound over
/// them, directories an empty read-only tmpfs.
const MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only.
const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Character devices every container gets: name, major, minor, mode.
const DEVICES: [(&str, u64, u64, u32); 6] = [
    ("null", 1, 3, 0o666),
    ("zero", 1, 5, 0o666),
    ("full", 1, 7, 0o666),
    ("random", 1, 8, 0o666),
    ("urandom", 1, 9, 0o666),
    ("tty", 5, 0, 0o666),
];

fn err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

/// Resolves `path` (an absolute path inside the container) against `root` the way the kernel
/// would inside the container after pivot_root: symlinks are followed but never out of `root`.
/// Without this a crafted image (e.g. /etc/hosts -> /host/file) would make a bind mount land on
/// the host (the CVE-2021-30465 class of bugs).
pub fn resolve_in_root(root: &Path, path: &str) -> Result<PathBuf, String> {
    let mut pending: Vec<String> = Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .rev()
        .collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved
            .iter()
            .fold(root.to_path_buf(), |p, c| p.join(c))
            .join(&part);
        match fs::symlink_metadata(&candidate) {
            Ok(md) if md.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return Err(format!(
                        "too many levels of symbolic links resolving {path}"
                    ));
                }
                let target = fs::read_link(&candidate).map_err(|e| err(candidate.display(), e))?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(s) => pending.push(s.to_string_lossy().into_owned()),
                        Component::ParentDir => pending.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => resolved.push(part),
        }
    }
    Ok(resolved.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
}

/// The directories and files the runtime mounts on in every container (/proc, /sys, /dev
/// and the /etc files it writes), in a layer of their own that lies above the image's, as
/// Docker's "init" layer: made in the writable layer instead, they would show in `container
/// diff` and end up in every committed or built layer. Their content is the same for every
/// container: one layer at `dir` serves them all, made by the first start that finds none
/// (nine file creations fewer per container).
pub fn write_init_layer(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    // Whole or absent: built under a name of this writer's own (starts may race to make it),
    // then renamed into place; a crash half-way leaves only a .tmp-*, removed by the next
    // writer of the same name or left as a few empty entries.
    static WRITERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.with_extension(format!("tmp-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    for d in ["proc", "sys", "dev", "etc"] {
        fs::create_dir_all(tmp.join(d))?;
    }
    for f in ["hosts", "hostname", "resolv.conf"] {
        fs::File::create(tmp.join("etc").join(f))?;
    }
    match fs::rename(&tmp, dir) {
        Ok(()) => Ok(()),
        // Another start made it first: theirs serves.
        Err(_) if dir.exists() => fs::remove_dir_all(&tmp),
        Err(e) => Err(e),
    }
}

/// Creates `path` (already resolved inside the root) as a directory or an empty file to mount on.
fn ensure_mountpoint(path: &Path, dir: bool) -> Result<(), String> {
    if fs::symlink_metadata(path).is_ok() {
        return Ok(());
    }
    if dir {
        fs::create_dir_all(path).map_err(|e| err(format!("creating {}", path.display()), e))
    } else {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| err(format!("creating {}", parent.display()), e))?;
        }
        fs::File::create(path)
            .map(drop)
            .map_err(|e| err(format!("creating {}", path.display()), e))
    }
}

fn do_mount(
    src: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), String> {
    mount(src, target, fstype, flags, data).map_err(|e| {
        err(
            format!(
                "mounting {} on {}",
                src.or(fstype).unwrap_or("?"),
                target.display()
            ),
            e,
        )
    })
}

fn bind(src: &Path, target: &Path, readonly: bool, extra: MsFlags) -> Result<(), String> {
    mount(
        Some(src),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| {
        err(
            format!("binding {} on {}", src.display(), target.display()),
            e,
        )
    })?;
    if readonly || !extra.is_empty() {
        let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | extra;
        if readonly {
            flags |= MsFlags::MS_RDONLY;
        }
        mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
            .map_err(|e| err(format!("remounting {} read-only", target.display()), e))?;
    }
    Ok(())
}

/// Everything up to and including pivot_root. On return the process's root is the container's.
/// `cgroup` is what the container sees of its cgroup under /sys/fs/cgroup.
pub(crate) fn prepare(spec: &Spec, cgroup: Option<&View>) -> Result<(), String> {
    // Nothing we mount may propagate back to the host.
    do_mount(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )?;
    let root = &spec.rootfs.mountpoint;
    let nodev = if spec.privileged {
        MsFlags::empty()
    } else {
        MsFlags::MS_NODEV
    };
    mount_overlay(spec, nodev)?;

    let proc_dir = resolve_in_root(root, "/proc")?;
    ensure_mountpoint(&proc_dir, true)?;
    let hardened = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    do_mount(Some("proc"), &proc_dir, Some("proc"), hardened, None)?;

    let sys_dir = resolve_in_root(root, "/sys")?;
    ensure_mountpoint(&sys_dir, true)?;
    let sys_flags = if spec.privileged {
        hardened
    } else {
        hardened | MsFlags::MS_RDONLY
    };
    if do_mount(Some("sysfs"), &sys_dir, Some("sysfs"), sys_flags, None).is_err() {
        // sysfs can't be mounted fresh when the container shares the host's network namespace
        // on some kernels; a read-only bind of the host's serves the same purpose.
        bind(
            Path::new("/sys"),
            &sys_dir,
            !spec.privileged,
            MsFlags::empty(),
        )?;
    }
    if let Some(view) = cgroup {
        mount_cgroup_view(root, view, spec.privileged)?;
    }

    mount_dev(spec, root)?;

    for m in spec.etc_files.iter().chain(spec.mounts.iter()) {
        mount_one(root, m, nodev)?;
    }

    pivot(root)
}

fn mount_overlay(spec: &Spec, nodev: MsFlags) -> Result<(), String> {
    let rf = &spec.rootfs;
    if spec.ephemeral {
        // The writable layer of a --rm container is deleted when it exits, so syncing it is
        // wasted work, and costly: unmounting an overlay syncs its upper filesystem (a
        // journal commit, 5 ms idle and 60-180 ms while the disk is busy here), and that
        // happens in the exit of the container's pid 1, before anyone learns its exit code.
        // `volatile` (Linux 5.10) skips every sync of the upper layer. Older kernels refuse
        // the option; the plain mount below is then used.
        let volatile = mount_overlay_opts(
            &rf.layers,
            &rf.upper,
            &rf.work,
            &rf.mountpoint,
            nodev,
            ",volatile",
        );
        if volatile.is_ok() {
            return Ok(());
        }
    }
    mount_overlay_at(&rf.layers, &rf.upper, &rf.work, &rf.mountpoint, nodev)
}

/// Mounts the overlay of `layers` (bottom first) with `upper`/`work` on `mountpoint`, in the
/// caller's mount namespace. Used for the container's root and by `cp`/`export` helpers.
pub(crate) fn mount_overlay_at(
    layers: &[PathBuf],
    upper: &Path,
    work: &Path,
    mountpoint: &Path,
    flags: MsFlags,
) -> Result<(), String> {
    mount_overlay_opts(layers, upper, work, mountpoint, flags, "")
}

/// [`mount_overlay_at`] for an upper dir that is scratch, read once and then deleted (a
/// build step's): mounted `volatile` where the kernel has it, so that unmounting does not
/// sync it (see `mount_overlay`). Syncing also allocates the blocks of every file written,
/// which deleting them must then free again: on a filesystem mounted with `discard`, one
/// synchronous discard per file (a COPY of 10,000 small files took 30 s to clean up here).
pub(crate) fn mount_overlay_scratch(
    layers: &[PathBuf],
    upper: &Path,
    work: &Path,
    mountpoint: &Path,
    flags: MsFlags,
) -> Result<(), String> {
    mount_overlay_opts(layers, upper, work, mountpoint, flags, ",volatile")
        .or_else(|_| mount_overlay_at(layers, upper, work, mountpoint, flags))
}

fn mount_overlay_opts(
    layers: &[PathBuf],
    upper: &Path,
    work: &Path,
    mountpoint: &Path,
    flags: MsFlags,
    extra: &str,
) -> Result<(), String> {
    // overlayfs lists lower dirs top first; the image store gives them bottom first.
    let lower: Vec<String> = layers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let lower = if lower.is_empty() {
        // An image without layers (e.g. `import` of an empty tar) still needs one lower dir.
        let empty = work.with_file_name("empty-lower");
        fs::create_dir_all(&empty).map_err(|e| err("creating empty lower dir", e))?;
        empty.display().to_string()
    } else {
        lower.join(":")
    };
    for d in [upper, work, mountpoint] {
        fs::create_dir_all(d).map_err(|e| err(format!("creating {}", d.display()), e))?;
    }
    let data = format!(
        "lowerdir={lower},upperdir={},workdir={}{extra}",
        upper.display(),
        work.display()
    );
    do_mount(
        Some("overlay"),
        mountpoint,
        Some("overlay"),
        flags,
        Some(&data),
    )
}

/// The container's own cgroup directories under /sys/fs/cgroup, bound from the host (they
/// exist before the container starts), read-only unless privileged as Docker mounts them: a
/// process may read its limits but not raise them. On a v1 or hybrid host a tmpfs at
/// /sys/fs/cgroup holds one mount point per hierarchy; it hides whatever the sysfs mount (or
/// the fallback bind of the host's /sys) shows there, the host's hierarchies included.
fn mount_cgroup_view(root: &Path, view: &View, privileged: bool) -> Result<(), String> {
    let dir = resolve_in_root(root, CGROUP_ROOT)?;
    let hardened = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if view.is_single_root() {
        return bind(&view.mounts[0].source, &dir, !privileged, hardened);
    }
    if view.mounts.is_empty() {
        return Ok(());
    }
    do_mount(
        Some("tmpfs"),
        &dir,
        Some("tmpfs"),
        hardened,
        Some("mode=755,size=64k"),
    )?;
    for m in &view.mounts {
        let target = dir.join(&m.target);
        fs::create_dir_all(&target)
            .map_err(|e| err(format!("creating {}", target.display()), e))?;
        bind(&m.source, &target, !privileged, hardened)?;
    }
    for (name, link) in &view.links {
        symlink(link, dir.join(name))
            .map_err(|e| err(format!("linking {CGROUP_ROOT}/{}", name.display()), e))?;
    }
    if !privileged {
        let flags = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | hardened;
        do_mount(None, &dir, None, flags, Some("mode=755,size=64k"))?;
    }
    Ok(())
}

fn mount_dev(spec: &Spec, root: &Path) -> Result<(), String> {
    let dev = resolve_in_root(root, "/dev")?;
    ensure_mountpoint(&dev, true)?;
    // /dev is a nosuid tmpfs holding only the device nodes below. Outside --privileged the
    // overlay root, volumes and tmpfs mounts are nodev, so a node made with CAP_MKNOD cannot
    // open a host device: the device policy holds on cgroup v1 and v2 alike.
    do_mount(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    if spec.privileged {
        copy_host_devices(&dev)?;
    } else {
        for (name, major, minor, mode) in DEVICES {
            let path = dev.join(name);
            mknod(
                &path,
                SFlag::S_IFCHR,
                Mode::from_bits_truncate(mode),
                makedev(major, minor),
            )
            .map_err(|e| err(format!("creating /dev/{name}"), e))?;
            // mknod honours the umask; the mode must be exact.
            nix::sys::stat::fchmodat(
                None,
                &path,
                Mode::from_bits_truncate(mode),
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
            .map_err(|e| err(format!("chmod /dev/{name}"), e))?;
        }
    }
    let pts = dev.join("pts");
    fs::create_dir_all(&pts).map_err(|e| err("creating /dev/pts", e))?;
    do_mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )?;
    let shm = dev.join("shm");
    fs::create_dir_all(&shm).map_err(|e| err("creating /dev/shm", e))?;
    let hardened = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    do_mount(
        Some("shm"),
        &shm,
        Some("tmpfs"),
        hardened,
        Some(&format!("mode=1777,size={}", spec.shm_size)),
    )?;
    let mq = dev.join("mqueue");
    fs::create_dir_all(&mq).map_err(|e| err("creating /dev/mqueue", e))?;
    do_mount(Some("mqueue"), &mq, Some("mqueue"), hardened, None)?;
    // The links runc and crun make, so /dev lists as in a Docker container. Docker's /dev
    // has core -> /proc/kcore too (runc's setupDevSymlinks, crun's symlinks table) when the
    // kernel has one (CONFIG_PROC_KCORE); /proc/kcore itself is masked (MASKED_PATHS), so the
    // link reads nothing.
    let kcore = Path::new("/proc/kcore").exists();
    for (name, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ] {
        if name == "core" && !kcore {
            continue;
        }
        let _ = fs::remove_file(dev.join(name));
        symlink(target, dev.join(name)).map_err(|e| err(format!("linking /dev/{name}"), e))?;
    }
    Ok(())
}

/// --privileged: every character and block device of the host's /dev, as Docker gives.
fn copy_host_devices(dev: &Path) -> Result<(), String> {
    let entries = fs::read_dir("/dev").map_err(|e| err("reading /dev", e))?;
    for entry in entries.flatten() {
        let Ok(md) = entry.metadata() else { continue };
        let ft = md.file_type();
        let kind = if ft.is_char_device() {
            SFlag::S_IFCHR
        } else if ft.is_block_device() {
            SFlag::S_IFBLK
        } else {
            continue;
        };
        let name = entry.file_name();
        if name == "ptmx" || name == "console" {
            continue;
        }
        let _ = mknod(
            &dev.join(&name),
            kind,
            Mode::from_bits_truncate(md.mode() & 0o7777),
            md.rdev(),
        );
    }
    Ok(())
}

fn mount_one(root: &Path, m: &Mount, nodev: MsFlags) -> Result<(), String> {
    let target = resolve_in_root(root, &m.destination)?;
    match m.kind {
        MountKind::Bind => {
            let md = fs::metadata(&m.source)
                .map_err(|e| err(format!("bind source {}", m.source.display()), e))?;
            ensure_mountpoint(&target, md.is_dir())?;
            bind(&m.source, &target, m.readonly, nodev)
        }
        MountKind::Tmpfs => {
            ensure_mountpoint(&target, true)?;
            let mut data = format!("mode={:o}", m.mode.unwrap_or(0o1777));
            if let Some(size) = m.size {
                data.push_str(&format!(",size={size}"));
            }
            let mut flags = MsFlags::MS_NOSUID | nodev;
            if m.readonly {
                flags |= MsFlags::MS_RDONLY;
            }
            do_mount(Some("tmpfs"), &target, Some("tmpfs"), flags, Some(&data))
        }
    }
}

fn pivot(root: &Path) -> Result<(), String> {
    chdir(root).map_err(|e| err(format!("chdir {}", root.display()), e))?;
    // pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves only
    // the container's tree (the approach runc and youki take, no temporary directory needed).
    pivot_root(".", ".").map_err(|e| err("pivot_root", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| err("detaching the old root", e))?;
    chdir("/").map_err(|e| err("chdir /", e))
}

/// After pivot_root: masked and read-only paths, sysctls, and the read-only root.
pub(crate) fn finish(spec: &Spec) -> Result<(), String> {
    for (key, value) in &spec.sysctls {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        fs::write(&path, value).map_err(|e| err(format!("setting sysctl {key}"), e))?;
    }
    if !spec.privileged && !spec.unconfined_paths {
        for p in MASKED_PATHS {
            let Ok(md) = fs::metadata(p) else { continue };
            if md.is_dir() {
                do_mount(
                    Some("tmpfs"),
                    Path::new(p),
                    Some("tmpfs"),
                    MsFlags::MS_RDONLY,
                    None,
                )?;
            } else {
                bind(
                    Path::new("/dev/null"),
                    Path::new(p),
                    false,
                    MsFlags::empty(),
                )?;
            }
        }
        for p in READONLY_PATHS {
            if Path::new(p).exists() {
                bind(
                    Path::new(p),
                    Path::new(p),
                    true,
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                )?;
            }
        }
    }
    if spec.rootfs.readonly {
        let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
        do_mount(None, Path::new("/"), None, flags, None)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_never_leaves_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("etc")).unwrap();
        symlink("/", root.join("escape")).unwrap();
        symlink("../../../../outside", root.join("etc/rel")).unwrap();
        symlink("/etc", root.join("abs")).unwrap();
        assert_eq!(
            resolve_in_root(root, "/escape/etc/passwd").unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            resolve_in_root(root, "/etc/rel/x").unwrap(),
            root.join("outside/x")
        );
        assert_eq!(
            resolve_in_root(root, "/abs/hosts").unwrap(),
            root.join("etc/hosts")
        );
        assert_eq!(resolve_in_root(root, "/../../x").unwrap(), root.join("x"));
        symlink("loop", root.join("loop")).unwrap();
        assert!(resolve_in_root(root, "/loop").is_err());
    }
}
