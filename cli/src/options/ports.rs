//! `-p/--publish` and `--expose` → Config.ExposedPorts and
//! HostConfig.PortBindings, parsed as docker 28's client parses them (its
//! `nat.ParsePortSpecs` of go-connections 0.6, with the same error texts).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use bollard_stubs::models::PortBinding;

use super::OptionsError;

/// A host address and port (either may be empty: any address, any port).
type HostBinding = (String, String);

/// Exposed ports (`80/tcp`) and, per port, its host bindings in the order given.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ports {
    pub exposed: BTreeSet<String>,
    pub bindings: BTreeMap<String, Vec<HostBinding>>,
}

impl Ports {
    pub fn exposed_ports(&self) -> Option<Vec<String>> {
        (!self.exposed.is_empty()).then(|| self.exposed.iter().cloned().collect())
    }

    /// The PortMap docker sends (always, empty when nothing is published):
    /// host IP and port present, `""` when not given.
    pub fn port_bindings(&self) -> bollard_stubs::models::PortMap {
        self.bindings
            .iter()
            .map(|(port, bindings)| {
                let list = bindings
                    .iter()
                    .map(|(ip, host_port)| PortBinding {
                        host_ip: Some(ip.clone()),
                        host_port: Some(host_port.clone()),
                    })
                    .collect();
                (port.clone(), Some(list))
            })
            .collect()
    }
}

fn invalid(message: impl Into<String>) -> OptionsError {
    OptionsError::Port(message.into())
}

/// Go's `strconv.ParseUint(s, 10, 16)` and its error text.
fn parse_u16(s: &str) -> Result<u16, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseUint: parsing {s:?}: invalid syntax"));
    }
    s.parse::<u16>()
        .map_err(|_| format!("strconv.ParseUint: parsing {s:?}: value out of range"))
}

/// `8000` or `8000-9000` (anything after a second `-` is ignored, as in Go).
pub fn parse_port_range(ports: &str) -> Result<(u16, u16), String> {
    if ports.is_empty() {
        return Err("empty string specified for ports".to_owned());
    }
    let Some((start, rest)) = ports.split_once('-') else {
        let port = parse_u16(ports)?;
        return Ok((port, port));
    };
    let end = rest.split('-').next().unwrap_or(rest);
    let start = parse_u16(start)?;
    let end = parse_u16(end)?;
    if end < start {
        return Err(format!("invalid range specified for port: {ports}"));
    }
    Ok((start, end))
}

/// `80/udp` → ("udp", "80"); a missing protocol is tcp; no port gives two empties.
pub fn split_proto_port(raw: &str) -> (String, &str) {
    let (port, proto) = raw.split_once('/').unwrap_or((raw, ""));
    if port.is_empty() {
        return (String::new(), "");
    }
    let proto = if proto.is_empty() { "tcp" } else { proto };
    (proto.to_owned(), port)
}

fn validate_proto(proto: &str) -> Result<(), OptionsError> {
    match proto {
        "tcp" | "udp" | "sctp" => Ok(()),
        _ => Err(invalid(format!("invalid proto: {proto}"))),
    }
}

/// `[IP:][HOSTPORT:]CONTAINERPORT`: an IPv6 address may be bare or in brackets,
/// so only the last two colons separate.
fn split_parts(raw: &str) -> (String, &str, &str) {
    let parts: Vec<&str> = raw.split(':').collect();
    match parts.as_slice() {
        [container] => (String::new(), "", container),
        [host, container] => (String::new(), host, container),
        [ip, host, container] => ((*ip).to_owned(), host, container),
        _ => {
            let n = parts.len();
            (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1])
        }
    }
}

