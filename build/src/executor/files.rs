//! COPY and ADD: what they copy (from the context, another stage or image, a heredoc, or a
//! local archive ADD unpacks), where it goes, the digest their cache key takes, and the tar
//! the host extracts into the image.

use super::BuildError;
use crate::context::{self, Context, Entry};
use crate::host::Host;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// One piece of what a COPY copies, named as it will be under the destination directory.
enum Piece {
    /// Files of the context.
    Context(Vec<Entry>),
    /// A heredoc's body as a file.
    Text { name: PathBuf, content: String },
    /// A tar (an export of another image, or an archive ADD unpacks) whose entries go under
    /// `prefix`; `strip` drops their first path component (a directory source's own name).
    Tar {
        path: PathBuf,
        prefix: PathBuf,
        strip: bool,
        rename: Option<PathBuf>,
        /// Exports are the executor's to delete.
        temporary: bool,
    },
}

/// A COPY/ADD ready to run: where into, what, and the digest of the content.
pub struct Prepared {
    pub dest_dir: String,
    pub digest: String,
    pieces: Vec<Piece>,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        for p in &self.pieces {
            if let Piece::Tar {
                path,
                temporary: true,
                ..
            } = p
            {
                let _ = fs::remove_file(path);
            }
        }
    }
}

/// What one COPY/ADD instruction asks, its words expanded.
pub struct Request<'a> {
    pub keyword: &'a str,
    pub sources: Vec<String>,
    pub dest: String,
    /// The stage's or image's id for `--from`.
    pub from_image: Option<String>,
    pub heredocs: &'a [(String, String)],
    /// The image the files go on (None for scratch), for "is the destination a directory".
    pub image: Option<&'a str>,
    pub workdir: &'a str,
}

