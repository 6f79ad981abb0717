//! Stack features past the basics: `down --rmi`, stop timeouts of `up -t` / `down -t`,
//! Compose's progress display (plain and live on a terminal), anonymous volumes,
//! `volumes_from`, and the keys berth warns about or honours.

use crate::stacks::{in_dir, ok_in, progress_in, stack_dir};
use crate::support::*;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;

fn image_exists(b: &Berth, name: &str) -> bool {
    b.run(&["image", "inspect", name]).status.success()
}

#[test]
fn down_rmi_and_stop_timeouts() {
    let b = Berth::new();
    b.ok(&["image", "tag", "bb:local", "rmi-extra:1"]);
    // A service with only `build:` runs the image Compose would have built, project-service,
    // and builds nothing when it exists.
    b.ok(&["image", "tag", "bb:local", "rmi-app"]);
    // web takes 2 s to stop gracefully and leaves a marker when it gets them.
    let stack = r#"
name: rmi
services:
  app:
    build: .
    command: [sleep, "100"]
    init: true
  web:
    image: rmi-extra:1
    environment: {GEN: one}
    command: ["sh", "-c", "trap 'sleep 2; echo graceful > /out/marker; exit 0' TERM; while true; do sleep 0.1; done"]
    volumes: ["./out:/out"]
"#;
    let dir = stack_dir(&b, stack);
    // Its Dockerfile: the watched `up`s below rebuild it through the cache.
    std::fs::write(dir.join("Dockerfile"), "FROM bb:local\n").unwrap();
    let marker = dir.join("out/marker");
    let err = progress_in(&b, &dir, &["up", "-d", "--no-watch"]);
    assert!(
        !err.contains("Building") && !err.contains("ignored"),
        "{err}"
    );
    assert_eq!(b.status("rmi-app-1"), "running");
    assert!(b.inspect("rmi-app-1")["Config"]["Image"]
        .as_str()
        .unwrap()
        .starts_with("rmi-app"));

    // up -t 1: the recreated container gets 1 s, not the 2 s its handler needs.
    std::fs::write(
        dir.join("compose.yaml"),
        stack.replace("GEN: one", "GEN: two"),
    )
    .unwrap();
    let err = progress_in(&b, &dir, &["up", "-d", "-t", "1"]);
    assert!(err.contains("rmi-web-1  Recreated"), "{err}");
    assert!(
        !marker.exists(),
        "killed after 1 s, before the handler ended"
    );

    // down -t 5: time enough; --rmi local removes only the image without `image:`.
    let err = progress_in(&b, &dir, &["down", "-t", "5", "--rmi", "local"]);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "graceful\n");
    assert!(err.contains("Image rmi-app  Removed"), "{err}");
    assert!(!image_exists(&b, "rmi-app"));
    assert!(image_exists(&b, "rmi-extra:1"), "local keeps tagged images");

    // --rmi all: every service's image (an image no service uses stays); a bad value
    // is refused before anything happens.
    ok_in(&b, &dir, &["up", "-d"]);
    let bad = in_dir(&b, &dir, &["down", "--rmi", "some"]);
    assert!(!bad.status.success());
    assert_eq!(b.status("rmi-web-1"), "running");
    let err = progress_in(&b, &dir, &["down", "-t", "0", "--rmi", "all"]);
    assert!(err.contains("Image rmi-extra:1  Removed"), "{err}");
    assert!(!image_exists(&b, "rmi-extra:1") && !image_exists(&b, "rmi-app"));
    assert!(image_exists(&b, "bb:local"));
    assert_eq!(b.ok(&["container", "ls", "-aq"]), "");
}

const SMALL: &str = r#"
name: pr
services:
  db:
    image: bb:local
    command: [sleep, "100"]
    init: true
    volumes: [data:/data]
  web:
    image: bb:local
    command: [sleep, "100"]
    init: true
    depends_on: [db]
volumes:
  data:
"#;

