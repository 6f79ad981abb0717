//! `container cp` and `container export`: a helper from a sealed copy of this binary reads or
//! writes the container's filesystem from inside it (berth_engine::runtime::fscopy); the host
//! side of `cp` extracts with the same escape-proof extractor the image store uses.

use crate::client::{q, Client};
use anyhow::{bail, Context};
use berth_engine::runtime::fscopy::{FsOp, FsRequest};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn request(c: &Client, container: &str, op: FsOp) -> anyhow::Result<FsRequest> {
    let v: Value = c.get(&format!("/containers/{}/fs-info", q(container)))?;
    let paths = |k: &str| -> Vec<PathBuf> {
        v[k].as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(PathBuf::from))
            .collect()
    };
    let path = |k: &str| PathBuf::from(v[k].as_str().unwrap_or(""));
    Ok(FsRequest {
        running: v["running"].as_bool().unwrap_or(false),
        pid: v["pid"].as_i64().unwrap_or(0) as i32,
        pid_start_time: v["pid_start_time"].as_u64().unwrap_or(0),
        layers: paths("layers"),
        upper: path("upper"),
        work: path("work"),
        mountpoint: path("mountpoint"),
        op,
        // A container's own upper dir: what `cp` writes there must last.
        scratch: false,
    })
}

fn helper(req: &FsRequest) -> anyhow::Result<(berth_engine::runtime::sealed::SealedExe, Command)> {
    let sealed = berth_engine::runtime::sealed::SealedExe::create()?;
    let mut cmd = Command::new(sealed.path());
    cmd.arg("fs-helper")
        .arg(serde_json::to_string(req)?)
        .stderr(Stdio::piped());
    Ok((sealed, cmd))
}

/// Waits for the helper; its error (which names the path) becomes ours.
fn finish(mut child: std::process::Child) -> anyhow::Result<()> {
    let mut msg = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut err, &mut msg);
    }
    let status = child.wait().context("waiting for the copy helper")?;
    if !status.success() {
        let msg = msg.trim();
        bail!(
            "{}",
            match msg.strip_prefix("berth: ").unwrap_or(msg) {
                "" => "copy failed",
                m => m,
            }
        );
    }
    Ok(())
}

pub fn export(c: &Client, container: &str, output: Option<&str>) -> anyhow::Result<i32> {
    let req = request(c, container, FsOp::Export)?;
    let (_sealed, mut cmd) = helper(&req)?;
    match output {
        Some(o) => {
            cmd.stdout(std::fs::File::create(o).with_context(|| format!("creating {o}"))?);
        }
        None => anyhow::ensure!(
            !nix::unistd::isatty(1).unwrap_or(false),
            "cowardly refusing to save to a terminal: use the -o flag or redirect"
        ),
    }
    finish(cmd.spawn()?)?;
    Ok(0)
}

/// `CONTAINER:PATH` -> (container, path); a plain path -> None.
fn split(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':')
}

pub fn cp(c: &Client, source: &str, destination: &str) -> anyhow::Result<i32> {
    match (split(source), split(destination)) {
        (Some((ctr, path)), None) => copy_out(c, ctr, path, destination),
        (None, Some((ctr, path))) => copy_in(c, source, ctr, path),
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
    }
}

fn copy_out(c: &Client, ctr: &str, path: &str, dest: &str) -> anyhow::Result<i32> {
    let req = request(c, ctr, FsOp::Out(path.to_string()))?;
    let (_sealed, mut cmd) = helper(&req)?;
    if dest == "-" {
        finish(cmd.spawn().context("starting the copy helper")?)?;
        return Ok(0);
    }
    let src_name = Path::new(path)
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let dest_path = Path::new(dest);
    // As Docker: into an existing directory, or under a new name in an existing parent. The
    // destination itself is never followed: a symlink there (one an earlier copy out of the
    // container made, say) is replaced, not written through.
    let (dir, name) = match std::fs::symlink_metadata(dest_path) {
        Ok(md) if md.is_dir() => (dest_path.to_path_buf(), src_name.clone()),
        Ok(_) => (parent_of(dest_path), file_name_of(dest_path)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow::ensure!(
                !dest.ends_with('/'),
                "destination directory {dest} does not exist"
            );
            let parent = parent_of(dest_path);
            anyhow::ensure!(
                parent.is_dir(),
                "destination directory {} does not exist",
                parent.display()
            );
            (parent, file_name_of(dest_path)?)
        }
        Err(e) => return Err(e).with_context(|| format!("destination {dest}")),
    };
    let staging = tempfile::Builder::new()
        .prefix(".berth-cp-")
        .tempdir_in(&dir)
        .with_context(|| format!("creating a staging directory in {}", dir.display()))?;
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the copy helper")?;
    let out = child.stdout.take().expect("piped");
    let extracted = berth_engine::image::extract_layer(out, staging.path());
    // The helper's error (the file is not in the container, say) explains a short archive.
    finish(child)?;
    extracted.map_err(|e| anyhow::anyhow!("extracting into {}: {e}", staging.path().display()))?;
    // The container's root comes out as the entries of "." (the staging directory itself).
    let from = match src_name.as_os_str() == "." {
        true => staging.path().to_path_buf(),
        false => staging.path().join(&src_name),
    };
    place(&from, &dir.join(name))?;
    Ok(0)
}

