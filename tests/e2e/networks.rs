//! Networks with real traffic: DNS names and aliases, published ports seen from a remote host,
//! from the host itself and from containers, isolation, internal networks, a FORWARD policy
//! of DROP, a flushed firewall healing itself, teardown, a killed daemon, DNS under churn,
//! connect/disconnect.
//!
//! "The host" is the daemon's own network namespace (`b.host`); a "remote host" is a second
//! namespace joined to it by a veth pair on 10.231.0.0/24 (host .1, remote .2).
//! Long: one test per network behaviour with real traffic, sharing the traffic helpers.

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
        let host_addr = format!("{HOST_IP}/24");
        let remote_addr = format!("{REMOTE_IP}/24");
        let steps: [(bool, &[&str]); 6] = [
            (true, &["ip", "addr", "add", &host_addr, "dev", "uplink"]),
            (true, &["ip", "link", "set", "uplink", "up"]),
            (false, &["ip", "link", "set", "lo", "up"]),
            (false, &["ip", "addr", "add", &remote_addr, "dev", "eth0"]),
            (false, &["ip", "link", "set", "eth0", "up"]),
            // Replies to the host's address need no route; this one lets a test route a
            // container subnet through the host.
            (false, &["ip", "route", "add", "default", "via", HOST_IP]),
        ];
        let enter = |on_host: bool| {
            let target = if on_host { &b.netns } else { &ns };
            let mut c = Command::new("nsenter");
            c.arg(format!("--net=/run/netns/{target}"));
            c
        };
        for (on_host, args) in steps {
            let out = enter(on_host).args(args).output().unwrap();
            assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "remote host\n").unwrap();
        let httpd = enter(false)
            .args([
                BUSYBOX,
                "httpd",
                "-f",
                "-p",
                &format!("{REMOTE_IP}:80"),
                "-h",
            ])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let remote = Remote {
            ns,
            httpd,
            _dir: dir,
        };
        assert!(
            b.wait_for(Duration::from_secs(5), || remote
                .curl(&format!("http://{REMOTE_IP}/"))
                .is_some()),
            "the remote host's httpd never answered"
        );
        remote
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.ns))
            .args(args)
            .output();
        crate::programs::found(args[0], out)
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

/// `sh -c script` run in a throwaway container on `net`.
fn run_on(b: &Berth, net: &str, script: &str) -> Output {
    b.run(&[
        "container",
        "run",
        "--rm",
        "--network",
        net,
        "bb:local",
        "sh",
        "-c",
        script,
    ])
}

fn exec(b: &Berth, c: &str, script: &str) -> Output {
    b.run(&["container", "exec", c, "sh", "-c", script])
}

/// `url` fetched with wget from a throwaway container on `net`; None when it fails. Busybox
/// 1.35's `wget -T` segfaults, hence timeout(1); the trailing `exit` keeps sh from exec'ing
/// it, or wget would be pid 1 and immune to timeout's SIGTERM.
fn fetch_from(b: &Berth, net: &str, url: &str) -> Option<String> {
    curl_out(run_on(
        b,
        net,
        &format!("timeout 3 wget -qO- {url}; exit $?"),
    ))
}

fn ip_on(b: &Berth, c: &str, net: &str) -> String {
    let v = b.inspect(c);
    v["NetworkSettings"]["Networks"][net]["IPAddress"]
        .as_str()
        .unwrap_or_else(|| panic!("{c} has no address on {net}: {}", v["NetworkSettings"]))
        .to_string()
}

fn network(b: &Berth, net: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&b.ok(&["network", "inspect", net])).unwrap();
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

/// Every rule of `iptables-save` in the daemon's namespace that mentions berth's chains
/// (jumps included), prefixed with its table, sorted.
fn berth_rules(b: &Berth) -> Vec<String> {
    let mut table = String::new();
    let mut rules = Vec::new();
    for l in host_text(b, &["iptables-save"]).lines() {
        if let Some(t) = l.strip_prefix('*') {
            table = t.to_string();
        } else if l.starts_with("-A ") && l.contains("BERTH") {
            rules.push(format!("{table} {l}"));
        }
    }
    rules.sort();
    rules
}