#[test]
fn progress_is_plain_lines_in_a_pipe() {
    let b = Berth::new();
    let dir = stack_dir(&b, SMALL);
    let out = in_dir(&b, &dir, &["up", "-d"]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        "",
        "progress goes to stderr, as Compose's"
    );
    let err = text(&out.stderr);
    let pos = |line: &str| {
        err.find(line)
            .unwrap_or_else(|| panic!("{line:?} missing in {err}"))
    };
    assert!(pos(" Network pr_default  Creating") < pos(" Network pr_default  Created"));
    assert!(pos(" Volume pr_data  Created") > 0);
    assert!(pos(" Container pr-db-1  Creating") < pos(" Container pr-db-1  Created"));
    assert!(pos(" Container pr-db-1  Started") < pos(" Container pr-web-1  Starting"));
    assert!(!err.contains('\x1b'), "no escape codes in a pipe: {err:?}");
    let err = progress_in(&b, &dir, &["down"]);
    for line in [
        " Container pr-web-1  Stopping",
        " Container pr-web-1  Removed",
        " Network pr_default  Removed",
    ] {
        assert!(err.contains(line), "{line:?} missing in {err}");
    }
}

/// Runs `berth ARGS` in `dir` with a pseudo-terminal as stdout and stderr; returns all it drew.
fn on_a_terminal(b: &Berth, dir: &Path, args: &[&str]) -> (bool, String) {
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave: OwnedFd = pty.slave;
    let mut child = b
        .cmd(args)
        .current_dir(dir)
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    // Read while it runs (a full pty would block it); the read ends with EIO once the child
    // and its daemon-less descendants closed the terminal.
    let master = pty.master;
    let reader = std::thread::spawn(move || {
        let mut f = std::fs::File::from(master);
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = f.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        all
    });
    let ok = child.wait().unwrap().success();
    let drawn = reader.join().unwrap();
    (ok, text(&drawn))
}

#[test]
fn progress_is_redrawn_live_on_a_terminal() {
    let b = Berth::new();
    let dir = stack_dir(&b, SMALL);
    // The daemon must not inherit the terminal (it would keep the pty open): start it first.
    ok_in(&b, &dir, &["ls"]);
    let (ok, drawn) = on_a_terminal(&b, &dir, &["up", "-d"]);
    assert!(ok, "{drawn}");
    assert!(drawn.contains("[+] Running 4/4"), "{drawn:?}");
    for line in ["✔\x1b[0m Network pr_default", "✔\x1b[0m Container pr-web-1"] {
        assert!(drawn.contains(line), "{line:?} missing in {drawn:?}");
    }
    // Redrawn in place: the cursor goes back up over the block and lines are cleared.
    assert!(
        drawn.contains("\x1b[2K") && drawn.contains("A\x1b[2K[+] Running"),
        "{drawn:?}"
    );
    let last = drawn.rsplit("[+] Running").next().unwrap();
    assert!(
        last.contains("Started") && last.contains("s\r\n"),
        "times end the lines: {last:?}"
    );
    let (ok, drawn) = on_a_terminal(&b, &dir, &["down"]);
    assert!(ok && drawn.contains("Removed"), "{drawn:?}");
}

