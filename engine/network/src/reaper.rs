//! Deleting a veth synchronously costs 15–50 ms (the kernel waits for RCU grace periods
//! under the rtnl lock), which would dominate `run --rm`. When a sandbox goes, its
//! namespace is unmounted and the kernel destroys it, veth pairs included, in its own
//! batched background cleanup. The reaper is the fallback for a namespace something still
//! holds open: after a grace period it deletes the host ends that are still there.

use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::host::Host;

/// Long enough for the kernel's namespace cleanup to have run in the usual case.
const GRACE: Duration = Duration::from_secs(2);

pub(crate) struct Reaper {
    host: Arc<dyn Host>,
    queue: Mutex<Option<Sender<(Instant, String)>>>,
}

impl Reaper {
    pub(crate) fn new(host: Arc<dyn Host>) -> Reaper {
        Reaper {
            host,
            queue: Mutex::new(None),
        }
    }

    /// Deletes host link `name` after the grace period, if it still exists then. The
    /// thread is started on first use and ends when the reaper is dropped.
    pub(crate) fn reap(&self, name: String) {
        let mut queue = self.queue.lock();
        let item = (Instant::now() + GRACE, name);
        let item = match queue.as_ref() {
            Some(tx) => match tx.send(item) {
                Ok(()) => return,
                Err(e) => e.0,
            },
            None => item,
        };
        let (tx, rx) = channel::<(Instant, String)>();
        let host = self.host.clone();
        let spawned = std::thread::Builder::new()
            .name("berth-veth-reaper".into())
            .spawn(move || {
                for (due, name) in rx {
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    if let Err(e) = host.delete_link(&name) {
                        tracing::warn!(link = %name, error = %e, "deleting a veth left by a removed sandbox");
                    }
                }
            });
        match spawned {
            Ok(_) => {
                // A fresh channel's receiver is alive, so this send cannot fail.
                let _ = tx.send(item);
                *queue = Some(tx);
            }
            Err(e) => {
                tracing::warn!(error = %e, "no reaper thread; deleting the veth now");
                let _ = self.host.delete_link(&item.1);
            }
        }
    }
}
