//! `/_ping`, `/version` and `/info`.

use bollard_stubs::models::{
    SystemInfo, SystemInfoCgroupDriverEnum, SystemInfoCgroupVersionEnum, SystemVersion,
    SystemVersionComponents, SystemVersionPlatform,
};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use hyper::{Method, Response, StatusCode};

use super::http::{full, json, ApiResult};
use super::{API_VERSION, MIN_API_VERSION};
use crate::container::record::Status;
use crate::engine::Engine;

pub fn ping(method: &Method) -> ApiResult {
    let body = if method == Method::HEAD {
        full("")
    } else {
        full("OK")
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert("docker-experimental", HeaderValue::from_static("false"));
    Ok(response)
}

struct Uname {
    release: String,
    arch: String,
}

fn uname() -> Uname {
    let u = rustix::system::uname();
    Uname {
        release: u.release().to_string_lossy().into_owned(),
        arch: u.machine().to_string_lossy().into_owned(),
    }
}

fn go_arch(machine: &str) -> &str {
    match machine {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub async fn version(_engine: &Engine) -> ApiResult {
    let u = uname();
    let version = env!("CARGO_PKG_VERSION").to_string();
    let body = SystemVersion {
        platform: Some(SystemVersionPlatform {
            name: "berth".to_string(),
        }),
        components: Some(vec![SystemVersionComponents {
            name: "Engine".to_string(),
            version: version.clone(),
            details: Some(
                [
                    ("ApiVersion", API_VERSION.to_string()),
                    ("MinAPIVersion", MIN_API_VERSION.to_string()),
                    ("GitCommit", String::new()),
                    ("GoVersion", String::new()),
                    ("Os", "linux".to_string()),
                    ("Arch", go_arch(&u.arch).to_string()),
                    ("KernelVersion", u.release.clone()),
                    ("Experimental", "false".to_string()),
                    ("BuildTime", String::new()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            ),
        }]),
        version: Some(version),
        api_version: Some(API_VERSION.to_string()),
        min_api_version: Some(MIN_API_VERSION.to_string()),
        git_commit: Some(String::new()),
        go_version: Some(String::new()),
        os: Some("linux".to_string()),
        arch: Some(go_arch(&u.arch).to_string()),
        kernel_version: Some(u.release),
        experimental: Some(false),
        build_time: Some(String::new()),
    };
    json(StatusCode::OK, &body)
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "Linux".to_string())
}

fn total_memory() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            })
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

pub async fn info(engine: &Engine) -> ApiResult {
    let records = super::containers::snapshots(engine).await?;
    let (mut running, mut paused, mut stopped) = (0, 0, 0);
    for record in &records {
        match record.state.status {
            Status::Running | Status::Restarting => running += 1,
            Status::Paused => paused += 1,
            _ => stopped += 1,
        }
    }
    let images = engine.images.list().len() as i64;
    let u = uname();
    let cgroup_version = match engine.services.cgroups {
        Some(berth_cgroups::Hierarchy::V2 { .. }) => SystemInfoCgroupVersionEnum::_2,
        _ => SystemInfoCgroupVersionEnum::_1,
    };
    let hostname = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let body = SystemInfo {
        id: Some(hostname.clone()),
        containers: Some(running + paused + stopped),
        containers_running: Some(running),
        containers_paused: Some(paused),
        containers_stopped: Some(stopped),
        images: Some(images),
        driver: Some("overlay2".to_string()),
        driver_status: Some(vec![
            vec!["Backing Filesystem".to_string(), "extfs".to_string()],
            vec!["Supports d_type".to_string(), "true".to_string()],
        ]),
        memory_limit: Some(engine.services.cgroups.is_some()),
        swap_limit: Some(false),
        cpu_cfs_period: Some(engine.services.cgroups.is_some()),
        cpu_cfs_quota: Some(engine.services.cgroups.is_some()),
        pids_limit: Some(engine.services.cgroups.is_some()),
        oom_kill_disable: Some(false),
        ipv4_forwarding: Some(false),
        debug: Some(false),
        nfd: Some(
            std::fs::read_dir("/proc/self/fd")
                .map(|d| d.count() as i64)
                .unwrap_or(0),
        ),
        n_goroutines: Some(0),
        system_time: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
        logging_driver: Some("json-file".to_string()),
        cgroup_driver: Some(SystemInfoCgroupDriverEnum::CGROUPFS),
        cgroup_version: Some(cgroup_version),
        n_events_listener: Some(0),
        kernel_version: Some(u.release),
        operating_system: Some(os_name()),
        os_version: Some(String::new()),
        os_type: Some("linux".to_string()),
        architecture: Some(u.arch),
        ncpu: Some(
            std::thread::available_parallelism()
                .map(|n| n.get() as i64)
                .unwrap_or(1),
        ),
        mem_total: Some(total_memory()),
        index_server_address: Some("https://index.docker.io/v1/".to_string()),
        docker_root_dir: Some(engine.config.data_root.display().to_string()),
        name: Some(hostname),
        labels: Some(Vec::new()),
        experimental_build: Some(false),
        server_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        live_restore_enabled: Some(true),
        isolation: None,
        init_binary: Some(String::new()),
        security_options: Some(vec![
            "name=seccomp,profile=builtin".to_string(),
            "name=cgroupns".to_string(),
        ]),
        default_runtime: Some("berth".to_string()),
        warnings: Some(Vec::new()),
        ..Default::default()
    };
    json(StatusCode::OK, &body)
}
