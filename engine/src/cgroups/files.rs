//! Reading and writing cgroup control files, with the path in every error.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;

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

/// Writes each of `values` to `file`, in order, through one descriptor: a control file takes
/// every write(2) as one command (devices.allow takes one rule a write).
pub fn write_each(controller: &'static str, dir: &Path, file: &str, values: &[&str]) -> Result<()> {
    let path = dir.join(file);
    let err = |value: &str, source| CgroupError::Write {
        controller,
        path: path.clone(),
        value: value.to_string(),
        source,
    };
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| err(values.first().copied().unwrap_or(""), e))?;
    for value in values {
        f.write_all(value.as_bytes()).map_err(|e| err(value, e))?;
    }
    Ok(())
}

/// A directory whose control files can be read: a path, or a directory opened once.
pub trait ControlDir {
    fn path(&self) -> &Path;
    /// Opens `file` in this directory for reading.
    fn open(&self, file: &str) -> io::Result<File>;
    /// The whole content of `file`.
    fn read_all(&self, file: &str) -> io::Result<Vec<u8>> {
        crate::fsutil::read_whole_at(&self.open(file)?)
    }
}

impl ControlDir for Path {
    fn path(&self) -> &Path {
        self
    }
    fn open(&self, file: &str) -> io::Result<File> {
        File::open(self.join(file))
    }
}

impl ControlDir for PathBuf {
    fn path(&self) -> &Path {
        self
    }
    fn open(&self, file: &str) -> io::Result<File> {
        self.as_path().open(file)
    }
}

/// A control directory held open, so that reading one of its files resolves one name instead
/// of walking the whole /sys/fs/cgroup/... path again: a metrics scrape reads hundreds of
/// them. The fd keeps naming the same directory; once the cgroup is removed, opens fail.
/// Its files are read as single seq_file records (see [`crate::fsutil::read_record_at`]):
/// every stats file is one; the task lists (cgroup.procs, tasks) are not, and are not read
/// through it.
#[derive(Debug)]
pub struct OpenDir {
    path: PathBuf,
    fd: OwnedFd,
    /// The stats files read so far, kept open by their slot in [`STATS_FILES`]: a control
    /// file read again from offset 0 is generated anew (seq_file), and a scrape of many
    /// containers then spends no time on path lookups, opens and closes (most of its system
    /// time before). An array, not a map: a scrape looks up ~800 files from cold caches.
    files: std::sync::Mutex<[Option<KeptFile>; STATS_FILES.len()]>,
}

/// The control files stats are read from (stats.rs), v1 and v2; an [`OpenDir`] keeps these
/// open, any other file is opened for each read.
const STATS_FILES: [&str; 13] = [
    "cpuacct.usage",
    "cpuacct.stat",
    "cpu.stat",
    "memory.usage_in_bytes",
    "memory.stat",
    "memory.limit_in_bytes",
    "memory.oom_control",
    "memory.current",
    "memory.events",
    "memory.max",
    "pids.current",
    "blkio.throttle.io_service_bytes_recursive",
    "io.stat",
];

/// A control file kept open, counted against a share of the open-file limit: a daemon on a
/// host whose limit is 1024 must not spend it all on cached reads.
#[derive(Debug)]
struct KeptFile(File);

static KEPT_FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl KeptFile {
    /// Keeps `f` if the budget (a quarter of RLIMIT_NOFILE's soft limit) allows; else hands it
    /// back to be read once and closed.
    fn keep(f: File) -> std::result::Result<KeptFile, File> {
        use std::sync::atomic::Ordering::Relaxed;
        static BUDGET: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        let budget = *BUDGET.get_or_init(|| {
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                .map(|(soft, _)| (soft / 4) as usize)
                .unwrap_or(256)
        });
        match KEPT_FILES.fetch_update(Relaxed, Relaxed, |n| (n < budget).then_some(n + 1)) {
            Ok(_) => Ok(KeptFile(f)),
            Err(_) => Err(f),
        }
    }
}

