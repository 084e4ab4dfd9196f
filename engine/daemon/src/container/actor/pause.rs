//! `pause` and `unpause`: the cgroup freezer (v1 `freezer.state`, v2 `cgroup.freeze`).
//! Freezing waits for the kernel, so it runs off the daemon's thread; the actor handles no
//! other message until it is done, so the state it records is the one the kernel reached.

use actix::prelude::*;

use super::ContainerActor;
use crate::container::error::Error;
use crate::container::record::Status;

#[derive(Message)]
#[rtype(result = "Result<(), Error>")]
pub struct Pause;

#[derive(Message)]
#[rtype(result = "Result<(), Error>")]
pub struct Unpause;

type Reply = AtomicResponse<ContainerActor, Result<(), Error>>;

fn refuse(err: Error) -> Reply {
    AtomicResponse::new(Box::pin(fut::ready(Err(err))))
}

impl ContainerActor {
    /// Freezes (or thaws) the cgroup, then records `to` and publishes `action`.
    fn set_frozen(&mut self, frozen: bool, to: Status, action: &'static str) -> Reply {
        let Some(cgroup) = self.cgroup() else {
            return refuse(Error::unsupported(
                "pausing a container without a cgroup hierarchy",
            ));
        };
        let id = self.record.id.clone();
        AtomicResponse::new(Box::pin(
            async move {
                actix_rt::task::spawn_blocking(move || {
                    if frozen {
                        cgroup.freeze()
                    } else {
                        cgroup.thaw()
                    }
                })
                .await
            }
            .into_actor(self)
            .map(move |outcome, act, _| match outcome {
                Ok(Ok(())) => {
                    // The container may have died while the kernel froze it.
                    if act.record.state.status.is_live() {
                        act.record.state.status = to;
                        act.persist();
                        act.emit(action, &[]);
                    }
                    Ok(())
                }
                Ok(Err(err)) => Err(Error::internal(format!(
                    "Cannot {action} container {id}: {err}"
                ))),
                Err(err) => Err(Error::internal(format!(
                    "Cannot {action} container {id}: {err}"
                ))),
            }),
        ))
    }
}

impl Handler<Pause> for ContainerActor {
    type Result = Reply;

    fn handle(&mut self, _: Pause, _: &mut Context<Self>) -> Self::Result {
        let id = &self.record.id;
        match self.record.state.status {
            Status::Running => self.set_frozen(true, Status::Paused, "pause"),
            Status::Paused => refuse(Error::conflict(format!("Container {id} is already paused"))),
            Status::Restarting => refuse(Error::conflict(format!(
                "Container {id} is restarting, wait until the container is running"
            ))),
            _ => refuse(self.not_running()),
        }
    }
}

impl Handler<Unpause> for ContainerActor {
    type Result = Reply;

    fn handle(&mut self, _: Unpause, _: &mut Context<Self>) -> Self::Result {
        match self.record.state.status {
            Status::Paused => self.set_frozen(false, Status::Running, "unpause"),
            _ => refuse(Error::conflict(format!(
                "Container {} is not paused",
                self.record.id
            ))),
        }
    }
}
