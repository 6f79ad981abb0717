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
    })
}

fn helper(req: &FsRequest) -> anyhow::Result<(crate::sealed::SealedExe, Command)> {
    let sealed = crate::sealed::SealedExe::create()?;
    let mut cmd = Command::new(sealed.path());
    cmd.arg("fs-helper").arg(serde_json::to_string(req)?);
    Ok((sealed, cmd))
}

fn finish(mut child: std::process::Child) -> anyhow::Result<()> {
    let status = child.wait()?;
    if !status.success() {
        bail!("copy failed");
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
        finish(cmd.spawn()?)?;
        return Ok(0);
    }
    let dest = Path::new(dest);
    // As Docker: into an existing directory, or under a new name in an existing parent.
    let (dir, rename_to) = if dest.is_dir() {
        (dest.to_path_buf(), None)
    } else {
        let parent = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        anyhow::ensure!(
            parent.is_dir(),
            "destination directory {} does not exist",
            parent.display()
        );
        (parent.to_path_buf(), dest.file_name().map(PathBuf::from))
    };
    let staging = tempfile::Builder::new()
        .prefix(".berth-cp-")
        .tempdir_in(&dir)?;
    let mut child = cmd.stdout(Stdio::piped()).spawn()?;
    let out = child.stdout.take().expect("piped");
    berth_engine::image::extract_layer(out, staging.path())
        .map_err(|e| anyhow::anyhow!("extracting: {e}"))?;
    finish(child)?;
    let src_name = Path::new(path)
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let from = staging.path().join(&src_name);
    let to = dir.join(rename_to.unwrap_or(src_name));
    if to.is_dir() && from.is_dir() {
        // Merge into an existing directory of the same name.
        for e in std::fs::read_dir(&from)? {
            let e = e?;
            std::fs::rename(e.path(), to.join(e.file_name()))?;
        }
    } else {
        std::fs::rename(&from, &to).with_context(|| format!("placing {}", to.display()))?;
    }
    Ok(0)
}

fn copy_in(c: &Client, src: &str, ctr: &str, path: &str) -> anyhow::Result<i32> {
    let src_path = Path::new(src);
    let md =
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
    let (_sealed, mut cmd) = helper(&req)?;
    let mut child = cmd.stdin(Stdio::piped()).spawn()?;
    {
        let stdin = child.stdin.take().expect("piped");
        let mut b = tar::Builder::new(stdin);
        b.follow_symlinks(false);
        if md.is_dir() {
            b.append_dir_all(&name, src_path)?;
        } else {
            b.append_path_with_name(src_path, &name)?;
        }
        b.into_inner()?;
    }
    finish(child)?;
    Ok(0)
}

/// Whether `path` is a directory inside the container.
fn dir_exists_in(probe: &FsRequest, path: &str) -> anyhow::Result<bool> {
    let req = FsRequest {
        op: FsOp::IsDir(path.to_string()),
        ..probe.clone()
    };
    let (_sealed, mut cmd) = helper(&req)?;
    let status = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status()?;
    Ok(status.success())
}