pub async fn prepare<H: Host>(
    host: &H,
    ctx: Option<&Context>,
    req: &Request<'_>,
    line: usize,
) -> Result<Prepared, BuildError> {
    let err = |m: String| BuildError::at(line, m);
    let dest_abs = absolute(req.workdir, &req.dest);
    let many = req.sources.len() > 1;
    if many && !req.dest.ends_with('/') {
        return Err(err(format!(
            "When using {} with more than one source file, the destination must be a directory and end with a /",
            req.keyword
        )));
    }
    let mut pieces = Vec::new();
    let mut hasher = sha2::Sha256::new();
    use sha2::Digest;

    // Each source: (what it is, whether it is a directory's content).
    enum Src {
        Files(Vec<(context::Matched, Vec<Entry>)>),
        Heredoc(String, String),
        Export(PathBuf, bool),
        Archive(PathBuf),
    }
    let mut srcs = Vec::new();
    for s in &req.sources {
        if let Some((_, content)) = req.heredocs.iter().find(|(n, _)| n == s) {
            srcs.push(Src::Heredoc(s.clone(), content.clone()));
            continue;
        }
        if s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@") {
            return Err(err(format!(
                "{} {s}: berth does not download build sources (this host builds offline); download the file into the build context and COPY it",
                req.keyword
            )));
        }
        if let Some(image) = &req.from_image {
            let path = host.export(image, &absolute("/", s)).await.map_err(err)?;
            let is_dir = tar_is_dir(&path).map_err(|e| err(e.to_string()))?;
            srcs.push(Src::Export(path, is_dir));
            continue;
        }
        let ctx = ctx.ok_or_else(|| {
            err(format!(
                "{} {s}: this build has no context to copy from",
                req.keyword
            ))
        })?;
        let matched = ctx.matches(s).map_err(err)?;
        if req.keyword == "ADD" && matched.len() == 1 && matched[0].meta.is_file() {
            if let Some(kind) = archive_kind(&matched[0].path) {
                let _ = kind;
                srcs.push(Src::Archive(matched[0].path.clone()));
                continue;
            }
        }
        let mut files = Vec::new();
        for m in matched {
            let entries = if m.meta.is_dir() {
                ctx.walk(&m.path).map_err(|e| err(e.to_string()))?
            } else {
                Vec::new()
            };
            files.push((m, entries));
        }
        srcs.push(Src::Files(files));
    }
    let total: usize = srcs
        .iter()
        .map(|s| match s {
            Src::Files(f) => f.len(),
            _ => 1,
        })
        .sum();
    if total > 1 && !req.dest.ends_with('/') {
        return Err(err(format!(
            "When using {} with more than one source file, the destination must be a directory and end with a /",
            req.keyword
        )));
    }
    let single_file = total == 1
        && match &srcs[0] {
            Src::Files(f) => !f[0].0.meta.is_dir(),
            Src::Heredoc(..) => true,
            Src::Export(_, is_dir) => !is_dir,
            Src::Archive(_) => false,
        };
    // A single file goes to DEST itself unless DEST ends with / or is a directory already.
    let into_dir = !single_file
        || req.dest.ends_with('/')
        || host.is_dir(req.image, &dest_abs).await.map_err(err)?;
    let (dest_dir, file_name) = if into_dir {
        (dest_abs.clone(), None)
    } else {
        let p = Path::new(&dest_abs);
        (
            p.parent()
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_else(|| "/".into()),
            p.file_name().map(PathBuf::from),
        )
    };
    for s in srcs {
        match s {
            Src::Heredoc(name, content) => {
                let name = file_name.clone().unwrap_or_else(|| PathBuf::from(&name));
                hasher.update(format!("heredoc {}\0{content}\0", name.display()));
                pieces.push(Piece::Text { name, content });
            }
            Src::Export(path, is_dir) => {
                let bytes = fs::read(&path).map_err(|e| err(e.to_string()))?;
                hasher.update(format!("from {}\0", bytes.len()));
                hasher.update(&bytes);
                pieces.push(Piece::Tar {
                    path,
                    prefix: PathBuf::new(),
                    strip: is_dir,
                    rename: if is_dir { None } else { file_name.clone() },
                    temporary: true,
                });
            }
            Src::Archive(path) => {
                let digest = context::digest_entries(&[Entry {
                    source: path.clone(),
                    name: PathBuf::from("archive"),
                    meta: fs::metadata(&path).map_err(|e| err(e.to_string()))?,
                }])
                .map_err(|e| err(e.to_string()))?;
                hasher.update(format!("archive {digest}\0"));
                pieces.push(Piece::Tar {
                    path,
                    prefix: PathBuf::new(),
                    strip: false,
                    rename: None,
                    temporary: false,
                });
            }
            Src::Files(files) => {
                for (m, entries) in files {
                    let named: Vec<Entry> = if m.meta.is_dir() {
                        entries
                    } else {
                        let name = file_name.clone().unwrap_or_else(|| {
                            m.path.file_name().map(PathBuf::from).unwrap_or_default()
                        });
                        vec![Entry {
                            source: m.path.clone(),
                            name,
                            meta: m.meta.clone(),
                        }]
                    };
                    let digest = tokio_free_digest(&named).map_err(|e| err(e.to_string()))?;
                    hasher.update(format!("files {digest}\0"));
                    pieces.push(Piece::Context(named));
                }
            }
        }
    }
    Ok(Prepared {
        dest_dir,
        digest: format!("sha256:{}", context::hex(&hasher.finalize())),
        pieces,
    })
}

fn tokio_free_digest(entries: &[Entry]) -> io::Result<String> {
    context::digest_entries(entries)
}

