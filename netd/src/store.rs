//! Persisted netd state: one JSON document, written atomically.
//!
//! Door: [`State::load`] and [`Saver`] (stage a change, flush it to disk). One file (not one per network) because an attach
//! changes a network's endpoints and the container's published ports together; a single
//! rename keeps them consistent after a crash.

use crate::ports::PortBinding;
use ipnetwork::Ipv4Network;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("read state {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parse state {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("write state {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct State {
    pub networks: BTreeMap<String, NetworkRecord>,
    /// container id -> bindings installed for it.
    #[serde(default)]
    pub published: BTreeMap<String, Vec<PortBinding>>,
    /// Monotonic counter ordering attachments (ties of gateway priority go to the earliest).
    #[serde(default)]
    pub seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NetworkRecord {
    pub id: String,
    pub name: String,
    pub bridge: String,
    pub subnet: Ipv4Network,
    pub gateway: Ipv4Addr,
    pub ip_range: Option<Ipv4Network>,
    pub internal: bool,
    pub mtu: u32,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub created: u64,
    /// Last address handed out, so the allocator continues after it.
    pub last_ip: Option<Ipv4Addr>,
    /// container id -> endpoint.
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EndpointRecord {
    pub container_id: String,
    pub netns_path: PathBuf,
    pub ifname: String,
    pub host_ifname: String,
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
    pub dns_names: Vec<String>,
    pub gateway_priority: i32,
    #[serde(default)]
    pub links: Vec<(String, String)>,
    pub seq: u64,
    /// Reserved by an attach whose veth is being made (never true on disk after a restart:
    /// an endpoint saved mid-attach is healed like any other).
    #[serde(skip)]
    pub plumbing: bool,
}

impl NetworkRecord {
    pub fn used_ips(&self) -> BTreeSet<Ipv4Addr> {
        self.endpoints.values().map(|e| e.ip).collect()
    }
}

impl State {
    pub fn load(path: &Path) -> Result<State, StoreError> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|source| StoreError::Parse {
                path: path.into(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(source) => Err(StoreError::Read {
                path: path.into(),
                source,
            }),
        }
    }

    pub fn find(&self, id_or_name: &str) -> Option<&NetworkRecord> {
        self.networks
            .get(id_or_name)
            .or_else(|| self.networks.values().find(|n| n.name == id_or_name))
            .or_else(|| {
                // A unique id prefix, as docker accepts.
                let mut it = self
                    .networks
                    .values()
                    .filter(|n| id_or_name.len() >= 3 && n.id.starts_with(id_or_name));
                match (it.next(), it.next()) {
                    (Some(n), None) => Some(n),
                    _ => None,
                }
            })
    }
}

/// Writes of the state file, grouped: concurrent changes (ten containers of a stack released
/// at once) share one write instead of queueing an fsync'd write each. A change is staged
/// while the state lock is held, so staged snapshots are ordered as the changes they capture;
/// [`Saver::flush`] then returns once a snapshot at least that new is written, writing the
/// newest staged one itself if none is.
///
/// A change only ever freeing things (a container's release) need not be durable: a state
/// file that lost it after a host crash still holds the container's endpoints, which the
/// next start's garbage collection frees as it frees any dead container's. Such a change is
/// flushed with [`Durability::Atomic`]: the rename, without the two fsyncs.
pub(crate) struct Saver {
    path: PathBuf,
    /// The newest staged snapshot and its number.
    staged: std::sync::Mutex<(u64, std::sync::Arc<Vec<u8>>)>,
    /// The numbers of the snapshot in the file and of the newest one known durable; held
    /// while writing.
    written: std::sync::Mutex<Written>,
}

#[derive(Default)]
struct Written {
    visible: u64,
    durable: u64,
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Durability {
    /// On disk when flush returns: survives a host crash.
    Durable,
    /// In the file when flush returns (a crash leaves the old or the new file, never a mix).
    Atomic,
}

impl Saver {
    pub fn new(path: PathBuf) -> Saver {
        Saver {
            path,
            staged: Default::default(),
            written: Default::default(),
        }
    }

    /// Call with the state lock held. Returns the snapshot's number for [`Saver::flush`].
    pub fn stage(&self, state: &State) -> u64 {
        // Compact: the whole state is serialised at every attach and release.
        let bytes = serde_json::to_vec(state).expect("state serialises");
        let mut staged = self.staged.lock().unwrap();
        staged.0 += 1;
        staged.1 = std::sync::Arc::new(bytes);
        staged.0
    }

    /// Writes snapshot `gen` (or a newer one) as `durability` asks.
    pub fn flush(&self, gen: u64, durability: Durability) -> Result<(), StoreError> {
        let mut written = self.written.lock().unwrap();
        let done = match durability {
            Durability::Durable => written.durable,
            Durability::Atomic => written.visible,
        };
        if done >= gen {
            return Ok(());
        }
        let (newest, bytes) = self.staged.lock().unwrap().clone();
        write_atomic(&self.path, &bytes, durability == Durability::Durable).map_err(|source| {
            StoreError::Write {
                path: self.path.clone(),
                source,
            }
        })?;
        written.visible = newest;
        if durability == Durability::Durable {
            written.durable = newest;
        }
        Ok(())
    }
}

/// temp file + rename, and with `durable` fsync before the rename and of the directory after:
/// after a crash the file is either the old or the new content, never a torn mix (rename(2)
/// is atomic within a filesystem).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|s| s.to_str()).unwrap_or("state")
    ));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        if durable {
            f.sync_all()?;
        }
    }
    std::fs::rename(&tmp, path)?;
    match durable {
        true => std::fs::File::open(dir)?.sync_all(),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_missing_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/netd.json");
        let s = State::load(&p).unwrap();
        assert!(s.networks.is_empty());
        let s = State {
            seq: 7,
            ..Default::default()
        };
        let saver = Saver::new(p.clone());
        saver.flush(saver.stage(&s), Durability::Durable).unwrap();
        assert_eq!(State::load(&p).unwrap().seq, 7);
    }

    #[test]
    fn grouped_flush_writes_the_newest_snapshot_once() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("netd.json");
        let saver = Saver::new(p.clone());
        let mut s = State {
            seq: 1,
            ..Default::default()
        };
        let first = saver.stage(&s);
        s.seq = 2;
        let second = saver.stage(&s);
        saver.flush(first, Durability::Durable).unwrap();
        assert_eq!(
            State::load(&p).unwrap().seq,
            2,
            "the newest staged state is written"
        );
        std::fs::remove_file(&p).unwrap();
        saver.flush(second, Durability::Durable).unwrap();
        assert!(!p.exists(), "already durable: no second write");
        s.seq = 3;
        let third = saver.stage(&s);
        saver.flush(third, Durability::Durable).unwrap();
        assert_eq!(State::load(&p).unwrap().seq, 3);
    }

    #[test]
    fn an_atomic_write_does_not_count_as_durable() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("netd.json");
        let saver = Saver::new(p.clone());
        let mut s = State {
            seq: 1,
            ..Default::default()
        };
        let first = saver.stage(&s);
        saver.flush(first, Durability::Atomic).unwrap();
        assert_eq!(State::load(&p).unwrap().seq, 1);
        std::fs::remove_file(&p).unwrap();
        saver.flush(first, Durability::Atomic).unwrap();
        assert!(!p.exists(), "already written: no second write");
        saver.flush(first, Durability::Durable).unwrap();
        assert_eq!(State::load(&p).unwrap().seq, 1, "written again, durably");
        s.seq = 2;
        let second = saver.stage(&s);
        saver.flush(second, Durability::Durable).unwrap();
        std::fs::remove_file(&p).unwrap();
        saver.flush(second, Durability::Atomic).unwrap();
        assert!(!p.exists(), "durable is written as well");
    }
}
