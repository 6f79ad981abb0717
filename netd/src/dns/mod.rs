//! Embedded DNS: one server per network, on the gateway address, UDP and TCP.
//!
//! Door: [`DnsServer::start`], [`DnsServer::set_records`]. Names registered on the network are
//! answered authoritatively with TTL 0 (containers come and go; caching would pin dead
//! addresses), several addresses of one name are rotated per query (round robin). A
//! single-label name that is not ours gets NXDOMAIN without asking upstream: it can only be a
//! container name (on another network, or gone), and leaking it to the host's resolvers is
//! slow and wrong. Everything else is relayed byte for byte to the upstream resolvers.
//! A client on several networks also gets the names of its other networks (see
//! [`Records::extra`]), and addresses of this network resolve back (PTR) to their first name.
//!
//! hickory-proto does the wire format; the socket loops are ours rather than hickory-server's
//! `ServerFuture`, because relaying an upstream answer unchanged (flags, EDNS, every section)
//! is trivial on raw bytes and clumsy through its response builder.
//!
//! Records live behind a lock shared with the socket tasks, so adding or removing a container
//! never re-binds a socket.
//!
//! The server runs in the caller's process ([`DnsServer`]) or, so that names keep resolving
//! while the daemon is down, as a process of its own that a later daemon re-adopts
//! ([`process`], `berth dns-server`), as netavark runs aardvark-dns apart from itself.

pub(crate) mod process;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{
    rdata::{A, PTR},
    Name, RData, Record, RecordType,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("bind dns {proto} {addr} (network {network}): {source}")]
    Bind {
        network: String,
        proto: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("start the dns server of network {network} ({exe}): {source}")]
    Spawn {
        network: String,
        exe: PathBuf,
        source: std::io::Error,
    },
    #[error("the dns server of network {network} did not start: {message}")]
    Start { network: String, message: String },
    #[error("dns server of network {network}, {path}: {source}")]
    Io {
        network: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);
const TCP_IDLE: Duration = Duration::from_secs(10);

/// What one network's server answers. Names are lowercase without the trailing dot.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Records {
    /// Names of the containers on this network.
    pub names: HashMap<String, Vec<Ipv4Addr>>,
    /// Per client address: names on the client's *other* networks, consulted after `names`.
    /// A container on several networks asks only its first nameserver (glibc moves to the
    /// next one on timeouts, not on NXDOMAIN), yet must resolve every network it is on, as
    /// with Docker's per-container resolver.
    pub extra: HashMap<Ipv4Addr, HashMap<String, Vec<Ipv4Addr>>>,
    /// Reverse lookups (PTR) of this network's addresses: address -> primary name.
    pub ptr: HashMap<Ipv4Addr, String>,
}

impl Records {
    /// Names matched case-insensitively: stored lowercase, without the trailing dot.
    fn normalised(self) -> Records {
        let norm = |m: HashMap<String, Vec<Ipv4Addr>>| -> HashMap<String, Vec<Ipv4Addr>> {
            m.into_iter().map(|(k, v)| (normalise(&k), v)).collect()
        };
        Records {
            names: norm(self.names),
            extra: self
                .extra
                .into_iter()
                .map(|(ip, m)| (ip, norm(m)))
                .collect(),
            ptr: self.ptr,
        }
    }
}

/// What the socket tasks of one server share.
struct Shared {
    records: RwLock<Records>,
    upstream: Vec<SocketAddr>,
    rotate: AtomicUsize,
}

impl Shared {
    fn new(upstream: Vec<SocketAddr>) -> Arc<Shared> {
        Arc::new(Shared {
            records: RwLock::default(),
            upstream,
            rotate: AtomicUsize::new(0),
        })
    }

    fn set_records(&self, records: Records) {
        *self.records.write().unwrap_or_else(|e| e.into_inner()) = records.normalised();
    }

    /// The UDP and TCP loops on the bound sockets, as tasks of the current runtime.
    fn serve(self: &Arc<Self>, udp: UdpSocket, tcp: TcpListener) -> Vec<JoinHandle<()>> {
        vec![
            tokio::spawn(udp_loop(Arc::new(udp), self.clone())),
            tokio::spawn(tcp_loop(tcp, self.clone())),
        ]
    }
}

