//! Watches a stack's files and wakes its reconcile loop when one of them changes.
//!
//! The directories holding the files are watched, not the files: editors replace a file by
//! writing a temp file and renaming it over the original (vim, VS Code) or delete and create
//! it, and a watch on the old inode would go quiet after the first save. Events for other
//! names in those directories are ignored, and so are opens and reads (the loop's own reload
//! reads the files, which must not wake it again).

use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Notify;

pub struct FileWatch {
    files: Vec<PathBuf>,
    // Dropping the watcher ends its thread and its inotify instance.
    _watcher: RecommendedWatcher,
}

impl FileWatch {
    pub fn new(files: Vec<PathBuf>, wake: Arc<Notify>) -> notify::Result<FileWatch> {
        let names: BTreeSet<PathBuf> = files.iter().cloned().collect();
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                let Ok(event) = res else {
                    // An overflowed queue lost events: reload to be sure.
                    wake.notify_one();
                    return;
                };
                if !changes_content(&event.kind) {
                    return;
                }
                if event.need_rescan() || event.paths.iter().any(|p| names.contains(p)) {
                    wake.notify_one();
                }
            })?;
        let dirs: BTreeSet<&Path> = files.iter().filter_map(|f| f.parent()).collect();
        for dir in dirs {
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
        }
        Ok(FileWatch {
            files,
            _watcher: watcher,
        })
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
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
    use std::time::Duration;

    async fn woken(wake: &Notify) -> bool {
        tokio::time::timeout(Duration::from_secs(2), wake.notified())
            .await
            .is_ok()
    }

    async fn quiet(wake: &Notify) -> bool {
        tokio::time::timeout(Duration::from_millis(300), wake.notified())
            .await
            .is_err()
    }

    #[tokio::test]
    async fn every_save_pattern_wakes_and_reads_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("compose.yaml");
        std::fs::write(&file, "a").unwrap();
        let wake = Arc::new(Notify::new());
        let _w = FileWatch::new(vec![file.clone()], wake.clone()).unwrap();

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
