//! `berth port` (from the container's NetworkSettings.Ports) and the PORTS
//! column of `ps`, both with docker 28's text.

use std::io::Write;

use bollard_stubs::models::Port;
use serde_json::Value;

use super::network::natural_cmp;
use crate::client::query::segment;
use crate::client::Client;
use crate::error::CliError;
use crate::network_args::PortArgs;

/// Go's `net.JoinHostPort`: IPv6 hosts go in brackets.
fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The lines `berth port` prints for an inspect document, or docker's error.
pub fn port_lines(
    inspect: &Value,
    container: &str,
    wanted: Option<&str>,
) -> Result<Vec<String>, String> {
    let ports = &inspect["NetworkSettings"]["Ports"];
    let frontends = |key: &str| -> Vec<String> {
        ports[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                join_host_port(
                    f["HostIp"].as_str().unwrap_or(""),
                    f["HostPort"].as_str().unwrap_or(""),
                )
            })
            .collect()
    };
    let mut out = match wanted {
        Some(spec) => {
            let (port, proto) = spec.split_once('/').unwrap_or((spec, ""));
            let proto = if proto.is_empty() { "tcp" } else { proto };
            if port.parse::<u16>().is_err() {
                let reason = if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                    "invalid syntax"
                } else {
                    "value out of range"
                };
                return Err(format!(
                    "Error: invalid port ({port}): strconv.ParseUint: parsing {port:?}: {reason}"
                ));
            }
            let found = frontends(&format!("{port}/{proto}"));
            if found.is_empty() {
                return Err(format!(
                    "Error: No public port '{spec}' published for {container}"
                ));
            }
            found
        }
        None => ports
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(from, _)| {
                frontends(from)
                    .into_iter()
                    .map(move |to| format!("{from} -> {to}"))
            })
            .collect(),
    };
    out.sort_by(|a, b| natural_cmp(a, b));
    Ok(out)
}

pub async fn port(client: &mut Client, args: PortArgs) -> Result<(), CliError> {
    let inspect: Value = client
        .get(&format!("/containers/{}/json", segment(&args.container)))
        .await?;
    let lines = port_lines(&inspect, &args.container, args.port.as_deref())
        .map_err(|message| CliError::Status { code: 1, message })?;
    if lines.is_empty() {
        return Ok(());
    }
    let mut text = lines.join("\n");
    text.push('\n');
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| CliError::io("writing the port list", e))
}

/// docker's `DisplayablePorts`: consecutive ports of one protocol (and one
/// host address, published on the same number) collapse into ranges;
/// ports published elsewhere follow as `IP:PUBLIC->PRIVATE/PROTO`.
pub fn display_ports(ports: &[Port]) -> String {
    let ip = |p: &Port| p.ip.clone().unwrap_or_default();
    let proto = |p: &Port| p.typ.map(|t| t.to_string()).unwrap_or_default();
    let mut sorted: Vec<&Port> = ports.iter().collect();
    sorted.sort_by(|a, b| {
        a.private_port
            .cmp(&b.private_port)
            .then_with(|| ip(a).cmp(&ip(b)))
            .then_with(|| a.public_port.unwrap_or(0).cmp(&b.public_port.unwrap_or(0)))
            .then_with(|| proto(a).cmp(&proto(b)))
    });
    // Groups by key ("tcp", or "IP/tcp"), in the order their keys appeared.
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for port in sorted {
        let current = port.private_port;
        let public = port.public_port.unwrap_or(0);
        let mut key = proto(port);
        if !ip(port).is_empty() {
            if public != current {
                host_mappings.push(format!(
                    "{}->{current}/{}",
                    join_host_port(&ip(port), &public.to_string()),
                    proto(port)
                ));
                continue;
            }
            key = format!("{}/{key}", ip(port));
        }
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            None => groups.push((key, current, current)),
            Some(group) if current == group.2.wrapping_add(1) => group.2 = current,
            Some(group) => {
                result.push(form_group(&group.0, group.1, group.2));
                (group.1, group.2) = (current, current);
            }
        }
    }
    result.extend(
        groups
            .iter()
            .map(|(k, first, last)| form_group(k, *first, *last)),
    );
    result.extend(host_mappings);
    result.join(", ")
}