#[test]
fn anonymous_volumes_follow_their_container() {
    let b = Berth::new();
    let stack = r#"
name: anon
services:
  db:
    image: bb:local
    command: [sleep, "100"]
    init: true
    environment: {GEN: one}
    volumes: [/data]
"#;
    let dir = stack_dir(&b, stack);
    let anon_volumes = || -> Vec<String> {
        std::fs::read_dir(b.root.join("volumes"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("anon_db_1_"))
            .collect()
    };
    ok_in(&b, &dir, &["up", "-d", "--no-watch"]);
    assert_eq!(anon_volumes().len(), 1);
    b.ok(&[
        "container",
        "exec",
        "anon-db-1",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    // Recreated (its config changed): the new container has the old one's anonymous volume.
    std::fs::write(
        dir.join("compose.yaml"),
        stack.replace("GEN: one", "GEN: two"),
    )
    .unwrap();
    let err = progress_in(&b, &dir, &["up", "-d"]);
    assert!(err.contains("anon-db-1  Recreated"), "{err}");
    assert_eq!(
        b.ok(&["container", "exec", "anon-db-1", "cat", "/data/f"]),
        "kept\n"
    );
    // rm without -v keeps it; rm -v removes it.
    ok_in(&b, &dir, &["rm", "-f", "-s", "db"]);
    assert_eq!(anon_volumes().len(), 1);
    ok_in(&b, &dir, &["up", "-d"]);
    ok_in(&b, &dir, &["rm", "-f", "-s", "-v", "db"]);
    assert!(anon_volumes().is_empty(), "{:?}", anon_volumes());
    // down keeps it, down -v removes it.
    ok_in(&b, &dir, &["up", "-d"]);
    ok_in(&b, &dir, &["down", "-t", "0"]);
    assert_eq!(anon_volumes().len(), 1);
    ok_in(&b, &dir, &["up", "-d"]);
    ok_in(&b, &dir, &["down", "-t", "0", "-v"]);
    assert!(anon_volumes().is_empty(), "{:?}", anon_volumes());
}

#[test]
fn volumes_from_services_and_containers() {
    let b = Berth::new();
    let ext = b.dir.path().join("ext");
    std::fs::create_dir_all(&ext).unwrap();
    std::fs::write(ext.join("note"), "from ext\n").unwrap();
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "vf-ext",
        "-v",
        &format!("{}:/ext", ext.display()),
        "bb:local",
        "sleep",
        "100",
    ]);
    let stack = r#"
name: vf
services:
  data:
    image: bb:local
    command: ["sh", "-c", "echo shared > /shared/f; exec sleep 100"]
    init: true
    volumes: ["store:/shared", "/scratch"]
  reader:
    image: bb:local
    command: [sleep, "100"]
    init: true
    volumes_from: ["data:ro", "container:vf-ext"]
  writer:
    image: bb:local
    command: [sleep, "100"]
    init: true
    volumes_from: ["service:data"]
volumes:
  store:
"#;
    let dir = stack_dir(&b, stack);
    let err = progress_in(&b, &dir, &["up", "-d"]);
    // volumes_from makes data a dependency: it is started before its readers.
    let pos = |s: &str| err.find(s).unwrap_or_else(|| panic!("{s} in {err}"));
    assert!(
        pos("vf-data-1  Started") < pos("vf-reader-1  Starting"),
        "{err}"
    );
    assert!(!err.contains("volumes_from"), "no warning any more: {err}");
    let exec = |c: &str, cmd: &str| b.run(&["container", "exec", c, "sh", "-c", cmd]);
    assert!(b.wait_for(std::time::Duration::from_secs(5), || text(
        &exec("vf-reader-1", "cat /shared/f").stdout
    ) == "shared\n"));
    assert_eq!(
        text(&exec("vf-reader-1", "cat /ext/note").stdout),
        "from ext\n"
    );
    // :ro makes every mount read-only for the reader; the writer has them as data has them.
    assert!(!exec("vf-reader-1", "echo x > /shared/g").status.success());
    assert!(exec("vf-writer-1", "echo w > /scratch/w").status.success());
    assert_eq!(text(&exec("vf-data-1", "cat /scratch/w").stdout), "w\n");
    ok_in(&b, &dir, &["down", "-t", "0", "-v"]);
    b.ok(&["container", "rm", "-f", "vf-ext"]);
}

#[test]
fn unsupported_keys_are_warned_by_name_and_supported_ones_honoured() {
    let b = Berth::new();
    let stack = r#"
name: keys
services:
  dep:
    image: bb:local
    command: ["sh", "-c", "exit 1"]
  chatty:
    image: bb:local
    command: ["sh", "-c", "for i in $$(seq 300); do echo line $$i of the chatty service; done; exec sleep 100"]
    init: true
    logging: {options: {max-size: 1k, max-file: "2"}}
  app:
    image: bb:local
    command: [sleep, "100"]
    init: true
    domainname: example.internal
    dns_search: [corp.internal]
    sysctls: {net.core.somaxconn: "1000"}
    shm_size: 8m
    tmpfs: ["/scratch:size=1m,mode=1770"]
    stdin_open: true
    tty: true
    logging:
      driver: json-file
      options: {max-size: 1m, max-file: "2", compress: "true"}
    depends_on:
      dep: {condition: service_completed_successfully, required: false}
    security_opt: [no-new-privileges]
    oom_score_adj: 100
    pid: host
    deploy:
      resources:
        limits: {memory: 64m}
        reservations: {memory: 32m}
networks:
  default:
    driver_opts: {com.docker.network.driver.mtu: "1400", com.docker.network.bridge.name: br0}
"#;
    let dir = stack_dir(&b, stack);
    let err = progress_in(&b, &dir, &["up", "-d"]);
    for key in [
        "service app: `oom_score_adj` is not supported yet",
        "service app: `pid` is not supported yet",
        "service app: `deploy.resources.reservations` is not supported yet",
        "service app: `logging.options.compress` is not supported yet",
        "network default: `driver_opts.com.docker.network.bridge.name` is not supported yet",
        "service app: optional dependency dep failed",
    ] {
        assert!(err.contains(key), "{key:?} missing in {err}");
    }
    assert!(
        !err.contains("`domainname`")
            && !err.contains("`sysctls`")
            && !err.contains("`security_opt`"),
        "{err}"
    );
    let exec = |cmd: &str| b.ok(&["container", "exec", "keys-app-1", "sh", "-c", cmd]);
    assert_eq!(
        exec("cat /proc/sys/kernel/domainname").trim(),
        "example.internal"
    );
    assert!(exec("cat /etc/resolv.conf").contains("search corp.internal"));
    assert_eq!(exec("cat /proc/sys/net/core/somaxconn").trim(), "1000");
    assert!(
        exec("df -k /dev/shm").contains(" 8192 "),
        "{}",
        exec("df -k /dev/shm")
    );
    let scratch = exec("df -k /scratch; stat -c %a /scratch");
    assert!(
        scratch.contains(" 1024 ") && scratch.ends_with("1770\n"),
        "{scratch}"
    );
    assert_eq!(exec("cat /sys/class/net/eth0/mtu").trim(), "1400");
    // security_opt: no-new-privileges reaches the process (and its execs).
    assert!(exec("grep NoNewPrivs /proc/self/status").contains("\t1"));
    // json-file rotation: at most 1 KiB per file, two files.
    let id = b.inspect("keys-chatty-1")["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let logs = || -> Vec<(String, u64)> {
        std::fs::read_dir(b.root.join("containers").join(&id))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("-json.log"))
            .map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                (n, e.metadata().unwrap().len())
            })
            .collect()
    };
    assert!(b.wait_for(std::time::Duration::from_secs(5), || text(
        &b.run(&["container", "logs", "keys-chatty-1"]).stdout
    )
    .contains("line 300 ")));
    let files = logs();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().all(|(_, size)| *size <= 1024), "{files:?}");
    let app = b.inspect("keys-app-1");
    assert_eq!(app["Config"]["Tty"], true);
    assert_eq!(app["Config"]["OpenStdin"], true);
    ok_in(&b, &dir, &["down", "-t", "0"]);

    // A sysctl that is not namespaced would change the host: refused before anything exists.
    std::fs::write(
        dir.join("compose.yaml"),
        "name: keys\nservices:\n  app:\n    image: bb:local\n    sysctls: {vm.swappiness: '10'}\n",
    )
    .unwrap();
    let out = in_dir(&b, &dir, &["up", "-d"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("sysctl vm.swappiness is not namespaced"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(b.ok(&["container", "ls", "-aq"]), "");
    assert!(!text(&b.host(&["ip", "-o", "link"]).stdout).contains("br-"));
}
