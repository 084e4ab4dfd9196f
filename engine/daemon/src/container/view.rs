//! The container as the API shows it: `inspect` and the `ps` summary.

use bollard_stubs::models::{
    ContainerInspectResponse, ContainerState, ContainerStateStatusEnum, ContainerSummary,
    ContainerSummaryHostConfig, ContainerSummaryStateEnum, DriverData, Health, HealthStatusEnum,
    HealthcheckResult, MountPoint, MountPointTypeEnum, NetworkSettings,
};
use chrono::{DateTime, Utc};

use super::mount_points::MountKind;
use super::record::{ContainerDir, ContainerRecord, Status};
use crate::network::ports::{self, ContainerPort};

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn time(t: &Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
        .unwrap_or_else(|| ZERO_TIME.to_string())
}

fn state_enum(status: Status) -> ContainerStateStatusEnum {
    match status {
        Status::Created => ContainerStateStatusEnum::CREATED,
        Status::Running => ContainerStateStatusEnum::RUNNING,
        Status::Paused => ContainerStateStatusEnum::PAUSED,
        Status::Restarting => ContainerStateStatusEnum::RESTARTING,
        Status::Removing => ContainerStateStatusEnum::REMOVING,
        Status::Exited => ContainerStateStatusEnum::EXITED,
        Status::Dead => ContainerStateStatusEnum::DEAD,
    }
}

/// `Mounts` as Docker shows them: binds and volumes, then tmpfs mounts.
fn mounts(record: &ContainerRecord) -> Vec<MountPoint> {
    let mut mounts: Vec<MountPoint> = record
        .mount_points
        .iter()
        .map(|point| {
            let volume = point.kind == MountKind::Volume;
            MountPoint {
                typ: Some(if volume {
                    MountPointTypeEnum::VOLUME
                } else {
                    MountPointTypeEnum::BIND
                }),
                name: volume.then(|| point.name.clone()),
                source: Some(point.source.display().to_string()),
                destination: Some(point.destination.clone()),
                driver: volume.then(|| berth_volumes::LOCAL_DRIVER.to_string()),
                mode: Some(point.mode.clone()),
                rw: Some(point.rw),
                propagation: Some(point.propagation.clone()),
            }
        })
        .collect();
    for m in record.host_config.mounts.iter().flatten() {
        if m.typ != Some(bollard_stubs::models::MountTypeEnum::TMPFS) {
            continue;
        }
        mounts.push(MountPoint {
            typ: Some(MountPointTypeEnum::TMPFS),
            source: Some(String::new()),
            destination: m.target.clone(),
            mode: Some(String::new()),
            rw: Some(m.read_only != Some(true)),
            propagation: Some(String::new()),
            ..Default::default()
        });
    }
    mounts
}

/// `State.Health` in Docker's shape.
fn health(health: &crate::health::Health) -> Health {
    use crate::health::HealthStatus as S;
    let stamp = |t: &DateTime<Utc>| {
        t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
            .parse()
            .unwrap_or_default()
    };
    Health {
        status: Some(match health.status {
            S::Starting => HealthStatusEnum::STARTING,
            S::Healthy => HealthStatusEnum::HEALTHY,
            S::Unhealthy => HealthStatusEnum::UNHEALTHY,
        }),
        failing_streak: Some(i64::from(health.failing_streak)),
        log: Some(
            health
                .log
                .iter()
                .map(|r| HealthcheckResult {
                    start: Some(stamp(&r.start)),
                    end: Some(stamp(&r.end)),
                    exit_code: Some(r.exit_code),
                    output: Some(r.output.clone()),
                })
                .collect(),
        ),
    }
}

pub fn inspect(record: &ContainerRecord, dir: &ContainerDir) -> ContainerInspectResponse {
    let state = &record.state;
    let argv = record.command();
    let network_mode = record
        .host_config
        .network_mode
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "none".to_string());
    let mut lower = record
        .layers
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    if lower.is_empty() {
        lower = String::new();
    }
    ContainerInspectResponse {
        id: Some(record.id.clone()),
        created: Some(
            record
                .created
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                .parse()
                .unwrap_or_default(),
        ),
        path: argv.first().cloned(),
        args: Some(argv.iter().skip(1).cloned().collect()),
        state: Some(ContainerState {
            status: Some(state_enum(state.status)),
            running: Some(state.status.is_live()),
            paused: Some(state.status == Status::Paused),
            restarting: Some(state.status == Status::Restarting),
            oom_killed: Some(state.oom_killed),
            dead: Some(state.status == Status::Dead),
            pid: Some(state.pid as i64),
            exit_code: Some(state.exit_code as i64),
            error: Some(state.error.clone()),
            started_at: Some(time(&state.started_at)),
            finished_at: Some(time(&state.finished_at)),
            health: state.health.as_ref().map(health),
        }),
        image: Some(record.image_id.clone()),
        resolv_conf_path: Some(dir.resolv_conf().display().to_string()),
        hostname_path: Some(dir.hostname().display().to_string()),
        hosts_path: Some(dir.hosts().display().to_string()),
        // Docker names the file only for json-file, whose format is public.
        log_path: Some(
            if crate::container::defaults::log_driver(&record.host_config) == "json-file" {
                dir.log(&record.id).display().to_string()
            } else {
                String::new()
            },
        ),
        name: Some(format!("/{}", record.name)),
        restart_count: Some(state.restart_count),
        driver: Some("overlay2".to_string()),
        platform: Some("linux".to_string()),
        mount_label: Some(String::new()),
        process_label: Some(String::new()),
        app_armor_profile: Some(String::new()),
        exec_ids: None,
        host_config: Some(record.host_config.clone()),
        graph_driver: Some(DriverData {
            name: "overlay2".to_string(),
            data: [
                ("LowerDir".to_string(), lower),
                ("UpperDir".to_string(), dir.upper().display().to_string()),
                ("WorkDir".to_string(), dir.work().display().to_string()),
                ("MergedDir".to_string(), dir.merged().display().to_string()),
            ]
            .into_iter()
            .collect(),
        }),
        mounts: Some(mounts(record)),
        config: Some(record.config.clone()),
        network_settings: Some(network_settings(record, network_mode)),
        ..Default::default()
    }
}

