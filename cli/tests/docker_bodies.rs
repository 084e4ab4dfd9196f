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

const NETWORKS: &str = r#"[
 {"Name":"net10","Id":"aaaa1111bbbb2222cccc3333dddd4444eeee5555ffff6666aaaa7777bbbb8888","Created":"2026-01-02T03:04:05.123456789Z","Scope":"local","Driver":"bridge","EnableIPv4":true,"EnableIPv6":false,"IPAM":{"Driver":"default","Options":null,"Config":[{"Subnet":"10.7.0.0/16","Gateway":"10.7.0.1"}]},"Internal":false,"Attachable":false,"Ingress":false,"ConfigFrom":{"Network":""},"ConfigOnly":false,"Containers":{},"Options":{},"Labels":{"a":"1"}},
 {"Name":"bridge","Id":"1111aaaa2222bbbb3333cccc4444dddd5555eeee6666ffff7777aaaa8888bbbb","Created":"2026-01-01T00:00:00Z","Scope":"local","Driver":"bridge","EnableIPv4":true,"EnableIPv6":true,"IPAM":{"Driver":"default","Options":null,"Config":[]},"Internal":true,"Attachable":false,"Ingress":false,"ConfigFrom":{"Network":""},"ConfigOnly":false,"Containers":{},"Options":{},"Labels":{}},
 {"Name":"net2","Id":"2222","Created":"2026-01-01T00:00:00+02:00","Scope":"local","Driver":"macvlan","EnableIPv4":true,"EnableIPv6":false,"IPAM":{"Driver":"default","Options":null,"Config":[]},"Internal":false,"Attachable":true,"Ingress":false,"ConfigFrom":{"Network":""},"ConfigOnly":false,"Containers":{},"Options":{},"Labels":null}
]"#;

const NETWORK_FRONT: &str = r#"{"Name":"front","Id":"aaaa1111","Created":"2026-01-02T03:04:05.123456789Z","Scope":"local","Driver":"bridge","EnableIPv4":true,"EnableIPv6":false,"IPAM":{"Driver":"default","Options":null,"Config":[{"Subnet":"10.7.0.0/16","Gateway":"10.7.0.1"}]},"Internal":false,"Attachable":false,"Ingress":false,"ConfigFrom":{"Network":""},"ConfigOnly":false,"Containers":{"c0ffee":{"Name":"web","EndpointID":"e1","MacAddress":"02:42:0a:07:00:02","IPv4Address":"10.7.0.2/16","IPv6Address":""}},"Options":{},"Labels":{}}"#;

const VOLUMES: &str = r#"{"Volumes":[
 {"Name":"data10","Driver":"local","Mountpoint":"/var/lib/berth/volumes/data10/_data","CreatedAt":"2026-01-01T00:00:00Z","Scope":"local","Labels":{"a":"1"},"Options":null},
 {"Name":"data2","Driver":"local","Mountpoint":"/var/lib/berth/volumes/data2/_data","CreatedAt":"2026-01-01T00:00:00Z","Scope":"local","Labels":null,"Options":{"type":"tmpfs"},"UsageData":{"Size":1234567,"RefCount":2}}
],"Warnings":[]}"#;

const VOLUME_DATA: &str = r#"{"Name":"data","Driver":"local","Mountpoint":"/var/lib/berth/volumes/data/_data","CreatedAt":"2026-01-01T00:00:00Z","Status":{},"Scope":"local","Labels":{"k":"v"},"Options":{}}"#;

const INSPECT_WEB: &str = r#"{"Id":"c0ffee","Name":"/web","NetworkSettings":{"Ports":{
 "80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"},{"HostIp":"::","HostPort":"8080"}],
 "53/udp":[{"HostIp":"127.0.0.1","HostPort":"5353"}],
 "10/tcp":[{"HostIp":"0.0.0.0","HostPort":"32768"}],
 "9000/tcp":null}}}"#;