/// The `-A` lines that occur more than once (a rule applied twice).
fn duplicates(rules: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    rules
        .iter()
        .filter(|r| !seen.insert(r.as_str()))
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
    assert_eq!(
        fetch_from(b, "front", "http://web/").as_deref(),
        Some(HELLO)
    );
    assert_eq!(
        fetch_from(b, "front", "http://www/").as_deref(),
        Some(HELLO)
    );
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
        "container",
        "run",
        "--rm",
        "--network",
        "front",
        "--add-host",
        "db.example:10.1.2.3",
        "bb:local",
        "sh",
        "-c",
        "cat /etc/resolv.conf; echo ---; cat /etc/hosts",
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
        "container",
        "run",
        "--rm",
        "--network",
        "front",
        "--dns",
        "192.0.2.53",
        "bb:local",
        "cat",
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
    web(
        b,
        "web-lo",
        &["--network", "pub", "-p", "127.0.0.1:8081:80"],
    );
    // All addresses: from the remote host, from the host via localhost and via its own
    // address, and from a container via the host address.
    let all_remote = format!("http://{HOST_IP}:8080/");
    assert_eq!(
        r.curl(&all_remote).as_deref(),
        Some(HELLO),
        "remote -> {all_remote}"
    );
    assert_eq!(
        host_curl(b, "http://127.0.0.1:8080/").as_deref(),
        Some(HELLO),
        "host -> 127.0.0.1:8080"
    );
    assert_eq!(
        host_curl(b, &all_remote).as_deref(),
        Some(HELLO),
        "host -> {all_remote}"
    );
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
    assert_eq!(
        fetch_from(b, "pub", &format!("http://{HOST_IP}:8081/")),
        None,
        "a port published on 127.0.0.1 must not answer a container"
    );
    let gw = gateway(b, "pub");
    assert_eq!(
        fetch_from(b, "pub", &format!("http://{gw}:8081/")),
        None,
        "a port published on 127.0.0.1 must not answer a container through its gateway"
    );
    // UDP.
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "udp",
        "--network",
        "pub",
        "-p",
        "9999:9999/udp",
        "bb:local",
        "sleep",
        "1000",
    ]);
    udp_echo_in(b, "udp", 9999);
    assert_eq!(
        udp_ask(
            format!("/run/netns/{}", r.ns),
            format!("{HOST_IP}:9999"),
            "ping"
        )
        .as_deref(),
        Some("echo ping"),
        "UDP 9999 published on all addresses, asked from the remote host"
    );
    // -P publishes what the image EXPOSEs.
    let tar = b.busybox_tar();
    b.ok(&[
        "image",
        "import",
        "-c",
        "EXPOSE 80",
        tar.to_str().unwrap(),
        "bbx:local",
    ]);
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "auto",
        "--network",
        "pub",
        "-P",
        "bbx:local",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/var/www",
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
    assert_eq!(
        fetch_from(b, "vault", "http://v-web/").as_deref(),
        Some(HELLO)
    );
    assert_eq!(
        fetch_from(b, "vault", &remote),
        None,
        "an internal network reached {remote}"
    );
    // Nor does the remote host reach into it (routing to the subnet through the host).
    let subnet = network(b, "vault")["subnet"].as_str().unwrap().to_string();
    let out = r.run(&["ip", "route", "add", &subnet, "via", HOST_IP]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v_ip = ip_on(b, "v-web", "vault");
    assert_eq!(
        r.curl(&format!("http://{v_ip}/")),
        None,
        "remote host reached {v_ip} on internal"
    );
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
    check_healing(&b, &r);
    let policy = host_text(&b, &["iptables", "-S", "FORWARD"]);
    assert_eq!(
        policy.lines().next(),
        Some("-P FORWARD DROP"),
        "berth changed FORWARD's policy"
    );
}

/// The container's record as the daemon persists it (inspect does not show the shim's pid).
fn record(b: &Berth, c: &str) -> serde_json::Value {
    let id = b.inspect(c)["Id"].as_str().unwrap().to_string();
    let path = b.root.join("containers").join(id).join("container.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// SIGKILL and wait until the process is gone (or a zombie): the kill is asynchronous, and a
/// dying daemon still accepts connections it will then reset.
fn kill9(b: &Berth, pid: i64) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let dead = b.wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    });
    assert!(dead, "{pid} survived SIGKILL");
}

