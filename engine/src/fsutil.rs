//! Small filesystem helpers every record writer uses.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Writes `data` to `path` so that a crash at any point leaves either the old or the new
/// content, never a torn file: write a temporary sibling, fsync it, rename over, fsync the dir.
pub fn atomic_write(path: &Path, data: &[u8]) -> io::Result<()> {
    replace(path, data, 0o666, true)
}

/// [`atomic_write`] with the file created as `mode` (before the umask): secrets use 0o600,
/// so the content is never readable by others, not even for a moment.
pub fn atomic_write_mode(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    replace(path, data, mode, true)
}

/// As [`atomic_write`] without the fsyncs: readers and a killed process still see the old or
/// the new content whole (rename(2) is atomic), but a crash of the host may lose the write.
/// Only for records that mean nothing after a host crash: those describing live processes
/// (pids, start times; the processes die with the host), files rewritten before each use
/// (a container's runtime spec), and records of containers removed when they exit. Each
/// fsync here costs a journal commit (0.5 ms idle, tens of ms while the disk is busy).
pub fn replace_file(path: &Path, data: &[u8]) -> io::Result<()> {
    replace(path, data, 0o666, false)
}

fn replace(path: &Path, data: &[u8], mode: u32, durable: bool) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("record");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    // A leftover of a crashed writer with the same pid would keep its old mode.
    let _ = fs::remove_file(&tmp);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
    }
    fs::rename(&tmp, path)?;
    if durable {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Serializes `value` as JSON and writes it atomically. Compact: these records are read by
/// programs, and a container's are written at every create and start.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let data = serde_json::to_vec(value).map_err(io::Error::other)?;
    atomic_write(path, &data)
}

/// Serializes `value` as (compact) JSON and writes it with [`replace_file`] (atomic, not
/// durable).
pub fn replace_json<T: serde::Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let data = serde_json::to_vec(value).map_err(io::Error::other)?;
    replace_file(path, &data)
}

/// Reads a JSON record written by [`write_json`].
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> io::Result<T> {
    let data = fs::read(path)?;
    serde_json::from_slice(&data).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Docker's rule for container and volume names, `[a-zA-Z0-9][a-zA-Z0-9_.-]*`: also what
/// keeps a name usable as one path component (no `/`, no `..`).
pub fn is_valid_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// A new random 64-hex-digit identifier, as Docker's container and network ids.
pub fn new_id() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the kernel's random source is available");
    hex::encode(bytes)
}

/// An I/O error as a user reads it: the system's wording in lowercase without the
/// "(os error N)" suffix, as Go programs print errno (`no space left on device`), so that
/// berth's messages read like Docker's.
pub fn io_error_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let desc = nix::errno::Errno::from_raw(code).desc();
            let mut chars = desc.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => e.to_string(),
            }
        }
        None => e.to_string(),
    }
}

/// Reads `f` whole from offset 0 with pread(2), whatever was read from it before. A kernel
/// file generated on read (seq_file: cgroup control files, /proc) is generated anew, so one
/// kept open can be read again and again without being reopened.
pub fn read_whole_at(f: &std::fs::File) -> std::io::Result<Vec<u8>> {
    read_from_start(f, false)
}

/// [`read_whole_at`] for a file the kernel hands out as one seq_file record: a cgroup control
/// file other than the task lists (cgroup.procs, tasks, cgroup.threads). The record is
/// generated whole and copied out as far as the buffer goes, so a read shorter than the
/// buffer has all of it, and the read that would return 0 is not made: it was half of a
/// metrics scrape's syscalls.
pub fn read_record_at(f: &std::fs::File) -> std::io::Result<Vec<u8>> {
    read_from_start(f, true)
}

/// Reads from offset 0 in 4 KiB preads to the end (a read of 0), or to the first short read;
/// the buffer is sized to what was read (control files are a few bytes to a few KiB).
fn read_from_start(f: &std::fs::File, short_read_ends: bool) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = f.read_at(&mut chunk, buf.len() as u64)?;
        buf.extend_from_slice(&chunk[..n]);
        if n == 0 || (short_read_ends && n < chunk.len()) {
            return Ok(buf);
        }
    }
}

/// ext4's "top of directory hierarchies" flag (`chattr +T`), from linux/fs.h.
const FS_TOPDIR_FL: libc::c_int = 0x0002_0000;

/// Marks `dir` (made if missing) as the top of directory hierarchies for ext4's Orlov
/// allocator (`chattr +T`), or clears the mark (`top` false): the subdirectories of a marked
/// directory are spread over the file system's block groups, as the root's are, instead of
/// kept in its own group. A container directory is such a hierarchy, made and deleted whole.
/// Packed into one group, every file created in any of them had to skip that group's
/// recently freed inodes (ext4 without a journal reuses none freed in the last 30 s,
/// checking each one), which made a create cost 50-70 µs instead of 15-25 here once a few
/// stacks had come and gone. The price is the mkdir itself: a group picked at random, whose
/// bitmaps are often not in memory (0.2-1 ms to read them). Other file systems refuse the
/// flag or ignore it; that is not an error.
pub fn set_top_directory(dir: &Path, top: bool) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    fs::create_dir_all(dir)?;
    let f = File::open(dir)?;
    let mut flags: libc::c_int = 0;
    // SAFETY: both ioctls read or write one int through a pointer to ours, on an fd we own.
    let got = unsafe { libc::ioctl(f.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) };
    if got != 0 || (flags & FS_TOPDIR_FL != 0) == top {
        return Ok(());
    }
    flags ^= FS_TOPDIR_FL;
    // SAFETY: as above.
    unsafe { libc::ioctl(f.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_as_docker_prints_them() {
        let e = io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(io_error_text(&e), "no space left on device");
        let custom = io::Error::other("Custom text");
        assert_eq!(io_error_text(&custom), "Custom text");
    }

    #[test]
    fn atomic_write_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rec.json");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn replace_file_replaces_content_without_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("shim.json");
        replace_file(&p, b"one").unwrap();
        replace_file(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn whole_and_record_reads_start_at_zero_and_read_past_one_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let long: Vec<u8> = (0..10_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        fs::write(&p, &long).unwrap();
        let f = fs::File::open(&p).unwrap();
        assert_eq!(read_whole_at(&f).unwrap(), long);
        assert_eq!(read_record_at(&f).unwrap(), long, "full reads go on");
        fs::write(&p, b"12\n").unwrap();
        assert_eq!(read_record_at(&f).unwrap(), b"12\n");
        assert_eq!(read_whole_at(&f).unwrap(), b"12\n");
    }

    #[test]
    fn ids_are_unique_hex() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