/// Every port the running container exposes or publishes (a bad one was refused at
/// create); Docker shows none for a container that is not running.
fn exposed_ports(record: &ContainerRecord) -> std::collections::BTreeSet<ContainerPort> {
    if !record.state.status.is_live() {
        return Default::default();
    }
    ports::exposed(
        record.config.exposed_ports.as_deref().unwrap_or_default(),
        record.host_config.port_bindings.as_ref(),
    )
    .unwrap_or_default()
}

fn network_settings(record: &ContainerRecord, network_mode: String) -> NetworkSettings {
    let mut settings = crate::network::view::settings(&record.network, &exposed_ports(record));
    // Records older than networking name no network; Docker shows the mode's.
    if record.network.networks.is_empty() && !network_mode.starts_with("container:") {
        settings.networks = Some([(network_mode, Default::default())].into_iter().collect());
    }
    settings
}

/// Docker's human "Up 5 minutes" / "Exited (0) 3 seconds ago" text.
pub fn status_text(record: &ContainerRecord, now: DateTime<Utc>) -> String {
    let state = &record.state;
    match state.status {
        Status::Created => "Created".to_string(),
        Status::Running | Status::Paused => {
            let since = state.started_at.unwrap_or(record.created);
            let up = format!("Up {}", human_duration(now - since));
            match &state.health {
                _ if state.status == Status::Paused => format!("{up} (Paused)"),
                Some(health) if health.status == crate::health::HealthStatus::Starting => {
                    format!("{up} (health: starting)")
                }
                Some(health) => format!("{up} ({})", health.status.as_str()),
                None => up,
            }
        }
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            state.exit_code,
            human_duration(now - state.finished_at.unwrap_or(now))
        ),
        Status::Removing => "Removal In Progress".to_string(),
        Status::Dead => "Dead".to_string(),
        Status::Exited => match state.finished_at {
            Some(finished) => format!(
                "Exited ({}) {} ago",
                state.exit_code,
                human_duration(now - finished)
            ),
            None => format!("Exited ({})", state.exit_code),
        },
    }
}

/// Go's `units.HumanDuration`, which Docker uses for these texts.
pub fn human_duration(d: chrono::Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < 1 {
        return "Less than a second".to_string();
    }
    if seconds == 1 {
        return "1 second".to_string();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = d.num_minutes();
    if minutes == 1 {
        return "About a minute".to_string();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (d.num_seconds() as f64 / 3600.0).round() as i64;
    if hours == 1 {
        return "About an hour".to_string();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", hours / 24 / 365)
}

pub fn summary(
    record: &ContainerRecord,
    image_name: String,
    now: DateTime<Utc>,
) -> ContainerSummary {
    let argv = record.command();
    let command = argv
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    ContainerSummary {
        id: Some(record.id.clone()),
        names: Some(vec![format!("/{}", record.name)]),
        image: Some(image_name),
        image_id: Some(record.image_id.clone()),
        command: Some(command),
        created: Some(record.created.timestamp()),
        ports: Some(ports::summary_ports(
            &exposed_ports(record),
            &record.network.published,
        )),
        labels: record.config.labels.clone(),
        state: Some(match record.state.status {
            Status::Created => ContainerSummaryStateEnum::CREATED,
            Status::Running => ContainerSummaryStateEnum::RUNNING,
            Status::Paused => ContainerSummaryStateEnum::PAUSED,
            Status::Restarting => ContainerSummaryStateEnum::RESTARTING,
            Status::Removing => ContainerSummaryStateEnum::REMOVING,
            Status::Exited => ContainerSummaryStateEnum::EXITED,
            Status::Dead => ContainerSummaryStateEnum::DEAD,
        }),
        status: Some(status_text(record, now)),
        host_config: Some(ContainerSummaryHostConfig {
            network_mode: Some(
                record
                    .host_config
                    .network_mode
                    .clone()
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| "none".to_string()),
            ),
            annotations: None,
        }),
        mounts: Some(mounts(record)),
        network_settings: Some(bollard_stubs::models::ContainerSummaryNetworkSettings {
            networks: Some(record.network.networks.iter().cloned().collect()),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_match_go_units() {
        let s = chrono::Duration::seconds;
        assert_eq!(human_duration(s(0)), "Less than a second");
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(45)), "45 seconds");
        assert_eq!(human_duration(s(61)), "About a minute");
        assert_eq!(human_duration(s(600)), "10 minutes");
        assert_eq!(human_duration(s(3600)), "About an hour");
        assert_eq!(human_duration(s(3 * 3600)), "3 hours");
        assert_eq!(human_duration(s(5 * 86400)), "5 days");
    }
}