/// One `-p` value → its (container port, (host ip, host port)) mappings.
fn parse_port_spec(raw: &str) -> Result<Vec<(String, HostBinding)>, OptionsError> {
    let (mut ip, host_port, container_port) = split_parts(raw);
    let (proto, container_port) = split_proto_port(container_port);
    let proto = proto.to_lowercase();
    validate_proto(&proto)?;
    if let Some(inner) = ip.strip_prefix('[') {
        // Go's net.SplitHostPort(ip + ":"): the brackets must close at the end.
        ip = inner
            .strip_suffix(']')
            .filter(|i| !i.contains(['[', ']']))
            .map(str::to_owned)
            .ok_or_else(|| {
                invalid(format!(
                    "invalid IP address {ip}: address {ip}:: missing ']' in address"
                ))
            })?;
    }
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(invalid(format!("invalid IP address: {ip}")));
    }
    if container_port.is_empty() {
        return Err(invalid(format!("no port specified: {raw}<empty>")));
    }
    let (start, end) = parse_port_range(container_port)
        .map_err(|_| invalid(format!("invalid containerPort: {container_port}")))?;
    let (mut host_start, mut host_end) = (0u16, 0u16);
    if !host_port.is_empty() {
        (host_start, host_end) = parse_port_range(host_port)
            .map_err(|_| invalid(format!("invalid hostPort: {host_port}")))?;
        // A host range for a single container port is the range to allocate from.
        if end - start != host_end - host_start && end != start {
            return Err(invalid(format!(
                "invalid ranges specified for container and host Ports: {container_port} and {host_port}"
            )));
        }
    }
    let count = u32::from(end - start) + 1;
    Ok((0..count)
        .map(|i| {
            let port = format!("{}/{proto}", u32::from(start) + i);
            let host = if host_port.is_empty() {
                String::new()
            } else if count == 1 && host_start != host_end {
                format!("{host_start}-{host_end}")
            } else {
                (u32::from(host_start) + i).to_string()
            };
            (port, (ip.clone(), host))
        })
        .collect())
}

/// docker's long form `published=8080,target=80[,protocol=udp]` → `8080:80/udp`.
fn standard_notation(publish: &str) -> Result<String, OptionsError> {
    if !publish.contains('=') {
        return Ok(publish.to_owned());
    }
    let mut params: BTreeMap<&str, &str> = BTreeMap::from([("protocol", "tcp")]);
    for param in publish.split(',') {
        match param.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                params.insert(k, v);
            }
            _ => {
                return Err(invalid(format!(
                    "invalid publish opts format (should be name=value but got '{param}')"
                )))
            }
        }
    }
    let get = |k: &str| params.get(k).copied().unwrap_or("");
    Ok(format!(
        "{}:{}/{}",
        get("published"),
        get("target"),
        get("protocol")
    ))
}