fn container_id(b: &Berth, c: &str) -> String {
    b.inspect(c)["Id"].as_str().unwrap().to_string()
}

/// Whether `name` resolves to `ip` when looked up from inside container `from`.
fn resolves(b: &Berth, from: &str, name: &str, ip: &str) -> bool {
    let out = exec(b, from, &format!("nslookup {name}"));
    out.status.success()
        && text(&out.stdout)
            .lines()
            .any(|l| l.starts_with("Address") && l.ends_with(&format!(" {ip}")))
}

fn nxdomain(b: &Berth, from: &str, name: &str) -> bool {
    let out = exec(b, from, &format!("nslookup {name}"));
    !out.status.success() && text(&out.stdout).contains("NXDOMAIN")
}

#[test]
fn networks_flushed_firewall_heals_without_restarting_containers() {
    let b = Berth::new();
    let r = Remote::new(&b);
    check_healing(&b, &r);
}

fn check_healing(b: &Berth, r: &Remote) {
    b.ok(&["network", "create", "heal"]);
    web(b, "healed", &["--network", "heal", "-p", "8090:80"]);
    let url = format!("http://{HOST_IP}:8090/");
    assert_eq!(r.curl(&url).as_deref(), Some(HELLO));
    let pid = b.inspect("healed")["State"]["Pid"].as_i64().unwrap();
    let before = berth_rules(b);
    // Flush every berth chain and delete every jump into them, as a careless admin (or a
    // firewall reload) would.
    let prefix = b.chain_prefix();
    for (table, chain) in [
        ("filter", "FORWARD"),
        ("filter", "ISOLATION-1"),
        ("filter", "ISOLATION-2"),
        ("nat", "DNAT"),
        ("nat", "POSTROUTING"),
        ("raw", "PREROUTING"),
    ] {
        let chain = format!("{prefix}-{chain}");
        host_text(b, &["iptables", "-t", table, "-F", &chain]);
    }
    for rule in &before {
        let (table, rule) = rule.split_once(' ').unwrap();
        if let Some(jump) = rule.strip_prefix("-A ").filter(|r| !r.starts_with("BERTH")) {
            let mut args = vec!["iptables", "-t", table, "-D"];
            args.extend(jump.split_whitespace());
            host_text(b, &args);
        }
    }
    assert!(
        berth_rules(b).len() < before.len(),
        "the flush removed nothing"
    );
    // The daemon resyncs every 5 s.
    let healed = b.wait_for(Duration::from_secs(10), || {
        berth_rules(b) == before && r.curl(&url).as_deref() == Some(HELLO)
    });
    let after = berth_rules(b);
    assert!(
        healed,
        "not healed within 10 s; before:\n{}\nafter:\n{}",
        before.join("\n"),
        after.join("\n")
    );
    assert_eq!(duplicates(&after), Vec::<String>::new(), "duplicate rules");
    assert_eq!(
        b.inspect("healed")["State"]["Pid"].as_i64(),
        Some(pid),
        "healing restarted the container"
    );
}

