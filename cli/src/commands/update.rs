//! `update`: new resource limits or restart policy for one or more containers, as
//! `docker update` sends them: only the flags given are set, the others stay zero, which the
//! daemon reads as "keep".

use std::io::Write;

use bollard_stubs::models::{ContainerUpdateBody, ContainerUpdateResponse};
use hyper::Method;

use crate::args::UpdateArgs;
use crate::client::query::segment;
use crate::client::Client;
use crate::error::{all_succeeded, CliError};
use crate::options::parse_restart;

/// The request body the flags make, or docker's usage error when no flag was given.
pub fn body(args: &UpdateArgs) -> Result<ContainerUpdateBody, CliError> {
    let any = [
        args.blkio_weight.map(i64::from),
        args.cpu_period,
        args.cpu_quota,
        args.cpu_shares,
        args.cpus,
        args.memory,
        args.memory_reservation,
        args.memory_swap,
        args.pids_limit,
    ]
    .iter()
    .any(Option::is_some)
        || args.cpuset_cpus.is_some()
        || args.cpuset_mems.is_some()
        || args.restart.is_some();
    if !any {
        // docker exits 1 here, not with its usual 125 for usage errors.
        return Err(CliError::Status {
            code: 1,
            message: "you must provide one or more flags when using this command".into(),
        });
    }
    Ok(ContainerUpdateBody {
        blkio_weight: args.blkio_weight,
        cpu_period: args.cpu_period,
        cpu_quota: args.cpu_quota,
        cpu_shares: args.cpu_shares,
        nano_cpus: args.cpus,
        cpuset_cpus: args.cpuset_cpus.clone(),
        cpuset_mems: args.cpuset_mems.clone(),
        memory: args.memory,
        memory_reservation: args.memory_reservation,
        memory_swap: args.memory_swap,
        pids_limit: args.pids_limit,
        restart_policy: args.restart.as_deref().map(parse_restart).transpose()?,
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
