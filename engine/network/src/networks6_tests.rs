//! Dual-stack networks against the fake host of `networks_tests.rs`.

use super::*;

fn dual(name: &str, v4: &str, v6: Option<&str>) -> CreateNetwork {
    let mut req = subnet_req(name, v4);
    req.enable_ipv6 = true;
    if let Some(v6) = v6 {
        req.ipam.push(IpamRequest {
            subnet: Some(v6.into()),
            ..Default::default()
        });
    }
    req
}

#[test]
fn an_ipv6_network_gets_its_pool_or_a_default_64_of_the_engines_ula_48() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let nets = open(dir.path(), &fake, false);
    let given = nets
        .create(dual("given", "10.60.0.0/24", Some("fd00:60::/64")))
        .unwrap();
    assert!(given.enable_ipv6);
    let pool = given.ipam6.clone().unwrap();
    assert_eq!(pool.gateway.to_string(), "fd00:60::1");
    let bridge = given.bridge.clone().unwrap();
    assert_eq!(
        fake.0.lock().bridge6,
        vec![(bridge, "fd00:60::1/64".parse().unwrap())]
    );
    assert_eq!(fake.0.lock().forwarding6, 1);

    let a = nets.create(dual("a", "10.61.0.0/24", None)).unwrap();
    let b = nets.create(dual("b", "10.62.0.0/24", None)).unwrap();
    let (a6, b6) = (a.ipam6.unwrap().subnet, b.ipam6.unwrap().subnet);
    assert_eq!(a6.prefix_len(), 64);
    assert_ne!(a6, b6, "two default subnets never overlap");
    let engine_id = std::fs::read_to_string(dir.path().join("state/engine-id")).unwrap();
    let base = crate::ipam6::ula_base(&engine_id);
    assert!(base.contains(&a6) && base.contains(&b6));

    // Without --ipv6 an IPv6 subnet is ignored, as dockerd ignores it.
    let mut plain = subnet_req("plain", "10.63.0.0/24");
    plain.ipam.push(IpamRequest {
        subnet: Some("fd00:63::/64".into()),
        ..Default::default()
    });
    let plain = nets.create(plain).unwrap();
    assert!(!plain.enable_ipv6 && plain.ipam6.is_none());

    // An overlapping IPv6 subnet is Docker's Forbidden, and nothing is made.
    let links = fake.0.lock().links.len();
    let e = nets
        .create(dual("over", "10.64.0.0/24", Some("fd00:60::/80")))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    assert_eq!(fake.0.lock().links.len(), links);
    assert!(nets.get("over").is_err());
}

#[test]
fn endpoints_get_an_ipv6_address_and_gateway_released_and_restored_once() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let nets = open(dir.path(), &fake, true);
    nets.create(dual("d", "10.70.0.0/24", Some("fd00:70::/64")))
        .unwrap();
    let mut internal = dual("i", "10.71.0.0/24", Some("fd00:71::/64"));
    internal.internal = true;
    nets.create(internal).unwrap();
    let ns = nets.create_sandbox("c1").unwrap();
    let e = nets
        .connect("c1", &ns, "d", EndpointRequest::default())
        .unwrap();
    assert_eq!(e.address6, Some("fd00:70::2/64".parse().unwrap()));
    assert_eq!(e.gateway6, Some("fd00:70::1".parse().unwrap()));
    let internal = nets
        .connect("c1", &ns, "i", EndpointRequest::default())
        .unwrap();
    assert_eq!(internal.gateway6, None, "no way out of an internal network");
    assert_eq!(
        fake.0.lock().attached6.last().unwrap(),
        &(internal.address6, None)
    );
    // IPv4-only networks have no IPv6 address, and refuse --ip6.
    let plain = nets
        .connect("c1", &ns, "bridge", EndpointRequest::default())
        .unwrap();
    assert_eq!(plain.address6, None);
    let ns2 = nets.create_sandbox("c2").unwrap();
    nets.disconnect("c1", "bridge").unwrap();
    let e = nets
        .connect(
            "c2",
            &ns2,
            "bridge",
            EndpointRequest {
                ipv6: Some("fd00:70::9".parse().unwrap()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "no configured subnet or ip-range contain the IP address fd00:70::9"
    );
    // --ip6: taken, outside, then given; a refused one gives its IPv4 address back.
    let wanted = |ip: &str| EndpointRequest {
        ipv6: Some(ip.parse().unwrap()),
        ..Default::default()
    };
    let e = nets
        .connect("c2", &ns2, "d", wanted("fd00:70::2"))
        .unwrap_err();
    assert_eq!(e.to_string(), "Address already in use");
    let e = nets
        .connect("c2", &ns2, "d", wanted("fd00:99::2"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(nets.endpoint_count("d"), 1);
    let e2 = nets
        .connect("c2", &ns2, "d", wanted("fd00:70::99"))
        .unwrap();
    assert_eq!(e2.address6, Some("fd00:70::99/64".parse().unwrap()));
    assert_eq!(e2.requested_ipv6, Some("fd00:70::99".parse().unwrap()));

    // A restart (the namespaces and veths still there) claims both addresses again.
    drop(nets);
    let nets = open(dir.path(), &fake, true);
    let restored = nets.endpoints("c2");
    assert_eq!(restored.len(), 1);
    assert_eq!(restored[0].address6, e2.address6);
    let ns3 = nets.create_sandbox("c3").unwrap();
    let e = nets
        .connect("c3", &ns3, "d", wanted("fd00:70::99"))
        .unwrap_err();
    assert_eq!(e.to_string(), "Address already in use");
    let e3 = nets
        .connect("c3", &ns3, "d", EndpointRequest::default())
        .unwrap();
    assert_eq!(e3.address6, Some("fd00:70::3/64".parse().unwrap()));
    // Disconnecting releases it.
    nets.disconnect("c2", "d").unwrap();
    let ns4 = nets.create_sandbox("c4").unwrap();
    nets.connect("c4", &ns4, "d", wanted("fd00:70::99"))
        .unwrap();
}
