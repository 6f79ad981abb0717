//! Deleting released veths in the background, in batches.
//!
//! Every link deletion waits in the kernel for an RCU grace period (netdev_run_todo ->
//! rcu_barrier, ~15-30 ms) inside the RTM_DELLINK request itself. One request per veth, queued
//! on netd's own netlink connection, made the removal of a network (whose bridge deletion is
//! queued behind them) wait out one grace period per container just removed. Here the veths
//! go on a connection of their own, and the ones released while a deletion is in flight go
//! together in the next: each is put in a link group of berth's, then one RTM_DELLINK of that
//! group (rtnl_group_dellink) unregisters them all under a single grace period.

use crate::link::Netlink;
use tokio::sync::mpsc;

/// The link group (IFLA_GROUP) released veths are moved to just before their deletion. Only
/// links berth is deleting are ever in it.
const DOOMED_GROUP: u32 = 0x6274_6800; // "bth\0"

pub(crate) struct LinkReaper {
    queue: mpsc::UnboundedSender<String>,
}

impl LinkReaper {
    /// Starts the worker on a netlink socket of its own in the calling thread's namespace
    /// (the one netd's host handle talks to). Must run inside a tokio runtime.
    pub fn start() -> Result<LinkReaper, crate::link::LinkError> {
        let nl = Netlink::current()?;
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(reap(nl, rx));
        Ok(LinkReaper { queue })
    }

    /// Deletes the links named `names` that still exist, soon.
    pub fn delete(&self, names: Vec<String>) {
        for name in names {
            // The worker ends only with the runtime; links then left go with their namespaces.
            let _ = self.queue.send(name);
        }
    }
}

async fn reap(nl: Netlink, mut rx: mpsc::UnboundedReceiver<String>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(name) = rx.try_recv() {
            batch.push(name);
        }
        if let Err(e) = nl.delete_group(&batch, DOOMED_GROUP).await {
            tracing::debug!(links = ?batch, error = %e, "deleting released veths");
        }
    }
}
