//! iptables rules in berth's own chains.
//!
//! Door: [`Firewall::apply`] (converge to a [`Desired`] rule set; idempotent, cheap when
//! nothing changed) and [`Firewall::remove_all`].
//!
//! Our chains are rewritten whole with `iptables-restore --noflush`: declaring `:CHAIN` in a
//! restore file flushes that user chain and the table is committed in one transaction, so a
//! rebuild never leaves a half-written chain and can never duplicate a rule. What the kernel
//! holds is read with one `iptables-save`: our chains and the jumps into them. Missing jumps
//! from the built-in chains are inserted in the same restore; built-in chains' policies are
//! never touched (Docker sets FORWARD to DROP and we must work under it). Teardown is one
//! restore too (delete the jumps seen, flush and delete our chains). Every process counts:
//! with the nft backend each committed change waits out an RCU grace period in the kernel,
//! so a teardown run as ~28 separate `iptables` calls took a third of a second. On that
//! backend the restore files go to one iptables-restore kept running (kept_restore.rs),
//! which closes no socket and so waits for none.
//!
//! Chains (P = prefix):
//! - filter `P-FORWARD` (from FORWARD, first): isolation, then per network accept rules.
//! - filter `P-ISOLATION-1`/`-2`: Docker's two-stage isolation; a packet leaving bridge A for
//!   bridge B is dropped unless its connection was DNATed (a published port, reachable by every
//!   container through the host address, as DESIGN asks).
//! - nat `P-DNAT` (from PREROUTING and OUTPUT for local destinations): published ports. The
//!   OUTPUT jump has no `! -d 127.0.0.0/8`: ports are reached on localhost without a userland
//!   proxy, which needs route_localnet on the bridge (else the kernel drops a 127/8 source
//!   routed out of a non-loopback device as martian, see ip-sysctl.rst "route_localnet").
//! - nat `P-POSTROUTING`: MASQUERADE for egress of non-internal networks, of 127.0.0.0/8
//!   sources leaving to a bridge (the container could not reply to 127.0.0.1) and of a
//!   container reaching itself through its published port (hairpin).
//! - raw `P-PREROUTING`: drop 127.0.0.0/8 destinations arriving on anything but lo, because
//!   route_localnet would otherwise let a neighbour reach ports published on 127.0.0.1
//!   (CVE-2020-8558, Docker's and kube-proxy's same fix).

