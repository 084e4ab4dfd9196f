//! Volumes (issue 10 §1) through the real docker CLI and docker-py: the local driver's
//! volumes, `-v`/`--mount`/`--volumes-from`, anonymous volumes, copy-up, `Mounts` in
//! inspect, prune, `system df -v`, and data that outlives containers and daemons.

use std::process::Command;

use berth_tests::{run_command, Daemon};
use serde_json::Value;

fn volume_inspect(d: &Daemon, name: &str) -> Value {
    let response = d.api("GET", &format!("/volumes/{name}"), None);
    assert_eq!(response.status, 200, "{response}");
    response.json()
}

fn volume_names(d: &Daemon) -> Vec<String> {
    let mut names: Vec<String> = d
        .docker(&["volume", "ls", "-q"])
        .ok()
        .stdout
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

fn mounts(d: &Daemon, container: &str) -> Vec<Value> {
    d.inspect(container)["Mounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// An image whose `VOLUME /data` holds a file and a directory with their own owners and
/// modes, made with `commit --change`.
fn image_with_volume(d: &Daemon) {
    d.docker(&[
        "run",
        "--name",
        "maker",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /data/sub && echo from-image > /data/file && chown 1234:5678 /data/file \
         && chmod 0640 /data/file && chown 42:43 /data && chmod 0751 /data",
    ])
    .ok();
    d.docker(&["commit", "--change", "VOLUME /data", "maker", "withvol"])
        .ok();
    d.docker(&["rm", "maker"]).ok();
}

#[test]
fn named_volumes_are_created_listed_filtered_shared_and_removed() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let start = chrono::Utc::now().timestamp().to_string();
    let out = d
        .docker(&["volume", "create", "--label", "tier=db", "data"])
        .ok();
    assert_eq!(out.out(), "data");
    let volume = volume_inspect(&d, "data");
    assert_eq!(volume["Driver"], "local");
    assert_eq!(volume["Scope"], "local");
    assert_eq!(volume["Labels"]["tier"], "db");
    let mountpoint = d.data_root.join("volumes/data/_data");
    assert_eq!(volume["Mountpoint"], mountpoint.display().to_string());
    assert!(
        volume["CreatedAt"].as_str().unwrap().ends_with('Z'),
        "{volume}"
    );

    // `-v NAME:/path` makes a volume on first use.
    d.docker(&[
        "run",
        "--name",
        "writer",
        "-v",
        "data:/data",
        "-v",
        "other:/other",
        "busybox",
        "sh",
        "-c",
        "echo shared > /data/f",
    ])
    .ok();
    assert_eq!(volume_names(&d), vec!["data", "other"]);
    assert_eq!(
        std::fs::read_to_string(mountpoint.join("f")).unwrap(),
        "shared\n"
    );
    let read = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            "data:/in:ro",
            "busybox",
            "cat",
            "/in/f",
        ])
        .ok();
    assert_eq!(read.out(), "shared");

    let ls = |filter: &str| -> String {
        d.docker(&["volume", "ls", "-q", "--filter", filter])
            .ok()
            .stdout
    };
    assert_eq!(ls("label=tier=db"), "data\n");
    assert_eq!(ls("label=tier"), "data\n");
    assert_eq!(ls("name=oth"), "other\n");
    assert_eq!(ls("driver=local").lines().count(), 2);
    assert_eq!(ls("dangling=true"), "");
    let writer = d
        .docker(&["ps", "-aq", "--no-trunc", "--filter", "volume=data"])
        .ok();
    assert_eq!(writer.out(), d.inspect("writer")["Id"].as_str().unwrap());
    let by_destination = d.docker(&["ps", "-aq", "--filter", "volume=/other"]).ok();
    assert_eq!(by_destination.stdout.lines().count(), 1);
    assert_eq!(
        d.docker(&["ps", "-aq", "--filter", "volume=nothing"])
            .ok()
            .stdout,
        ""
    );
    d.docker(&["volume", "ls", "--filter", "colour=blue"])
        .fails()
        .stderr_has("invalid filter 'colour'");

    // A volume in use, even by a stopped container, is not removed, forced or not.
    let refused = d.docker(&["volume", "rm", "-f", "data"]).fails();
    let id = d.inspect("writer")["Id"].as_str().unwrap().to_string();
    refused.stderr_has(&format!("remove data: volume is in use - [{id}]"));
    let response = d.api("DELETE", "/volumes/data", None);
    assert_eq!(response.status, 409, "{response}");
    assert!(mountpoint.join("f").exists());

    d.docker(&["rm", "writer"]).ok();
    assert_eq!(ls("dangling=true").lines().count(), 2);
    d.docker(&["volume", "rm", "data", "other"]).ok();
    assert!(volume_names(&d).is_empty());
    assert!(!d.data_root.join("volumes/data").exists());
    d.docker(&["volume", "inspect", "data"])
        .fails()
        .stderr_has("no such volume");
    d.docker(&["volume", "rm", "-f", "data"]).ok();

    let until = (chrono::Utc::now().timestamp() + 1).to_string();
    let events = d
        .docker(&[
            "events",
            "--since",
            &start,
            "--until",
            &until,
            "--filter",
            "type=volume",
            "--format",
            "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.driver}}",
        ])
        .ok();
    assert_eq!(
        events.stdout.lines().collect::<Vec<_>>(),
        [
            "create data local",
            "create other local",
            "destroy data local",
            "destroy other local"
        ],
        "{events}"
    );
}

