//! Everything that touches the host's network stack, behind the [`Host`] trait so the
//! logic in `networks.rs` is unit-tested with a fake. [`LinuxHost`] is the real one:
//! netlink for links, addresses and routes, `setns` for the container side, bind mounts
//! for network namespaces, `/proc/sys` for sysctls.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use ipnet::{Ipv4Net, Ipv6Net};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use parking_lot::Mutex;

use crate::error::{io_err, Error, Result};
use crate::netlink::Rtnl;
use crate::types::MacAddr;

/// What `attach` sets up for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttachPlan<'a> {
    pub netns: &'a Path,
    /// The network's bridge. With `routed`, the host end is not enslaved to it: it gets a
    /// /32 route to the container and answers ARP for the subnet (proxy ARP).
    pub bridge: &'a str,
    pub routed: bool,
    pub host_interface: &'a str,
    pub interface: &'a str,
    pub mac: MacAddr,
    pub address: Ipv4Net,
    /// Default route through it, unless the namespace has one already.
    pub gateway: Option<Ipv4Addr>,
    /// On IPv6 networks: the address (added `nodad`) and the IPv6 default route's gateway.
    pub address6: Option<Ipv6Net>,
    pub gateway6: Option<Ipv6Addr>,
}

pub(crate) trait Host: Send + Sync {
    /// Destinations of the host's IPv4 routes (no default route), for pool selection.
    fn host_routes(&self) -> Result<Vec<Ipv4Net>>;
    /// The IPv4 addresses of link `name`, `None` when there is no such link.
    fn link_addresses(&self, name: &str) -> Result<Option<Vec<Ipv4Net>>>;
    /// Creates bridge `name` if missing, gives it `gateway` (address/prefix) and
    /// `gateway6` if it lacks them, brings it up and sets `route_localnet` on it.
    fn ensure_bridge(&self, name: &str, gateway: Ipv4Net, gateway6: Option<Ipv6Net>) -> Result<()>;
    /// Deletes link `name`; a missing link is not an error.
    fn delete_link(&self, name: &str) -> Result<()>;
    /// Creates the veth pair of one endpoint. Leaves nothing behind when it fails.
    fn attach(&self, plan: &AttachPlan<'_>) -> Result<()>;
    /// A new network namespace bind-mounted at `path`, with `lo` up.
    fn create_netns(&self, path: &Path) -> Result<()>;
    /// Unmounts and removes `path`; a missing one is not an error.
    fn delete_netns(&self, path: &Path) -> Result<()>;
    fn netns_exists(&self, path: &Path) -> bool;
    /// `net.ipv4.ip_forward=1`, as dockerd sets it.
    fn enable_forwarding(&self) -> Result<()>;
    /// IPv6 forwarding (`default` and `all`), as dockerd sets it for an IPv6 network, but
    /// without costing the host the routes it learns from router advertisements: see
    /// `LinuxHost::enable_forwarding6`.
    fn enable_forwarding6(&self) -> Result<()>;
    /// Raises the sysctl `key` (a path below `/proc/sys`, `net/core/netdev_max_backlog`)
    /// to at least `min` (never lowers it).
    fn raise_sysctl(&self, key: &str, min: u32) -> Result<()>;
}

/// The real host. One netlink socket in the daemon's namespace is reused for every host
/// side request (each is a few microseconds; the lock is never held across anything else).
pub(crate) struct LinuxHost {
    rtnl: Mutex<Rtnl>,
    host_netns: File,
}

impl LinuxHost {
    pub(crate) fn new() -> Result<LinuxHost> {
        let rtnl = Rtnl::open().map_err(|e| Error::netlink("open a netlink socket", e))?;
        let ns_path = Path::new("/proc/thread-self/ns/net");
        let host_netns = File::open(ns_path).map_err(io_err("open", ns_path))?;
        Ok(LinuxHost {
            rtnl: Mutex::new(rtnl),
            host_netns,
        })
    }

