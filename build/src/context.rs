//! The build context: the directory COPY and ADD read from, less what `.dockerignore` leaves
//! out. Sources are found with Docker's rules (globs per path component, a directory
//! stands for its content), checked not to lead outside the context (`..`, symlinks), hashed
//! for the cache and written as the tar the host extracts into the image.

use crate::ignore::Ignore;
use sha2::{Digest, Sha256};
use std::fs::{self, Metadata};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// A build context directory and its `.dockerignore`.
#[derive(Debug, Clone)]
pub struct Context {
    root: PathBuf,
    ignore: Ignore,
}

/// One file, directory or symlink COPY takes, and the name it gets under the destination.
#[derive(Debug, Clone)]
pub struct Entry {
    pub source: PathBuf,
    pub name: PathBuf,
    pub meta: Metadata,
}

/// What matched one source argument of COPY/ADD.
#[derive(Debug, Clone)]
pub struct Matched {
    /// The path in the context (or the archive's path for ADD).
    pub path: PathBuf,
    pub meta: Metadata,
}

impl Context {
    /// The context at `root`, with its `.dockerignore` read if there is one.
    pub fn open(root: &Path) -> io::Result<Context> {
        let md = fs::metadata(root)?;
        if !md.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", root.display()),
            ));
        }
        let ignore = match fs::read_to_string(root.join(".dockerignore")) {
            Ok(text) => Ignore::parse(&text).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!(".dockerignore: {e}"))
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ignore::default(),
            Err(e) => return Err(e),
        };
        Ok(Context {
            root: root.to_path_buf(),
            ignore,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn excluded(&self, rel: &Path) -> bool {
        let s = rel.to_string_lossy();
        !s.is_empty() && self.ignore.excludes(&s)
    }

    /// The paths one COPY source names: a path or a glob, relative to the context root.
    pub fn matches(&self, source: &str) -> Result<Vec<Matched>, String> {
        let rel = clean_relative(source)
            .ok_or_else(|| format!("{source}: forbidden path outside the build context"))?;
        let mut found = vec![PathBuf::new()];
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        for part in &parts {
            let mut next = Vec::new();
            for dir in &found {
                if has_glob(part) {
                    let Ok(rd) = fs::read_dir(self.root.join(dir)) else {
                        continue;
                    };
                    let mut names: Vec<String> = rd
                        .filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| glob_match(part, n))
                        .collect();
                    names.sort();
                    next.extend(names.into_iter().map(|n| dir.join(n)));
                } else {
                    next.push(dir.join(part));
                }
            }
            found = next;
        }
        let mut out = Vec::new();
        for rel in found {
            if self.excluded(&rel) && !rel.as_os_str().is_empty() {
                continue;
            }
            let path = self.resolve(&rel, source)?;
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            out.push(Matched { path, meta });
        }
        if out.is_empty() {
            return Err(format!(
                "\"{source}\" not found in the build context (or excluded by .dockerignore)"
            ));
        }
        Ok(out)
    }

    /// `rel` with its symlinks followed, refused when that leads outside the context.
    fn resolve(&self, rel: &Path, source: &str) -> Result<PathBuf, String> {
        let root = fs::canonicalize(&self.root).map_err(|e| e.to_string())?;
        match fs::canonicalize(self.root.join(rel)) {
            Ok(p) if p.starts_with(&root) => Ok(p),
            Ok(_) => Err(format!(
                "{source}: forbidden path outside the build context (a symlink leads out)"
            )),
            Err(_) => Ok(self.root.join(rel)),
        }
    }

    /// Everything under `dir` (a matched directory) that the context holds, named relative
    /// to `dir`, parents before children, sorted; symlinks are kept as links.
    pub fn walk(&self, dir: &Path) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        let base = dir
            .strip_prefix(fs::canonicalize(&self.root)?)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        self.walk_into(dir, &base, Path::new(""), &mut out)?;
        Ok(out)
    }

    fn walk_into(
        &self,
        dir: &Path,
        ctx_rel: &Path,
        name: &Path,
        out: &mut Vec<Entry>,
    ) -> io::Result<()> {
        let mut entries: Vec<_> = fs::read_dir(dir)?.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let child_rel = ctx_rel.join(e.file_name());
            let child_name = name.join(e.file_name());
            let meta = fs::symlink_metadata(e.path())?;
            if self.excluded(&child_rel) {
                // A directory left out may still hold files an exception brings back.
                if meta.is_dir() && self.ignore.may_include_under(&child_rel.to_string_lossy()) {
                    self.walk_into(&e.path(), &child_rel, &child_name, out)?;
                }
                continue;
            }
            let is_dir = meta.is_dir();
            out.push(Entry {
                source: e.path(),
                name: child_name.clone(),
                meta,
            });
            if is_dir {
                self.walk_into(&e.path(), &child_rel, &child_name, out)?;
            }
        }
        Ok(())
    }
}

