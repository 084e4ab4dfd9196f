//! The daemon's side of the supervisor socket, for tokio.
//!
//! Requests may come from many tasks at once. Each gets a sequence number and a oneshot for
//! its reply; its packets go straight out on the caller's stack when the socket takes them,
//! and only a full socket hands them to a writer task. One reader task routes replies to
//! their callers and exit events to the daemon's channel. Dropping a request's future never
//! leaves half a message on the socket: a message is queued whole, synchronously.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_runtime::{ProcessIo, Spawned, StartFailure, Started, Stdio};
use parking_lot::Mutex;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::AbortHandle;

use crate::exit::ExitRecord;
use crate::framing::{self, Incoming, Packet, Receiver};
use crate::paths;
use crate::protocol::{
    ExecRequest, ExitEvent, ListedContainer, Refusal, Reply, Request, RequestBody,
    SpawnDescriptors, SpawnRequest, StdioLayout, SupervisorMessage, PROTOCOL_VERSION,
};
use crate::supervisor::CONNECTION_FD_ENV;

/// How long a supervisor may take to greet a new connection, started or not.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the supervisor may take to answer a request. It answers from one thread, so a
/// supervisor that takes this long is stuck (or stopped): the caller gets a clear error
/// instead of waiting forever, and a daemon falls back on what it can do without it.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// A spawn or exec forks, mounts and hands over a process: on a loaded machine it may take
/// a while, so its deadline is longer.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// A supervisor exiting while we connect leaves a short window in which its successor finds
/// the exec root still locked; these many tries cover it.
const START_ATTEMPTS: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connecting to the supervisor at {path}: {source}")]
    Connect { path: PathBuf, source: io::Error },
    #[error("starting the supervisor with {command}: {source}")]
    StartCommand { command: String, source: io::Error },
    #[error("the supervisor start command {command} failed: {status}")]
    StartCommandFailed { command: String, status: ExitStatus },
    #[error("the supervisor could not start: {message}")]
    StartupFailed { message: String },
    #[error("another supervisor holds {lock} but does not answer on {socket}")]
    Busy { lock: PathBuf, socket: PathBuf },
    #[error("the supervisor did not greet the connection within {0:?}")]
    Timeout(Duration),
    #[error("the supervisor speaks protocol {supervisor}, this daemon {daemon}; stop its containers and the supervisor to upgrade")]
    ProtocolMismatch { supervisor: u32, daemon: u32 },
    #[error("lost the connection to the supervisor")]
    Disconnected,
    #[error("the supervisor did not answer {request} within {after:?}")]
    Deadline {
        request: &'static str,
        after: Duration,
    },
    #[error("I/O on the supervisor connection: {0}")]
    Io(#[source] io::Error),
    #[error("encoding a request for the supervisor: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("the supervisor sent {0}")]
    Protocol(String),
    #[error(transparent)]
    Refused(#[from] Refusal),
}

/// A container as the supervisor holds it, as listed to a (re)connecting daemon.
#[derive(Debug)]
pub struct KnownContainer {
    pub id: String,
    pub pid: i32,
    pub state_dir: PathBuf,
    /// Not reaped yet; `exit` is `None` exactly then.
    pub running: bool,
    pub exit: Option<ExitRecord>,
    /// Copies of the descriptors the daemon asked the supervisor to keep when it spawned the
    /// container, in the same order.
    pub kept: Vec<OwnedFd>,
    /// A copy of the writer of the container's stdin, unless there is none or it was closed.
    pub stdin_writer: Option<OwnedFd>,
    /// A copy of the master of the container's terminal, if it has one.
    pub terminal: Option<OwnedFd>,
}

/// A container's stdio as the daemon hands it to [`SupervisorClient::spawn_with`].
#[derive(Debug)]
pub struct ContainerIo {
    /// What the container's process gets as 0, 1 and 2.
    pub io: ProcessIo,
    /// Descriptors the supervisor holds for the daemon until the container is released (the
    /// daemon's ends of the output pipes), listed again to a restarted daemon.
    pub keep: Vec<OwnedFd>,
    /// A writer of the container's stdin pipe, held likewise until
    /// [`SupervisorClient::close_stdin`]: a daemon that restarts finds it, and the container
    /// does not see end-of-file just because a daemon went away.
    pub stdin_writer: Option<OwnedFd>,
}

/// A connection to the supervisor. Cheap to clone; every clone shares the connection, which
/// closes when the last clone is dropped.
#[derive(Clone)]
pub struct SupervisorClient {
    shared: Arc<Shared>,
}

struct Shared {
    link: Arc<Link>,
    supervisor_pid: i32,
    tasks: [AbortHandle; 2],
}

impl Drop for Shared {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The socket and the state both sides of it share.
struct Link {
    socket: AsyncFd<OwnedFd>,
    next_seq: AtomicU64,
    /// `None` once the connection is lost: later requests fail at once instead of waiting.
    pending: Mutex<Option<HashMap<u64, oneshot::Sender<Answer>>>>,
    /// Packets the socket did not take yet, oldest first.
    outbox: Mutex<VecDeque<Packet>>,
    outbox_stuck: Notify,
}

struct Answer {
    reply: Reply,
    fds: Vec<OwnedFd>,
}

impl SupervisorClient {
    /// Connects to the supervisor of `exec_root`, or starts one with `start` if none answers.
    ///
    /// `start` must run [`crate::run`] (berthd passes `berth-supervisor --exec-root DIR`). It
    /// gets the connection as its stdin and [`CONNECTION_FD_ENV`]`=0`, so no one waits for the
    /// socket to appear. Returns the client and the channel of exit events, which closes when
    /// the connection is lost (the daemon then connects again and lists).
    pub async fn connect_or_start(
        exec_root: &Path,
        mut start: Command,
    ) -> Result<(SupervisorClient, mpsc::UnboundedReceiver<ExitEvent>), ClientError> {
        let socket_path = paths::socket(exec_root);
        for attempt in 1..=START_ATTEMPTS {
            match connect(&socket_path) {
                Ok(socket) => match Self::open(socket, exec_root).await {
                    // That supervisor was exiting: nobody and nothing left. Start a new one.
                    Err(ClientError::Disconnected) => {}
                    result => return result,
                },
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                    ) => {}
                Err(source) => {
                    return Err(ClientError::Connect {
                        path: socket_path,
                        source,
                    })
                }
            }
            match Self::start(exec_root, &mut start).await {
                Err(ClientError::Busy { .. }) if attempt < START_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                }
                result => return result,
            }
        }
        Err(ClientError::Busy {
            lock: paths::lock(exec_root),
            socket: socket_path,
        })
    }

    async fn start(
        exec_root: &Path,
        start: &mut Command,
    ) -> Result<(SupervisorClient, mpsc::UnboundedReceiver<ExitEvent>), ClientError> {
        let (ours, theirs) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .map_err(|errno| ClientError::Io(errno.into()))?;
        let command = format!("{start:?}");
        start
            .stdin(std::process::Stdio::from(theirs))
            .env(CONNECTION_FD_ENV, "0");
        let spawned = start.spawn();
        // The command holds its copy of the supervisor's end until told otherwise; without
        // dropping it, a supervisor dying at start-up would never look like one.
        start.stdin(std::process::Stdio::null());
        let mut child = spawned.map_err(|source| ClientError::StartCommand {
            command: command.clone(),
            source,
        })?;
        // The started process forks the supervisor off and exits at once.
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .map_err(|error| ClientError::Io(io::Error::other(error)))?
            .map_err(|source| ClientError::StartCommand {
                command: command.clone(),
                source,
            })?;
        if !status.success() {
            return Err(ClientError::StartCommandFailed { command, status });
        }
        match Self::open(ours, exec_root).await {
            Err(ClientError::Disconnected) => Err(ClientError::StartupFailed {
                message: format!(
                    "it exited before greeting; its log is {}",
                    paths::log(exec_root).display()
                ),
            }),
            result => result,
        }
    }

    /// Waits for the supervisor's greeting on `socket`, then starts the reader and writer.
    async fn open(
        socket: OwnedFd,
        exec_root: &Path,
    ) -> Result<(SupervisorClient, mpsc::UnboundedReceiver<ExitEvent>), ClientError> {
        // SAFETY: an OwnedFd always names the same open descriptor until the AsyncFd, which
        // owns it, drops it.
        let socket =
            unsafe { AsyncFd::register(socket) }.map_err(|error| ClientError::Io(error.into()))?;
        let mut receiver = Receiver::new();
        let greeting = welcome(&socket, &mut receiver, exec_root);
        let supervisor_pid = tokio::time::timeout(WELCOME_TIMEOUT, greeting)
            .await
            .map_err(|_| ClientError::Timeout(WELCOME_TIMEOUT))??;
        let link = Arc::new(Link {
            socket,
            next_seq: AtomicU64::new(1),
            pending: Mutex::new(Some(HashMap::new())),
            outbox: Mutex::new(VecDeque::new()),
            outbox_stuck: Notify::new(),
        });
        let (events, events_receiver) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_loop(link.clone(), receiver, events));
        let writer = tokio::spawn(write_loop(link.clone()));
        let shared = Shared {
            link,
            supervisor_pid,
            tasks: [reader.abort_handle(), writer.abort_handle()],
        };
        let client = SupervisorClient {
            shared: Arc::new(shared),
        };
        Ok((client, events_receiver))
    }

    /// The supervisor's PID (for measuring it, or for tests to watch it exit).
    pub fn supervisor_pid(&self) -> i32 {
        self.shared.supervisor_pid
    }

    /// Starts a container. `stdio` goes to the container's process; `keep` are descriptors
    /// the supervisor holds for the daemon until [`SupervisorClient::release`] — pass
    /// duplicates of the daemon's own ends of the container's stdio, so that a restarted
    /// daemon gets them back from [`SupervisorClient::list`], with whatever the container
    /// wrote meanwhile. Every descriptor passed here is closed in this process on return.
    pub async fn spawn(
        &self,
        request: SpawnRequest,
        stdio: Stdio,
        keep: Vec<OwnedFd>,
    ) -> Result<Result<Spawned, StartFailure>, ClientError> {
        let io = ContainerIo {
            io: ProcessIo::Pipes(stdio),
            keep,
            stdin_writer: None,
        };
        Ok(self
            .spawn_with(request, io)
            .await?
            .map(|started| started.spawned))
    }

    /// Starts a container with the stdio `io` describes. With [`ProcessIo::Terminal`] the
    /// result carries the terminal's master (the supervisor keeps a copy, listed to a
    /// restarted daemon). Every descriptor passed here is closed in this process on return.
    pub async fn spawn_with(
        &self,
        request: SpawnRequest,
        io: ContainerIo,
    ) -> Result<Result<Started, StartFailure>, ClientError> {
        let ContainerIo {
            io,
            keep,
            stdin_writer,
        } = io;
        let (stdio, mut fds) = stdio_descriptors(io);
        let descriptors = SpawnDescriptors {
            stdio,
            keep: keep.len(),
            stdin_writer: stdin_writer.is_some(),
        };
        fds.extend(keep);
        fds.extend(stdin_writer);
        let body = RequestBody::Spawn {
            request: Box::new(request),
            descriptors,
        };
        let answer = self.request(body, fds, START_DEADLINE).await?;
        started(answer, stdio)
    }

    /// Starts a process in a running container (`docker exec`). Its exit arrives on the
    /// events channel as an [`ExitEvent`] whose `exec` is `request.exec_id`.
    pub async fn exec(
        &self,
        request: ExecRequest,
        io: ProcessIo,
    ) -> Result<Result<Started, StartFailure>, ClientError> {
        let (stdio, fds) = stdio_descriptors(io);
        let body = RequestBody::Exec {
            request: Box::new(request),
            stdio,
        };
        let answer = self.request(body, fds, START_DEADLINE).await?;
        started(answer, stdio)
    }

    /// Lets go of the writer of container `id`'s stdin that the supervisor keeps, so that the
    /// container reads end-of-file once the daemon has closed its own writer too.
    pub async fn close_stdin(&self, id: &str) -> Result<(), ClientError> {
        let body = RequestBody::CloseStdin { id: id.to_owned() };
        match self
            .request(body, Vec::new(), REQUEST_DEADLINE)
            .await?
            .reply
        {
            Reply::StdinClosed => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Sends `signal` to container `id`'s PID 1. `Ok(false)` if the container has already
    /// exited (the supervisor reaped it, so the PID was not signalled: it may be someone
    /// else's by now).
    pub async fn signal(&self, id: &str, signal: i32) -> Result<bool, ClientError> {
        let body = RequestBody::Signal {
            id: id.to_owned(),
            signal,
        };
        match self
            .request(body, Vec::new(), REQUEST_DEADLINE)
            .await?
            .reply
        {
            Reply::Signalled => Ok(true),
            Reply::NotRunning => Ok(false),
            other => Err(unexpected(other)),
        }
    }

    /// Every container the supervisor holds: running ones, and exited ones not yet released.
    pub async fn list(&self) -> Result<Vec<KnownContainer>, ClientError> {
        let answer = self
            .request(RequestBody::List, Vec::new(), REQUEST_DEADLINE)
            .await?;
        let Reply::Listed(listed) = answer.reply else {
            return Err(unexpected(answer.reply));
        };
        let announced: usize = listed
            .iter()
            .map(|c| c.kept + usize::from(c.stdin_writer) + usize::from(c.terminal))
            .sum();
        if announced != answer.fds.len() {
            return Err(ClientError::Protocol(format!(
                "a list announcing {announced} descriptors with {} attached",
                answer.fds.len()
            )));
        }
        let mut fds = answer.fds.into_iter();
        let known = listed
            .into_iter()
            .map(|container| {
                let ListedContainer {
                    id,
                    pid,
                    state_dir,
                    exit,
                    kept,
                    stdin_writer,
                    terminal,
                } = container;
                let kept = fds.by_ref().take(kept).collect();
                let stdin_writer = if stdin_writer { fds.next() } else { None };
                let terminal = if terminal { fds.next() } else { None };
                KnownContainer {
                    id,
                    pid,
                    state_dir,
                    running: exit.is_none(),
                    exit,
                    kept,
                    stdin_writer,
                    terminal,
                }
            })
            .collect();
        Ok(known)
    }

    /// Tells the supervisor the daemon has recorded container `id`'s exit and drained its
    /// pipes: it forgets the container and closes the descriptors it kept.
    pub async fn release(&self, id: &str) -> Result<(), ClientError> {
        let body = RequestBody::Release { id: id.to_owned() };
        match self
            .request(body, Vec::new(), REQUEST_DEADLINE)
            .await?
            .reply
        {
            Reply::Released => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn request(
        &self,
        body: RequestBody,
        fds: Vec<OwnedFd>,
        deadline: Duration,
    ) -> Result<Answer, ClientError> {
        let link = &self.shared.link;
        let name = body.name();
        let seq = link.next_seq.fetch_add(1, Ordering::Relaxed);
        let packets = framing::encode(&Request { seq, body }, fds).map_err(ClientError::Encode)?;
        let (sender, answer) = oneshot::channel();
        match link.pending.lock().as_mut() {
            Some(pending) => pending.insert(seq, sender),
            None => return Err(ClientError::Disconnected),
        };
        if let Err(error) = link.send(packets) {
            if let Some(pending) = link.pending.lock().as_mut() {
                pending.remove(&seq);
            }
            return Err(ClientError::Io(error));
        }
        match tokio::time::timeout(deadline, answer).await {
            Ok(answer) => answer.map_err(|_| ClientError::Disconnected),
            Err(_) => {
                // A late answer finds no sender and is dropped, closing its descriptors.
                if let Some(pending) = link.pending.lock().as_mut() {
                    pending.remove(&seq);
                }
                Err(ClientError::Deadline {
                    request: name,
                    after: deadline,
                })
            }
        }
    }
}

/// The layout and descriptors of a process's stdio, in the order the protocol sends them.
fn stdio_descriptors(io: ProcessIo) -> (StdioLayout, Vec<OwnedFd>) {
    match io {
        ProcessIo::Terminal => (StdioLayout::Terminal, Vec::new()),
        ProcessIo::Pipes(stdio) => {
            let layout = StdioLayout::Pipes {
                stdin: stdio.stdin.is_some(),
            };
            let mut fds = Vec::with_capacity(layout.count());
            fds.extend(stdio.stdin);
            fds.push(stdio.stdout);
            fds.push(stdio.stderr);
            (layout, fds)
        }
    }
}

/// The answer to a spawn or exec: with a terminal, its master is the one descriptor.
fn started(
    answer: Answer,
    stdio: StdioLayout,
) -> Result<Result<Started, StartFailure>, ClientError> {
    match answer.reply {
        Reply::Spawned(spawned) => {
            let mut fds = answer.fds.into_iter();
            let terminal = match stdio {
                StdioLayout::Terminal => Some(fds.next().ok_or_else(|| {
                    ClientError::Protocol("a terminal's start without its master".into())
                })?),
                StdioLayout::Pipes { .. } => None,
            };
            Ok(Ok(Started { spawned, terminal }))
        }
        Reply::Failed(failure) => Ok(Err(failure)),
        other => Err(unexpected(other)),
    }
}

fn unexpected(reply: Reply) -> ClientError {
    match reply {
        Reply::Refused(refusal) => ClientError::Refused(refusal),
        other => ClientError::Protocol(format!("an unexpected reply: {other:?}")),
    }
}

fn connect(path: &Path) -> io::Result<OwnedFd> {
    let socket = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    // A unix socket connects at once or not at all; non-blocking only turns a full backlog
    // (a supervisor that stopped accepting) into an error instead of a hang.
    rustix::net::connect(&socket, &SocketAddrUnix::new(path)?)?;
    Ok(socket)
}

async fn welcome(
    socket: &AsyncFd<OwnedFd>,
    receiver: &mut Receiver,
    exec_root: &Path,
) -> Result<i32, ClientError> {
    loop {
        let mut guard = socket.readable().await.map_err(ClientError::Io)?;
        let incoming = match guard.try_io(|socket| receiver.receive(socket.get_ref().as_fd())) {
            Err(_would_block) => continue,
            Ok(Ok(incoming)) => incoming,
            Ok(Err(error)) if error.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(error)) if error.kind() == io::ErrorKind::ConnectionReset => {
                return Err(ClientError::Disconnected)
            }
            Ok(Err(error)) => return Err(ClientError::Io(error)),
        };
        match incoming {
            Incoming::Partial => continue,
            Incoming::Closed => return Err(ClientError::Disconnected),
            Incoming::Message { message, .. } => {
                return match message {
                    SupervisorMessage::Welcome { protocol, pid }
                        if protocol == PROTOCOL_VERSION =>
                    {
                        Ok(pid)
                    }
                    SupervisorMessage::Welcome { protocol, .. } => {
                        Err(ClientError::ProtocolMismatch {
                            supervisor: protocol,
                            daemon: PROTOCOL_VERSION,
                        })
                    }
                    SupervisorMessage::StartupFailed { busy: true, .. } => Err(ClientError::Busy {
                        lock: paths::lock(exec_root),
                        socket: paths::socket(exec_root),
                    }),
                    SupervisorMessage::StartupFailed { message, .. } => {
                        Err(ClientError::StartupFailed { message })
                    }
                    other => Err(ClientError::Protocol(format!(
                        "{other:?} before its greeting"
                    ))),
                };
            }
        }
    }
}

async fn read_loop(
    link: Arc<Link>,
    mut receiver: Receiver,
    events: mpsc::UnboundedSender<ExitEvent>,
) {
    let lost = loop {
        let mut guard = match link.socket.readable().await {
            Ok(guard) => guard,
            Err(error) => break error.to_string(),
        };
        let incoming = match guard.try_io(|socket| receiver.receive(socket.get_ref().as_fd())) {
            Err(_would_block) => continue,
            Ok(Ok(incoming)) => incoming,
            Ok(Err(error)) if error.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(error)) => break error.to_string(),
        };
        match incoming {
            Incoming::Partial => {}
            Incoming::Closed => break "the supervisor closed it".to_owned(),
            Incoming::Message {
                message: SupervisorMessage::Reply { seq, reply },
                fds,
            } => link.answer(seq, Answer { reply, fds }),
            Incoming::Message {
                message: SupervisorMessage::Exited(event),
                ..
            } => {
                // A daemon that dropped the receiver lists instead; nothing is lost.
                let _ = events.send(event);
            }
            Incoming::Message { message, .. } => break format!("unexpected {message:?}"),
        }
    };
    tracing::warn!("lost the supervisor connection: {lost}");
    link.close();
}

async fn write_loop(link: Arc<Link>) {
    loop {
        link.outbox_stuck.notified().await;
        loop {
            let Ok(mut guard) = link.socket.writable().await else {
                return;
            };
            match guard.try_io(|_| link.flush(&mut link.outbox.lock())) {
                Ok(Ok(())) => break,
                Ok(Err(error)) => {
                    tracing::warn!("writing to the supervisor: {error}");
                    link.outbox.lock().clear();
                    return;
                }
                Err(_would_block) => continue,
            }
        }
    }
}

impl Link {
    /// Sends `packets` now if the socket takes them, else leaves them to the writer task.
    fn send(&self, packets: Vec<Packet>) -> io::Result<()> {
        let mut outbox = self.outbox.lock();
        let writer_busy = !outbox.is_empty();
        outbox.extend(packets);
        if writer_busy {
            return Ok(());
        }
        match self.flush(&mut outbox) {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                self.outbox_stuck.notify_one();
                Ok(())
            }
            Err(error) => {
                outbox.clear();
                Err(error)
            }
            Ok(()) => Ok(()),
        }
    }

    fn flush(&self, outbox: &mut VecDeque<Packet>) -> io::Result<()> {
        while let Some(packet) = outbox.front() {
            match framing::send_packet(self.socket.get_ref().as_fd(), packet) {
                Ok(()) => drop(outbox.pop_front()),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    fn answer(&self, seq: u64, answer: Answer) {
        let sender = self
            .pending
            .lock()
            .as_mut()
            .and_then(|pending| pending.remove(&seq));
        // No sender: the caller gave up waiting; dropping the answer closes its descriptors.
        if let Some(sender) = sender {
            let _ = sender.send(answer);
        }
    }

    /// Fails every request in flight and every later one.
    fn close(&self) {
        self.pending.lock().take();
    }
}
