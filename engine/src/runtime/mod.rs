//! The container runtime: the shim process and what its forked child does to become a
//! container (namespaces, overlay root, pivot_root, /proc /sys /dev, capabilities, user, exec).

pub mod attach;
pub mod caps;
pub mod exec;
mod fork;
pub mod fscopy;
mod init;
pub mod logs;
pub mod procinfo;
pub mod rootfs;
pub mod sealed;
pub mod shim;
pub mod shim_lock;
pub mod spec;
mod sync;
pub mod terminal;
mod tty;
pub mod user;

/// The PATH a container gets when neither its image nor the user sets one (Docker's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
