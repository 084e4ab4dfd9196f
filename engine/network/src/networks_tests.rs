//! The facade's logic against a fake host and firewall: no root, no kernel.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipnet::{Ipv4Net, Ipv6Net};
use parking_lot::Mutex;

use crate::error::{ErrorKind, Result};
use crate::firewall::Firewall;
use crate::host::{AttachPlan, Host};
use crate::networks::BACKLOG_KEY;
use crate::types::*;
use crate::Networks;

#[derive(Default)]
struct World {
    links: HashSet<String>,
    netns: HashSet<PathBuf>,
    scripts: Vec<String>,
    routes: Vec<Ipv4Net>,
    fail_attach: bool,
    /// What `raise_sysctl` was asked, by key.
    sysctls: std::collections::HashMap<String, u32>,
    fail_firewall: bool,
    /// Calls of `let_through_iptables`.
    iptables: usize,
    /// The IPv6 addresses bridges were given, and the plans' IPv6 address and gateway.
    bridge6: Vec<(String, Ipv6Net)>,
    attached6: Vec<(Option<Ipv6Net>, Option<std::net::Ipv6Addr>)>,
    forwarding6: usize,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<World>>);

impl Host for Fake {
    fn host_routes(&self) -> Result<Vec<Ipv4Net>> {
        Ok(self.0.lock().routes.clone())
    }
    fn link_addresses(&self, name: &str) -> Result<Option<Vec<Ipv4Net>>> {
        Ok(self.0.lock().links.contains(name).then(Vec::new))
    }
    fn ensure_bridge(&self, name: &str, _gateway: Ipv4Net, gw6: Option<Ipv6Net>) -> Result<()> {
        let mut w = self.0.lock();
        w.links.insert(name.to_string());
        if let Some(gw6) = gw6 {
            w.bridge6.push((name.to_string(), gw6));
        }
        Ok(())
    }
    fn delete_link(&self, name: &str) -> Result<()> {
        self.0.lock().links.remove(name);
        Ok(())
    }
    fn attach(&self, plan: &AttachPlan<'_>) -> Result<()> {
        let mut w = self.0.lock();
        if w.fail_attach {
            return Err(crate::Error::Internal("attach failed".into()));
        }
        w.links.insert(plan.host_interface.to_string());
        w.attached6.push((plan.address6, plan.gateway6));
        Ok(())
    }
    fn create_netns(&self, path: &Path) -> Result<()> {
        self.0.lock().netns.insert(path.to_path_buf());
        Ok(())
    }
    fn delete_netns(&self, path: &Path) -> Result<()> {
        self.0.lock().netns.remove(path);
        Ok(())
    }
    fn netns_exists(&self, path: &Path) -> bool {
        self.0.lock().netns.contains(path)
    }
    fn enable_forwarding(&self) -> Result<()> {
        Ok(())
    }
    fn enable_forwarding6(&self) -> Result<()> {
        self.0.lock().forwarding6 += 1;
        Ok(())
    }
    fn raise_sysctl(&self, key: &str, min: u32) -> Result<()> {
        self.0.lock().sysctls.insert(key.to_string(), min);
        Ok(())
    }
}

impl Firewall for Fake {
    fn apply(&self, script: &str) -> Result<()> {
        let mut w = self.0.lock();
        if w.fail_firewall {
            return Err(crate::Error::Firewall {
                table: "t".into(),
                message: "nft failed".into(),
            });
        }
        w.scripts.push(script.to_string());
        Ok(())
    }
    fn let_through_iptables(&self) -> Result<()> {
        self.0.lock().iptables += 1;
        Ok(())
    }
}

fn config(dir: &Path, bridge: bool) -> NetworkConfig {
    NetworkConfig {
        state_dir: dir.join("state"),
        netns_dir: dir.join("netns"),
        default_bridge: bridge.then(|| DefaultBridge {
            name: "berth0".into(),
            bip: None,
            ..Default::default()
        }),
        firewall_table: "berth".into(),
    }
}

