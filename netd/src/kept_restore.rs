//! One `iptables-restore --noflush` kept running, for the nf_tables backend.
//!
//! Door: [`KeptRestore::apply`] (one restore file, applied by the kept process; an error
//! when it could not say it went through, after which the next call starts a new process).
//!
//! Why keep one: a process that closes a netfilter netlink socket waits in the kernel,
//! holding its namespace's nf_tables commit mutex, until the clean-up of the transactions
//! before it is done: a full RCU grace period (nft_rcv_nl_event -> flush_work of the
//! destroy work; 10-20 ms here). A one-shot iptables-restore closes two such sockets, and
//! iptables-save one. Every network device unregistered in the namespace meanwhile takes
//! the same mutex (nf_tables_netdev_event) with the RTNL held: `down` deleted its bridge
//! beside the rules change that removed its network, and the deletion took ~14 ms longer
//! for it (a sched_switch trace of the link reaper). A process that stays keeps its socket:
//! a change is one batch on it, 0.2 ms instead of 20-35, and it closes nothing.
//!
//! iptables-restore says nothing when a COMMIT succeeds and ends at the first that fails.
//! Each file therefore gets a barrier table section after it, which creates and deletes a
//! chain of a name of its own in one transaction; the kernel announces every committed
//! transaction to the NFNLGRP_NFTABLES group: the barrier chain's deletion by name, then the
//! new generation with the committing process's pid. Seeing both means every COMMIT before
//! it went through. (A transaction that changes nothing is not announced at all, which is
//! why the file's own COMMITs cannot be counted instead.)

use netlink_packet_utils::nla::NlasIterator;
use netlink_sys::{protocols::NETLINK_NETFILTER, AsyncSocket, AsyncSocketExt, TokioSocket};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};

/// nftables' multicast group of committed changes (linux/netfilter/nfnetlink.h).
const NFNLGRP_NFTABLES: u32 = 7;
/// nfnetlink subsystem of nftables, and its message types (linux/netfilter/nf_tables.h).
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_DELCHAIN: u16 = 5;
const NFT_MSG_NEWGEN: u16 = 15;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_GEN_PROC_PID: u16 = 2;

/// How long a file may take before the process is given up on (a healthy one takes ms).
const PATIENCE: Duration = Duration::from_secs(5);

pub(crate) struct KeptRestore {
    bin: String,
    /// The barrier chains' names start with it (the chain prefix: unique per daemon).
    barrier_prefix: String,
    running: tokio::sync::Mutex<Option<Running>>,
}

struct Running {
    child: Child,
    stdin: ChildStdin,
    pid: u32,
    /// The last of what the process wrote to stderr (read as it comes: warnings must not
    /// fill the pipe of a process that lives as long as the daemon).
    said: tokio::task::JoinHandle<String>,
    /// Subscribed to NFNLGRP_NFTABLES while a file is in flight.
    events: TokioSocket,
    barriers: u32,
}

impl KeptRestore {
    /// `bin` is the iptables-restore of an nf_tables iptables.
    pub fn new(bin: &str, barrier_prefix: &str) -> KeptRestore {
        KeptRestore {
            bin: bin.to_string(),
            barrier_prefix: barrier_prefix.to_string(),
            running: Default::default(),
        }
    }

    /// Applies the restore file `text`, starting the process first if none runs. On any
    /// failure the process is ended (a failed COMMIT ends it anyway) and the error says
    /// what was seen; the caller can run the file once more by other means for a precise
    /// message.
    pub async fn apply(&self, text: &str) -> Result<(), String> {
        let mut running = self.running.lock().await;
        if running.is_none() {
            *running = Some(self.start()?);
        }
        let r = running.as_mut().expect("started above");
        let result = tokio::time::timeout(PATIENCE, r.apply(text, &self.barrier_prefix))
            .await
            .unwrap_or_else(|_| Err(format!("no answer in {PATIENCE:?}")));
        if result.is_err() {
            if let Some(mut r) = running.take() {
                let _ = r.child.start_kill();
                let _ = r.child.wait().await;
            }
        }
        result
    }

