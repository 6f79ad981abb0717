//! Deleting links in the background, in batches, off the daemon's runtime.
//!
//! Every link deletion waits in the kernel for RCU grace periods (netdev_run_todo ->
//! rcu_barrier, ~15-30 ms; a bridge waits one more in br_multicast_dev_del) inside the
//! RTM_DELLINK request itself, that is inside the sendmsg(2) of whichever thread sends it.
//! Sent from netd's connection, each deletion held a runtime worker and queued every other
//! netlink request behind it. Here the links go to a thread of their own with its own
//! socket, and the ones released while a deletion is in flight go together in the next:
//! each is put in a link group of berth's, then one RTM_DELLINK of that group
//! (rtnl_group_dellink) unregisters them all under a single grace period.
//!
//! A link is in the group only once berth is deleting it, so a daemon that died before the
//! deletion finished leaves links the next start recognises: the worker deletes the group
//! first thing.

use crate::link::{LinkError, Netlink};
use tokio::sync::mpsc;

/// The link group (IFLA_GROUP) doomed links are moved to just before their deletion. Only
/// links berth is deleting are ever in it.
pub(crate) const DOOMED_GROUP: u32 = 0x6274_6800; // "bth\0"

pub(crate) struct LinkReaper {
    queue: mpsc::UnboundedSender<String>,
}

impl LinkReaper {
    /// Starts the worker thread, on a netlink socket of its own in the calling thread's
    /// namespace (a new thread starts in its creator's), and has it delete what an earlier
    /// daemon left in the doomed group.
    pub fn start() -> Result<LinkReaper, LinkError> {
        let (queue, rx) = mpsc::unbounded_channel();
        let (opened, open_result) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("link-reaper".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => return drop(opened.send(Err(LinkError::Socket(e)))),
                };
                rt.block_on(async move {
                    match Netlink::current() {
                        Ok(nl) => {
                            let _ = opened.send(Ok(()));
                            reap(nl, rx).await
                        }
                        Err(e) => drop(opened.send(Err(e))),
                    }
                })
            })
            .map_err(LinkError::Socket)?;
        open_result
            .recv()
            .unwrap_or_else(|_| Err(LinkError::Socket(std::io::ErrorKind::BrokenPipe.into())))?;
        Ok(LinkReaper { queue })
    }

    /// Frees link `name` (a bridge, say) at once and deletes it soon: it is taken down, out
    /// of its name and into the doomed group on `host` (netd's own connection), then deleted
    /// here. A link that cannot be retired is deleted in place.
    pub async fn retire(&self, host: &Netlink, name: &str) -> Result<(), LinkError> {
        match host.retire(name, DOOMED_GROUP).await {
            Ok(Some(doomed)) => {
                self.delete(vec![doomed]);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => {
                tracing::debug!(link = name, error = %e, "retiring a link; deleting it in place");
                host.delete(name).await
            }
        }
    }

    /// Deletes the links named `names` that still exist, soon.
    pub fn delete(&self, names: Vec<String>) {
        for name in names {
            // The worker ends only with the process; links then left are deleted by the next
            // start if they were in the group, or go with their namespaces (veths).
            let _ = self.queue.send(name);
        }
    }
}

async fn reap(nl: Netlink, mut rx: mpsc::UnboundedReceiver<String>) {
    if let Err(e) = nl.delete_group(&[], DOOMED_GROUP).await {
        tracing::warn!(error = %e, "deleting links an earlier daemon left doomed");
    }
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(name) = rx.try_recv() {
            batch.push(name);
        }
        if let Err(e) = nl.delete_group(&batch, DOOMED_GROUP).await {
            tracing::debug!(links = ?batch, error = %e, "deleting released links");
        }
    }
}
