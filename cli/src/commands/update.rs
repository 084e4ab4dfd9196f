//! `update`: new resource limits or restart policy for one or more containers, as
//! `docker update` sends them: only the flags given are set, the others stay zero, which the
//! daemon reads as "keep".

use std::io::Write;

use bollard_stubs::models::{
    ContainerUpdateBody, ContainerUpdateResponse, RestartPolicy, RestartPolicyNameEnum,
};
use hyper::Method;

use crate::args::UpdateArgs;
use crate::client::query::segment;
use crate::client::Client;
use crate::error::{all_succeeded, CliError};
use crate::options::parse_restart;

/// The request body the flags make, or docker's usage error when no flag was given.
pub fn body(args: &UpdateArgs) -> Result<ContainerUpdateBody, CliError> {
    let any = [
        args.resources.blkio_weight.map(i64::from),
        args.resources.cpu_period,
        args.resources.cpu_quota,
        args.resources.cpu_shares,
        args.cpus,
        args.memory,
        args.resources.memory_reservation,
        args.resources.memory_swap,
        args.pids_limit,
    ]
    .iter()
    .any(Option::is_some)
        || args.resources.cpuset_cpus.is_some()
        || args.resources.cpuset_mems.is_some()
        || args.restart.is_some();
    if !any {
        // docker exits 1 here, not with its usual 125 for usage errors.
        return Err(CliError::Status {
            code: 1,
            message: "you must provide one or more flags when using this command".into(),
        });
    }
    Ok(ContainerUpdateBody {
        blkio_weight: args.resources.blkio_weight,
        cpu_period: args.resources.cpu_period,
        cpu_quota: args.resources.cpu_quota,
        cpu_shares: args.resources.cpu_shares,
        nano_cpus: args.cpus,
        cpuset_cpus: args.resources.cpuset_cpus.clone(),
        cpuset_mems: args.resources.cpuset_mems.clone(),
        memory: args.memory,
        memory_reservation: args.resources.memory_reservation,
        memory_swap: args.resources.memory_swap,
        pids_limit: args.pids_limit,
        // docker always sends a policy; an empty name keeps the container's.
        restart_policy: Some(match args.restart.as_deref() {
            Some(policy) => parse_restart(policy)?,
            None => RestartPolicy {
                name: Some(RestartPolicyNameEnum::EMPTY),
                maximum_retry_count: Some(0),
            },
        }),
        ..Default::default()
    })
}

pub async fn update(client: &mut Client, args: UpdateArgs) -> Result<(), CliError> {
    let body = serde_json::to_vec(&body(&args)?).map_err(|e| CliError::Status {
        code: 1,
        message: format!("encoding the update: {e}"),
    })?;
    let mut out = std::io::stdout();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for container in &args.containers {
        let path = format!("/containers/{}/update", segment(container));
        match client.call(Method::POST, &path, Some(body.clone())).await {
            Ok(reply) => {
                let reply: ContainerUpdateResponse =
                    serde_json::from_slice(&reply).unwrap_or_default();
                warnings.extend(reply.warnings.unwrap_or_default());
                writeln!(out, "{container}").map_err(|e| CliError::io("writing output", e))?;
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !warnings.is_empty() {
        writeln!(out, "{}", warnings.join("\n")).map_err(|e| CliError::io("writing output", e))?;
    }
    all_succeeded(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_flags_given_are_sent() {
        let args = UpdateArgs {
            memory: Some(64 << 20),
            pids_limit: Some(-1),
            restart: Some("on-failure:3".into()),
            containers: vec!["web".into()],
            ..Default::default()
        };
        let json = serde_json::to_value(body(&args).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "Memory": 67108864,
                "PidsLimit": -1,
                "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}
            })
        );
        // Without --restart, docker's empty policy, which keeps the container's.
        let args = UpdateArgs {
            cpus: Some(1_500_000_000),
            containers: vec!["web".into()],
            ..Default::default()
        };
        let json = serde_json::to_value(body(&args).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "NanoCpus": 1500000000,
                "RestartPolicy": {"Name": "", "MaximumRetryCount": 0}
            })
        );
    }

    #[test]
    fn no_flag_is_dockers_usage_error() {
        let args = UpdateArgs {
            containers: vec!["web".into()],
            ..Default::default()
        };
        assert_eq!(
            body(&args).unwrap_err().to_string(),
            "you must provide one or more flags when using this command"
        );
    }
}
