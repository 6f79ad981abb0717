//! Privileged tests with real traffic. Each test runs in a fresh network namespace of its own
//! (a thread that unshare(CLONE_NEWNET)s and runs a tokio runtime whose threads inherit it),
//! with a unique chain prefix and temp dirs, so tests run in parallel and touch nothing of the
//! host: everything they create dies with their namespace, and the pins (bind mounts in the
//! host mount namespace) are unmounted by a drop guard.
//!
//! Needs root and the programs in PROGRAMS (checked before each test; the tests use `ip` to
//! build the "remote host", the library never does). Skipped (with a message) when not root.
//! Long: one test per privileged behaviour, sharing the namespace harness.

use berth_netd::*;
use std::collections::HashSet;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

#[path = "../../tests/programs.rs"]
mod programs;

/// What these tests run besides the library (see scripts/programs for their packages).
const PROGRAMS: &[&str] = &[
    "ip",
    "nsenter",
    "dig",
    "busybox",
    "iptables",
    "iptables-save",
    "iptables-restore",
];

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Unmounts every namespace pin left under the run dir, even when the test panicked.
struct PinGuard(PathBuf);
impl Drop for PinGuard {
    fn drop(&mut self) {
        if let Ok(rd) = std::fs::read_dir(self.0.join("netns")) {
            for e in rd.flatten() {
                let _ = nix::mount::umount2(&e.path(), nix::mount::MntFlags::MNT_DETACH);
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// The iptables flavour under test: BERTH_TEST_IPTABLES=iptables-legacy runs the suite on
/// the legacy backend (default: `iptables`, nft on Debian 12).
fn ipt() -> String {
    std::env::var("BERTH_TEST_IPTABLES").unwrap_or_else(|_| "iptables".into())
}

struct Env {
    root: tempfile::TempDir,
    prefix: String,
}

impl Env {
    fn opts(&self) -> NetdOptions {
        let mut o = NetdOptions::new(self.root.path().join("state"), self.root.path().join("run"));
        o.chain_prefix = self.prefix.clone();
        o.iptables = ipt();
        o
    }
    fn run_dir(&self) -> PathBuf {
        self.root.path().join("run")
    }
}

/// Runs `body` inside a fresh network namespace on its own runtime.
fn sandboxed<F, Fut>(name: &str, body: F)
where
    F: FnOnce(Env) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    if !is_root() {
        eprintln!("skipping {name}: needs root");
        return;
    }
    programs::require(PROGRAMS);
    // Unique per test even within one process (cargo test runs tests as threads).
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let prefix = format!("T{:x}x{n}", std::process::id());
    let res = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare netns");
        let env = Env {
            root: tempfile::tempdir().unwrap(),
            prefix,
        };
        let _guard = PinGuard(env.run_dir());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            run(None, &["ip", "link", "set", "lo", "up"])
                .await
                .ok_or("lo up")
                .unwrap();
            // As Docker leaves it: forwarding denied unless a rule says otherwise.
            run(None, &[&ipt(), "-w", "-P", "FORWARD", "DROP"])
                .await
                .ok_or("policy")
                .unwrap();
            body(env).await;
        });
        rt.shutdown_timeout(Duration::from_secs(2));
    })
    .join();
    if let Err(p) = res {
        std::panic::resume_unwind(p);
    }
}

/// Runs a command (inside `ns` if given); Some(stdout) on success.
async fn run(ns: Option<&Path>, args: &[&str]) -> Option<String> {
    let mut cmd = match ns {
        Some(p) => {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net={}", p.display())).arg("--");
            c.args(args);
            c
        }
        None => {
            let mut c = Command::new(args[0]);
            c.args(&args[1..]);
            c
        }
    };
    let out = programs::found(args[0], cmd.stdin(Stdio::null()).output().await);
    if out.status.success() {
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        None
    }
}

/// Runs `f` on a thread inside the namespace at `ns` (or ours), off the runtime's threads.
async fn in_ns<T: Send + 'static>(ns: Option<&Path>, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = ns.map(|p| std::fs::File::open(p).unwrap());
    tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || {
            if let Some(f) = ns {
                nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            }
            f()
        })
        .join()
        .unwrap()
    })
    .await
    .unwrap()
}