    /// The index of link `name` in the daemon's namespace. By `if_nametoindex` (an ioctl
    /// the kernel answers from its RCU-protected name hash), not by a netlink request on
    /// the shared socket: measured with 8 concurrent starts, each start's two lookups
    /// queued ~3.6 ms (median) behind the other starts' requests on that socket's lock and
    /// the kernel's rtnl lock, against ~0.1 ms for one start alone.
    fn index_of(&self, name: &str) -> Result<u32> {
        let lookup = || {
            let c_name = std::ffi::CString::new(name)
                .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
            // SAFETY: c_name is a NUL-terminated string that outlives the call.
            match unsafe { libc::if_nametoindex(c_name.as_ptr()) } {
                0 => Err(io::Error::last_os_error()),
                idx => Ok(idx),
            }
        };
        lookup().map_err(|e| Error::netlink(format!("look up link {name}"), e))
    }

    fn container_side(&self, netns: &File, plan: &AttachPlan<'_>) -> Result<()> {
        let host_fd = self.host_netns.as_raw_fd();
        in_netns(netns, plan.netns, |rtnl| {
            rtnl.create_veth(plan.interface, plan.mac, None, plan.host_interface, host_fd)
                .map_err(|e| {
                    Error::netlink(
                        format!("create veth {}/{}", plan.interface, plan.host_interface),
                        e,
                    )
                })?;
            let configured = (|| {
                let idx = rtnl
                    .link_index(plan.interface)
                    .and_then(|i| i.ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV)))
                    .map_err(|e| {
                        Error::netlink(
                            format!("look up {} in {}", plan.interface, plan.netns.display()),
                            e,
                        )
                    })?;
                rtnl.add_address(idx, plan.address.into()).map_err(|e| {
                    Error::netlink(
                        format!("add address {} to {}", plan.address, plan.interface),
                        e,
                    )
                })?;
                if let Some(addr6) = plan.address6 {
                    // A new namespace's interfaces may start with IPv6 off; this thread is
                    // in the container's namespace, so /proc/sys/net is the container's.
                    write_sysctl(
                        &format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", plan.interface),
                        "0",
                    )?;
                    rtnl.add_address(idx, addr6.into()).map_err(|e| {
                        Error::netlink(format!("add address {addr6} to {}", plan.interface), e)
                    })?;
                }
                rtnl.set_up(idx, None)
                    .map_err(|e| Error::netlink(format!("set {} up", plan.interface), e))?;
                if let Some(gw) = plan.gateway6 {
                    rtnl.add_default_route(idx, gw.into()).map_err(|e| {
                        Error::netlink(
                            format!("add IPv6 default route via {gw} dev {}", plan.interface),
                            e,
                        )
                    })?;
                }
                if let Some(gw) = plan.gateway {
                    rtnl.add_default_route(idx, gw.into()).map_err(|e| {
                        Error::netlink(
                            format!("add default route via {gw} dev {}", plan.interface),
                            e,
                        )
                    })?;
                }
                Ok(idx)
            })();
            if let Err(e) = configured {
                if let Ok(Some(idx)) = rtnl.link_index(plan.interface) {
                    let _ = rtnl.delete_link(idx);
                }
                return Err(e);
            }
            Ok(())
        })
    }
}

impl LinuxHost {
    fn bridge_port(&self, idx: u32, bridge: u32, plan: &AttachPlan<'_>) -> Result<()> {
        self.rtnl.lock().set_up(idx, Some(bridge)).map_err(|e| {
            if e.raw_os_error() == Some(libc::EXFULL) {
                Error::Unavailable(format!(
                    "bridge {} is full: a Linux bridge takes at most 1024 endpoints",
                    plan.bridge
                ))
            } else {
                Error::netlink(
                    format!("attach {} to bridge {}", plan.host_interface, plan.bridge),
                    e,
                )
            }
        })?;
        // Hairpin on the bridge port: with br_netfilter loaded (bridge-nf-call-iptables),
        // a container reaching its own published port through a host address is DNATed on
        // the bridge path and must leave through the port it came in on, which a bridge
        // only does in hairpin mode (dockerd sets it for the same reason).
        write_sysctl(
            &format!("/sys/class/net/{}/brport/hairpin_mode", plan.host_interface),
            "1",
        )
    }

