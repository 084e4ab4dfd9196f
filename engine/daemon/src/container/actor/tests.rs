//! The state machine of the container actor, against a fake supervisor and image store:
//! no root, no processes.

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use berth_runtime::{StartFailure, StartFailureKind};
use berth_supervisor::ExitRecord;
use bollard_stubs::models::ContainerCreateBody;
use tokio::sync::oneshot;

use super::*;
use crate::container::creation;
use crate::container::names::Lookup;
use crate::container::testing::{self, FakeImages, FakeSupervisor, SpawnPlan};
use crate::error::ErrorKind;

struct Harness {
    tmp: tempfile::TempDir,
    supervisor: Arc<FakeSupervisor>,
    images: Arc<FakeImages>,
    services: Arc<Services>,
}

fn harness() -> Harness {
    let tmp = tempfile::tempdir().unwrap();
    let supervisor = Arc::new(FakeSupervisor::default());
    let images = Arc::new(FakeImages::default());
    let services = testing::services(
        &tmp.path().join("containers"),
        supervisor.clone(),
        images.clone(),
    );
    Harness {
        tmp,
        supervisor,
        images,
        services,
    }
}

impl Harness {
    async fn create(&self, body: serde_json::Value) -> (String, Addr<ContainerActor>) {
        let body: ContainerCreateBody = serde_json::from_value(body).unwrap();
        let id = creation::create(&self.services, &self.containers_dir(), body, None)
            .await
            .unwrap()
            .id;
        self.services.names.send(Lookup(id)).await.unwrap().unwrap()
    }

    fn containers_dir(&self) -> std::path::PathBuf {
        self.tmp.path().join("containers")
    }

    fn spawns(&self) -> usize {
        let calls = self.supervisor.calls();
        calls.iter().filter(|c| c.starts_with("spawn")).count()
    }
}

async fn status(addr: &Addr<ContainerActor>) -> Status {
    addr.send(Snapshot).await.unwrap().state.status
}

fn exit(code: i32) -> Exited {
    Exited {
        pid: 4242,
        exit: ExitRecord {
            exit_code: code,
            signal: None,
            finished_at: chrono::Utc::now(),
        },
    }
}

/// Waits (up to ten seconds) until `check` holds.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..1000 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

fn busybox() -> serde_json::Value {
    serde_json::json!({ "Image": "busybox" })
}

#[actix_rt::test]
async fn a_start_runs_the_container_and_its_exit_is_recorded_and_released() {
    let h = harness();
    let (id, addr) = h.create(busybox()).await;
    assert_eq!(status(&addr).await, Status::Created);
    addr.send(Start).await.unwrap().unwrap();
    let record = addr.send(Snapshot).await.unwrap();
    assert_eq!(record.state.status, Status::Running);
    assert_eq!(record.state.pid, 4242);

    let waited = addr
        .send(Wait(WaitCondition::NotRunning))
        .await
        .unwrap()
        .unwrap();
    addr.do_send(exit(3));
    assert_eq!(waited.await.unwrap(), 3);
    let record = addr.send(Snapshot).await.unwrap();
    assert_eq!(
        (record.state.status, record.state.exit_code),
        (Status::Exited, 3)
    );
    eventually("the supervisor releases the container", async || {
        h.supervisor.calls().contains(&format!("release {id}"))
    })
    .await;
    // The exit is on disk once the waiter has its answer.
    let dir = ContainerDir::new(&h.containers_dir(), &id);
    let stored = ContainerRecord::load(&dir).unwrap();
    assert_eq!(stored.state.status, Status::Exited);
}

#[actix_rt::test]
async fn starting_a_running_container_and_stopping_a_stopped_one_are_not_modified() {
    let h = harness();
    let (_, addr) = h.create(busybox()).await;
    let stop = Stop {
        timeout: None,
        signal: None,
    };
    let err = addr.send(stop).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotModified);
    addr.send(Start).await.unwrap().unwrap();
    let err = addr.send(Start).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotModified);
    assert_eq!(h.spawns(), 1);
}

#[actix_rt::test]
async fn a_supervisor_that_disappears_mid_start_leaves_the_container_created_and_startable() {
    let h = harness();
    let (_, addr) = h.create(busybox()).await;
    let (answer, held) = oneshot::channel();
    h.supervisor.plan(SpawnPlan::Hold(held));
    let start = addr.send(Start);
    eventually("the spawn reaches the supervisor", async || h.spawns() == 1).await;
    drop(answer);
    let err = start.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert_eq!(
        err.to_string(),
        "supervisor: lost the connection to the supervisor"
    );
    assert_eq!(status(&addr).await, Status::Created);

    // The supervisor is back: the container starts.
    addr.send(Start).await.unwrap().unwrap();
    assert_eq!(status(&addr).await, Status::Running);
}

