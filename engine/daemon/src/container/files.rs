//! The files a container gets at creation: its directory, the rootfs upper and work
//! directories, /etc/hostname, /etc/hosts and /etc/resolv.conf, and its record.

use std::path::Path;

use super::error::Error;
use super::record::{ContainerDir, ContainerRecord};

fn io_error(what: &str, path: &Path, err: std::io::Error) -> Error {
    Error::internal(format!("{what} {}: {err}", path.display()))
}

const HOSTS_BASE: &str = "127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
";

/// The host's resolv.conf without loopback name servers, which mean nothing inside a
/// private network namespace.
fn resolv_conf(host_network: bool) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    if host_network {
        return host;
    }
    host.lines()
        .filter(|line| {
            let mut words = line.split_whitespace();
            !(words.next() == Some("nameserver")
                && words
                    .next()
                    .is_some_and(|ip| ip.starts_with("127.") || ip == "::1"))
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

pub fn prepare(record: &ContainerRecord, dir: &ContainerDir) -> Result<(), Error> {
    // The overlay's mount point is their parent.
    for path in [dir.upper(), dir.work()] {
        std::fs::create_dir_all(&path).map_err(|e| io_error("creating", &path, e))?;
    }
    let host_network = record.host_config.network_mode.as_deref() == Some("host");
    let hostname = record.config.hostname.clone().unwrap_or_default();
    let hosts = if host_network {
        std::fs::read_to_string("/etc/hosts").unwrap_or_else(|_| HOSTS_BASE.to_string())
    } else {
        HOSTS_BASE.to_string()
    };
    let files = [
        (dir.hostname(), format!("{hostname}\n")),
        (dir.hosts(), hosts),
        (dir.resolv_conf(), resolv_conf(host_network)),
    ];
    for (path, content) in files {
        std::fs::write(&path, content).map_err(|e| io_error("writing", &path, e))?;
    }
    record
        .save(dir)
        .map_err(|err| Error::internal(err.to_string()))
}
