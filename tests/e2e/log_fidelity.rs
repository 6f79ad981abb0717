//! Logs as Compose and Docker print them: `SERVICE-N |` prefixes (attached `up`, `logs`,
//! `Attaching to`), `--since`/`--until` in every form the docker CLI reads, `--index`,
//! `--no-log-prefix`, stderr lines on stderr, and `container logs --since/--until`.
//! (Expected outputs from a side-by-side run with Docker Compose v2.40.3 and docker 20.10.)

use crate::stacks::{in_dir, ok_in, stack_dir};
use crate::support::*;
use std::time::{Duration, Instant};

/// Two lines two seconds apart, then quiet: a window between them selects one.
const TWO_LINES: &str = "echo early; echo oops >&2; sleep 2; echo late; exec sleep 600";

/// `name   | text` -> `name | text`: Compose pads names to the longest that has printed so
/// far, which depends on which container speaks first.
fn unpadded(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| match l.split_once(" | ") {
            Some((name, rest)) => format!("{} | {rest}", name.trim_end()),
            None => l.to_string(),
        })
        .collect()
}

/// The time of the line `line` in `logs -t` output (`PREFIX TIME line`).
fn time_of(stamped: &str, line: &str) -> chrono::DateTime<chrono::Utc> {
    let l = stamped
        .lines()
        .find(|l| l.ends_with(&format!(" {line}")))
        .unwrap_or_else(|| panic!("{line} in {stamped}"));
    let time = l.rsplit(' ').nth(1).unwrap();
    chrono::DateTime::parse_from_rfc3339(time)
        .unwrap_or_else(|e| panic!("{time}: {e}"))
        .with_timezone(&chrono::Utc)
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[test]
fn container_logs_since_and_until_select_a_window() {
    let b = Berth::new();
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "win",
        "bb:local",
        "sh",
        "-c",
        TWO_LINES,
    ]);
    assert!(b.wait_for(Duration::from_secs(15), || b
        .ok(&["container", "logs", "win"])
        .contains("late")));
    let logs = |extra: &[&str]| {
        let mut args = vec!["container", "logs"];
        args.extend_from_slice(extra);
        args.push("win");
        let out = b.run(&args);
        assert!(out.status.success(), "{extra:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    // stdout and stderr stay apart, as Docker's.
    assert_eq!(logs(&[]), "early\nlate\n");
    let stamped = logs(&["-t"]);
    let mid = time_of(&stamped, "early") + chrono::Duration::seconds(1);
    let mid_unix = format!("{}.{:09}", mid.timestamp(), mid.timestamp_subsec_nanos());
    assert_eq!(logs(&["--since", &rfc3339(mid)]), "late\n");
    assert_eq!(logs(&["--until", &rfc3339(mid)]), "early\n");
    assert_eq!(logs(&["--since", &mid_unix]), "late\n");
    assert_eq!(logs(&["--since", "1h"]), "early\nlate\n");
    // A Go duration counts back from now: `--until 1h` is an hour ago, before anything.
    assert_eq!(logs(&["--until", "1h"]), "");
    assert_eq!(logs(&["--since", "1h", "--until", "-1h"]), "early\nlate\n");
    assert_eq!(logs(&["--tail", "1", "--until", &rfc3339(mid)]), "");
    let bad = b.run(&["container", "logs", "--since", "yesterday", "win"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains(
            "invalid value for \"since\": failed to parse value as time or duration: \"yesterday\""
        ),
        "{}",
        text(&bad.stderr)
    );
    // -f with --until stops at the end of the window instead of following.
    let started = Instant::now();
    assert_eq!(logs(&["-f", "--until", &rfc3339(mid)]), "early\n");
    assert!(started.elapsed() < Duration::from_secs(10));
}

const STACK: &str = r#"
name: lg
services:
  web:
    image: bb:local
    command: ["sh", "-c", "echo early; echo oops >&2; sleep 2; echo late; exec sleep 600"]
  worker:
    image: bb:local
    command: ["sh", "-c", "echo worker $$HOSTNAME; exec sleep 600"]
    deploy:
      replicas: 2
  quiet:
    image: bb:local
    command: ["sh", "-c", "echo hidden; exec sleep 600"]
    attach: false
"#;

#[test]
fn stack_logs_prefix_filter_and_select_as_compose() {
    let b = Berth::new();
    let dir = stack_dir(&b, STACK);
    ok_in(&b, &dir, &["up", "-d"]);
    assert!(b.wait_for(Duration::from_secs(15), || ok_in(
        &b,
        &dir,
        &["logs", "web"]
    )
    .contains("late")));

    // One container: `web-1  | ` (the name, padded to its length plus one).
    let web = in_dir(&b, &dir, &["logs", "web"]);
    assert_eq!(text(&web.stdout), "web-1  | early\nweb-1  | late\n");
    assert_eq!(text(&web.stderr), "web-1  | oops\n");

    // Every service but the one with `attach: false`; each replica by its number.
    let all = unpadded(&ok_in(&b, &dir, &["logs"]));
    for line in [
        "web-1 | early",
        "web-1 | late",
        "worker-1 | worker",
        "worker-2 | worker",
    ] {
        assert!(all.iter().any(|l| l.starts_with(line)), "{line} in {all:?}");
    }
    assert!(!all.iter().any(|l| l.contains("hidden")), "{all:?}");
    assert!(ok_in(&b, &dir, &["logs", "quiet"]).contains("quiet-1  | hidden"));

    // --index picks one replica; it needs exactly one service.
    let second = ok_in(&b, &dir, &["logs", "--index", "2", "worker"]);
    assert!(second.starts_with("worker-2  | worker "), "{second}");
    assert_eq!(second.lines().count(), 1, "{second}");
    for (args, message) in [
        (
            &["logs", "--index", "1"][..],
            "--index requires one service to be selected",
        ),
        (
            &["logs", "--index", "5", "worker"][..],
            "service \"worker\" is not running container #5",
        ),
    ] {
        let out = in_dir(&b, &dir, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(text(&out.stderr).contains(message), "{}", text(&out.stderr));
    }

    // --since/--until and -t as Compose: the prefix, then the time, then the line.
    let stamped = ok_in(&b, &dir, &["logs", "-t", "web"]);
    assert!(stamped.starts_with("web-1  | 20"), "{stamped}");
    let mid = time_of(&stamped, "early") + chrono::Duration::seconds(1);
    assert_eq!(
        ok_in(&b, &dir, &["logs", "--since", &rfc3339(mid), "web"]),
        "web-1  | late\n"
    );
    assert_eq!(
        ok_in(
            &b,
            &dir,
            &["logs", "--until", &rfc3339(mid), "--no-log-prefix", "web"]
        ),
        "early\n"
    );
}

const ATTACHED: &str = r#"
name: att
services:
  srv:
    image: bb:local
    command: ["sh", "-c", "echo before; sleep 3; echo after; exec sleep 600"]
    init: true
  job:
    image: bb:local
    command: ["sh", "-c", "sleep 1; echo job done; exit 3"]
    restart: "no"
"#;

/// Attached `up` on a stack that already runs: `Attaching to` names without the project,
/// only what is printed from then on (Compose attaches rather than replaying the log), the
/// prefixes, and Compose's `exited with code` line.
#[test]
fn attached_up_attaches_to_new_output_with_compose_prefixes() {
    let b = Berth::new();
    let dir = stack_dir(&b, ATTACHED);
    ok_in(&b, &dir, &["up", "-d", "srv"]);
    assert!(b.wait_for(Duration::from_secs(10), || ok_in(
        &b,
        &dir,
        &["logs", "srv"]
    )
    .contains("before")));
    let child = b
        .cmd(&["up", "--abort-on-container-exit"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let lines = unpadded(&stdout);
    assert_eq!(lines[0], "Attaching to job-1, srv-1", "{stdout}");
    assert!(lines.contains(&"job-1 | job done".to_string()), "{stdout}");
    assert!(
        lines.contains(&"job-1 exited with code 3".to_string()),
        "{stdout}"
    );
    assert!(!stdout.contains("before"), "old output replayed: {stdout}");
}