    /// The kept process's pid, if one runs.
    #[cfg(test)]
    pub fn pid_for_tests(&self) -> Option<u32> {
        self.running.try_lock().ok()?.as_ref().map(|r| r.pid)
    }

    fn start(&self) -> Result<Running, String> {
        let mut events = TokioSocket::new(NETLINK_NETFILTER)
            .map_err(|e| format!("netfilter netlink socket: {e}"))?;
        let socket = events.socket_mut();
        socket.bind_auto().map_err(|e| format!("bind: {e}"))?;
        // Room for the announcements of a large commit (one message per rule).
        let _ = socket.set_rx_buf_sz(1 << 20);
        let mut child = Command::new(&self.bin)
            .args(["-w", "--noflush"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("run {}: {e}", self.bin))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let pid = child.id().unwrap_or(0);
        let mut stderr = child.stderr.take().expect("piped stderr");
        let said = tokio::spawn(async move {
            const KEPT: usize = 4096;
            let (mut kept, mut buf) = (Vec::new(), [0u8; 1024]);
            while let Ok(n @ 1..) = stderr.read(&mut buf).await {
                kept.extend_from_slice(&buf[..n]);
                let over = kept.len().saturating_sub(KEPT);
                kept.drain(..over);
            }
            String::from_utf8_lossy(&kept).trim().to_string()
        });
        Ok(Running {
            child,
            stdin,
            pid,
            said,
            events,
            barriers: 0,
        })
    }
}

impl Running {
    async fn apply(&mut self, text: &str, barrier_prefix: &str) -> Result<(), String> {
        self.barriers = self.barriers.wrapping_add(1);
        let barrier = format!("{barrier_prefix}-B{}", self.barriers);
        // Whatever an earlier file left unread is of no interest; subscribing only while a
        // file is in flight spares the kernel building announcements nobody reads.
        self.drain();
        let socket = self.events.socket_mut();
        socket
            .add_membership(NFNLGRP_NFTABLES)
            .map_err(|e| format!("subscribe to nftables changes: {e}"))?;
        let file = format!("{text}*filter\n:{barrier} - [0:0]\n-X {barrier}\nCOMMIT\n");
        let wait = write_and_wait(&mut self.stdin, &mut self.events, &file, &barrier, self.pid);
        let outcome = tokio::select! {
            written = wait => Some(written),
            _ = self.child.wait() => None,
        };
        let _ = self.events.socket_mut().drop_membership(NFNLGRP_NFTABLES);
        match outcome {
            Some(written) => written,
            None => Err(self.failure().await),
        }
    }

    /// Reads whatever is queued on the events socket, without waiting.
    fn drain(&mut self) {
        let socket = self.events.socket_mut();
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(n) = socket.recv(&mut &mut buf[..], libc::MSG_DONTWAIT) {
            if n == 0 {
                break;
            }
        }
    }

