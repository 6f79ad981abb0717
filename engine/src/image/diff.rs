//! A container's writable layer (its overlayfs upper directory) as an image layer, and as the
//! A/C/D list `container diff` prints. The builder's RUN steps and `container commit` share it.
//!
//! overlayfs(5) records a deletion as a whiteout (a character device 0/0) and a directory whose
//! lower content is hidden as opaque (xattr `trusted.overlay.opaque=y`); the OCI image layer
//! format records the same as `.wh.NAME` and `DIR/.wh..wh..opq` empty files, which is what
//! image::extract turns back into overlay form when the layer is unpacked.

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// One line of `container diff`: Added, Changed or Deleted, and the path in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Changed,
    Deleted,
}

impl ChangeKind {
    /// Docker's letter.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Changed => 'C',
            ChangeKind::Deleted => 'D',
        }
    }
}

fn is_whiteout(md: &Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn is_opaque(path: &Path) -> bool {
    matches!(xattr_get(path, OPAQUE_XATTR), Some(v) if v == b"y")
}

/// The entries of `dir`, sorted by name so a layer's bytes (and its digest) depend only on
/// its content.
fn sorted_entries(dir: &Path) -> io::Result<Vec<(String, PathBuf, Metadata)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let md = fs::symlink_metadata(&path)?;
        out.push((entry.file_name().to_string_lossy().into_owned(), path, md));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// What changed in `upper` against the image's `lower` layers (bottom first), sorted by path
/// as Docker prints it. A directory that holds a change is itself Changed when the image has
/// it; a deleted directory is one D line (its content is not listed).
pub fn changes(upper: &Path, lower: &[PathBuf]) -> io::Result<Vec<Change>> {
    let mut out = Vec::new();
    walk_changes(upper, Path::new("/"), lower, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk_changes(
    dir: &Path,
    rel: &Path,
    lower: &[PathBuf],
    out: &mut Vec<Change>,
) -> io::Result<()> {
    for (name, path, md) in sorted_entries(dir)? {
        let in_container = rel.join(&name);
        let shown = in_container.to_string_lossy().into_owned();
        let kind = if is_whiteout(&md) {
            ChangeKind::Deleted
        } else if in_lower(lower, &in_container) {
            ChangeKind::Changed
        } else {
            ChangeKind::Added
        };
        out.push(Change { kind, path: shown });
        if md.is_dir() && kind != ChangeKind::Deleted {
            walk_changes(&path, &in_container, lower, out)?;
        }
    }
    Ok(())
}

fn in_lower(lower: &[PathBuf], path: &Path) -> bool {
    let rel = path.strip_prefix("/").unwrap_or(path);
    lower
        .iter()
        .any(|l| fs::symlink_metadata(l.join(rel)).is_ok_and(|md| !is_whiteout(&md)))
}

/// Writes `upper` as an uncompressed OCI layer tar to `out`: owners, modes and times kept,
/// hard links within the layer as links, extended attributes (file capabilities among them)
/// as PAX records, whiteouts and opaque directories in the OCI form.
pub fn write_layer(upper: &Path, out: impl Write) -> io::Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    let mut links = HashMap::new();
    add_dir(&mut tar, upper, Path::new(""), &mut links)?;
    tar.into_inner()?.flush()
}

fn add_dir<W: Write>(
    tar: &mut tar::Builder<W>,
    dir: &Path,
    rel: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> io::Result<()> {
    for (name, path, md) in sorted_entries(dir)? {
        let in_layer = rel.join(&name);
        if is_whiteout(&md) {
            empty_file(tar, &rel.join(format!("{WHITEOUT_PREFIX}{name}")), &md)?;
            continue;
        }
        if md.is_file() && md.nlink() > 1 {
            if let Some(first) = links.get(&(md.dev(), md.ino())) {
                let mut h = tar::Header::new_gnu();
                h.set_metadata_in_mode(&md, tar::HeaderMode::Complete);
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                tar.append_link(&mut h, &in_layer, first)?;
                continue;
            }
            links.insert((md.dev(), md.ino()), in_layer.clone());
        }
        pax_xattrs(tar, &path)?;
        tar.append_path_with_name(&path, &in_layer)?;
        if md.is_dir() {
            if is_opaque(&path) {
                empty_file(tar, &in_layer.join(OPAQUE_MARKER), &md)?;
            }
            add_dir(tar, &path, &in_layer, links)?;
        }
    }
    Ok(())
}

/// An empty regular file (a whiteout marker), with the times and owner of what it stands for.
fn empty_file<W: Write>(tar: &mut tar::Builder<W>, path: &Path, md: &Metadata) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(0);
    h.set_mode(0o644);
    h.set_uid(md.uid() as u64);
    h.set_gid(md.gid() as u64);
    h.set_mtime(md.mtime().max(0) as u64);
    tar.append_data(&mut h, path, io::empty())
}

/// The entry's extended attributes, as the PAX records GNU tar and Docker write
/// (`SCHILY.xattr.NAME`), before its header. overlayfs's own are not the image's.
fn pax_xattrs<W: Write>(tar: &mut tar::Builder<W>, path: &Path) -> io::Result<()> {
    let names = xattr_list(path);
    let records: Vec<(String, Vec<u8>)> = names
        .into_iter()
        .filter(|n| !n.starts_with("trusted.overlay."))
        .filter_map(|n| xattr_get(path, &n).map(|v| (format!("SCHILY.xattr.{n}"), v)))
        .collect();
    if records.is_empty() {
        return Ok(());
    }
    tar.append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
}

/// Removes the `trusted.overlay.*` attributes of an upper dir's entry (copy-up origins,
/// impure markers) but `opaque`, which the layer format keeps (not following a symlink).
pub(super) fn drop_overlay_metadata(path: &Path) -> io::Result<()> {
    for name in xattr_list(path) {
        if !name.starts_with("trusted.overlay.") || name == OPAQUE_XATTR {
            continue;
        }
        let (Some(p), Ok(n)) = (c_path(path), std::ffi::CString::new(name)) else {
            continue;
        };
        // SAFETY: both are valid C strings that outlive the call.
        if unsafe { libc::lremovexattr(p.as_ptr(), n.as_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// [`xattr_list`] for the image store's tests.
#[cfg(test)]
pub(super) fn tests_xattr_names(path: &Path) -> Vec<String> {
    xattr_list(path)
}

fn c_path(path: &Path) -> Option<std::ffi::CString> {
    std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str())).ok()
}

/// The names of `path`'s extended attributes (not following a symlink).
fn xattr_list(path: &Path) -> Vec<String> {
    let Some(p) = c_path(path) else {
        return Vec::new();
    };
    let mut buf = vec![0u8; 4096];
    // SAFETY: `p` is a valid C string and `buf` a writable buffer of the given length.
    let n = unsafe { libc::llistxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return Vec::new();
    }
    buf[..n as usize]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// One extended attribute's value (not following a symlink).
fn xattr_get(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = c_path(path)?;
    let n = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0u8; 64 * 1024];
    // SAFETY: valid C strings and a writable buffer of the given length.
    let len =
        unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        return None;
    }
    buf.truncate(len as usize);
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn whiteout(path: &Path) {
        nix::sys::stat::mknod(
            path,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o000),
            0,
        )
        .unwrap();
    }

    fn set_opaque(path: &Path) -> bool {
        let p = c_path(path).unwrap();
        let n = std::ffi::CString::new(OPAQUE_XATTR).unwrap();
        // SAFETY: valid C strings and a one-byte value.
        unsafe { libc::lsetxattr(p.as_ptr(), n.as_ptr(), b"y".as_ptr().cast(), 1, 0) == 0 }
    }

    /// An image with /etc/hosts, /etc/gone, /srv/old/a and /bin/sh; a container that changed
    /// /etc/hosts, deleted /etc/gone, added /etc/new and /data, and replaced /srv/old whole.
    fn fixture() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let lower = t.path().join("lower");
        let upper = t.path().join("upper");
        for d in ["etc", "srv/old", "bin"] {
            fs::create_dir_all(lower.join(d)).unwrap();
        }
        for f in ["etc/hosts", "etc/gone", "srv/old/a", "bin/sh"] {
            fs::write(lower.join(f), "image").unwrap();
        }
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::create_dir_all(upper.join("data")).unwrap();
        fs::create_dir_all(upper.join("srv/old")).unwrap();
        fs::write(upper.join("etc/hosts"), "changed").unwrap();
        fs::write(upper.join("etc/new"), "new").unwrap();
        fs::write(upper.join("data/x"), "x").unwrap();
        fs::hard_link(upper.join("data/x"), upper.join("data/y")).unwrap();
        fs::set_permissions(upper.join("data/x"), fs::Permissions::from_mode(0o4755)).unwrap();
        whiteout(&upper.join("etc/gone"));
        (t, lower, upper)
    }

    #[test]
    fn changes_are_listed_as_docker_lists_them() {
        let (_t, lower, upper) = fixture();
        let listed: Vec<String> = changes(&upper, &[lower])
            .unwrap()
            .iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path))
            .collect();
        assert_eq!(
            listed,
            [
                "A /data",
                "A /data/x",
                "A /data/y",
                "C /etc",
                "D /etc/gone",
                "C /etc/hosts",
                "A /etc/new",
                "C /srv",
                "C /srv/old",
            ]
        );
    }

    #[test]
    fn the_layer_has_oci_whiteouts_links_and_modes() {
        let (_t, _lower, upper) = fixture();
        let opaque = set_opaque(&upper.join("srv/old"));
        let mut bytes = Vec::new();
        write_layer(&upper, &mut bytes).unwrap();
        let mut seen = Vec::new();
        let mut archive = tar::Archive::new(bytes.as_slice());
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let kind = match h.entry_type() {
                tar::EntryType::Directory => "dir".to_string(),
                tar::EntryType::Link => {
                    format!("link to {}", e.link_name().unwrap().unwrap().display())
                }
                tar::EntryType::Regular => format!("file {:o}", h.mode().unwrap() & 0o7777),
                other => format!("{other:?}"),
            };
            seen.push(format!("{path}: {kind}"));
        }
        let mut expected = vec![
            "data: dir",
            "data/x: file 4755",
            "data/y: link to data/x",
            "etc: dir",
            "etc/.wh.gone: file 644",
            "etc/hosts: file 644",
            "etc/new: file 644",
            "srv: dir",
            "srv/old: dir",
        ];
        // trusted.* xattrs need root and a filesystem that keeps them.
        if opaque {
            expected.push("srv/old/.wh..wh..opq: file 644");
        }
        let seen: Vec<String> = seen
            .into_iter()
            .map(|s| s.trim_end_matches('/').replace("/:", ":"))
            .collect();
        assert_eq!(seen, expected);
        // The same content makes the same bytes (a layer's digest is its identity).
        let mut again = Vec::new();
        write_layer(&upper, &mut again).unwrap();
        assert_eq!(bytes, again);
    }

    #[test]
    fn a_written_layer_unpacks_to_the_same_upper_directory() {
        let (t, _lower, upper) = fixture();
        let opaque = set_opaque(&upper.join("srv/old"));
        let mut bytes = Vec::new();
        write_layer(&upper, &mut bytes).unwrap();
        let back = t.path().join("back");
        fs::create_dir(&back).unwrap();
        crate::image::extract_layer(bytes.as_slice(), &back).unwrap();
        assert!(is_whiteout(
            &fs::symlink_metadata(back.join("etc/gone")).unwrap()
        ));
        assert_eq!(is_opaque(&back.join("srv/old")), opaque);
        let x = fs::metadata(back.join("data/x")).unwrap();
        assert_eq!(x.permissions().mode() & 0o7777, 0o4755);
        assert_eq!(x.ino(), fs::metadata(back.join("data/y")).unwrap().ino());
        assert_eq!(
            fs::read_to_string(back.join("etc/hosts")).unwrap(),
            "changed"
        );
    }
}
