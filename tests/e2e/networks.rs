//! Networks with real traffic: DNS names and aliases, published ports seen from a remote host,
//! from the host itself and from containers, isolation, internal networks, a FORWARD policy
//! of DROP, a flushed firewall healing itself, teardown, a killed daemon, DNS under churn,
//! connect/disconnect.
//!
//! "The host" is the daemon's own network namespace (`b.host`); a "remote host" is a second
//! namespace joined to it by a veth pair on 10.231.0.0/24 (host .1, remote .2).

use crate::support::*;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const HOST_IP: &str = "10.231.0.1";
const REMOTE_IP: &str = "10.231.0.2";

/// A second namespace on a veth pair with the daemon's, serving "remote host" over HTTP on
/// REMOTE_IP:80 (the egress target of containers).
struct Remote {
    ns: String,
    httpd: Child,
    _dir: tempfile::TempDir,
}

impl Remote {
    fn new(b: &Berth) -> Remote {
        let ns = format!("{}-r", b.netns);
        sh(&["ip", "netns", "add", &ns]);
        sh(&[
            "ip", "link", "add", "uplink", "netns", &b.netns, "type", "veth", "peer", "name",
            "eth0", "netns", &ns,
        ]);
        let host = |args: &[&str]| {
            let out = b.host(args);
            assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        };
        host(&["ip", "addr", "add", &format!("{HOST_IP}/24"), "dev", "uplink"]);
        host(&["ip", "link", "set", "uplink", "up"]);
        let remote = Remote {
            ns: ns.clone(),
            // Replaced below; a placeholder keeps Drop simple.
            httpd: Command::new("true").spawn().unwrap(),
            _dir: tempfile::tempdir().unwrap(),
        };
        for args in [
            vec!["ip", "link", "set", "lo", "up"],
            vec!["ip", "addr", "add", "10.231.0.2/24", "dev", "eth0"],
            vec!["ip", "link", "set", "eth0", "up"],
            vec!["ip", "route", "add", "default", "via", HOST_IP],
        ] {
            let out = remote.run(&args);
            assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        }
        let mut remote = remote;
        std::fs::write(remote._dir.path().join("index.html"), "remote host\n").unwrap();
        let _ = remote.httpd.wait();
        remote.httpd = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{ns}"))
            .args([BUSYBOX, "httpd", "-f", "-p", &format!("{REMOTE_IP}:80"), "-h"])
            .arg(remote._dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert!(
            b.wait_for(Duration::from_secs(5), || remote
                .curl(&format!("http://{REMOTE_IP}/"))
                .is_some()),
            "the remote host's httpd never answered"
        );
        remote
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.ns))
            .args(args)
            .output()
            .unwrap()
    }

    /// The body of `url` fetched from the remote host, None when it does not answer.
    fn curl(&self, url: &str) -> Option<String> {
        curl_out(self.run(&["curl", "-sS", "--max-time", "3", url]))
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        let _ = self.httpd.kill();
        let _ = self.httpd.wait();
        // The veth pair goes with the namespace.
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

fn curl_out(out: Output) -> Option<String> {
    out.status.success().then(|| text(&out.stdout))
}

/// The body of `url` fetched from the daemon's namespace ("the host").
fn host_curl(b: &Berth, url: &str) -> Option<String> {
    curl_out(b.host(&["curl", "-sS", "--max-time", "3", url]))
}

/// A web server container: busybox httpd serving "hello from berth" on port 80.
fn web(b: &Berth, name: &str, opts: &[&str]) {
    let mut args = vec!["container", "run", "-d", "--name", name];
    args.extend_from_slice(opts);
    args.extend_from_slice(&["bb:local", "httpd", "-f", "-p", "80", "-h", "/var/www"]);
    b.ok(&args);
}

/// A container doing nothing on `net`, to exec into.
fn idle(b: &Berth, name: &str, net: &str) {
    b.ok(&[
        "container", "run", "-d", "--name", name, "--network", net, "bb:local", "sleep", "1000",
    ]);
}

/// `sh -c script` run in a throwaway container on `net`.
fn run_on(b: &Berth, net: &str, script: &str) -> Output {
    b.run(&[
        "container", "run", "--rm", "--network", net, "bb:local", "sh", "-c", script,
    ])
}

fn exec(b: &Berth, c: &str, script: &str) -> Output {
    b.run(&["container", "exec", c, "sh", "-c", script])
}

/// `url` fetched with wget from a throwaway container on `net`; None when it fails. (Busybox
/// 1.35's `wget -T` segfaults, hence timeout(1).)
fn fetch_from(b: &Berth, net: &str, url: &str) -> Option<String> {
    curl_out(run_on(b, net, &format!("timeout 3 wget -qO- {url}")))
}

fn ip_on(b: &Berth, c: &str, net: &str) -> String {
    let v = b.inspect(c);
    v["NetworkSettings"]["Networks"][net]["IPAddress"]
        .as_str()
        .unwrap_or_else(|| panic!("{c} has no address on {net}: {}", v["NetworkSettings"]))
        .to_string()
}

fn network(b: &Berth, net: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&b.ok(&["network", "inspect", net])).unwrap();
    v[0].clone()
}

