//! The server: the scopes (one task each on the daemon's runtime), the records they answer
//! from, and the host's nameservers they forward to.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::{Mutex, RwLock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use crate::forward::{forward, nameservers};
use crate::netns::ScopeSockets;
use crate::query::{answer, Outcome, ScopeInfo, Transport};
use crate::records::Records;
use crate::Error;

/// The largest query read over UDP; a longer one is cut and so answered FORMERR.
const UDP_QUERY_MAX: usize = 4096;
/// Forwards and TCP connections one scope may have at once: one container cannot take the
/// whole server's share.
const SCOPE_TASKS_MAX: usize = 256;
/// A TCP client that sends nothing for this long is closed (RFC 7766 suggests seconds).
const TCP_IDLE: Duration = Duration::from_secs(10);

/// How the server forwards.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// The host's resolv.conf, whose nameservers serve scopes without `--dns` servers. It is
    /// read again when it changed since the last register.
    pub resolv_conf: PathBuf,
    /// How long each upstream server has to answer (Docker: 4 s).
    pub upstream_timeout: Duration,
    /// Forwards waiting for an answer at once, over all scopes; more are REFUSED, as
    /// Docker's `maxConcurrent`.
    pub max_forwards: usize,
}

impl Default for DnsConfig {
    fn default() -> DnsConfig {
        DnsConfig {
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            upstream_timeout: Duration::from_secs(4),
            max_forwards: 1024,
        }
    }
}

/// The host's nameservers and the version of the resolv.conf they were read from.
#[derive(Default)]
struct HostUpstreams {
    servers: Arc<Vec<SocketAddr>>,
    stamp: Option<(SystemTime, u64)>,
}

/// What every scope task shares.
struct Shared {
    records: Records,
    config: DnsConfig,
    host: RwLock<HostUpstreams>,
    forwards: Arc<Semaphore>,
    turn: AtomicUsize,
}

struct Scope {
    info: Arc<RwLock<Arc<ScopeInfo>>>,
    task: JoinHandle<()>,
}

/// The one embedded DNS server of the daemon. Send + Sync: the daemon holds it in an `Arc`
/// and calls it from any thread; no method blocks on I/O or holds a lock across it.
pub struct DnsServer {
    shared: Arc<Shared>,
    runtime: Handle,
    scopes: Mutex<HashMap<String, Scope>>,
}

impl DnsServer {
    /// A server whose scope tasks run on `runtime`. The host's resolv.conf is read now; a
    /// missing one leaves no host nameservers (other names then get SERVFAIL), as a host
    /// without one has no resolver either.
    pub fn new(config: DnsConfig, runtime: Handle) -> Result<DnsServer, Error> {
        let shared = Arc::new(Shared {
            records: Records::new(),
            forwards: Arc::new(Semaphore::new(config.max_forwards)),
            config,
            host: RwLock::new(HostUpstreams::default()),
            turn: AtomicUsize::new(0),
        });
        let server = DnsServer {
            shared,
            runtime,
            scopes: Mutex::new(HashMap::new()),
        };
        server.reload_upstreams()?;
        Ok(server)
    }

    /// Starts answering on a scope's sockets for a container with `info`. The sockets are
    /// closed when the scope is unregistered or the server dropped.
    pub fn register(
        &self,
        scope_id: &str,
        sockets: ScopeSockets,
        info: ScopeInfo,
    ) -> Result<(), Error> {
        if let Err(e) = self.reload_if_changed() {
            tracing::warn!("embedded DNS keeps the nameservers it had: {e}");
        }
        let mut scopes = self.scopes.lock();
        if scopes.contains_key(scope_id) {
            return Err(Error::ScopeExists(scope_id.to_string()));
        }
        let (udp, tcp) = {
            let _enter = self.runtime.enter();
            sockets.udp.set_nonblocking(true).map_err(Error::Runtime)?;
            sockets.tcp.set_nonblocking(true).map_err(Error::Runtime)?;
            (
                UdpSocket::from_std(sockets.udp).map_err(Error::Runtime)?,
                TcpListener::from_std(sockets.tcp).map_err(Error::Runtime)?,
            )
        };
        let info = Arc::new(RwLock::new(Arc::new(info)));
        let task = self
            .runtime
            .spawn(serve_scope(self.shared.clone(), info.clone(), udp, tcp));
        scopes.insert(scope_id.to_string(), Scope { info, task });
        Ok(())
    }

    /// Replaces what a registered scope is (after `network connect`/`disconnect`).
    pub fn update_scope(&self, scope_id: &str, info: ScopeInfo) -> Result<(), Error> {
        let scopes = self.scopes.lock();
        let scope = scopes
            .get(scope_id)
            .ok_or_else(|| Error::NoScope(scope_id.to_string()))?;
        *scope.info.write() = Arc::new(info);
        Ok(())
    }

    /// Stops serving a scope; its sockets close as its task ends (at the task's next
    /// wake-up, not necessarily before this returns). False if it was not registered.
    ///
    /// Meant for a container that stops (its namespace goes too). One that leaves its last
    /// user-defined network keeps its scope, updated with no networks, as Docker keeps a
    /// sandbox's resolver until the sandbox goes: binding 127.0.0.11:53 again in the same
    /// namespace right after this may still find the old sockets open.
    pub fn unregister(&self, scope_id: &str) -> bool {
        match self.scopes.lock().remove(scope_id) {
            Some(scope) => {
                scope.task.abort();
                true
            }
            None => false,
        }
    }

    /// The scopes registered now.
    pub fn scope_ids(&self) -> Vec<String> {
        self.scopes.lock().keys().cloned().collect()
    }