const CONTAINERS: &str = r#"[{"Id":"c0ffee","Names":["/web"],"Image":"busybox","ImageID":"sha256:aa","Command":"sh","Created":1700000000,"State":"running","Status":"Up 1 second","Ports":[
 {"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},{"IP":"::","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},
 {"IP":"0.0.0.0","PrivatePort":81,"PublicPort":81,"Type":"tcp"},{"IP":"0.0.0.0","PrivatePort":82,"PublicPort":82,"Type":"tcp"},
 {"PrivatePort":9000,"Type":"udp"},{"PrivatePort":9001,"Type":"udp"},{"PrivatePort":9003,"Type":"udp"}],
 "Labels":{},"Mounts":[],"NetworkSettings":{"Networks":{}}}]"#;

const BUILD_STREAM: &str = concat!(
    r#"{"stream":"Step 1/1 : FROM busybox\n"}"#,
    "\r\n",
    r#"{"stream":" ---\u003e 0123456789ab\n"}"#,
    "\r\n",
    r#"{"aux":{"ID":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}"#,
    "\r\n",
    r#"{"stream":"Successfully built 0123456789ab\n"}"#,
    "\r\n",
);

fn reply(request: &Request) -> (u16, String) {
    let path = request.path.split('?').next().unwrap_or("");
    // "/v1.49/containers/create" → "containers/create"; docker may send no version.
    let path = path.trim_start_matches('/');
    let path = match path.split_once('/') {
        Some((version, rest)) if version.starts_with("v1.") => rest,
        _ => path,
    };
    let text = match (request.method.as_str(), path) {
        (_, "_ping") => (200, "OK"),
        ("POST", "containers/create") => (201, r#"{"Id":"c0ffee","Warnings":[]}"#),
        ("GET", "containers/json") => (200, CONTAINERS),
        ("GET", "containers/web/json") => (200, INSPECT_WEB),
        ("POST", "networks/create") => (201, r#"{"Id":"n0ffee","Warning":""}"#),
        ("POST", "networks/prune") => (200, r#"{"NetworksDeleted":["old1","old2"]}"#),
        ("GET", "networks") => (200, NETWORKS),
        ("GET" | "DELETE", "networks/gone") => (404, r#"{"message":"network gone not found"}"#),
        ("GET", p) if p.starts_with("networks/") => (200, NETWORK_FRONT),
        ("DELETE", "networks/busy") => (
            403,
            r#"{"message":"error while removing network: network busy has active endpoints"}"#,
        ),
        ("DELETE", p) if p.starts_with("networks/") => (204, ""),
        ("POST", p) if p.ends_with("/connect") || p.ends_with("/disconnect") => (200, ""),
        ("POST", p) if p.starts_with("containers/") && p.ends_with("/update") => {
            (200, r#"{"Warnings":[]}"#)
        }
        ("POST", "build") => (200, BUILD_STREAM),
        ("POST", "build/prune") => (
            200,
            r#"{"CachesDeleted":["k1","k2"],"SpaceReclaimed":20480}"#,
        ),
        ("POST", "volumes/create") => (201, VOLUME_DATA),
        ("POST", "volumes/prune") => (
            200,
            r#"{"VolumesDeleted":["old1","old2"],"SpaceReclaimed":1234567}"#,
        ),
        ("GET", "volumes") => (200, VOLUMES),
        ("GET" | "DELETE", "volumes/gone") => (404, r#"{"message":"get gone: no such volume"}"#),
        ("DELETE", "volumes/busy") => (
            409,
            r#"{"message":"remove busy: volume is in use - [c0ffee]"}"#,
        ),
        ("GET", p) if p.starts_with("volumes/") => (200, VOLUME_DATA),
        ("DELETE", p) if p.starts_with("volumes/") => (204, ""),
        _ => (404, r#"{"message":"not in the stand-in"}"#),
    };
    (text.0, text.1.to_owned())
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
        let mut chunked = false;
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
                if name.eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked") {
                    chunked = true;
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        while chunked {
            let mut size = String::new();
            if reader.read_line(&mut size).unwrap_or(0) == 0 {
                return;
            }
            let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
                return;
            };
            let mut chunk = vec![0; size + 2];
            if reader.read_exact(&mut chunk).is_err() {
                return;
            }
            body.extend_from_slice(&chunk[..size]);
            chunked = size != 0;
        }
        let request = Request { method, path, body };
        let (status, text) = reply(&request);
        log.lock().unwrap().push(request.clone());
        let body = if request.method == "HEAD" {
            ""
        } else {
            text.as_str()
        };
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
    let mut command = Command::new(docker_binary().unwrap());
    if args.first() == Some(&"build") {
        // Without buildx installed docker 28 falls back to the legacy builder
        // anyway; saying so keeps it from looking for buildx.
        command.env("DOCKER_BUILDKIT", "0");
    }
    command
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
            same_body(standin, config, &argv, "/containers/create", networking);
        }
    });
}

/// The parts of a create body the healthcheck, resource, namespace, logging, runtime and
/// volume flags make.
fn limits_and_isolation(body: &Value) -> Value {
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
        "Config": pick(body, &["Healthcheck"]),
        "HostConfig": pick(&body["HostConfig"], &[
            "Memory", "MemorySwap", "MemoryReservation", "CpuShares", "CpusetCpus",
            "CpusetMems", "CpuPeriod", "CpuQuota", "BlkioWeight", "NanoCpus", "PidsLimit",
            "PidMode", "IpcMode", "UTSMode", "UsernsMode", "GroupAdd", "Runtime", "LogConfig",
            "VolumesFrom", "VolumeDriver", "OomScoreAdj",
        ]),
    })
}

#[test]
fn create_bodies_carry_the_same_limits_health_and_namespaces_as_dockers() {
    with_docker(|standin, config| {
        let cases: &[&[&str]] = &[
            &[
                "--health-cmd",
                "nc -z 127.0.0.1 80 || exit 1",
                "--health-interval",
                "1.5s",
                "--health-timeout=300ms",
                "--health-retries",
                "3",
                "--health-start-period",
                "1m30s",
                "--health-start-interval",
                "0.3s",
                "busybox",
            ],
            &["--health-interval", "2s", "busybox"],
            &["--health-interval", "0", "--health-retries", "0", "busybox"],
            &["--no-healthcheck", "busybox"],
            &[
                "-m",
                "1g",
                "--memory-swap",
                "2g",
                "--memory-reservation",
                "512m",
                "-c",
                "512",
                "--cpuset-cpus",
                "0-1",
                "--cpuset-mems",
                "0",
                "--cpu-period",
                "100000",
                "--cpu-quota",
                "50000",
                "--blkio-weight",
                "300",
                "--pids-limit",
                "20",
                "busybox",
            ],
            &[
                "--memory-swap",
                "-1",
                "--cpu-shares=2",
                "--cpus",
                "0.5",
                "busybox",
            ],
            &["--oom-score-adj", "-500", "busybox"],
            &[
                "--pid",
                "host",
                "--ipc",
                "shareable",
                "--uts",
                "host",
                "--userns",
                "host",
                "--group-add",
                "1234",
                "--group-add",
                "audio",
                "--runtime",
                "runc",
                "--volumes-from",
                "data:ro",
                "--volumes-from",
                "more",
                "--volume-driver",
                "local",
                "busybox",
            ],
            &["--pid", "container:db", "--ipc", "container:db", "busybox"],
            &[
                "--log-driver",
                "json-file",
                "--log-opt",
                "max-size=1m",
                "--log-opt",
                "max-file=3",
                "--log-opt",
                "bare",
                "busybox",
            ],
            &["--log-driver", "none", "busybox"],
            &["busybox"],
        ];
        for args in cases {
            let mut argv = vec!["create"];
            argv.extend_from_slice(args);
            same_body(
                standin,
                config,
                &argv,
                "/containers/create",
                limits_and_isolation,
            );
        }
    });
}

#[test]
fn update_bodies_are_dockers() {
    with_docker(|standin, config| {
        let cases: &[&[&str]] = &[
            &[
                "--blkio-weight",
                "300",
                "--cpu-period",
                "100000",
                "--cpu-quota",
                "50000",
                "-c",
                "512",
                "--cpuset-cpus",
                "0",
                "--cpuset-mems",
                "0",
                "-m",
                "64m",
                "--memory-reservation",
                "32m",
                "--memory-swap",
                "-1",
                "--pids-limit",
                "30",
                "--restart",
                "on-failure:2",
                "web",
            ],
            &["--cpus", "1.5", "web"],
            &["--restart", "always", "web"],
        ];
        for args in cases {
            let mut argv = vec!["update"];
            argv.extend_from_slice(args);
            same_body(standin, config, &argv, "/update", meaningful);
        }
    });
}

#[test]
fn attached_streams_are_dockers() {
    with_docker(|standin, config| {
        let keys = [
            "AttachStdin",
            "AttachStdout",
            "AttachStderr",
            "OpenStdin",
            "StdinOnce",
            "Tty",
        ];
        let cases: &[&[&str]] = &[
            &["-a", "stdout", "busybox"],
            &["-a", "STDERR", "-i", "busybox"],
            &["-a", "stdin", "-a", "stdout", "busybox"],
            &["-i", "busybox"],
            &["-it", "busybox"],
            &["busybox"],
        ];
        for args in cases {
            let mut argv = vec!["create"];
            argv.extend_from_slice(args);
            let mut bodies = Vec::new();
            for docker_first in [true, false] {
                let out = if docker_first {
                    docker(standin, config, &argv)
                } else {
                    berth(standin, &argv)
                };
                assert!(
                    out.status.success(),
                    "{argv:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let body = standin.take_body("/containers/create");
                bodies.push(keys.map(|k| body[k].clone()));
            }
            assert_eq!(bodies[1], bodies[0], "for {argv:?}");
        }
        for args in [
            &["run", "-d", "-a", "stdout", "busybox"][..],
            &["create", "-a", "foo", "busybox"],
        ] {
            let theirs = docker(standin, config, args);
            let ours = berth(standin, args);
            assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
            let text = String::from_utf8_lossy(&ours.stderr);
            let expected = if args[0] == "run" {
                "conflicting options: cannot specify both --attach and --detach"
            } else {
                "valid streams are STDIN, STDOUT and STDERR"
            };
            assert!(text.contains(expected), "{args:?}: {text}");
            assert!(
                String::from_utf8_lossy(&theirs.stderr).contains(expected),
                "{args:?}"
            );
        }
    });
}

#[test]
fn cidfile_is_dockers() {
    with_docker(|standin, config| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cid");
        let path_text = path.to_str().unwrap();
        let argv = ["create", "--cidfile", path_text, "busybox"];
        let mut seen = Vec::new();
        for client in ["docker", "berth"] {
            let out = if client == "docker" {
                docker(standin, config, &argv)
            } else {
                berth(standin, &argv)
            };
            assert!(
                out.status.success(),
                "{client}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let body = standin.take_body("/containers/create");
            seen.push((
                body["HostConfig"]["ContainerIDFile"].clone(),
                std::fs::read_to_string(&path).unwrap(),
            ));
            // The file stays: a second create and a run refuse it, in the same words.
            for args in [
                &argv[..],
                &["run", "-d", "--cidfile", path_text, "busybox"][..],
                &[
                    "create",
                    "--cidfile",
                    &format!("{path_text}/../no/cid"),
                    "busybox",
                ][..],
            ] {
                same_refusal(standin, config, args);
            }
            std::fs::remove_file(&path).unwrap();
        }
        assert_eq!(seen[0], seen[1]);
        assert_eq!(seen[0].1, "c0ffee");
    });
}

/// The long flags a `--help` lists.
fn help_flags(help: &[u8]) -> std::collections::BTreeSet<String> {
    String::from_utf8_lossy(help)
        .lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let line = match line.strip_prefix('-') {
                Some(rest) if !rest.starts_with('-') => rest.split_once(", ")?.1,
                _ => line,
            };
            let name = line.strip_prefix("--")?;
            let end = name
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .unwrap_or(name.len());
            Some(name[..end].to_owned())
        })
        .collect()
}