fn parent_of(p: &Path) -> PathBuf {
    p.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

fn file_name_of(p: &Path) -> anyhow::Result<PathBuf> {
    p.file_name()
        .map(PathBuf::from)
        .with_context(|| format!("destination {} names no file", p.display()))
}

/// Moves the extracted `from` to `to` as Docker's extraction does: a directory merges into an
/// existing directory, entry by entry; anything else replaces what `to` is. Nothing at `to` is
/// ever followed: a symlink there is replaced by whatever comes. A directory and a regular
/// file never replace each other (Docker refuses that too).
fn place(from: &Path, to: &Path) -> anyhow::Result<()> {
    let from_md =
        std::fs::symlink_metadata(from).with_context(|| format!("reading {}", from.display()))?;
    let to_md = match std::fs::symlink_metadata(to) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return std::fs::rename(from, to).with_context(|| format!("placing {}", to.display()))
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", to.display())),
    };
    let to_is_link = to_md.file_type().is_symlink();
    match (from_md.is_dir(), to_md.is_dir()) {
        (true, true) => {
            let entries =
                std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))?;
            for e in entries {
                let e = e.with_context(|| format!("reading {}", from.display()))?;
                place(&e.path(), &to.join(e.file_name()))?;
            }
            std::fs::set_permissions(to, from_md.permissions())
                .with_context(|| format!("setting the mode of {}", to.display()))
        }
        (false, true) => bail!(
            "cannot overwrite directory {} with a non-directory",
            to.display()
        ),
        (true, false) if !to_is_link => bail!(
            "cannot overwrite non-directory {} with a directory",
            to.display()
        ),
        (from_is_dir, _) => {
            // rename(2) replaces a file or symlink with a file or symlink in one step; a
            // directory can only take the place of nothing (ENOTDIR otherwise).
            if from_is_dir {
                std::fs::remove_file(to).with_context(|| format!("replacing {}", to.display()))?;
            }
            std::fs::rename(from, to).with_context(|| format!("placing {}", to.display()))
        }
    }
}

fn copy_in(c: &Client, src: &str, ctr: &str, path: &str) -> anyhow::Result<i32> {
    let src_path = Path::new(src);
    std::fs::symlink_metadata(src_path).with_context(|| format!("could not find {src}"))?;
    // As Docker: into an existing directory, else as that name (its parent must exist).
    let probe = request(c, ctr, FsOp::In(path.to_string()))?;
    let (target_dir, name) = if path.ends_with('/') || dir_exists_in(&probe, path)? {
        (
            path.to_string(),
            src_path
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(".")),
        )
    } else {
        let p = Path::new(path);
        (
            p.parent()
                .map(|x| x.display().to_string())
                .filter(|x| !x.is_empty())
                .unwrap_or_else(|| "/".into()),
            p.file_name().map(PathBuf::from).unwrap_or_default(),
        )
    };
    let req = FsRequest {
        op: FsOp::In(target_dir),
        ..probe
    };
    send_tar(&req, &[(src_path.to_path_buf(), name)], src)?;
    Ok(0)
}

/// Runs the helper for `req` (an extraction) with a tar of `files` (host path, name in the
/// tar; a directory goes whole, a symlink as itself) on its stdin.
fn send_tar(req: &FsRequest, files: &[(PathBuf, PathBuf)], what: &str) -> anyhow::Result<()> {
    let (_sealed, mut cmd) = helper(req)?;
    let mut child = cmd
        .stdin(Stdio::piped())
        .spawn()
        .context("starting the copy helper")?;
    let sent = {
        let stdin = child.stdin.take().expect("piped");
        let mut b = tar::Builder::new(stdin);
        b.follow_symlinks(false);
        let mut appended = Ok(());
        for (host, name) in files {
            let is_dir = std::fs::symlink_metadata(host).is_ok_and(|m| m.is_dir());
            appended = if is_dir {
                b.append_dir_all(name, host)
            } else {
                b.append_path_with_name(host, name)
            };
            if appended.is_err() {
                break;
            }
        }
        appended.and_then(|()| b.into_inner().map(drop))
    };
    // A helper that failed closed its end (our write then fails with EPIPE): its own error
    // says what went wrong, so it comes first.
    finish(child)?;
    sent.with_context(|| format!("archiving {what}"))
}

/// Whether `path` is a directory inside the container.
fn dir_exists_in(probe: &FsRequest, path: &str) -> anyhow::Result<bool> {
    let req = FsRequest {
        op: FsOp::IsDir(path.to_string()),
        ..probe.clone()
    };
    let (_sealed, mut cmd) = helper(&req)?;
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("starting the copy helper")?;
    Ok(status.success())
}

/// `develop.watch`'s sync: the host files `files` (host path, path relative to `dir`) into
/// the directory `dir` of the container, made with its missing parents (as Compose's tar
/// sync extracts at the target), replacing what is there; a directory goes whole.
pub(super) fn sync_into(
    c: &Client,
    ctr: &str,
    dir: &str,
    files: &[(PathBuf, String)],
) -> anyhow::Result<()> {
    let req = request(
        c,
        ctr,
        FsOp::Add {
            dir: dir.to_string(),
            chown: None,
            chmod: None,
        },
    )?;
    let files: Vec<(PathBuf, PathBuf)> = files
        .iter()
        .map(|(host, rel)| (host.clone(), PathBuf::from(rel)))
        .collect();
    send_tar(&req, &files, &format!("the changes for {dir}"))
}
