//! The view of its file system a container gives `cp`: a running container's own mount
//! namespace, or a stopped container's overlay. A writable view of a stopped container is
//! exclusive: until its guard is dropped, the container neither starts nor gives another.

use actix::prelude::*;
use berth_runtime::Rootfs;

use super::ContainerActor;
use crate::container::error::Error;
use crate::container::record::Status;
use crate::container::rootfs_view::View;

#[derive(Message)]
#[rtype(result = "Result<(View, Option<CopyInGuard>), Error>")]
pub struct OpenView {
    pub writable: bool,
}

/// Ends a writable view of a stopped container when dropped.
pub struct CopyInGuard {
    container: Addr<ContainerActor>,
}

impl Drop for CopyInGuard {
    fn drop(&mut self) {
        self.container.do_send(EndCopyIn);
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct EndCopyIn;

impl Handler<OpenView> for ContainerActor {
    type Result = Result<(View, Option<CopyInGuard>), Error>;

    fn handle(&mut self, open: OpenView, ctx: &mut Context<Self>) -> Self::Result {
        let record = &self.record;
        match record.state.status {
            Status::Running | Status::Paused | Status::Restarting if record.state.pid > 0 => Ok((
                View::Running {
                    pid: record.state.pid,
                },
                None,
            )),
            Status::Removing => Err(Error::conflict(format!(
                "container {} is marked for removal",
                record.id
            ))),
            _ if !open.writable => {
                let mut layers = vec![self.dir.upper()];
                layers.extend(record.layers.iter().cloned());
                Ok((
                    View::StoppedReadOnly {
                        layers,
                        merged: self.dir.merged(),
                    },
                    None,
                ))
            }
            _ if self.copying_in => Err(Error::conflict(format!(
                "container {} is busy: files are being copied into it",
                record.id
            ))),
            _ => {
                self.copying_in = true;
                let rootfs = Rootfs::Overlay {
                    lower: record.layers.clone(),
                    upper: self.dir.upper(),
                    work: self.dir.work(),
                    merged: self.dir.merged(),
                    volatile: record.host_config.auto_remove == Some(true),
                };
                let guard = CopyInGuard {
                    container: ctx.address(),
                };
                Ok((View::StoppedWritable { rootfs }, Some(guard)))
            }
        }
    }
}

impl Handler<EndCopyIn> for ContainerActor {
    type Result = ();

    fn handle(&mut self, _: EndCopyIn, _: &mut Context<Self>) {
        self.copying_in = false;
    }
}
