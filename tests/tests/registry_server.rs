//! `berthd --registry-addr`: the Distribution API served from berth's own store, proven
//! with berth itself, skopeo, and Debian's docker-registry as a peer in both directions.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use berth_tests::registry::{free_port, htpasswd_line, DockerRegistry, HostsEntry, TestCa};
use berth_tests::{run_command, Daemon, Output};

#[track_caller]
fn skopeo(args: &[&str]) -> Output {
    let mut cmd = Command::new("skopeo");
    cmd.args(args);
    run_command(cmd, None)
}

/// A daemon serving a registry on a free loopback port, with `extra` flags.
fn serving(extra: &[String]) -> (Daemon, String) {
    let port = free_port();
    let mut args = vec!["--registry-addr".to_string(), format!("127.0.0.1:{port}")];
    args.extend_from_slice(extra);
    let daemon = Daemon::start_with(&args);
    daemon.import_busybox();
    (daemon, format!("127.0.0.1:{port}"))
}

/// `GET path` on a plain-HTTP registry.
fn http_get(domain: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(domain).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {domain}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn berth_pushes_to_and_pulls_from_its_own_registry() {
    berth_tests::needs_root!();
    let (server, domain) = serving(&[]);
    let image = format!("{domain}/team/busybox:1");
    server.berth(&["tag", "busybox", &image]).ok();
    server.berth(&["push", &image]).ok();
    // A second repository gets the layer by a cross-repository mount.
    let other = format!("{domain}/other/busybox:2");
    server.berth(&["tag", "busybox", &other]).ok();
    let mounted = server.berth(&["push", &other]).ok();
    assert!(
        mounted.stdout.contains("Mounted from team/busybox"),
        "{mounted}"
    );
    let catalog = http_get(&domain, "/v2/_catalog");
    assert!(
        catalog.contains(r#"{"repositories":["other/busybox","team/busybox"]}"#),
        "{catalog}"
    );
    let tags = http_get(&domain, "/v2/team/busybox/tags/list");
    assert!(
        tags.contains(r#"{"name":"team/busybox","tags":["1"]}"#),
        "{tags}"
    );

    // Another daemon pulls it and runs it.
    let client = Daemon::start();
    client.berth(&["pull", &image]).ok();
    assert_eq!(
        client
            .berth(&["run", "--rm", &image, "echo", "served"])
            .ok()
            .out(),
        "served"
    );

    // Removing every local image keeps what the registry serves, across a restart too.
    server.berth(&["rmi", "-f", "busybox"]).ok();
    let mut server = server;
    server.terminate();
    server.restart();
    let again = Daemon::start();
    again.berth(&["pull", &other]).ok();
}

#[test]
fn skopeo_and_docker_registry_exchange_images_with_berths_registry() {
    berth_tests::needs_root!();
    let (server, domain) = serving(&[]);
    let peer = DockerRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("busybox.tar");
    server
        .berth(&["save", "-o", archive.to_str().unwrap(), "busybox"])
        .ok();

    // skopeo uploads in chunks; then inspects, lists and deletes.
    let ours = format!("docker://{domain}/skopeo/busybox:1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("docker-archive:{}", archive.display()),
        &ours,
    ])
    .ok();
    let inspected = skopeo(&["inspect", "--tls-verify=false", &ours]).ok();
    assert!(
        inspected
            .stdout
            .contains(&format!("\"Name\": \"{domain}/skopeo/busybox\"")),
        "{inspected}"
    );
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{domain}/skopeo/busybox"),
    ])
    .ok();
    assert!(tags.stdout.contains("\"1\""), "{tags}");

    // berth's registry → docker-registry → berth's registry.
    let theirs = format!("docker://{}/from-berth/busybox:1", peer.domain());
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &ours,
        &theirs,
    ])
    .ok();
    let back = format!("docker://{domain}/from-peer/busybox:1");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &theirs,
        &back,
    ])
    .ok();
    let pulled = Daemon::start();
    pulled
        .berth(&["pull", &format!("{domain}/from-peer/busybox:1")])
        .ok();
    pulled
        .berth(&[
            "run",
            "--rm",
            &format!("{domain}/from-peer/busybox:1"),
            "true",
        ])
        .ok();

    skopeo(&["delete", "--tls-verify=false", &ours]).ok();
    skopeo(&["inspect", "--tls-verify=false", &ours]).fails();
}

#[test]
fn htpasswd_and_tls_protect_the_served_registry() {
    berth_tests::needs_root!();
    let dir = tempfile::tempdir().unwrap();
    let name = format!("berth-served-{}.test", std::process::id());
    let _hosts = HostsEntry::add(&name);
    let ca = TestCa::create(&dir.path().join("tls"), &name);
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, htpasswd_line("bob", "pw")).unwrap();
    let (server, address) = serving(&[
        "--registry-htpasswd".into(),
        htpasswd.to_str().unwrap().into(),
        "--registry-tls-cert".into(),
        ca.server_cert.to_str().unwrap().into(),
        "--registry-tls-key".into(),
        ca.server_key.to_str().unwrap().into(),
    ]);
    let port = address.rsplit(':').next().unwrap();
    let domain = format!("{name}:{port}");
    let certs = dir.path().join("certs.d");
    std::fs::create_dir_all(certs.join(&domain)).unwrap();
    std::fs::copy(&ca.ca_cert, certs.join(&domain).join("ca.crt")).unwrap();
    let client = Daemon::start_with(&[
        "--registry-certs-dir".into(),
        certs.to_str().unwrap().into(),
    ]);
    client.import_busybox();
    let image = format!("{domain}/secret/busybox:1");
    client.berth(&["tag", "busybox", &image]).ok();
    let refused = client.berth(&["push", &image]).fails();
    assert!(
        refused.stderr.contains("authentication required"),
        "{refused}"
    );
    client
        .berth(&["login", "-u", "bob", "-p", "wrong", &domain])
        .fails();
    client
        .berth(&["login", "-u", "bob", "-p", "pw", &domain])
        .ok();
    client.berth(&["push", &image]).ok();
    client.berth(&["rmi", &image, "busybox"]).ok();
    client.berth(&["pull", &image]).ok();
    drop(server);
}
