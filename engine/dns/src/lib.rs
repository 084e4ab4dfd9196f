//! berthd's embedded DNS server: the 127.0.0.11 that containers on user-defined networks
//! ask. One server for the whole daemon: each container is a *scope* (a UDP socket and a TCP
//! listener the daemon bound inside that container's network namespace, with
//! [`bind_in_netns`]) served by one tokio task of the daemon's runtime; no process, no thread
//! per container. Names on the container's networks are answered from a [`Records`] table
//! the daemon keeps up to date; other names are forwarded, from the host's network
//! namespace, to the container's `--dns` servers or the host's nameservers.

mod forward;
mod netns;
pub mod query;
mod records;
mod server;

use std::path::PathBuf;

pub use netns::{bind_in_netns, ScopeSockets, EMBEDDED_DNS_ADDR};
pub use query::{ScopeInfo, Transport};
pub use records::{Addresses, Records, ScopeNetwork};
pub use server::{DnsConfig, DnsServer};

/// How a failure is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    /// The address is taken, or the namespace is going away: trying later may work.
    Unavailable,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("DNS scope {0} is already registered")]
    ScopeExists(String),
    #[error("DNS scope {0} is not registered")]
    NoScope(String),
    #[error("opening network namespace {path}: {source}")]
    OpenNetns {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("joining network namespace {path}: {source}")]
    JoinNetns {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("binding the embedded DNS to {proto} {addr}{}: {source}", in_netns(.netns))]
    Bind {
        proto: &'static str,
        addr: std::net::SocketAddr,
        netns: Option<PathBuf>,
        #[source]
        source: std::io::Error,
    },
    #[error("the thread binding the embedded DNS in {0} panicked")]
    BindThread(PathBuf),
    #[error("handing the embedded DNS sockets to the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("reading {path}: {source}")]
    ResolvConf {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn in_netns(netns: &Option<PathBuf>) -> String {
    match netns {
        Some(path) => format!(" in network namespace {}", path.display()),
        None => String::new(),
    }
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::ScopeExists(_) => ErrorKind::Conflict,
            Error::NoScope(_) => ErrorKind::NotFound,
            Error::OpenNetns { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            Error::Bind { source, .. }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::AddrInUse | std::io::ErrorKind::AddrNotAvailable
                ) =>
            {
                ErrorKind::Unavailable
            }
            Error::OpenNetns { .. }
            | Error::JoinNetns { .. }
            | Error::Bind { .. }
            | Error::BindThread(_)
            | Error::Runtime(_)
            | Error::ResolvConf { .. } => ErrorKind::Internal,
        }
    }
}
