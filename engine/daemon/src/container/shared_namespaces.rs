//! `--pid`, `--ipc` and `--uts`: a namespace of the container's own (Docker's default), the
//! host's, or another running container's (pid and ipc). The modes are checked at create;
//! another container is looked up at start, when it must be running, as dockerd does; the
//! runtime spec then names the namespaces to join. Joining another container's IPC
//! namespace also shares its `/dev/shm` (the runtime clones that mount from the donor's
//! mount namespace), which Docker allows only from a `shareable` donor.

use std::path::PathBuf;

use bollard_stubs::models::{ContainerCreateBody, HostConfig};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::error::Error;
use super::names::Lookup;
use super::record::{ContainerRecord, Status};
use crate::engine::Services;

/// Whose namespace of one kind the container gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Own,
    Host,
    Container(String),
}

fn parse_with(
    value: Option<&str>,
    own: &[&str],
    joinable: bool,
    label: &str,
) -> Result<Mode, Error> {
    let value = value.unwrap_or("");
    if own.contains(&value) {
        return Ok(Mode::Own);
    }
    if value == "host" {
        return Ok(Mode::Host);
    }
    match value.strip_prefix("container:") {
        Some(target) if joinable && !target.is_empty() => Ok(Mode::Container(target.to_string())),
        _ => Err(Error::invalid(format!("invalid {label} mode: {value}"))),
    }
}

pub fn pid_mode(host: &HostConfig) -> Result<Mode, Error> {
    parse_with(host.pid_mode.as_deref(), &[""], true, "PID")
}

pub fn ipc_mode(host: &HostConfig) -> Result<Mode, Error> {
    if host.ipc_mode.as_deref() == Some("none") {
        return Err(Error::unsupported("--ipc none"));
    }
    parse_with(
        host.ipc_mode.as_deref(),
        &["", "private", "shareable"],
        true,
        "IPC",
    )
}

pub fn uts_mode(host: &HostConfig) -> Result<Mode, Error> {
    parse_with(host.uts_mode.as_deref(), &[""], false, "UTS")
}

/// Docker's refusals at create.
pub fn check(body: &ContainerCreateBody, host: &HostConfig) -> Result<(), Error> {
    pid_mode(host)?;
    ipc_mode(host)?;
    if uts_mode(host)? == Mode::Host && body.hostname.as_deref().is_some_and(|h| !h.is_empty()) {
        return Err(Error::invalid(
            "conflicting options: hostname and the UTS mode",
        ));
    }
    Ok(())
}

/// The host's name, which a container in the host's UTS namespace has.
pub fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// Leaves out of `namespaces` the kinds the container shares with the host.
pub fn keep_namespace(host: &HostConfig, typ: LinuxNamespaceType) -> bool {
    let mode = match typ {
        LinuxNamespaceType::Pid => pid_mode(host),
        LinuxNamespaceType::Ipc => ipc_mode(host),
        LinuxNamespaceType::Uts => uts_mode(host),
        _ => return true,
    };
    !matches!(mode, Ok(Mode::Host))
}

/// Other containers' namespaces a start joins.
#[derive(Debug, Default)]
pub struct Joins {
    pid: Option<PathBuf>,
    /// The IPC namespace and the mount namespace whose `/dev/shm` comes with it.
    ipc: Option<(PathBuf, PathBuf)>,
}

/// Looks up the containers whose namespaces `record` joins. (Never asks the container
/// itself: its actor is busy with this start.)
pub async fn resolve(services: &Services, record: &ContainerRecord) -> Result<Joins, Error> {
    let mut joins = Joins::default();
    if let Mode::Container(target) = pid_mode(&record.host_config)? {
        let donor = donor(services, record, &target, "PID").await?;
        joins.pid = Some(PathBuf::from(format!("/proc/{}/ns/pid", donor.state.pid)));
    }
    if let Mode::Container(target) = ipc_mode(&record.host_config)? {
        let donor = donor(services, record, &target, "IPC").await?;
        if donor.host_config.ipc_mode.as_deref() != Some("shareable") {
            return Err(Error::invalid(format!(
                "failed to join IPC namespace: container {target}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)"
            )));
        }
        let pid = donor.state.pid;
        joins.ipc = Some((
            PathBuf::from(format!("/proc/{pid}/ns/ipc")),
            PathBuf::from(format!("/proc/{pid}/ns/mnt")),
        ));
    }
    Ok(joins)
}