use crate::kept_restore::KeptRestore;
use crate::ports::Protocol;
use ipnetwork::Ipv4Network;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("run {cmd}: {source}")]
    Spawn { cmd: String, source: std::io::Error },
    #[error("{cmd} failed ({status}): {stderr}")]
    Failed {
        cmd: String,
        status: String,
        stderr: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FwNetwork {
    pub bridge: String,
    pub subnet: Ipv4Network,
    pub internal: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FwPort {
    pub protocol: Protocol,
    /// None = every local address.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Desired {
    pub networks: Vec<FwNetwork>,
    pub ports: Vec<FwPort>,
    /// Bridged frames do not pass iptables (br_netfilter absent or
    /// net.bridge.bridge-nf-call-iptables=0): conntrack then never sees the direct reply of
    /// a container to a neighbour that reached it through a published port, so that
    /// neighbour gets an answer from an address it never talked to. Masquerading such
    /// DNATed traffic to the gateway routes the reply back through the host (netavark's
    /// approach; Docker instead requires br_netfilter).
    pub hairpin_masquerade: bool,
}

/// What `iptables-save` shows of berth in one table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct TableView {
    /// Declarations (without packet counters) and rules of our chains, in save order.
    ours: Vec<String>,
    /// Rules of other chains that jump to one of ours, as `-A CHAIN ...`.
    jumps: Vec<String>,
}

/// Per table (only tables that show something of ours).
type KernelView = BTreeMap<String, TableView>;

const TABLES: [&str; 3] = ["filter", "nat", "raw"];

pub(crate) struct Firewall {
    save: String,
    restore: String,
    prefix: String,
    /// What `iptables-save` shows of our chains after the last apply, per table, and the
    /// rule set it came from: resync compares against it to skip needless rewrites.
    applied: tokio::sync::Mutex<Option<(Desired, KernelView)>>,
    /// The kept restore process, once `restore` turned out to be an nf_tables one (see
    /// kept_restore.rs); None for the legacy backend, which gains nothing from it.
    kept: tokio::sync::OnceCell<Option<KeptRestore>>,
}

/// No network and no port: nothing of ours belongs in the kernel.
fn is_empty(d: &Desired) -> bool {
    d.networks.is_empty() && d.ports.is_empty()
}

impl Firewall {
    pub fn new(iptables: &str, prefix: &str) -> Firewall {
        Firewall {
            save: format!("{iptables}-save"),
            restore: format!("{iptables}-restore"),
            prefix: prefix.to_string(),
            applied: Default::default(),
            kept: Default::default(),
        }
    }

    fn chain(&self, name: &str) -> String {
        format!("{}-{}", self.prefix, name)
    }

    /// Our chains per table (in declaration order).
    fn chains(&self) -> Vec<(&'static str, String)> {
        vec![
            ("filter", self.chain("FORWARD")),
            ("filter", self.chain("ISOLATION-1")),
            ("filter", self.chain("ISOLATION-2")),
            ("nat", self.chain("DNAT")),
            ("nat", self.chain("POSTROUTING")),
            ("raw", self.chain("PREROUTING")),
        ]
    }

    /// Jumps from built-in chains: (table, chain, rule args after the chain, insert at top).
    fn jumps(&self) -> Vec<(&'static str, &'static str, Vec<String>)> {
        let j = |c: &str| vec!["-j".to_string(), self.chain(c)];
        let local = |c: &str| {
            let mut v: Vec<String> = ["-m", "addrtype", "--dst-type", "LOCAL"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            v.extend(j(c));
            v
        };
        vec![
            ("filter", "FORWARD", j("FORWARD")),
            ("nat", "PREROUTING", local("DNAT")),
            ("nat", "OUTPUT", local("DNAT")),
            ("nat", "POSTROUTING", j("POSTROUTING")),
            ("raw", "PREROUTING", j("PREROUTING")),
        ]
    }

    /// The `-A` lines of each of our chains for `d`.
    fn render(&self, d: &Desired) -> BTreeMap<&'static str, Vec<String>> {
        let (fwd, iso1, iso2) = (
            self.chain("FORWARD"),
            self.chain("ISOLATION-1"),
            self.chain("ISOLATION-2"),
        );
        let (dnat, post, raw) = (
            self.chain("DNAT"),
            self.chain("POSTROUTING"),
            self.chain("PREROUTING"),
        );
        let mut filter = vec![format!("-A {fwd} -j {iso1}")];
        let mut nat = vec![];
        for n in &d.networks {
            let b = &n.bridge;
            filter.push(format!("-A {fwd} -i {b} -o {b} -j ACCEPT"));
            if n.internal {
                // Internal: nothing in or out of the bridge; the DROPs live in ISOLATION-1
                // below, ahead of every ACCEPT, so not even a published port of another
                // network is reachable through the gateway.
            } else {
                filter.push(format!(
                    "-A {fwd} -o {b} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
                ));
                filter.push(format!(
                    "-A {fwd} -o {b} -m conntrack --ctstate DNAT -j ACCEPT"
                ));
                // Anything else entering the bridge from outside is a neighbour routing to a
                // container address directly: unpublished ports must stay unreachable even
                // when FORWARD's policy is ACCEPT (Docker 28 added the same DROP).
                filter.push(format!("-A {fwd} ! -i {b} -o {b} -j DROP"));
                filter.push(format!("-A {fwd} -i {b} ! -o {b} -j ACCEPT"));
                nat.push(format!("-A {post} -s {} ! -o {b} -j MASQUERADE", n.subnet));
            }
            nat.push(format!("-A {post} -s 127.0.0.0/8 -o {b} -j MASQUERADE"));
            if d.hairpin_masquerade && !n.internal {
                nat.push(format!(
                    "-A {post} -s {} -o {b} -m conntrack --ctstate DNAT -j MASQUERADE",
                    n.subnet
                ));
            }
        }
        for n in &d.networks {
            let b = &n.bridge;
            if n.internal {
                filter.push(format!("-A {iso1} -i {b} ! -o {b} -j DROP"));
                filter.push(format!("-A {iso1} ! -i {b} -o {b} -j DROP"));
            } else {
                filter.push(format!(
                    "-A {iso1} -i {b} ! -o {b} -m conntrack ! --ctstate DNAT -j {iso2}"
                ));
            }
        }
        filter.push(format!("-A {iso1} -j RETURN"));
        for n in &d.networks {
            filter.push(format!("-A {iso2} -o {} -j DROP", n.bridge));
        }
        filter.push(format!("-A {iso2} -j RETURN"));
        for p in &d.ports {
            let proto = p.protocol.as_str();
            let dst = p
                .host_ip
                .map(|ip| format!("-d {ip}/32 "))
                .unwrap_or_default();
            nat.push(format!(
                "-A {dnat} {dst}-p {proto} -m {proto} --dport {} -j DNAT --to-destination {}:{}",
                p.host_port, p.container_ip, p.container_port
            ));
            nat.push(format!(
                "-A {post} -s {ip}/32 -d {ip}/32 -p {proto} -m {proto} --dport {} -j MASQUERADE",
                p.container_port,
                ip = p.container_ip
            ));
        }
        let raw_rules = vec![format!("-A {raw} -d 127.0.0.0/8 ! -i lo -j DROP")];
        BTreeMap::from([("filter", filter), ("nat", nat), ("raw", raw_rules)])
    }

    /// Converges our chains and jumps to `d`. With `force` false and nothing changed (same
    /// desired set, kernel still showing what we wrote) it only runs one iptables-save.
    ///
    /// A change made on top of what the kernel showed after our last apply is written from
    /// that view, without reading the kernel first, and the kernel's new view is the one
    /// [`Firewall::view_after`] derives (the resync compares it with iptables-save's): a
    /// network or a port costs one restore and nothing else. A kernel that drifted
    /// meanwhile makes the restore fail (a jump to delete is gone), and the full path runs;
    /// a drift the restore cannot see is healed by the next resync.
    pub async fn apply(&self, d: &Desired, force: bool) -> Result<(), FirewallError> {
        let mut applied = self.applied.lock().await;
        if let (false, Some((prev, seen))) = (force, applied.as_ref()) {
            if prev != d && self.restore(&self.text_for(d, seen)).await.is_ok() {
                *applied = Some((d.clone(), self.view_after(d)));
                return Ok(());
            }
        }
        let current = self.ours_in_kernel().await?;
        if is_empty(d) {
            // Nothing to enforce: no chains and no jumps, so once the last network is gone
            // iptables-save shows nothing of berth (the chains come back with the next
            // network).
            if !current.is_empty() {
                self.restore(&self.teardown_text(&current)).await?;
            }
            *applied = Some((d.clone(), KernelView::new()));
            return Ok(());
        }
        let unchanged = match applied.as_ref() {
            Some((prev, seen)) => prev == d && *seen == current,
            None => false,
        };
        if force || !unchanged {
            self.restore(&self.rebuild_text(d, &current)).await?;
            *applied = Some((d.clone(), self.view_after(d)));
        }
        Ok(())
    }

    /// What iptables-save shows of ours once `d` is applied: per table our chains' names
    /// and rules, chains in name order (both backends' saves sort user chains by name, and
    /// list a chain's rules in its order), and one jump per built-in chain (a rebuild
    /// leaves no other).
    fn view_after(&self, d: &Desired) -> KernelView {
        let mut view = KernelView::new();
        if is_empty(d) {
            return view;
        }
        let mut rules = self.render(d);
        for table in TABLES {
            let mut chains: Vec<String> = (self.chains().into_iter())
                .filter(|(t, _)| *t == table)
                .map(|(_, c)| c)
                .collect();
            chains.sort();
            let chain_of = |rule: &String| {
                let name = rule[3..].split(' ').next().unwrap_or("");
                chains.iter().position(|c| c == name)
            };
            let mut table_rules = rules.remove(table).unwrap_or_default();
            table_rules.sort_by_key(chain_of);
            let v = view.entry(table.to_string()).or_default();
            v.ours = chains.iter().map(|c| format!(":{c}")).collect();
            v.ours.extend(table_rules);
            v.jumps = (self.jumps().into_iter())
                .filter(|(t, _, _)| *t == table)
                .map(|(_, chain, rule)| format!("-A {chain} {}", rule.join(" ")))
                .collect();
        }
        view
    }

    /// The restore file that takes the kernel from `current` to `d`.
    fn text_for(&self, d: &Desired, current: &KernelView) -> String {
        match is_empty(d) {
            true => self.teardown_text(current),
            false => self.rebuild_text(d, current),
        }
    }

    /// Removes the jumps and our chains.
    pub async fn remove_all(&self) -> Result<(), FirewallError> {
        let mut applied = self.applied.lock().await;
        let current = self.ours_in_kernel().await?;
        if !current.is_empty() {
            self.restore(&self.teardown_text(&current)).await?;
        }
        *applied = None;
        Ok(())
    }

    /// A restore file that rewrites our chains for `d` and fixes the jumps into them: a jump
    /// missing is inserted at the top of its built-in chain; one that differs from ours (or
    /// a duplicate) is deleted first, so a jump is never doubled.
    fn rebuild_text(&self, d: &Desired, current: &KernelView) -> String {
        let rules = self.render(d);
        let jumps = self.jumps();
        let mut text = String::new();
        for table in TABLES {
            text.push_str(&format!("*{table}\n"));
            for (t, c) in self.chains() {
                if t == table {
                    text.push_str(&format!(":{c} - [0:0]\n"));
                }
            }
            let seen = current
                .get(table)
                .map(|v| v.jumps.as_slice())
                .unwrap_or(&[]);
            let wanted: Vec<String> = jumps
                .iter()
                .filter(|(t, _, _)| *t == table)
                .map(|(_, chain, rule)| format!("-A {chain} {}", rule.join(" ")))
                .collect();
            let mut kept: Vec<&String> = Vec::new();
            for line in seen {
                if wanted.contains(line) && !kept.contains(&line) {
                    kept.push(line);
                } else {
                    text.push_str(&format!("-D{}\n", &line[2..]));
                }
            }
            for line in wanted.iter().filter(|w| !kept.contains(w)) {
                // "-A CHAIN rule" -> "-I CHAIN 1 rule"
                let (chain, rule) = line[3..].split_once(' ').unwrap_or((&line[3..], ""));
                text.push_str(&format!("-I {chain} 1 {rule}\n"));
            }
            for r in &rules[table] {
                text.push_str(r);
                text.push('\n');
            }
            text.push_str("COMMIT\n");
        }
        text
    }

    /// A restore file that deletes every jump into our chains, then flushes and deletes the
    /// chains, in one transaction per table.
    fn teardown_text(&self, current: &KernelView) -> String {
        let mut text = String::new();
        for (table, view) in current {
            let chains: Vec<&str> = view
                .ours
                .iter()
                .filter_map(|l| l.strip_prefix(':'))
                .collect();
            text.push_str(&format!("*{table}\n"));
            // Declaring a user chain flushes it (--noflush keeps the rest of the table).
            for c in &chains {
                text.push_str(&format!(":{c} - [0:0]\n"));
            }
            for line in &view.jumps {
                text.push_str(&format!("-D{}\n", &line[2..]));
            }
            for c in &chains {
                text.push_str(&format!("-X {c}\n"));
            }
            text.push_str("COMMIT\n");
        }
        text
    }

    /// Our chains and the jumps into them, as one `iptables-save` of every table shows them.
    async fn ours_in_kernel(&self) -> Result<KernelView, FirewallError> {
        let text = output(&self.save, &[]).await?;
        Ok(parse_save(&text, &self.chain_names()))
    }

    fn chain_names(&self) -> Vec<String> {
        self.chains().into_iter().map(|(_, c)| c).collect()
    }

    /// Applies a restore file: through the kept process on the nf_tables backend, else (or
    /// when that fails, for the failure's own message) by a one-shot iptables-restore.
    async fn restore(&self, text: &str) -> Result<(), FirewallError> {
        if let Some(kept) = self.kept().await {
            match kept.apply(text).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::debug!(error = %e, "kept iptables-restore; running a one-shot one")
                }
            }
        }
        self.restore_once(text).await
    }

    async fn kept(&self) -> Option<&KeptRestore> {
        let restore = &self.restore;
        let barrier_prefix = &self.prefix;
        self.kept
            .get_or_init(|| async move {
                // "iptables-restore v1.8.9 (nf_tables)" or "... (legacy)".
                let version = output(restore, &["-V"]).await.unwrap_or_default();
                (version.contains("(nf_tables)")).then(|| KeptRestore::new(restore, barrier_prefix))
            })
            .await
            .as_ref()
    }

    async fn restore_once(&self, text: &str) -> Result<(), FirewallError> {
        let cmd = format!("{} -w --noflush", self.restore);
        let mut child = Command::new(&self.restore)
            .args(["-w", "--noflush"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| FirewallError::Spawn {
                cmd: cmd.clone(),
                source,
            })?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin
            .write_all(text.as_bytes())
            .await
            .map_err(|source| FirewallError::Spawn {
                cmd: cmd.clone(),
                source,
            })?;
        drop(stdin);
        let out = child
            .wait_with_output()
            .await
            .map_err(|source| FirewallError::Spawn {
                cmd: cmd.clone(),
                source,
            })?;
        succeeded(
            format!("{cmd} <<{}", text.lines().next().unwrap_or("")),
            &out,
        )
    }
}

