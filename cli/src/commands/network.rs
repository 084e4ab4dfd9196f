//! `berth network create|ls|rm|prune|connect|disconnect` (inspect goes
//! through `inspect.rs`): the Engine API's `/networks` endpoints, with docker
//! 28's request bodies, output and exit statuses.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::IpAddr;

use bollard_stubs::models::{
    EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest,
    NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
};
use hyper::Method;
use serde_json::{json, Value};

use super::prune::confirm;
use super::ps::parse_filters;
use crate::client::query::{segment, Query};
use crate::client::Client;
use crate::error::CliError;
use crate::format::units::short_id;
use crate::format::Template;
use crate::network_args::{
    NetworkConnectArgs, NetworkCreateArgs, NetworkDisconnectArgs, NetworkLsArgs, NetworkPruneArgs,
    NetworkRmArgs,
};

const DEFAULT_FORMAT: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";
const RAW_FORMAT: &str =
    "network_id: {{.ID}}\\nname: {{.Name}}\\ndriver: {{.Driver}}\\nscope: {{.Scope}}\\n";

const HEADERS: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv4", "IPV4"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
];

/// docker's `MapOpts`: `KEY=VALUE`, or a bare `KEY` with an empty value.
pub(crate) fn key_values(values: &[String]) -> HashMap<String, String> {
    values
        .iter()
        .map(|v| match v.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (v.clone(), String::new()),
        })
        .collect()
}

/// An address with a prefix length, as Go's `net.ParseCIDR` reads it.
struct Cidr {
    network: IpAddr,
    bits: u8,
}

impl Cidr {
    fn parse(text: &str) -> Result<Cidr, String> {
        let bad = || format!("invalid CIDR address: {text}");
        let (address, bits) = text.split_once('/').ok_or_else(bad)?;
        let address: IpAddr = address.parse().map_err(|_| bad())?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let bits: u8 = bits
            .parse()
            .ok()
            .filter(|b| *b <= max && !bits.starts_with('+'))
            .ok_or_else(bad)?;
        Ok(Cidr {
            network: address,
            bits,
        })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let prefix = |a: u128, width: u32| {
            let shift = width - u32::from(self.bits);
            if shift >= 128 {
                0
            } else {
                a >> shift
            }
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                prefix(u32::from(n).into(), 32) == prefix(u32::from(i).into(), 32)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                prefix(u128::from(n), 128) == prefix(u128::from(i), 128)
            }
            _ => false,
        }
    }
}

/// docker's `subnetMatches`: does `subnet` contain the address (or the
/// address of the CIDR) `data`?
fn subnet_matches(subnet: &str, data: &str) -> Result<bool, String> {
    let subnet = Cidr::parse(subnet).map_err(|e| format!("invalid subnet: {e}"))?;
    let ip = if data.contains('/') {
        Some(Cidr::parse(data)?.network)
    } else {
        data.parse::<IpAddr>().ok()
    };
    Ok(ip.is_some_and(|ip| subnet.contains(ip)))
}

/// `--subnet`, `--ip-range`, `--gateway` and `--aux-address` grouped per
/// subnet, with docker's checks and messages.
fn ipam_config(args: &NetworkCreateArgs) -> Result<Ipam, String> {
    if args.subnet.len() < args.ip_range.len() || args.subnet.len() < args.gateway.len() {
        return Err("every ip-range or gateway must have a corresponding subnet".to_owned());
    }
    let mut configs: Vec<IpamConfig> = Vec::new();
    for s in &args.subnet {
        for existing in &configs {
            let k = existing.subnet.as_deref().unwrap_or("");
            if subnet_matches(s, k)? || subnet_matches(k, s)? {
                return Err("multiple overlapping subnet configuration is not supported".to_owned());
            }
        }
        configs.push(IpamConfig {
            subnet: Some(s.clone()),
            ..Default::default()
        });
    }
    for r in &args.ip_range {
        Cidr::parse(r)?;
        let mut matched = false;
        for config in configs.iter_mut() {
            let s = config.subnet.clone().unwrap_or_default();
            if !subnet_matches(&s, r)? {
                continue;
            }
            if let Some(existing) = &config.ip_range {
                return Err(format!(
                    "cannot configure multiple ranges ({r}, {existing}) on the same subnet ({s})"
                ));
            }
            config.ip_range = Some(r.clone());
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for range {r}"));
        }
    }
    for g in &args.gateway {
        let mut matched = false;
        for config in configs.iter_mut() {
            let s = config.subnet.clone().unwrap_or_default();
            if !subnet_matches(&s, g)? {
                continue;
            }
            if let Some(existing) = &config.gateway {
                return Err(format!(
                    "cannot configure multiple gateways ({g}, {existing}) for the same subnet ({s})"
                ));
            }
            config.gateway = Some(g.clone());
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for gateway {g}"));
        }
    }
    let aux: BTreeMap<String, String> = key_values(&args.aux_address).into_iter().collect();
    for (name, address) in aux {
        let mut matched = false;
        for config in configs.iter_mut() {
            let s = config.subnet.clone().unwrap_or_default();
            if subnet_matches(&s, &address)? {
                config
                    .auxiliary_addresses
                    .get_or_insert_with(HashMap::new)
                    .insert(name.clone(), address.clone());
                matched = true;
            }
        }
        if !matched {
            return Err(format!("no matching subnet for aux-address {address}"));
        }
    }
    Ok(Ipam {
        driver: Some(args.ipam_driver.clone()),
        config: Some(configs),
        options: Some(key_values(&args.ipam_opt)),
    })
}

