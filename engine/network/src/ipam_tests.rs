use super::*;
use crate::allocator::Allocator;

fn req(subnet: &str, range: &str, gw: &str) -> IpamRequest {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    IpamRequest {
        subnet: opt(subnet),
        ip_range: opt(range),
        gateway: opt(gw),
        aux_addresses: BTreeMap::new(),
    }
}

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn err_text(r: Result<Requested>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn a_valid_request_gives_its_pool_with_the_first_host_as_gateway() {
    let pool = validate_request(&[req("10.1.0.0/16", "10.1.2.0/24", "")], false)
        .unwrap()
        .v4
        .unwrap();
    assert_eq!(pool.subnet, net("10.1.0.0/16"));
    assert_eq!(pool.gateway, ip("10.1.0.1"));
    assert_eq!(pool.ip_range, Some(net("10.1.2.0/24")));
    let pool = validate_request(&[req("10.1.0.0/16", "", "10.1.255.254")], false)
        .unwrap()
        .v4
        .unwrap();
    assert_eq!(pool.gateway, ip("10.1.255.254"));
}

#[test]
fn no_subnet_means_a_default_pool() {
    assert_eq!(validate_request(&[], false).unwrap().v4, None);
    assert_eq!(
        validate_request(&[req("", "", "")], false).unwrap().v4,
        None
    );
}

#[test]
fn bad_subnets_get_dockers_messages() {
    assert_eq!(
        err_text(validate_request(&[req("foo", "", "")], false)),
        "invalid network config:\ninvalid subnet foo: invalid CIDR block notation"
    );
    assert_eq!(
        err_text(validate_request(&[req("10.0.0.0/33", "", "")], false)),
        "invalid network config:\ninvalid subnet 10.0.0.0/33: invalid CIDR block notation"
    );
    assert_eq!(
        err_text(validate_request(&[req("10.1.2.3/24", "", "")], false)),
        "invalid network config:\ninvalid subnet 10.1.2.3/24: it should be 10.1.2.0/24"
    );
}

#[test]
fn gateway_and_range_outside_the_subnet_are_refused_and_all_listed() {
    let text = err_text(validate_request(
        &[req("10.1.0.0/24", "10.2.0.0/24", "10.3.0.1")],
        false,
    ));
    assert_eq!(
        text,
        "invalid network config:\n\
         * invalid ip-range 10.2.0.0/24: parent subnet 10.1.0.0/24 doesn't contain ip-range\n\
         * invalid gateway 10.3.0.1: parent subnet 10.1.0.0/24 doesn't contain this address"
    );
    let text = err_text(validate_request(
        &[req("10.1.0.0/24", "10.1.0.0/16", "")],
        false,
    ));
    assert!(
        text.contains("CIDR block is bigger than its parent subnet 10.1.0.0/24"),
        "{text}"
    );
    let text = err_text(validate_request(&[req("10.1.0.0/24", "", "nope")], false));
    assert!(
        text.ends_with("invalid gateway nope: invalid address"),
        "{text}"
    );
}

#[test]
fn ipv6_subnets_are_ignored_without_ipv6_and_taken_with_it() {
    let got = validate_request(&[req("fd00::/64", "", "")], false).unwrap();
    assert!(got.v4.is_none() && got.v6.is_none());
    let got = validate_request(
        &[req("10.1.0.0/24", "", ""), req("fd00::/64", "", "")],
        true,
    )
    .unwrap();
    assert_eq!(got.v4.unwrap().subnet.to_string(), "10.1.0.0/24");
    let v6 = got.v6.unwrap();
    assert_eq!(v6.subnet.to_string(), "fd00::/64");
    assert_eq!(v6.gateway.to_string(), "fd00::1");
    let e =
        validate_request(&[req("fd00::/64", "", ""), req("fd01::/64", "", "")], true).unwrap_err();
    assert_eq!(e.kind(), crate::ErrorKind::NotImplemented);
    let e = validate_request(&[req("fd00::1/64", "", "")], true).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid network config:\ninvalid subnet fd00::1/64: it should be fd00::/64"
    );
    let e = validate_request(&[req("fd00::/64", "", "fd01::1")], true).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid network config:\ninvalid gateway fd01::1: parent subnet fd00::/64 doesn't contain this address"
    );
    let e = validate_request(&[req("fd00::/200", "", "")], true).unwrap_err();
    assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
}

