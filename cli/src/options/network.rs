//! The networking flags of `run`/`create` → HostConfig.NetworkMode, DNS,
//! ExtraHosts, Links and NetworkingConfig.EndpointsConfig, built as docker 28's
//! client builds them (its `parseNetworkOpts`).

use std::collections::HashMap;
use std::net::IpAddr;

use bollard_stubs::models::{EndpointIpamConfig, EndpointSettings};

use super::OptionsError;
use crate::network_args::NetworkFlags;

/// One `--network` value: a bare name, or docker's `name=…,alias=…` form.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Attachment {
    target: String,
    aliases: Vec<String>,
    driver_opts: HashMap<String, String>,
    links: Vec<String>,
    ipv4: Option<String>,
    ipv6: Option<String>,
    link_local_ips: Vec<String>,
    mac_address: Option<String>,
    gw_priority: i64,
}

/// What the networking flags put in the create body.
#[derive(Debug, Default)]
pub struct Networking {
    pub network_mode: String,
    pub endpoints: HashMap<String, EndpointSettings>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub extra_hosts: Vec<String>,
    pub links: Vec<String>,
}

fn invalid_flag(value: &str, flag: &str, reason: impl std::fmt::Display) -> OptionsError {
    OptionsError::Network(format!(
        "invalid argument \"{value}\" for \"--{flag}\" flag: {reason}"
    ))
}

fn invalid(message: impl Into<String>) -> OptionsError {
    OptionsError::Network(message.into())
}

/// Network modes that are not user-defined networks, as the Engine names them.
fn is_user_defined(mode: &str) -> bool {
    !matches!(mode, "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

/// docker's test for the long form: `\w+=\w+` anywhere in the value.
fn is_long_syntax(value: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    value.char_indices().any(|(i, c)| {
        c == '='
            && value[..i].chars().next_back().is_some_and(word)
            && value[i + 1..].chars().next().is_some_and(word)
    })
}

fn parse_attachment(value: &str) -> Result<Attachment, OptionsError> {
    if !is_long_syntax(value) {
        return Ok(Attachment {
            target: value.to_owned(),
            ..Default::default()
        });
    }
    let bad = |reason: String| invalid_flag(value, "network", reason);
    let mut attachment = Attachment::default();
    for field in super::mounts::csv_fields(value) {
        // docker lowercases the whole field, values included.
        let lowered = field.to_lowercase();
        let (key, val) = lowered
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| bad(format!("invalid field {field}")))?;
        let (key, val) = (key.trim(), val.trim().to_owned());
        match key {
            "name" => attachment.target = val,
            "alias" => attachment.aliases.push(val),
            "ip" => attachment.ipv4 = Some(val),
            "ip6" => attachment.ipv6 = Some(val),
            "mac-address" => attachment.mac_address = Some(val),
            "link-local-ip" => attachment.link_local_ips.push(val),
            "driver-opt" => {
                let (k, v) = val
                    .split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| {
                        bad("invalid key value pair format in driver options".to_owned())
                    })?;
                attachment
                    .driver_opts
                    .insert(k.trim().to_owned(), v.trim().to_owned());
            }
            "gw-priority" => {
                attachment.gw_priority = val
                    .parse()
                    .map_err(|_| bad(format!("invalid gw-priority ({val}): invalid syntax")))?;
            }
            other => return Err(bad(format!("invalid field key {other}"))),
        }
    }
    if attachment.target.is_empty() {
        return Err(bad("network name/id is not specified".to_owned()));
    }
    Ok(attachment)
}

/// Go's `net.ParseMAC`: 6, 8 or 20 bytes as `xx:xx…`, `xx-xx…` or `xxxx.xxxx…`.
fn is_mac(s: &str) -> bool {
    let hex =
        |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_hexdigit());
    let sized = |n: usize| matches!(n, 6 | 8 | 20);
    for separator in [':', '-'] {
        let parts: Vec<&str> = s.split(separator).collect();
        if parts.len() > 1 {
            return sized(parts.len()) && parts.iter().all(|p| hex(p, 2));
        }
    }
    let groups: Vec<&str> = s.split('.').collect();
    sized(groups.len() * 2) && groups.iter().all(|g| hex(g, 4))
}

