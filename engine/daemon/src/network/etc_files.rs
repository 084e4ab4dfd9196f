//! The container's `/etc/hosts` and `/etc/resolv.conf`, as Docker writes them once the
//! container's addresses are known (at each start).

use std::net::{IpAddr, Ipv4Addr};

/// What every container's hosts file starts with.
pub const HOSTS_BASE: &str = "127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
";

/// The embedded DNS server's address inside each container on a user-defined network.
pub const EMBEDDED_DNS: &str = "127.0.0.11";

/// Docker's fallback when the host has no name server a container can reach.
const FALLBACK_NAMESERVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// One `--add-host NAME:IP` (the IP may be `host-gateway`), in Docker's form.
pub fn parse_extra_host(entry: &str) -> Result<(String, String), String> {
    // `NAME=IP` (Docker 25+) or `NAME:IP`; an IPv6 address has colons of its own.
    let (name, ip) = entry
        .split_once('=')
        .or_else(|| entry.split_once(':'))
        .ok_or_else(|| format!("invalid extra host entry: \"{entry}\""))?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if name.is_empty() || (ip != "host-gateway" && ip.parse::<std::net::IpAddr>().is_err()) {
        return Err(format!("invalid IP address in add-host: \"{ip}\""));
    }
    Ok((name.to_string(), ip.to_string()))
}

/// What goes into a container's hosts file beyond [`HOSTS_BASE`].
#[derive(Debug, Default)]
pub struct Hosts<'a> {
    /// `--add-host` entries (`NAME:IP`), `host-gateway` already replaced.
    pub extra: Vec<(String, String)>,
    /// `--link` entries: the linked container's address and its names.
    pub links: Vec<(Ipv4Addr, Vec<String>)>,
    /// The container's own addresses on each of its networks, with its hostname (Docker
    /// writes a line per address: the IPv4 one, then the IPv6 one on IPv6 networks).
    pub own: Vec<(IpAddr, &'a str, &'a str)>,
}

impl Hosts<'_> {
    pub fn render(&self) -> String {
        let mut text = HOSTS_BASE.to_string();
        for (name, ip) in &self.extra {
            text.push_str(&format!("{ip}\t{name}\n"));
        }
        for (ip, names) in &self.links {
            text.push_str(&format!("{ip}\t{}\n", names.join(" ")));
        }
        for (ip, hostname, domainname) in &self.own {
            text.push_str(&own_line(*ip, hostname, domainname));
        }
        text
    }
}

/// The hosts line of a container's own address on one network, as [`Hosts::render`]
/// writes it.
pub fn own_line(ip: IpAddr, hostname: &str, domainname: &str) -> String {
    if domainname.is_empty() {
        format!("{ip}\t{hostname}\n")
    } else {
        format!("{ip}\t{hostname}.{domainname} {hostname}\n")
    }
}

/// The hosts file after `network connect`: the new address's line appended (as Docker's
/// `etchosts.Add`), unless it is there already.
pub fn hosts_with(text: &str, line: &str) -> String {
    if text.lines().any(|l| format!("{l}\n") == line) {
        return text.to_string();
    }
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(line);
    out
}

/// The hosts file after `network disconnect`: the departed address's line removed (as
/// Docker's `etchosts.Delete`, only the exact record, so `--add-host` lines stay).
pub fn hosts_without(text: &str, line: &str) -> String {
    text.split_inclusive('\n')
        .filter(|l| l.trim_end_matches('\n') != line.trim_end_matches('\n'))
        .collect()
}

/// Replaces a file that is bind-mounted into a running container. A rename would leave
/// the container on the old inode, so the bytes are rewritten in place, as Docker does:
/// one write from the start, then the length cut, then fsync. A reader racing it may see
/// a mix for that instant; the actor serializes the writers.
pub fn rewrite_in_place(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.write_all_at(content.as_bytes(), 0)?;
    file.set_len(content.len() as u64)?;
    file.sync_data()
}

