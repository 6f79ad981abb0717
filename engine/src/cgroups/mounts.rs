//! Where each controller lives, learned from /proc/self/mountinfo.
//!
//! Paths are never guessed: a v1 host may co-mount cpu and cpuacct (or not), a hybrid host
//! puts cgroup2 at /sys/fs/cgroup/unified, and a container may see everything elsewhere.

use std::fmt;
use std::fs::{self, File};
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::error::{CgroupError, Result};

/// The v1 controllers berth manages.
pub const V1_CONTROLLERS: [&str; 8] = [
    "cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "devices", "blkio",
];

/// The v2 controllers berth enables through cgroup.subtree_control. Freezing (cgroup.freeze),
/// killing (cgroup.kill) and cpu.stat are part of the v2 core and need no controller.
pub const V2_CONTROLLERS: [&str; 5] = ["cpu", "cpuset", "memory", "pids", "io"];

/// How the host arranges its cgroup hierarchies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Only v1 hierarchies, one per controller or co-mounted.
    V1,
    /// One cgroup2 hierarchy holding every controller.
    V2,
    /// v1 hierarchies for the controllers plus a cgroup2 hierarchy (usually
    /// /sys/fs/cgroup/unified) that holds few or no controllers.
    Hybrid,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::V1 => "v1",
            Layout::V2 => "v2",
            Layout::Hybrid => "hybrid",
        })
    }
}

/// One mounted v1 hierarchy: its mount point and the controllers bound to it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct V1Hierarchy {
    pub mount_point: PathBuf,
    pub controllers: Vec<String>,
}

/// The cgroup mounts of a host, the "filesystem root" every operation works under. Built from
/// the real mount table, or from sample text over a temporary tree in tests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MountTable {
    pub v1: Vec<V1Hierarchy>,
    /// The cgroup2 mount point, if any.
    pub v2: Option<PathBuf>,
    /// Controllers the cgroup2 root offers (its cgroup.controllers), empty without cgroup2.
    pub v2_controllers: Vec<String>,
}

impl MountTable {
    /// The host's table (/proc/self/mountinfo and the cgroup2 root's cgroup.controllers),
    /// read again only when the mount table changed since the last read.
    /// mountinfo is pollable (proc(5): a mount or unmount in the process's mount namespace
    /// raises POLLPRI on an open descriptor of it, and the poll clears it), so a process that
    /// asks often pays one poll(2) instead of rendering, reading and parsing the whole table
    /// and cgroup.controllers (~0.2-0.4 ms, several times per container start and removal).
    pub fn host() -> Result<MountTable> {
        static CACHE: Mutex<Option<(File, MountTable)>> = Mutex::new(None);
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((file, table)) = cache.as_ref() {
            if !changed_since_read(file) {
                return Ok(table.clone());
            }
        }
        let path = Path::new("/proc/self/mountinfo");
        let err = |source| CgroupError::MountTable {
            path: path.to_path_buf(),
            source,
        };
        // Opened before it is read: a change between the two shows at the next poll.
        let mut file = File::open(path).map_err(err)?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(err)?;
        let table = MountTable::from_mountinfo(&text)?;
        *cache = Some((file, table.clone()));
        Ok(table)
    }

    /// Parses mountinfo text, then reads cgroup.controllers under the cgroup2 mount point it
    /// names (which in tests is a temporary directory).
    pub fn from_mountinfo(text: &str) -> Result<MountTable> {
        let mut table = parse_mountinfo(text);
        if let Some(root) = &table.v2 {
            // A missing file means cgroup2 without controllers (old kernels): not an error.
            let controllers =
                fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
            table.v2_controllers = controllers.split_whitespace().map(str::to_string).collect();
        }
        Ok(table)
    }

    /// The layout this table describes. A v1 mount counts only if it carries a real
    /// controller: the name=systemd tracking hierarchy does not make a host v1.
    pub fn layout(&self) -> Result<Layout> {
        let has_v1 = self
            .v1
            .iter()
            .any(|h| h.controllers.iter().any(|c| !c.starts_with("name=")));
        match (has_v1, self.v2.is_some()) {
            (true, true) => Ok(Layout::Hybrid),
            (true, false) => Ok(Layout::V1),
            (false, true) => Ok(Layout::V2),
            (false, false) => Err(CgroupError::NotMounted),
        }
    }

    /// The mount point of the v1 hierarchy carrying `controller`, if it is on v1.
    pub fn v1_mount(&self, controller: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
            .map(|h| h.mount_point.as_path())
    }

    /// Whether `controller` is offered by the cgroup2 hierarchy and not taken by v1 (a
    /// controller can be bound to only one hierarchy at a time).
    pub fn on_v2(&self, controller: &str) -> bool {
        self.v1_mount(controller).is_none() && self.v2_controllers.iter().any(|c| c == controller)
    }
}

/// Whether the mount table of `file` (an open mountinfo) changed since it was opened or last
/// polled. A poll that fails counts as a change: the caller reads the table again.
pub(super) fn changed_since_read(file: &File) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLPRI)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(0) => false,
        Ok(_) => true,
        Err(_) => true,
    }
}