fn gateway(b: &Berth, net: &str) -> String {
    network(b, net)["gateway"].as_str().unwrap().to_string()
}

fn host_text(b: &Berth, args: &[&str]) -> String {
    let out = b.host(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// Every line of `iptables-save` in the daemon's namespace that mentions berth's chains.
fn berth_rules(b: &Berth) -> Vec<String> {
    host_text(b, &["iptables-save"])
        .lines()
        .filter(|l| l.contains("BERTH"))
        .map(String::from)
        .collect()
}

/// The `-A` lines that occur more than once (a rule applied twice).
fn duplicates(rules: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    rules
        .iter()
        .filter(|r| r.starts_with("-A") && !seen.insert(r.as_str()))
        .cloned()
        .collect()
}

/// Interfaces of the daemon's namespace (names without the @peer suffix).
fn host_links(b: &Berth) -> Vec<String> {
    host_text(b, &["ip", "-o", "link", "show"])
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap().to_string())
        .collect()
}

/// Runs `f` on a thread inside the network namespace at `path`.
fn in_netns<T: Send + 'static>(path: String, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        let ns = std::fs::File::open(&path).unwrap();
        // setns affects only this thread.
        assert_eq!(
            unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) },
            0,
            "setns {path}"
        );
        f()
    })
    .join()
    .unwrap()
}

/// A UDP echo server on port `port` in the network namespace of container `c` (busybox's nc
/// has no UDP): the DNAT path is the one a containerised server would see.
fn udp_echo_in(b: &Berth, c: &str, port: u16) {
    let pid = b.inspect(c)["State"]["Pid"].as_i64().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        in_netns(format!("/proc/{pid}/ns/net"), move || {
            let s = std::net::UdpSocket::bind(("0.0.0.0", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            tx.send(()).unwrap();
            let mut buf = [0u8; 1500];
            while let Ok((n, from)) = s.recv_from(&mut buf) {
                let mut reply = b"echo ".to_vec();
                reply.extend_from_slice(&buf[..n]);
                let _ = s.send_to(&reply, from);
            }
        })
    });
    rx.recv().unwrap();
}

