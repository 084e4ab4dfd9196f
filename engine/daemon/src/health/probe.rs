//! One healthcheck: the probe's command run as an exec in the container, its output kept
//! (up to [`OUTPUT_KEPT`] bytes), and the exec killed if it outlives the probe's timeout.

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use bollard_stubs::models::ExecConfig;
use chrono::Utc;

use super::{CheckResult, Probe, OUTPUT_KEPT};
use crate::container::actor::ContainerActor;
use crate::container::exec::{CreateExec, CreateProbeExec, InspectExec, StartExec};

/// Runs `probe` in container `id`; a check that cannot run is a failure (exit code -1) that
/// says why, as Docker records it.
pub async fn run(addr: Addr<ContainerActor>, id: String, probe: Arc<Probe>) -> CheckResult {
    let start = Utc::now();
    let (exit_code, output) = match check(&addr, &id, &probe).await {
        Ok(outcome) => outcome,
        Err(why) => (-1, why),
    };
    CheckResult {
        start,
        end: Utc::now(),
        exit_code,
        output,
    }
}

async fn check(
    addr: &Addr<ContainerActor>,
    id: &str,
    probe: &Probe,
) -> Result<(i64, String), String> {
    let body = ExecConfig {
        cmd: Some(probe.command.clone()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    // An exec as Docker's probes are (ExecIDs while it runs, its events), whose exit code
    // comes with its exit: no inspect of it afterwards.
    let (exec_id, exit_code) = addr
        .send(CreateProbeExec(CreateExec {
            typed: id.to_string(),
            body,
        }))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let started = addr
        .send(StartExec {
            id: exec_id.clone(),
            typed: id.to_string(),
            console_size: None,
            attached: true,
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    if let Some(failure) = started.failure {
        return Err(failure.to_string());
    }
    let mut output = Vec::new();
    let mut chunks = started.output;
    let finished = async {
        if let Some(chunks) = chunks.as_mut() {
            while let Some(chunk) = chunks.recv().await {
                let room = OUTPUT_KEPT.saturating_sub(output.len());
                output.extend_from_slice(&chunk.data[..chunk.data.len().min(room)]);
            }
        }
        exit_code.await
    };
    match tokio::time::timeout(probe.timeout, finished).await {
        Ok(Ok(code)) => Ok((code, String::from_utf8_lossy(&output).into_owned())),
        // The exec was forgotten before its exit was recorded (the container went).
        Ok(Err(_)) => Err(format!("healthcheck for container {id} has no exit code")),
        Err(_) => {
            // The check hangs: it is ended, and counts as a failure with Docker's text.
            let inspect = addr
                .send(InspectExec(exec_id))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            if let Some(pid) = inspect["Pid"].as_i64().filter(|p| *p > 0) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            Ok((
                -1,
                format!(
                    "Health check exceeded timeout ({})",
                    go_duration(probe.timeout)
                ),
            ))
        }
    }
}

/// A duration as Go prints it for whole units: `500ms`, `3s`, `1m30s`.
fn go_duration(d: Duration) -> String {
    let millis = d.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    if !millis.is_multiple_of(1000) {
        return format!("{}s", d.as_secs_f64());
    }
    let secs = d.as_secs();
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_print_as_go_prints_them() {
        use std::time::Duration;
        assert_eq!(super::go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(super::go_duration(Duration::from_secs(1)), "1s");
        assert_eq!(super::go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(super::go_duration(Duration::from_millis(1500)), "1.5s");
    }
}