fn form_group(key: &str, first: u16, last: u16) -> String {
    let (ip, proto) = match key.rsplit_once('/') {
        Some((ip, proto)) => (ip, proto),
        None => ("", key),
    };
    let mut group = first.to_string();
    if first != last {
        group = format!("{group}-{last}");
    }
    if !ip.is_empty() {
        group = format!("{}->{group}", join_host_port(ip, &group));
    }
    format!("{group}/{proto}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ports(list: Value) -> Vec<Port> {
        serde_json::from_value(list).unwrap()
    }

    /// Cases and expected text from docker/cli v28's TestDisplayablePorts.
    #[test]
    fn ps_ports_read_as_docker_prints_them() {
        for (list, expected) in [
            (json!([{"PrivatePort": 9988, "Type": "tcp"}]), "9988/tcp"),
            (
                json!([{"IP": "0.0.0.0", "PrivatePort": 9988, "Type": "tcp"}]),
                "0.0.0.0:0->9988/tcp",
            ),
            (
                json!([{"IP": "::", "PrivatePort": 9988, "Type": "tcp"}]),
                "[::]:0->9988/tcp",
            ),
            (
                json!([{"PrivatePort": 9988, "PublicPort": 8899, "Type": "tcp"}]),
                "9988/tcp",
            ),
            (
                json!([{"IP": "::1", "PrivatePort": 9988, "PublicPort": 8899, "Type": "tcp"}]),
                "[::1]:8899->9988/tcp",
            ),
            (
                json!([{"IP": "4.3.2.1", "PrivatePort": 9988, "PublicPort": 9988, "Type": "tcp"}]),
                "4.3.2.1:9988->9988/tcp",
            ),
            (
                json!([{"PrivatePort": 9988, "Type": "udp"}, {"PrivatePort": 9988, "Type": "udp"}]),
                "9988/udp, 9988/udp",
            ),
            (
                json!([{"IP": "1.2.3.4", "PublicPort": 9998, "PrivatePort": 9998, "Type": "udp"},
                       {"IP": "1.2.3.4", "PublicPort": 9999, "PrivatePort": 9999, "Type": "udp"}]),
                "1.2.3.4:9998-9999->9998-9999/udp",
            ),
            (
                json!([{"IP": "::1", "PublicPort": 9998, "PrivatePort": 9998, "Type": "udp"},
                       {"IP": "::1", "PublicPort": 9999, "PrivatePort": 9999, "Type": "udp"}]),
                "[::1]:9998-9999->9998-9999/udp",
            ),
            (
                json!([{"IP": "1.2.3.4", "PublicPort": 8887, "PrivatePort": 9998, "Type": "udp"},
                       {"IP": "1.2.3.4", "PublicPort": 8888, "PrivatePort": 9999, "Type": "udp"}]),
                "1.2.3.4:8887->9998/udp, 1.2.3.4:8888->9999/udp",
            ),
            (
                json!([{"PrivatePort": 9998, "Type": "udp"}, {"PrivatePort": 9999, "Type": "udp"}]),
                "9998-9999/udp",
            ),
            (
                json!([{"IP": "1.2.3.4", "PrivatePort": 6677, "PublicPort": 7766, "Type": "tcp"},
                       {"PrivatePort": 9988, "PublicPort": 8899, "Type": "udp"}]),
                "9988/udp, 1.2.3.4:7766->6677/tcp",
            ),
            (
                json!([{"IP": "1.2.3.4", "PrivatePort": 9988, "PublicPort": 8899, "Type": "udp"},
                       {"IP": "1.2.3.4", "PrivatePort": 9988, "PublicPort": 8899, "Type": "tcp"},
                       {"IP": "4.3.2.1", "PrivatePort": 2233, "PublicPort": 3322, "Type": "tcp"},
                       {"IP": "::1", "PrivatePort": 2233, "PublicPort": 3322, "Type": "tcp"}]),
                "4.3.2.1:3322->2233/tcp, [::1]:3322->2233/tcp, 1.2.3.4:8899->9988/tcp, 1.2.3.4:8899->9988/udp",
            ),
            (
                json!([{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                       {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}]),
                "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp",
            ),
        ] {
            assert_eq!(display_ports(&ports(list.clone())), expected, "{list}");
        }
    }

    fn inspect() -> Value {
        json!({"NetworkSettings": {"Ports": {
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
            "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
            "9000/tcp": null,
        }}})
    }

    #[test]
    fn port_lists_every_mapping_sorted_like_docker() {
        assert_eq!(
            port_lines(&inspect(), "web", None).unwrap(),
            [
                "53/udp -> 127.0.0.1:5353",
                "80/tcp -> 0.0.0.0:8080",
                "80/tcp -> [::]:8080"
            ]
        );
        assert_eq!(
            port_lines(&inspect(), "web", Some("80")).unwrap(),
            ["0.0.0.0:8080", "[::]:8080"]
        );
        assert_eq!(
            port_lines(&inspect(), "web", Some("53/udp")).unwrap(),
            ["127.0.0.1:5353"]
        );
    }

    #[test]
    fn port_errors_are_dockers() {
        assert_eq!(
            port_lines(&inspect(), "web", Some("9000")).unwrap_err(),
            "Error: No public port '9000' published for web"
        );
        assert_eq!(
            port_lines(&inspect(), "web", Some("53")).unwrap_err(),
            "Error: No public port '53' published for web"
        );
        assert_eq!(
            port_lines(&inspect(), "web", Some("http")).unwrap_err(),
            "Error: invalid port (http): strconv.ParseUint: parsing \"http\": invalid syntax"
        );
        assert_eq!(
            port_lines(&inspect(), "web", Some("70000/tcp")).unwrap_err(),
            "Error: invalid port (70000): strconv.ParseUint: parsing \"70000\": value out of range"
        );
        assert!(port_lines(&json!({}), "web", None).unwrap().is_empty());
    }
}