pub(crate) struct DnsServer {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl DnsServer {
    pub async fn start(
        network: &str,
        addr: SocketAddr,
        upstream: Vec<SocketAddr>,
    ) -> Result<DnsServer, DnsError> {
        let bind = |proto, source| DnsError::Bind {
            network: network.to_string(),
            proto,
            addr,
            source,
        };
        // A server of the same network that was just dropped (a reopen in the same process)
        // releases its sockets when its aborted tasks are dropped, a moment later: retry
        // EADDRINUSE briefly instead of failing the network.
        let mut tries = 0;
        let (udp, tcp) = loop {
            let res = async {
                Ok::<_, (&'static str, std::io::Error)>((
                    UdpSocket::bind(addr).await.map_err(|e| ("udp", e))?,
                    TcpListener::bind(addr).await.map_err(|e| ("tcp", e))?,
                ))
            }
            .await;
            match res {
                Ok(s) => break s,
                Err((_, e)) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 20 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err((proto, e)) => return Err(bind(proto, e)),
            }
        };
        let shared = Shared::new(upstream);
        let tasks = shared.serve(udp, tcp);
        Ok(DnsServer { shared, tasks })
    }

    /// Replaces the name table (names are matched case-insensitively).
    pub fn set_records(&self, records: Records) {
        self.shared.set_records(records);
    }

    pub fn is_running(&self) -> bool {
        self.tasks.iter().all(|t| !t.is_finished())
    }
}

/// A network's server, in this process or a process of its own.
pub(crate) enum Server {
    InProcess(DnsServer),
    Process(Arc<process::ServerProcess>),
}

/// Tables staged for server processes, to push once netd's state lock is released.
#[must_use = "the servers get their tables only once pushed"]
#[derive(Default)]
pub(crate) struct DnsPush(Vec<(Arc<process::ServerProcess>, u64)>);

impl DnsPush {
    /// Returns once every server uses its table. A server that cannot be reached is left to
    /// the next resync, which restarts a dead one and pushes its table again.
    pub async fn finish(self) {
        for (server, gen) in self.0 {
            let pushed = tokio::task::spawn_blocking(move || server.push(gen)).await;
            if let Ok(Err(e)) = pushed {
                tracing::warn!(error = %e, "updating the dns server's names");
            }
        }
    }
}

impl Server {
    pub fn is_running(&self) -> bool {
        match self {
            Server::InProcess(s) => s.is_running(),
            Server::Process(p) => p.is_running(),
        }
    }

    /// Gives the server `records`: at once in this process, staged in `push` for a process.
    pub fn set_records(&self, records: Records, push: &mut DnsPush) {
        match self {
            Server::InProcess(s) => s.set_records(records),
            Server::Process(p) => push.0.push((p.clone(), p.stage(records.normalised()))),
        }
    }

    /// Ends the server (the network goes). Merely dropping a process server leaves it
    /// running, which is what a daemon that exits wants.
    pub fn stop(self) {
        if let Server::Process(p) = &self {
            p.stop();
        }
    }
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

async fn udp_loop(sock: Arc<UdpSocket>, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "dns udp recv");
                continue;
            }
        };
        let query = buf[..n].to_vec();
        let (sock, shared) = (sock.clone(), shared.clone());
        tokio::spawn(async move {
            if let Some(resp) = answer(&shared, &query, false, peer.ip()).await {
                let _ = sock.send_to(&resp, peer).await;
            }
        });
    }
}

async fn tcp_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _ = tcp_conn(stream, shared, peer.ip()).await;
        });
    }
}

async fn tcp_conn(
    mut stream: TcpStream,
    shared: Arc<Shared>,
    client: IpAddr,
) -> std::io::Result<()> {
    loop {
        // An idle client must not hold a task and a socket forever (RFC 7766 6.2.3 leaves
        // the idle timeout to the server; a few seconds is common).
        let len = match tokio::time::timeout(TCP_IDLE, stream.read_u16()).await {
            Ok(Ok(l)) => l as usize,
            _ => return Ok(()),
        };
        let mut q = vec![0u8; len];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut q)).await {
            Ok(r) => r?,
            Err(_) => return Ok(()),
        };
        if let Some(resp) = answer(&shared, &q, true, client).await {
            stream.write_u16(resp.len() as u16).await?;
            stream.write_all(&resp).await?;
        }
    }
}