pub fn create_request(args: &NetworkCreateArgs) -> Result<NetworkCreateRequest, CliError> {
    let ipam = ipam_config(args).map_err(|message| CliError::Status { code: 1, message })?;
    Ok(NetworkCreateRequest {
        name: args.name.clone(),
        driver: Some(args.driver.clone()),
        scope: args.scope.clone(),
        internal: Some(args.internal),
        attachable: Some(args.attachable),
        ingress: Some(args.ingress),
        config_only: Some(args.config_only),
        config_from: args.config_from.as_ref().map(|network| {
            bollard_stubs::models::ConfigReference {
                network: Some(network.clone()),
            }
        }),
        ipam: Some(ipam),
        enable_ipv4: args.ipv4,
        enable_ipv6: args.ipv6,
        options: Some(key_values(&args.opt)),
        labels: Some(key_values(&args.label)),
    })
}

pub async fn create(client: &mut Client, args: NetworkCreateArgs) -> Result<(), CliError> {
    let request = create_request(&args)?;
    let created: NetworkCreateResponse = client.post_json("/networks/create", &request).await?;
    if !created.warning.is_empty() {
        eprintln!("WARNING: {}", created.warning);
    }
    println!("{}", created.id);
    Ok(())
}

/// The format `ls` renders with: `-q` only changes the table default.
fn list_format(args: &NetworkLsArgs) -> &str {
    match args.format.as_deref() {
        None | Some("table") if args.quiet => "{{.ID}}",
        None | Some("table") => DEFAULT_FORMAT,
        Some("raw") if args.quiet => "network_id: {{.ID}}",
        Some("raw") => RAW_FORMAT,
        Some(other) => other,
    }
}

pub async fn ls(client: &mut Client, args: NetworkLsArgs) -> Result<(), CliError> {
    let template = Template::parse(list_format(&args))?;
    let path = format!(
        "/networks{}",
        Query::new().filters(&parse_filters(&args.filter)?).build()
    );
    let mut networks: Vec<Value> = client.get(&path).await?;
    networks.sort_by(|a, b| {
        natural_cmp(
            a["Name"].as_str().unwrap_or(""),
            b["Name"].as_str().unwrap_or(""),
        )
    });
    let rows: Vec<Value> = networks.iter().map(|n| row(n, !args.no_trunc)).collect();
    let text = template.render_rows(&rows, HEADERS)?;
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| CliError::io("writing the network list", e))
}

/// The fields docker's network formatter offers to templates.
pub fn row(network: &Value, trunc: bool) -> Value {
    let text = |key: &str| network[key].as_str().unwrap_or("").to_owned();
    let flag = |key: &str| network[key].as_bool().unwrap_or(false).to_string();
    let id = text("Id");
    let mut labels: Vec<String> = network["Labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    labels.sort();
    json!({
        "CreatedAt": go_time_of_rfc3339(&text("Created")),
        "Driver": text("Driver"),
        "ID": if trunc { short_id(&id).to_owned() } else { id },
        "IPv4": flag("EnableIPv4"),
        "IPv6": flag("EnableIPv6"),
        "Internal": flag("Internal"),
        "Labels": labels.join(","),
        "Name": text("Name"),
        "Scope": text("Scope"),
    })
}

/// Go's `time.Time.String()` of an RFC 3339 time as the API sends it
/// (`2024-01-02 15:04:05.123456789 +0000 UTC`); unparsable text as is.
fn go_time_of_rfc3339(text: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) else {
        return text.to_owned();
    };
    let nanos = t.timestamp_subsec_nanos();
    let fraction = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_owned()
    };
    let offset = t.format("%z").to_string();
    let zone = if offset == "+0000" && text.ends_with(['Z', 'z']) {
        "UTC".to_owned()
    } else {
        offset.clone()
    };
    format!(
        "{}{fraction} {offset} {zone}",
        t.format("%Y-%m-%d %H:%M:%S")
    )
}