#[test]
fn default_pools_follow_dockers_order_and_skip_what_is_taken() {
    let pools: Vec<_> = default_pools().collect();
    assert_eq!(pools[0], net("172.17.0.0/16"));
    assert_eq!(pools[14], net("172.31.0.0/16"));
    assert_eq!(pools[15], net("192.168.0.0/20"));
    assert_eq!(pools.last(), Some(&net("192.168.240.0/20")));
    assert_eq!(pick_default_pool(&[]).unwrap(), net("172.17.0.0/16"));
    // a host route inside 172.17/16 (a docker0) and a wider route over 172.18–19
    let taken = [
        net("172.17.0.0/16"),
        net("172.18.0.0/15"),
        net("172.20.5.0/24"),
    ];
    assert_eq!(pick_default_pool(&taken).unwrap(), net("172.21.0.0/16"));
    let all: Vec<_> = default_pools().collect();
    assert_eq!(
        pick_default_pool(&all).unwrap_err().kind(),
        crate::ErrorKind::Unavailable
    );
    // a default route (0.0.0.0/0) would overlap everything: callers leave it out
    assert!(overlaps(&net("0.0.0.0/0"), &net("172.17.0.0/16")));
}

#[test]
fn addresses_are_serial_skip_the_gateway_and_are_not_reused_at_once() {
    let mut a = Allocator::new(pool_for(net("10.9.0.0/29")).unwrap());
    assert_eq!(a.allocate(None).unwrap(), ip("10.9.0.2"));
    assert_eq!(a.allocate(None).unwrap(), ip("10.9.0.3"));
    a.release(ip("10.9.0.2"));
    assert_eq!(a.allocate(None).unwrap(), ip("10.9.0.4"));
    assert_eq!(a.allocate(None).unwrap(), ip("10.9.0.5"));
    assert_eq!(a.allocate(None).unwrap(), ip("10.9.0.6"));
    // wraps to the released one; .7 is the broadcast address
    assert_eq!(a.allocate(None).unwrap(), ip("10.9.0.2"));
    let e = a.allocate(None).unwrap_err();
    assert_eq!(e.to_string(), "no available addresses on this pool");
}

#[test]
fn requested_addresses_are_checked() {
    let mut a = Allocator::new(pool_for(net("10.9.0.0/24")).unwrap());
    assert_eq!(a.allocate(Some(ip("10.9.0.50"))).unwrap(), ip("10.9.0.50"));
    assert_eq!(
        a.allocate(Some(ip("10.9.0.50"))).unwrap_err().to_string(),
        "Address already in use"
    );
    assert_eq!(
        a.allocate(Some(ip("10.9.0.1"))).unwrap_err().to_string(),
        "Address already in use"
    );
    assert_eq!(
        a.allocate(Some(ip("10.1.2.3"))).unwrap_err().to_string(),
        "no configured subnet or ip-range contain the IP address 10.1.2.3"
    );
    assert!(a.allocate(Some(ip("10.9.0.255"))).is_err());
}

#[test]
fn ip_range_bounds_automatic_allocation() {
    let pool = validate_request(&[req("10.9.0.0/24", "10.9.0.128/30", "")], false)
        .unwrap()
        .v4
        .unwrap();
    let mut a = Allocator::new(pool);
    let got: Vec<_> = (0..4).map(|_| a.allocate(None).unwrap()).collect();
    assert_eq!(
        got,
        [
            ip("10.9.0.128"),
            ip("10.9.0.129"),
            ip("10.9.0.130"),
            ip("10.9.0.131")
        ]
    );
    assert!(a.allocate(None).is_err());
    // a static address outside the range but inside the subnet is allowed, as in Docker
    assert_eq!(a.allocate(Some(ip("10.9.0.10"))).unwrap(), ip("10.9.0.10"));
}

#[test]
fn claimed_addresses_are_never_handed_out_again() {
    let mut a = Allocator::new(pool_for(net("10.9.0.0/29")).unwrap());
    for s in ["10.9.0.2", "10.9.0.4", "10.9.0.6"] {
        a.claim(ip(s)).unwrap();
    }
    assert!(a.claim(ip("10.9.0.4")).is_err());
    assert_eq!(a.allocate(None).unwrap(), ip("10.9.0.3"));
    assert_eq!(a.allocate(None).unwrap(), ip("10.9.0.5"));
    assert!(a.allocate(None).is_err());
}

#[test]
fn aux_addresses_are_reserved() {
    let mut r = req("10.9.0.0/29", "", "");
    r.aux_addresses.insert("router".into(), "10.9.0.2".into());
    let mut a = Allocator::new(validate_request(&[r], false).unwrap().v4.unwrap());
    assert_eq!(a.allocate(None).unwrap(), ip("10.9.0.3"));
    let mut bad = req("10.9.0.0/29", "", "");
    bad.aux_addresses.insert("x".into(), "10.8.0.1".into());
    let text = err_text(validate_request(&[bad], false));
    assert!(
        text.contains("invalid auxiliary address x: parent subnet"),
        "{text}"
    );
}

#[test]
fn bip_gives_its_gateway_and_network() {
    let pool = pool_for_bip(net("10.213.4.1/24")).unwrap();
    assert_eq!(pool.subnet, net("10.213.4.0/24"));
    assert_eq!(pool.gateway, ip("10.213.4.1"));
    assert!(pool_for_bip(net("10.213.4.0/24")).is_err());
    assert!(pool_for_bip(net("10.213.4.1/31")).is_err());
}
