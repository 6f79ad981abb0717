//! What the kube tests and the benchmark share: loading the repository's stacks, and the
//! bench stack scripts/bench-stacks runs.

#![allow(dead_code)]

pub mod fake_api;

use std::path::{Path, PathBuf};

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Loads a stack file with an empty environment (so `${VAR:-default}` takes its default and
/// the output does not depend on who runs the test).
pub fn load(file: &Path) -> berth_compose::Project {
    berth_compose::load(&berth_compose::LoadOptions {
        files: vec![file.to_string_lossy().into_owned()],
        ..berth_compose::LoadOptions::default()
    })
    .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// Every stack under examples/, by directory name.
pub fn examples() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|d| d.join("compose.yaml").is_file())
        .map(|d| {
            (
                d.file_name().unwrap().to_string_lossy().into_owned(),
                d.join("compose.yaml"),
            )
        })
        .collect();
    out.sort();
    out
}

/// The stack scripts/bench-stacks measures, with `n` services: busybox httpd services on one
/// network, each with an alias, all sharing a named volume, restart always.
pub fn bench_stack(n: usize) -> String {
    let mut s = format!("name: bench{n}\nservices:\n");
    for i in 1..=n {
        s += &format!("  s{i}:\n    image: bb:local\n    command: [httpd, -f, -p, \"80\", -h, /data]\n    init: true\n    restart: always\n");
        s += &format!("    networks:\n      default:\n        aliases: [alias{i}]\n    volumes: [shared:/data]\n");
    }
    s + "volumes:\n  shared:\n"
}