/// Fetches what a [`serve`] server says at `url` ("http://IP:PORT/" or "IP:PORT").
/// (busybox wget/httpd crash on this kernel, so the tests bring their own TCP ends.)
async fn wget(ns: Option<&Path>, url: &str) -> Option<String> {
    let hostport = url.trim_start_matches("http://").trim_end_matches('/');
    let addr: SocketAddr = match hostport.parse() {
        Ok(a) => a,
        Err(_) => format!("{hostport}:80").parse().unwrap(),
    };
    in_ns(ns, move || {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    })
    .await
}

/// A UDP server on 0.0.0.0:`port` inside `ns` answering "echo:<port>".
async fn udp_echo(ns: &Path, port: u16) -> tokio::task::JoinHandle<()> {
    let s = in_ns(Some(ns), move || {
        let s = std::net::UdpSocket::bind(("0.0.0.0", port)).unwrap();
        s.set_nonblocking(true).unwrap();
        s
    })
    .await;
    let s = tokio::net::UdpSocket::from_std(s).unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 64];
        loop {
            let (_, peer) = s.recv_from(&mut buf).await.unwrap();
            let _ = s.send_to(format!("echo:{port}").as_bytes(), peer).await;
        }
    })
}

/// Sends one datagram to `addr` from inside `ns` (or ours) and returns the reply.
async fn udp_ask(ns: Option<&Path>, addr: &str) -> Option<String> {
    let addr: SocketAddr = addr.parse().unwrap();
    in_ns(ns, move || {
        let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.send_to(b"hi", addr).ok()?;
        let mut buf = [0u8; 64];
        let n = s.recv(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    })
    .await
}

/// A TCP server on 0.0.0.0:80 inside `ns` that sends `body` to every client.
async fn serve(ns: &Path, body: &'static str) -> tokio::task::JoinHandle<()> {
    let l = in_ns(Some(ns), || {
        let l = std::net::TcpListener::bind("0.0.0.0:80").unwrap();
        l.set_nonblocking(true).unwrap();
        l
    })
    .await;
    let l = tokio::net::TcpListener::from_std(l).unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            let _ = s.write_all(body.as_bytes()).await;
        }
    })
}

/// ICMP echo through busybox ping: true on a reply, false on none; anything else (a crash)
/// fails the test rather than passing a negative check by accident.
async fn ping(ns: &Path, ip: &str) -> bool {
    let out = Command::new("nsenter")
        .arg(format!("--net={}", ns.display()))
        .args(["--", "busybox", "ping", "-c", "1", "-W", "2", ip])
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    match out.status.code() {
        Some(0) => true,
        Some(1) | Some(2) => false,
        _ => panic!(
            "ping {ip}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

async fn dig(ns: &Path, server: Ipv4Addr, name: &str) -> String {
    run(
        Some(ns),
        &["dig", "+time=2", "+tries=1", &format!("@{server}"), name],
    )
    .await
    .unwrap_or_default()
}

fn answers(dig_out: &str) -> Vec<String> {
    let mut in_answer = false;
    let mut v = vec![];
    for l in dig_out.lines() {
        if l.starts_with(";; ANSWER SECTION") {
            in_answer = true;
        } else if l.is_empty() {
            in_answer = false;
        } else if in_answer {
            v.push(l.split_whitespace().last().unwrap().to_string());
        }
    }
    v
}

fn req(id: &str, ns: &Path, names: &[&str]) -> AttachRequest {
    AttachRequest {
        container_id: id.into(),
        netns_path: ns.into(),
        ipv4: None,
        preferred_ipv4: None,
        dns_names: names.iter().map(|s| s.to_string()).collect(),
        gateway_priority: 0,
        links: vec![],
    }
}

/// A fake upstream resolver answering every A query with 203.0.113.7.
async fn fake_upstream() -> SocketAddr {
    use hickory_proto::op::{Message, MessageType};
    use hickory_proto::rr::{rdata::A, RData, Record};
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let (n, peer) = sock.recv_from(&mut buf).await.unwrap();
            let q = Message::from_vec(&buf[..n]).unwrap();
            let mut r = q.clone();
            r.set_message_type(MessageType::Response);
            let name = q.queries()[0].name().clone();
            r.add_answer(Record::from_rdata(
                name,
                60,
                RData::A(A(Ipv4Addr::new(203, 0, 113, 7))),
            ));
            sock.send_to(&r.to_vec().unwrap(), peer).await.unwrap();
        }
    });
    addr
}

