//! Tests of `berth network …`: request bodies, the list's text, and what
//! the commands send to a fake daemon.

use super::*;
use crate::args::{Cli, Command};
use crate::fake_daemon::{FakeDaemon, Reply};
use crate::network_args::NetworkCommand;
use clap::Parser;

fn network_command(args: &[&str]) -> NetworkCommand {
    let mut argv = vec!["berth", "network"];
    argv.extend_from_slice(args);
    match Cli::try_parse_from(argv).unwrap().command {
        Some(Command::Network(sub)) => sub,
        other => panic!("not a network command: {other:?}"),
    }
}

fn create_args(args: &[&str]) -> NetworkCreateArgs {
    let mut argv = vec!["create"];
    argv.extend_from_slice(args);
    match network_command(&argv) {
        NetworkCommand::Create(args) => args,
        other => panic!("not create: {other:?}"),
    }
}

fn create_error(args: &[&str]) -> String {
    create_request(&create_args(args)).unwrap_err().to_string()
}

#[test]
fn create_builds_dockers_request() {
    let args = create_args(&[
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
        "--label",
        "bare",
        "-o",
        "com.docker.network.bridge.name=br-test",
        "front",
    ]);
    let body = serde_json::to_value(create_request(&args).unwrap()).unwrap();
    assert_eq!(
        body,
        json!({
            "Name": "front",
            "Driver": "bridge",
            "Internal": true,
            "Attachable": true,
            "Ingress": false,
            "ConfigOnly": false,
            "EnableIPv6": true,
            "IPAM": {
                "Driver": "default",
                "Config": [{
                    "Subnet": "10.7.0.0/16",
                    "IPRange": "10.7.1.0/24",
                    "Gateway": "10.7.0.254",
                    "AuxiliaryAddresses": {"router": "10.7.0.2"},
                }],
                "Options": {},
            },
            "Options": {"com.docker.network.bridge.name": "br-test"},
            "Labels": {"team": "web", "bare": ""},
        })
    );
    let plain = serde_json::to_value(create_request(&create_args(&["n"])).unwrap()).unwrap();
    assert_eq!(
        plain["IPAM"],
        json!({"Driver": "default", "Config": [], "Options": {}})
    );
    assert!(plain.get("EnableIPv6").is_none(), "only sent when given");
    let v4 = create_args(&["--ipv4=false", "--ipv6=false", "n"]);
    assert_eq!((v4.ipv4, v4.ipv6), (Some(false), Some(false)));
}

/// The cases of docker/cli's TestNetworkCreateErrors and createIPAMConfig.
#[test]
fn create_refuses_what_docker_refuses() {
    assert_eq!(
        create_error(&["--gateway", "10.1.0.1", "n"]),
        "every ip-range or gateway must have a corresponding subnet"
    );
    assert_eq!(
        create_error(&["--subnet", "10.1.0.0/16", "--subnet", "10.1.2.0/24", "n"]),
        "multiple overlapping subnet configuration is not supported"
    );
    assert_eq!(
        create_error(&["--subnet", "10.1.0.0/16", "--ip-range", "10.2.0.0/24", "n"]),
        "no matching subnet for range 10.2.0.0/24"
    );
    assert_eq!(
        create_error(&[
            "--subnet",
            "10.1.0.0/16,10.2.0.0/16",
            "--gateway",
            "10.1.0.1,10.1.0.2",
            "n"
        ]),
        "cannot configure multiple gateways (10.1.0.2, 10.1.0.1) for the same subnet (10.1.0.0/16)"
    );
    assert_eq!(
        create_error(&["--subnet", "10.1.0.0/16", "--gateway", "10.9.0.1", "n"]),
        "no matching subnet for gateway 10.9.0.1"
    );
    assert_eq!(
        create_error(&[
            "--subnet",
            "10.1.0.0/16",
            "--aux-address",
            "a=10.9.0.1",
            "n"
        ]),
        "no matching subnet for aux-address 10.9.0.1"
    );
    assert_eq!(
        create_error(&["--subnet", "10.1.0.0", "--gateway", "10.1.0.1", "n"]),
        "invalid subnet: invalid CIDR address: 10.1.0.0"
    );
    let two = create_request(&create_args(&[
        "--subnet",
        "10.1.0.0/16",
        "--subnet",
        "fd00:1::/64",
        "--gateway",
        "fd00:1::1",
        "n",
    ]))
    .unwrap();
    let configs = two.ipam.unwrap().config.unwrap();
    assert_eq!(configs[1].gateway.as_deref(), Some("fd00:1::1"));
    assert_eq!(configs[0].gateway, None);
}

