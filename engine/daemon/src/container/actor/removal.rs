//! Removal: a container leaves the name index at once, its directory goes to the trash, and
//! its layers and volumes are released once it is gone (its anonymous volumes removed with
//! `rm -v` and `--rm`).

use std::sync::atomic::Ordering;

use actix::prelude::*;
use tokio::sync::oneshot;
use tracing::Instrument;

use super::ContainerActor;
use crate::container::error::Error;
use crate::container::names::Unregister;
use crate::container::record::Status;
use crate::stats;

impl ContainerActor {
    /// After a start that failed: an auto-remove container is removed, as by dockerd.
    pub(super) fn remove_if_auto(&mut self, ctx: &mut Context<Self>) {
        if self.record.host_config.auto_remove == Some(true) {
            self.remove_now(ctx);
        }
    }

    pub(super) fn remove_now(&mut self, ctx: &mut Context<Self>) {
        self.record.state.status = Status::Removing;
        self.execs.forget_all(&self.services.execs);
        self.services.names.do_send(Unregister {
            id: self.record.id.clone(),
        });
        let dir = self.dir.root.clone();
        let replies = std::mem::take(&mut self.pending_removals);
        let images = self.services.images.clone();
        let id = self.record.id.clone();
        // Writes still queued must not recreate the directory once it is gone.
        self.persist_seq.fetch_add(1, Ordering::SeqCst);
        let persist_lock = self.persist_lock.clone();
        let trash = self.services.trash.clone();
        // A removed container's networking is gone by the time its removal is answered.
        let network_down = self.network_down.take();
        let volumes = self.services.volumes.clone();
        let events = self.services.events.clone();
        let record = self.record.clone();
        let remove_volumes =
            self.remove_volumes || self.record.host_config.auto_remove == Some(true);
        // Its run's cgroup is normally gone with its exit; whatever is left there (a start
        // whose answer was lost, a removal the exit's rmdir lost to) goes with it.
        let cgroup = self.cgroup();
        let span = tracing::debug_span!("remove", container = %self.record.short_id());
        ctx.spawn(
            async move {
                if let Some(down) = network_down {
                    let _ = down.instrument(tracing::debug_span!("network_down")).await;
                }
                let span = tracing::Span::current();
                actix_rt::task::spawn_blocking(move || {
                    let _span = span.entered();
                    if let Some(cgroup) = cgroup {
                        crate::container::sweep::kill_unmanaged(cgroup.as_ref());
                    }
                    let _no_writes = persist_lock.lock();
                    // The directory's files are deleted in the background: once it has left
                    // the containers directory the container is gone for every client. Its
                    // record leases its layers (at the next daemon start too), so the
                    // layers are released only once it is gone.
                    let discarded = trash.discard(&dir);
                    if discarded.is_ok() {
                        if let Err(err) = images.release(&id) {
                            tracing::warn!("releasing the layers of {id}: {err}");
                        }
                        crate::container::volumes::release(
                            &volumes,
                            &events,
                            &record.id,
                            &record.mount_points,
                            remove_volumes,
                        );
                    }
                    discarded
                })
                .await
            }
            .instrument(span)
            .into_actor(self)
            .map(move |result, act, ctx| {
                let outcome = match result {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(err)) => Err(format!("removing container {}: {err}", act.record.id)),
                    Err(err) => Err(format!("removing container: {err}")),
                };
                for reply in replies {
                    let _ = reply.send(outcome.clone().map_err(Error::Internal));
                }
                act.record.state.status = Status::Dead;
                act.services.stats.do_send(stats::Forget {
                    id: act.record.id.clone(),
                });
                act.emit("destroy", &[]);
                act.wake(true);
                ctx.stop();
            }),
        );
    }
}

#[derive(Message)]
#[rtype(result = "Result<oneshot::Receiver<Result<(), Error>>, Error>")]
pub struct Remove {
    pub force: bool,
    /// Also remove its anonymous volumes (`rm -v`).
    pub volumes: bool,
}

impl Handler<Remove> for ContainerActor {
    type Result = Result<oneshot::Receiver<Result<(), Error>>, Error>;

    fn handle(&mut self, msg: Remove, ctx: &mut Context<Self>) -> Self::Result {
        let (reply, rx) = oneshot::channel();
        self.remove_volumes |= msg.volumes;
        match self.record.state.status {
            Status::Removing | Status::Dead => {
                return Err(Error::conflict(format!(
                    "removal of container {} is already in progress",
                    self.record.id
                )))
            }
            status if status.is_live() => {
                if !msg.force {
                    return Err(Error::conflict(format!(
                        "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                        self.record.name
                    )));
                }
                self.record.state.stopped_by_user = true;
                self.pending_removals.push(reply);
                self.signal(libc::SIGKILL, ctx);
            }
            _ => {
                self.pending_removals.push(reply);
                self.remove_now(ctx);
            }
        }
        Ok(rx)
    }
}
