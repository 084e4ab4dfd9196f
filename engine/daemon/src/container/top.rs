//! `top`: the host's `ps`, run with the caller's options and restricted to the container's
//! processes, then its rows filtered to the PIDs of the container's cgroup, as Docker does.

use std::process::Command;

use bollard_stubs::models::ContainerTopResponse;

use super::error::Error;

/// `ps -ef`: UID PID PPID C STIME TTY TIME CMD.
pub const DEFAULT_PS_ARGS: &str = "-ef";

/// Options must not rename a column to `PID` (`-o user=PID`): the PID column is how the
/// rows are matched to the container's processes. Renaming `pid` itself is harmless.
pub fn validate_ps_args(args: &str) -> Result<(), Error> {
    let words: Vec<&str> = args.split_whitespace().collect();
    for (i, word) in words.iter().enumerate() {
        let Some((key, value)) = word.split_once('=') else {
            continue;
        };
        let header = if value.is_empty() {
            words.get(i + 1).copied().unwrap_or("")
        } else {
            value
        };
        let key = key.rsplit(' ').next().unwrap_or(key);
        if header.starts_with("PID") && key != "pid" {
            return Err(Error::invalid(format!(
                "specifying \"{key}={header}\" is not allowed"
            )));
        }
    }
    Ok(())
}

/// Runs `ps ARGS -q PID,PID…` (retrying without `-q`, which some options cannot be
/// combined with) and keeps the rows of `pids`.
pub fn list(args: &str, pids: &[i32]) -> Result<ContainerTopResponse, Error> {
    let words: Vec<&str> = args.split_whitespace().collect();
    let only: Vec<String> = pids.iter().map(i32::to_string).collect();
    let restricted = format!("-q{}", only.join(","));
    let mut output = run_ps(&words, Some(&restricted));
    if !matches!(&output, Ok(out) if out.status.success()) {
        output = run_ps(&words, None);
    }
    let output = output.map_err(|err| Error::internal(format!("ps: running ps: {err}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().next().unwrap_or("").trim();
        let reason = if first.is_empty() {
            output.status.to_string()
        } else {
            first.to_string()
        };
        return Err(Error::internal(format!("ps: {reason}")));
    }
    parse_ps_output(&String::from_utf8_lossy(&output.stdout), pids).map_err(Error::internal)
}

fn run_ps(args: &[&str], restrict: Option<&str>) -> std::io::Result<std::process::Output> {
    let mut command = Command::new("ps");
    command.args(args);
    if let Some(restrict) = restrict {
        command.arg(restrict);
    }
    command.env("LC_ALL", "C").output()
}

/// Keeps the rows whose PID is one of `pids`. A row whose PID is `-` is a thread line
/// (`ps -m`) and belongs to the process above it. Fields beyond the titles are the command
/// line's words and are joined back into the last column.
pub fn parse_ps_output(output: &str, pids: &[i32]) -> Result<ContainerTopResponse, String> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let pid_column = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| "Couldn't find PID field in ps output".to_string())?;
    let mut processes = Vec::new();
    let mut in_container = false;
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(pid) = fields.get(pid_column) else {
            continue;
        };
        if *pid == "-" {
            if in_container {
                processes.push(row(&fields, titles.len()));
            }
            continue;
        }
        let pid: i32 = pid
            .parse()
            .map_err(|_| format!("Unexpected pid '{pid}' in ps output"))?;
        in_container = pids.contains(&pid);
        if in_container {
            processes.push(row(&fields, titles.len()));
        }
    }
    Ok(ContainerTopResponse {
        titles: Some(titles),
        processes: Some(processes),
    })
}

fn row(fields: &[&str], columns: usize) -> Vec<String> {
    let split = columns.saturating_sub(1).min(fields.len());
    let mut row: Vec<String> = fields[..split].iter().map(|f| f.to_string()).collect();
    row.push(fields[split..].join(" "));
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS_EF: &str = "\
UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init splash
root        4242       1  0 10:01 ?        00:00:00 sleep 1000
root        4250    4242  0 10:01 pts/0    00:00:00 sh -c echo hi; sleep 5
";

    #[test]
    fn only_the_containers_rows_with_the_command_joined() {
        let top = parse_ps_output(PS_EF, &[4242, 4250]).unwrap();
        assert_eq!(
            top.titles.unwrap(),
            ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        );
        let processes = top.processes.unwrap();
        assert_eq!(processes.len(), 2);
        assert_eq!(processes[0][1], "4242");
        assert_eq!(processes[0][7], "sleep 1000");
        assert_eq!(processes[1][7], "sh -c echo hi; sleep 5");
    }

    #[test]
    fn thread_lines_follow_their_process() {
        let output = "  PID TTY      STAT   TIME COMMAND\n  10 ?        -      0:00 app\n    - -        Sl     0:00 -\n   11 ?        -      0:00 other\n    - -        Sl     0:00 -\n";
        let top = parse_ps_output(output, &[10]).unwrap();
        assert_eq!(top.processes.unwrap().len(), 2);
    }

    #[test]
    fn output_without_a_pid_column_is_an_error() {
        assert!(parse_ps_output("USER COMMAND\nroot init\n", &[1]).is_err());
        assert!(parse_ps_output("PID CMD\nabc x\n", &[1]).is_err());
    }

    #[test]
    fn renaming_a_column_to_pid_is_refused() {
        assert!(validate_ps_args("-o pid,comm").is_ok());
        assert!(validate_ps_args("aux").is_ok());
        assert!(validate_ps_args("-o pid=PID").is_ok());
        assert!(validate_ps_args("-o user=PID").is_err());
        assert!(validate_ps_args("-o user= PID").is_err());
    }

    #[test]
    fn ps_runs_restricted_to_the_given_pids() {
        let me = std::process::id() as i32;
        let top = list("-o pid,comm", &[me]).unwrap();
        let processes = top.processes.unwrap();
        assert_eq!(processes.len(), 1, "{processes:?}");
        assert_eq!(processes[0][0], me.to_string());
        let err = list("--no-such-option", &[me]).unwrap_err();
        assert!(err.to_string().starts_with("ps: "), "{err}");
    }
}