    /// What the process said before it ended.
    async fn failure(&mut self) -> String {
        let status = self.child.wait().await;
        let said = (&mut self.said).await.unwrap_or_default();
        let status = status.map(|s| s.to_string()).unwrap_or_default();
        format!("iptables-restore ended ({status}): {said}")
    }
}

async fn write_and_wait(
    stdin: &mut ChildStdin,
    events: &mut TokioSocket,
    file: &str,
    barrier: &str,
    pid: u32,
) -> Result<(), String> {
    stdin
        .write_all(file.as_bytes())
        .await
        .map_err(|e| format!("write to iptables-restore: {e}"))?;
    let mut barrier_seen = false;
    let mut buf = Vec::with_capacity(1 << 16);
    loop {
        buf.clear();
        events
            .recv(&mut buf)
            .await
            .map_err(|e| format!("read nftables changes: {e}"))?;
        for (kind, attrs) in messages(&buf) {
            match kind {
                NFT_MSG_DELCHAIN => {
                    let name = attr(attrs, NFTA_CHAIN_NAME);
                    barrier_seen |= name.map(c_str) == Some(barrier.as_bytes());
                }
                NFT_MSG_NEWGEN if barrier_seen => {
                    let by = attr(attrs, NFTA_GEN_PROC_PID).and_then(|v| v.try_into().ok());
                    if by.map(u32::from_be_bytes) == Some(pid) {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
    }
}

/// The nftables messages in a datagram: (message type, attributes after the nfgenmsg).
fn messages(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || loop {
        // nlmsghdr: len u32, type u16, flags u16, seq u32, pid u32; then nfgenmsg (4 bytes).
        if data.len() < 16 {
            return None;
        }
        let len = u32::from_ne_bytes(data[0..4].try_into().ok()?) as usize;
        let kind = u16::from_ne_bytes(data[4..6].try_into().ok()?);
        if len < 16 || len > data.len() {
            return None;
        }
        let (msg, rest) = data.split_at(len);
        data = rest.get(pad4(len) - len..).unwrap_or(&[]);
        if kind >> 8 == NFNL_SUBSYS_NFTABLES && msg.len() >= 20 {
            return Some((kind & 0xff, &msg[20..]));
        }
    })
}

/// The value of attribute `kind` (netlink attribute layout, nested flags ignored).
fn attr(attrs: &[u8], kind: u16) -> Option<&[u8]> {
    NlasIterator::new(attrs)
        .filter_map(Result::ok)
        .find(|a| a.kind() & 0x3fff == kind)
        .and_then(|a| {
            let len = a.value_length();
            a.into_inner().get(4..4 + len)
        })
}

/// A NUL-terminated string attribute without its NUL.
fn c_str(v: &[u8]) -> &[u8] {
    v.split(|b| *b == 0).next().unwrap_or(v)
}

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nlmsg(kind: u16, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = vec![2u8, 0, 0, 0]; // nfgenmsg: AF_INET, version 0, res_id 0
        for (k, v) in attrs {
            body.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
            body.extend_from_slice(&k.to_ne_bytes());
            body.extend_from_slice(v);
            body.resize(pad4(body.len()), 0);
        }
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&(((NFNL_SUBSYS_NFTABLES) << 8) | kind).to_ne_bytes());
        m.extend_from_slice(&[0u8; 10]);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn reads_chain_names_and_generation_pids_out_of_a_datagram() {
        let mut dgram = nlmsg(3, &[(NFTA_CHAIN_NAME, b"X-B1\0")]);
        dgram.extend(nlmsg(
            NFT_MSG_DELCHAIN,
            &[(1, b"filter\0"), (NFTA_CHAIN_NAME, b"X-B1\0")],
        ));
        dgram.extend(nlmsg(
            NFT_MSG_NEWGEN,
            &[
                (1, &7u32.to_be_bytes()),
                (NFTA_GEN_PROC_PID, &4242u32.to_be_bytes()),
            ],
        ));
        let got: Vec<(u16, Option<Vec<u8>>)> = messages(&dgram)
            .map(|(k, a)| {
                let which = if k == NFT_MSG_NEWGEN {
                    NFTA_GEN_PROC_PID
                } else {
                    NFTA_CHAIN_NAME
                };
                (k, attr(a, which).map(|v| v.to_vec()))
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (3, Some(b"X-B1\0".to_vec())),
                (NFT_MSG_DELCHAIN, Some(b"X-B1\0".to_vec())),
                (NFT_MSG_NEWGEN, Some(4242u32.to_be_bytes().to_vec())),
            ]
        );
        assert_eq!(c_str(b"X-B1\0"), b"X-B1");
        // A truncated datagram ends the walk instead of reading past it.
        assert_eq!(messages(&dgram[..dgram.len() - 3]).count(), 2);
    }
}