/// Parses the cgroup and cgroup2 lines of mountinfo (proc(5)): fields are
/// `id parent major:minor root mount-point options [optional...] - fstype source super-options`.
/// When a hierarchy is mounted twice (bind mounts), the first mount wins.
fn parse_mountinfo(text: &str) -> MountTable {
    let mut table = MountTable {
        v1: Vec::new(),
        v2: None,
        v2_controllers: Vec::new(),
    };
    for line in text.lines() {
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount_point) = before.split_whitespace().nth(4) else {
            continue;
        };
        let mut after = after.split_whitespace();
        let (Some(fstype), _source, super_options) = (after.next(), after.next(), after.next())
        else {
            continue;
        };
        let mount_point = PathBuf::from(unescape(mount_point));
        match fstype {
            "cgroup2" if table.v2.is_none() => table.v2 = Some(mount_point),
            "cgroup" => {
                let controllers: Vec<String> = super_options
                    .unwrap_or("")
                    .split(',')
                    .filter(|o| {
                        V1_CONTROLLERS.contains(o)
                            || o.starts_with("name=")
                            || is_other_v1_controller(o)
                    })
                    .map(str::to_string)
                    .collect();
                let seen = controllers
                    .iter()
                    .any(|c| table.v1.iter().any(|h| h.controllers.contains(c)));
                if !controllers.is_empty() && !seen {
                    table.v1.push(V1Hierarchy {
                        mount_point,
                        controllers,
                    });
                }
            }
            _ => {}
        }
    }
    table
}

/// v1 controllers berth does not manage but that still make a host count as v1.
fn is_other_v1_controller(option: &str) -> bool {
    matches!(
        option,
        "net_cls" | "net_prio" | "perf_event" | "hugetlb" | "rdma" | "misc"
    )
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            out.push(value as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
pub(crate) mod samples {
    /// This development host: v1 with cpu and cpuacct on separate mounts, cgroup2 at unified.
    pub const HYBRID_SPLIT: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// A classic systemd v1 host: cpu and cpuacct co-mounted, with symlinks beside them.
    pub const V1_COMOUNTED: &str = "\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,pids
33 25 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpuset
34 25 0:31 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,freezer
35 25 0:32 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,devices
";

    /// A modern systemd host: one cgroup2 mount.
    pub const V2_ONLY: &str = "\
22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/root rw
26 23 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";
}

#[cfg(test)]
mod tests {
    use super::samples::*;
    use super::*;

    #[test]
    fn hybrid_with_split_cpu_and_cpuacct() {
        let t = MountTable::from_mountinfo(HYBRID_SPLIT).unwrap();
        assert_eq!(t.layout().unwrap(), Layout::Hybrid);
        assert_eq!(t.v1_mount("cpu"), Some(Path::new("/sys/fs/cgroup/cpu")));
        assert_eq!(
            t.v1_mount("cpuacct"),
            Some(Path::new("/sys/fs/cgroup/cpuacct"))
        );
        assert_eq!(
            t.v1_mount("memory"),
            Some(Path::new("/sys/fs/cgroup/memory"))
        );
        assert_eq!(t.v2.as_deref(), Some(Path::new("/sys/fs/cgroup/unified")));
        assert!(!t.on_v2("memory"));
    }

    #[test]
    fn v1_with_comounted_cpu_cpuacct() {
        let t = MountTable::from_mountinfo(V1_COMOUNTED).unwrap();
        assert_eq!(t.layout().unwrap(), Layout::V1);
        let both = Path::new("/sys/fs/cgroup/cpu,cpuacct");
        assert_eq!(t.v1_mount("cpu"), Some(both));
        assert_eq!(t.v1_mount("cpuacct"), Some(both));
        assert!(t.v2.is_none());
    }

    #[test]
    fn v2_only() {
        let t = MountTable::from_mountinfo(V2_ONLY).unwrap();
        assert_eq!(t.layout().unwrap(), Layout::V2);
        assert_eq!(t.v2.as_deref(), Some(Path::new("/sys/fs/cgroup")));
        assert!(t.v1.is_empty());
    }

    #[test]
    fn nothing_mounted_is_an_error() {
        let t = MountTable::from_mountinfo("22 1 259:1 / / rw - ext4 /dev/root rw\n").unwrap();
        assert!(matches!(t.layout(), Err(CgroupError::NotMounted)));
    }

    #[test]
    fn systemd_name_hierarchy_alone_is_not_v1() {
        let text = "27 25 0:24 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n\
                    26 23 0:23 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        let t = MountTable::from_mountinfo(text).unwrap();
        assert_eq!(t.layout().unwrap(), Layout::V2);
    }

    #[test]
    fn escaped_mount_points_and_duplicate_mounts() {
        let text = "30 25 0:27 / /tmp/cg\\040root/memory rw - cgroup cgroup rw,memory\n\
                    31 25 0:27 / /elsewhere/memory rw - cgroup cgroup rw,memory\n";
        let t = MountTable::from_mountinfo(text).unwrap();
        assert_eq!(t.v1.len(), 1);
        assert_eq!(t.v1_mount("memory"), Some(Path::new("/tmp/cg root/memory")));
    }

    #[test]
    fn layout_displays_lowercase() {
        assert_eq!(Layout::V1.to_string(), "v1");
        assert_eq!(Layout::V2.to_string(), "v2");
        assert_eq!(Layout::Hybrid.to_string(), "hybrid");
    }
}