    /// A routed port: the container keeps its address in the network's subnet; the host
    /// routes that one address to the veth and answers the container's ARP requests for
    /// the gateway and its peers (proxy ARP), and the bridge answers its containers' ARP
    /// requests for this one the same way.
    fn route_port(&self, idx: u32, plan: &AttachPlan<'_>) -> Result<()> {
        let ifname = plan.host_interface;
        for key in ["proxy_arp", "route_localnet"] {
            write_sysctl(&format!("/proc/sys/net/ipv4/conf/{ifname}/{key}"), "1")?;
        }
        no_proxy_delay(ifname)?;
        // Only now on the bridge: proxy ARP there never answers for an address behind the
        // bridge itself, but on a bridge someone gave berth with a physical port it would
        // answer the LAN for everything the host routes elsewhere; berth's own bridges
        // have container ports only.
        write_sysctl(
            &format!("/proc/sys/net/ipv4/conf/{}/proxy_arp", plan.bridge),
            "1",
        )?;
        no_proxy_delay(plan.bridge)?;
        let mut rtnl = self.rtnl.lock();
        rtnl.set_up(idx, None)
            .map_err(|e| Error::netlink(format!("set {ifname} up"), e))?;
        let host_route = Ipv4Net::new(plan.address.addr(), 32)
            .map_err(|e| Error::Internal(format!("route to {}: {e}", plan.address)))?;
        rtnl.add_link_route(idx, host_route)
            .map_err(|e| Error::netlink(format!("add route {host_route} dev {ifname}"), e))
    }
}

/// Runs `f` with a netlink socket opened inside the namespace `netns`, on a throwaway
/// thread so no thread of the daemon ever changes namespace.
fn in_netns<T: Send>(
    netns: &File,
    path: &Path,
    f: impl FnOnce(&mut Rtnl) -> Result<T> + Send,
) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            setns(netns, CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::netlink(format!("setns into {}", path.display()), e.into()))?;
            let mut rtnl = Rtnl::open().map_err(|e| {
                Error::netlink(format!("open a netlink socket in {}", path.display()), e)
            })?;
            f(&mut rtnl)
        })
        .join()
        .unwrap_or_else(|_| Err(Error::Internal("network namespace thread panicked".into())))
    })
}

impl Host for LinuxHost {
    fn host_routes(&self) -> Result<Vec<Ipv4Net>> {
        self.rtnl
            .lock()
            .routes()
            .map_err(|e| Error::netlink("list the host's routes", e))
    }

    fn link_addresses(&self, name: &str) -> Result<Option<Vec<Ipv4Net>>> {
        let mut rtnl = self.rtnl.lock();
        let Some(idx) = rtnl
            .link_index(name)
            .map_err(|e| Error::netlink(format!("look up link {name}"), e))?
        else {
            return Ok(None);
        };
        let addrs = rtnl
            .addresses(idx)
            .map_err(|e| Error::netlink(format!("list the addresses of {name}"), e))?;
        Ok(Some(addrs))
    }

    fn ensure_bridge(&self, name: &str, gateway: Ipv4Net, gateway6: Option<Ipv6Net>) -> Result<()> {
        let mut rtnl = self.rtnl.lock();
        let what = |op: &str| format!("{op} bridge {name}");
        let idx = match rtnl
            .link_index(name)
            .map_err(|e| Error::netlink(what("look up"), e))?
        {
            Some(i) => i,
            None => {
                match rtnl.create_bridge(name, MacAddr::random()) {
                    Err(e) if e.raw_os_error() != Some(libc::EEXIST) => {
                        return Err(Error::netlink(what("create"), e))
                    }
                    _ => {}
                }
                rtnl.link_index(name)
                    .map_err(|e| Error::netlink(what("look up"), e))?
                    .ok_or_else(|| {
                        Error::netlink(
                            what("find the new"),
                            io::Error::from_raw_os_error(libc::ENODEV),
                        )
                    })?
            }
        };
        let addrs = rtnl
            .addresses(idx)
            .map_err(|e| Error::netlink(what("list addresses of"), e))?;
        if !addrs.contains(&gateway) {
            rtnl.add_address(idx, gateway.into()).map_err(|e| {
                Error::netlink(format!("add address {gateway} to bridge {name}"), e)
            })?;
        }
        if let Some(gw6) = gateway6 {
            write_sysctl(&format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "0")?;
            rtnl.add_address(idx, gw6.into())
                .map_err(|e| Error::netlink(format!("add address {gw6} to bridge {name}"), e))?;
        }
        rtnl.set_up(idx, None)
            .map_err(|e| Error::netlink(what("set up"), e))?;
        drop(rtnl);
        write_sysctl(
            &format!("/proc/sys/net/ipv4/conf/{name}/route_localnet"),
            "1",
        )
    }