fn open(dir: &Path, fake: &Fake, bridge: bool) -> Networks {
    Networks::open_with(
        config(dir, bridge),
        Arc::new(fake.clone()),
        Box::new(fake.clone()),
    )
    .unwrap()
}

fn subnet_req(name: &str, subnet: &str) -> CreateNetwork {
    CreateNetwork {
        name: name.into(),
        ipam: vec![IpamRequest {
            subnet: Some(subnet.into()),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn open_makes_the_predefined_networks_and_skips_routed_pools() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    fake.0.lock().routes = vec!["172.17.0.0/16".parse().unwrap()];
    let nets = open(dir.path(), &fake, true);
    let names: Vec<_> = nets.list().into_iter().map(|n| n.name).collect();
    assert_eq!(names, ["bridge", "host", "none"]);
    let bridge = nets.get("bridge").unwrap();
    assert_eq!(bridge.ipam[0].subnet.to_string(), "172.18.0.0/16");
    assert_eq!(bridge.options["com.docker.network.bridge.name"], "berth0");
    assert!(fake.0.lock().links.contains("berth0"));
    assert_eq!(fake.0.lock().scripts.len(), 1, "one nft call at open");
    assert_eq!(
        fake.0.lock().iptables,
        1,
        "iptables' FORWARD told once the table exists"
    );
    // by unique ID prefix, and the same IDs after a restart
    assert_eq!(nets.get(&bridge.id[..6]).unwrap().id, bridge.id);
    drop(nets);
    let again = open(dir.path(), &fake, true);
    assert_eq!(again.get("bridge").unwrap().id, bridge.id);
    assert_eq!(again.get("bridge").unwrap().ipam, bridge.ipam);
}

#[test]
fn bridge_none_means_no_bridge_and_no_nft() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let nets = open(dir.path(), &fake, false);
    assert!(nets.get("bridge").is_err());
    assert!(fake.0.lock().scripts.is_empty());
    assert!(fake.0.lock().links.is_empty());
    assert_eq!(fake.0.lock().iptables, 0, "no table, no iptables rule");
}

#[test]
fn create_refuses_duplicates_overlaps_and_other_drivers_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let nets = open(dir.path(), &fake, false);
    let n = nets.create(subnet_req("front", "10.50.0.0/24")).unwrap();
    assert_eq!(n.bridge.as_deref(), Some(&*format!("br-{}", &n.id[..12])));
    let e = nets
        .create(subnet_req("front", "10.51.0.0/24"))
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.to_string()),
        (
            ErrorKind::Conflict,
            "network with name front already exists".into()
        )
    );
    let e = nets
        .create(subnet_req("back", "10.50.0.128/25"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    assert!(e
        .to_string()
        .contains("Pool overlaps with other one on this address space"));
    let mut mv = subnet_req("mv", "10.52.0.0/24");
    mv.driver = Some("macvlan".into());
    assert_eq!(
        nets.create(mv).unwrap_err().kind(),
        ErrorKind::NotImplemented
    );
    assert_eq!(
        nets.create(subnet_req("bad", "10.1.2.3/24"))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(nets.list().len(), 3);
    // a failing firewall leaves neither a bridge nor a record
    fake.0.lock().fail_firewall = true;
    let links_before = fake.0.lock().links.len();
    assert!(nets.create(subnet_req("nofw", "10.54.0.0/24")).is_err());
    assert_eq!(fake.0.lock().links.len(), links_before);
    assert!(nets.get("nofw").is_err());
    fake.0.lock().fail_firewall = false;
    drop(nets);
    assert_eq!(open(dir.path(), &fake, false).list().len(), 3);
}

#[test]
fn default_subnets_of_user_networks_avoid_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let nets = open(dir.path(), &fake, true);
    let a = nets
        .create(CreateNetwork {
            name: "a".into(),
            ..Default::default()
        })
        .unwrap();
    let b = nets
        .create(CreateNetwork {
            name: "b".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(a.ipam[0].subnet.to_string(), "172.18.0.0/16");
    assert_eq!(b.ipam[0].subnet.to_string(), "172.19.0.0/16");
}

#[test]
fn connect_disconnect_and_remove_keep_the_counts_and_addresses_right() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let nets = open(dir.path(), &fake, true);
    let ns = nets.create_sandbox("c1").unwrap();
    assert!(
        nets.create_sandbox("c1").is_err(),
        "a second namespace for one container"
    );
    nets.create(subnet_req("front", "10.50.0.0/24")).unwrap();
    let e0 = nets
        .connect("c1", &ns, "bridge", EndpointRequest::default())
        .unwrap();
    let wanted = "10.50.0.9".parse().unwrap();
    let e1 = nets
        .connect(
            "c1",
            &ns,
            "front",
            EndpointRequest {
                ipv4: Some(wanted),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        (e0.interface.as_str(), e1.interface.as_str()),
        ("eth0", "eth1")
    );
    assert_eq!(e1.address.addr(), wanted);
    assert_eq!(e1.host_interface.len(), 15);
    assert_eq!(
        nets.connect("c1", &ns, "front", EndpointRequest::default())
            .unwrap_err()
            .kind(),
        ErrorKind::Forbidden
    );
    let ns2 = nets.create_sandbox("c2").unwrap();
    let taken = nets.connect(
        "c2",
        &ns2,
        "front",
        EndpointRequest {
            ipv4: Some(wanted),
            ..Default::default()
        },
    );
    assert_eq!(taken.unwrap_err().to_string(), "Address already in use");
    assert_eq!(
        nets.connect("c2", &ns2, "nope", EndpointRequest::default())
            .unwrap_err()
            .to_string(),
        "network nope not found"
    );
    assert_eq!(nets.endpoint_count("front"), 1);
    assert_eq!(
        nets.remove("front").unwrap_err().kind(),
        ErrorKind::Forbidden
    );
    assert_eq!(
        nets.remove("bridge").unwrap_err().to_string(),
        "bridge is a pre-defined network and cannot be removed"
    );
    // a failed attach gives the address back and leaves no record
    fake.0.lock().fail_attach = true;
    assert!(nets
        .connect("c2", &ns2, "front", EndpointRequest::default())
        .is_err());
    fake.0.lock().fail_attach = false;
    assert_eq!(nets.endpoint_count("front"), 1);
    nets.disconnect("c1", "front").unwrap();
    assert!(!fake.0.lock().links.contains(&e1.host_interface));
    assert_eq!(nets.endpoint_count("front"), 0);
    nets.remove("front").unwrap();
    nets.remove_sandbox("c1").unwrap();
    nets.remove_sandbox("c1").unwrap();
    assert!(nets.endpoints("c1").is_empty());
    assert!(!fake.0.lock().netns.contains(&ns));
    assert_eq!(
        nets.create_sandbox("../x").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn no_process_is_spawned_for_a_container_without_ports() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let nets = open(dir.path(), &fake, true);
    let before = fake.0.lock().scripts.len();
    let ns = nets.create_sandbox("c1").unwrap();
    nets.connect("c1", &ns, "bridge", EndpointRequest::default())
        .unwrap();
    nets.publish("c1", &[]).unwrap();
    nets.remove_sandbox("c1").unwrap();
    assert_eq!(fake.0.lock().scripts.len(), before);
}

#[test]
fn published_ports_are_one_script_each_way_and_rolled_back_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let nets = open(dir.path(), &fake, true);
    let ns = nets.create_sandbox("c1").unwrap();
    let ep = nets
        .connect("c1", &ns, "bridge", EndpointRequest::default())
        .unwrap();
    let req = |port| PortRequest {
        host_ip: Some("127.0.0.1".parse().unwrap()),
        host_port: port,
        host_port_end: 0,
        container_port: 80,
        proto: Protocol::Tcp,
    };
    let before = fake.0.lock().scripts.len();
    let p = nets.publish("c1", &[req(0), req(0)]).unwrap();
    assert_eq!(fake.0.lock().scripts.len(), before + 1);
    assert_eq!(p[0].container_ip, ep.address.addr());
    assert!(std::net::TcpListener::bind(("127.0.0.1", p[0].host_port)).is_err());
    assert_eq!(nets.endpoints("c1")[0].ports, p);
    // a failing nft call frees the ports it had reserved
    fake.0.lock().fail_firewall = true;
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let free = probe.local_addr().unwrap().port();
    drop(probe);
    assert!(nets.publish("c1", &[req(free)]).is_err());
    assert!(std::net::TcpListener::bind(("127.0.0.1", free)).is_ok());
    fake.0.lock().fail_firewall = false;
    nets.unpublish("c1").unwrap();
    assert!(std::net::TcpListener::bind(("127.0.0.1", p[0].host_port)).is_ok());
    assert!(nets.endpoints("c1")[0].ports.is_empty());
    let last = fake.0.lock().scripts.last().cloned().unwrap();
    assert!(
        last.starts_with("delete element inet berth pub_addr"),
        "{last}"
    );
}

#[test]
fn a_restore_keeps_live_endpoints_releases_dead_ones_and_never_reuses_an_address() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let nets = open(dir.path(), &fake, true);
    let mut eps = Vec::new();
    for c in ["a", "b", "c"] {
        let ns = nets.create_sandbox(c).unwrap();
        eps.push(
            nets.connect(c, &ns, "bridge", EndpointRequest::default())
                .unwrap(),
        );
    }
    let port = nets
        .publish(
            "a",
            &[PortRequest {
                host_ip: Some("127.0.0.1".parse().unwrap()),
                host_port: 0,
                host_port_end: 0,
                container_port: 80,
                proto: Protocol::Tcp,
            }],
        )
        .unwrap()[0]
        .host_port;
    // kill -9: no cleanup; container b's namespace goes with it
    drop(nets);
    fake.0.lock().netns.remove(&eps[1].netns);
    let nets = open(dir.path(), &fake, true);
    assert_eq!(
        nets.endpoints("a"),
        vec![{
            let mut e = eps[0].clone();
            e.ports = nets.endpoints("a")[0].ports.clone();
            e
        }]
    );
    assert!(nets.endpoints("b").is_empty());
    assert!(
        !fake.0.lock().links.contains(&eps[1].host_interface),
        "b's veth is deleted"
    );
    assert_eq!(nets.endpoints("c"), vec![eps[2].clone()]);
    // the port is reserved again and in the rebuilt table
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_err());
    let table = fake.0.lock().scripts.last().cloned().unwrap();
    assert!(
        table.contains(&format!(
            "127.0.0.1 . tcp . {port} : {}",
            eps[0].address.addr()
        )),
        "{table}"
    );
    // new addresses skip the kept ones
    let mut seen: Vec<_> = eps.iter().map(|e| e.address.addr()).collect();
    for c in ["d", "e", "f"] {
        let ns = nets.create_sandbox(c).unwrap();
        let ip = nets
            .connect(c, &ns, "bridge", EndpointRequest::default())
            .unwrap()
            .address
            .addr();
        assert!(
            ip != eps[0].address.addr() && ip != eps[2].address.addr(),
            "{ip} handed out twice"
        );
        seen.push(ip);
    }
}

#[test]
fn past_the_bridge_port_limit_endpoints_are_routed_with_their_firewall_elements() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let nets = open(dir.path(), &fake, true);
    nets.set_bridge_port_limit(1);
    let ns1 = nets.create_sandbox("c1").unwrap();
    let ns2 = nets.create_sandbox("c2").unwrap();
    let e1 = nets
        .connect("c1", &ns1, "bridge", EndpointRequest::default())
        .unwrap();
    let before = fake.0.lock().scripts.len();
    let e2 = nets
        .connect("c2", &ns2, "bridge", EndpointRequest::default())
        .unwrap();
    assert!(!e1.routed && e2.routed);
    let script = fake.0.lock().scripts.last().cloned().unwrap();
    assert_eq!(fake.0.lock().scripts.len(), before + 1);
    assert!(
        script.contains(&format!(
            "add element inet berth bridges {{ \"{}\" }}",
            e2.host_interface
        )),
        "{script}"
    );
    // a bridge port freed is taken again before routing more
    nets.remove_sandbox("c1").unwrap();
    let ns3 = nets.create_sandbox("c3").unwrap();
    assert!(
        !nets
            .connect("c3", &ns3, "bridge", EndpointRequest::default())
            .unwrap()
            .routed
    );
    // the restore keeps the routed one routed and in the table
    drop(nets);
    let nets = open(dir.path(), &fake, true);
    assert!(nets.endpoints("c2")[0].routed);
    let table = fake.0.lock().scripts.last().cloned().unwrap();
    assert!(
        table.contains(&format!(
            "add element inet berth m_{} {{ \"{}\" }}",
            &e2.network_id[..12],
            e2.host_interface
        )),
        "{table}"
    );
    nets.disconnect("c2", "bridge").unwrap();
    let script = fake.0.lock().scripts.last().cloned().unwrap();
    assert!(
        script.contains(&format!(
            "delete element inet berth to_bridge {{ \"{}\" }}",
            e2.host_interface
        )),
        "{script}"
    );
}

