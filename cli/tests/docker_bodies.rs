//! berth's request bodies against the real docker CLI's: both clients talk
//! to one recording stand-in daemon on a unix socket, for the same flags,
//! and the networking parts of what they send must be the same. Needs no
//! berthd and no root; skipped when no `docker` binary is installed.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::Value;

#[derive(Clone, Debug)]
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

/// A daemon that answers what `create` and `network …` need and records
/// every request.
struct StandIn {
    dir: tempfile::TempDir,
    requests: Arc<Mutex<Vec<Request>>>,
}

fn reply(request: &Request) -> (u16, &'static str) {
    let path = request.path.split('?').next().unwrap_or("");
    let path =
        path.trim_start_matches(|c: char| c == '/' || c == 'v' || c.is_ascii_digit() || c == '.');
    match (request.method.as_str(), path) {
        (_, "_ping") => (200, "OK"),
        ("POST", "containers/create") => (201, r#"{"Id":"c0ffee","Warnings":[]}"#),
        ("POST", "networks/create") => (201, r#"{"Id":"n0ffee","Warning":""}"#),
        ("POST", p) if p.ends_with("/connect") || p.ends_with("/disconnect") => (200, ""),
        _ => (404, r#"{"message":"not in the stand-in"}"#),
    }
}

fn serve(stream: UnixStream, log: Arc<Mutex<Vec<Request>>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the connection"));
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
            return;
        };
        let (method, path) = (method.to_owned(), path.to_owned());
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request = Request { method, path, body };
        let (status, text) = reply(&request);
        log.lock().unwrap().push(request.clone());
        let body = if request.method == "HEAD" { "" } else { text };
        let head = format!(
            "HTTP/1.1 {status} X\r\nApi-Version: 1.49\r\nOstype: linux\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            if request.method == "HEAD" { 0 } else { text.len() }
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(body.as_bytes()).is_err()
        {
            return;
        }
    }
}

impl StandIn {
    fn start() -> StandIn {
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(dir.path().join("d.sock")).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || serve(stream, log));
            }
        });
        StandIn { dir, requests }
    }

    fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("d.sock").display())
    }

    /// The body of the last request whose path contains `needle`.
    fn take_body(&self, needle: &str) -> Value {
        let mut requests = self.requests.lock().unwrap();
        let found = requests
            .iter()
            .rev()
            .find(|r| r.path.contains(needle))
            .unwrap_or_else(|| panic!("no request for {needle}: {requests:?}"))
            .clone();
        requests.clear();
        serde_json::from_slice(&found.body).unwrap()
    }
}

fn docker_binary() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join("docker"))
        .find(|p| p.is_file())
}

fn docker(standin: &StandIn, config: &Path, args: &[&str]) -> Output {
    Command::new(docker_binary().unwrap())
        .args(args)
        .env("DOCKER_HOST", standin.host())
        .env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap()
}

fn berth(standin: &StandIn, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("-H")
        .arg(standin.host())
        .args(args)
        .env_remove("BERTH_HOST")
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap()
}

