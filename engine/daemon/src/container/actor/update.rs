//! `update`: new resource limits and restart policy for a container. The merged `HostConfig`
//! is recorded only once a running container's cgroup took the limits, so a refused update
//! (a memory limit below what the processes hold, say) changes nothing, in the cgroup or on
//! disk. A stopped container's limits are the record's, applied at its next start.

use actix::prelude::*;
use bollard_stubs::models::HostConfig;

use super::ContainerActor;
use crate::container::error::Error;
use crate::container::record::Status;
use crate::container::resources;

/// Docker's update body, already checked with [`resources::verify`] (`request`), and the
/// warnings that check gave.
#[derive(Message)]
#[rtype(result = "Result<Vec<String>, Error>")]
pub struct Update {
    pub request: HostConfig,
    pub warnings: Vec<String>,
}

type Reply = AtomicResponse<ContainerActor, Result<Vec<String>, Error>>;

fn answer(result: Result<Vec<String>, Error>) -> Reply {
    AtomicResponse::new(Box::pin(fut::ready(result)))
}

/// Whether the update changes a resource limit (and not only the restart policy).
fn touches_limits(request: &HostConfig) -> bool {
    let numbers = [
        request.memory,
        request.memory_swap,
        request.memory_reservation,
        request.nano_cpus,
        request.cpu_period,
        request.cpu_quota,
        request.cpu_shares,
    ];
    let texts = [&request.cpuset_cpus, &request.cpuset_mems];
    numbers.iter().any(|n| n.unwrap_or(0) != 0)
        || texts
            .iter()
            .any(|t| t.as_deref().is_some_and(|t| !t.is_empty()))
        || request.pids_limit.is_some()
        || request.blkio_weight.unwrap_or(0) != 0
}

impl Handler<Update> for ContainerActor {
    type Result = Reply;

    fn handle(&mut self, msg: Update, _: &mut Context<Self>) -> Self::Result {
        let id = self.record.id.clone();
        if self.record.state.status == Status::Removing {
            return answer(Err(Error::conflict(format!(
                "Cannot update container {id}: container is marked for removal and cannot be \"update\""
            ))));
        }
        let merged = match resources::merge(&self.record.host_config, &msg.request, &id) {
            Ok(merged) => merged,
            Err(err) => return answer(Err(err)),
        };
        let live = matches!(self.record.state.status, Status::Running | Status::Paused);
        let apply = if live && touches_limits(&msg.request) {
            let Some(cgroup) = self.cgroup() else {
                return answer(Err(Error::unsupported(
                    "updating the limits of a container without a cgroup hierarchy",
                )));
            };
            let mut wanted = match resources::linux_resources(&merged) {
                Ok(wanted) => wanted,
                Err(err) => return answer(Err(err)),
            };
            if msg.request.pids_limit == Some(0) {
                // Asked for explicitly: 0 lifts the limit, as -1 does.
                wanted.set_pids(Some(oci_spec::runtime::LinuxPids::default()));
            }
            // What to put back if a later write of the update fails.
            let previous = resources::linux_resources(&self.record.host_config).ok();
            Some((cgroup, wanted, previous))
        } else {
            None
        };
        let warnings = msg.warnings;
        AtomicResponse::new(Box::pin(
            async move {
                let Some((cgroup, wanted, previous)) = apply else {
                    return Ok(());
                };
                let id = id.clone();
                actix_rt::task::spawn_blocking(move || {
                    cgroup.update(&wanted).map_err(|err| {
                        if let Some(previous) = previous {
                            if let Err(undo) = cgroup.update(&previous) {
                                tracing::warn!("restoring the limits of {id}: {undo}");
                            }
                        }
                        update_error(&id, err)
                    })
                })
                .await
                .map_err(|err| Error::internal(format!("updating the cgroup: {err}")))?
            }
            .into_actor(self)
            .then(move |applied, act, _| {
                let saved = applied.is_ok().then(|| {
                    act.record.host_config = merged;
                    // The record changed: the next exec builds from the new one.
                    act.exec_base = None;
                    act.emit("update", &[]);
                    act.save_record()
                });
                async move {
                    applied?;
                    if let Some(saved) = saved {
                        saved
                            .await
                            .map_err(|err| Error::internal(format!("saving the record: {err}")))?;
                    }
                    Ok(warnings)
                }
                .into_actor(act)
            }),
        ))
    }
}

/// Docker's "Cannot update container" error for what the cgroup refused.
fn update_error(id: &str, err: berth_cgroups::CgroupError) -> Error {
    let message = format!("Cannot update container {id}: {err}");
    match err.kind() {
        berth_cgroups::ErrorKind::InvalidInput => Error::invalid(message),
        berth_cgroups::ErrorKind::Unsupported => Error::NotSupported(message),
        berth_cgroups::ErrorKind::NotFound | berth_cgroups::ErrorKind::System => {
            Error::internal(message)
        }
    }
}
