//! Building the OCI runtime spec for a container, as dockerd builds one for containerd.

use std::collections::HashSet;

use berth_runtime::{ContainerConfig as RuntimeConfig, Rootfs};
use bollard_stubs::models::{HostConfig, MountTypeEnum};
use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxNamespace, LinuxNamespaceBuilder,
    LinuxNamespaceType, Mount, MountBuilder, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
};

use super::error::Error;
use super::mount_points::MountKind;
use super::record::{ContainerDir, ContainerRecord};

/// The cgroup of container `id`: its own, in the daemon's cgroup parent.
pub fn cgroup_path(parent: &str, id: &str) -> String {
    format!("{}/{id}", parent.trim_end_matches('/'))
}

fn invalid(err: impl std::fmt::Display) -> Error {
    Error::internal(format!("building the runtime spec: {err}"))
}

pub fn runtime_config(
    record: &ContainerRecord,
    dir: &ContainerDir,
    cgroup_parent: &str,
) -> Result<RuntimeConfig, Error> {
    let host = &record.host_config;
    let config = &record.config;
    let privileged = host.privileged == Some(true);

    let mut env = config.env.clone().unwrap_or_default();
    let hostname = config.hostname.clone().unwrap_or_default();
    if !env.iter().any(|v| v.starts_with("HOSTNAME=")) {
        env.insert(1.min(env.len()), format!("HOSTNAME={hostname}"));
    }
    let tty = config.tty == Some(true);
    if tty && !env.iter().any(|v| v.starts_with("TERM=")) {
        // Docker's default for a container with a terminal.
        env.push("TERM=xterm".to_string());
    }

    let capabilities = capabilities(host)?;
    let caps = LinuxCapabilitiesBuilder::default()
        .bounding(capabilities.clone())
        .effective(capabilities.clone())
        .permitted(capabilities.clone())
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .build()
        .map_err(invalid)?;

    let no_new_privileges = host.security_opt.iter().flatten().any(|o| {
        matches!(
            o.as_str(),
            "no-new-privileges" | "no-new-privileges=true" | "no-new-privileges:true"
        )
    });
    let seccomp_unconfined = privileged
        || host
            .security_opt
            .iter()
            .flatten()
            .any(|o| o == "seccomp=unconfined" || o == "seccomp:unconfined");

    let mut process = ProcessBuilder::default()
        .terminal(tty)
        .args(record.command())
        .env(env)
        .cwd(
            config
                .working_dir
                .clone()
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".to_string()),
        )
        .capabilities(caps)
        .no_new_privileges(no_new_privileges)
        .build()
        .map_err(invalid)?;
    if let Some(size) = console_size(host).filter(|_| tty) {
        process.set_console_size(Some(size));
    }
    // Checked at create to lie in [-1000, 1000].
    if let Some(score) = host.oom_score_adj.filter(|s| *s != 0) {
        process.set_oom_score_adj(Some(i32::try_from(score).map_err(invalid)?));
    }

    let network_host = host.network_mode.as_deref() == Some("host");
    let mut namespaces: Vec<LinuxNamespace> = [
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Cgroup,
    ]
    .into_iter()
    .filter(|typ| super::shared_namespaces::keep_namespace(host, *typ))
    .map(|typ| LinuxNamespaceBuilder::default().typ(typ).build())
    .collect::<Result<_, _>>()
    .map_err(invalid)?;
    if !network_host {
        namespaces.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Network)
                .build()
                .map_err(invalid)?,
        );
    }

    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .cgroups_path(cgroup_path(cgroup_parent, &record.id))
        .resources(super::resources::with_device_rules(host)?);
    if !privileged {
        linux = linux
            .masked_paths(berth_runtime::defaults::masked_paths())
            .readonly_paths(berth_runtime::defaults::readonly_paths());
    }
    if !seccomp_unconfined {
        let granted: Vec<Capability> = capabilities.iter().copied().collect();
        linux = linux.seccomp(berth_runtime::defaults::seccomp_profile_for(&granted));
    }

    let mut annotations = std::collections::HashMap::new();
    if let Some(groups) = host.group_add.as_ref().filter(|g| !g.is_empty()) {
        if groups.iter().any(|g| g.is_empty() || g.contains('\n')) {
            return Err(Error::invalid(format!("invalid group list: {groups:?}")));
        }
        annotations.insert(
            berth_runtime::GROUP_ADD_ANNOTATION.to_string(),
            groups.join("\n"),
        );
    }
    annotations.insert(
        berth_runtime::USER_ANNOTATION.to_string(),
        config
            .user
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "0".into()),
    );

    // In the host's UTS namespace the container has the host's name, and sets none.
    let own_uts = super::shared_namespaces::keep_namespace(host, LinuxNamespaceType::Uts);
    let spec: Spec = SpecBuilder::default()
        .version("1.2.0")
        .hostname(if own_uts { hostname } else { String::new() })
        .root(
            RootBuilder::default()
                .path(dir.merged())
                .readonly(host.readonly_rootfs == Some(true))
                .build()
                .map_err(invalid)?,
        )
        .process(process)
        .mounts(mounts(record, dir, privileged)?)
        .linux(linux.build().map_err(invalid)?)
        .annotations(annotations)
        .build()
        .map_err(invalid)?;

    Ok(RuntimeConfig {
        id: record.id.clone(),
        spec,
        rootfs: Rootfs::Overlay {
            lower: record.layers.clone(),
            upper: dir.upper(),
            work: dir.work(),
            merged: dir.merged(),
            volatile: record.host_config.auto_remove == Some(true),
        },
        init: host.init == Some(true),
    })
}

