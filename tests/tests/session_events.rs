//! The events of working inside a container, as Docker's daemon emits them: `exec_create`,
//! `exec_start` and `exec_die` for execs, `attach`, `detach` and `exec_detach` for clients,
//! `resize` and `top`; and an exec whose user does not exist, as Docker fails it.

use berth_tests::{Daemon, Hijacked};
use serde_json::Value;

const API: &str = "/v1.49";

const UNKNOWN_USER: &str = "unable to find user nosuchuser: no matching entries in passwd file";

/// The container's events between `since` and a second from now, as the docker CLI prints
/// them in JSON.
fn events_since(d: &Daemon, container: &str, since: &str) -> Vec<Value> {
    let until = (chrono::Utc::now() + chrono::Duration::seconds(1))
        .timestamp()
        .to_string();
    let filter = format!("container={container}");
    let out = d
        .docker(&[
            "events", "--since", since, "--until", &until, "--filter", &filter, "--format", "json",
        ])
        .ok();
    out.lines()
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn attribute<'a>(event: &'a Value, name: &str) -> &'a str {
    event["Actor"]["Attributes"][name].as_str().unwrap_or("")
}

#[test]
fn exec_attach_resize_and_top_are_events_with_dockers_attributes() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let since = chrono::Utc::now().timestamp().to_string();
    d.run_detached(&["-it", "--name", "box", "busybox", "sh"]);

    d.docker(&["exec", "box", "sh", "-c", "exit 3"]).code(3);
    d.docker(&["exec", "box", "true"]).ok();
    // Docker resolves the user itself before the start: its own message, where the output
    // would have gone, and exit code 126.
    let failed = d
        .docker(&["exec", "-u", "nosuchuser", "box", "true"])
        .code(126);
    assert_eq!(failed.stdout.trim_end(), UNKNOWN_USER, "{failed}");

    // Detach keys seen by the daemon (the docker CLI watches for them itself and only hangs
    // up, which Docker does not announce).
    let attach = format!("{API}/containers/box/attach?stream=1&stdin=1&stdout=1&stderr=1");
    let mut client = Hijacked::post(&d.socket, &attach, None).unwrap();
    client.send(b"echo attached-$((1+1))\n").unwrap();
    client.read_raw_until("attached-2").unwrap();
    client.send(b"\x10\x11").unwrap();
    client.read_raw_to_end().unwrap();
    let created = d.api(
        "POST",
        &format!("{API}/containers/box/exec"),
        Some((
            "application/json",
            br#"{"Cmd":["sh"],"Tty":true,"AttachStdin":true,"AttachStdout":true}"#,
        )),
    );
    assert_eq!(created.status, 201, "{created}");
    let exec_id = created.json()["Id"].as_str().unwrap().to_owned();
    let mut exec = Hijacked::post(
        &d.socket,
        &format!("{API}/exec/{exec_id}/start"),
        Some(r#"{"Detach":false,"Tty":true}"#),
    )
    .unwrap();
    exec.send(b"echo in-exec-$((2+2))\n").unwrap();
    exec.read_raw_until("in-exec-4").unwrap();
    exec.send(b"\x10\x11").unwrap();
    exec.read_raw_to_end().unwrap();

    assert_eq!(
        d.api("POST", "/containers/box/resize?h=20&w=60", None)
            .status,
        200
    );
    d.docker(&["top", "box"]).ok();
    assert_eq!(d.state("box"), "running", "detaching left it running");

    let events = events_since(&d, "box", &since);
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["Action"].as_str().unwrap())
        .skip_while(|a| !a.starts_with("exec_"))
        .collect();
    assert_eq!(
        actions,
        [
            "exec_create: sh -c exit 3",
            "exec_start: sh -c exit 3",
            "exec_die",
            // Docker's: the command, a space, the arguments (none here).
            "exec_create: true ",
            "exec_start: true ",
            "exec_die",
            // The unknown user: started, never running, so it never dies.
            "exec_create: true ",
            "exec_start: true ",
            "attach",
            "detach",
            "exec_create: sh ",
            "exec_start: sh ",
            "exec_detach",
            "resize",
            "top",
        ],
        "{events:#?}"
    );
    for event in &events {
        assert_eq!(event["Type"], "container");
        assert_eq!(attribute(event, "name"), "box", "{event}");
        assert_eq!(attribute(event, "image"), "busybox", "{event}");
    }
    let of = |action: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["Action"].as_str().unwrap().starts_with(action))
            .collect()
    };
    let (creates, starts, dies) = (of("exec_create"), of("exec_start"), of("exec_die"));
    for (create, start) in creates.iter().zip(&starts) {
        assert!(!attribute(create, "execID").is_empty(), "{create}");
        assert_eq!(attribute(create, "execID"), attribute(start, "execID"));
    }
    assert_eq!(
        attribute(dies[0], "execID"),
        attribute(creates[0], "execID")
    );
    assert_eq!(attribute(dies[0], "exitCode"), "3");
    assert_eq!(attribute(dies[1], "exitCode"), "0");
    assert_eq!(attribute(of("exec_detach")[0], "execID"), exec_id);
    let resize = of("resize")[0];
    assert_eq!(
        (attribute(resize, "height"), attribute(resize, "width")),
        ("20", "60")
    );

    // The exec that could not start: inspectable, not running, exit code 126.
    let failed_exec = attribute(creates[2], "execID");
    let inspect = d
        .api("GET", &format!("/exec/{failed_exec}/json"), None)
        .json();
    assert_eq!(inspect["Running"], false, "{inspect}");
    assert_eq!(inspect["ExitCode"], 126, "{inspect}");
}

#[test]
fn a_detached_exec_with_an_unknown_user_is_dockers_server_error() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.run_detached(&["--name", "box", "busybox", "sleep", "1000"]);
    let out = d
        .docker(&["exec", "-d", "-u", "nosuchuser", "box", "true"])
        .code(1);
    assert_eq!(
        out.stderr.trim_end(),
        format!("Error response from daemon: {UNKNOWN_USER}"),
        "{out}"
    );
    // A group the container lacks, and through berth's CLI.
    let out = d
        .berth(&["exec", "-u", "root:nosuchgroup", "box", "true"])
        .code(126);
    assert!(
        out.stdout
            .contains("unable to find group nosuchgroup: no matching entries in group file"),
        "{out}"
    );
    // Numeric users need no entry; the group is a supplementary one too, as with Docker.
    assert_eq!(
        d.docker(&["exec", "-u", "4242:4343", "box", "id"])
            .ok()
            .stdout,
        "uid=4242 gid=4343 groups=4343\n"
    );
    assert_eq!(d.state("box"), "running");
}
