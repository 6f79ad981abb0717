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

/// `args` followed by the listing command.
fn listing_fds<'a>(args: &[&'a str]) -> Vec<&'a str> {
    args.iter().chain(LIST_FDS).copied().collect()
}

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

/// For a listing a command wrote to a file (`sh -c '... > FILE'` makes fd 1 that file): 0 and
/// 2 are what the way in gave.
fn assert_own_stdin_and_stderr(path: &str, listing: &str) {
    for (fd, target) in descriptors(listing) {
        if fd != 1 && fd <= 2 {
            assert!(
                target.starts_with("pipe:") || target == "/dev/null",
                "{path}: fd {fd} -> {target}"
            );
        }
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
    let plain = b.ok(&listing_fds(&["container", "exec", "box"]));
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
    let tty = b.ok(&listing_fds(&["container", "exec", "-t", "box"]));
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
    let detached = b.ok(&["container", "exec", "box", "cat", "/tmp/fds"]);
    assert_own_stdin_and_stderr("exec -d", &detached);

    // run (attached, -i, -t) and run -d.
    let run: Vec<&str> = listing_fds(&["container", "run", "--rm", "bb:local"]);
    assert_only_own_descriptors("run", &b.ok(&run));
    let run_i: Vec<&str> = listing_fds(&["container", "run", "--rm", "-i", "bb:local"]);
    assert_only_own_descriptors("run -i", &b.ok(&run_i));
    let run_t: Vec<&str> = listing_fds(&["container", "run", "--rm", "-t", "bb:local"]);
    assert_only_own_descriptors("run -t", &b.ok(&run_t));

    // create + start -a (the attach path).
    let create: Vec<&str> = listing_fds(&["container", "create", "--name", "att", "bb:local"]);
    b.ok(&create);
    assert_only_own_descriptors("start -a", &b.ok(&["container", "start", "-a", "att"]));

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
    assert_own_stdin_and_stderr("health check", &hc);
}

#[test]
fn stack_exec_and_run_give_only_own_descriptors() {
    let b = Berth::new();
    let dir = stack_dir(
        &b,
        "name: fds\nservices:\n  app:\n    image: bb:local\n    command: [\"sleep\", \"300\"]\n    init: true\n",
    );
    ok_in(&b, &dir, &["up", "-d"]);
    let exec: Vec<&str> = listing_fds(&["exec", "-T", "app"]);
    assert_only_own_descriptors("stack exec", &ok_in(&b, &dir, &exec));
    let run: Vec<&str> = listing_fds(&["run", "--rm", "-T", "app"]);
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

/// The same probes in a default container, `--privileged`, `--cap-add SYS_ADMIN` and
/// `seccomp=unconfined`; the expectations are Docker's on the same host.
#[test]
fn seccomp_and_capabilities_deny_what_docker_denies() {
    let b = Berth::new();
    let probe = "grep -E '^Seccomp:' /proc/self/status | tr -d '\\t'; \
                 unshare -Urm sh -c 'mkdir -p /tmp/u && mount -t tmpfs x /tmp/u && echo userns-mount' 2>&1 | tail -1; \
                 mkdir -p /tmp/m && mount -t tmpfs x /tmp/m 2>/dev/null && echo mount; true";
    let run = |opts: &[&str]| -> Vec<String> {
        let mut args = vec!["container", "run", "--rm"];
        args.extend_from_slice(opts);
        args.extend_from_slice(&["bb:local", "sh", "-c", probe]);
        b.ok(&args).lines().map(str::to_string).collect()
    };
    // Docker: filter on; a user namespace is refused by seccomp (unshare needs CAP_SYS_ADMIN
    // in the profile), mount by the missing capability.
    let default = run(&[]);
    assert_eq!(default[0], "Seccomp:2");
    assert!(
        default[1].contains("Operation not permitted"),
        "{default:?}"
    );
    assert_eq!(default.len(), 2, "{default:?}");
    // Docker: --privileged has no filter and every capability.
    let privileged = run(&["--privileged"]);
    assert_eq!(privileged[0], "Seccomp:0");
    assert_eq!(privileged[1..], ["userns-mount", "mount"], "{privileged:?}");
    // Docker: CAP_SYS_ADMIN re-allows mount, unshare and namespace clones in the profile.
    let admin = run(&["--cap-add", "SYS_ADMIN"]);
    assert_eq!(admin[0], "Seccomp:2");
    assert_eq!(admin[1..], ["userns-mount", "mount"], "{admin:?}");
    // Docker: unconfined lifts the filter, not the capabilities: a user namespace (and a
    // mount inside it) works, a mount in the container's own namespace does not.
    let unconfined = run(&["--security-opt", "seccomp=unconfined"]);
    assert_eq!(unconfined[0], "Seccomp:0");
    assert_eq!(unconfined[1..], ["userns-mount"], "{unconfined:?}");
}

#[test]
fn exec_runs_under_the_container_s_filter_and_no_new_privileges() {
    let b = Berth::new();
    let status = "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\\t' | tr '\\n' ' '";
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "plain",
        "bb:local",
        "sleep",
        "300",
    ]);
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "nnp",
        "--security-opt",
        "no-new-privileges",
        "bb:local",
        "sleep",
        "300",
    ]);
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "free",
        "--security-opt",
        "seccomp=unconfined",
        "bb:local",
        "sleep",
        "300",
    ]);
    for (name, expected) in [
        ("plain", "NoNewPrivs:0 Seccomp:2"),
        ("nnp", "NoNewPrivs:1 Seccomp:2"),
        ("free", "NoNewPrivs:0 Seccomp:0"),
    ] {
        let of_init = b.ok(&[
            "container",
            "exec",
            name,
            "sh",
            "-c",
            "grep -E '^(NoNewPrivs|Seccomp):' /proc/1/status | tr -d '\\t' | tr '\\n' ' '",
        ]);
        assert_eq!(of_init.trim(), expected, "{name}: the container's process");
        let of_exec = b.ok(&["container", "exec", name, "sh", "-c", status]);
        assert_eq!(of_exec.trim(), expected, "{name}: an exec'd process");
    }
    // The filter holds in exec: no user namespace.
    let out = b.run(&["container", "exec", "plain", "unshare", "-Ur", "true"]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
}

