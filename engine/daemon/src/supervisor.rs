//! Where the daemon meets the supervisor process: a trait the actors use, implemented by
//! the real connection ([`SupervisorClient`]) and, in unit tests, by a fake that needs no
//! root and no process.

use berth_runtime::{ProcessIo, StartFailure, Started};
use berth_supervisor::SupervisorClient;
use berth_supervisor::{ClientError, ContainerIo, ExecRequest, KnownContainer, SpawnRequest};
use futures_util::future::LocalBoxFuture;

/// An answer of the supervisor, owned by the future so that no borrow outlives the call.
pub type Answer<T> = LocalBoxFuture<'static, Result<T, ClientError>>;

/// The supervisor's requests, as [`SupervisorClient`] documents them.
pub trait Supervisor: Send + Sync {
    /// Starts a container with the stdio `io` describes; `Ok(Err(_))` when the runtime
    /// refused it.
    fn spawn(
        &self,
        request: SpawnRequest,
        io: ContainerIo,
    ) -> Answer<Result<Started, StartFailure>>;
    /// Starts a process in a running container.
    fn exec(&self, request: ExecRequest, io: ProcessIo) -> Answer<Result<Started, StartFailure>>;
    /// Signals a container's PID 1; `false` if it had exited already.
    fn signal(&self, id: &str, signal: i32) -> Answer<bool>;
    /// Lets go of the supervisor's writer of a container's stdin.
    fn close_stdin(&self, id: &str) -> Answer<()>;
    /// Every container the supervisor holds.
    fn list(&self) -> Answer<Vec<KnownContainer>>;
    /// Forgets a container whose exit the daemon has recorded.
    fn release(&self, id: &str) -> Answer<()>;
    /// The supervisor process's PID: a container remembers which one parents it, to know
    /// whether it is orphaned when one dies (see `crate::supervision`).
    fn pid(&self) -> i32;
}

impl Supervisor for SupervisorClient {
    fn spawn(
        &self,
        request: SpawnRequest,
        io: ContainerIo,
    ) -> Answer<Result<Started, StartFailure>> {
        let client = self.clone();
        Box::pin(async move { client.spawn_with(request, io).await })
    }

    fn exec(&self, request: ExecRequest, io: ProcessIo) -> Answer<Result<Started, StartFailure>> {
        let client = self.clone();
        Box::pin(async move { client.exec(request, io).await })
    }

    fn signal(&self, id: &str, signal: i32) -> Answer<bool> {
        let (client, id) = (self.clone(), id.to_owned());
        Box::pin(async move { client.signal(&id, signal).await })
    }

    fn close_stdin(&self, id: &str) -> Answer<()> {
        let (client, id) = (self.clone(), id.to_owned());
        Box::pin(async move { client.close_stdin(&id).await })
    }

    fn list(&self) -> Answer<Vec<KnownContainer>> {
        let client = self.clone();
        Box::pin(async move { client.list().await })
    }

    fn release(&self, id: &str) -> Answer<()> {
        let (client, id) = (self.clone(), id.to_owned());
        Box::pin(async move { client.release(&id).await })
    }

    fn pid(&self) -> i32 {
        self.supervisor_pid()
    }
}
