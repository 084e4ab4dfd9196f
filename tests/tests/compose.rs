//! Issue 10, section 4: Debian's docker-compose 1.29 (`apt-get install docker-compose`,
//! which scripts/test.sh installs) runs a real project against berthd unchanged: a web
//! service and a "db" service on a user network, a named and a bind volume, a healthcheck
//! the web service waits for, ports, environment, env files, restart policies, labels and
//! scale, through `up`, `ps`, `logs`, `exec`, `restart`, `stop`, `start`, `up --scale`,
//! a recreate and `down -v`; `build:` services; and a project naming a network that does
//! not exist.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use berth_tests::{run_command, Daemon, Output};
use serde_json::Value;

/// `docker-compose -p PROJECT ARGS…` in `dir`, reaching `d` through `DOCKER_HOST`.
fn compose(d: &Daemon, dir: &Path, project: &str, args: &[&str]) -> Output {
    compose_with(d, dir, project, args, &[])
}

fn compose_with(
    d: &Daemon,
    dir: &Path,
    project: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    assert!(
        Path::new("/usr/bin/docker-compose").exists(),
        "docker-compose is not installed: apt-get install --no-install-recommends docker-compose"
    );
    let mut cmd = Command::new("docker-compose");
    cmd.arg("--no-ansi")
        .args(["-p", project])
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.docker_config())
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("COMPOSE_API_VERSION");
    for (key, value) in env {
        cmd.env(key, value);
    }
    run_command(cmd, None)
}

/// The project's containers by name, through the API with compose's own filter.
fn project_containers(d: &Daemon, project: &str) -> BTreeMap<String, Value> {
    let filters = format!(r#"{{"label":["com.docker.compose.project={project}"]}}"#);
    let path = format!("/containers/json?all=1&filters={}", urlencode(&filters));
    let response = d.api("GET", &path, None);
    assert_eq!(response.status, 200, "{response}");
    response
        .json()
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| {
            let name = c["Names"][0].as_str().unwrap_or_default();
            (name.trim_start_matches('/').to_owned(), c.clone())
        })
        .collect()
}