/// The resolver settings a container asked for (`--dns`, `--dns-search`, `--dns-option`,
/// or the daemon's defaults for each).
#[derive(Debug, Default, Clone)]
pub struct DnsSettings {
    pub servers: Vec<String>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

fn is_loopback(ip: &str) -> bool {
    ip.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// `resolv.conf` for a container with a namespace of its own. `embedded`: it is on a
/// user-defined network, so its name server is the embedded DNS (which forwards what it
/// does not know to the servers the host, or `--dns`, names).
pub fn resolv_conf(host: &str, asked: &DnsSettings, embedded: bool) -> String {
    let mut servers = Vec::new();
    let mut search = Vec::new();
    let mut options = Vec::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => servers.extend(words.next().map(str::to_string)),
            Some("search") | Some("domain") => {
                search = words.map(str::to_string).collect();
            }
            Some("options") => options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    if !asked.search.is_empty() {
        // `--dns-search .` means no search domains.
        search = asked.search.iter().filter(|s| *s != ".").cloned().collect();
    }
    if !asked.options.is_empty() {
        options = asked.options.clone();
    }
    if embedded {
        servers = vec![EMBEDDED_DNS.to_string()];
        if !options.iter().any(|o| o.starts_with("ndots:")) {
            options.insert(0, "ndots:0".to_string());
        }
    } else if !asked.servers.is_empty() {
        servers = asked.servers.clone();
    } else {
        servers.retain(|s| !is_loopback(s));
        if servers.is_empty() {
            servers = FALLBACK_NAMESERVERS.iter().map(|s| s.to_string()).collect();
        }
    }
    let mut text = String::new();
    for server in servers {
        text.push_str(&format!("nameserver {server}\n"));
    }
    if !search.is_empty() {
        text.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        text.push_str(&format!("options {}\n", options.join(" ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str =
        "nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions edns0\n";

    #[test]
    fn default_bridge_drops_loopback_servers() {
        let text = resolv_conf(HOST, &DnsSettings::default(), false);
        assert_eq!(
            text,
            "nameserver 10.0.0.2\nsearch corp.example\noptions edns0\n"
        );
        let only_loopback = resolv_conf("nameserver 127.0.0.53\n", &DnsSettings::default(), false);
        assert_eq!(only_loopback, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }

    #[test]
    fn user_networks_point_at_the_embedded_dns() {
        let text = resolv_conf(HOST, &DnsSettings::default(), true);
        assert_eq!(
            text,
            "nameserver 127.0.0.11\nsearch corp.example\noptions ndots:0 edns0\n"
        );
    }

    #[test]
    fn asked_settings_replace_the_hosts() {
        let asked = DnsSettings {
            servers: vec!["10.9.9.9".into()],
            search: vec!["a.example".into()],
            options: vec!["ndots:2".into()],
        };
        let text = resolv_conf(HOST, &asked, false);
        assert_eq!(
            text,
            "nameserver 10.9.9.9\nsearch a.example\noptions ndots:2\n"
        );
    }

    #[test]
    fn hosts_file_lists_extra_hosts_links_and_self() {
        let hosts = Hosts {
            extra: vec![("db".into(), "10.0.0.5".into())],
            links: vec![("10.0.0.6".parse().unwrap(), vec!["w".into(), "web".into()])],
            own: vec![
                ("10.0.0.7".parse().unwrap(), "box", ""),
                ("10.1.0.7".parse().unwrap(), "box", "corp"),
                ("fd00:1::7".parse().unwrap(), "box", "corp"),
            ],
        };
        let text = hosts.render();
        assert!(text.starts_with(HOSTS_BASE));
        assert!(text
            .ends_with("10.0.0.5\tdb\n10.0.0.6\tw web\n10.0.0.7\tbox\n10.1.0.7\tbox.corp box\nfd00:1::7\tbox.corp box\n"));
    }

    #[test]
    fn connect_appends_and_disconnect_removes_only_the_own_line() {
        let start = format!("{HOSTS_BASE}10.0.0.5\tbox\n10.9.0.1\tbox\n");
        let line = own_line("10.1.0.7".parse().unwrap(), "box", "");
        let joined = hosts_with(&start, &line);
        assert_eq!(joined, format!("{start}10.1.0.7\tbox\n"));
        assert_eq!(hosts_with(&joined, &line), joined);
        assert_eq!(hosts_without(&joined, &line), start);
        let first = own_line("10.0.0.5".parse().unwrap(), "box", "");
        assert_eq!(
            hosts_without(&joined, &first),
            format!("{HOSTS_BASE}10.9.0.1\tbox\n10.1.0.7\tbox\n")
        );
    }

    #[test]
    fn rewriting_in_place_keeps_the_inode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        std::fs::write(&path, "a much longer first content\n").unwrap();
        let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
        rewrite_in_place(&path, "short\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "short\n");
        let after = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
        assert_eq!(inode, after);
    }

    #[test]
    fn extra_hosts_parse_both_forms() {
        assert_eq!(
            parse_extra_host("gw:host-gateway").unwrap(),
            ("gw".to_string(), "host-gateway".to_string())
        );
        assert_eq!(
            parse_extra_host("v6=::1").unwrap(),
            ("v6".to_string(), "::1".to_string())
        );
        assert!(parse_extra_host("x:nope").is_err());
    }
}
