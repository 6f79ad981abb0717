//! Watches a stack's files and wakes its reconcile loop when one of them changes.
//!
//! The directories holding the files are watched, not the files: editors replace a file by
//! writing a temp file and renaming it over the original (vim, VS Code) or delete and create
//! it, and a watch on the old inode would go quiet after the first save. Events for other
//! names in those directories are ignored, and so are opens and reads (the loop's own reload
//! reads the files, which must not wake it again).
//!
//! Build contexts are watched whole (recursively): a saved Dockerfile or source file there
//! wakes the loop, whose pass rebuilds (from the cache, so only what changed runs).

use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind, RenameMode};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// A burst of file events (an editor's truncate+write, temp file+rename) settles this long
/// before the stack is reloaded, while the writer may still be writing.
const QUIET: Duration = Duration::from_millis(40);
/// The same once the last event finished a file (closed after writing, renamed into place):
/// only a save touching several files at once still has events to come.
const QUIET_AFTER_SAVE: Duration = Duration::from_millis(5);
/// A stream of events that never settles is reloaded after this long anyway.
const MAX_DEBOUNCE: Duration = Duration::from_millis(500);

/// What wakes a stack's reconcile loop: any reason to look again, and for file events,
/// whether the last one finished a save.
#[derive(Default)]
pub struct Wake {
    notify: Notify,
    saved: AtomicBool,
}

impl Wake {
    /// Wakes the loop for a reason other than a file (a lost container, `up`, `down`).
    pub fn poke(&self) {
        self.saved.store(true, Ordering::Relaxed);
        self.notify.notify_one();
    }

    fn file_event(&self, kind: &EventKind) {
        if let Some(done) = save_state(kind) {
            self.saved.store(done, Ordering::Relaxed);
        }
        self.notify.notify_one();
    }

    pub async fn notified(&self) {
        self.notify.notified().await
    }

    /// Waits until wake-ups stop arriving (QUIET, or QUIET_AFTER_SAVE after a finished save;
    /// at most MAX_DEBOUNCE in all).
    pub async fn settle(&self) {
        let until = tokio::time::Instant::now() + MAX_DEBOUNCE;
        while tokio::time::Instant::now() < until {
            let quiet = match self.saved.load(Ordering::Relaxed) {
                true => QUIET_AFTER_SAVE,
                false => QUIET,
            };
            if tokio::time::timeout(quiet, self.notify.notified())
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

/// Whether an event finishes a save (Some(true)), leaves a file mid-write (Some(false)), or
/// says nothing about it (None: attributes changed).
fn save_state(kind: &EventKind) -> Option<bool> {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Some(true),
        EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)) => Some(true),
        EventKind::Modify(ModifyKind::Metadata(_)) => None,
        _ => Some(false),
    }
}

pub struct FileWatch {
    files: Vec<PathBuf>,
    trees: Vec<PathBuf>,
    // Dropping the watcher ends its thread and its inotify instance.
    _watcher: RecommendedWatcher,
}

impl FileWatch {
    pub fn new(
        files: Vec<PathBuf>,
        trees: Vec<PathBuf>,
        wake: Arc<Wake>,
    ) -> notify::Result<FileWatch> {
        let names: BTreeSet<PathBuf> = files.iter().cloned().collect();
        let roots = trees.clone();
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                let Ok(event) = res else {
                    // An overflowed queue lost events: reload to be sure.
                    wake.poke();
                    return;
                };
                if !changes_content(&event.kind) {
                    return;
                }
                let relevant =
                    |p: &PathBuf| names.contains(p) || roots.iter().any(|r| p.starts_with(r));
                if event.need_rescan() || event.paths.iter().any(relevant) {
                    wake.file_event(&event.kind);
                }
            })?;
        let dirs: BTreeSet<&Path> = files.iter().filter_map(|f| f.parent()).collect();
        for dir in dirs {
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
        }
        for tree in &trees {
            watcher.watch(tree, RecursiveMode::Recursive)?;
        }
        Ok(FileWatch {
            files,
            trees,
            _watcher: watcher,
        })
    }

    /// What it watches: the files, and the trees watched whole.
    pub fn watches(&self) -> (&[PathBuf], &[PathBuf]) {
        (&self.files, &self.trees)
    }
}

fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn woken(wake: &Wake) -> bool {
        tokio::time::timeout(Duration::from_secs(2), wake.notified())
            .await
            .is_ok()
    }

    async fn quiet(wake: &Wake) -> bool {
        tokio::time::timeout(Duration::from_millis(300), wake.notified())
            .await
            .is_err()
    }

    #[tokio::test]
    async fn every_save_pattern_wakes_and_reads_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("compose.yaml");
        std::fs::write(&file, "a").unwrap();
        let wake = Arc::new(Wake::default());
        let _w = FileWatch::new(vec![file.clone()], Vec::new(), wake.clone()).unwrap();

        std::fs::read_to_string(&file).unwrap();
        std::fs::write(dir.path().join("other.txt"), "x").unwrap();
        assert!(quiet(&wake).await, "a read or another file woke the loop");

        // In place (truncate + write).
        std::fs::write(&file, "b").unwrap();
        assert!(woken(&wake).await);
        // Temp file + rename, as vim and VS Code save.
        let tmp = dir.path().join(".compose.yaml.swp");
        std::fs::write(&tmp, "c").unwrap();
        let _ = quiet(&wake).await;
        std::fs::rename(&tmp, &file).unwrap();
        assert!(woken(&wake).await);
        // Delete, then create.
        std::fs::remove_file(&file).unwrap();
        assert!(woken(&wake).await);
        std::fs::write(&file, "d").unwrap();
        assert!(woken(&wake).await);
        // Still watched after all that.
        let _ = quiet(&wake).await;
        std::fs::write(&file, "e").unwrap();
        assert!(woken(&wake).await);
    }
}