/// The natural order docker sorts names in: digit runs compare as numbers.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let run = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (run(a), run(b));
                let trim = |s: &[u8]| {
                    let zeros = s.iter().take_while(|c| **c == b'0').count();
                    s[zeros.min(s.len().saturating_sub(1))..].to_vec()
                };
                let (da, db) = (trim(&a[..na]), trim(&b[..nb]));
                let order = da.len().cmp(&db.len()).then_with(|| da.cmp(&db));
                if order != Ordering::Equal {
                    return order;
                }
                (a, b) = (&a[na..], &b[nb..]);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

/// Each network in turn; a failure is reported and the others still go.
pub async fn rm(client: &mut Client, args: NetworkRmArgs) -> Result<(), CliError> {
    let mut failed = false;
    for name in &args.names {
        let path = format!("/networks/{}", segment(name));
        match client.call(Method::DELETE, &path, None).await {
            Ok(_) => println!("{name}"),
            Err(e) if args.force && e.is_not_found() => {}
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        // docker ends with its status error's text.
        return Err(CliError::Status {
            code: 1,
            message: "exit status 1".to_owned(),
        });
    }
    Ok(())
}

pub async fn prune(client: &mut Client, args: NetworkPruneArgs) -> Result<(), CliError> {
    let filters = parse_filters(&args.filter)?;
    if !args.force
        && !confirm(
            "WARNING! This will remove all custom networks not used by at least one container.",
        )?
    {
        return Ok(());
    }
    let path = format!("/networks/prune{}", Query::new().filters(&filters).build());
    let body = client.call(Method::POST, &path, None).await?;
    let report: Value = crate::client::decode(&path, &body)?;
    let deleted: Vec<&str> = report["NetworksDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !deleted.is_empty() {
        println!("Deleted Networks:\n{}\n", deleted.join("\n"));
    }
    Ok(())
}

pub fn connect_request(args: &NetworkConnectArgs) -> Result<NetworkConnectRequest, CliError> {
    let mut driver_opts = HashMap::new();
    for opt in &args.driver_opt {
        match opt.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                driver_opts.insert(k.trim().to_owned(), v.trim().to_owned());
            }
            _ => {
                return Err(CliError::Status {
                    code: 1,
                    message: "invalid key/value pair format in driver options".to_owned(),
                })
            }
        }
    }
    let non_empty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    Ok(NetworkConnectRequest {
        container: Some(args.container.clone()),
        endpoint_config: Some(EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: args.ip.clone(),
                ipv6_address: args.ip6.clone(),
                link_local_ips: non_empty(&args.link_local_ip),
            }),
            links: non_empty(&args.link),
            aliases: non_empty(&args.alias),
            driver_opts: Some(driver_opts),
            gw_priority: Some(args.gw_priority),
            ..Default::default()
        }),
    })
}

pub async fn connect(client: &mut Client, args: NetworkConnectArgs) -> Result<(), CliError> {
    let request = connect_request(&args)?;
    let path = format!("/networks/{}/connect", segment(&args.network));
    let body = serde_json::to_vec(&request).map_err(|e| CliError::Usage(e.to_string()))?;
    client.call(Method::POST, &path, Some(body)).await?;
    Ok(())
}

pub async fn disconnect(client: &mut Client, args: NetworkDisconnectArgs) -> Result<(), CliError> {
    let request = NetworkDisconnectRequest {
        container: Some(args.container.clone()),
        force: Some(args.force),
    };
    let path = format!("/networks/{}/disconnect", segment(&args.network));
    let body = serde_json::to_vec(&request).map_err(|e| CliError::Usage(e.to_string()))?;
    client.call(Method::POST, &path, Some(body)).await?;
    Ok(())
}

#[cfg(test)]
#[path = "network_tests.rs"]
mod tests;
