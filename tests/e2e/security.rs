//! What a process in a container can reach of the host, probed from inside, next to what
//! Docker gives: the descriptors a command gets on every way in (exec, run, stacks, health
//! checks), and the kernel surface a default container is denied (seccomp, capabilities).

use crate::stacks::{in_dir, ok_in, stack_dir};
use crate::support::*;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

/// Lists the calling process's descriptors inside the container: `ls` execs directly, so
/// /proc/self is the process the way in started (fd 3 is the listing's own directory).
const LIST_FDS: &[&str] = &["ls", "-l", "/proc/self/fd"];

/// (fd, what it points to) from `ls -l /proc/self/fd`.
fn descriptors(listing: &str) -> Vec<(u32, String)> {
    listing
        .lines()
        .filter_map(|l| {
            let (left, target) = l.split_once(" -> ")?;
            let fd = left.split_whitespace().last()?.parse().ok()?;
            Some((fd, target.trim().to_string()))
        })
        .collect()
}

/// Docker's rule, and berth's: stdio is a pipe, a socket, /dev/null or a terminal of the
/// container's own /dev/pts, never a descriptor of the caller (its terminal, its files).
fn assert_only_own_descriptors(path: &str, listing: &str) {
    let fds = descriptors(listing);
    assert!(
        fds.iter().filter(|(fd, _)| *fd <= 2).count() == 3,
        "{path}: no stdio in the listing:\n{listing}"
    );
    for (fd, target) in &fds {
        let own = target.starts_with("pipe:")
            || target.starts_with("socket:")
            || target == "/dev/null"
            || target.starts_with("/dev/pts/")
            || (*fd > 2 && target.starts_with("/proc/"));
        assert!(
            own,
            "{path}: fd {fd} -> {target} is not the container's own:\n{listing}"
        );
    }
}

#[test]
fn every_way_into_a_container_gives_it_only_its_own_descriptors() {
    let b = Berth::new();
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "box",
        "bb:local",
        "sleep",
        "300",
    ]);

    // exec, exec -i (stdin from a file of the caller's), exec -t.
    let plain = b.ok(&["container", "exec", "box"]
        .iter()
        .chain(LIST_FDS)
        .copied()
        .collect::<Vec<_>>());
    assert_only_own_descriptors("exec", &plain);
    let input = b.dir.path().join("input.txt");
    std::fs::write(&input, "from the host\n").unwrap();
    let out = b
        .cmd(&[
            "container",
            "exec",
            "-i",
            "box",
            "sh",
            "-c",
            "ls -l /proc/self/fd; cat",
        ])
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    let listing = text(&out.stdout);
    assert!(
        listing.contains("from the host"),
        "stdin relayed: {listing}"
    );
    assert_only_own_descriptors("exec -i", &listing);
    let tty = b.ok(&["container", "exec", "-t", "box"]
        .iter()
        .chain(LIST_FDS)
        .copied()
        .collect::<Vec<_>>());
    assert_only_own_descriptors("exec -t", &tty);
    assert!(
        tty.contains("-> /dev/pts/"),
        "exec -t gets a terminal: {tty}"
    );

    // exec -d: the listing goes to a file in the container.
    b.ok(&[
        "container",
        "exec",
        "-d",
        "box",
        "sh",
        "-c",
        "ls -l /proc/self/fd > /tmp/fds",
    ]);
    assert!(b.wait_for(Duration::from_secs(5), || {
        !text(
            &b.run(&["container", "exec", "box", "cat", "/tmp/fds"])
                .stdout,
        )
        .is_empty()
    }));
    // The `sh -c` redirection makes fd 1 the file; 0 and 2 are what exec -d gave.
    let detached = b.ok(&["container", "exec", "box", "cat", "/tmp/fds"]);
    for (fd, target) in descriptors(&detached) {
        if fd != 1 {
            assert!(
                target.starts_with("pipe:") || target == "/dev/null" || fd > 2,
                "exec -d: fd {fd} -> {target}"
            );
        }
    }

    // run (attached, -i, -t) and run -d.
    let run: Vec<&str> = ["container", "run", "--rm", "bb:local"]
        .iter()
        .chain(LIST_FDS)
        .copied()
        .collect();
    assert_only_own_descriptors("run", &b.ok(&run));
    let run_i: Vec<&str> = ["container", "run", "--rm", "-i", "bb:local"]
        .iter()
        .chain(LIST_FDS)
        .copied()
        .collect();
    assert_only_own_descriptors("run -i", &b.ok(&run_i));
    let run_t: Vec<&str> = ["container", "run", "--rm", "-t", "bb:local"]
        .iter()
        .chain(LIST_FDS)
        .copied()
        .collect();
    assert_only_own_descriptors("run -t", &b.ok(&run_t));

    // A health check's command.
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "ls -l /proc/self/fd > /tmp/hc",
        "--health-interval",
        "1s",
        "bb:local",
        "sleep",
        "300",
    ]);
    assert!(b.wait_for(Duration::from_secs(10), || {
        !text(&b.run(&["container", "exec", "hc", "cat", "/tmp/hc"]).stdout).is_empty()
    }));
    let hc = b.ok(&["container", "exec", "hc", "cat", "/tmp/hc"]);
    for (fd, target) in descriptors(&hc) {
        if fd != 1 {
            assert!(
                target.starts_with("pipe:") || target == "/dev/null" || fd > 2,
                "health check: fd {fd} -> {target}"
            );
        }
    }
}

#[test]
fn stack_exec_and_run_give_only_own_descriptors() {
    let b = Berth::new();
    let dir = stack_dir(
        &b,
        "name: fds\nservices:\n  app:\n    image: bb:local\n    command: [\"sleep\", \"300\"]\n    init: true\n",
    );
    ok_in(&b, &dir, &["up", "-d"]);
    let exec: Vec<&str> = ["exec", "-T", "app"]
        .iter()
        .chain(LIST_FDS)
        .copied()
        .collect();
    assert_only_own_descriptors("stack exec", &ok_in(&b, &dir, &exec));
    let run: Vec<&str> = ["run", "--rm", "-T", "app"]
        .iter()
        .chain(LIST_FDS)
        .copied()
        .collect();
    assert_only_own_descriptors("stack run", &ok_in(&b, &dir, &run));
    let out = in_dir(&b, &dir, &["down", "-t", "0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// The attack of issue 12: a process an exec leaves behind reads what the operator types into
/// the shell that ran the exec. Its stdin must end with the exec, not stay the caller's.
#[test]
fn a_process_left_behind_by_exec_cannot_read_the_callers_input() {
    let b = Berth::new();
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "fdt",
        "bb:local",
        "sleep",
        "300",
    ]);
    let mut child = b
        .cmd(&[
            "container",
            "exec",
            "-i",
            "fdt",
            "sh",
            "-c",
            // A background job's stdin is /dev/null (POSIX), so it keeps the exec's as fd 3.
            "exec 3<&0; (sleep 1; dd bs=1 count=30 of=/tmp/stolen <&3) >/dev/null 2>&1 & echo done",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout).trim(), "done");
    // What the operator types after exec returned. Nobody in the container may hold the
    // other end: the write fails (EPIPE) or lands nowhere that dd reads.
    let _ = stdin.write_all(b"password typed at the host prompt\n");
    std::thread::sleep(Duration::from_millis(1800));
    let stolen = b.run(&["container", "exec", "fdt", "cat", "/tmp/stolen"]);
    assert_eq!(
        text(&stolen.stdout),
        "",
        "the container read the caller's input"
    );
}