/// `--network-alias`, `--link`, `--ip`, `--ip6`, `--link-local-ip` and
/// `--mac-address` apply to the first network, unless its long form already
/// says the same thing.
fn apply_container_flags(a: &mut Attachment, flags: &NetworkFlags) -> Result<(), OptionsError> {
    let conflict = |what: &str| invalid(format!("conflicting options: cannot specify both {what}"));
    if !a.aliases.is_empty() && !flags.network_alias.is_empty() {
        return Err(conflict("--network-alias and per-network alias"));
    }
    if !a.links.is_empty() && !flags.link.is_empty() {
        return Err(conflict("--link and per-network links"));
    }
    if a.ipv4.is_some() && flags.ip.is_some() {
        return Err(conflict("--ip and per-network IPv4 address"));
    }
    if a.ipv6.is_some() && flags.ip6.is_some() {
        return Err(conflict("--ip6 and per-network IPv6 address"));
    }
    if a.mac_address.is_some() && flags.mac_address.is_some() {
        return Err(conflict("--mac-address and per-network MAC address"));
    }
    if !a.link_local_ips.is_empty() && !flags.link_local_ip.is_empty() {
        return Err(conflict(
            "--link-local-ip and per-network link-local IP addresses",
        ));
    }
    if !flags.network_alias.is_empty() {
        a.aliases = flags.network_alias.clone();
    }
    // On a user-defined network a link is an alias of the endpoint; on the
    // default bridge it is a legacy link (HostConfig.Links only).
    if is_user_defined(&a.target) && !flags.link.is_empty() {
        a.links = flags.link.clone();
    }
    a.ipv4 = a.ipv4.take().or_else(|| flags.ip.clone());
    a.ipv6 = a.ipv6.take().or_else(|| flags.ip6.clone());
    a.mac_address = a.mac_address.take().or_else(|| flags.mac_address.clone());
    if !flags.link_local_ip.is_empty() {
        a.link_local_ips = flags.link_local_ip.clone();
    }
    Ok(())
}

fn endpoint(a: &Attachment) -> Result<EndpointSettings, OptionsError> {
    if a.target.trim().is_empty() {
        return Err(invalid("no name set for network"));
    }
    if !is_user_defined(&a.target) {
        if !a.aliases.is_empty() {
            return Err(invalid(
                "network-scoped aliases are only supported for user-defined networks",
            ));
        }
        if !a.links.is_empty() {
            return Err(invalid(
                "links are only supported for user-defined networks",
            ));
        }
    }
    let non_empty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let has_ipam = a.ipv4.is_some() || a.ipv6.is_some() || !a.link_local_ips.is_empty();
    if let Some(mac) = &a.mac_address {
        if !is_mac(mac.trim()) {
            return Err(invalid(format!("{mac} is not a valid mac address")));
        }
    }
    Ok(EndpointSettings {
        ipam_config: has_ipam.then(|| EndpointIpamConfig {
            ipv4_address: a.ipv4.clone(),
            ipv6_address: a.ipv6.clone(),
            link_local_ips: non_empty(&a.link_local_ips),
        }),
        links: non_empty(&a.links),
        aliases: non_empty(&a.aliases),
        driver_opts: (!a.driver_opts.is_empty()).then(|| a.driver_opts.clone()),
        gw_priority: (a.gw_priority != 0).then_some(a.gw_priority),
        mac_address: a.mac_address.clone(),
        ..Default::default()
    })
}

/// Go's `net.IP.String()`: an IPv4-mapped IPv6 address prints as IPv4.
fn canonical_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// docker's `ValidateDNSSearch`: `.` or a domain name, returned without its final dot.
fn validate_dns_search(value: &str) -> Result<String, String> {
    let value = value.trim_matches(' ');
    if value == "." {
        return Ok(value.to_owned());
    }
    let not_domain = || format!("{value} is not a valid domain");
    let name = value.trim_end();
    let name = name.strip_suffix('.').unwrap_or(name);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !value.chars().any(|c| c.is_ascii_alphabetic())
        || !name.split('.').all(label_ok)
        || name.len() >= 255
    {
        return Err(not_domain());
    }
    Ok(name.to_owned())
}