#[test]
fn bad_names_drivers_and_specs_get_dockers_errors_and_change_nothing() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.docker(&["volume", "create", "keep"]).ok();
    d.docker(&["volume", "create", "a/b"])
        .fails()
        .stderr_has("\"a/b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed");
    for body in [
        r#"{"Name": ".."}"#,
        r#"{"Name": "../escape"}"#,
        r#"{"Name": "x"}"#,
    ] {
        let response = d.api(
            "POST",
            "/volumes/create",
            Some(("application/json", body.as_bytes())),
        );
        assert_eq!(response.status, 400, "{body}: {response}");
    }
    d.docker(&["volume", "create", "--driver", "nope", "v1"])
        .fails()
        .stderr_has("create v1: error looking up volume plugin nope: plugin \"nope\" not found");
    d.docker(&["volume", "create", "-o", "colour=blue", "v2"])
        .fails()
        .stderr_has("invalid option: \"colour\"");
    d.docker(&["volume", "create", "-o", "type=tmpfs", "v3"])
        .fails()
        .stderr_has("missing required option: \"device\"");
    d.docker(&[
        "run",
        "--rm",
        "--volume-driver",
        "nope",
        "-v",
        "v4:/data",
        "busybox",
        "true",
    ])
    .code(125)
    .stderr_has("plugin \"nope\" not found");
    d.docker(&["run", "--rm", "-v", "bad name:/data", "busybox", "true"])
        .code(125)
        .stderr_has("includes invalid characters for a local volume name");
    d.docker(&["run", "--rm", "-v", "v5:data", "busybox", "true"])
        .code(125)
        .stderr_has("mount path must be absolute");
    let body =
        r#"{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"VolumesFrom": ["missing"]}}"#;
    let response = d.api(
        "POST",
        "/containers/create",
        Some(("application/json", body.as_bytes())),
    );
    assert_eq!(response.status, 404, "{response}");
    assert!(
        response.text().contains("No such container: missing"),
        "{response}"
    );
    // An anonymous volume made for a create that then fails is removed again.
    d.docker(&[
        "run",
        "--rm",
        "-v",
        "/anon",
        "--mount",
        "type=volume,source=keep,target=/k,volume-subpath=nope",
        "busybox",
        "true",
    ])
    .code(125)
    .stderr_has("subpath nope does not exist in volume keep");
    assert_eq!(volume_names(&d), vec!["keep"]);
    assert!(d.container_ids().is_empty());
    let entries: Vec<_> = std::fs::read_dir(d.data_root.join("volumes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, vec!["keep"]);
}

#[test]
fn anonymous_volumes_are_filled_from_the_image_and_removed_with_rm_v_and_rm() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    image_with_volume(&d);
    d.docker(&[
        "run", "--name", "anon", "-v", "/scratch", "withvol", "ls", "-ln", "/data",
    ])
    .ok();
    let points = mounts(&d, "anon");
    assert_eq!(points.len(), 2, "{points:?}");
    let data = points.iter().find(|m| m["Destination"] == "/data").unwrap();
    let name = data["Name"].as_str().unwrap().to_string();
    assert_eq!(name.len(), 64, "{data}");
    let source = d.data_root.join("volumes").join(&name).join("_data");
    assert_eq!(
        *data,
        serde_json::json!({"Type": "volume", "Name": name, "Source": source.display().to_string(),
            "Destination": "/data", "Driver": "local", "Mode": "", "RW": true, "Propagation": ""})
    );
    let volume = volume_inspect(&d, &name);
    assert_eq!(
        volume["Labels"]["com.docker.volume.anonymous"], "",
        "{volume}"
    );
    // Copy-up keeps owners and modes, of the directory itself too.
    use std::os::unix::fs::MetadataExt;
    let file = std::fs::metadata(source.join("file")).unwrap();
    assert_eq!(
        (file.uid(), file.gid(), file.mode() & 0o7777),
        (1234, 5678, 0o640)
    );
    let root = std::fs::metadata(&source).unwrap();
    assert_eq!(
        (root.uid(), root.gid(), root.mode() & 0o7777),
        (42, 43, 0o751)
    );
    assert_eq!(
        std::fs::read_to_string(source.join("file")).unwrap(),
        "from-image\n"
    );
    assert!(source.join("sub").is_dir());
    assert_eq!(volume_names(&d).len(), 2);

    d.docker(&["rm", "-v", "anon"]).ok();
    assert!(volume_names(&d).is_empty());

    let out = d
        .docker(&["run", "--rm", "withvol", "cat", "/data/file"])
        .ok();
    assert_eq!(out.out(), "from-image");
    assert!(
        volume_names(&d).is_empty(),
        "--rm leaves no anonymous volume"
    );

    // A named volume is filled on first use too, unless `nocopy`; `rm -v` keeps it.
    let out = d
        .docker(&[
            "run",
            "--name",
            "named",
            "-v",
            "filled:/data",
            "withvol",
            "cat",
            "/data/file",
        ])
        .ok();
    assert_eq!(out.out(), "from-image");
    d.docker(&[
        "run",
        "--rm",
        "-v",
        "empty:/data:nocopy",
        "withvol",
        "ls",
        "/data",
    ])
    .ok();
    assert!(std::fs::read_dir(d.data_root.join("volumes/empty/_data"))
        .unwrap()
        .next()
        .is_none());
    d.docker(&["rm", "-v", "named"]).ok();
    assert_eq!(volume_names(&d), vec!["empty", "filled"]);
    // A volume that has content is not filled again.
    std::fs::write(d.data_root.join("volumes/filled/_data/file"), "mine\n").unwrap();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            "filled:/data",
            "withvol",
            "cat",
            "/data/file",
        ])
        .ok();
    assert_eq!(out.out(), "mine");
}

