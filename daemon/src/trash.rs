//! Deleting removed containers' directories in the background, at idle priority.
//!
//! A removal renames the container's directory into the trash and returns. The deletion (a
//! writable layer may be large, and every container leaves a few dozen inodes) runs on one
//! thread scheduled SCHED_IDLE, so a `down` of a hundred containers does not spend the CPU
//! it needs for stopping the last ones on deleting the first ones' files. What a crash left
//! in the trash is deleted at the next start (`Containers::restore`).

use std::path::{Path, PathBuf};
use std::sync::mpsc;

pub struct Trash {
    dir: PathBuf,
    queue: mpsc::Sender<PathBuf>,
}

impl Trash {
    /// The trash at `dir` and its deleter thread.
    pub fn new(dir: PathBuf) -> Trash {
        let (queue, doomed) = mpsc::channel::<PathBuf>();
        let spawned = std::thread::Builder::new()
            .name("trash".into())
            .spawn(move || {
                // SAFETY: sched_setscheduler on the calling thread (pid 0) with a valid param.
                let idle = unsafe {
                    let param = libc::sched_param { sched_priority: 0 };
                    libc::sched_setscheduler(0, libc::SCHED_IDLE, &param)
                };
                if idle != 0 {
                    tracing::debug!(error = %std::io::Error::last_os_error(), "trash thread at idle priority");
                }
                for path in doomed {
                    if let Err(e) = std::fs::remove_dir_all(&path) {
                        tracing::warn!(path = %path.display(), error = %e, "deleting a removed container's files");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "starting the trash thread; removed files are deleted at the next start");
        }
        Trash { dir, queue }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Moves directory `path` into the trash (one rename, whatever its size) and has it
    /// deleted soon; `name` must be unique among what the trash holds (a container id, or
    /// one with a suffix). When it cannot be moved (another file system) it is deleted in
    /// place, file `key` (what makes the directory count: the container's record) first, so
    /// a crash half-way leaves nothing that looks whole. A directory already gone (a removal
    /// that raced this one) is no error. Even a small directory is worth moving: on ext4
    /// without a journal and mounted with `discard`, as here, every freed block is discarded
    /// before unlink(2) returns.
    pub fn discard(&self, path: &Path, key: Option<&Path>, name: &str) -> std::io::Result<()> {
        let doomed = self.dir.join(name);
        let moved =
            std::fs::create_dir_all(&self.dir).and_then(|()| std::fs::rename(path, &doomed));
        match moved {
            Ok(()) => {
                // A deleter that is gone leaves it to the next start.
                let _ = self.queue.send(doomed);
                Ok(())
            }
            Err(_) => {
                if let Some(key) = key {
                    let _ = std::fs::remove_file(key);
                }
                match std::fs::remove_dir_all(path) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    other => other,
                }
            }
        }
    }
}