#[actix_rt::test]
async fn a_kill_sent_during_a_start_applies_to_the_started_container() {
    let h = harness();
    let (id, addr) = h.create(busybox()).await;
    let (answer, held) = oneshot::channel();
    h.supervisor.plan(SpawnPlan::Hold(held));
    let start = addr.send(Start);
    let kill = addr.send(Kill {
        signal: libc::SIGKILL,
    });
    eventually("the spawn reaches the supervisor", async || h.spawns() == 1).await;
    // The start is atomic: the kill waits for it rather than finding a created container.
    assert!(!h.supervisor.calls().iter().any(|c| c.starts_with("signal")));
    let _ = answer.send(SpawnPlan::Run(4242));
    start.await.unwrap().unwrap();
    kill.await.unwrap().unwrap();
    eventually("the kill reaches the supervisor", async || {
        h.supervisor.calls().contains(&format!("signal {id} 9"))
    })
    .await;
    assert!(addr.send(Snapshot).await.unwrap().state.stopped_by_user);
}

#[actix_rt::test]
async fn a_start_the_runtime_refuses_records_dockers_exit_code() {
    let h = harness();
    let (id, addr) = h.create(busybox()).await;
    h.supervisor.plan(SpawnPlan::Refuse(StartFailure {
        kind: StartFailureKind::NotFound,
        message: "exec: \"nope\": executable file not found in $PATH".into(),
    }));
    let err = addr.send(Start).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        err.to_string(),
        format!(
            "failed to start container {id}: exec: \"nope\": executable file not found in $PATH"
        )
    );
    let record = addr.send(Snapshot).await.unwrap();
    assert_eq!(
        (record.state.status, record.state.exit_code),
        (Status::Created, 127)
    );
}

#[actix_rt::test]
async fn a_kill_of_a_container_that_does_not_run_is_a_conflict() {
    let h = harness();
    let (id, addr) = h.create(busybox()).await;
    let err = addr.send(Kill { signal: 15 }).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.to_string(), format!("Container {id} is not running"));
}

#[actix_rt::test]
async fn a_stop_answers_with_the_exit_and_keeps_the_restart_policy_from_restarting() {
    let h = harness();
    let (id, addr) = h
        .create(serde_json::json!({
            "Image": "busybox",
            "HostConfig": { "RestartPolicy": { "Name": "always" } }
        }))
        .await;
    addr.send(Start).await.unwrap().unwrap();
    let stopped = addr
        .send(Stop {
            timeout: Some(0),
            signal: None,
        })
        .await
        .unwrap()
        .unwrap();
    eventually("the stop kills the container", async || {
        h.supervisor.calls().contains(&format!("signal {id} 9"))
    })
    .await;
    addr.do_send(exit(137));
    assert_eq!(stopped.await.unwrap(), 137);
    assert_eq!(status(&addr).await, Status::Exited);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.spawns(), 1, "a stopped container is not restarted");
}

#[actix_rt::test]
async fn the_restart_policy_restarts_and_a_stop_during_the_back_off_cancels_it() {
    let h = harness();
    let (_, addr) = h
        .create(serde_json::json!({
            "Image": "busybox",
            "HostConfig": { "RestartPolicy": { "Name": "on-failure" } }
        }))
        .await;
    addr.send(Start).await.unwrap().unwrap();
    addr.do_send(exit(1));
    eventually("the policy schedules a restart", async || {
        status(&addr).await == Status::Restarting
    })
    .await;
    eventually("the policy restarts the container", async || {
        h.spawns() == 2
    })
    .await;
    eventually("it runs again", async || {
        status(&addr).await == Status::Running
    })
    .await;
    assert_eq!(addr.send(Snapshot).await.unwrap().state.restart_count, 1);

    // The second back-off (200 ms) is cut short by a stop.
    addr.do_send(exit(1));
    eventually("the policy schedules a restart", async || {
        status(&addr).await == Status::Restarting
    })
    .await;
    let stop = Stop {
        timeout: None,
        signal: None,
    };
    let stopped = addr.send(stop).await.unwrap().unwrap();
    assert_eq!(stopped.await.unwrap(), 1);
    assert_eq!(status(&addr).await, Status::Exited);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(h.spawns(), 2, "the cancelled restart does not happen");

    // A clean exit is not a failure: on-failure leaves it exited.
    addr.send(Start).await.unwrap().unwrap();
    let waited = addr
        .send(Wait(WaitCondition::NotRunning))
        .await
        .unwrap()
        .unwrap();
    addr.do_send(exit(0));
    assert_eq!(waited.await.unwrap(), 0);
    assert_eq!(status(&addr).await, Status::Exited);
}