fn sample() -> Vec<Value> {
    serde_json::from_value(json!([
        {"Name": "foobar_baz", "Id": "networkID1", "Driver": "foo", "Scope": "local",
         "Created": "2016-01-01T00:00:00Z", "EnableIPv4": true, "EnableIPv6": false,
         "Internal": false, "Labels": {"b": "2", "a": "1"}},
        {"Name": "foobar_bar", "Id": "networkID2", "Driver": "bar", "Scope": "local",
         "Created": "2017-01-01T00:00:00.5+01:00", "EnableIPv4": true, "EnableIPv6": true,
         "Internal": true, "Labels": {}},
    ]))
    .unwrap()
}

fn render(format: &str, trunc: bool) -> String {
    let rows: Vec<Value> = sample().iter().map(|n| row(n, trunc)).collect();
    Template::parse(format)
        .unwrap()
        .render_rows(&rows, HEADERS)
        .unwrap()
}

/// Expected texts are docker/cli's TestNetworkContextWrite.
#[test]
fn list_formats_match_docker() {
    assert_eq!(
        render(DEFAULT_FORMAT, true),
        "NETWORK ID   NAME         DRIVER    SCOPE\nnetworkID1   foobar_baz   foo       local\nnetworkID2   foobar_bar   bar       local\n"
    );
    assert_eq!(
        render("table {{.Name}}", true),
        "NAME\nfoobar_baz\nfoobar_bar\n"
    );
    assert_eq!(
        render(RAW_FORMAT, true),
        "network_id: networkID1\nname: foobar_baz\ndriver: foo\nscope: local\n\nnetwork_id: networkID2\nname: foobar_bar\ndriver: bar\nscope: local\n\n"
    );
    assert_eq!(
        render("{{.Name}} {{.IPv6}} {{.Internal}} {{.Labels}} {{.CreatedAt}}", true),
        "foobar_baz false false a=1,b=2 2016-01-01 00:00:00 +0000 UTC\nfoobar_bar true true  2017-01-01 00:00:00.5 +0100 +0100\n"
    );
    let json_line = render("{{json .}}", true);
    assert!(
        json_line.starts_with(r#"{"CreatedAt":"2016-01-01 00:00:00 +0000 UTC","Driver":"foo","ID":"networkID1","IPv4":"true","IPv6":"false","Internal":"false","Labels":"a=1,b=2","Name":"foobar_baz","Scope":"local"}"#),
        "{json_line}"
    );
    let long = json!({"Id": "0123456789abcdef0123", "Name": "n"});
    assert_eq!(row(&long, true)["ID"], "0123456789ab");
    assert_eq!(row(&long, false)["ID"], "0123456789abcdef0123");
}

#[test]
fn quiet_and_format_choose_like_docker() {
    let ls = |args: &[&str]| {
        let mut argv = vec!["ls"];
        argv.extend_from_slice(args);
        match network_command(&argv) {
            NetworkCommand::Ls(args) => list_format(&args).to_owned(),
            other => panic!("not ls: {other:?}"),
        }
    };
    assert_eq!(ls(&[]), DEFAULT_FORMAT);
    assert_eq!(ls(&["-q"]), "{{.ID}}");
    assert_eq!(ls(&["-q", "--format", "{{.Name}}"]), "{{.Name}}");
    assert_eq!(ls(&["--format", "table"]), DEFAULT_FORMAT);
}

#[test]
fn names_sort_naturally() {
    let mut names = vec!["net10", "net2", "bridge", "net1", "host", "a01", "a1b"];
    names.sort_by(|a, b| natural_cmp(a, b));
    assert_eq!(
        names,
        ["a01", "a1b", "bridge", "host", "net1", "net2", "net10"]
    );
}

fn routes(method: &str, path: &str) -> Reply {
    match (method, path) {
        ("DELETE", "/v1.49/networks/gone") => {
            Reply::Json(404, r#"{"message":"network gone not found"}"#.into())
        }
        ("DELETE", "/v1.49/networks/busy") => Reply::Json(
            403,
            r#"{"message":"error while removing network: network busy has active endpoints"}"#
                .into(),
        ),
        ("DELETE", _) => Reply::Empty(204),
        ("POST", "/v1.49/networks/front/connect") => Reply::Empty(200),
        ("POST", "/v1.49/networks/front/disconnect") => Reply::Empty(200),
        ("POST", "/v1.49/networks/create") => Reply::Json(
            201,
            r#"{"Id":"5f2a0000000000000000000000000000000000000000000000000000000000aa","Warning":""}"#
                .into(),
        ),
        ("POST", p) if p.starts_with("/v1.49/networks/prune") => {
            Reply::Json(200, r#"{"NetworksDeleted":["a","b"]}"#.into())
        }
        _ => Reply::Json(500, r#"{"message":"unexpected"}"#.into()),
    }
}

fn body_json(daemon: &FakeDaemon, index: usize) -> Value {
    serde_json::from_slice(&daemon.requests.lock().unwrap()[index].body).unwrap()
}

#[tokio::test]
async fn rm_goes_through_every_network_and_fails_with_status_1() {
    let daemon = FakeDaemon::start(routes);
    let mut client = Client::new(daemon.host());
    let args = match network_command(&["rm", "a", "gone", "busy", "b"]) {
        NetworkCommand::Rm(args) => args,
        other => panic!("{other:?}"),
    };
    let err = rm(&mut client, args).await.unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert_eq!(
        daemon.lines(),
        [
            "DELETE /v1.49/networks/a",
            "DELETE /v1.49/networks/gone",
            "DELETE /v1.49/networks/busy",
            "DELETE /v1.49/networks/b"
        ]
    );
    // -f forgives only the missing one.
    let args = match network_command(&["rm", "-f", "gone"]) {
        NetworkCommand::Rm(args) => args,
        other => panic!("{other:?}"),
    };
    rm(&mut client, args).await.unwrap();
    let args = match network_command(&["rm", "-f", "busy"]) {
        NetworkCommand::Rm(args) => args,
        other => panic!("{other:?}"),
    };
    assert!(rm(&mut client, args).await.is_err());
}

#[tokio::test]
async fn create_connect_disconnect_and_prune_send_dockers_bodies() {
    let daemon = FakeDaemon::start(routes);
    let mut client = Client::new(daemon.host());
    create(
        &mut client,
        create_args(&["--subnet", "10.9.0.0/24", "front"]),
    )
    .await
    .unwrap();
    assert_eq!(body_json(&daemon, 0)["Name"], "front");
    assert_eq!(
        body_json(&daemon, 0)["IPAM"]["Config"],
        json!([{"Subnet": "10.9.0.0/24"}])
    );

    let args = match network_command(&[
        "connect", "--alias", "web,www", "--ip", "10.9.0.7", "--link", "db:data", "front", "box",
    ]) {
        NetworkCommand::Connect(args) => args,
        other => panic!("{other:?}"),
    };
    connect(&mut client, args).await.unwrap();
    assert_eq!(
        body_json(&daemon, 1),
        json!({"Container": "box", "EndpointConfig": {
            "IPAMConfig": {"IPv4Address": "10.9.0.7"},
            "Links": ["db:data"],
            "Aliases": ["web", "www"],
            "DriverOpts": {},
            "GwPriority": 0,
        }})
    );

    let args = match network_command(&["disconnect", "-f", "front", "box"]) {
        NetworkCommand::Disconnect(args) => args,
        other => panic!("{other:?}"),
    };
    disconnect(&mut client, args).await.unwrap();
    assert_eq!(
        body_json(&daemon, 2),
        json!({"Container": "box", "Force": true})
    );

    let args = match network_command(&["prune", "-f", "--filter", "label=x"]) {
        NetworkCommand::Prune(args) => args,
        other => panic!("{other:?}"),
    };
    prune(&mut client, args).await.unwrap();
    assert_eq!(
        daemon.lines()[1..],
        [
            "POST /v1.49/networks/front/connect",
            "POST /v1.49/networks/front/disconnect",
            "POST /v1.49/networks/prune?filters=%7B%22label%22%3A%7B%22x%22%3Atrue%7D%7D"
        ]
    );
}