#[test]
fn networks_teardown_frees_addresses_names_rules_and_devices() {
    let b = Berth::new();
    b.ok(&["network", "create", "tear"]);
    web(&b, "gone", &["--network", "tear", "-p", "8080:80"]);
    idle(&b, "stay", "tear");
    let ip = ip_on(&b, "gone", "tear");
    let gone_id = container_id(&b, "gone");
    let net = network(&b, "tear");
    let veth = net["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["container_id"] == gone_id.as_str())
        .unwrap()["host_ifname"]
        .as_str()
        .unwrap()
        .to_string();
    let dnat = format!("--to-destination {ip}:80");
    assert!(host_links(&b).contains(&veth), "{veth} missing");
    assert!(
        berth_rules(&b).iter().any(|r| r.contains(&dnat)),
        "no DNAT to {ip}:80"
    );
    assert!(resolves(&b, "stay", "gone", &ip));

    // Removing a container: veth, DNAT rules, DNS names and address go.
    b.ok(&["container", "rm", "-f", "gone"]);
    // The veth pair dies with the container's namespace, which the kernel tears down on its
    // own a moment after the pin goes.
    assert!(
        b.wait_for(Duration::from_secs(5), || !host_links(&b).contains(&veth)),
        "{veth} outlived its container"
    );
    let rules = berth_rules(&b);
    assert!(
        !rules.iter().any(|r| r.contains(&dnat)),
        "DNAT to a removed container: {rules:?}"
    );
    assert!(
        nxdomain(&b, "stay", "gone"),
        "a removed container's name still resolves"
    );
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "again",
        "--network",
        "tear",
        "--ip",
        &ip,
        "bb:local",
        "sleep",
        "1000",
    ]);
    assert_eq!(ip_on(&b, "again", "tear"), ip);

    // Removing a network: bridge, its rules, its DNS listener go.
    let bridge = net["bridge"].as_str().unwrap().to_string();
    let gw = net["gateway"].as_str().unwrap().to_string();
    let dns = format!("{gw}:53");
    assert!(
        host_text(&b, &["ss", "-lun"]).contains(&dns),
        "no DNS server on {dns}"
    );
    b.ok(&["container", "rm", "-f", "stay", "again"]);
    b.ok(&["network", "rm", "tear"]);
    assert!(
        !host_links(&b).contains(&bridge),
        "{bridge} outlived its network"
    );
    let rules = berth_rules(&b);
    assert!(
        !rules.iter().any(|r| r.contains(&bridge)),
        "rules of a removed network: {rules:?}"
    );
    let listening = host_text(&b, &["ss", "-lnut"]);
    assert!(
        !listening.contains(&dns),
        "DNS still listening on {dns}:\n{listening}"
    );

    // Everything: the default network and a user one, with containers; then nothing berth
    // made is left in the namespace. (The last network's removal took berth's chains away:
    // the first new network brings them back, published port included.)
    web(&b, "d1", &["-p", "8080:80"]);
    assert_eq!(
        host_curl(&b, "http://127.0.0.1:8080/").as_deref(),
        Some(HELLO),
        "a port published after every network was gone"
    );
    b.ok(&["network", "create", "last"]);
    idle(&b, "d2", "last");
    b.ok(&["container", "rm", "-f", "d1", "d2"]);
    b.ok(&["network", "rm", "last", "bridge"]);
    let ours = || -> Vec<String> {
        host_links(&b)
            .into_iter()
            .filter(|l| l.starts_with("br-") || l.starts_with("vb"))
            .collect()
    };
    // Veth pairs go with their containers' namespaces, which the kernel reaps on its own.
    b.wait_for(Duration::from_secs(5), || ours().is_empty());
    assert_eq!(ours(), Vec::<String>::new(), "devices left behind");
    let save = host_text(&b, &["iptables-save"]);
    let left: Vec<&str> = save.lines().filter(|l| l.contains("BERTH")).collect();
    assert_eq!(left, Vec::<&str>::new(), "berth's firewall left behind");
}

