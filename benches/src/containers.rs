//! Container records as berthd holds them, built the way its create handler builds them: the
//! request body the docker CLI sends for `docker run -d --label peers-bench=1 --name pb-1
//! busybox sleep 100000` (captured from docker 28.2), merged with a busybox image's config.

use std::path::{Path, PathBuf};

use berth_engine::{merge_config, ContainerDir, ContainerRecord, State, Status};
use bollard_stubs::models::ContainerCreateBody;
use chrono::{Duration, TimeZone, Utc};
use oci_spec::image::{ConfigBuilder, ImageConfiguration, ImageConfigurationBuilder};

/// The request body of `docker run -d --label peers-bench=1 --name pb-1 busybox sleep 100000`.
pub const DOCKER_RUN_CREATE_BODY: &str = include_str!("docker_run_create_body.json");

/// `count` running containers named `pb-<i>`, created one second apart, each with its
/// directory under `containers_dir` (the paths only; nothing is written).
pub fn running(count: usize, containers_dir: &Path) -> Vec<(ContainerRecord, ContainerDir)> {
    let body: ContainerCreateBody =
        serde_json::from_str(DOCKER_RUN_CREATE_BODY).expect("the captured body decodes");
    let image = busybox_image();
    let image_id = format!("sha256:{}", "5b".repeat(32));
    let layer = PathBuf::from(format!(
        "/var/lib/berth/image/layers/{}/diff",
        "a7".repeat(32)
    ));
    let epoch = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid date");
    (0..count)
        .map(|i| {
            let id = berth_engine::new_container_id();
            let config = merge_config(&body, &image, &id).expect("the captured body is valid");
            let created = epoch + Duration::seconds(i as i64);
            let record = ContainerRecord {
                name: format!("pb-{i}"),
                created,
                image_id: image_id.clone(),
                config,
                host_config: body.host_config.clone().unwrap_or_default(),
                layers: vec![layer.clone()],
                mount_points: Vec::new(),
                state: State {
                    status: Status::Running,
                    pid: 10_000 + i as i32,
                    started_at: Some(created + Duration::milliseconds(40)),
                    ..State::created()
                },
                id,
            };
            let dir = ContainerDir::new(containers_dir, &record.id);
            (record, dir)
        })
        .collect()
}

fn busybox_image() -> ImageConfiguration {
    ImageConfigurationBuilder::default()
        .config(
            ConfigBuilder::default()
                .cmd(vec!["/bin/sh".to_string()])
                .build()
                .expect("a complete image config"),
        )
        .build()
        .expect("a complete image configuration")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_look_like_what_berthd_stores() {
        let records = running(3, Path::new("/var/lib/berth/containers"));
        assert_eq!(records.len(), 3);
        let (record, dir) = &records[1];
        assert_eq!(record.name, "pb-1");
        assert_eq!(record.command(), ["sleep", "100000"]);
        assert_eq!(
            record.config.labels.as_ref().unwrap()["peers-bench"],
            "1".to_string()
        );
        assert_eq!(dir.record(), dir.root.join("config.json"));
        assert_ne!(records[0].0.id, records[1].0.id);

        let summary = berth_engine::view::summary(record, "busybox".into(), Utc::now());
        assert_eq!(summary.names.unwrap(), ["/pb-1"]);
        let inspect = berth_engine::view::inspect(record, dir);
        assert_eq!(inspect.state.unwrap().running, Some(true));

        let saved = serde_json::to_vec(record).unwrap();
        let loaded: ContainerRecord = serde_json::from_slice(&saved).unwrap();
        assert_eq!(loaded.id, record.id);
    }
}