impl Drop for KeptFile {
    fn drop(&mut self) {
        KEPT_FILES.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl OpenDir {
    pub fn open(path: &Path) -> Result<OpenDir> {
        let fd = openat(
            None,
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| CgroupError::Read {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        // SAFETY: openat just returned this fd and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(OpenDir {
            path: path.to_path_buf(),
            fd,
            files: Default::default(),
        })
    }
}

impl ControlDir for OpenDir {
    fn path(&self) -> &Path {
        &self.path
    }
    fn open(&self, file: &str) -> io::Result<File> {
        let fd = openat(
            Some(self.fd.as_raw_fd()),
            file,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        // SAFETY: openat just returned this fd and nothing else owns it.
        Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn read_all(&self, file: &str) -> io::Result<Vec<u8>> {
        let Some(slot) = STATS_FILES.iter().position(|f| *f == file) else {
            return crate::fsutil::read_record_at(&self.open(file)?);
        };
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let kept = match &mut files[slot] {
            Some(kept) => kept,
            empty => match KeptFile::keep(self.open(file)?) {
                Ok(kept) => empty.insert(kept),
                Err(f) => return crate::fsutil::read_record_at(&f),
            },
        };
        let read = crate::fsutil::read_record_at(&kept.0);
        if read.is_err() {
            // Gone with its cgroup (ENODEV): the next read opens it again, and fails the same
            // way if the directory is gone too.
            files[slot] = None;
        }
        read
    }
}

/// Reads the whole control file `dir/file` as text. Plain reads into one buffer: control
/// files report a size of 4096 or 0, so the stat that fs::read_to_string makes for a size hint
/// only costs a syscall.
pub fn read(dir: &(impl ControlDir + ?Sized), file: &str) -> Result<String> {
    let read = || -> io::Result<String> {
        let buf = dir.read_all(file)?;
        String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    };
    read().map_err(|source| CgroupError::Read {
        path: dir.path().join(file),
        source,
    })
}

/// Reads a control file holding a single number.
pub fn read_u64(dir: &(impl ControlDir + ?Sized), file: &str) -> Result<u64> {
    let text = read(dir, file)?;
    parse_u64(dir, file, text.trim())
}

/// Reads a v2 limit file holding a number or "max"; "max" means unlimited (None).
pub fn read_max(dir: &(impl ControlDir + ?Sized), file: &str) -> Result<Option<u64>> {
    let text = read(dir, file)?;
    match text.trim() {
        "max" => Ok(None),
        n => parse_u64(dir, file, n).map(Some),
    }
}

/// Reads a flat keyed file ("key value" per line: memory.stat, cpu.stat, memory.events,
/// cpuacct.stat, memory.oom_control) into a map; lines that do not parse are skipped because
/// kernels add keys over time and some values are not numbers.
pub fn read_keyed(dir: &(impl ControlDir + ?Sized), file: &str) -> Result<HashMap<String, u64>> {
    Ok(parse_keyed(&read(dir, file)?))
}

/// The value of `key` in flat keyed text (see [`read_keyed`]), found without building the
/// map: stats look up two of memory.stat's ~40 keys per container and scrape.
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    // A substring search for the key, then a look at where it is: faster than splitting
    // every line, and the kernel writes each key at the start of its line.
    let mut from = 0;
    loop {
        let at = from + text[from..].find(key)?;
        let rest = &text[at + key.len()..];
        let starts_line = at == 0 || text.as_bytes()[at - 1] == b'\n';
        if starts_line && rest.starts_with([' ', '\t']) {
            let value = rest.lines().next()?.split_whitespace().next()?;
            return value.parse().ok();
        }
        from = at + key.len();
    }
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

/// `text` of `dir/file` as a number; the path is joined only for the error (a scrape reads
/// hundreds of numbers).
fn parse_u64(dir: &(impl ControlDir + ?Sized), file: &str, text: &str) -> Result<u64> {
    text.parse().map_err(|_| CgroupError::Parse {
        path: dir.path().join(file),
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
        let text = "user 10\nsystem 20\nbroken\nname text\nuser_extra 3\n";
        assert_eq!(keyed(text, "system"), Some(20));
        assert_eq!(keyed(text, "user"), Some(10));
        assert_eq!(keyed(text, "name"), None, "not a number");
        assert_eq!(keyed(text, "use"), None, "a prefix is not a key");
        assert_eq!(keyed(text, "missing"), None);
        let stat = "rss_huge 1\ntotal_rss_huge 2\nrss 3\ntotal_rss 4\nempty \nnext 5\n";
        assert_eq!(keyed(stat, "total_rss"), Some(4), "not total_rss_huge");
        assert_eq!(keyed(stat, "rss"), Some(3), "at a line's start only");
        assert_eq!(keyed(stat, "empty"), None, "a value is on the key's line");
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
    fn open_dir_reads_like_a_path_and_names_the_file_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("cpu.stat"), "usage_usec 7\nuser_usec 5\n").unwrap();
        let open = OpenDir::open(dir.path()).unwrap();
        assert_eq!(
            read_keyed(&open, "cpu.stat").unwrap(),
            read_keyed(dir.path(), "cpu.stat").unwrap()
        );
        // A kept file is read from the start again, showing what the file holds now.
        fs::write(dir.path().join("cpu.stat"), "usage_usec 9\n").unwrap();
        assert_eq!(read(&open, "cpu.stat").unwrap(), "usage_usec 9\n");
        // A file stats do not read is not kept, and reads all the same.
        fs::write(dir.path().join("cgroup.type"), "domain\n").unwrap();
        assert_eq!(read(&open, "cgroup.type").unwrap(), "domain\n");
        let err = read_u64(&open, "pids.current").unwrap_err().to_string();
        assert!(
            err.contains(&*dir.path().join("pids.current").to_string_lossy()),
            "{err}"
        );
        // The fd names the directory itself: once it is gone, files not yet read fail. (A
        // file read before stays open; on cgroupfs its reads then fail too, see host_tests.)
        fs::remove_dir_all(dir.path()).unwrap();
        assert!(read(&open, "memory.stat").is_err());
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