/// docker's `ValidateExtraHost`: `host:ip`, `host=ip`, brackets around the
/// address allowed, or the special `host-gateway`; sent as `host:ip`.
fn validate_extra_host(value: &str) -> Result<String, String> {
    let (host, address) = value
        .split_once('=')
        .or_else(|| value.split_once(':'))
        .filter(|(h, _)| !h.is_empty() && !h.contains(':'))
        .ok_or_else(|| format!("bad format for add-host: {value:?}"))?;
    if address != "host-gateway" {
        let bare = address
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .filter(|_| address.len() > 2)
            .unwrap_or(address);
        if bare.trim().parse::<IpAddr>().is_err() {
            return Err(format!("invalid IP address in add-host: {bare:?}"));
        }
        return Ok(format!("{host}:{bare}"));
    }
    Ok(format!("{host}:{address}"))
}

/// docker's `ValidateLink`: `NAME` or `NAME:ALIAS`.
fn validate_link(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("empty string specified for links".to_owned());
    }
    if value.splitn(3, ':').count() > 2 {
        return Err(format!("bad format for links: {value}"));
    }
    Ok(())
}

pub fn networking(flags: &NetworkFlags) -> Result<Networking, OptionsError> {
    let dns = flags
        .dns
        .iter()
        .map(|d| {
            d.trim().parse::<IpAddr>().map(canonical_ip).map_err(|_| {
                invalid_flag(
                    d,
                    "dns",
                    format!("IP address is not correctly formatted: {d}"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let dns_search = flags
        .dns_search
        .iter()
        .map(|d| validate_dns_search(d).map_err(|e| invalid_flag(d, "dns-search", e)))
        .collect::<Result<Vec<_>, _>>()?;
    let extra_hosts = flags
        .add_host
        .iter()
        .map(|h| validate_extra_host(h).map_err(|e| invalid_flag(h, "add-host", e)))
        .collect::<Result<Vec<_>, _>>()?;
    for link in &flags.link {
        validate_link(link).map_err(|e| invalid_flag(link, "link", e))?;
    }

    let attachments = flags
        .network
        .iter()
        .map(|n| parse_attachment(n))
        .collect::<Result<Vec<_>, _>>()?;
    let mut endpoints = HashMap::new();
    if attachments.is_empty() {
        let mut default = Attachment {
            target: "default".to_owned(),
            ..Default::default()
        };
        apply_container_flags(&mut default, flags)?;
        endpoints.insert("default".to_owned(), endpoint(&default)?);
    }
    let (mut user_defined, mut other) = (false, false);
    let only_one = attachments.len() == 1;
    for (i, mut attachment) in attachments.clone().into_iter().enumerate() {
        if is_user_defined(&attachment.target) {
            user_defined = true;
        } else {
            other = true;
        }
        if i == 0 {
            apply_container_flags(&mut attachment, flags)?;
        }
        let settings = endpoint(&attachment)?;
        if endpoints.contains_key(&attachment.target) {
            return Err(invalid(format!(
                "network {:?} is specified multiple times",
                attachment.target
            )));
        }
        // A single network without options of its own is left to the daemon.
        if i == 0 && only_one && settings == EndpointSettings::default() {
            continue;
        }
        endpoints.insert(attachment.target.clone(), settings);
    }
    if user_defined && other {
        return Err(invalid(
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes",
        ));
    }
    Ok(Networking {
        network_mode: attachments
            .first()
            .map_or_else(|| "default".to_owned(), |a| a.target.clone()),
        endpoints,
        dns,
        dns_search,
        extra_hosts,
        links: flags.link.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_network_syntax_is_recognised_as_docker_recognises_it() {
        assert!(is_long_syntax("name=web,alias=a"));
        assert!(!is_long_syntax("my-net"));
        assert!(!is_long_syntax("container:abc"));
        let a = parse_attachment("name=front,alias=Web,ip=10.1.0.5,driver-opt=k=v,gw-priority=3")
            .unwrap();
        assert_eq!(a.target, "front");
        assert_eq!(a.aliases, ["web"], "docker lowercases the fields");
        assert_eq!(a.ipv4.as_deref(), Some("10.1.0.5"));
        assert_eq!(a.driver_opts["k"], "v");
        assert_eq!(a.gw_priority, 3);
        assert_eq!(
            parse_attachment("alias=x").unwrap_err().to_string(),
            "invalid argument \"alias=x\" for \"--network\" flag: network name/id is not specified"
        );
        assert!(parse_attachment("name=x,bogus=1")
            .unwrap_err()
            .to_string()
            .ends_with("invalid field key bogus"));
    }

    #[test]
    fn mac_addresses_parse_like_go() {
        assert!(is_mac("92:d0:c6:0a:29:33"));
        assert!(is_mac("92-D0-C6-0A-29-33"));
        assert!(is_mac("92d0.c60a.2933"));
        assert!(!is_mac("92:d0:c6:0a:29"));
        assert!(!is_mac("zz:d0:c6:0a:29:33"));
        assert!(!is_mac(""));
    }

    #[test]
    fn dns_hosts_and_links_are_validated_like_docker() {
        assert_eq!(validate_dns_search("example.com.").unwrap(), "example.com");
        assert_eq!(validate_dns_search(".").unwrap(), ".");
        assert_eq!(
            validate_dns_search("123").unwrap_err(),
            "123 is not a valid domain"
        );
        assert!(validate_dns_search("-bad.com").is_err());
        assert_eq!(validate_extra_host("db:10.0.0.2").unwrap(), "db:10.0.0.2");
        assert_eq!(validate_extra_host("db=::1").unwrap(), "db:::1");
        assert_eq!(validate_extra_host("db=[::1]").unwrap(), "db:::1");
        assert_eq!(
            validate_extra_host("host.docker.internal:host-gateway").unwrap(),
            "host.docker.internal:host-gateway"
        );
        assert_eq!(
            validate_extra_host("nocolon").unwrap_err(),
            "bad format for add-host: \"nocolon\""
        );
        assert_eq!(
            validate_extra_host("db:notanip").unwrap_err(),
            "invalid IP address in add-host: \"notanip\""
        );
        assert!(validate_link("a:b").is_ok());
        assert_eq!(
            validate_link("a:b:c").unwrap_err(),
            "bad format for links: a:b:c"
        );
        assert_eq!(canonical_ip("0:0::1".parse().unwrap()), "::1");
        assert_eq!(canonical_ip("::ffff:1.2.3.4".parse().unwrap()), "1.2.3.4");
    }
}

#[cfg(test)]
mod body_tests {
    use serde_json::json;

    use crate::options::testing::body_of;

    /// The bodies docker 28 sends for the same flags (captured from its requests).
    #[test]
    fn networking_flags_fill_the_create_body_as_docker_does() {
        let body = body_of(&[
            "-p",
            "127.0.0.1:8080:80",
            "-p",
            "[::1]:8443:443/tcp",
            "-p",
            "53:53/udp",
            "--expose",
            "9000-9001",
            "-P",
            "--network",
            "front",
            "--network-alias",
            "web",
            "--ip",
            "10.5.0.9",
            "--mac-address",
            "92:d0:c6:0a:29:33",
            "--dns",
            "10.0.0.53",
            "--dns-search",
            "example.com",
            "--dns-option",
            "ndots:2",
            "--add-host",
            "db=10.0.0.2",
            "--add-host",
            "gw:host-gateway",
            "--link",
            "other:alias",
            "-h",
            "box",
            "--domainname",
            "example.org",
            "busybox",
        ]);
        let hc = &body["HostConfig"];
        assert_eq!(hc["NetworkMode"], "front");
        assert_eq!(hc["PublishAllPorts"], true);
        assert_eq!(
            hc["PortBindings"],
            json!({
                "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                "443/tcp": [{"HostIp": "::1", "HostPort": "8443"}],
                "53/udp": [{"HostIp": "", "HostPort": "53"}],
            })
        );
        assert_eq!(
            body["ExposedPorts"],
            json!({"80/tcp": {}, "443/tcp": {}, "53/udp": {}, "9000/tcp": {}, "9001/tcp": {}})
        );
        assert_eq!(hc["Dns"], json!(["10.0.0.53"]));
        assert_eq!(hc["DnsSearch"], json!(["example.com"]));
        assert_eq!(hc["DnsOptions"], json!(["ndots:2"]));
        assert_eq!(hc["ExtraHosts"], json!(["db:10.0.0.2", "gw:host-gateway"]));
        assert_eq!(hc["Links"], json!(["other:alias"]));
        assert_eq!(body["Hostname"], "box");
        assert_eq!(body["Domainname"], "example.org");
        assert!(body.get("MacAddress").is_none(), "the endpoint carries it");
        assert_eq!(
            body["NetworkingConfig"],
            json!({"EndpointsConfig": {"front": {
                "IPAMConfig": {"IPv4Address": "10.5.0.9"},
                "Links": ["other:alias"],
                "Aliases": ["web"],
                "MacAddress": "92:d0:c6:0a:29:33",
            }}})
        );
    }

    #[test]
    fn the_default_network_gets_an_empty_endpoint_and_a_bare_network_none() {
        let body = body_of(&["busybox"]);
        assert_eq!(body["HostConfig"]["NetworkMode"], "default");
        assert_eq!(
            body["NetworkingConfig"],
            json!({"EndpointsConfig": {"default": {}}})
        );
        assert_eq!(body["HostConfig"]["Dns"], json!([]));
        assert_eq!(body["HostConfig"]["PortBindings"], json!({}));
        assert!(body.get("ExposedPorts").is_none());
        let body = body_of(&["--net", "host", "busybox"]);
        assert_eq!(body["HostConfig"]["NetworkMode"], "host");
        assert_eq!(body["NetworkingConfig"], json!({"EndpointsConfig": {}}));
        // Several networks each get their endpoint; flags apply to the first.
        let body = body_of(&[
            "--network",
            "a",
            "--network",
            "name=b,alias=bee",
            "--network-alias",
            "ay",
            "busybox",
        ]);
        assert_eq!(
            body["NetworkingConfig"]["EndpointsConfig"],
            json!({"a": {"Aliases": ["ay"]}, "b": {"Aliases": ["bee"]}})
        );
    }

    #[test]
    fn conflicting_networking_flags_are_refused_with_dockers_messages() {
        use crate::options::testing::parse_run;
        use crate::options::{create_body, Environment};
        let refuse = |args: &[&str]| {
            let (detach, opts) = parse_run(args);
            let lookup = |_: &str| None;
            let env = Environment {
                lookup_env: &lookup,
                current_dir: std::path::Path::new("/"),
                console_size: None,
            };
            create_body(&opts, !detach, &env).unwrap_err().to_string()
        };
        assert_eq!(
            refuse(&["--network-alias", "x", "busybox"]),
            "network-scoped aliases are only supported for user-defined networks"
        );
        assert_eq!(
            refuse(&["--network", "host", "--network", "mine", "busybox"]),
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
        );
        assert_eq!(
            refuse(&["--network", "a", "--network", "a", "busybox"]),
            "network \"a\" is specified multiple times"
        );
        assert_eq!(
            refuse(&[
                "--network",
                "name=a,ip=10.0.0.2",
                "--ip",
                "10.0.0.3",
                "busybox"
            ]),
            "conflicting options: cannot specify both --ip and per-network IPv4 address"
        );
        assert_eq!(
            refuse(&["--mac-address", "nope", "busybox"]),
            "nope is not a valid mac address"
        );
        assert_eq!(
            refuse(&["--dns", "x", "busybox"]),
            "invalid argument \"x\" for \"--dns\" flag: IP address is not correctly formatted: x"
        );
        assert_eq!(
            refuse(&["-p", "80:80/xyz", "busybox"]),
            "invalid proto: xyz"
        );
    }
}