/// `HostConfig.ConsoleSize` (`[height, width]`, sent by `docker run -t`): the terminal's size
/// from its start. Zeros mean "unknown".
fn console_size(host: &HostConfig) -> Option<oci_spec::runtime::Box> {
    match host.console_size.as_deref() {
        Some(&[height, width]) if height > 0 && width > 0 => {
            oci_spec::runtime::BoxBuilder::default()
                .height(height as u64)
                .width(width as u64)
                .build()
                .ok()
        }
        _ => None,
    }
}

fn parse_capability(name: &str) -> Result<Capability, Error> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    serde_json::from_value(serde_json::Value::String(format!("CAP_{bare}")))
        .map_err(|_| Error::invalid(format!("unknown capability: \"{name}\"")))
}

fn capabilities(host: &HostConfig) -> Result<HashSet<Capability>, Error> {
    let all = || -> HashSet<Capability> {
        berth_runtime::defaults::all_capabilities()
            .into_iter()
            .collect()
    };
    if host.privileged == Some(true) {
        return Ok(all());
    }
    let mut set: HashSet<Capability> = berth_runtime::defaults::capabilities()
        .into_iter()
        .collect();
    for name in host.cap_drop.iter().flatten() {
        if name.eq_ignore_ascii_case("ALL") {
            set.clear();
        } else {
            set.remove(&parse_capability(name)?);
        }
    }
    for name in host.cap_add.iter().flatten() {
        if name.eq_ignore_ascii_case("ALL") {
            set = all();
        } else {
            set.insert(parse_capability(name)?);
        }
    }
    Ok(set)
}

fn bind(source: &std::path::Path, destination: &str, readonly: bool) -> Result<Mount, Error> {
    bind_with(source, destination, readonly, "rprivate")
}

/// A recursive bind with the propagation asked for (`rprivate` when none was).
fn bind_with(
    source: &std::path::Path,
    destination: &str,
    readonly: bool,
    propagation: &str,
) -> Result<Mount, Error> {
    let propagation = if propagation.is_empty() {
        "rprivate"
    } else {
        propagation
    };
    let mut options = vec!["rbind".to_string(), propagation.to_string()];
    if readonly {
        options.push("ro".to_string());
    }
    MountBuilder::default()
        .destination(destination)
        .typ("bind")
        .source(source)
        .options(options)
        .build()
        .map_err(invalid)
}

fn tmpfs(destination: &str, extra: &str) -> Result<Mount, Error> {
    let mut options: Vec<String> = vec!["nosuid".into(), "nodev".into(), "noexec".into()];
    for opt in extra.split(',').filter(|o| !o.is_empty()) {
        let flip = match opt {
            "exec" => Some("noexec"),
            "suid" => Some("nosuid"),
            "dev" => Some("nodev"),
            _ => None,
        };
        match flip {
            Some(negated) => options.retain(|o| o != negated),
            None => options.push(opt.to_string()),
        }
    }
    MountBuilder::default()
        .destination(destination)
        .typ("tmpfs")
        .source("tmpfs")
        .options(options)
        .build()
        .map_err(invalid)
}