    fn delete_link(&self, name: &str) -> Result<()> {
        let mut rtnl = self.rtnl.lock();
        let Some(idx) = rtnl
            .link_index(name)
            .map_err(|e| Error::netlink(format!("look up link {name}"), e))?
        else {
            return Ok(());
        };
        match rtnl.delete_link(idx) {
            Err(e) if e.raw_os_error() != Some(libc::ENODEV) => {
                Err(Error::netlink(format!("delete link {name}"), e))
            }
            _ => Ok(()),
        }
    }

    fn attach(&self, plan: &AttachPlan<'_>) -> Result<()> {
        let netns = File::open(plan.netns).map_err(io_err("open network namespace", plan.netns))?;
        let bridge = self.index_of(plan.bridge)?;
        tracing::debug_span!("container_side").in_scope(|| self.container_side(&netns, plan))?;
        let _span = tracing::debug_span!("host_side").entered();
        let host_side = self.index_of(plan.host_interface).and_then(|idx| {
            if plan.routed {
                self.route_port(idx, plan)
            } else {
                self.bridge_port(idx, bridge, plan)
            }
        });
        if let Err(e) = host_side {
            // Deleting one end of a veth pair deletes both.
            let _ = self.delete_link(plan.host_interface);
            return Err(e);
        }
        Ok(())
    }

    fn create_netns(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        }
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(io_err("create network namespace file", path))?;
        let made = std::thread::scope(|s| {
            s.spawn(|| -> Result<()> {
                unshare(CloneFlags::CLONE_NEWNET)
                    .map_err(|e| Error::netlink("unshare a network namespace", e.into()))?;
                let src = Path::new("/proc/thread-self/ns/net");
                mount(
                    Some(src),
                    path,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .map_err(|e| io_err("bind-mount the network namespace on", path)(e.into()))?;
                let mut rtnl = Rtnl::open().map_err(|e| {
                    Error::netlink(format!("open a netlink socket in {}", path.display()), e)
                })?;
                let lo = rtnl
                    .link_index("lo")
                    .and_then(|i| i.ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV)))
                    .map_err(|e| Error::netlink(format!("look up lo in {}", path.display()), e))?;
                rtnl.set_up(lo, None)
                    .map_err(|e| Error::netlink(format!("set lo up in {}", path.display()), e))
            })
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("network namespace thread panicked".into())))
        });
        if let Err(e) = made {
            let _ = self.delete_netns(path);
            return Err(e);
        }
        Ok(())
    }

    fn delete_netns(&self, path: &Path) -> Result<()> {
        match umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(io_err("unmount network namespace", path)(e.into())),
        }
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(io_err("remove network namespace file", path)(e))
            }
            _ => Ok(()),
        }
    }

    fn netns_exists(&self, path: &Path) -> bool {
        // A bind-mounted namespace file reads as nsfs; a bare file left by a crash between
        // create and mount is not a namespace.
        nix::sys::statfs::statfs(path)
            .map(|s| s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
            .unwrap_or(false)
    }

    fn enable_forwarding(&self) -> Result<()> {
        write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")
    }

    /// dockerd sets `net.ipv6.conf.{default,all}.forwarding=1` and nothing else, and the
    /// kernel then ignores router advertisements on every interface whose `accept_ra` is 1
    /// ("only while not forwarding"): a host configured by SLAAC loses its default route
    /// when its RA-learnt routes expire (moby#43466, docker/for-linux#844, still open).
    /// So before turning forwarding on, berth moves each interface at `accept_ra=1` to 2
    /// ("even while forwarding"), which keeps exactly the behaviour it had; one already
    /// forwarding, or at 0 or 2, is left alone, and so are `all` and `default`: a bridge
    /// made later must keep ignoring the advertisements a container could send it.
    fn enable_forwarding6(&self) -> Result<()> {
        let all = Path::new("/proc/sys/net/ipv6/conf/all/forwarding");
        let forwarding = fs::read_to_string(all).map_err(io_err("read sysctl", all))?;
        if forwarding.trim() != "1" {
            let conf = Path::new("/proc/sys/net/ipv6/conf");
            for entry in fs::read_dir(conf).map_err(io_err("read directory", conf))? {
                let dir = entry.map_err(io_err("read directory", conf))?.path();
                if dir
                    .file_name()
                    .is_some_and(|n| n == "all" || n == "default" || n == "lo")
                {
                    continue;
                }
                let accept_ra = dir.join("accept_ra");
                let Ok(value) = fs::read_to_string(&accept_ra) else {
                    continue; // an interface that went away meanwhile
                };
                if value.trim() == "1" {
                    fs::write(&accept_ra, "2").map_err(io_err("write sysctl", &accept_ra))?;
                }
            }
        }
        write_sysctl("/proc/sys/net/ipv6/conf/default/forwarding", "1")?;
        write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1")
    }

    fn raise_sysctl(&self, key: &str, min: u32) -> Result<()> {
        let path = Path::new("/proc/sys").join(key);
        let path = path.as_path();
        let now: u32 = fs::read_to_string(path)
            .map_err(io_err("read sysctl", path))?
            .trim()
            .parse()
            .unwrap_or(0);
        if now >= min {
            return Ok(());
        }
        fs::write(path, min.to_string()).map_err(io_err("write sysctl", path))
    }
}