#[test]
fn networks_killed_daemon_keeps_addresses_names_and_rules() {
    let b = Berth::new();
    b.ok(&["network", "create", "keep"]);
    web(&b, "web", &["--network", "keep", "-p", "8080:80"]);
    idle(&b, "victim", "keep");
    idle(&b, "client", "keep");
    let web_ip = ip_on(&b, "web", "keep");
    let victim_ip = ip_on(&b, "victim", "keep");
    let victim_id = container_id(&b, "victim");
    let before = berth_rules(&b);
    let victim = record(&b, "victim");

    kill9(&b, b.daemon_pid() as i64);
    // The victim dies with its shim while no daemon watches.
    kill9(&b, victim["state"]["shim_pid"].as_i64().unwrap());
    kill9(&b, victim["state"]["pid"].as_i64().unwrap());
    // Any command starts a new daemon.
    b.ok(&["container", "ls"]);
    assert!(
        b.wait_for(Duration::from_secs(10), || b.status("victim") == "exited"),
        "victim is {}",
        b.status("victim")
    );
    let after = berth_rules(&b);
    assert_eq!(duplicates(&after), Vec::<String>::new(), "duplicate rules");
    assert_eq!(after, before, "rules changed across the restart");
    assert_eq!(ip_on(&b, "web", "keep"), web_ip);
    assert!(
        resolves(&b, "client", "web", &web_ip),
        "web no longer resolves"
    );
    assert_eq!(
        host_curl(&b, "http://127.0.0.1:8080/").as_deref(),
        Some(HELLO)
    );
    // The exited victim still owns its address until it is removed.
    let owner = |b: &Berth| {
        network(b, "keep")["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["ip"] == victim_ip.as_str())
            .map(|e| e["container_id"].as_str().unwrap().to_string())
    };
    assert_eq!(
        owner(&b),
        Some(victim_id),
        "the exited victim lost {victim_ip}"
    );
    let out = b.run(&[
        "container",
        "run",
        "-d",
        "--name",
        "thief",
        "--network",
        "keep",
        "--ip",
        &victim_ip,
        "bb:local",
        "sleep",
        "1000",
    ]);
    assert!(!out.status.success(), "{victim_ip} given out twice");
    // A failed run may leave a created container behind.
    let _ = b.run(&["container", "rm", "-f", "thief"]);
    b.ok(&["container", "rm", "victim"]);
    assert_eq!(owner(&b), None, "{victim_ip} not freed by rm");
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "heir",
        "--network",
        "keep",
        "--ip",
        &victim_ip,
        "bb:local",
        "sleep",
        "1000",
    ]);
}

#[test]
fn networks_dns_answers_every_query_while_containers_churn() {
    let b = Berth::new();
    b.ok(&["network", "create", "churn"]);
    idle(&b, "web", "churn");
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "client",
        "--network",
        "churn",
        "bb:local",
        "sh",
        "-c",
        "while true; do if nslookup web >/dev/null 2>&1; then echo ok >> /tmp/ok; \
         else date >> /tmp/fail; nslookup web >> /tmp/fail 2>&1; fi; done",
    ]);
    // Start 50 containers, each stopped and removed five starts later, so names come and go
    // while the client asks.
    for i in 0..50 {
        b.ok(&[
            "container",
            "run",
            "-d",
            "--name",
            &format!("c{i}"),
            "--network",
            "churn",
            "bb:local",
            "sleep",
            "1000",
        ]);
        if i >= 5 {
            b.ok(&["container", "rm", "-f", &format!("c{}", i - 5)]);
        }
    }
    for i in 45..50 {
        b.ok(&["container", "rm", "-f", &format!("c{i}")]);
    }
    let out = exec(
        &b,
        "client",
        "wc -l < /tmp/ok; cat /tmp/fail 2>/dev/null; true",
    );
    let report = text(&out.stdout);
    let (ok, fail) = report.split_once('\n').unwrap();
    let ok: usize = ok.trim().parse().unwrap();
    assert!(ok > 50, "only {ok} queries ran");
    assert_eq!(fail, "", "failed queries among {ok} good ones:\n{fail}");
}

