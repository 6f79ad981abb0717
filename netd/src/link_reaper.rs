//! Deleting links in batches, off the daemon's runtime.
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
const DOOMED_GROUP: u32 = 0x6274_6800; // "bth\0"

/// Whoever waits for a deletion: told when the links are in the doomed group, then how the
/// deletion went (a failed batch fails each of its links).
struct Waiter {
    doomed: tokio::sync::oneshot::Sender<()>,
    gone: tokio::sync::oneshot::Sender<Result<(), LinkError>>,
}

/// A deletion [`LinkReaper::delete_now`] sent.
pub(crate) struct Deletion {
    doomed: tokio::sync::oneshot::Receiver<()>,
    gone: tokio::sync::oneshot::Receiver<Result<(), LinkError>>,
}

impl Deletion {
    /// Once the links are in the doomed group (or their move failed, which [`Deletion::gone`]
    /// then tells): from then on a daemon that dies before the deletion is over leaves them
    /// to the next start, which deletes them.
    pub async fn doomed(&mut self) {
        let _ = (&mut self.doomed).await;
    }

    /// Once the links are gone, or the deletion failed. Without holding a runtime worker for
    /// the kernel's wait.
    pub async fn gone(self) -> Result<(), LinkError> {
        let lost = || LinkError::Batch("the link reaper is gone".into());
        self.gone.await.unwrap_or_else(|_| Err(lost()))
    }
}

pub(crate) struct LinkReaper {
    /// Links to delete, each set with whoever waits for its deletion. A set is never split
    /// between two deletions.
    queue: mpsc::UnboundedSender<(Vec<String>, Option<Waiter>)>,
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

    /// Deletes the links `names` (a bridge, and the veths that were on it) in one request,
    /// sent at once; see [`Deletion`] for what can be waited for.
    pub fn delete_now(&self, names: Vec<String>) -> Deletion {
        let (doomed_tx, doomed) = tokio::sync::oneshot::channel();
        let (gone_tx, gone) = tokio::sync::oneshot::channel();
        let waiter = Waiter {
            doomed: doomed_tx,
            gone: gone_tx,
        };
        // Unsent, both senders are dropped: the waits below end at once, as failed.
        let _ = self.queue.send((names, Some(waiter)));
        Deletion { doomed, gone }
    }

    /// Deletes the links named `names` that still exist, soon.
    pub fn delete(&self, names: Vec<String>) {
        if names.is_empty() {
            return;
        }
        // The worker ends only with the process; links then left are deleted by the next
        // start if they were in the group, or go with their namespaces (veths).
        let _ = self.queue.send((names, None));
    }
}

async fn reap(nl: Netlink, mut rx: mpsc::UnboundedReceiver<(Vec<String>, Option<Waiter>)>) {
    if let Err(e) = nl.delete_group(DOOMED_GROUP).await {
        tracing::warn!(error = %e, "deleting links an earlier daemon left doomed");
    }
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(next) = rx.try_recv() {
            batch.push(next);
        }
        let (names, waiting): (Vec<Vec<String>>, Vec<_>) = batch.into_iter().unzip();
        let names = names.concat();
        let (doomed, gone): (Vec<_>, Vec<_>) = (waiting.into_iter().flatten())
            .map(|w| (w.doomed, w.gone))
            .unzip();
        let mut deleted = nl.move_to_group(&names, DOOMED_GROUP).await;
        if deleted.is_ok() {
            for d in doomed {
                let _ = d.send(());
            }
            deleted = nl.delete_group(DOOMED_GROUP).await;
        }
        if let Err(e) = &deleted {
            tracing::debug!(links = ?names, error = %e, "deleting released links");
        }
        for g in gone {
            let told = deleted.as_ref().map(drop);
            let _ = g.send(told.map_err(|e| LinkError::Batch(e.to_string())));
        }
    }
}