#[test]
fn every_docker_flag_of_run_create_and_update_is_offered_or_refused_by_name() {
    with_docker(|standin, config| {
        for command in ["run", "create", "update"] {
            let theirs = help_flags(&docker(standin, config, &[command, "--help"]).stdout);
            let ours = help_flags(&berth(standin, &[command, "--help"]).stdout);
            assert!(theirs.len() > 10, "docker {command} --help: {theirs:?}");
            assert!(ours.len() > 10, "berth {command} --help: {ours:?}");
            for flag in theirs.difference(&ours) {
                let option = format!("--{flag}=1");
                let out = berth(standin, &[command, &option, "busybox"]);
                let text = String::from_utf8_lossy(&out.stderr);
                assert!(
                    text.contains(&format!("--{flag} is not supported by berth yet")),
                    "berth {command} lacks docker's --{flag} without saying so: {text}"
                );
                assert_eq!(out.status.code(), Some(125), "{command} --{flag}");
            }
            // Nothing berth offers is unknown to docker (whose help lists --help only
            // for some commands).
            let extra: Vec<_> = ours.difference(&theirs).filter(|f| *f != "help").collect();
            assert!(
                extra.is_empty(),
                "berth {command} has {extra:?}, docker does not"
            );
        }
    });
}

#[test]
fn bad_limits_health_and_namespace_flags_read_as_dockers() {
    with_docker(|standin, config| {
        // Refused after parsing: the same first line, the same status.
        for args in [
            &[
                "create",
                "--no-healthcheck",
                "--health-retries",
                "1",
                "busybox",
            ][..],
            &["create", "--health-interval", "-1s", "busybox"],
            &["create", "--health-timeout=-1s", "busybox"],
            &["create", "--health-retries=-1", "busybox"],
            &["create", "--health-start-period=-1s", "busybox"],
            &["create", "--health-start-interval=-1s", "busybox"],
            &["create", "--pid", "foo", "busybox"],
            &["create", "--pid", "container:", "busybox"],
            &["create", "--uts", "container:x", "busybox"],
            &["create", "--userns", "private", "busybox"],
            &[
                "create",
                "--log-driver",
                "none",
                "--log-opt",
                "a=b",
                "busybox",
            ],
        ] {
            same_refusal(standin, config, args);
        }
        // Values that do not parse: both name the value in Go's words (clap frames them).
        for (args, words) in [
            (
                &["create", "--health-interval", "5", "busybox"][..],
                "time: missing unit in duration \"5\"",
            ),
            (
                &["create", "--health-timeout", "1x", "busybox"],
                "time: unknown unit \"x\" in duration \"1x\"",
            ),
            (
                &["create", "--memory-swap", "x", "busybox"],
                "invalid size: 'x'",
            ),
            (
                &["create", "--memory-reservation", "lots", "busybox"],
                "invalid size: 'lots'",
            ),
        ] {
            let theirs = docker(standin, config, args);
            let ours = berth(standin, args);
            assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
            for out in [&theirs, &ours] {
                let text = String::from_utf8_lossy(&out.stderr);
                assert!(text.contains(words), "{args:?}: {text}");
            }
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
            same_refusal(standin, config, args);
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
            same_body(standin, config, args, path, meaningful);
        }
        // Both print the new network's ID.
        let out = berth(standin, &["network", "create", "x"]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "n0ffee\n");
    });
}