#[actix_rt::test]
async fn the_exit_of_an_earlier_run_does_not_end_the_current_one() {
    let h = harness();
    let (_, addr) = h.create(busybox()).await;
    addr.send(Start).await.unwrap().unwrap();
    let mut earlier = exit(0);
    earlier.pid = 1111;
    addr.send(earlier).await.unwrap();
    assert_eq!(status(&addr).await, Status::Running);
}

#[actix_rt::test]
async fn a_record_write_that_fails_does_not_wedge_the_container() {
    let h = harness();
    let (id, addr) = h.create(busybox()).await;
    addr.send(Start).await.unwrap().unwrap();
    // The container's directory is replaced by a file: every record write now fails.
    let dir = ContainerDir::new(&h.containers_dir(), &id);
    std::fs::rename(&dir.root, h.tmp.path().join("moved")).unwrap();
    std::fs::write(&dir.root, b"not a directory").unwrap();

    let waited = addr
        .send(Wait(WaitCondition::NotRunning))
        .await
        .unwrap()
        .unwrap();
    addr.do_send(exit(2));
    assert_eq!(waited.await.unwrap(), 2);
    assert_eq!(status(&addr).await, Status::Exited);
    // The actor still answers, and a start that cannot open the log fails cleanly.
    let err = addr.send(Start).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    // The log's directory is made first (the local driver keeps its files in one), so the
    // failure is either step's; both name the container's directory.
    let message = err.to_string();
    assert!(
        message.starts_with("creating log directory") || message.starts_with("opening log file"),
        "{message}"
    );
    assert!(message.contains(&*dir.root.to_string_lossy()), "{message}");
    assert_eq!(h.spawns(), 1);
}

#[actix_rt::test]
async fn a_running_container_is_removed_only_by_force_and_then_only_once_it_died() {
    let h = harness();
    let (id, addr) = h.create(busybox()).await;
    addr.send(Start).await.unwrap().unwrap();
    let err = addr
        .send(Remove {
            force: false,
            volumes: false,
        })
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);

    let removed = addr
        .send(Remove {
            force: true,
            volumes: false,
        })
        .await
        .unwrap()
        .unwrap();
    eventually("the forced remove kills the container", async || {
        h.supervisor.calls().contains(&format!("signal {id} 9"))
    })
    .await;
    assert!(h.images.released.lock().is_empty(), "not before it died");
    addr.do_send(exit(137));
    removed.await.unwrap().unwrap();
    assert_eq!(*h.images.released.lock(), std::slice::from_ref(&id));
    assert!(!ContainerDir::new(&h.containers_dir(), &id).root.exists());
    let looked_up = h.services.names.send(Lookup(id.clone())).await.unwrap();
    assert!(matches!(looked_up, Err(Error::NoSuchContainer(_))));
}

fn update(json: serde_json::Value) -> Update {
    let body = serde_json::from_value(json).unwrap();
    Update {
        request: crate::container::resources::requested(&body).unwrap(),
        warnings: vec!["kept".into()],
    }
}

#[actix_rt::test]
async fn an_update_of_a_stopped_container_is_recorded_on_disk_for_its_next_start() {
    let h = harness();
    let (id, addr) = h.create(busybox()).await;
    let warnings = addr
        .send(update(serde_json::json!({
            "PidsLimit": 9, "RestartPolicy": {"Name": "always"}
        })))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(warnings, ["kept"]);
    let stored = ContainerRecord::load(&ContainerDir::new(&h.containers_dir(), &id)).unwrap();
    assert_eq!(stored.host_config.pids_limit, Some(9));
    assert_eq!(
        stored.host_config.restart_policy.unwrap().name,
        Some(bollard_stubs::models::RestartPolicyNameEnum::ALWAYS)
    );
}

#[actix_rt::test]
async fn an_update_refused_for_a_running_container_changes_nothing_stored() {
    let h = harness();
    let (id, addr) = h.create(busybox()).await;
    addr.send(Start).await.unwrap().unwrap();
    let before = addr.send(Snapshot).await.unwrap().host_config;
    // The fake services have no cgroup hierarchy: new limits cannot reach the container.
    let err = addr
        .send(update(serde_json::json!({"PidsLimit": 9})))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotImplemented);
    assert_eq!(addr.send(Snapshot).await.unwrap().host_config, before);
    let stored = ContainerRecord::load(&ContainerDir::new(&h.containers_dir(), &id)).unwrap();
    assert_eq!(stored.host_config.pids_limit, before.pids_limit);
    // A restart policy alone needs no cgroup.
    addr.send(update(
        serde_json::json!({"RestartPolicy": {"Name": "unless-stopped"}}),
    ))
    .await
    .unwrap()
    .unwrap();
    // ... and the next exit follows it: the container comes back.
    addr.do_send(exit(0));
    eventually("the restart the new policy asks for", async || {
        h.spawns() == 2
    })
    .await;
}