#[test]
fn networks_connect_and_disconnect_a_running_container() {
    let b = Berth::new();
    b.ok(&["network", "create", "one"]);
    b.ok(&["network", "create", "two"]);
    idle(&b, "c", "one");
    idle(&b, "peer", "two");
    let pid = b.inspect("c")["State"]["Pid"].as_i64().unwrap();
    b.ok(&["network", "connect", "--alias", "extra", "two", "c"]);
    let ip = ip_on(&b, "c", "two");
    let out = exec(&b, "c", "ip -o -4 addr show eth1");
    assert!(
        out.status.success() && text(&out.stdout).contains(&format!("inet {ip}/")),
        "eth1 with {ip}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(resolves(&b, "peer", "extra", &ip), "alias extra on two");
    assert!(resolves(&b, "peer", "c", &ip), "name c on two");
    let out = exec(&b, "peer", &format!("ping -c 1 -W 2 {ip}"));
    assert!(
        out.status.success(),
        "peer cannot reach c on two: {}",
        text(&out.stdout)
    );

    b.ok(&["network", "disconnect", "two", "c"]);
    let out = exec(&b, "c", "ip link show eth1");
    assert!(
        !out.status.success(),
        "eth1 still there: {}",
        text(&out.stdout)
    );
    assert!(
        nxdomain(&b, "peer", "extra"),
        "alias extra outlived disconnect"
    );
    assert!(nxdomain(&b, "peer", "c"), "name c outlived disconnect");
    let c_id = container_id(&b, "c");
    assert!(
        !network(&b, "two")["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["container_id"] == c_id.as_str()),
        "c still has an endpoint on two"
    );
    assert_eq!(
        b.inspect("c")["State"]["Pid"].as_i64(),
        Some(pid),
        "c was restarted"
    );
}

/// The one test on the host's own network namespace: a daemon there wires a network and a
/// published port, and after everything is removed the host's links and firewall are as before.
#[test]
fn a_daemon_on_the_host_namespace_leaves_it_clean() {
    let links = || -> Vec<String> {
        let out = std::process::Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap();
        text(&out.stdout)
            .lines()
            .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
            .collect()
    };
    let links_before = links();
    let b = Berth::on_host_namespace();
    // This daemon's chains only: another daemon on the host (another root) has its own.
    let prefix = format!("{}-", b.chain_prefix());
    let berth_rules = || -> Vec<String> {
        let out = std::process::Command::new("iptables-save")
            .output()
            .unwrap();
        text(&out.stdout)
            .lines()
            .filter(|l| l.contains(&prefix))
            .map(String::from)
            .collect()
    };
    assert!(
        berth_rules().is_empty(),
        "the host starts without berth rules"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let net = format!("hostns{}", &b.cgroup_parent[b.cgroup_parent.len() - 6..]);
    b.ok(&["network", "create", &net]);
    let publish = format!("127.0.0.1:{port}:80");
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        &net,
        "-p",
        &publish,
        "--init",
        "bb:local",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/var/www",
    ]);
    let url = format!("http://127.0.0.1:{port}/");
    assert!(b.wait_for(std::time::Duration::from_secs(5), || text(
        &std::process::Command::new("busybox")
            .args(["wget", "-qO-", &url])
            .output()
            .unwrap()
            .stdout
    )
        == "hello from berth\n"));
    assert!(!berth_rules().is_empty());
    b.ok(&["container", "rm", "-f", "web"]);
    b.ok(&["network", "rm", &net]);
    let _ = b.run(&["network", "rm", "bridge"]);
    b.ok(&["daemon", "stop"]);
    assert!(
        berth_rules().is_empty(),
        "no berth rule left on the host: {:?}",
        berth_rules()
    );
    let added = || -> Vec<String> {
        links()
            .into_iter()
            .filter(|l| !links_before.contains(l))
            .collect()
    };
    b.wait_for(std::time::Duration::from_secs(5), || added().is_empty());
    assert!(
        added().is_empty(),
        "no link left on the host: {:?}",
        added()
    );
}

/// `--network container:NAME` joins NAME's pinned namespace: same interfaces, same localhost.
#[test]
fn network_container_mode_shares_the_namespace() {
    let b = Berth::new();
    b.ok(&["network", "create", "shared"]);
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "shared",
        "--init",
        "bb:local",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/var/www",
    ]);
    let ip = b.inspect("web")["NetworkSettings"]["Networks"]["shared"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let out = b.ok(&[
        "container",
        "run",
        "--rm",
        "--network",
        "container:web",
        "bb:local",
        "sh",
        "-c",
        "ip -4 -o addr show eth0; wget -qO- http://127.0.0.1/",
    ]);
    assert!(out.contains(&format!("inet {ip}/")), "{out}");
    assert!(out.ends_with("hello from berth\n"), "{out}");
    let out = b.run(&[
        "container",
        "run",
        "--rm",
        "--network",
        "container:nobody",
        "bb:local",
        "true",
    ]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("no such container"),
        "{}",
        text(&out.stderr)
    );
}