#[test]
fn a_big_bridge_raises_the_backlog_once() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let nets = open(dir.path(), &fake, true);
    for i in 0..crate::networks::BIG_BRIDGE {
        let id = format!("c{i}");
        let ns = nets.create_sandbox(&id).unwrap();
        nets.connect(&id, &ns, "bridge", EndpointRequest::default())
            .unwrap();
        let expected = if i + 1 < crate::networks::BIG_BRIDGE {
            0
        } else {
            crate::networks::BACKLOG
        };
        let backlog = fake.0.lock().sysctls.get(BACKLOG_KEY).copied();
        assert_eq!(backlog.unwrap_or(0), expected, "after {} endpoints", i + 1);
    }
}

#[test]
fn many_endpoints_raise_the_neighbour_table_once() {
    use crate::networks::{NEIGH_ENDPOINTS, NEIGH_THRESHOLDS};
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let nets = open(dir.path(), &fake, true);
    let thresh3 = || fake.0.lock().sysctls.get(NEIGH_THRESHOLDS[0].0).copied();
    for i in 0..NEIGH_ENDPOINTS {
        assert_eq!(thresh3(), None, "after {i} endpoints");
        let id = format!("c{i}");
        let ns = nets.create_sandbox(&id).unwrap();
        nets.connect(&id, &ns, "bridge", EndpointRequest::default())
            .unwrap();
    }
    for (key, value) in NEIGH_THRESHOLDS {
        assert_eq!(fake.0.lock().sysctls.get(key), Some(&value), "{key}");
    }
    // once: a value put back by hand is not raised again by the next endpoint
    fake.0.lock().sysctls.clear();
    let ns = nets.create_sandbox("last").unwrap();
    nets.connect("last", &ns, "bridge", EndpointRequest::default())
        .unwrap();
    assert_eq!(thresh3(), None);
}

#[test]
fn sandboxes_lists_the_bare_file_a_crash_before_the_mount_left() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let nets = open(dir.path(), &fake, false);
    let netns_dir = dir.path().join("netns");
    std::fs::create_dir_all(&netns_dir).unwrap();
    // created, never mounted: no namespace, but the restart's sweep must still remove it
    std::fs::write(netns_dir.join("c9"), b"").unwrap();
    std::fs::write(netns_dir.join("not an id"), b"").unwrap();
    assert_eq!(nets.sandboxes(), ["c9"]);
    nets.remove_sandbox("c9").unwrap();
}

#[path = "networks6_tests.rs"]
mod v6;
