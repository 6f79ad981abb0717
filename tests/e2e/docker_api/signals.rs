//! `docker stop --signal` and `docker kill --signal` with any signal, real-time ones
//! included: the container's process gets the signal asked for; stop still ends in SIGKILL
//! once the grace period is over.

use super::events::{now, replay};
use super::*;

/// A shell that reports the signal `sig` (by number) and, when `exit` is set, exits with it.
fn trapping(sig: &str, exit: Option<u8>) -> String {
    let then = exit.map(|c| format!("; exit {c}")).unwrap_or_default();
    format!("trap 'echo got-{sig}{then}' {sig}; while true; do sleep 0.1; done")
}

/// docker-py's stop has no signal; its session (a requests.Session on the Docker socket)
/// posts the same request as `docker stop --signal USR1 -t 20` of a 23.0+ CLI.
const PY_STOP: &str = r#"
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1])
r = c.api.post(c.api._url("/containers/{0}/stop", "usr1"), params={"signal": "USR1", "t": 20})
print("stop", r.status_code)
print("exit", c.api.wait("usr1")["StatusCode"])
"#;

#[test]
fn docker_stop_and_kill_send_any_signal() {
    let d = Docker::new();
    let since = now();
    // stop?signal=USR1 (API 1.42; Debian's docker 20.10 has no `stop --signal`, so
    // docker-py's session sends it): the trap runs and the container exits with the code it
    // chose, long before the grace period.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "usr1",
        "bb:local",
        "sh",
        "-c",
        &trapping("USR1", Some(7)),
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let t = std::time::Instant::now();
    assert_eq!(d.py(PY_STOP, &[]), "stop 204\nexit 7\n");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(d.ok(&["logs", "usr1"]), "got-USR1\n");
    // A stop signal the process survives: SIGKILL after the grace period.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "usr2",
        "bb:local",
        "sh",
        "-c",
        &trapping("USR2", None),
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let (code, body) = d.raw("POST", "/v1.44/containers/usr2/stop?signal=SIGUSR2&t=1", "");
    assert_eq!(code, 204, "{body}");
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.ExitCode}}", "usr2"])
            .trim(),
        "137"
    );
    assert_eq!(d.ok(&["logs", "usr2"]), "got-USR2\n");
    // kill -s: a real-time signal by name (glibc's SIGRTMIN is 34: RTMIN+3 is 37) and by
    // number; the container keeps running.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "rt",
        "bb:local",
        "sh",
        "-c",
        &trapping("37", None),
    ]);
    std::thread::sleep(Duration::from_millis(300));
    d.ok(&["kill", "-s", "RTMIN+3", "rt"]);
    // The shell notes a pending signal once: the second comes after the first's trap ran.
    assert!(d
        .b
        .wait_for(Duration::from_secs(5), || d.ok(&["logs", "rt"])
            == "got-37\n"));
    d.ok(&["kill", "--signal", "37", "rt"]);
    assert!(d
        .b
        .wait_for(Duration::from_secs(5), || d.ok(&["logs", "rt"])
            == "got-37\ngot-37\n"));
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", "rt"]).trim(),
        "true"
    );
    let out = d.docker(&["kill", "-s", "BOGUS", "rt"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Invalid signal: BOGUS"),
        "{}",
        text(&out.stderr)
    );
    let (code, body) = d.raw("POST", "/v1.44/containers/rt/stop?signal=RTMAX%2B1", "");
    assert_eq!(
        (code, body.trim()),
        (400, r#"{"message":"Invalid signal: RTMAX+1"}"#)
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", "rt"]).trim(),
        "true"
    );
    // Each signal is a `kill` event with its number, as dockerd tells them.
    let until = now();
    let kills = replay(
        &d,
        &since,
        &until,
        &["event=kill"],
        "{{.Actor.Attributes.name}} {{.Actor.Attributes.signal}}",
    );
    assert_eq!(kills, "usr1 10\nusr2 12\nusr2 9\nrt 37\nrt 37\n");
    d.ok(&["rm", "-f", "usr1", "usr2", "rt"]);
}