/// Proxy ARP answers broadcast requests after a random delay of up to 0.8 s by default;
/// both ends of a first connection between a bridged and a routed container wait for one.
fn no_proxy_delay(ifname: &str) -> Result<()> {
    write_sysctl(
        &format!("/proc/sys/net/ipv4/neigh/{ifname}/proxy_delay"),
        "0",
    )
}

fn write_sysctl(path: &str, value: &str) -> Result<()> {
    let p = Path::new(path);
    if fs::read_to_string(p).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    fs::write(p, value).map_err(io_err("write sysctl", p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc_routes() -> Vec<Ipv4Net> {
        let listed = fs::read_to_string("/proc/net/route").unwrap();
        listed
            .lines()
            .skip(1)
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
                let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
                // the file prints the address bytes as one native-endian u32
                let dest = Ipv4Addr::from(dest.to_ne_bytes());
                let prefix = mask.count_ones() as u8;
                (prefix > 0).then(|| Ipv4Net::new(dest, prefix).ok())?
            })
            .collect()
    }

    /// Link indexes come from the kernel's name table: `lo` is index 1 in every
    /// namespace, and a missing link is an error naming it.
    #[test]
    fn index_of_finds_lo_and_names_a_missing_link() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipping: needs root (a netlink socket of the host)");
            return;
        }
        let host = LinuxHost::new().unwrap();
        assert_eq!(host.index_of("lo").unwrap(), 1);
        let missing = host.index_of("berth-no-such0").unwrap_err().to_string();
        assert!(missing.contains("berth-no-such0"), "{missing}");
        assert!(
            host.index_of("lo\0x").is_err(),
            "a name with a NUL is refused"
        );
    }

    /// The routes pool selection avoids are the kernel's: every non-default route of
    /// /proc/net/route (the main table) comes back through netlink.
    #[test]
    fn host_routes_are_the_main_tables() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipping: needs root (a netlink socket of the host)");
            return;
        }
        let host = LinuxHost::new().unwrap();
        let expected = proc_routes();
        let got = host.host_routes().unwrap();
        for route in &expected {
            // other tests add and remove bridges meanwhile: only a route still listed and
            // still missing from a fresh dump is a failure
            if !got.contains(route) && proc_routes().contains(route) {
                assert!(
                    host.host_routes().unwrap().contains(route),
                    "{route} missing from {got:?}"
                );
            }
        }
        assert!(
            !got.iter().any(|r| r.prefix_len() == 0),
            "the default route is left out"
        );
    }
}