/// A process's non-zero exit as an error naming the command, with what it said on stderr.
fn succeeded(cmd: String, out: &std::process::Output) -> Result<(), FirewallError> {
    match out.status.success() {
        true => Ok(()),
        false => Err(FirewallError::Failed {
            cmd,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }),
    }
}

/// Runs `bin args` and returns its standard output; a failure carries its standard error.
async fn output(bin: &str, args: &[&str]) -> Result<String, FirewallError> {
    let cmd = format!("{bin} {}", args.join(" "));
    let out = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|source| FirewallError::Spawn {
            cmd: cmd.clone(),
            source,
        })?;
    succeeded(cmd, &out)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Picks our chains (declarations without counters, rules) and the rules of other chains
/// that jump to them out of `iptables-save` output, per table.
fn parse_save(text: &str, our_chains: &[String]) -> KernelView {
    let is_ours = |name: &str| our_chains.iter().any(|c| c == name);
    let mut out = KernelView::new();
    let mut table = "";
    for line in text.lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = t.trim();
        } else if let Some(decl) = line.strip_prefix(':') {
            let name = decl.split(' ').next().unwrap_or(decl);
            if is_ours(name) {
                let v = out.entry(table.to_string()).or_default();
                v.ours.push(format!(":{name}"));
            }
        } else if let Some(rule) = line.strip_prefix("-A ") {
            let mut words = rule.split(' ');
            let chain = words.next().unwrap_or("");
            if is_ours(chain) {
                out.entry(table.to_string())
                    .or_default()
                    .ours
                    .push(line.to_string());
                continue;
            }
            let mut prev = "";
            for w in words {
                if (prev == "-j" || prev == "-g") && is_ours(w) {
                    out.entry(table.to_string())
                        .or_default()
                        .jumps
                        .push(line.to_string());
                    break;
                }
                prev = w;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_isolation_before_accepts() {
        let fw = Firewall::new("iptables", "BX");
        let d = Desired {
            networks: vec![
                FwNetwork {
                    bridge: "br-a".into(),
                    subnet: "10.1.0.0/24".parse().unwrap(),
                    internal: false,
                },
                FwNetwork {
                    bridge: "br-b".into(),
                    subnet: "10.2.0.0/24".parse().unwrap(),
                    internal: true,
                },
            ],
            ports: vec![FwPort {
                protocol: Protocol::Udp,
                host_ip: Some("127.0.0.1".parse().unwrap()),
                host_port: 5353,
                container_ip: "10.1.0.2".parse().unwrap(),
                container_port: 53,
            }],
            hairpin_masquerade: false,
        };
        let r = fw.render(&d);
        assert_eq!(r["filter"][0], "-A BX-FORWARD -j BX-ISOLATION-1");
        assert!(r["filter"].contains(&"-A BX-ISOLATION-1 -i br-b ! -o br-b -j DROP".to_string()));
        assert!(
            !r["nat"].iter().any(|l| l.contains("10.2.0.0/24")),
            "internal network has no masquerade"
        );
        assert!(r["nat"].contains(
            &"-A BX-DNAT -d 127.0.0.1/32 -p udp -m udp --dport 5353 -j DNAT --to-destination 10.1.0.2:53".to_string()
        ));
    }

    const SAVED: &str = "\
# Generated by iptables-save v1.8.9 (nf_tables)
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:BX-FORWARD - [3:180]
:BX-ISOLATION-1 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j BX-FORWARD
-A FORWARD -j DOCKER-USER
-A FORWARD -j BX-FORWARD
-A BX-FORWARD -j BX-ISOLATION-1
-A BX-ISOLATION-1 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:BX-DNAT - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j BX-DNAT
-A PREROUTING -m addrtype --dst-type LOCAL -j BXY-DNAT
COMMIT
";

    #[test]
    fn save_parsing_finds_our_chains_and_jumps_only() {
        let fw = Firewall::new("iptables", "BX");
        let ours: Vec<String> = fw.chains().into_iter().map(|(_, c)| c).collect();
        let v = parse_save(SAVED, &ours);
        assert_eq!(
            v["filter"].ours,
            [
                ":BX-FORWARD",
                ":BX-ISOLATION-1",
                "-A BX-FORWARD -j BX-ISOLATION-1",
                "-A BX-ISOLATION-1 -j RETURN"
            ]
        );
        assert_eq!(
            v["filter"].jumps,
            ["-A FORWARD -j BX-FORWARD", "-A FORWARD -j BX-FORWARD"]
        );
        // Another daemon's chain with a longer prefix is not ours.
        assert_eq!(
            v["nat"].jumps,
            ["-A PREROUTING -m addrtype --dst-type LOCAL -j BX-DNAT"]
        );
        assert!(!v.contains_key("raw"));
    }

    #[test]
    fn rebuild_drops_duplicate_jumps_and_inserts_missing_ones() {
        let fw = Firewall::new("iptables", "BX");
        let ours: Vec<String> = fw.chains().into_iter().map(|(_, c)| c).collect();
        let text = fw.rebuild_text(&Desired::default(), &parse_save(SAVED, &ours));
        let filter: Vec<&str> = text
            .split("COMMIT\n")
            .find(|t| t.starts_with("*filter"))
            .unwrap()
            .lines()
            .collect();
        assert_eq!(
            filter
                .iter()
                .filter(|l| l.contains("FORWARD -j BX-FORWARD"))
                .count(),
            1,
            "one of the two jumps is deleted, none inserted: {filter:?}"
        );
        assert!(filter.contains(&"-D FORWARD -j BX-FORWARD"));
        assert!(text.contains("-I POSTROUTING 1 -j BX-POSTROUTING\n"));
        assert!(text.contains("-I OUTPUT 1 -m addrtype --dst-type LOCAL -j BX-DNAT\n"));
        assert!(!text.contains("-I PREROUTING 1 -m addrtype"));
    }

    #[test]
    fn teardown_deletes_jumps_before_chains() {
        let fw = Firewall::new("iptables", "BX");
        let ours: Vec<String> = fw.chains().into_iter().map(|(_, c)| c).collect();
        let text = fw.teardown_text(&parse_save(SAVED, &ours));
        assert_eq!(
            text,
            "*filter\n:BX-FORWARD - [0:0]\n:BX-ISOLATION-1 - [0:0]\n\
             -D FORWARD -j BX-FORWARD\n-D FORWARD -j BX-FORWARD\n\
             -X BX-FORWARD\n-X BX-ISOLATION-1\nCOMMIT\n\
             *nat\n:BX-DNAT - [0:0]\n\
             -D PREROUTING -m addrtype --dst-type LOCAL -j BX-DNAT\n-X BX-DNAT\nCOMMIT\n"
        );
    }
}

/// Against the kernel: needs root and iptables; each test in a network namespace of its own
/// (a thread that unshares one), so nothing of the host is touched and nothing outlives it.
#[cfg(test)]
mod kernel_tests {
    use super::*;

    /// Runs `f` on a current-thread runtime in a new network namespace; None when this
    /// process cannot make one (not root) or has no iptables.
    fn in_new_netns<F: std::future::Future<Output = ()>>(
        f: impl FnOnce() -> F + Send + 'static,
    ) -> Option<()> {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let have = std::process::Command::new("iptables-restore")
            .arg("-V")
            .output()
            .is_ok();
        if !root || !have {
            eprintln!("skipped: needs root and iptables");
            return None;
        }
        std::thread::spawn(move || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(f())
        })
        .join()
        .expect("test thread");
        Some(())
    }

    fn net(bridge: &str, subnet: &str, internal: bool) -> FwNetwork {
        FwNetwork {
            bridge: bridge.into(),
            subnet: subnet.parse().unwrap(),
            internal,
        }
    }

    fn port(protocol: Protocol, host_ip: Option<&str>, host_port: u16, ip: &str) -> FwPort {
        FwPort {
            protocol,
            host_ip: host_ip.map(|h| h.parse().unwrap()),
            host_port,
            container_ip: ip.parse().unwrap(),
            container_port: 80,
        }
    }

    /// The view berth keeps after an apply instead of reading the kernel is exactly what
    /// iptables-save shows, through a sequence of changes on the fast path (else every
    /// resync would rewrite the rules), and the kept restore process applied them all.
    #[test]
    fn the_view_kept_after_each_apply_is_what_iptables_save_shows() {
        in_new_netns(|| async {
            let fw = Firewall::new("iptables", "BT");
            let steps = [
                Desired {
                    networks: vec![net("br-one", "10.1.0.0/24", false)],
                    ports: vec![],
                    hairpin_masquerade: false,
                },
                Desired {
                    networks: vec![
                        net("br-one", "10.1.0.0/24", false),
                        net("br-two", "10.2.0.0/24", true),
                    ],
                    ports: vec![
                        port(Protocol::Tcp, None, 8080, "10.1.0.2"),
                        port(Protocol::Udp, Some("127.0.0.1"), 5353, "10.1.0.3"),
                    ],
                    hairpin_masquerade: true,
                },
                Desired {
                    networks: vec![net("br-two", "10.2.0.0/24", true)],
                    ports: vec![],
                    hairpin_masquerade: true,
                },
                Desired::default(),
                Desired {
                    networks: vec![net("br-three", "10.3.0.0/24", false)],
                    ports: vec![port(Protocol::Tcp, Some("127.0.0.1"), 80, "10.3.0.2")],
                    hairpin_masquerade: false,
                },
            ];
            let mut restorer = None;
            for (i, d) in steps.iter().enumerate() {
                fw.apply(d, false).await.unwrap();
                let kept = fw.applied.lock().await.clone().unwrap().1;
                assert_eq!(kept, fw.ours_in_kernel().await.unwrap(), "after step {i}");
                let pid = fw.kept().await.map(|k| k.pid_for_tests());
                if let Some(Some(pid)) = pid {
                    assert_eq!(
                        *restorer.get_or_insert(pid),
                        pid,
                        "one kept process throughout"
                    );
                }
            }
            // On the nf_tables backend the kept process did the work.
            let nft = output("iptables-restore", &["-V"])
                .await
                .unwrap()
                .contains("(nf_tables)");
            assert_eq!(restorer.is_some(), nft);
            fw.remove_all().await.unwrap();
            assert!(fw.ours_in_kernel().await.unwrap().is_empty());
        });
    }

    /// A file the kernel refuses fails with iptables-restore's own message (from a one-shot
    /// run), changes nothing, and the next file is applied by a new kept process.
    #[test]
    fn a_refused_file_fails_clearly_and_the_next_one_applies() {
        in_new_netns(|| async {
            let fw = Firewall::new("iptables", "BT");
            let err = fw
                .restore("*filter\n:BT-X - [0:0]\n-A BT-X -j BT-NOPE\nCOMMIT\n")
                .await
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("iptables-restore") && err.contains("line"),
                "{err}"
            );
            assert!(fw.ours_in_kernel().await.unwrap().is_empty());
            let d = Desired {
                networks: vec![net("br-one", "10.1.0.0/24", false)],
                ports: vec![],
                hairpin_masquerade: false,
            };
            fw.apply(&d, false).await.unwrap();
            assert_eq!(fw.ours_in_kernel().await.unwrap(), fw.view_after(&d));
            fw.remove_all().await.unwrap();
        });
    }
}
