//! The container's own cgroup as it sees it under /sys/fs/cgroup.
//!
//! Docker shows every container its cgroup, read-only unless privileged: runtimes (Java, Go,
//! .NET, Node), nginx, postgres and monitoring agents size themselves from the limits there.
//! Each hierarchy the container has a directory in is shown with that directory as its root:
//! a v1 hierarchy at /sys/fs/cgroup/<its mount name> (co-mounted ones with the host's links,
//! e.g. cpu -> cpu,cpuacct), a hybrid host's cgroup2 at /sys/fs/cgroup/unified, a pure v2
//! host's cgroup2 as /sys/fs/cgroup itself. Inside the container's cgroup namespace (rooted at
//! the same directories) /proc/self/cgroup and mountinfo then both say "/", as they do in a
//! Docker container (runc with a private cgroup namespace).

use std::fs;
use std::path::{Path, PathBuf};

use super::Cgroup;

/// Where the hierarchies are mounted on a standard host, and where the container sees them.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// One directory of the container's cgroup and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewMount {
    /// The container's directory on the host.
    pub source: PathBuf,
    /// Relative to /sys/fs/cgroup; empty for /sys/fs/cgroup itself (cgroup2 on a v2 host).
    pub target: PathBuf,
}

/// What the container sees under /sys/fs/cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct View {
    pub mounts: Vec<ViewMount>,
    /// Links next to the mounts (name, link text), as the host has them for co-mounted
    /// hierarchies (`cpu -> cpu,cpuacct`).
    pub links: Vec<(PathBuf, PathBuf)>,
}

impl View {
    /// Whether /sys/fs/cgroup is itself the one mount (pure v2): no tmpfs is needed to hold
    /// mount points.
    pub fn is_single_root(&self) -> bool {
        self.mounts.len() == 1 && self.mounts[0].target.as_os_str().is_empty()
    }
}

impl Cgroup {
    /// The container's view of its cgroup (see the module documentation).
    pub fn view(&self) -> View {
        self.view_in(Path::new(CGROUP_ROOT))
    }

    /// [`Cgroup::view`] for hierarchies mounted under `root` (a temporary tree in tests).
    pub(super) fn view_in(&self, root: &Path) -> View {
        let mut view = View::default();
        for (mount_point, dir) in &self.hierarchies {
            let target = match mount_point.strip_prefix(root) {
                Ok(rel) => rel.to_path_buf(),
                // A hierarchy mounted elsewhere (/cgroup/memory) shows under its own name.
                Err(_) => mount_point
                    .file_name()
                    .map(PathBuf::from)
                    .unwrap_or_default(),
            };
            view.mounts.push(ViewMount {
                source: dir.clone(),
                target,
            });
        }
        if view.is_single_root() {
            return view;
        }
        // The host's links whose target is one of the shown hierarchies.
        for entry in fs::read_dir(root).into_iter().flatten().flatten() {
            let Ok(link) = fs::read_link(entry.path()) else {
                continue;
            };
            if view.mounts.iter().any(|m| m.target == link) {
                view.links.push((PathBuf::from(entry.file_name()), link));
            }
        }
        view.links.sort();
        view
    }
}