/// Both clients run `args` successfully, and the bodies they send to the path containing
/// `path` are the same once `shape` has picked what the comparison is about.
fn same_body<T: PartialEq + std::fmt::Debug>(
    standin: &StandIn,
    config: &Path,
    args: &[&str],
    path: &str,
    shape: impl Fn(&Value) -> T,
) {
    let body = |client: &str, out: Output| {
        assert!(
            out.status.success(),
            "{client} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        shape(&standin.take_body(path))
    };
    let theirs = body("docker", docker(standin, config, args));
    let ours = body("berth", berth(standin, args));
    assert_eq!(ours, theirs, "for {args:?}");
}

/// Both clients refuse `args` with the same status and the same first line of stderr
/// (the program's name aside).
fn same_refusal(standin: &StandIn, config: &Path, args: &[&str]) {
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

/// Both clients' stdout, stderr and status for the same command.
fn same_output(standin: &StandIn, config: &Path, args: &[&str]) {
    let theirs = docker(standin, config, args);
    let ours = berth(standin, args);
    let text = |b: &[u8]| String::from_utf8_lossy(b).replace("docker", "berth");
    // docker's notice that its legacy builder is deprecated is not berth's to print.
    let their_stderr = text(&theirs.stderr);
    let their_stderr = match their_stderr.strip_prefix("DEPRECATED: The legacy builder") {
        Some(rest) => rest
            .split_once("\n\n")
            .map_or("", |(_, after)| after)
            .to_owned(),
        None => their_stderr,
    };
    assert_eq!(
        text(&ours.stdout),
        text(&theirs.stdout),
        "stdout of {args:?}"
    );
    assert_eq!(text(&ours.stderr), their_stderr, "stderr of {args:?}");
    assert_eq!(
        ours.status.code(),
        theirs.status.code(),
        "status of {args:?}"
    );
}

#[test]
fn listing_and_port_output_is_dockers() {
    with_docker(|standin, config| {
        for args in [
            &["network", "ls"][..],
            &["network", "ls", "--no-trunc"],
            &["network", "ls", "-q"],
            &["network", "ls", "--format", "{{json .}}"],
            &[
                "network",
                "ls",
                "--format",
                "table {{.Name}}\t{{.IPv4}}\t{{.IPv6}}\t{{.Internal}}\t{{.Labels}}\t{{.CreatedAt}}",
            ],
            &["network", "ls", "--format", "raw"],
            &["network", "ls", "-f", "driver=bridge", "-q"],
            &["network", "inspect", "front"],
            &["network", "inspect", "--verbose", "front"],
            &[
                "network",
                "inspect",
                "-f",
                "{{.Name}} {{.Driver}} {{range .IPAM.Config}}{{.Subnet}}{{end}}",
                "front",
            ],
            &["network", "rm", "a", "gone", "busy", "b"],
            &["network", "rm", "-f", "gone"],
            &["network", "prune", "-f"],
            &["port", "web"],
            &["port", "web", "80"],
            &["port", "web", "53/udp"],
            &["port", "web", "9000"],
            &["port", "web", "http"],
            &["ps", "--format", "{{.Ports}}"],
            &["volume", "ls"],
            &["volume", "ls", "-q"],
            &["volume", "ls", "--format", "{{json .}}"],
            &["volume", "ls", "--format", "raw"],
            &[
                "volume",
                "ls",
                "--format",
                "table {{.Name}}\t{{.Links}}\t{{.Size}}\t{{.Labels}}",
            ],
            &["volume", "inspect", "data"],
            &["volume", "inspect", "-f", "{{.Mountpoint}}", "data", "gone"],
            &["volume", "inspect", "-f", "{{.Mountpoint}}", "gone"],
            &["volume", "inspect", "gone"],
            &[
                "volume",
                "create",
                "--label",
                "k=v",
                "-o",
                "type=tmpfs",
                "data",
            ],
            &["volume", "rm", "a", "gone", "busy", "b"],
            &["volume", "rm", "-f", "a"],
            &["volume", "prune", "-f"],
            &["volume", "prune", "-a", "-f"],
            &["inspect", "--type", "volume", "data"],
            &["builder", "prune", "-f"],
            &[
                "builder",
                "prune",
                "-a",
                "-f",
                "--filter",
                "until=24h",
                "--keep-storage",
                "1g",
            ],
        ] {
            same_output(standin, config, args);
        }
    });
}

fn query_pairs(path: &str) -> Vec<(String, String)> {
    let query = path.split_once('?').map_or("", |(_, q)| q);
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    pairs.sort();
    pairs
}

fn tar_names(body: &[u8]) -> Vec<String> {
    let mut names: Vec<String> = tar::Archive::new(body)
        .entries()
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn build_requests_are_dockers() {
    with_docker(|standin, config| {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path();
        for (path, content) in [
            ("Dockerfile", "FROM busybox\n"),
            ("sub/Other.df", "FROM busybox\n"),
            (
                ".dockerignore",
                "*.log\n**/cache\ndocs\n!docs/keep.md\nDockerfile\n",
            ),
            ("a.txt", "a"),
            ("debug.log", "x"),
            ("src/cache/x", "x"),
            ("src/main.c", "x"),
            ("docs/keep.md", "x"),
            ("docs/drop.md", "x"),
        ] {
            std::fs::create_dir_all(ctx.join(path).parent().unwrap()).unwrap();
            std::fs::write(ctx.join(path), content).unwrap();
        }
        let ctx = ctx.to_str().unwrap().to_owned();
        let other = format!("{ctx}/sub/Other.df");
        let cases: Vec<Vec<&str>> = vec![
            vec!["build", "-t", "web:1", "-t", "web:latest", &ctx],
            vec![
                "build",
                "--build-arg",
                "A=1",
                "--build-arg",
                "HOME",
                "--label",
                "k=v",
                "--target",
                "final",
                "--no-cache",
                "--pull",
                "--rm=false",
                "--force-rm",
                "--network",
                "none",
                "--add-host",
                "h:1.2.3.4",
                "-f",
                &other,
                &ctx,
            ],
        ];
        for args in cases {
            let theirs = docker(standin, config, &args);
            assert!(
                theirs.status.success(),
                "docker {args:?}: {}",
                String::from_utf8_lossy(&theirs.stderr)
            );
            let docker_request = standin
                .requests
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find(|r| r.path.contains("/build"))
                .cloned()
                .unwrap();
            standin.requests.lock().unwrap().clear();
            let ours = berth(standin, &args);
            assert!(
                ours.status.success(),
                "berth {args:?}: {}",
                String::from_utf8_lossy(&ours.stderr)
            );
            let berth_request = standin
                .requests
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find(|r| r.path.contains("/build"))
                .cloned()
                .unwrap();
            standin.requests.lock().unwrap().clear();
            assert_eq!(
                query_pairs(&berth_request.path),
                query_pairs(&docker_request.path),
                "{args:?}"
            );
            assert_eq!(
                tar_names(&berth_request.body),
                tar_names(&docker_request.body),
                "{args:?}"
            );
        }
    });
}

/// The query of the request each client sends for the same command.
fn last_query(standin: &StandIn, needle: &str) -> Vec<(String, String)> {
    let mut requests = standin.requests.lock().unwrap();
    let found = requests
        .iter()
        .rev()
        .find(|r| r.path.contains(needle))
        .map(|r| query_pairs(&r.path))
        .unwrap_or_else(|| panic!("no request for {needle}"));
    requests.clear();
    found
}

#[test]
fn queries_are_dockers() {
    with_docker(|standin, config| {
        for (args, needle) in [
            (&["builder", "prune", "-f"][..], "/build/prune"),
            (
                &[
                    "builder",
                    "prune",
                    "-a",
                    "-f",
                    "--filter",
                    "until=24h",
                    "--keep-storage",
                    "1g",
                ],
                "/build/prune",
            ),
            (
                &["network", "inspect", "--verbose", "front"],
                "/networks/front",
            ),
            (
                &["network", "ls", "-f", "driver=bridge", "-f", "name=a"],
                "/networks",
            ),
            (
                &["network", "prune", "-f", "--filter", "label=x"],
                "/networks/prune",
            ),
            (&["volume", "prune", "-a", "-f"], "/volumes/prune"),
            (&["volume", "ls", "-f", "dangling=true"], "/volumes"),
            (&["volume", "rm", "-f", "a"], "/volumes/a"),
        ] {
            let out = docker(standin, config, args);
            assert!(
                out.status.success(),
                "docker {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let theirs = last_query(standin, needle);
            let out = berth(standin, args);
            assert!(
                out.status.success(),
                "berth {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(last_query(standin, needle), theirs, "{args:?}");
        }
    });
}

/// Runs `args` with `input` on stdin.
fn with_input(mut command: Command, input: &[u8]) -> Output {
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn prune_prompts_are_dockers() {
    with_docker(|standin, config| {
        for args in [
            &["network", "prune"][..],
            &["volume", "prune"],
            &["volume", "prune", "-a"],
            &["builder", "prune"],
            &["builder", "prune", "-a"],
        ] {
            for answer in [&b"n\n"[..], b"y\n"] {
                let mut docker_command = Command::new(docker_binary().unwrap());
                docker_command
                    .args(args)
                    .env("DOCKER_HOST", standin.host())
                    .env("DOCKER_CONFIG", config);
                let theirs = with_input(docker_command, answer);
                let mut berth_command = Command::new(env!("CARGO_BIN_EXE_berth"));
                berth_command.arg("-H").arg(standin.host()).args(args);
                let ours = with_input(berth_command, answer);
                let text = |b: &[u8]| String::from_utf8_lossy(b).replace("docker", "berth");
                assert_eq!(
                    text(&ours.stdout),
                    text(&theirs.stdout),
                    "{args:?} {answer:?}"
                );
                assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
            }
        }
    });
}
