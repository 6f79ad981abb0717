//! Reading and writing cgroup control files, with the path in every error.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::error::{CgroupError, Result};

/// Writes `value` to the control file `dir/file`. The file is opened without O_CREAT: cgroupfs
/// only has the files its controllers provide, so a missing file means a missing controller
/// and must fail rather than silently create a regular file. O_TRUNC is what a shell's `>`
/// does and cgroupfs ignores it. The value goes out in one write(2) because the kernel parses
/// each write as one command.
pub fn write(controller: &'static str, dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    let result = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    result.map_err(|source| CgroupError::Write {
        controller,
        path,
        value: value.to_string(),
        source,
    })
}

/// Reads the whole control file `dir/file` as text.
pub fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    fs::read_to_string(&path).map_err(|source| CgroupError::Read { path, source })
}

/// Reads a control file holding a single number.
pub fn read_u64(dir: &Path, file: &str) -> Result<u64> {
    let text = read(dir, file)?;
    parse_u64(&dir.join(file), text.trim())
}

/// Reads a v2 limit file holding a number or "max"; "max" means unlimited (None).
pub fn read_max(dir: &Path, file: &str) -> Result<Option<u64>> {
    let text = read(dir, file)?;
    match text.trim() {
        "max" => Ok(None),
        n => parse_u64(&dir.join(file), n).map(Some),
    }
}

/// Reads a flat keyed file ("key value" per line: memory.stat, cpu.stat, memory.events,
/// cpuacct.stat, memory.oom_control) into a map; lines that do not parse are skipped because
/// kernels add keys over time and some values are not numbers.
pub fn read_keyed(dir: &Path, file: &str) -> Result<HashMap<String, u64>> {
    Ok(parse_keyed(&read(dir, file)?))
}

/// Parses flat keyed text; see [`read_keyed`].
pub fn parse_keyed(text: &str) -> HashMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let key = parts.next()?;
            let value = parts.next()?.parse().ok()?;
            Some((key.to_string(), value))
        })
        .collect()
}

/// Reads cgroup.procs: one pid per line.
pub fn read_pids(dir: &Path) -> Result<Vec<i32>> {
    let path = dir.join("cgroup.procs");
    let text = fs::read_to_string(&path).map_err(|source| CgroupError::Read {
        path: path.clone(),
        source,
    })?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim().parse().map_err(|_| CgroupError::Parse {
                path: path.clone(),
                reason: format!("not a pid: {l:?}"),
            })
        })
        .collect()
}

fn parse_u64(path: &Path, text: &str) -> Result<u64> {
    text.parse().map_err(|_| CgroupError::Parse {
        path: path.to_path_buf(),
        reason: format!("not a number: {text:?}"),
    })
}

/// Creates one directory level; an existing directory is fine (the parent is shared by all
/// containers, and a leaf may survive a daemon crash). Returns whether it was created here.
pub fn make_dir(path: &Path) -> Result<bool> {
    match fs::create_dir(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(CgroupError::Create {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Removes a cgroup directory, retrying briefly on EBUSY: after the last task is killed the
/// kernel drops it from the cgroup asynchronously (the exiting task may still be counted while
/// it runs its exit path), so rmdir(2) can fail for a few milliseconds. A directory that is
/// already gone counts as removed.
pub fn remove_dir(path: &Path) -> Result<()> {
    const ATTEMPTS: u32 = 200;
    for attempt in 0.. {
        match fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < ATTEMPTS => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
    unreachable!("the loop returns")
}

/// Joins validated relative cgroup names onto a hierarchy root.
pub fn join(root: &Path, parent: &str, name: &str) -> PathBuf {
    root.join(parent).join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_text_skips_junk() {
        let map = parse_keyed("user 10\nsystem 20\nbroken\nname text\n\n");
        assert_eq!(map.len(), 2);
        assert_eq!(map["user"], 10);
        assert_eq!(map["system"], 20);
    }

    #[test]
    fn write_refuses_missing_file_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = write("memory", dir.path(), "memory.max", "10").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("memory.max"), "{msg}");
        assert!(msg.contains("memory controller"), "{msg}");
        assert!(!dir.path().join("memory.max").exists());
    }

    #[test]
    fn read_max_understands_max() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("pids.max"), "max\n").unwrap();
        assert_eq!(read_max(dir.path(), "pids.max").unwrap(), None);
        fs::write(dir.path().join("pids.max"), "42\n").unwrap();
        assert_eq!(read_max(dir.path(), "pids.max").unwrap(), Some(42));
    }
}