#[test]
fn custom_profiles_apply_and_bad_options_are_refused() {
    let b = Berth::new();
    let profile = b.dir.path().join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#,
    )
    .unwrap();
    let seccomp = format!("seccomp={}", profile.display());
    let out = b.run(&[
        "container",
        "run",
        "--rm",
        "--security-opt",
        &seccomp,
        "bb:local",
        "sh",
        "-c",
        "mkdir /tmp/x; grep -E '^Seccomp:' /proc/self/status",
    ]);
    assert!(
        text(&out.stderr).contains("Permission denied"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("Seccomp:\t2"));

    // Nothing is created for an option or a profile that is wrong.
    std::fs::write(&profile, r#"{"defaultAction": "SCMP_ACT_SOMETIMES"}"#).unwrap();
    for (opt, message) in [
        (seccomp.as_str(), "unknown action \"SCMP_ACT_SOMETIMES\""),
        (
            "seccomp=/nonexistent.json",
            "opening seccomp profile (/nonexistent.json) failed",
        ),
        ("bogus", "invalid --security-opt 1: \"bogus\""),
        (
            "no-new-privileges=maybe",
            "invalid --security-opt 2: \"no-new-privileges=maybe\"",
        ),
    ] {
        let out = b.run(&[
            "container",
            "run",
            "--rm",
            "--security-opt",
            opt,
            "bb:local",
            "true",
        ]);
        assert!(!out.status.success(), "{opt}");
        assert!(
            text(&out.stderr).contains(message),
            "{opt}: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(b.ok(&["container", "ls", "-aq"]).trim(), "");

    // In a stack: a profile file relative to the project directory, as Compose reads it.
    let dir = stack_dir(
        &b,
        "name: sec\nservices:\n  app:\n    image: bb:local\n    command: [\"sleep\", \"300\"]\n    init: true\n    security_opt: [\"seccomp=profile.json\", \"no-new-privileges:true\"]\n",
    );
    std::fs::write(
        dir.join("profile.json"),
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#,
    )
    .unwrap();
    ok_in(&b, &dir, &["up", "-d"]);
    let out = in_dir(&b, &dir, &["exec", "-T", "app", "mkdir", "/tmp/y"]);
    assert!(
        text(&out.stderr).contains("Permission denied"),
        "{}",
        text(&out.stderr)
    );
    let nnp = ok_in(
        &b,
        &dir,
        &["exec", "-T", "app", "grep", "NoNewPrivs", "/proc/1/status"],
    );
    assert!(nnp.contains("\t1"), "{nnp}");
    let out = in_dir(&b, &dir, &["down", "-t", "0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}