#[test]
fn mounts_show_as_docker_shows_them_and_volumes_from_shares_them() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let host = tempfile::tempdir().unwrap();
    let host_path = host.path().display().to_string();
    d.docker(&[
        "create",
        "--name",
        "data",
        "-v",
        &format!("{host_path}:/host:ro"),
        "--mount",
        "type=volume,source=vol,target=/vol",
        "busybox",
        "true",
    ])
    .ok();
    let points = mounts(&d, "data");
    let bind = points.iter().find(|m| m["Destination"] == "/host").unwrap();
    assert_eq!(
        *bind,
        serde_json::json!({"Type": "bind", "Source": host_path, "Destination": "/host",
            "Mode": "ro", "RW": false, "Propagation": "rprivate"})
    );
    let vol = points.iter().find(|m| m["Destination"] == "/vol").unwrap();
    assert_eq!(vol["Name"], "vol");
    assert_eq!(vol["Mode"], "");
    assert_eq!(vol["Driver"], "local");

    d.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "data",
        "busybox",
        "sh",
        "-c",
        "echo hi > /vol/f",
    ])
    .ok();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--volumes-from",
            "data:ro",
            "busybox",
            "sh",
            "-c",
            "cat /vol/f; echo x > /vol/g",
        ])
        .fails();
    assert!(out.stdout.contains("hi"), "{out}");
    assert!(out.stderr.contains("Read-only file system"), "{out}");
    let from = d
        .docker(&["create", "--volumes-from", "data:ro", "busybox", "true"])
        .ok();
    let copied = mounts(&d, from.out());
    assert!(copied.iter().all(|m| m["RW"] == false), "{copied:?}");
    assert_eq!(copied.len(), 2);
}

#[test]
fn prune_takes_anonymous_volumes_unless_all_and_df_counts_volumes() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.docker(&["volume", "create", "named"]).ok();
    d.docker(&["run", "--name", "keeper", "-v", "/kept", "busybox", "true"])
        .ok();
    d.docker(&[
        "run",
        "--rm",
        "-v",
        "named:/n",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/n/blob bs=1024 count=64 2>/dev/null",
    ])
    .ok();
    let anon = d.docker(&["volume", "create"]).ok().out().to_string();
    assert_eq!(anon.len(), 64);

    let df = d
        .docker(&["system", "df", "-v", "--format", "{{json .Volumes}}"])
        .ok();
    let volumes: Value = serde_json::from_str(df.out()).unwrap();
    let named = volumes
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["Name"] == "named")
        .unwrap();
    assert_eq!(named["Size"], "65.54kB", "{df}");
    assert_eq!(named["Links"], "0", "{df}");
    let text = d.docker(&["system", "df"]).ok();
    assert!(text.stdout.contains("Local Volumes"), "{text}");

    let pruned = d.docker(&["volume", "prune", "-f"]).ok();
    assert!(pruned.stdout.contains(&anon), "{pruned}");
    let names = volume_names(&d);
    assert_eq!(
        names.len(),
        2,
        "the used anonymous and the named one stay: {names:?}"
    );
    assert!(names.contains(&"named".to_string()));
    d.docker(&["volume", "prune", "-f", "--all"]).ok();
    assert_eq!(volume_names(&d).len(), 1);
    // Before API 1.42, prune took named volumes too.
    d.docker(&["volume", "create", "old"]).ok();
    let response = d.api("POST", "/v1.41/volumes/prune", None);
    assert_eq!(response.status, 200, "{response}");
    assert_eq!(
        response.json()["VolumesDeleted"],
        serde_json::json!(["old"])
    );
}