/// The response bytes for one query, or None to stay silent (unparseable garbage).
async fn answer(shared: &Shared, query: &[u8], tcp: bool, client: IpAddr) -> Option<Vec<u8>> {
    let req = Message::from_vec(query).ok()?;
    if req.message_type() != MessageType::Query {
        return None;
    }
    let mut resp = Message::new();
    resp.set_id(req.id())
        .set_message_type(MessageType::Response)
        .set_op_code(req.op_code())
        .set_recursion_desired(req.recursion_desired())
        .set_recursion_available(true);
    for q in req.queries() {
        resp.add_query(q.clone());
    }
    let Some(q) = req
        .queries()
        .first()
        .filter(|_| req.op_code() == OpCode::Query)
    else {
        resp.set_response_code(ResponseCode::NotImp);
        return resp.to_vec().ok();
    };
    let name = normalise(&q.name().to_ascii());
    let (local, ptr) = {
        let r = shared.records.read().unwrap_or_else(|e| e.into_inner());
        let extra = match client {
            IpAddr::V4(c) => r.extra.get(&c),
            IpAddr::V6(_) => None,
        };
        let local = r
            .names
            .get(&name)
            .or_else(|| extra.and_then(|x| x.get(&name)))
            .cloned();
        let ptr = match (q.query_type(), ptr_addr(&name)) {
            (RecordType::PTR, Some(ip)) => r.ptr.get(&ip).cloned(),
            _ => None,
        };
        (local, ptr)
    };
    if let Some(target) = ptr {
        resp.set_authoritative(true);
        if let Ok(t) = Name::from_ascii(format!("{target}.")) {
            resp.add_answer(Record::from_rdata(q.name().clone(), 0, RData::PTR(PTR(t))));
            return resp.to_vec().ok();
        }
    }
    match local {
        Some(mut ips) => {
            resp.set_authoritative(true);
            if q.query_type() == RecordType::A {
                if !ips.is_empty() {
                    let k = shared.rotate.fetch_add(1, Ordering::Relaxed) % ips.len();
                    ips.rotate_left(k);
                }
                for ip in ips {
                    resp.add_answer(Record::from_rdata(q.name().clone(), 0, RData::A(A(ip))));
                }
            }
            // Other types of a name we own: NOERROR with no answer (the name exists).
            resp.to_vec().ok()
        }
        None if !name.contains('.') => {
            resp.set_response_code(ResponseCode::NXDomain);
            resp.to_vec().ok()
        }
        None => match forward(&shared.upstream, query, tcp).await {
            Some(r) => Some(r),
            None => {
                resp.set_response_code(ResponseCode::ServFail);
                resp.to_vec().ok()
            }
        },
    }
}

/// `4.3.2.1.in-addr.arpa` -> 1.2.3.4.
fn ptr_addr(name: &str) -> Option<Ipv4Addr> {
    let rev = name.strip_suffix(".in-addr.arpa")?;
    let o: Vec<u8> = rev
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    match o.as_slice() {
        [d, c, b, a] => Some(Ipv4Addr::new(*a, *b, *c, *d)),
        _ => None,
    }
}

/// Relays the query to the first upstream that answers.
async fn forward(upstream: &[SocketAddr], query: &[u8], tcp: bool) -> Option<Vec<u8>> {
    for up in upstream {
        let res = tokio::time::timeout(UPSTREAM_TIMEOUT, async {
            if tcp {
                let mut s = TcpStream::connect(up).await?;
                s.write_u16(query.len() as u16).await?;
                s.write_all(query).await?;
                let len = s.read_u16().await? as usize;
                let mut buf = vec![0u8; len];
                s.read_exact(&mut buf).await?;
                Ok::<_, std::io::Error>(buf)
            } else {
                let bind: SocketAddr = if up.is_ipv4() {
                    "0.0.0.0:0".parse().unwrap()
                } else {
                    "[::]:0".parse().unwrap()
                };
                let s = UdpSocket::bind(bind).await?;
                s.connect(up).await?;
                s.send(query).await?;
                let mut buf = vec![0u8; 4096];
                let n = s.recv(&mut buf).await?;
                buf.truncate(n);
                Ok(buf)
            }
        })
        .await;
        match res {
            Ok(Ok(buf)) => return Some(buf),
            Ok(Err(e)) => tracing::debug!(upstream = %up, error = %e, "dns upstream failed"),
            Err(_) => tracing::debug!(upstream = %up, "dns upstream timed out"),
        }
    }
    None
}

/// Upstream resolvers from a resolv.conf text (port 53).
pub fn parse_resolv_conf_nameservers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            match (w.next(), w.next()) {
                (Some("nameserver"), Some(ip)) => ip
                    .parse::<std::net::IpAddr>()
                    .ok()
                    .map(|ip| SocketAddr::new(ip, 53)),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names() {
        assert_eq!(
            ptr_addr("2.0.17.172.in-addr.arpa"),
            Some(Ipv4Addr::new(172, 17, 0, 2))
        );
        assert_eq!(ptr_addr("0.17.172.in-addr.arpa"), None);
        assert_eq!(ptr_addr("web"), None);
    }

    #[test]
    fn parses_nameservers() {
        let v = parse_resolv_conf_nameservers(
            "# x\nnameserver 1.1.1.1\nsearch a\nnameserver ::1\nnameserver bogus\n",
        );
        assert_eq!(
            v,
            vec!["1.1.1.1:53".parse().unwrap(), "[::1]:53".parse().unwrap()]
        );
    }
}
