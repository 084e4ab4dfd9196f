//! Registries for the tests, on loopback: Debian's `docker-registry` (the reference
//! implementation of the Distribution API), optionally with htpasswd basic auth and TLS
//! from a test CA, and the TLS material itself (made with openssl).

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::command::run_command;

const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";
const READY_LIMIT: Duration = Duration::from_secs(30);

/// A port nobody listens on right now (the registry binds it just after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Waits until something accepts connections on the loopback port.
#[track_caller]
pub fn wait_for_port(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + READY_LIMIT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on port {port}:\n{}",
            fs::read_to_string(log).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// A test CA and a server certificate it signed for `name` and 127.0.0.1.
pub struct TestCa {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl TestCa {
    #[track_caller]
    pub fn create(dir: &Path, name: &str) -> TestCa {
        fs::create_dir_all(dir).expect("TLS directory");
        let path = |f: &str| dir.join(f);
        let openssl = |args: &[&str]| {
            let mut cmd = Command::new("openssl");
            cmd.args(args).current_dir(dir);
            run_command(cmd, None).ok();
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=berth test CA"];
        ca.extend(ec);
        ca.extend(["-keyout", "ca.key", "-out", "ca.crt"]);
        openssl(&ca);
        let subject = format!("/CN={name}");
        let mut csr = vec!["req", "-subj", &subject];
        csr.extend(ec);
        csr.extend(["-keyout", "server.key", "-out", "server.csr"]);
        openssl(&csr);
        fs::write(
            path("san.ext"),
            format!("subjectAltName=DNS:{name},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        )
        .expect("extension file");
        openssl(&[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-extfile",
            "san.ext",
        ]);
        TestCa {
            ca_cert: path("ca.crt"),
            server_cert: path("server.crt"),
            server_key: path("server.key"),
        }
    }
}

/// A bcrypt htpasswd line for `user`, as `htpasswd -B` writes it.
pub fn htpasswd_line(user: &str, password: &str) -> String {
    let hash = bcrypt::hash(password, 5).expect("bcrypt hash");
    format!("{user}:{hash}\n")
}

/// Options of a [`DockerRegistry`].
#[derive(Default)]
pub struct RegistryOptions {
    /// htpasswd basic auth with this user and password.
    pub user: Option<(String, String)>,
    /// TLS with these files.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// Debian's `docker-registry`, listening on a free loopback port, storing under a
/// temporary directory; stopped and removed on drop.
pub struct DockerRegistry {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl DockerRegistry {
    #[track_caller]
    pub fn start() -> DockerRegistry {
        DockerRegistry::start_with(RegistryOptions::default())
    }

    #[track_caller]
    pub fn start_with(options: RegistryOptions) -> DockerRegistry {
        let dir = tempfile::Builder::new()
            .prefix("berth-registry-")
            .tempdir()
            .expect("registry directory");
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some((cert, key)) = &options.tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        if let Some((user, password)) = &options.user {
            let htpasswd = dir.path().join("htpasswd");
            fs::write(&htpasswd, htpasswd_line(user, password)).expect("htpasswd file");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).expect("registry config");
        let log_path = dir.path().join("registry.log");
        let log = fs::File::create(&log_path).expect("registry log");
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log descriptor"))
            .stderr(log)
            .spawn()
            .expect("starting docker-registry (apt-get install docker-registry)");
        wait_for_port(port, "docker-registry", &log_path);
        DockerRegistry { child, dir, port }
    }

    /// `127.0.0.1:PORT`, the registry part of image names.
    pub fn domain(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A line `127.0.0.1 NAME` in /etc/hosts for as long as it lives, so a registry can be
/// reached by a host name (which berth, unlike an address on 127.0.0.0/8, does not treat
/// as insecure).
pub struct HostsEntry {
    line: String,
}

impl HostsEntry {
    pub fn add(name: &str) -> HostsEntry {
        let line = format!("127.0.0.1 {name}");
        let mut hosts = fs::read_to_string("/etc/hosts").expect("reading /etc/hosts");
        if !hosts.ends_with('\n') {
            hosts.push('\n');
        }
        hosts.push_str(&line);
        hosts.push('\n');
        fs::write("/etc/hosts", hosts).expect("writing /etc/hosts");
        HostsEntry { line }
    }
}

impl Drop for HostsEntry {
    fn drop(&mut self) {
        if let Ok(hosts) = fs::read_to_string("/etc/hosts") {
            let kept: String = hosts
                .lines()
                .filter(|l| *l != self.line)
                .map(|l| format!("{l}\n"))
                .collect();
            let _ = fs::write("/etc/hosts", kept);
        }
    }
}
