//! A client typed the detach keys: Docker announces it as an event, `detach` for a session
//! attached to the container, `exec_detach` for one attached to an exec.

use actix::prelude::*;

use super::ContainerActor;

#[derive(Message)]
#[rtype(result = "()")]
pub struct Detached {
    /// The exec the client was attached to; `None` for the container itself.
    pub exec_id: Option<String>,
}

impl Handler<Detached> for ContainerActor {
    type Result = ();

    fn handle(&mut self, msg: Detached, _: &mut Context<Self>) {
        match msg.exec_id {
            Some(exec_id) => self.emit("exec_detach", &[("execID", exec_id)]),
            None => self.emit("detach", &[]),
        }
    }
}
