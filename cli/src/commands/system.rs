//! `info` and `version`.

use std::fmt::Write as _;
use std::io::Write;

use bollard_stubs::models::{SystemInfo, SystemVersion};
use hyper::Method;
use serde_json::{json, Value};

use crate::args::FormatOnly;
use crate::client::Client;
use crate::error::CliError;
use crate::format::tabwriter::TabWriter;
use crate::format::units::binary_size;
use crate::format::Template;

const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");
const CLIENT_API_VERSION: &str = "1.49";

fn write_out(text: &str) -> Result<(), CliError> {
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| CliError::io("writing output", e))
}

fn client_info(debug: bool) -> Value {
    json!({
        "Version": CLIENT_VERSION,
        "ApiVersion": CLIENT_API_VERSION,
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "Debug": debug,
    })
}

/// Go's architecture names, which the daemon also reports.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

pub async fn info(client: &mut Client, args: FormatOnly, debug: bool) -> Result<(), CliError> {
    let template = args.format.as_deref().map(Template::parse).transpose()?;
    let answer = client.call(Method::GET, "/info", None).await;
    let raw = match (answer, &template) {
        (Ok(raw), _) => raw,
        (Err(e), Some(_)) => return Err(e.into()),
        (Err(e), None) => {
            // As docker does, the client half is shown even without a daemon.
            write_out(&format!("{}\nServer:\n", client_section(debug)))?;
            return Err(e.into());
        }
    };
    if let Some(template) = template {
        let mut value: Value = crate::client::decode("/info", &raw)?;
        if let Value::Object(map) = &mut value {
            map.insert("ClientInfo".to_owned(), client_info(debug));
        }
        return write_out(&format!("{}\n", template.render(&value)?));
    }
    let info: SystemInfo = crate::client::decode("/info", &raw)?;
    write_out(&render_info(&info, debug))
}

fn field(out: &mut String, indent: usize, label: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{:indent$}{label}: {value}", "");
}

fn client_section(debug: bool) -> String {
    format!("Client:\n Version: {CLIENT_VERSION}\n Debug Mode: {debug}\n")
}

pub fn render_info(info: &SystemInfo, debug: bool) -> String {
    let mut out = format!("{}\nServer:\n", client_section(debug));
    let o = &mut out;
    let num = |n: Option<i64>| n.unwrap_or(0);
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    field(o, 1, "Containers", num(info.containers));
    field(o, 2, "Running", num(info.containers_running));
    field(o, 2, "Paused", num(info.containers_paused));
    field(o, 2, "Stopped", num(info.containers_stopped));
    field(o, 1, "Images", num(info.images));
    field(o, 1, "Server Version", text(&info.server_version));
    field(o, 1, "Storage Driver", text(&info.driver));
    for pair in info.driver_status.iter().flatten() {
        if let [key, value] = pair.as_slice() {
            field(o, 2, key, value);
        }
    }
    field(o, 1, "Logging Driver", text(&info.logging_driver));
    field(
        o,
        1,
        "Cgroup Driver",
        info.cgroup_driver
            .map(|d| d.to_string())
            .unwrap_or_default(),
    );
    field(
        o,
        1,
        "Cgroup Version",
        info.cgroup_version
            .map(|v| v.to_string())
            .unwrap_or_default(),
    );
    if let Some(runtimes) = &info.runtimes {
        let mut names: Vec<&str> = runtimes.keys().map(String::as_str).collect();
        names.sort();
        field(o, 1, "Runtimes", names.join(" "));
    }
    if let Some(runtime) = &info.default_runtime {
        field(o, 1, "Default Runtime", runtime);
    }
    if let Some(options) = info.security_options.as_ref().filter(|o| !o.is_empty()) {
        o.push_str(" Security Options:\n");
        for option in options {
            // "name=seccomp,profile=builtin" → "seccomp" with "Profile: builtin".
            let mut parts = option.split(',');
            let name = parts.next().unwrap_or("");
            let _ = writeln!(o, "  {}", name.strip_prefix("name=").unwrap_or(name));
            for (key, value) in parts.filter_map(|p| p.split_once('=')) {
                let mut key = key.to_owned();
                if let Some(first) = key.get_mut(..1) {
                    first.make_ascii_uppercase();
                }
                field(o, 3, &key, value);
            }
        }
    }
    field(o, 1, "Kernel Version", text(&info.kernel_version));
    field(o, 1, "Operating System", text(&info.operating_system));
    field(o, 1, "OSType", text(&info.os_type));
    field(o, 1, "Architecture", text(&info.architecture));
    field(o, 1, "CPUs", num(info.ncpu));
    field(
        o,
        1,
        "Total Memory",
        binary_size(info.mem_total.unwrap_or(0) as f64),
    );
    field(o, 1, "Name", text(&info.name));
    field(o, 1, "ID", text(&info.id));
    field(o, 1, "Docker Root Dir", text(&info.docker_root_dir));
    field(o, 1, "Debug Mode", info.debug.unwrap_or(false));
    field(
        o,
        1,
        "Experimental",
        info.experimental_build.unwrap_or(false),
    );
    field(
        o,
        1,
        "Live Restore Enabled",
        info.live_restore_enabled.unwrap_or(false),
    );
    for warning in info.warnings.iter().flatten() {
        let _ = writeln!(o, "{warning}");
    }
    out
}