/// `--link NAME:ALIAS` on a user network: the embedded DNS answers the alias for the linking
/// container only.
#[test]
fn links_resolve_only_for_the_linking_container() {
    let b = Berth::new();
    b.ok(&["network", "create", "ln"]);
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "ln",
        "--init",
        "bb:local",
        "sleep",
        "60",
    ]);
    let ip = b.inspect("db")["NetworkSettings"]["Networks"]["ln"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "app",
        "--network",
        "ln",
        "--link",
        "db:database",
        "--init",
        "bb:local",
        "sleep",
        "60",
    ]);
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "other",
        "--network",
        "ln",
        "--init",
        "bb:local",
        "sleep",
        "60",
    ]);
    let seen = b.ok(&["container", "exec", "app", "nslookup", "database"]);
    assert!(
        seen.contains(&ip),
        "the link alias resolves for app: {seen}"
    );
    let out = b.run(&["container", "exec", "other", "nslookup", "database"]);
    assert!(
        !text(&out.stdout).contains(&ip),
        "not for others: {}",
        text(&out.stdout)
    );
    let out = b.run(&[
        "container",
        "run",
        "--rm",
        "--network",
        "ln",
        "--link",
        "ghost:g",
        "bb:local",
        "true",
    ]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("could not get container for ghost"),
        "{}",
        text(&out.stderr)
    );
}

/// A port a host process holds is refused, as Docker's userland proxy refuses it, for
/// `container run -p` and stacks alike; the host process keeps its traffic and nothing of the
/// refused container stays wired.
#[test]
fn a_port_a_host_process_holds_is_refused() {
    let b = Berth::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "the host's own server\n").unwrap();
    let _host_httpd = KillOnDrop(
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", b.netns))
            .args([BUSYBOX, "httpd", "-f", "-p", "0.0.0.0:18090", "-h"])
            .arg(dir.path())
            .spawn()
            .unwrap(),
    );
    assert!(b.wait_for(Duration::from_secs(5), || host_curl(
        &b,
        "http://127.0.0.1:18090/"
    )
    .is_some()));
    // The default network's bridge may come with the first container, as docker0 exists.
    let veths = || -> Vec<String> {
        host_links(&b)
            .into_iter()
            .filter(|l| !l.starts_with("br-"))
            .collect()
    };
    let links_before = veths();

    let out = b.run(&[
        "container",
        "run",
        "-d",
        "--name",
        "thief",
        "-p",
        "18090:80",
        "bb:local",
        "httpd",
        "-f",
        "-p",
        "80",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("listen tcp4 0.0.0.0:18090: bind: address already in use"),
        "{err}"
    );
    assert_ne!(b.status("thief"), "running");
    // The veth goes with the container's namespace, which the kernel frees from a work queue.
    assert!(
        b.wait_for(Duration::from_secs(10), || veths() == links_before),
        "no veth left wired for it: {:?}",
        veths()
    );
    assert_eq!(
        host_curl(&b, "http://127.0.0.1:18090/").as_deref(),
        Some("the host's own server\n")
    );
    // Only the host address the process holds: another one is free.
    b.ok(&["container", "rm", "-f", "thief"]);

    // A stack: `up` fails (exit 1, Compose's message) and the host keeps its port.
    let stack = crate::stacks::stack_dir(
        &b,
        "name: busy\nservices:\n  web:\n    image: bb:local\n    command: [\"httpd\", \"-f\", \"-p\", \"80\"]\n    ports: [\"18090:80\"]\n",
    );
    let out = crate::stacks::in_dir(&b, &stack, &["up", "-d", "--no-watch"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("address already in use"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        host_curl(&b, "http://127.0.0.1:18090/").as_deref(),
        Some("the host's own server\n")
    );
    let _ = crate::stacks::in_dir(&b, &stack, &["down"]);

    // Two containers: Docker's "port is already allocated".
    web(&b, "first", &["-p", "18091:80"]);
    let out = b.run(&[
        "container",
        "run",
        "-d",
        "--name",
        "second",
        "-p",
        "18091:80",
        "bb:local",
        "httpd",
        "-f",
        "-p",
        "80",
    ]);
    assert!(
        text(&out.stderr).contains("Bind for 0.0.0.0:18091 failed: port is already allocated"),
        "{}",
        text(&out.stderr)
    );
}