fn ids(containers: &BTreeMap<String, Value>) -> BTreeMap<String, String> {
    containers
        .iter()
        .map(|(name, c)| {
            (
                name.clone(),
                c["Id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A subnet of the daemon's own range for the project's network (the third octet of its
/// `--bip` is no other test daemon's), so parallel tests never route to each other.
fn project_subnet(d: &Daemon) -> String {
    let octet = d.network().gateway.split('.').nth(2).expect("a.b.c.d");
    format!("10.231.{octet}.0/24")
}

/// One HTTP/1.0 GET of `/` from 127.0.0.1:`port`: the body.
fn http_get(port: &str) -> String {
    let mut stream = TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
        .write_all(b"GET / HTTP/1.0\r\n\r\n")
        .expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or(answer)
}

const PROJECT: &str = r#"version: "2.4"
services:
  db:
    image: busybox
    command: ["sh", "-c", "mkdir -p /data/www && echo db is up > /data/www/index.html && echo db started && httpd -p 80 -h /data/www && while true; do date >> /data/log; sleep 1; done"]
    volumes:
      - dbdata:/data
    healthcheck:
      test: ["CMD", "test", "-f", "/data/www/index.html"]
      interval: 1s
      timeout: 5s
      retries: 60
    networks: [back]
    restart: always
    labels:
      tier: db
  web:
    image: busybox
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: ["8080"]
    environment:
      GREETING: hello
    env_file: web.env
    volumes:
      - ./www:/www:ro
    depends_on:
      db:
        condition: service_healthy
    networks: [back]
    restart: unless-stopped
    labels:
      tier: web
    scale: 2
networks:
  back:
    ipam:
      config:
        - subnet: SUBNET
volumes:
  dbdata: {}
"#;

#[test]
fn compose_runs_a_project_through_its_whole_life() {
    berth_tests::needs_root!();
    let d = Daemon::networked();
    let dir = tempfile::tempdir().expect("project directory");
    let project = "shop";
    let file = PROJECT.replace("SUBNET", &project_subnet(&d));
    std::fs::write(dir.path().join("docker-compose.yml"), &file).unwrap();
    std::fs::write(dir.path().join("web.env"), "FROM_FILE=yes\n").unwrap();
    std::fs::create_dir(dir.path().join("www")).unwrap();
    std::fs::write(dir.path().join("www/index.html"), "hello from web\n").unwrap();

    compose(&d, dir.path(), project, &["up", "-d"]).ok();
    let containers = project_containers(&d, project);
    assert_eq!(
        containers.keys().collect::<Vec<_>>(),
        ["shop_db_1", "shop_web_1", "shop_web_2"],
        "{containers:#?}"
    );
    let first_ids = ids(&containers);

    // The labels come back exactly as compose wrote them.
    let web1 = d.inspect("shop_web_1");
    let labels = &web1["Config"]["Labels"];
    assert_eq!(labels["com.docker.compose.project"], "shop", "{labels}");
    assert_eq!(labels["com.docker.compose.service"], "web", "{labels}");
    assert_eq!(labels["com.docker.compose.container-number"], "1");
    assert_eq!(labels["com.docker.compose.oneoff"], "False");
    assert_eq!(labels["tier"], "web");
    assert_eq!(
        labels["com.docker.compose.project.working_dir"],
        dir.path().to_str().unwrap()
    );
    assert_eq!(
        labels["com.docker.compose.config-hash"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    let env: Vec<&str> = web1["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        env.contains(&"GREETING=hello") && env.contains(&"FROM_FILE=yes"),
        "{env:?}"
    );
    assert_eq!(
        web1["HostConfig"]["RestartPolicy"]["Name"],
        "unless-stopped"
    );
    let db = d.inspect("shop_db_1");
    assert_eq!(db["HostConfig"]["RestartPolicy"]["Name"], "always");
    assert_eq!(db["Config"]["Labels"]["tier"], "db");
    let network = d.api("GET", "/networks/shop_back", None).json();
    assert_eq!(
        network["Labels"]["com.docker.compose.project"], "shop",
        "{network}"
    );
    assert_eq!(network["Labels"]["com.docker.compose.network"], "back");
    let volume = d.api("GET", "/volumes/shop_dbdata", None).json();
    assert_eq!(
        volume["Labels"]["com.docker.compose.volume"], "dbdata",
        "{volume}"
    );

    // The named volume and the bind are mounted where the file says.
    let db_mounts = db["Mounts"].as_array().unwrap();
    assert_eq!(db_mounts.len(), 1, "{db_mounts:?}");
    assert_eq!(db_mounts[0]["Type"], "volume");
    assert_eq!(db_mounts[0]["Name"], "shop_dbdata");
    assert_eq!(db_mounts[0]["Destination"], "/data");
    let web_mounts = web1["Mounts"].as_array().unwrap();
    assert_eq!(web_mounts.len(), 1, "{web_mounts:?}");
    assert_eq!(web_mounts[0]["Type"], "bind");
    assert_eq!(web_mounts[0]["Destination"], "/www");
    assert_eq!(web_mounts[0]["RW"], false);

    // depends_on with service_healthy: the web containers started only once db was healthy.
    assert_eq!(
        db["State"]["Health"]["Status"], "healthy",
        "{}",
        db["State"]
    );
    let healthy_at = db["State"]["Health"]["Log"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["ExitCode"] == 0)
        .and_then(|entry| entry["End"].as_str())
        .expect("a passing check")
        .to_owned();
    for web in ["shop_web_1", "shop_web_2"] {
        let started = d.inspect(web)["State"]["StartedAt"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            started.as_str() > healthy_at.as_str(),
            "{web} started at {started}, before db was healthy at {healthy_at}"
        );
    }

    let ps = compose(&d, dir.path(), project, &["ps"]).ok();
    let db_line = ps.lines().into_iter().find(|l| l.starts_with("shop_db_1"));
    assert!(db_line.is_some_and(|l| l.contains("Up (healthy)")), "{ps}");
    assert!(ps.stdout.contains("->8080/tcp"), "{ps}");

    // The published ports answer on the host, each with its own port.
    let port = |name: &str| {
        d.inspect(name)["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"]
            .as_str()
            .expect("a published port")
            .to_owned()
    };
    let (port1, port2) = (port("shop_web_1"), port("shop_web_2"));
    assert_ne!(port1, port2);
    assert_eq!(http_get(&port1), "hello from web\n");
    assert_eq!(http_get(&port2), "hello from web\n");

    // exec, the environment, and the db service reached by its name on the network.
    compose(
        &d,
        dir.path(),
        project,
        &["exec", "-T", "web", "sh", "-c", "echo $GREETING $FROM_FILE"],
    )
    .ok()
    .stdout_has("hello yes");
    compose(
        &d,
        dir.path(),
        project,
        &[
            "exec",
            "-T",
            "--index=2",
            "web",
            "sh",
            "-c",
            "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc db 80",
        ],
    )
    .ok()
    .stdout_has("db is up");

    // db writes into its named volume, which the host sees.
    let mountpoint = volume["Mountpoint"].as_str().unwrap().to_owned();
    berth_tests::eventually("db to write its log into the volume", || {
        std::fs::read_to_string(Path::new(&mountpoint).join("log"))
            .is_ok_and(|log| log.lines().count() >= 2)
    });

    compose(&d, dir.path(), project, &["logs", "--no-color", "db"])
        .ok()
        .stdout_has("db started");

    // A second `up -d` finds every container by its labels and recreates none.
    let again = compose(&d, dir.path(), project, &["up", "-d"]).ok();
    for name in ["shop_db_1", "shop_web_1", "shop_web_2"] {
        assert!(
            again.stderr.contains(&format!("{name} is up-to-date")),
            "{again}"
        );
    }
    assert_eq!(ids(&project_containers(&d, project)), first_ids);

    let started = |name: &str| d.inspect(name)["State"]["StartedAt"].clone();
    let before = started("shop_web_1");
    compose(&d, dir.path(), project, &["restart", "-t", "1"]).ok();
    assert_ne!(started("shop_web_1"), before);
    assert_eq!(ids(&project_containers(&d, project)), first_ids);
    assert_eq!(d.state("shop_db_1"), "running");

    compose(&d, dir.path(), project, &["stop", "-t", "1"]).ok();
    for name in first_ids.keys() {
        assert_eq!(d.state(name), "exited", "{name}");
    }
    compose(&d, dir.path(), project, &["start"]).ok();
    for name in first_ids.keys() {
        assert_eq!(d.state(name), "running", "{name}");
    }

    compose(&d, dir.path(), project, &["up", "-d", "--scale", "web=3"]).ok();
    let scaled = ids(&project_containers(&d, project));
    assert_eq!(scaled.len(), 4, "{scaled:?}");
    for (name, id) in &first_ids {
        assert_eq!(scaled.get(name), Some(id), "{name} was recreated");
    }
    assert_eq!(
        d.inspect("shop_web_3")["Config"]["Labels"]["com.docker.compose.container-number"],
        "3"
    );

    // A changed service is recreated, the unchanged one is not. Compose 1.29 reads the
    // image's `ContainerConfig`, which Docker (and berth) answer only below API 1.45;
    // against Docker 26 and later it needs the same COMPOSE_API_VERSION.
    let changed = file.replace("GREETING: hello", "GREETING: changed");
    std::fs::write(dir.path().join("docker-compose.yml"), changed).unwrap();
    compose_with(
        &d,
        dir.path(),
        project,
        &["up", "-d", "-t", "1"],
        &[("COMPOSE_API_VERSION", "1.44")],
    )
    .ok();
    let recreated = ids(&project_containers(&d, project));
    assert_eq!(recreated.get("shop_db_1"), first_ids.get("shop_db_1"));
    assert_eq!(recreated.len(), 3, "{recreated:?}");
    for name in ["shop_web_1", "shop_web_2"] {
        assert_ne!(recreated.get(name), first_ids.get(name), "{name} kept");
    }
    compose(
        &d,
        dir.path(),
        project,
        &["exec", "-T", "web", "sh", "-c", "echo $GREETING"],
    )
    .ok()
    .stdout_has("changed");

    compose(&d, dir.path(), project, &["down", "-v", "-t", "1"]).ok();
    assert!(project_containers(&d, project).is_empty());
    assert_eq!(d.api("GET", "/networks/shop_back", None).status, 404);
    assert_eq!(d.api("GET", "/volumes/shop_dbdata", None).status, 404);
}

#[test]
fn compose_builds_the_images_of_build_services() {
    berth_tests::needs_root!();
    let d = Daemon::networked();
    let dir = tempfile::tempdir().expect("project directory");
    let file = format!(
        r#"version: "2.4"
services:
  app:
    build:
      context: ./app
      args:
        WHO: compose
    image: made_by_compose:1
    command: ["cat", "/greeting"]
networks:
  default:
    ipam:
      config:
        - subnet: {}
"#,
        project_subnet(&d)
    );
    std::fs::write(dir.path().join("docker-compose.yml"), file).unwrap();
    std::fs::create_dir(dir.path().join("app")).unwrap();
    std::fs::write(
        dir.path().join("app/Dockerfile"),
        "FROM busybox\nARG WHO\nRUN echo \"built by $WHO\" > /greeting\n",
    )
    .unwrap();

    compose(&d, dir.path(), "made", &["build"])
        .ok()
        .stdout_has("Successfully tagged made_by_compose:1");
    compose(&d, dir.path(), "made", &["up", "-d"]).ok();
    d.wait_for_state("made_app_1", "exited");
    compose(&d, dir.path(), "made", &["logs", "--no-color"])
        .ok()
        .stdout_has("built by compose");
    assert_eq!(
        d.inspect("made_app_1")["Config"]["Image"],
        "made_by_compose:1"
    );

    compose(&d, dir.path(), "made", &["down", "--rmi", "all"]).ok();
    assert!(project_containers(&d, "made").is_empty());
    assert_eq!(
        d.api("GET", "/images/made_by_compose:1/json", None).status,
        404
    );
}

#[test]
fn compose_refuses_a_network_that_does_not_exist_and_creates_nothing() {
    berth_tests::needs_root!();
    let d = Daemon::networked();
    d.docker(&["volume", "create", "keep"]).ok();
    let dir = tempfile::tempdir().expect("project directory");
    let file = r#"version: "2.4"
services:
  app:
    image: busybox
    command: ["sleep", "1000"]
    networks: [outside]
networks:
  outside:
    external: true
"#;
    std::fs::write(dir.path().join("docker-compose.yml"), file).unwrap();
    compose(&d, dir.path(), "lost", &["up", "-d"])
        .code(1)
        .stderr_has(
            "Network outside declared as external, but could not be found. \
             Please create the network manually using `docker network create outside` and try again.",
        );
    assert!(project_containers(&d, "lost").is_empty());
    assert!(d.container_ids().is_empty());
    let volumes = d.api("GET", "/volumes", None).json();
    let names: Vec<&str> = volumes["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["Name"].as_str())
        .collect();
    assert_eq!(names, ["keep"]);

    // A service naming a network the file does not declare is compose's own error, before
    // it asks the daemon anything.
    let undeclared = file.replace("networks:\n  outside:\n    external: true\n", "");
    std::fs::write(dir.path().join("docker-compose.yml"), undeclared).unwrap();
    compose(&d, dir.path(), "lost", &["up", "-d"])
        .code(1)
        .stderr_has("Service \"app\" uses an undefined network \"outside\"");
    assert!(d.container_ids().is_empty());
    assert_eq!(d.api("GET", "/volumes/keep", None).status, 200);
}