/// Sends `msg` over UDP to `to` from the namespace at `ns`; the reply, if one comes.
fn udp_ask(ns: String, to: String, msg: &'static str) -> Option<String> {
    in_netns(ns, move || {
        let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        for _ in 0..3 {
            s.send_to(msg.as_bytes(), &to).unwrap();
            let mut buf = [0u8; 1500];
            if let Ok(n) = s.recv(&mut buf) {
                return Some(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        None
    })
}

const HELLO: &str = "hello from berth\n";

// ---- checks shared by the plain tests and the FORWARD-DROP one ----

fn check_dns(b: &Berth) {
    b.ok(&["network", "create", "front"]);
    b.ok(&["network", "create", "back"]);
    web(b, "web", &["--network", "front", "--network-alias", "www"]);
    idle(b, "other", "back");
    let web_ip = ip_on(b, "web", "front");
    for name in ["web", "www"] {
        let out = run_on(b, "front", &format!("nslookup {name}"));
        assert!(
            out.status.success() && text(&out.stdout).contains(&web_ip),
            "{name} should resolve to {web_ip} on front: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    assert_eq!(fetch_from(b, "front", "http://web/").as_deref(), Some(HELLO));
    assert_eq!(fetch_from(b, "front", "http://www/").as_deref(), Some(HELLO));
    // A container of another network is not a name here.
    let out = run_on(b, "front", "nslookup other");
    assert!(
        !out.status.success() && text(&out.stdout).contains("NXDOMAIN"),
        "a name of network back must be NXDOMAIN on front: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // resolv.conf points at the network's gateway; --add-host lands in /etc/hosts.
    let gw = gateway(b, "front");
    let out = b.ok(&[
        "container", "run", "--rm", "--network", "front", "--add-host", "db.example:10.1.2.3",
        "bb:local", "sh", "-c", "cat /etc/resolv.conf; echo ---; cat /etc/hosts",
    ]);
    let (resolv, hosts) = out.split_once("---\n").unwrap();
    let servers: Vec<&str> = resolv
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver "))
        .collect();
    assert_eq!(servers, vec![gw.as_str()], "resolv.conf: {resolv}");
    assert!(
        hosts
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["10.1.2.3", "db.example"]),
        "/etc/hosts lacks the --add-host entry: {hosts}"
    );
    // --dns overrides the gateway.
    let out = b.ok(&[
        "container", "run", "--rm", "--network", "front", "--dns", "192.0.2.53", "bb:local", "cat",
        "/etc/resolv.conf",
    ]);
    let servers: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver "))
        .collect();
    assert_eq!(servers, vec!["192.0.2.53"], "resolv.conf with --dns: {out}");
}

fn check_ports(b: &Berth, r: &Remote) {
    b.ok(&["network", "create", "pub"]);
    web(b, "web-all", &["--network", "pub", "-p", "8080:80"]);
    web(b, "web-lo", &["--network", "pub", "-p", "127.0.0.1:8081:80"]);
    // All addresses: from the remote host, from the host via localhost and via its own
    // address, and from a container via the host address.
    let all_remote = format!("http://{HOST_IP}:8080/");
    assert_eq!(r.curl(&all_remote).as_deref(), Some(HELLO), "remote -> {all_remote}");
    assert_eq!(
        host_curl(b, "http://127.0.0.1:8080/").as_deref(),
        Some(HELLO),
        "host -> 127.0.0.1:8080"
    );
    assert_eq!(host_curl(b, &all_remote).as_deref(), Some(HELLO), "host -> {all_remote}");
    assert_eq!(
        fetch_from(b, "pub", &all_remote).as_deref(),
        Some(HELLO),
        "container on the same network -> {all_remote}"
    );
    b.ok(&["network", "create", "elsewhere"]);
    assert_eq!(
        fetch_from(b, "elsewhere", &all_remote).as_deref(),
        Some(HELLO),
        "container on another network -> {all_remote}"
    );
    // 127.0.0.1 only: the host gets it, the remote host does not.
    assert_eq!(
        host_curl(b, "http://127.0.0.1:8081/").as_deref(),
        Some(HELLO),
        "host -> 127.0.0.1:8081"
    );
    assert_eq!(
        r.curl(&format!("http://{HOST_IP}:8081/")),
        None,
        "a port published on 127.0.0.1 must not answer the remote host"
    );
    // UDP.
    b.ok(&[
        "container", "run", "-d", "--name", "udp", "--network", "pub", "-p", "9999:9999/udp",
        "bb:local", "sleep", "1000",
    ]);
    udp_echo_in(b, "udp", 9999);
    assert_eq!(
        udp_ask(format!("/run/netns/{}", r.ns), format!("{HOST_IP}:9999"), "ping").as_deref(),
        Some("echo ping"),
        "UDP 9999 published on all addresses, asked from the remote host"
    );
    // -P publishes what the image EXPOSEs.
    let tar = b.busybox_tar();
    b.ok(&[
        "image", "import", "-c", "EXPOSE 80", tar.to_str().unwrap(), "bbx:local",
    ]);
    b.ok(&[
        "container", "run", "-d", "--name", "auto", "--network", "pub", "-P", "bbx:local",
        "httpd", "-f", "-p", "80", "-h", "/var/www",
    ]);
    let ports = b.ok(&["container", "port", "auto"]);
    let host_port = ports
        .lines()
        .find_map(|l| l.strip_prefix("80/tcp -> 0.0.0.0:"))
        .unwrap_or_else(|| panic!("container port lists no 80/tcp: {ports:?}"))
        .trim()
        .to_string();
    assert_eq!(
        r.curl(&format!("http://{HOST_IP}:{host_port}/")).as_deref(),
        Some(HELLO),
        "-P port {host_port} from the remote host"
    );
}

fn check_isolation(b: &Berth, r: &Remote) {
    b.ok(&["network", "create", "neta"]);
    b.ok(&["network", "create", "netb"]);
    b.ok(&["network", "create", "--internal", "vault"]);
    web(b, "a-web", &["--network", "neta"]);
    let a_ip = ip_on(b, "a-web", "neta");
    assert_eq!(
        fetch_from(b, "neta", &format!("http://{a_ip}/")).as_deref(),
        Some(HELLO),
        "same network by address"
    );
    assert_eq!(
        fetch_from(b, "netb", &format!("http://{a_ip}/")),
        None,
        "a container on netb reached {a_ip} on neta"
    );
    // A regular network has egress to the remote host; an internal one does not, yet its
    // members reach each other.
    let remote = format!("http://{REMOTE_IP}/");
    assert_eq!(
        fetch_from(b, "neta", &remote).as_deref(),
        Some("remote host\n"),
        "egress from a regular network"
    );
    web(b, "v-web", &["--network", "vault"]);
    assert_eq!(fetch_from(b, "vault", "http://v-web/").as_deref(), Some(HELLO));
    assert_eq!(fetch_from(b, "vault", &remote), None, "an internal network reached {remote}");
    // Nor does the remote host reach into it (routing to the subnet through the host).
    let subnet = network(b, "vault")["subnet"].as_str().unwrap().to_string();
    let out = r.run(&["ip", "route", "add", &subnet, "via", HOST_IP]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v_ip = ip_on(b, "v-web", "vault");
    assert_eq!(r.curl(&format!("http://{v_ip}/")), None, "remote host reached {v_ip} on internal");
    let _ = r.run(&["ip", "route", "del", &subnet]);
}

#[test]
fn networks_dns_names_aliases_hosts_and_resolv_conf() {
    let b = Berth::new();
    check_dns(&b);
}

#[test]
fn networks_published_ports_from_remote_host_localhost_and_containers() {
    let b = Berth::new();
    let r = Remote::new(&b);
    check_ports(&b, &r);
}

#[test]
fn networks_are_isolated_and_internal_has_no_egress() {
    let b = Berth::new();
    let r = Remote::new(&b);
    check_isolation(&b, &r);
}

#[test]
fn networks_work_under_forward_policy_drop_and_leave_it() {
    let b = Berth::new();
    // Docker does this; it happened before berth made any network.
    host_text(&b, &["iptables", "-P", "FORWARD", "DROP"]);
    let r = Remote::new(&b);
    check_dns(&b);
    check_ports(&b, &r);
    check_isolation(&b, &r);
    let policy = host_text(&b, &["iptables", "-S", "FORWARD"]);
    assert_eq!(policy.lines().next(), Some("-P FORWARD DROP"), "berth changed FORWARD's policy");
}
