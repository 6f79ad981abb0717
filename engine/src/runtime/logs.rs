//! Container logs as Docker's json-file driver writes them: one JSON object a line,
//! `{"log":"...","stream":"stdout|stderr","time":"RFC 3339 nanoseconds"}`, rotated by size.

use super::spec::LogSpec;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Docker splits lines longer than this into several entries.
const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogEntry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

pub struct LogWriter {
    spec: LogSpec,
    file: File,
    size: u64,
    /// Bytes of an unfinished line per stream (stdout, stderr).
    partial: [Vec<u8>; 2],
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    PathBuf::from(format!("{}.{n}", path.display()))
}

impl LogWriter {
    pub fn open(spec: &LogSpec) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            spec: spec.clone(),
            file,
            size,
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Appends output of `stream` (1 = stdout, 2 = stderr); complete lines become entries.
    pub fn write(&mut self, stream: u8, data: &[u8]) {
        let idx = if stream == 2 { 1 } else { 0 };
        let mut buf = std::mem::take(&mut self.partial[idx]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos + 1;
            self.emit(stream, &buf[start..end]);
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            self.emit(stream, &buf[start..start + MAX_LINE]);
            start += MAX_LINE;
        }
        buf.drain(..start);
        self.partial[idx] = buf;
    }

    /// Writes out unfinished lines (at the container's exit).
    pub fn flush(&mut self) {
        for (idx, stream) in [(0, 1u8), (1, 2u8)] {
            let rest = std::mem::take(&mut self.partial[idx]);
            if !rest.is_empty() {
                self.emit(stream, &rest);
            }
        }
    }

    fn emit(&mut self, stream: u8, line: &[u8]) {
        let entry = LogEntry {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: if stream == 2 { "stderr" } else { "stdout" }.into(),
            time: now_rfc3339(),
        };
        let Ok(mut json) = serde_json::to_vec(&entry) else {
            return;
        };
        json.push(b'\n');
        if self.spec.max_size > 0
            && self.size > 0
            && self.size + json.len() as u64 > self.spec.max_size
        {
            self.rotate();
        }
        if self.file.write_all(&json).is_ok() {
            self.size += json.len() as u64;
        }
    }

    fn rotate(&mut self) {
        let keep = self.spec.max_files.max(1);
        let path = self.spec.path.clone();
        if keep == 1 {
            let _ = self.file.set_len(0);
            self.size = 0;
            return;
        }
        let _ = fs::remove_file(rotated(&path, keep - 1));
        for n in (1..keep - 1).rev() {
            let _ = fs::rename(rotated(&path, n), rotated(&path, n + 1));
        }
        let _ = fs::rename(&path, rotated(&path, 1));
        if let Ok(f) = OpenOptions::new().create(true).append(true).open(&path) {
            self.file = f;
            self.size = 0;
        }
    }
}

/// Every log file of a container, oldest first.
pub fn log_files(path: &Path) -> Vec<PathBuf> {
    let mut files: Vec<(u32, PathBuf)> = (1..100)
        .map(|n| (n, rotated(path, n)))
        .filter(|(_, p)| p.exists())
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    let mut out: Vec<PathBuf> = files.into_iter().map(|(_, p)| p).collect();
    out.push(path.to_path_buf());
    out
}

fn parse_lines(r: impl Read, out: &mut Vec<LogEntry>) {
    for line in BufReader::new(r).lines().map_while(Result::ok) {
        if let Ok(e) = serde_json::from_str::<LogEntry>(&line) {
            out.push(e);
        }
    }
}

/// All entries, or the last `tail` of them.
pub fn read_all(path: &Path, tail: Option<usize>) -> Vec<LogEntry> {
    let mut entries = Vec::new();
    for f in log_files(path) {
        if let Ok(file) = File::open(&f) {
            parse_lines(file, &mut entries);
        }
    }
    if let Some(n) = tail {
        let skip = entries.len().saturating_sub(n);
        entries.drain(..skip);
    }
    entries
}

/// Follows the current log file from its end, across rotations, for `logs -f`.
pub struct LogFollower {
    path: PathBuf,
    file: Option<File>,
    inode: u64,
    pending: Vec<u8>,
}

impl LogFollower {
    /// Starts at the current end of the file (callers print the existing entries first).
    pub fn at_end(path: &Path) -> Self {
        let mut file = File::open(path).ok();
        let inode = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| m.ino())
            .unwrap_or(0);
        if let Some(f) = file.as_mut() {
            let _ = f.seek(SeekFrom::End(0));
        }
        LogFollower {
            path: path.to_path_buf(),
            file,
            inode,
            pending: Vec::new(),
        }
    }

    /// Entries written since the last call.
    pub fn poll(&mut self) -> Vec<LogEntry> {
        let mut out = Vec::new();
        self.drain(&mut out);
        let current = fs::metadata(&self.path).map(|m| m.ino()).unwrap_or(0);
        if current != 0 && current != self.inode {
            // Rotated: what was left in the old file was just read; continue with the new one.
            self.file = File::open(&self.path).ok();
            self.inode = current;
            self.pending.clear();
            self.drain(&mut out);
        }
        out
    }

    fn drain(&mut self, out: &mut Vec<LogEntry>) {
        let Some(f) = self.file.as_mut() else {
            self.file = File::open(&self.path).ok();
            self.inode = fs::metadata(&self.path).map(|m| m.ino()).unwrap_or(0);
            return;
        };
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return;
        }
        self.pending.extend_from_slice(&buf);
        if let Some(last_nl) = self.pending.iter().rposition(|&b| b == b'\n') {
            let complete: Vec<u8> = self.pending.drain(..=last_nl).collect();
            parse_lines(&complete[..], out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &Path, max_size: u64, max_files: u32) -> LogSpec {
        LogSpec {
            path: dir.join("c-json.log"),
            max_size,
            max_files,
        }
    }

    #[test]
    fn lines_partial_and_streams() {
        let dir = tempfile::tempdir().unwrap();
        let s = spec(dir.path(), 0, 1);
        let mut w = LogWriter::open(&s).unwrap();
        w.write(1, b"hel");
        w.write(1, b"lo\nwor");
        w.write(2, b"oops\n");
        w.flush();
        let e = read_all(&s.path, None);
        let got: Vec<(&str, &str)> = e
            .iter()
            .map(|e| (e.log.as_str(), e.stream.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("hello\n", "stdout"),
                ("oops\n", "stderr"),
                ("wor", "stdout")
            ]
        );
        assert_eq!(read_all(&s.path, Some(1)).len(), 1);
    }

    #[test]
    fn rotation_keeps_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let s = spec(dir.path(), 200, 3);
        let mut w = LogWriter::open(&s).unwrap();
        for i in 0..50 {
            w.write(1, format!("line {i}\n").as_bytes());
        }
        assert_eq!(log_files(&s.path).len(), 3);
        let all = read_all(&s.path, None);
        assert_eq!(all.last().unwrap().log, "line 49\n");
        assert!(all.len() < 50);
    }

    #[test]
    fn follower_sees_new_entries_across_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let s = spec(dir.path(), 300, 2);
        let mut w = LogWriter::open(&s).unwrap();
        w.write(1, b"before\n");
        let mut f = LogFollower::at_end(&s.path);
        assert!(f.poll().is_empty());
        let mut seen = Vec::new();
        for i in 0..20 {
            w.write(1, format!("after {i}\n").as_bytes());
            seen.extend(f.poll());
        }
        assert_eq!(seen.len(), 20);
        assert_eq!(seen[19].log, "after 19\n");
    }
}