async fn donor(
    services: &Services,
    record: &ContainerRecord,
    target: &str,
    kind: &str,
) -> Result<ContainerRecord, Error> {
    let failed = |reason: String| format!("failed to join {kind} namespace: {reason}");
    let (id, addr) = services
        .names
        .send(Lookup(target.to_string()))
        .await?
        .map_err(|err| Error::invalid(failed(err.to_string())))?;
    if id == record.id {
        return Err(Error::invalid(failed(format!(
            "cannot join own {kind} namespace"
        ))));
    }
    let donor = addr.send(super::actor::Snapshot).await?;
    if !matches!(donor.state.status, Status::Running | Status::Paused) {
        return Err(Error::conflict(failed(format!(
            "container {target} is not running"
        ))));
    }
    Ok(donor)
}

/// Names the joined namespaces in the runtime spec.
pub fn apply(joins: &Joins, spec: &mut Spec) {
    let mut set = |typ: LinuxNamespaceType, path: &PathBuf| {
        let namespaces = spec
            .linux_mut()
            .as_mut()
            .and_then(|linux| linux.namespaces_mut().as_mut());
        for entry in namespaces.into_iter().flatten() {
            if entry.typ() == typ {
                entry.set_path(Some(path.clone()));
            }
        }
    };
    if let Some(pid) = &joins.pid {
        set(LinuxNamespaceType::Pid, pid);
    }
    if let Some((ipc, mount)) = &joins.ipc {
        set(LinuxNamespaceType::Ipc, ipc);
        spec.annotations_mut()
            .get_or_insert_with(Default::default)
            .insert(
                berth_runtime::SHM_FROM_ANNOTATION.to_string(),
                mount.display().to_string(),
            );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn host(pid: &str, ipc: &str, uts: &str) -> HostConfig {
        HostConfig {
            pid_mode: Some(pid.into()),
            ipc_mode: Some(ipc.into()),
            uts_mode: Some(uts.into()),
            ..Default::default()
        }
    }

    #[test]
    fn modes_parse_as_dockers() {
        let h = host("container:db", "shareable", "host");
        assert_eq!(pid_mode(&h).unwrap(), Mode::Container("db".into()));
        assert_eq!(ipc_mode(&h).unwrap(), Mode::Own);
        assert_eq!(uts_mode(&h).unwrap(), Mode::Host);
        assert!(!keep_namespace(&h, LinuxNamespaceType::Uts));
        assert!(keep_namespace(&h, LinuxNamespaceType::Pid));
        let message = |h: &HostConfig| {
            let err = check(&ContainerCreateBody::default(), h).unwrap_err();
            (err.kind(), err.to_string())
        };
        assert_eq!(
            message(&host("sideways", "", "")),
            (
                ErrorKind::InvalidArgument,
                "invalid PID mode: sideways".into()
            )
        );
        assert_eq!(
            message(&host("", "container:", "")),
            (
                ErrorKind::InvalidArgument,
                "invalid IPC mode: container:".into()
            )
        );
        assert_eq!(
            message(&host("", "", "container:x")),
            (
                ErrorKind::InvalidArgument,
                "invalid UTS mode: container:x".into()
            )
        );
        let named = ContainerCreateBody {
            hostname: Some("h".into()),
            ..Default::default()
        };
        assert_eq!(
            check(&named, &host("", "", "host"))
                .unwrap_err()
                .to_string(),
            "conflicting options: hostname and the UTS mode"
        );
    }

    #[test]
    fn joins_name_the_donors_namespaces_in_the_spec() {
        let mut spec = Spec::default();
        let joins = Joins {
            pid: Some("/proc/7/ns/pid".into()),
            ipc: Some(("/proc/7/ns/ipc".into(), "/proc/7/ns/mnt".into())),
        };
        apply(&joins, &mut spec);
        let namespaces = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
        let path = |typ| {
            namespaces
                .iter()
                .find(|n| n.typ() == typ)
                .and_then(|n| n.path().clone())
        };
        assert_eq!(path(LinuxNamespaceType::Pid), Some("/proc/7/ns/pid".into()));
        assert_eq!(path(LinuxNamespaceType::Ipc), Some("/proc/7/ns/ipc".into()));
        assert_eq!(path(LinuxNamespaceType::Uts), None);
        assert_eq!(
            spec.annotations().as_ref().unwrap()[berth_runtime::SHM_FROM_ANNOTATION],
            "/proc/7/ns/mnt"
        );
    }
}