/// Writes what `prepared` copies as one tar at `out`.
pub fn write(prepared: &Prepared, out: &Path) -> io::Result<()> {
    let file = io::BufWriter::new(fs::File::create(out)?);
    let mut tar = tar::Builder::new(file);
    tar.follow_symlinks(false);
    for p in &prepared.pieces {
        match p {
            Piece::Context(entries) => {
                // One builder for all: the context helper writes into ours.
                let mut buf = Vec::new();
                context::write_tar(entries, &mut buf)?;
                splice(&mut tar, &buf[..], Path::new(""), false, None)?;
            }
            Piece::Text { name, content } => {
                let mut h = tar::Header::new_gnu();
                h.set_size(content.len() as u64);
                h.set_mode(0o644);
                h.set_uid(0);
                h.set_gid(0);
                h.set_mtime(0);
                h.set_entry_type(tar::EntryType::Regular);
                tar.append_data(&mut h, name, content.as_bytes())?;
            }
            Piece::Tar {
                path,
                prefix,
                strip,
                rename,
                ..
            } => {
                let reader = open_maybe_compressed(path)?;
                splice(&mut tar, reader, prefix, *strip, rename.as_deref())?;
            }
        }
    }
    tar.into_inner()?.flush()
}

/// Copies the entries of the tar `from` into `to`, renamed as asked.
fn splice<W: Write>(
    to: &mut tar::Builder<W>,
    from: impl Read,
    prefix: &Path,
    strip: bool,
    rename: Option<&Path>,
) -> io::Result<()> {
    let mut archive = tar::Archive::new(from);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let mut comps = path.components();
        if strip {
            comps.next();
        }
        let rest: PathBuf = comps.collect();
        let name = match rename {
            Some(r) if !strip => {
                // `PathBuf::join("")` would end the name with a `/`.
                let below: PathBuf = rest.iter().skip(1).collect();
                if below.as_os_str().is_empty() {
                    r.to_path_buf()
                } else {
                    r.join(below)
                }
            }
            _ => rest,
        };
        if name.as_os_str().is_empty() {
            continue;
        }
        let name = prefix.join(name);
        let mut header = entry.header().clone();
        match header.entry_type() {
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name()?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let target = if header.entry_type() == tar::EntryType::Link {
                    // A hard link names another entry: renamed the same way.
                    let mut c = target.components();
                    if strip {
                        c.next();
                    }
                    prefix.join(c.collect::<PathBuf>())
                } else {
                    target
                };
                to.append_link(&mut header, &name, target)?;
            }
            _ => {
                to.append_data(&mut header, &name, &mut entry)?;
            }
        }
    }
    Ok(())
}

/// The compression of a local archive ADD unpacks, by its first bytes: plain tar, gzip or
/// zstd (Docker also takes bzip2 and xz, which berth copies as files).
fn archive_kind(path: &Path) -> Option<&'static str> {
    let mut head = [0u8; 512];
    let n = fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .ok()?;
    let head = &head[..n];
    if head.starts_with(&[0x1f, 0x8b]) {
        return Some("gzip");
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Some("zstd");
    }
    if n >= 262 && &head[257..262] == b"ustar" {
        return Some("tar");
    }
    None
}

fn open_maybe_compressed(path: &Path) -> io::Result<Box<dyn Read>> {
    let file = io::BufReader::new(fs::File::open(path)?);
    Ok(match archive_kind(path) {
        Some("gzip") => Box::new(flate2::read::GzDecoder::new(file)),
        Some("zstd") => Box::new(zstd::stream::read::Decoder::new(fs::File::open(path)?)?),
        _ => Box::new(file),
    })
}

/// True when the export's first entry is a directory (the source was a directory).
fn tar_is_dir(path: &Path) -> io::Result<bool> {
    let mut archive = tar::Archive::new(fs::File::open(path)?);
    let first = archive.entries()?.next();
    Ok(match first {
        Some(e) => e?.header().entry_type().is_dir(),
        None => false,
    })
}

/// `path` made absolute against the working directory, as Docker resolves COPY's
/// destination and WORKDIR.
pub fn absolute(workdir: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        PathBuf::from(path)
    } else {
        Path::new(if workdir.is_empty() { "/" } else { workdir }).join(path)
    };
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out.to_string_lossy().into_owned()
}