async fn our_rules(prefix: &str) -> Vec<String> {
    let mut v = vec![];
    for t in ["filter", "nat", "raw"] {
        let out = run(None, &[&format!("{}-save", ipt()), "-t", t])
            .await
            .unwrap();
        v.extend(
            out.lines()
                .filter(|l| l.contains(prefix) && !l.starts_with('#'))
                .map(|l| {
                    // Strip packet counters of chain declarations.
                    l.split(" [").next().unwrap().to_string()
                }),
        );
    }
    v
}

#[test]
fn traffic_dns_isolation_publish_resync() {
    sandboxed("traffic", |env| async move {
        let mut opts = env.opts();
        opts.upstream_dns = Some(vec![fake_upstream().await]);
        let netd = Netd::open(opts).await.unwrap();
        let n1 = netd
            .create_network(NetworkSpec {
                name: "front".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let n2 = netd
            .create_network(NetworkSpec {
                name: "back".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let n3 = netd
            .create_network(NetworkSpec {
                name: "inner".into(),
                internal: true,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(n1.subnet.to_string(), "172.17.0.0/16");
        assert_eq!(n1.gateway, Ipv4Addr::new(172, 17, 0, 1));
        assert_eq!(n2.subnet.to_string(), "172.18.0.0/16");
        assert!(n1.bridge.starts_with("br-") && n1.bridge.len() == 15);

        let c1 = netd.create_netns("c1").await.unwrap();
        let c2 = netd.create_netns("c2").await.unwrap();
        let c3 = netd.create_netns("c3").await.unwrap();
        let c4 = netd.create_netns("c4").await.unwrap();
        let c5 = netd.create_netns("c5").await.unwrap();
        let a1 = netd
            .attach("front", req("c1", &c1, &["web", "svc"]))
            .await
            .unwrap();
        let a2 = netd
            .attach("front", req("c2", &c2, &["client", "svc"]))
            .await
            .unwrap();
        let a3 = netd.attach("back", req("c3", &c3, &["db"])).await.unwrap();
        let a4 = netd.attach("inner", req("c4", &c4, &["i4"])).await.unwrap();
        let a5 = netd.attach("inner", req("c5", &c5, &["i5"])).await.unwrap();
        // A second network for c2: eth1, and the default route stays on front (priority tie,
        // attached first).
        let a2b = netd
            .attach("back", req("c2", &c2, &["client"]))
            .await
            .unwrap();
        assert_eq!((a1.ifname.as_str(), a2b.ifname.as_str()), ("eth0", "eth1"));
        assert_eq!(a1.ip, Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(a1.mac, "02:42:ac:11:00:02");
        let route = run(Some(&c2), &["ip", "-4", "route", "show", "default"])
            .await
            .unwrap();
        assert!(route.contains("via 172.17.0.1 dev eth0"), "{route}");
        let route4 = run(Some(&c4), &["ip", "-4", "route", "show", "default"])
            .await
            .unwrap();
        assert!(
            route4.trim().is_empty(),
            "internal network gives no default route: {route4}"
        );

        // A higher gateway priority takes the default route; detaching gives it back.
        let mut hi = req("c3", &c3, &["db"]);
        hi.gateway_priority = 10;
        let a3b = netd.attach("front", hi).await.unwrap();
        let r3 = run(Some(&c3), &["ip", "-4", "route", "show", "default"])
            .await
            .unwrap();
        assert!(r3.contains("via 172.17.0.1 dev eth1"), "{r3}");
        assert_eq!(
            netd.resolv_conf("c3").await,
            "nameserver 172.17.0.1\nnameserver 172.18.0.1\n"
        );
        netd.detach("front", "c3").await.unwrap();
        let r3 = run(Some(&c3), &["ip", "-4", "route", "show", "default"])
            .await
            .unwrap();
        assert!(r3.contains("via 172.18.0.1 dev eth0"), "{r3}");
        let _ = a3b;

        // Same network: ping and TCP.
        let _web = serve(&c1, "hello-c1").await;
        let ip1 = a1.ip.to_string();
        assert!(ping(&c2, &ip1).await);
        assert_eq!(
            wget(Some(&c2), &format!("http://{ip1}/")).await.as_deref(),
            Some("hello-c1")
        );
        // Internal network: neighbours talk, nothing leaves.
        assert!(ping(&c5, &a4.ip.to_string()).await);
        // Isolation between networks.
        assert!(!ping(&c3, &ip1).await, "back must not reach front");
        assert!(wget(Some(&c3), &format!("http://{ip1}/")).await.is_none());

        // DNS on the front gateway: own names, round robin, other networks' names not.
        assert_eq!(
            answers(&dig(&c2, a1.gateway, "web").await),
            vec![ip1.clone()]
        );
        assert_eq!(
            answers(&dig(&c2, a1.gateway, "WEB.").await),
            vec![ip1.clone()]
        );
        // c1 is on front only: db (on back) does not exist for it.
        let nx = dig(&c1, a1.gateway, "db").await;
        assert!(nx.contains("status: NXDOMAIN"), "{nx}");
        let nx = dig(&c1, a1.gateway, "i4").await;
        assert!(nx.contains("status: NXDOMAIN"), "{nx}");
        // c2 is on front and back: its first nameserver (front) answers back's names too.
        assert_eq!(
            answers(&dig(&c2, a1.gateway, "db").await),
            vec![a3.ip.to_string()]
        );
        assert_eq!(
            answers(&dig(&c2, a3.gateway, "db").await),
            vec![a3.ip.to_string()]
        );
        // Reverse lookup of a container address.
        let ptr = run(
            Some(&c2),
            &[
                "dig",
                "+short",
                "+time=2",
                "+tries=1",
                &format!("@{}", a1.gateway),
                "-x",
                &ip1,
            ],
        )
        .await
        .unwrap();
        assert_eq!(ptr.trim(), "web.");
        let mut firsts = HashSet::new();
        for _ in 0..4 {
            let a = answers(&dig(&c2, a1.gateway, "svc").await);
            assert_eq!(a.len(), 2, "{a:?}");
            firsts.insert(a[0].clone());
        }
        assert_eq!(firsts.len(), 2, "round robin rotates the order");
        let tcp = run(
            Some(&c2),
            &[
                "dig",
                "+tcp",
                "+time=2",
                "+tries=1",
                &format!("@{}", a1.gateway),
                "web",
            ],
        )
        .await
        .unwrap();
        assert_eq!(answers(&tcp), vec![ip1.clone()]);
        let fwd = dig(&c2, a1.gateway, "example.com").await;
        assert_eq!(answers(&fwd), vec!["203.0.113.7".to_string()], "{fwd}");
        let ttl = dig(&c2, a1.gateway, "web").await;
        assert!(
            ttl.lines()
                .any(|l| l.starts_with("web.") && l.split_whitespace().nth(1) == Some("0")),
            "{ttl}"
        );

        // A "remote host" joined to ours by a veth: 192.0.2.1 (us) <-> 192.0.2.2 (remote).
        let remote = netd.create_netns("remote").await.unwrap();
        let holder = Command::new("nsenter")
            .arg(format!("--net={}", remote.display()))
            .args(["--", "sleep", "600"])
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = holder.id().unwrap().to_string();
        tokio::time::sleep(Duration::from_millis(100)).await;
        for cmd in [
            vec![
                "ip", "link", "add", "rh0", "type", "veth", "peer", "name", "rr0", "netns", &pid,
            ],
            vec!["ip", "addr", "add", "192.0.2.1/24", "dev", "rh0"],
            vec!["ip", "link", "set", "rh0", "up"],
        ] {
            run(None, &cmd).await.unwrap_or_else(|| panic!("{cmd:?}"));
        }
        for cmd in [
            vec!["ip", "addr", "add", "192.0.2.2/24", "dev", "rr0"],
            vec!["ip", "link", "set", "rr0", "up"],
            vec!["ip", "route", "add", "default", "via", "192.0.2.1"],
        ] {
            run(Some(&remote), &cmd)
                .await
                .unwrap_or_else(|| panic!("{cmd:?}"));
        }
        // Egress is masqueraded: front reaches the remote; internal does not even with a
        // default route of its own.
        assert!(ping(&c1, "192.0.2.2").await);
        run(
            Some(&c4),
            &[
                "ip",
                "route",
                "add",
                "default",
                "via",
                &a4.gateway.to_string(),
            ],
        )
        .await
        .unwrap();
        assert!(
            !ping(&c4, "192.0.2.2").await,
            "internal network must have no egress"
        );
        assert!(
            !ping(&c4, &ip1).await,
            "internal network must not reach other networks"
        );
        let _int_srv = serve(&c4, "internal").await;
        let int_addr = format!("{}:80", a4.ip);
        assert_eq!(
            wget(Some(&c5), &int_addr).await.as_deref(),
            Some("internal")
        );

        let b = netd
            .publish(
                "c1",
                &[
                    PortSpec::parse("8080:80").unwrap(),
                    PortSpec::parse("127.0.0.1:8081:80").unwrap(),
                ],
            )
            .await
            .unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(
            (b[0].host_port, b[0].container_ip, b[0].container_port),
            (8080, a1.ip, 80)
        );
        let dup = netd
            .publish("c2", &[PortSpec::parse("8080:80").unwrap()])
            .await;
        assert!(matches!(dup, Err(NetdError::PortInUse { .. })), "{dup:?}");
        let eph = netd
            .publish("c2", &[PortSpec::parse("127.0.0.2::9000/udp").unwrap()])
            .await
            .unwrap();
        assert_eq!(eph[0].host_port, 49153);
        // A port picked by netd skips host listeners.
        let busy = std::net::TcpListener::bind("0.0.0.0:49153").unwrap();
        let eph = netd
            .publish("c2", &[PortSpec::parse("9001").unwrap()])
            .await
            .unwrap();
        assert_eq!(eph[0].host_port, 49154);
        drop(busy);

        // UDP, and a range mapped one to one.
        let _echo = udp_echo(&c1, 7000).await;
        let _echo2 = udp_echo(&c1, 7001).await;
        let ub = netd
            .publish("c1", &[PortSpec::parse("7100-7101:7000-7001/udp").unwrap()])
            .await
            .unwrap();
        let pairs: Vec<(u16, u16)> = ub.iter().map(|b| (b.host_port, b.container_port)).collect();
        assert_eq!(pairs, vec![(7100, 7000), (7101, 7001)]);
        assert_eq!(
            udp_ask(Some(&remote), "192.0.2.1:7101").await.as_deref(),
            Some("echo:7001")
        );
        assert_eq!(
            udp_ask(None, "127.0.0.1:7100").await.as_deref(),
            Some("echo:7000")
        );

        let check_published = || async {
            assert_eq!(
                wget(Some(&remote), "http://192.0.2.1:8080/")
                    .await
                    .as_deref(),
                Some("hello-c1"),
                "remote"
            );
            assert_eq!(
                wget(None, "http://127.0.0.1:8080/").await.as_deref(),
                Some("hello-c1"),
                "host via localhost"
            );
            assert_eq!(
                wget(None, "http://192.0.2.1:8080/").await.as_deref(),
                Some("hello-c1"),
                "host via own address"
            );
            assert_eq!(
                wget(None, "http://127.0.0.1:8081/").await.as_deref(),
                Some("hello-c1"),
                "host, 127.0.0.1-only"
            );
            assert_eq!(
                wget(Some(&c2), "http://192.0.2.1:8080/").await.as_deref(),
                Some("hello-c1"),
                "hairpin"
            );
            assert_eq!(
                wget(Some(&c1), "http://192.0.2.1:8080/").await.as_deref(),
                Some("hello-c1"),
                "self hairpin"
            );
            assert_eq!(
                wget(Some(&c3), "http://192.0.2.1:8080/").await.as_deref(),
                Some("hello-c1"),
                "other network"
            );
            assert!(
                wget(Some(&remote), "http://192.0.2.1:8081/")
                    .await
                    .is_none(),
                "127.0.0.1-only from remote"
            );
        };
        check_published().await;
        // Published on one host address only.
        netd.publish("c1", &[PortSpec::parse("192.0.2.1:8082:80").unwrap()])
            .await
            .unwrap();
        assert_eq!(
            wget(Some(&remote), "192.0.2.1:8082").await.as_deref(),
            Some("hello-c1")
        );
        assert!(
            wget(None, "127.0.0.1:8082").await.is_none(),
            "not on 127.0.0.1"
        );
        let gw4 = format!("{}:8080", a4.gateway);
        assert!(
            wget(Some(&c4), &gw4).await.is_none(),
            "internal reaches no published port"
        );

        // A neighbour routing to a container address directly gets nowhere, even with an
        // ACCEPT policy on FORWARD: only published ports come in.
        run(
            Some(&remote),
            &["ip", "route", "add", "172.17.0.0/16", "via", "192.0.2.1"],
        )
        .await
        .unwrap();
        run(None, &[&ipt(), "-w", "-P", "FORWARD", "ACCEPT"])
            .await
            .unwrap();
        assert!(
            wget(Some(&remote), &format!("http://{ip1}/"))
                .await
                .is_none(),
            "direct routing"
        );
        run(None, &[&ipt(), "-w", "-P", "FORWARD", "DROP"])
            .await
            .unwrap();

        // Resync heals a flushed firewall without duplicating anything.
        let before = our_rules(&env.prefix).await;
        assert!(!before.is_empty());
        netd.resync().await.unwrap();
        assert_eq!(
            our_rules(&env.prefix).await,
            before,
            "resync with nothing missing changes nothing"
        );
        let p = &env.prefix;
        for cmd in [
            vec![
                ipt(),
                "-t".into(),
                "nat".into(),
                "-F".into(),
                format!("{p}-DNAT"),
            ],
            vec![ipt(), "-F".into(), format!("{p}-FORWARD")],
            vec![
                ipt(),
                "-D".into(),
                "FORWARD".into(),
                "-j".into(),
                format!("{p}-FORWARD"),
            ],
            vec![
                ipt(),
                "-t".into(),
                "nat".into(),
                "-F".into(),
                "POSTROUTING".into(),
            ],
        ] {
            let a: Vec<&str> = cmd.iter().map(String::as_str).collect();
            run(None, &a).await.unwrap_or_else(|| panic!("{cmd:?}"));
        }
        assert!(
            wget(Some(&remote), "http://192.0.2.1:8080/")
                .await
                .is_none(),
            "flushed"
        );
        netd.resync().await.unwrap();
        netd.resync().await.unwrap();
        assert_eq!(
            our_rules(&env.prefix).await,
            before,
            "healed, no duplicates"
        );
        check_published().await;

        // A deleted bridge comes back with its ports.
        run(None, &["ip", "link", "del", &n1.bridge]).await.unwrap();
        assert!(!ping(&c2, &ip1).await);
        netd.resync().await.unwrap();
        assert!(
            ping(&c2, &ip1).await,
            "bridge re-created and veths re-enslaved"
        );
        assert_eq!(
            answers(&dig(&c2, a1.gateway, "web").await),
            vec![ip1.clone()],
            "dns back on the gateway"
        );

        // A deleted veth (both ends go together) comes back with the same address and route.
        let c2_front = netd
            .inspect("front")
            .await
            .unwrap()
            .endpoints
            .into_iter()
            .find(|e| e.container_id == "c2")
            .unwrap();
        run(None, &["ip", "link", "del", &c2_front.host_ifname])
            .await
            .unwrap();
        assert!(!ping(&c2, &ip1).await);
        netd.resync().await.unwrap();
        assert!(ping(&c2, &ip1).await, "veth re-created");
        let r2 = run(Some(&c2), &["ip", "-4", "route", "show", "default"])
            .await
            .unwrap();
        assert!(r2.contains("via 172.17.0.1 dev eth0"), "{r2}");

        // Detach: veth gone, names gone, published ports through it gone.
        netd.detach("front", "c1").await.unwrap();
        let links = run(None, &["ip", "-o", "link"]).await.unwrap();
        // Host ends left: c2 (front, back), c3, c4, c5.
        assert_eq!(links.matches("master br-").count(), 5, "{links}");
        let gone = dig(&c2, a1.gateway, "web").await;
        assert!(gone.contains("NXDOMAIN"), "{gone}");
        assert!(netd.published("c1").await.is_empty());
        assert!(!our_rules(&env.prefix)
            .await
            .iter()
            .any(|l| l.contains(&format!("{ip1}:80"))));
        let err = netd.remove_network("front").await.unwrap_err();
        assert!(err.to_string().contains("in use"), "{err}");

        // gc frees what dead containers held.
        let live: HashSet<String> = ["c3".to_string()].into();
        netd.gc(&live).await.unwrap();
        assert_eq!(netd.inspect("front").await.unwrap().endpoints.len(), 0);
        assert_eq!(netd.inspect("back").await.unwrap().endpoints.len(), 1);
        assert!(!c2.exists() && c3.exists());
        let _ = (a2, a5);
        assert!(n3.internal);

        netd.teardown().await.unwrap();
        assert!(
            our_rules(&env.prefix).await.is_empty(),
            "teardown removes every chain"
        );
        assert!(netd.list().await.is_empty());
        let policy = run(None, &[&ipt(), "-S", "FORWARD"]).await.unwrap();
        assert_eq!(
            policy.trim(),
            "-P FORWARD DROP",
            "built-in chains untouched"
        );
    });
}

#[test]
fn ipam_survives_reopen() {
    sandboxed("ipam", |env| async move {
        // A host route inside 172.17/16 (like Docker's docker0) pushes the pool to 172.18.
        for cmd in [
            vec!["ip", "link", "add", "dock0", "type", "bridge"],
            vec!["ip", "addr", "add", "172.17.0.1/16", "dev", "dock0"],
            vec!["ip", "link", "set", "dock0", "up"],
        ] {
            run(None, &cmd).await.unwrap();
        }
        let (c1, c2, c3, c4);
        let auto;
        {
            let netd = Netd::open(env.opts()).await.unwrap();
            auto = netd
                .create_network(NetworkSpec {
                    name: "auto".into(),
                    ..Default::default()
                })
                .await
                .unwrap();
            assert_eq!(auto.subnet.to_string(), "172.18.0.0/16");
            let spec = NetworkSpec {
                name: "fixed".into(),
                subnet: Some("10.77.0.0/24".parse().unwrap()),
                ip_range: Some("10.77.0.0/25".parse().unwrap()),
                mtu: Some(1400),
                ..Default::default()
            };
            netd.create_network(spec.clone()).await.unwrap();
            assert!(matches!(
                netd.create_network(spec.clone()).await,
                Err(NetdError::NetworkExists(_))
            ));
            let overlap = NetworkSpec {
                name: "other".into(),
                ..spec
            };
            assert!(netd.create_network(overlap).await.is_err());
            c1 = netd.create_netns("c1").await.unwrap();
            c2 = netd.create_netns("c2").await.unwrap();
            c3 = netd.create_netns("c3").await.unwrap();
            c4 = netd.create_netns("c4").await.unwrap();
            let a1 = netd
                .attach("fixed", req("c1", &c1, &["one"]))
                .await
                .unwrap();
            let mut r2 = req("c2", &c2, &["two"]);
            r2.ipv4 = Some("10.77.0.50".parse().unwrap());
            let a2 = netd.attach("fixed", r2).await.unwrap();
            assert_eq!(
                (a1.ip.to_string(), a2.ip.to_string()),
                ("10.77.0.2".into(), "10.77.0.50".into())
            );
            let mut dup = req("c3", &c3, &[]);
            dup.ipv4 = Some("10.77.0.50".parse().unwrap());
            assert!(
                netd.attach("fixed", dup).await.is_err(),
                "never two holders of an address"
            );
            let link = run(Some(&c1), &["ip", "-o", "link", "show", "eth0"])
                .await
                .unwrap();
            assert!(link.contains("mtu 1400"), "{link}");
        } // dropped: the "daemon" goes away, bridges and namespaces stay.
        let netd = Netd::open(env.opts()).await.unwrap();
        let fixed = netd.inspect("fixed").await.unwrap();
        let ips: Vec<String> = fixed.endpoints.iter().map(|e| e.ip.to_string()).collect();
        assert_eq!(ips, vec!["10.77.0.2", "10.77.0.50"]);
        assert_eq!(netd.inspect(&auto.id[..6]).await.unwrap().name, "auto");
        let a3 = netd
            .attach("fixed", req("c3", &c3, &["three"]))
            .await
            .unwrap();
        assert_eq!(a3.ip.to_string(), "10.77.0.3");
        netd.detach("fixed", "c1").await.unwrap();
        let a4 = netd.attach("fixed", req("c4", &c4, &[])).await.unwrap();
        assert_eq!(
            a4.ip.to_string(),
            "10.77.0.4",
            "a freed address is not reused at once"
        );
        // The reopened DNS server answers names registered before the restart.
        assert_eq!(
            answers(&dig(&c3, a3.gateway, "two").await),
            vec!["10.77.0.50".to_string()]
        );
        assert!(ping(&c3, "10.77.0.50").await);
        netd.teardown().await.unwrap();
    });
}

#[test]
fn netns_pins_are_removed() {
    sandboxed("netns", |env| async move {
        let netd = Netd::open(env.opts()).await.unwrap();
        let p = netd.create_netns("x1").await.unwrap();
        assert_eq!(p, netns_path(&env.run_dir(), "x1"));
        let lo = run(Some(&p), &["ip", "-o", "link", "show", "lo"])
            .await
            .unwrap();
        assert!(lo.contains("UP"), "{lo}");
        assert!(
            netd.create_netns("x1").await.is_err(),
            "an existing pin is never replaced"
        );
        assert!(netd.create_netns("../evil").await.is_err());
        netd.remove_netns("x1").await.unwrap();
        assert!(!p.exists());
        netd.remove_netns("x1").await.unwrap();
        // Nothing of netd keeps a removed namespace alive: when it is freed, the kernel
        // destroys the veth inside it and so its host end (veth(4): pairs die together).
        netd.create_network(NetworkSpec {
            name: "n".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let p2 = netd.create_netns("x2").await.unwrap();
        netd.attach("n", req("x2", &p2, &["x2"])).await.unwrap();
        let host_end = netd.inspect("n").await.unwrap().endpoints[0]
            .host_ifname
            .clone();
        assert!(run(None, &["ip", "link", "show", &host_end])
            .await
            .is_some());
        netd.remove_netns("x2").await.unwrap();
        let mut gone = false;
        for _ in 0..50 {
            if run(None, &["ip", "link", "show", &host_end])
                .await
                .is_none()
            {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(gone, "namespace of x2 still referenced after remove_netns");
        netd.gc(&HashSet::new()).await.unwrap();
        assert!(netd.inspect("n").await.unwrap().endpoints.is_empty());
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mounts.contains(&env.run_dir().display().to_string()));
        netd.teardown().await.unwrap();
    });
}

#[test]
fn hairpin_without_br_netfilter() {
    sandboxed("hairpin", |env| async move {
        // As on a host without br_netfilter: bridged frames bypass iptables. The sysctl is per
        // network namespace only since Linux 5.3; never flip the host's on older kernels.
        let release = nix::sys::utsname::uname()
            .unwrap()
            .release()
            .to_string_lossy()
            .into_owned();
        let v: Vec<u32> = release
            .split(|c: char| !c.is_ascii_digit())
            .take(2)
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        if (v[0], v[1]) < (5, 3) {
            eprintln!("skipping hairpin_without_br_netfilter: kernel {release} < 5.3");
            return;
        }
        std::fs::write("/proc/sys/net/bridge/bridge-nf-call-iptables", "0").unwrap();
        run(None, &["ip", "addr", "add", "198.51.100.1/32", "dev", "lo"])
            .await
            .unwrap();
        let netd = Netd::open(env.opts()).await.unwrap();
        netd.create_network(NetworkSpec {
            name: "n".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let c1 = netd.create_netns("c1").await.unwrap();
        let c2 = netd.create_netns("c2").await.unwrap();
        netd.attach("n", req("c1", &c1, &[])).await.unwrap();
        netd.attach("n", req("c2", &c2, &[])).await.unwrap();
        let _srv = serve(&c1, "hello").await;
        netd.publish("c1", &[PortSpec::parse("8080:80").unwrap()])
            .await
            .unwrap();
        assert_eq!(
            wget(Some(&c2), "198.51.100.1:8080").await.as_deref(),
            Some("hello"),
            "hairpin"
        );
        assert_eq!(
            wget(Some(&c1), "198.51.100.1:8080").await.as_deref(),
            Some("hello"),
            "self"
        );
        assert_eq!(
            wget(None, "198.51.100.1:8080").await.as_deref(),
            Some("hello"),
            "host"
        );
        netd.teardown().await.unwrap();
    });
}