/// `source` as a path inside the context, or None when `..` leads out of it.
pub fn clean_relative(source: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(source).components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(n) => out.push(n),
        }
    }
    Some(out)
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Go's filepath.Match for one path component: `*`, `?`, `[a-z]`, `[^x]`, `\` escapes.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|i| match_from(&p[1..], &n[i..])),
        Some('?') => !n.is_empty() && match_from(&p[1..], &n[1..]),
        Some('[') => {
            let Some(c) = n.first() else { return false };
            match class(&p[1..], *c) {
                Some((true, rest)) => match_from(rest, &n[1..]),
                _ => false,
            }
        }
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && match_from(&p[2..], &n[1..]),
        Some(c) => n.first() == Some(c) && match_from(&p[1..], &n[1..]),
    }
}

/// A `[...]` class (after its `[`): whether `c` is in it, and the pattern after its `]`.
fn class(p: &[char], c: char) -> Option<(bool, &[char])> {
    let (negate, mut i) = match p.first() {
        Some('^') => (true, 1),
        _ => (false, 0),
    };
    let mut hit = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((hit != negate, &p[i + 1..]));
        }
        first = false;
        let lo = if p[i] == '\\' && i + 1 < p.len() {
            i += 1;
            p[i]
        } else {
            p[i]
        };
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            let hi = p[i + 2];
            hit |= lo <= c && c <= hi;
            i += 3;
        } else {
            hit |= lo == c;
            i += 1;
        }
    }
    None
}

/// A digest of entries' names, types, modes, owners and content (not their times, as
/// BuildKit's content hash): equal digests, equal COPY results.
pub fn digest_entries(entries: &[Entry]) -> io::Result<String> {
    let mut h = Sha256::new();
    for e in entries {
        h.update(e.name.as_os_str().as_encoded_bytes());
        h.update([0]);
        h.update(format!("{:o} {} {}\0", e.meta.mode(), e.meta.uid(), e.meta.gid()).as_bytes());
        if e.meta.file_type().is_symlink() {
            h.update(fs::read_link(&e.source)?.as_os_str().as_encoded_bytes());
        } else if e.meta.is_file() {
            let mut f = fs::File::open(&e.source)?;
            io::copy(&mut f, &mut HashWriter(&mut h))?;
        }
        h.update([0]);
    }
    Ok(format!("sha256:{}", hex(&h.finalize())))
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `entries` as a tar: owned by root (COPY's default; `--chown` is applied when
/// extracting), modes and times kept, hard links copied as files.
pub fn write_tar(entries: &[Entry], out: impl Write) -> io::Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&e.meta, tar::HeaderMode::Deterministic);
        h.set_mode(e.meta.permissions().mode() & 0o7777);
        h.set_mtime(e.meta.mtime().max(0) as u64);
        h.set_uid(0);
        h.set_gid(0);
        if e.meta.file_type().is_symlink() {
            h.set_size(0);
            tar.append_link(&mut h, &e.name, fs::read_link(&e.source)?)?;
        } else if e.meta.is_file() {
            let f = fs::File::open(&e.source)?;
            tar.append_data(&mut h, &e.name, f)?;
        } else if e.meta.is_dir() {
            h.set_size(0);
            tar.append_data(&mut h, &e.name, io::empty())?;
        }
        // Sockets, fifos and devices of a context are not copied, as Docker.
    }
    tar.into_inner()?.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_as_go_filepath_match() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "a.txt.bak"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[^a-c]x", "bx"));
        assert!(glob_match("\\*", "*"));
        assert!(!glob_match("\\*", "a"));
    }

    #[test]
    fn parent_dirs_may_not_leave_the_context() {
        assert_eq!(clean_relative("./a/../b"), Some(PathBuf::from("b")));
        assert_eq!(clean_relative("/etc/x"), Some(PathBuf::from("etc/x")));
        assert_eq!(clean_relative("../x"), None);
        assert_eq!(clean_relative("a/../../x"), None);
    }
}
