use super::*;
use crate::error::ErrorKind;
use bollard_stubs::models::RestartPolicy;

const ID: &str = "c0ffee";

fn limits() -> HostLimits {
    HostLimits {
        cpus: 2,
        blkio_weight: true,
    }
}

fn host(json: serde_json::Value) -> HostConfig {
    serde_json::from_value(json).unwrap()
}

fn message(err: Error) -> (ErrorKind, String) {
    (err.kind(), err.to_string())
}

#[test]
fn dockers_checks_refuse_in_dockers_words() {
    let cases = [
        (
            serde_json::json!({"Memory": 1024}),
            "Minimum memory limit allowed is 6MB",
        ),
        (
            serde_json::json!({"Memory": 64 << 20, "MemorySwap": 32 << 20}),
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ),
        (
            serde_json::json!({"NanoCpus": 3_000_000_000i64}),
            "range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available",
        ),
        (
            serde_json::json!({"NanoCpus": 1_000_000_000, "CpuQuota": 5000}),
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ),
        (
            serde_json::json!({"CpuPeriod": 10}),
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ),
        (
            serde_json::json!({"CpusetCpus": "0-5"}),
            "Requested CPUs are not available - requested 0-5, available: 0-1",
        ),
        (
            serde_json::json!({"CpusetCpus": "x"}),
            "Invalid value x for cpuset cpus",
        ),
        (
            serde_json::json!({"BlkioWeight": 5}),
            "Range of blkio weight is from 10 to 1000",
        ),
        (
            serde_json::json!({"Memory": 64 << 20, "MemoryReservation": 128 << 20}),
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ),
    ];
    for (json, expected) in cases {
        let err = verify(&mut host(json.clone()), &limits(), true).unwrap_err();
        assert_eq!(
            message(err),
            (ErrorKind::InvalidArgument, expected.to_string()),
            "{json}"
        );
    }
    // A swap limit alone is refused at create only: an update keeps the container's memory.
    let swap_alone = serde_json::json!({"MemorySwap": 64 << 20});
    assert!(verify(&mut host(swap_alone.clone()), &limits(), false).is_err());
    assert!(verify(&mut host(swap_alone), &limits(), true).is_ok());
}

#[test]
fn a_blkio_weight_the_host_cannot_apply_is_dropped_with_dockers_warning() {
    let mut asked = host(serde_json::json!({"BlkioWeight": 300}));
    let no_weight = HostLimits {
        blkio_weight: false,
        ..limits()
    };
    let warnings = verify(&mut asked, &no_weight, true).unwrap();
    assert_eq!(
        warnings,
        ["Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."]
    );
    assert_eq!(asked.blkio_weight, Some(0));
}

#[test]
fn merge_keeps_what_the_update_leaves_at_zero() {
    let mut current = host(serde_json::json!({
        "Memory": 64 << 20, "CpuShares": 512, "PidsLimit": 50, "CpusetCpus": "0",
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}
    }));
    adapt(&mut current);
    assert_eq!(
        current.memory_swap,
        Some(128 << 20),
        "Docker's default: twice the memory"
    );
    let update = requested(
        &serde_json::from_value(serde_json::json!({
            "Memory": 100 << 20, "MemorySwap": 0, "CpuShares": 0, "CpusetCpus": "",
            "PidsLimit": -1, "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}
        }))
        .unwrap(),
    )
    .unwrap();
    let merged = merge(&current, &update, ID).unwrap();
    assert_eq!(merged.memory, Some(100 << 20));
    assert_eq!(merged.memory_swap, Some(128 << 20));
    assert_eq!(merged.cpu_shares, Some(512));
    assert_eq!(merged.cpuset_cpus.as_deref(), Some("0"));
    assert_eq!(merged.pids_limit, Some(-1));
    let policy = merged.restart_policy.unwrap();
    assert_eq!(policy.name, Some(RestartPolicyNameEnum::ON_FAILURE));
    assert_eq!(policy.maximum_retry_count, Some(3));
}

#[test]
fn merge_refuses_dockers_conflicts() {
    let current = host(
        serde_json::json!({"Memory": 64 << 20, "MemorySwap": 128 << 20, "NanoCpus": 500_000_000}),
    );
    let conflicts = [
        (
            serde_json::json!({"Memory": 200 << 20}),
            "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
        ),
        (
            serde_json::json!({"CpuQuota": 20000}),
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set",
        ),
        (
            serde_json::json!({"CpuPeriod": 20000}),
            "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set",
        ),
    ];
    for (json, expected) in conflicts {
        let update = requested(&serde_json::from_value(json.clone()).unwrap()).unwrap();
        let err = merge(&current, &update, ID).unwrap_err();
        assert_eq!(
            message(err),
            (
                ErrorKind::Conflict,
                format!("Cannot update container {ID}: {expected}")
            ),
            "{json}"
        );
    }
    let auto_remove = HostConfig {
        auto_remove: Some(true),
        ..HostConfig::default()
    };
    let always = HostConfig {
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::ALWAYS),
            maximum_retry_count: None,
        }),
        ..HostConfig::default()
    };
    assert_eq!(
        merge(&auto_remove, &always, ID).unwrap_err().to_string(),
        format!("Cannot update container {ID}: Restart policy cannot be updated because AutoRemove is enabled for the container")
    );
}

#[test]
fn what_berth_cannot_update_is_refused_by_name() {
    let body = serde_json::from_value(serde_json::json!({
        "BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1024}]
    }))
    .unwrap();
    assert_eq!(
        requested(&body).unwrap_err().kind(),
        ErrorKind::NotImplemented
    );
}

#[test]
fn oci_resources_carry_every_updatable_field() {
    let resources = linux_resources(&host(serde_json::json!({
        "Memory": 64 << 20, "MemoryReservation": 32 << 20, "NanoCpus": 1_500_000_000i64,
        "CpuShares": 256, "CpusetCpus": "0-1", "CpusetMems": "0", "PidsLimit": 20,
        "BlkioWeight": 300
    })))
    .unwrap();
    let memory = resources.memory().unwrap();
    assert_eq!(
        (memory.limit(), memory.swap(), memory.reservation()),
        (Some(64 << 20), Some(128 << 20), Some(32 << 20))
    );
    let cpu = resources.cpu().clone().unwrap();
    assert_eq!((cpu.quota(), cpu.period()), (Some(150_000), Some(100_000)));
    assert_eq!(cpu.shares(), Some(256));
    assert_eq!(cpu.cpus().as_deref(), Some("0-1"));
    assert_eq!(cpu.mems().as_deref(), Some("0"));
    assert_eq!(resources.pids().unwrap().limit(), 20);
    assert_eq!(resources.block_io().clone().unwrap().weight(), Some(300));
    assert!(
        resources.devices().is_none(),
        "an update leaves device rules alone"
    );
    assert!(with_device_rules(&HostConfig::default())
        .unwrap()
        .devices()
        .is_some());
    // Lifting a quota is written as -1.
    let lifted = linux_resources(&host(serde_json::json!({"CpuQuota": -1}))).unwrap();
    assert_eq!(lifted.cpu().clone().unwrap().quota(), Some(-1));
}