/// All `-p` and `--expose` values of one create.
pub fn parse_ports(publish: &[String], expose: &[String]) -> Result<Ports, OptionsError> {
    let mut ports = Ports::default();
    for spec in publish {
        for (port, binding) in parse_port_spec(&standard_notation(spec)?)? {
            ports.exposed.insert(port.clone());
            ports.bindings.entry(port).or_default().push(binding);
        }
    }
    for spec in expose {
        if spec.contains(':') {
            return Err(invalid(format!("invalid port format for --expose: {spec}")));
        }
        let (proto, port) = split_proto_port(spec);
        let (start, end) = parse_port_range(port).map_err(|e| {
            invalid(format!(
                "invalid range format for --expose: {spec}, error: {e}"
            ))
        })?;
        for p in start..=end {
            ports.exposed.insert(format!("{p}/{proto}"));
        }
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(publish: &[&str]) -> Result<Ports, String> {
        let publish: Vec<String> = publish.iter().map(|s| s.to_string()).collect();
        parse_ports(&publish, &[]).map_err(|e| e.to_string())
    }

    fn bindings(ports: &Ports, port: &str) -> Vec<(String, String)> {
        ports.bindings[port].clone()
    }

    fn pair(ip: &str, port: &str) -> (String, String) {
        (ip.to_owned(), port.to_owned())
    }

    /// The cases of go-connections' TestParsePortSpecs and TestParsePortSpecsWithRange.
    #[test]
    fn specs_parse_as_go_connections_parses_them() {
        let p = parse(&["1234/tcp", "2345/udp", "3456/sctp"]).unwrap();
        assert_eq!(
            p.exposed,
            ["1234/tcp", "2345/udp", "3456/sctp"]
                .map(String::from)
                .into()
        );
        assert_eq!(bindings(&p, "1234/tcp"), [pair("", "")]);

        let p = parse(&["1234:1234/tcp", "2345:2345/udp", "3456:3456/sctp"]).unwrap();
        assert_eq!(bindings(&p, "2345/udp"), [pair("", "2345")]);

        let p = parse(&["0.0.0.0:1234:5678/tcp", "[::1]:8080:80", "::1:8081:81"]).unwrap();
        assert_eq!(bindings(&p, "5678/tcp"), [pair("0.0.0.0", "1234")]);
        assert_eq!(bindings(&p, "80/tcp"), [pair("::1", "8080")]);
        assert_eq!(bindings(&p, "81/tcp"), [pair("::1", "8081")]);

        let p = parse(&["1234-1236/tcp", "0.0.0.0:2000-2002:3000-3002/udp"]).unwrap();
        assert_eq!(p.exposed.len(), 6);
        assert_eq!(bindings(&p, "1235/tcp"), [pair("", "")]);
        assert_eq!(bindings(&p, "3001/udp"), [pair("0.0.0.0", "2001")]);

        // A host range for one container port is where the daemon picks from.
        let p = parse(&["8000-8010:80"]).unwrap();
        assert_eq!(bindings(&p, "80/tcp"), [pair("", "8000-8010")]);

        // Two bindings of one port, kept in order; the protocol is lowered.
        let p = parse(&["127.0.0.1:8080:80", "8081:80", "53:53/UDP"]).unwrap();
        assert_eq!(
            bindings(&p, "80/tcp"),
            [pair("127.0.0.1", "8080"), pair("", "8081")]
        );
        assert!(p.exposed.contains("53/udp"));

        let p = parse(&["published=8080,target=80,protocol=udp"]).unwrap();
        assert_eq!(bindings(&p, "80/udp"), [pair("", "8080")]);
    }

    #[test]
    fn bad_specs_get_dockers_errors() {
        for (spec, message) in [
            ("localhost:1234:5678", "invalid IP address: localhost"),
            ("0.0.0.0:1234:80/xyz", "invalid proto: xyz"),
            ("abc", "invalid containerPort: abc"),
            ("0.0.0.0:abc:80", "invalid hostPort: abc"),
            ("99999", "invalid containerPort: 99999"),
            ("8080:", "invalid proto: "),
            ("1:2:3:4:5:80/", "invalid IP address: 1:2:3:4"),
            (
                "1234-1236:80-81",
                "invalid ranges specified for container and host Ports: 80-81 and 1234-1236",
            ),
            (
                "[::1:8080:80",
                "invalid IP address [::1: address [::1:: missing ']' in address",
            ),
            ("90-80", "invalid containerPort: 90-80"),
            (
                "published=8080,target",
                "invalid publish opts format (should be name=value but got 'target')",
            ),
        ] {
            assert_eq!(parse(&[spec]).unwrap_err(), message, "{spec}");
        }
    }

    #[test]
    fn expose_adds_exposed_ports_only() {
        let expose = ["80", "90-92/udp", "7000/sctp"].map(String::from);
        let p = parse_ports(&["8080:80".into()], &expose).unwrap();
        assert_eq!(
            p.exposed,
            ["7000/sctp", "80/tcp", "90/udp", "91/udp", "92/udp"]
                .map(String::from)
                .into()
        );
        assert_eq!(p.bindings.len(), 1);
        let error = |spec: &str| {
            parse_ports(&[], &[spec.to_owned()])
                .unwrap_err()
                .to_string()
        };
        assert_eq!(error("80:80"), "invalid port format for --expose: 80:80");
        assert_eq!(
            error("8x"),
            "invalid range format for --expose: 8x, error: strconv.ParseUint: parsing \"8x\": invalid syntax"
        );
    }
}