/// Drops what Go sends as zero values (null, "", 0, false, []) so that only
/// what was asked for is compared; empty objects stay (ExposedPorts uses them).
fn meaningful(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Bool(false) => None,
        Value::String(s) if s.is_empty() => None,
        Value::Number(n) if n.as_f64() == Some(0.0) => None,
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) => Some(Value::Array(items.iter().filter_map(meaningful).collect())),
        Value::Object(map) => Some(Value::Object(
            map.iter()
                .filter_map(|(k, v)| meaningful(v).map(|v| (k.clone(), v)))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

/// The networking parts of a create body.
fn networking(body: &Value) -> Value {
    let pick = |from: &Value, keys: &[&str]| -> Value {
        keys.iter()
            .filter_map(|k| {
                from.get(*k)
                    .and_then(meaningful)
                    .map(|v| (k.to_string(), v))
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    serde_json::json!({
        "Config": pick(body, &["Hostname", "Domainname", "ExposedPorts", "MacAddress"]),
        "HostConfig": pick(&body["HostConfig"], &[
            "NetworkMode", "PortBindings", "PublishAllPorts", "Dns", "DnsSearch",
            "DnsOptions", "ExtraHosts", "Links",
        ]),
        "NetworkingConfig": meaningful(&body["NetworkingConfig"]),
    })
}

fn with_docker(test: impl FnOnce(&StandIn, &Path)) {
    if docker_binary().is_none() {
        eprintln!("skipped: no docker CLI installed to compare with");
        return;
    }
    let standin = StandIn::start();
    let config = tempfile::tempdir().unwrap();
    test(&standin, config.path());
}

#[test]
fn create_bodies_carry_the_same_networking_as_dockers() {
    with_docker(|standin, config| {
        let cases: &[&[&str]] = &[
            &[
                "-p",
                "127.0.0.1:8080:80",
                "-p",
                "8443:443/udp",
                "-p",
                "9000-9001:9000-9001",
                "-p",
                "[::1]:8081:81",
                "-p",
                "82",
                "-p",
                "7000-7010:83",
                "--expose",
                "7000-7001/tcp",
                "-P",
                "--network",
                "front",
                "--network-alias",
                "web",
                "--ip",
                "10.5.0.9",
                "--ip6",
                "fd00::9",
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
                "--add-host",
                "six=[::1]",
                "--link",
                "other:alias",
                "-h",
                "box",
                "--domainname",
                "example.org",
                "busybox",
            ],
            &["busybox"],
            &["--network", "host", "busybox"],
            &["--net", "none", "busybox"],
            &[
                "--network",
                "name=a,alias=x,ip=10.1.0.2",
                "--network",
                "b",
                "busybox",
            ],
            &[
                "--link",
                "db",
                "--mac-address",
                "92:d0:c6:0a:29:34",
                "busybox",
            ],
            &["-p", "published=8080,target=80,protocol=udp", "busybox"],
        ];
        for args in cases {
            let mut argv = vec!["create"];
            argv.extend_from_slice(args);
            let out = docker(standin, config, &argv);
            assert!(
                out.status.success(),
                "docker {argv:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let theirs = networking(&standin.take_body("/containers/create"));
            let out = berth(standin, &argv);
            assert!(
                out.status.success(),
                "berth {argv:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let ours = networking(&standin.take_body("/containers/create"));
            assert_eq!(ours, theirs, "for {argv:?}");
        }
    });
}

#[test]
fn bad_networking_flags_read_as_dockers() {
    with_docker(|standin, config| {
        for args in [
            &["create", "-p", "80:80/xyz", "busybox"][..],
            &["create", "-p", "localhost:80:80", "busybox"],
            &["create", "-p", "1-3:80-81", "busybox"],
            &["create", "--expose", "80:80", "busybox"],
            &["create", "--network-alias", "x", "busybox"],
            &["create", "--mac-address", "nope", "busybox"],
            &[
                "create",
                "--network",
                "host",
                "--network",
                "mine",
                "busybox",
            ],
        ] {
            let theirs = docker(standin, config, args);
            let ours = berth(standin, args);
            assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
            let first = |o: &Output| {
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .replace("docker", "berth")
            };
            assert_eq!(first(&ours), first(&theirs), "{args:?}");
        }
    });
}

#[test]
fn network_bodies_are_dockers() {
    with_docker(|standin, config| {
        let create = [
            "network",
            "create",
            "--subnet",
            "10.7.0.0/16",
            "--gateway",
            "10.7.0.254",
            "--ip-range",
            "10.7.1.0/24",
            "--aux-address",
            "router=10.7.0.2",
            "--internal",
            "--attachable",
            "--ipv6",
            "--label",
            "team=web",
            "-o",
            "com.docker.network.bridge.name=br-test",
            "front",
        ];
        let cases: &[(&[&str], &str)] = &[
            (&create, "/networks/create"),
            (&["network", "create", "plain"], "/networks/create"),
            (
                &[
                    "network",
                    "create",
                    "--ipv4=false",
                    "--ipv6",
                    "-d",
                    "bridge",
                    "six",
                ],
                "/networks/create",
            ),
            (
                &[
                    "network", "connect", "--alias", "web", "--alias", "www", "--ip", "10.9.0.7",
                    "--link", "db:data", "front", "box",
                ],
                "/connect",
            ),
            (
                &["network", "disconnect", "-f", "front", "box"],
                "/disconnect",
            ),
        ];
        for (args, path) in cases {
            let out = docker(standin, config, args);
            assert!(
                out.status.success(),
                "docker {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let theirs = meaningful(&standin.take_body(path));
            let out = berth(standin, args);
            assert!(
                out.status.success(),
                "berth {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let ours = meaningful(&standin.take_body(path));
            assert_eq!(ours, theirs, "for {args:?}");
        }
        // Both print the new network's ID.
        let out = berth(standin, &["network", "create", "x"]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "n0ffee\n");
    });
}