    /// Sets what a container answers to on a network: its names (container name, aliases,
    /// short ID, hostname; case and a trailing dot do not matter) and addresses.
    pub fn set_records(
        &self,
        network_id: &str,
        container_id: &str,
        names: Vec<String>,
        ipv4: Vec<Ipv4Addr>,
        ipv6: Vec<Ipv6Addr>,
    ) {
        self.shared
            .records
            .set(network_id, container_id, names, ipv4, ipv6);
    }

    /// Removes a container's names from a network; false if it had none there.
    pub fn remove_records(&self, network_id: &str, container_id: &str) -> bool {
        self.shared.records.remove(network_id, container_id)
    }

    /// The records the scopes answer from (read-only use: lookups, tests, benches).
    pub fn records(&self) -> &Records {
        &self.shared.records
    }

    /// Reads the host's resolv.conf again. A missing file means no host nameservers.
    pub fn reload_upstreams(&self) -> Result<(), Error> {
        let path = &self.shared.config.resolv_conf;
        let (servers, stamp) = match std::fs::read_to_string(path) {
            Ok(text) => (nameservers(&text), stamp_of(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), None),
            Err(source) => {
                return Err(Error::ResolvConf {
                    path: path.clone(),
                    source,
                })
            }
        };
        *self.shared.host.write() = HostUpstreams {
            servers: Arc::new(servers),
            stamp,
        };
        Ok(())
    }

    /// The host's nameservers the server forwards to now.
    pub fn host_upstreams(&self) -> Vec<SocketAddr> {
        self.shared.host.read().servers.to_vec()
    }

    fn reload_if_changed(&self) -> Result<(), Error> {
        let now = stamp_of(&self.shared.config.resolv_conf);
        if now == self.shared.host.read().stamp {
            return Ok(());
        }
        self.reload_upstreams()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for (_, scope) in self.scopes.lock().drain() {
            scope.task.abort();
        }
    }
}

fn stamp_of(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl Shared {
    fn answer(&self, packet: &[u8], transport: Transport, info: &ScopeInfo) -> Outcome {
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        answer(packet, transport, &self.records, info, turn)
    }

    /// Forwards for a scope, within the server-wide limit of waiting forwards.
    async fn forward(
        &self,
        query: &[u8],
        transport: Transport,
        info: &ScopeInfo,
        failure: Vec<u8>,
        refused: Vec<u8>,
    ) -> Vec<u8> {
        let upstreams = if info.upstreams.is_empty() {
            self.host.read().servers.clone()
        } else {
            Arc::new(info.upstreams.clone())
        };
        let timeout = self.config.upstream_timeout;
        let Ok(Ok(_permit)) =
            tokio::time::timeout(timeout, self.forwards.clone().acquire_owned()).await
        else {
            return refused;
        };
        forward(query, transport, &upstreams, timeout)
            .await
            .unwrap_or(failure)
    }
}

/// One scope's task: its UDP queries and TCP connections. Forwards and TCP connections run
/// in a `JoinSet` the task owns, so ending the task (unregister) ends them too.
async fn serve_scope(
    shared: Arc<Shared>,
    info: Arc<RwLock<Arc<ScopeInfo>>>,
    udp: UdpSocket,
    tcp: TcpListener,
) {
    let udp = Arc::new(udp);
    let mut tasks = JoinSet::new();
    let mut buf = vec![0u8; UDP_QUERY_MAX];
    loop {
        while tasks.try_join_next().is_some() {}
        tokio::select! {
            received = udp.recv_from(&mut buf) => {
                let (n, peer) = match received {
                    Ok(received) => received,
                    Err(e) => {
                        tracing::debug!("embedded DNS: receiving: {e}");
                        continue;
                    }
                };
                let scope = info.read().clone();
                match shared.answer(&buf[..n], Transport::Udp, &scope) {
                    Outcome::Reply(bytes) => {
                        let _ = udp.send_to(&bytes, peer).await;
                    }
                    Outcome::Forward { refused, .. } if tasks.len() >= SCOPE_TASKS_MAX => {
                        let _ = udp.send_to(&refused, peer).await;
                    }
                    Outcome::Forward { query, failure, refused } => {
                        let (shared, udp) = (shared.clone(), udp.clone());
                        tasks.spawn(async move {
                            let bytes = shared
                                .forward(&query, Transport::Udp, &scope, failure, refused)
                                .await;
                            let _ = udp.send_to(&bytes, peer).await;
                        });
                    }
                    Outcome::Ignore => {}
                }
            }
            accepted = tcp.accept() => match accepted {
                Ok((stream, _)) if tasks.len() < SCOPE_TASKS_MAX => {
                    tasks.spawn(serve_tcp(shared.clone(), info.clone(), stream));
                }
                Ok(_) => {}
                Err(e) => {
                    // Out of descriptors: wait instead of spinning on the same error.
                    tracing::warn!("embedded DNS: accepting: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// One TCP connection: length-prefixed queries answered in turn until the client closes it
/// or stays silent for [`TCP_IDLE`].
async fn serve_tcp(shared: Arc<Shared>, info: Arc<RwLock<Arc<ScopeInfo>>>, mut stream: TcpStream) {
    loop {
        let len = match tokio::time::timeout(TCP_IDLE, stream.read_u16()).await {
            Ok(Ok(len)) => usize::from(len),
            _ => return,
        };
        let mut query = vec![0; len];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut query)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let scope = info.read().clone();
        let bytes = match shared.answer(&query, Transport::Tcp, &scope) {
            Outcome::Reply(bytes) => bytes,
            Outcome::Forward {
                query,
                failure,
                refused,
            } => {
                shared
                    .forward(&query, Transport::Tcp, &scope, failure, refused)
                    .await
            }
            Outcome::Ignore => continue,
        };
        let Ok(len) = u16::try_from(bytes.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(bytes.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&bytes);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}