/// The files of `/etc` the engine bind-mounts from the container's directory. Where the
/// image lacks them, their mount points are created in the container's writable layer.
pub const ENGINE_ETC_FILES: [&str; 3] = ["/etc/resolv.conf", "/etc/hostname", "/etc/hosts"];

/// The files the engine mounts over the container's /etc, relative to its root: their
/// content lives in the container's directory, so they are not the container's changes.
pub fn engine_files() -> Vec<std::path::PathBuf> {
    ENGINE_ETC_FILES
        .iter()
        .map(|path| std::path::PathBuf::from(path.trim_start_matches('/')))
        .collect()
}

fn mounts(
    record: &ContainerRecord,
    dir: &ContainerDir,
    privileged: bool,
) -> Result<Vec<Mount>, Error> {
    let host = &record.host_config;
    let mut mounts: Vec<Mount> = berth_runtime::defaults::mounts();
    if privileged {
        // /sys stays writable for privileged containers, as in Docker.
        for mount in &mut mounts {
            if mount.destination().as_os_str() == "/sys" {
                if let Some(options) = mount.options().clone() {
                    mount.set_options(Some(options.into_iter().filter(|o| o != "ro").collect()));
                }
            }
        }
    }
    let etc_readonly = host.readonly_rootfs == Some(true);
    let [resolv_conf, hostname, hosts] = ENGINE_ETC_FILES;
    mounts.push(bind(&dir.resolv_conf(), resolv_conf, etc_readonly)?);
    mounts.push(bind(&dir.hostname(), hostname, etc_readonly)?);
    mounts.push(bind(&dir.hosts(), hosts, etc_readonly)?);

    let mut user_mounts = Vec::new();
    for point in &record.mount_points {
        if point.kind == MountKind::Bind && !point.source.exists() {
            // Docker creates a missing `-v` source directory (a `--mount` one was refused
            // at create).
            std::fs::create_dir_all(&point.source).map_err(|err| {
                Error::internal(format!(
                    "creating bind source directory {}: {err}",
                    point.source.display()
                ))
            })?;
        }
        user_mounts.push(bind_with(
            &point.source,
            &point.destination,
            !point.rw,
            &point.propagation,
        )?);
    }
    for m in host.mounts.iter().flatten() {
        if m.typ != Some(MountTypeEnum::TMPFS) {
            // Binds and volumes are the record's mount points.
            continue;
        }
        let target = m
            .target
            .clone()
            .ok_or_else(|| Error::invalid("invalid mount config: Target must not be empty"))?;
        let mut extra = Vec::new();
        if let Some(opts) = &m.tmpfs_options {
            if let Some(size) = opts.size_bytes.filter(|s| *s > 0) {
                extra.push(format!("size={size}"));
            }
            if let Some(mode) = opts.mode.filter(|m| *m > 0) {
                extra.push(format!("mode={mode:o}"));
            }
        }
        if m.read_only == Some(true) {
            extra.push("ro".into());
        }
        user_mounts.push(tmpfs(&target, &extra.join(","))?);
    }
    for (target, options) in host.tmpfs.iter().flatten() {
        user_mounts.push(tmpfs(target, options)?);
    }
    // Parents before children, whatever order the user gave.
    user_mounts.sort_by_key(|m| m.destination().components().count());
    mounts.extend(user_mounts);
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_add_and_drop() {
        let host = HostConfig {
            cap_add: Some(vec!["NET_ADMIN".into()]),
            cap_drop: Some(vec!["cap_chown".into()]),
            ..Default::default()
        };
        let caps = capabilities(&host).unwrap();
        assert!(caps.contains(&Capability::NetAdmin));
        assert!(!caps.contains(&Capability::Chown));
        let bad = HostConfig {
            cap_add: Some(vec!["NOPE".into()]),
            ..Default::default()
        };
        assert_eq!(
            capabilities(&bad).unwrap_err().kind(),
            crate::error::ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn tmpfs_options_flip_defaults() {
        let m = tmpfs("/t", "exec,size=1m").unwrap();
        let opts = m.options().clone().unwrap();
        assert!(!opts.contains(&"noexec".to_string()));
        assert!(opts.contains(&"size=1m".to_string()));
    }
}