pub async fn version(client: &mut Client, args: FormatOnly, debug: bool) -> Result<(), CliError> {
    let template = args.format.as_deref().map(Template::parse).transpose()?;
    let server = client.call(Method::GET, "/version", None).await;
    if let Some(template) = template {
        let server_value = match &server {
            Ok(raw) => crate::client::decode::<Value>("/version", raw)?,
            Err(_) => Value::Null,
        };
        let data = json!({"Client": client_info(debug), "Server": server_value});
        write_out(&format!("{}\n", template.render(&data)?))?;
        return server.map(drop).map_err(CliError::from);
    }
    let mut text = format!(
        "Client:\n Version:\t{CLIENT_VERSION}\n API version:\t{CLIENT_API_VERSION}\n OS/Arch:\t{}/{}\n",
        std::env::consts::OS,
        go_arch()
    );
    let server = match server {
        Ok(raw) => crate::client::decode::<SystemVersion>("/version", &raw)?,
        Err(e) => {
            write_out(
                &TabWriter {
                    min_width: 20,
                    padding: 1,
                }
                .format(&text),
            )?;
            return Err(e.into());
        }
    };
    text.push_str(&render_server_version(&server));
    write_out(
        &TabWriter {
            min_width: 20,
            padding: 1,
        }
        .format(&text),
    )
}

fn render_server_version(server: &SystemVersion) -> String {
    let mut text = String::from("\nServer:");
    if let Some(name) = server
        .platform
        .as_ref()
        .map(|p| p.name.as_str())
        .filter(|n| !n.is_empty())
    {
        let _ = write!(text, " {name}");
    }
    text.push('\n');
    for component in server.components.iter().flatten() {
        let _ = writeln!(text, " {}:", component.name);
        let _ = writeln!(text, "  Version:\t{}", component.version);
        let details = component.details.as_ref();
        let detail = |key: &str| {
            details
                .and_then(|d| d.get(key))
                .cloned()
                .unwrap_or_default()
        };
        if component.name == "Engine" {
            let _ = writeln!(
                text,
                "  API version:\t{} (minimum version {})",
                detail("ApiVersion"),
                detail("MinAPIVersion")
            );
            for (label, key) in [("Git commit", "GitCommit"), ("Built", "BuildTime")] {
                if !detail(key).is_empty() {
                    let _ = writeln!(text, "  {label}:\t{}", detail(key));
                }
            }
            let _ = writeln!(text, "  OS/Arch:\t{}/{}", detail("Os"), detail("Arch"));
            let _ = writeln!(text, "  Experimental:\t{}", detail("Experimental"));
        } else if let Some(details) = details {
            let mut keys: Vec<&String> = details.keys().collect();
            keys.sort();
            for key in keys {
                let _ = writeln!(text, "  {key}:\t{}", detail(key));
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_lists_what_the_issue_asks_for() {
        let info: SystemInfo = serde_json::from_value(json!({
            "ID": "abcd", "Containers": 3, "ContainersRunning": 1, "ContainersPaused": 0,
            "ContainersStopped": 2, "Images": 2, "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"]], "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs", "CgroupVersion": "1", "KernelVersion": "6.18.0",
            "OperatingSystem": "Debian GNU/Linux 12 (bookworm)", "OSType": "linux",
            "Architecture": "x86_64", "NCPU": 2, "MemTotal": 8182853632i64,
            "DockerRootDir": "/var/lib/berth", "Name": "host1", "ServerVersion": "0.1.0",
            "SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"],
            "LiveRestoreEnabled": true
        }))
        .unwrap();
        let text = render_info(&info, false);
        for expected in [
            "Client:\n Version: ",
            "\nServer:\n Containers: 3\n  Running: 1\n  Paused: 0\n  Stopped: 2\n Images: 2\n",
            " Storage Driver: overlay2\n  Backing Filesystem: extfs\n",
            " Cgroup Driver: cgroupfs\n Cgroup Version: 1\n",
            " Security Options:\n  seccomp\n   Profile: builtin\n  cgroupns\n",
            " Kernel Version: 6.18.0\n",
            " CPUs: 2\n Total Memory: 7.621GiB\n",
            " Docker Root Dir: /var/lib/berth\n",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn server_version_section() {
        let version: SystemVersion = serde_json::from_value(json!({
            "Platform": {"Name": "berth"},
            "Components": [{"Name": "Engine", "Version": "0.1.0",
                "Details": {"ApiVersion": "1.49", "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64", "Experimental": "false"}}],
            "Version": "0.1.0", "ApiVersion": "1.49", "MinAPIVersion": "1.24"
        }))
        .unwrap();
        let text = TabWriter {
            min_width: 20,
            padding: 1,
        }
        .format(&render_server_version(&version));
        assert_eq!(
            text,
            "\nServer: berth\n Engine:\n  Version:          0.1.0\n  API version:      1.49 (minimum version 1.24)\n  OS/Arch:          linux/amd64\n  Experimental:     false\n"
        );
    }
}