#[test]
fn a_volume_with_mount_options_is_mounted_while_used() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.docker(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m,uid=1000",
        "scratch",
    ])
    .ok();
    let volume = volume_inspect(&d, "scratch");
    assert_eq!(volume["Options"]["type"], "tmpfs");
    let data = d.data_root.join("volumes/scratch/_data");
    let mounted = || {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(data.to_str().unwrap()))
    };
    assert!(!mounted());
    let out = d
        .docker(&[
            "run",
            "--name",
            "user",
            "-v",
            "scratch:/s",
            "busybox",
            "sh",
            "-c",
            "stat -c %u /s; grep ' /s ' /proc/mounts",
        ])
        .ok();
    assert!(out.stdout.starts_with("1000\n"), "{out}");
    assert!(out.stdout.contains("tmpfs /s tmpfs"), "{out}");
    assert!(mounted());
    d.docker(&["rm", "user"]).ok();
    assert!(!mounted(), "unmounted once no container uses it");
    d.docker(&["volume", "rm", "scratch"]).ok();
}

#[test]
fn volume_data_survives_container_and_daemon_restarts_and_a_kill_9() {
    berth_tests::needs_root!();
    let mut d = Daemon::with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "db",
        "-v",
        "db:/data",
        "busybox",
        "sh",
        "-c",
        "echo $$ >> /data/log; sleep 1000",
    ])
    .ok();
    d.docker(&["restart", "-t", "0", "db"]).ok();
    d.terminate();
    d.restart();
    d.kill9();
    d.restart();
    let log = d.docker(&["exec", "db", "cat", "/data/log"]).ok();
    assert_eq!(log.stdout.lines().count(), 2, "{log}");
    // The restarted daemon knows the volume is still in use.
    d.docker(&["volume", "rm", "db"])
        .fails()
        .stderr_has("volume is in use");
    d.docker(&["rm", "-f", "db"]).ok();
    d.kill9();
    d.restart();
    assert_eq!(volume_names(&d), vec!["db"]);
    let out = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            "db:/data",
            "busybox",
            "cat",
            "/data/log",
        ])
        .ok();
    assert_eq!(out.stdout.lines().count(), 2);
    d.docker(&["volume", "rm", "db"]).ok();
}

const DOCKER_PY: &str = r#"
import docker
client = docker.from_env()
v = client.volumes.create(name="pyvol", labels={"app": "py"})
assert v.name == "pyvol" and v.attrs["Labels"] == {"app": "py"}, v.attrs
assert client.volumes.get("pyvol").attrs["Mountpoint"].endswith("/volumes/pyvol/_data")
assert [x.name for x in client.volumes.list(filters={"label": "app=py"})] == ["pyvol"]
out = client.containers.run("busybox", ["sh", "-c", "echo py > /v/f; cat /v/f"],
                            volumes={"pyvol": {"bind": "/v", "mode": "rw"}}, name="pyuser")
assert out == b"py\n", out
c = client.containers.get("pyuser")
assert c.attrs["Mounts"][0]["Name"] == "pyvol", c.attrs["Mounts"]
try:
    v.remove()
    raise SystemExit("removed a volume in use")
except docker.errors.APIError as e:
    assert e.status_code == 409, e
c.remove(v=True)
v.remove()
try:
    client.volumes.get("pyvol")
    raise SystemExit("found a removed volume")
except docker.errors.NotFound:
    pass
client.volumes.create()
assert len(client.volumes.prune()["VolumesDeleted"]) == 1
print("ok")
"#;

#[test]
fn docker_py_creates_uses_and_removes_volumes() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let mut python = Command::new("python3");
    python
        .args(["-c", DOCKER_PY])
        .env("DOCKER_HOST", d.host())
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH");
    let out = run_command(python, None);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "ok\n", "{out}");
}
