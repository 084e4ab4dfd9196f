//! The watching half of issue 3 through docker-py (`pip install docker`, which
//! scripts/test.sh installs): `containers.run(detach=True)`, `logs(stream=True)`,
//! `stats(stream=False)` and streamed, `top`, `pause`/`unpause` and `events`.

use std::process::Command;

use berth_tests::{run_command, Daemon};

const SCRIPT: &str = r#"
import datetime, docker

client = docker.from_env()
start = datetime.datetime.now(datetime.timezone.utc)

talker = client.containers.run(
    "busybox", ["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.1; done"],
    detach=True, name="pytalker")
streamed = b"".join(talker.logs(stream=True))
assert streamed == b"line 1\nline 2\nline 3\n", streamed
assert talker.wait()["StatusCode"] == 0

sleeper = client.containers.run("busybox", ["sleep", "1000"], detach=True, name="pysleeper")
stats = sleeper.stats(stream=False)
assert stats["name"] == "/pysleeper", stats
assert stats["cpu_stats"]["cpu_usage"]["total_usage"] > 0, stats
assert stats["cpu_stats"]["system_cpu_usage"] > 0, stats
assert stats["precpu_stats"]["system_cpu_usage"] > 0, stats
assert stats["memory_stats"]["usage"] > 0, stats
assert stats["memory_stats"]["limit"] > 0, stats
assert stats["pids_stats"]["current"] == 1, stats
frames = sleeper.stats(stream=True, decode=True)
first, second = next(frames), next(frames)
assert second["precpu_stats"]["cpu_usage"]["total_usage"] == first["cpu_stats"]["cpu_usage"]["total_usage"], (first, second)
frames.close()

top = sleeper.top()
assert top["Titles"][:2] == ["UID", "PID"], top
assert [p[-1] for p in top["Processes"]] == ["sleep 1000"], top
top = sleeper.top(ps_args="-o pid,comm")
assert top["Titles"] == ["PID", "COMMAND"], top

sleeper.pause()
sleeper.reload()
assert sleeper.status == "paused", sleeper.status
assert sleeper.attrs["State"]["Paused"] is True
sleeper.unpause()
sleeper.reload()
assert sleeper.status == "running", sleeper.status
sleeper.kill()
assert sleeper.wait()["StatusCode"] == 137

until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)
actions = [e["Action"] for e in client.events(
    since=start, until=until, decode=True, filters={"container": "pysleeper"})]
assert actions == ["create", "start", "top", "top", "pause", "unpause", "kill", "die"], actions
print("ok")
"#;

#[test]
fn docker_py_runs_follows_samples_lists_and_pauses() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let mut python = Command::new("python3");
    python
        .args(["-c", SCRIPT])
        .env("DOCKER_HOST", d.host())
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH");
    let out = run_command(python, None);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "ok\n", "{out}");
}
