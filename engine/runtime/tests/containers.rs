//! Real containers started with `berth_runtime::spawn`, as root, over a busybox rootfs.
//!
//! spawn() forks, so it must run in a single-threaded process: this target has its own
//! main (harness = false) and runs the tests one after the other. Each test reads what the
//! container wrote to a pipe. Each container gets its own overlay (upper, work and merged in
//! a temporary directory) and its own cgroup, removed when the test ends.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use berth_runtime::{defaults, ContainerConfig, Rootfs, StartFailure, StartFailureKind, Stdio};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{
    Capability, LinuxCapabilities, LinuxNamespace, LinuxNamespaceType, LinuxResources, Mount,
    PosixRlimitBuilder, PosixRlimitType, Process, Spec,
};

type TestResult = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// The busybox image every container starts from, and where the test cgroups live.
struct Fixture {
    _dir: tempfile::TempDir,
    lower: PathBuf,
    cgroup_parent: String,
    hierarchy: berth_cgroups::Hierarchy,
}

impl Fixture {
    fn new() -> Result<Fixture, String> {
        let busybox = which("busybox").ok_or(
            "busybox is not installed: run `apt-get install -y busybox-static` (the tests need a static busybox)",
        )?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let lower = dir.path().join("busybox");
        let bin = lower.join("bin");
        std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
        std::fs::copy(&busybox, bin.join("busybox"))
            .map_err(|e| format!("copying busybox: {e}"))?;
        let list = std::process::Command::new(&busybox)
            .arg("--list")
            .output()
            .map_err(|e| e.to_string())?;
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" {
                std::os::unix::fs::symlink("busybox", bin.join(applet))
                    .map_err(|e| e.to_string())?;
            }
        }
        let etc = lower.join("etc");
        std::fs::create_dir_all(&etc).map_err(|e| e.to_string())?;
        std::fs::write(
            etc.join("passwd"),
            "root:x:0:0:root:/root:/bin/sh\n\
             nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
             app:x:1000:1000:App:/home/app:/bin/sh\n",
        )
        .map_err(|e| e.to_string())?;
        std::fs::write(
            etc.join("group"),
            "root:x:0:\nwheel:x:10:app\nstaff:x:50:app,nobody\napp:x:1000:\nnogroup:x:65534:\n",
        )
        .map_err(|e| e.to_string())?;
        std::fs::write(etc.join("hostname"), "image-hostname\n").map_err(|e| e.to_string())?;
        std::fs::create_dir_all(lower.join("tmp")).map_err(|e| e.to_string())?;
        // A symlink that would leave the rootfs if followed on the host.
        std::os::unix::fs::symlink(
            format!("/../../../../../..{}", dir.path().display()),
            lower.join("escape"),
        )
        .map_err(|e| e.to_string())?;
        Ok(Fixture {
            lower,
            cgroup_parent: format!("/berth-runtime-test-{}", std::process::id()),
            hierarchy: berth_cgroups::detect().map_err(|e| e.to_string())?,
            _dir: dir,
        })
    }

    fn host_dir(&self) -> &Path {
        self._dir.path()
    }

    /// Removes the parent of every test cgroup, at the very end.
    fn remove_cgroups(&self) -> Result<(), String> {
        berth_cgroups::manager(&self.hierarchy, &self.cgroup_parent)
            .and_then(|m| m.remove())
            .map_err(|e| e.to_string())
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var("PATH")
        .ok()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| candidate.is_file())
}

/// A container's configuration and the directory holding its overlay's writable parts.
struct Container {
    config: ContainerConfig,
    dir: tempfile::TempDir,
}

fn container(fx: &Fixture, name: &str, args: &[&str]) -> Container {
    let dir = tempfile::tempdir().expect("temporary directory");
    for sub in ["upper", "work", "merged"] {
        std::fs::create_dir(dir.path().join(sub)).expect("overlay directory");
    }
    let mut spec = Spec::default();
    let mut process = Process::default();
    let mut caps = LinuxCapabilities::default();
    let default_caps: HashSet<Capability> = defaults::capabilities().into_iter().collect();
    caps.set_bounding(Some(default_caps.clone()))
        .set_effective(Some(default_caps.clone()))
        .set_permitted(Some(default_caps))
        .set_inheritable(None)
        .set_ambient(None);
    process
        .set_args(Some(args.iter().map(|a| a.to_string()).collect()))
        .set_env(Some(vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ]))
        .set_no_new_privileges(Some(false))
        .set_capabilities(Some(caps));
    let mut resources = LinuxResources::default();
    resources.set_devices(Some(berth_cgroups::docker_default_device_rules()));
    let mut root = oci_spec::runtime::Root::default();
    // oci-spec's default root is read-only; Docker's is not.
    root.set_readonly(Some(false));
    spec.set_process(Some(process))
        .set_root(Some(root))
        .set_hostname(Some(name.to_string()))
        .set_mounts(Some(defaults::mounts()));
    let linux = spec
        .linux_mut()
        .as_mut()
        .expect("the default spec has a linux section");
    linux
        .set_masked_paths(Some(defaults::masked_paths()))
        .set_readonly_paths(Some(defaults::readonly_paths()))
        .set_seccomp(Some(defaults::seccomp_profile()))
        .set_resources(Some(resources))
        .set_cgroups_path(Some(PathBuf::from(format!("{}/{name}", fx.cgroup_parent))));
    let config = ContainerConfig {
        id: format!("{name}-{}", std::process::id()),
        spec,
        rootfs: Rootfs::Overlay {
            lower: vec![fx.lower.clone()],
            upper: dir.path().join("upper"),
            work: dir.path().join("work"),
            merged: dir.path().join("merged"),
            volatile: false,
        },
        init: false,
    };
    Container { config, dir }
}

impl Container {
    fn process(&mut self) -> &mut Process {
        self.config.spec.process_mut().as_mut().expect("a process")
    }

    fn linux(&mut self) -> &mut oci_spec::runtime::Linux {
        self.config
            .spec
            .linux_mut()
            .as_mut()
            .expect("a linux section")
    }

    fn annotate_user(&mut self, user: &str) {
        self.config.spec.set_annotations(Some(
            [(berth_runtime::USER_ANNOTATION.to_string(), user.to_string())].into(),
        ));
    }

    fn add_mount(&mut self, destination: &str, typ: &str, source: &Path, options: &[&str]) {
        let mut mount = Mount::default();
        mount
            .set_destination(destination.into())
            .set_typ(Some(typ.into()))
            .set_source(Some(source.into()))
            .set_options(Some(options.iter().map(|o| o.to_string()).collect()));
        self.config
            .spec
            .mounts_mut()
            .get_or_insert_with(Vec::new)
            .push(mount);
    }

    /// Starts the container with stdout and stderr on one pipe.
    fn start(&self) -> Result<Started, StartFailure> {
        let (read, write) = nix::unistd::pipe().expect("pipe");
        let stdio = Stdio {
            stdin: None,
            stdout: write.try_clone().expect("dup"),
            stderr: write,
        };
        let started = berth_runtime::spawn(&self.config, stdio);
        let cgroup = berth_runtime::cgroup(&self.config).expect("cgroup manager");
        match started {
            Ok(spawned) => Ok(Started {
                pid: Pid::from_raw(spawned.pid),
                output: BufReader::new(read.into()),
                cgroup,
            }),
            Err(e) => {
                let failure = e.to_start_failure();
                // A failed start leaves no cgroup behind.
                if cgroup.procs().is_ok() {
                    return Err(StartFailure {
                        kind: failure.kind,
                        message: format!("{} (and its cgroup was left behind)", failure.message),
                    });
                }
                Err(failure)
            }
        }
    }

    /// Runs the container to its end.
    fn run(&self) -> Result<Finished, String> {
        self.start()
            .map_err(|f| format!("start failed ({:?}): {}", f.kind, f.message))?
            .finish()
    }
}

struct Started {
    pid: Pid,
    output: BufReader<std::fs::File>,
    cgroup: Box<dyn berth_cgroups::CgroupManager>,
}

struct Finished {
    status: i32,
    output: String,
    /// Read from the cgroup after the exit, before its removal.
    oom_killed: bool,
}

impl Started {
    fn read_line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        self.output
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        Ok(line)
    }

    fn finish(mut self) -> Result<Finished, String> {
        let mut output = String::new();
        self.output
            .read_to_string(&mut output)
            .map_err(|e| e.to_string())?;
        let status = match waitpid(self.pid, None).map_err(|e| e.to_string())? {
            WaitStatus::Exited(_, code) => code,
            WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
            other => return Err(format!("unexpected wait status {other:?}")),
        };
        let oom_killed = self
            .cgroup
            .oom_killed()
            .map_err(|e| format!("reading the OOM state: {e}"))?;
        self.cgroup
            .remove()
            .map_err(|e| format!("removing the cgroup: {e}"))?;
        Ok(Finished {
            status,
            output,
            oom_killed,
        })
    }
}

impl Drop for Started {
    /// A failed test must not leave its container running.
    fn drop(&mut self) {
        if kill(self.pid, None).is_ok() {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
            let _ = self.cgroup.remove();
        }
    }
}

fn status_field<'a>(status: &'a str, field: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

/// The options of the mount at `mount_point` in a mountinfo listing.
fn mount_options<'a>(mountinfo: &'a str, mount_point: &str) -> Option<&'a str> {
    mountinfo.lines().rev().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        (fields.get(4) == Some(&mount_point))
            .then(|| fields.get(5).copied())
            .flatten()
    })
}

fn expect_output(run: &Finished, wanted: &str) -> TestResult {
    ensure!(
        run.status == 0,
        "exit status {} (output: {:?})",
        run.status,
        run.output
    );
    ensure!(
        run.output == wanted,
        "output {:?}, wanted {:?}",
        run.output,
        wanted
    );
    Ok(())
}

// ---- the tests ----

fn default_container_has_dockers_capabilities_and_seccomp(fx: &Fixture) -> TestResult {
    let run = container(fx, "caps", &["cat", "/proc/self/status"]).run()?;
    ensure!(run.status == 0, "status {}: {}", run.status, run.output);
    ensure!(
        status_field(&run.output, "CapEff") == Some("00000000a80425fb"),
        "CapEff: {:?}",
        status_field(&run.output, "CapEff")
    );
    ensure!(
        status_field(&run.output, "CapBnd") == Some("00000000a80425fb"),
        "CapBnd: {:?}",
        status_field(&run.output, "CapBnd")
    );
    ensure!(
        status_field(&run.output, "Seccomp") == Some("2"),
        "Seccomp: {:?}",
        status_field(&run.output, "Seccomp")
    );
    ensure!(
        status_field(&run.output, "NoNewPrivs") == Some("0"),
        "NoNewPrivs: {:?}",
        status_field(&run.output, "NoNewPrivs")
    );
    Ok(())
}

fn privileged_container_gets_every_capability_the_host_has(fx: &Fixture) -> TestResult {
    let host_status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    let host_bounding = status_field(&host_status, "CapBnd")
        .ok_or("no CapBnd")?
        .to_string();
    let mut c = container(fx, "privileged", &["cat", "/proc/self/status"]);
    let all: HashSet<Capability> = defaults::all_capabilities().into_iter().collect();
    let mut caps = LinuxCapabilities::default();
    caps.set_bounding(Some(all.clone()))
        .set_effective(Some(all.clone()))
        .set_permitted(Some(all))
        .set_ambient(None)
        .set_inheritable(None);
    c.process().set_capabilities(Some(caps));
    c.linux().set_seccomp(None);
    let run = c.run()?;
    ensure!(run.status == 0, "status {}: {}", run.status, run.output);
    ensure!(
        status_field(&run.output, "CapEff") == Some(host_bounding.as_str()),
        "CapEff {:?}, host bounding {host_bounding}",
        status_field(&run.output, "CapEff")
    );
    ensure!(
        status_field(&run.output, "Seccomp") == Some("0"),
        "Seccomp: {:?}",
        status_field(&run.output, "Seccomp")
    );
    Ok(())
}

fn seccomp_filter_follows_the_profile(fx: &Fixture) -> TestResult {
    // chroot(2) is allowed by the default profile because SYS_CHROOT is a default capability.
    expect_output(
        &container(fx, "chroot-allowed", &["chroot", "/", "echo", "in"]).run()?,
        "in\n",
    )?;
    // The same capabilities with the profile computed for a set lacking SYS_CHROOT: the
    // capability alone is not enough, the filter refuses the call.
    let mut c = container(
        fx,
        "chroot-filtered",
        &["sh", "-c", "chroot / echo in 2>&1; echo status=$?"],
    );
    let without_chroot: Vec<Capability> = defaults::capabilities()
        .into_iter()
        .filter(|cap| *cap != Capability::SysChroot)
        .collect();
    c.linux()
        .set_seccomp(Some(defaults::seccomp_profile_for(&without_chroot)));
    let run = c.run()?;
    ensure!(
        run.output.contains("Operation not permitted") && run.output.contains("status=1"),
        "output: {:?}",
        run.output
    );
    Ok(())
}

fn hostname_and_pid_namespace(fx: &Fixture) -> TestResult {
    let run = container(
        fx,
        "naming",
        &["sh", "-c", "hostname; echo $$; cat /etc/hostname"],
    )
    .run()?;
    expect_output(&run, "naming\n1\nimage-hostname\n")
}

fn proc_paths_are_masked_and_read_only(fx: &Fixture) -> TestResult {
    // Which masked paths exist depends on the kernel: check those this host has.
    let masked: Vec<String> = defaults::masked_paths()
        .into_iter()
        .filter(|p| Path::new(p).exists())
        .collect();
    ensure!(
        !masked.is_empty(),
        "none of the masked paths exists on this host"
    );
    let mut script = String::new();
    for path in &masked {
        if Path::new(path).is_dir() {
            script.push_str(&format!("echo {path} $(ls -A {path} | wc -l); "));
        } else {
            script.push_str(&format!("echo {path} $(wc -c < {path}); "));
        }
    }
    script.push_str(
        "cat /proc/self/mountinfo; echo x > /proc/sys/kernel/domainname 2>&1; echo write=$?",
    );
    let run = container(fx, "proc", &["sh", "-c", &script]).run()?;
    for path in &masked {
        ensure!(
            run.output.contains(&format!("{path} 0\n")),
            "{path} is not masked: {:?}",
            run.output
        );
    }
    let read_only = defaults::readonly_paths()
        .into_iter()
        .filter(|p| Path::new(p).exists());
    for read_only in read_only.chain(["/sys".to_string(), "/sys/fs/cgroup".to_string()]) {
        let options = mount_options(&run.output, &read_only);
        ensure!(
            options.is_some_and(|o| o.split(',').any(|f| f == "ro")),
            "{read_only} options {options:?}"
        );
    }
    let proc_options = mount_options(&run.output, "/proc").unwrap_or_default();
    ensure!(
        proc_options.contains("nosuid") && proc_options.contains("noexec"),
        "/proc options {proc_options}"
    );
    ensure!(
        run.output.contains("Read-only file system") && run.output.contains("write=1"),
        "writing /proc/sys: {:?}",
        run.output
    );
    Ok(())
}

fn dev_is_a_private_tmpfs_with_the_standard_nodes(fx: &Fixture) -> TestResult {
    let script = "cd /dev && ls -l null zero full random urandom tty | cut -c1-10 | sort -u; \
                  for l in fd stdin stdout stderr ptmx; do readlink $l; done; echo $(ls); stat -c %F pts shm mqueue; \
                  echo hi > /dev/null && head -c 4 /dev/zero | wc -c";
    let run = container(fx, "dev", &["sh", "-c", script]).run()?;
    let lines: Vec<&str> = run.output.lines().collect();
    ensure!(
        lines.first() == Some(&"crw-rw-rw-"),
        "device modes: {:?}",
        run.output
    );
    ensure!(
        lines.get(1..6)
            == Some(
                &[
                    "/proc/self/fd",
                    "/proc/self/fd/0",
                    "/proc/self/fd/1",
                    "/proc/self/fd/2",
                    "pts/ptmx"
                ][..]
            ),
        "symlinks: {:?}",
        run.output
    );
    let listing: HashSet<&str> = lines.get(6).unwrap_or(&"").split_whitespace().collect();
    let wanted: HashSet<&str> = [
        "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
        "stdout", "tty", "urandom", "zero",
    ]
    .into();
    ensure!(listing == wanted, "/dev holds {listing:?}");
    ensure!(
        run.output.ends_with("directory\ndirectory\ndirectory\n4\n"),
        "output: {:?}",
        run.output
    );
    Ok(())
}

fn dev_mounts_are_devpts_shm_and_mqueue(fx: &Fixture) -> TestResult {
    let run = container(fx, "devmounts", &["cat", "/proc/self/mountinfo"]).run()?;
    let fstype = |point: &str| {
        run.output.lines().rev().find_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let dash = fields.iter().position(|f| *f == "-")?;
            (fields.get(4) == Some(&point)).then(|| {
                format!(
                    "{} {}",
                    fields[dash + 1],
                    fields.get(dash + 3).unwrap_or(&"")
                )
            })
        })
    };
    let devpts = fstype("/dev/pts").unwrap_or_default();
    ensure!(
        devpts.starts_with("devpts ")
            && devpts.contains("ptmxmode=666")
            && devpts.contains("gid=5")
            && devpts.contains("mode=620"),
        "devpts: {devpts}"
    );
    let shm = fstype("/dev/shm").unwrap_or_default();
    ensure!(
        shm.starts_with("tmpfs ") && shm.contains("size=65536k"),
        "shm: {shm}"
    );
    ensure!(
        fstype("/dev/mqueue").is_some_and(|m| m.starts_with("mqueue")),
        "mqueue missing"
    );
    ensure!(
        fstype("/dev").is_some_and(|m| m.starts_with("tmpfs")),
        "/dev is not a tmpfs"
    );
    Ok(())
}

fn loopback_is_up_in_a_new_network_namespace(fx: &Fixture) -> TestResult {
    // IFF_UP | IFF_LOOPBACK | IFF_RUNNING... : 0x9 at least, and lo is the only interface.
    let run = container(
        fx,
        "net",
        &["sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/flags"],
    )
    .run()?;
    let lines: Vec<&str> = run.output.lines().collect();
    ensure!(lines.first() == Some(&"lo"), "interfaces: {:?}", run.output);
    let flags = u32::from_str_radix(lines.get(1).unwrap_or(&"").trim_start_matches("0x"), 16)
        .map_err(|e| format!("{e}: {:?}", run.output))?;
    ensure!(
        flags & libc::IFF_UP as u32 != 0,
        "lo is down (flags {flags:#x})"
    );
    Ok(())
}

fn host_network_shares_the_hosts_interfaces(fx: &Fixture) -> TestResult {
    let mut c = container(fx, "hostnet", &["ls", "/sys/class/net"]);
    let namespaces: Vec<LinuxNamespace> = oci_spec::runtime::get_default_namespaces()
        .into_iter()
        .filter(|ns| ns.typ() != LinuxNamespaceType::Network)
        .collect();
    c.linux().set_namespaces(Some(namespaces));
    let run = c.run()?;
    let host: HashSet<String> = std::fs::read_dir("/sys/class/net")
        .map_err(|e| e.to_string())?
        .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
        .collect();
    let seen: HashSet<String> = run.output.split_whitespace().map(String::from).collect();
    ensure!(seen == host, "container sees {seen:?}, host has {host:?}");
    Ok(())
}

fn user_by_name_gets_groups_and_home(fx: &Fixture) -> TestResult {
    let mut c = container(
        fx,
        "user-name",
        &[
            "sh",
            "-c",
            "grep -E '^(Uid|Gid|Groups|CapEff)' /proc/self/status; echo $HOME",
        ],
    );
    c.annotate_user("app");
    // A non-root user keeps no capability across execve: CapEff is 0, as under Docker.
    let run = c.run()?;
    ensure!(
        status_field(&run.output, "Uid") == Some("1000\t1000\t1000\t1000"),
        "{:?}",
        run.output
    );
    ensure!(
        status_field(&run.output, "Gid") == Some("1000\t1000\t1000\t1000"),
        "{:?}",
        run.output
    );
    ensure!(
        // Docker's: the primary group too (the kernel lists them sorted).
        status_field(&run.output, "Groups") == Some("10 50 1000"),
        "{:?}",
        run.output
    );
    ensure!(
        status_field(&run.output, "CapEff") == Some("0000000000000000"),
        "{:?}",
        run.output
    );
    ensure!(run.output.ends_with("/home/app\n"), "{:?}", run.output);
    Ok(())
}

fn user_with_group_and_numeric_forms(fx: &Fixture) -> TestResult {
    for (spec, uid, gid, groups) in [
        ("app:staff", "1000", "50", "50"),
        ("4242:4343", "4242", "4343", "4343"),
        ("nobody", "65534", "65534", "50 65534"),
    ] {
        let mut c = container(
            fx,
            "user-forms",
            &["grep", "-E", "^(Uid|Gid|Groups)", "/proc/self/status"],
        );
        c.annotate_user(spec);
        let run = c.run()?;
        let first = |field| {
            status_field(&run.output, field)
                .and_then(|v| v.split('\t').next())
                .unwrap_or("?")
        };
        ensure!(
            first("Uid") == uid && first("Gid") == gid,
            "-u {spec}: {:?}",
            run.output
        );
        ensure!(
            status_field(&run.output, "Groups") == Some(groups),
            "-u {spec} groups: {:?}",
            run.output
        );
    }
    Ok(())
}

fn unknown_user_fails_with_dockers_message(fx: &Fixture) -> TestResult {
    let mut c = container(fx, "user-unknown", &["true"]);
    c.annotate_user("ghost");
    match c.start() {
        Ok(_) => Err("a container for an unknown user started".into()),
        Err(f)
            if f.kind == StartFailureKind::Other
                && f.message == "unable to find user ghost: no matching entries in passwd file" =>
        {
            Ok(())
        }
        Err(f) => Err(format!("{:?}: {}", f.kind, f.message)),
    }
}

fn root_gets_home_from_passwd(fx: &Fixture) -> TestResult {
    expect_output(
        &container(fx, "home", &["sh", "-c", "echo $HOME"]).run()?,
        "/root\n",
    )
}

fn exit_code_is_propagated(fx: &Fixture) -> TestResult {
    let run = container(fx, "exit", &["sh", "-c", "exit 42"]).run()?;
    ensure!(run.status == 42, "status {}", run.status);
    Ok(())
}

fn missing_and_unrunnable_commands_are_classified(fx: &Fixture) -> TestResult {
    let cases = [
        (
            "nosuch",
            StartFailureKind::NotFound,
            r#"exec: "nosuch": executable file not found in $PATH"#,
        ),
        (
            "/nosuch",
            StartFailureKind::NotFound,
            "no such file or directory",
        ),
        (
            "/etc/passwd",
            StartFailureKind::PermissionDenied,
            "permission denied",
        ),
        (
            "/bin",
            StartFailureKind::PermissionDenied,
            "permission denied",
        ),
    ];
    for (command, kind, text) in cases {
        match container(fx, "classify", &[command]).start() {
            Ok(_) => return Err(format!("{command} started")),
            Err(f) => ensure!(
                f.kind == kind && f.message.contains(text),
                "{command}: {:?} {:?}",
                f.kind,
                f.message
            ),
        }
    }
    Ok(())
}

fn init_reaps_orphans_and_forwards_signals(fx: &Fixture) -> TestResult {
    // An orphaned grandchild is reparented to PID 1 and must be reaped once it exits.
    let script = "echo pid=$$; cat /proc/1/comm; \
                  sh -c 'sleep 1000 & echo $! > /tmp/orphan'; orphan=$(cat /tmp/orphan); \
                  kill $orphan; n=0; while [ -e /proc/$orphan ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done; \
                  [ -e /proc/$orphan ] && echo zombie || echo reaped; \
                  trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.1; done";
    let mut c = container(fx, "init", &["sh", "-c", script]);
    c.config.init = true;
    let mut started = c.start().map_err(|f| f.message)?;
    let mut head = String::new();
    for _ in 0..4 {
        head.push_str(&started.read_line()?);
    }
    ensure!(
        head.starts_with("pid=2\n"),
        "the container's process is not PID 2 under init: {head:?}"
    );
    ensure!(head.ends_with("reaped\nready\n"), "{head:?}");
    kill(started.pid, Signal::SIGTERM).map_err(|e| e.to_string())?;
    let run = started.finish()?;
    ensure!(
        run.status == 7,
        "status {} after SIGTERM, output {:?}",
        run.status,
        run.output
    );
    ensure!(run.output == "got TERM\n", "output {:?}", run.output);

    // A signal death of the container's process becomes 128 + the signal.
    let mut c = container(
        fx,
        "init-signal",
        &["sh", "-c", "echo ready; exec sleep 1000"],
    );
    c.config.init = true;
    let mut started = c.start().map_err(|f| f.message)?;
    started.read_line()?;
    kill(started.pid, Signal::SIGTERM).map_err(|e| e.to_string())?;
    let run = started.finish()?;
    ensure!(run.status == 128 + libc::SIGTERM, "status {}", run.status);

    // And a command that cannot be found is still reported as such.
    let mut c = container(fx, "init-missing", &["nosuch"]);
    c.config.init = true;
    match c.start() {
        Ok(_) => Err("nosuch started under init".into()),
        Err(f) => {
            ensure!(
                f.kind == StartFailureKind::NotFound,
                "{:?}: {}",
                f.kind,
                f.message
            );
            Ok(())
        }
    }
}

fn readonly_rootfs_refuses_writes_but_not_to_its_mounts(fx: &Fixture) -> TestResult {
    let mut c = container(
        fx,
        "readonly",
        &[
            "sh",
            "-c",
            "touch /newfile 2>&1; echo root=$?; touch /dev/shm/ok && echo shm=0",
        ],
    );
    c.config
        .spec
        .root_mut()
        .get_or_insert_with(Default::default)
        .set_readonly(Some(true));
    let run = c.run()?;
    ensure!(
        run.output.contains("Read-only file system")
            && run.output.contains("root=1")
            && run.output.contains("shm=0"),
        "{:?}",
        run.output
    );
    Ok(())
}

fn bind_mounts_files_dirs_and_read_only(fx: &Fixture) -> TestResult {
    let host = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (ro, rw) = (host.path().join("ro"), host.path().join("rw"));
    std::fs::create_dir_all(&ro).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&rw).map_err(|e| e.to_string())?;
    std::fs::write(ro.join("file"), "from host\n").map_err(|e| e.to_string())?;
    let hosts = host.path().join("hosts");
    std::fs::write(&hosts, "127.0.0.1 localhost bound\n").map_err(|e| e.to_string())?;
    let hostname = host.path().join("hostname");
    std::fs::write(&hostname, "bound-hostname\n").map_err(|e| e.to_string())?;

    let script = "cat /data/file /etc/hosts /etc/hostname; touch /data/new 2>&1; echo ro=$?; echo written > /out/file; echo rw=$?";
    let mut c = container(fx, "binds", &["sh", "-c", script]);
    c.add_mount("/data", "bind", &ro, &["rbind", "ro", "rprivate"]);
    c.add_mount("/out", "bind", &rw, &["rbind", "rprivate"]);
    c.add_mount("/etc/hosts", "bind", &hosts, &["rbind", "rprivate"]);
    c.add_mount("/etc/hostname", "bind", &hostname, &["rbind", "ro"]);
    let run = c.run()?;
    ensure!(
        run.output
            .starts_with("from host\n127.0.0.1 localhost bound\nbound-hostname\n"),
        "{:?}",
        run.output
    );
    ensure!(
        run.output.contains("Read-only file system")
            && run.output.contains("ro=1")
            && run.output.ends_with("rw=0\n"),
        "{:?}",
        run.output
    );
    ensure!(
        std::fs::read_to_string(rw.join("file")).map_err(|e| e.to_string())? == "written\n",
        "the rw bind did not reach the host"
    );
    ensure!(!ro.join("new").exists(), "the ro bind was written");
    Ok(())
}

fn directory_rootfs_without_etc_gets_one_for_binds(fx: &Fixture) -> TestResult {
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    let bin = root.path().join("bin");
    std::fs::create_dir(&bin).map_err(|e| e.to_string())?;
    std::fs::copy(fx.lower.join("bin/busybox"), bin.join("sh")).map_err(|e| e.to_string())?;
    std::fs::copy(fx.lower.join("bin/busybox"), bin.join("cat")).map_err(|e| e.to_string())?;
    let hosts = root.path().join("hosts-on-host");
    std::fs::write(&hosts, "::1 localhost\n").map_err(|e| e.to_string())?;
    let mut c = container(fx, "dirroot", &["cat", "/etc/hosts"]);
    c.config.rootfs = Rootfs::Directory(root.path().to_path_buf());
    c.add_mount("/etc/hosts", "bind", &hosts, &["rbind", "ro"]);
    expect_output(&c.run()?, "::1 localhost\n")?;
    ensure!(
        root.path().join("etc/hosts").is_file(),
        "no /etc/hosts mount point was created"
    );
    Ok(())
}

fn mounts_cannot_escape_the_rootfs_through_symlinks(fx: &Fixture) -> TestResult {
    // /escape points far above the rootfs, at the fixture's host directory.
    let mut c = container(fx, "escape", &["stat", "-f", "-c", "%T", "/escape/sub"]);
    c.add_mount("/escape/sub", "tmpfs", Path::new("tmpfs"), &["nosuid"]);
    let run = c.run()?;
    ensure!(
        !fx.host_dir().join("sub").exists(),
        "a mount point was created on the host at {}",
        fx.host_dir().join("sub").display()
    );
    expect_output(&run, "tmpfs\n")?;
    // The mount point was made inside the rootfs (in the overlay's upper layer).
    ensure!(
        c.dir
            .path()
            .join("upper")
            .join(fx.host_dir().strip_prefix("/").unwrap_or(fx.host_dir()))
            .join("sub")
            .is_dir(),
        "mount point not inside the rootfs"
    );
    Ok(())
}

fn cgroup_limits_apply_and_the_namespace_hides_the_path(fx: &Fixture) -> TestResult {
    let mut c = container(fx, "cgroup", &["sh", "-c", "cat /proc/self/cgroup | grep -c -v ':/$'; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /sys/fs/cgroup/pids/pids.max"]);
    let mut resources = c.linux().resources().clone().unwrap_or_default();
    let mut memory = oci_spec::runtime::LinuxMemory::default();
    memory.set_limit(Some(64 * 1024 * 1024));
    let mut pids = oci_spec::runtime::LinuxPids::default();
    pids.set_limit(32);
    resources.set_memory(Some(memory)).set_pids(Some(pids));
    c.linux().set_resources(Some(resources));
    if !matches!(fx.hierarchy, berth_cgroups::Hierarchy::V1 { .. }) {
        return Err("this test reads cgroup v1 files; the host is v2".into());
    }
    expect_output(&c.run()?, "0\n67108864\n32\n")?;

    // Without a cgroup namespace the container's own cgroup directories are bound at
    // /sys/fs/cgroup, so it still sees its limits and nothing of the host's tree.
    let mut c = container(fx, "cgroup-host-ns", &["sh", "-c", "cat /sys/fs/cgroup/pids/pids.max; ls /sys/fs/cgroup/pids | grep -c '^berth'; grep -q ':/berth-runtime-test-' /proc/self/cgroup && echo host-paths"]);
    let namespaces: Vec<LinuxNamespace> = oci_spec::runtime::get_default_namespaces()
        .into_iter()
        .filter(|ns| ns.typ() != LinuxNamespaceType::Cgroup)
        .collect();
    c.linux().set_namespaces(Some(namespaces));
    let mut resources = c.linux().resources().clone().unwrap_or_default();
    let mut pids = oci_spec::runtime::LinuxPids::default();
    pids.set_limit(24);
    resources.set_pids(Some(pids));
    c.linux().set_resources(Some(resources));
    let run = c.run()?;
    expect_output(&run, "24\n0\nhost-paths\n")
}

fn no_stray_descriptors_and_stdin_is_dev_null(fx: &Fixture) -> TestResult {
    // A descriptor the supervisor holds open without close-on-exec.
    let stray = std::fs::File::open("/proc/self/status").map_err(|e| e.to_string())?;
    let stray: OwnedFd = stray.into();
    let high =
        nix::fcntl::fcntl(&stray, nix::fcntl::FcntlArg::F_DUPFD(77)).map_err(|e| e.to_string())?;
    let run = container(
        fx,
        "fds",
        &["sh", "-c", "ls /proc/$$/fd; readlink /proc/$$/fd/0; cat"],
    )
    .run();
    nix::unistd::close(high).map_err(|e| e.to_string())?;
    let run = run?;
    expect_output(&run, "0\n1\n2\n/dev/null\n")
}

fn rlimits_cwd_and_environment(fx: &Fixture) -> TestResult {
    let mut c = container(
        fx,
        "limits",
        &[
            "sh",
            "-c",
            "ulimit -n; pwd; stat -c %a /does /does/not/exist; echo $GREETING; umask; cat /proc/self/oom_score_adj; grep NoNewPrivs /proc/self/status",
        ],
    );
    let nofile = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .soft(512u64)
        .hard(1024u64)
        .build()
        .map_err(|e| e.to_string())?;
    let process = c.process();
    process
        .set_rlimits(Some(vec![nofile]))
        .set_cwd("/does/not/exist".into())
        .set_oom_score_adj(Some(500))
        .set_no_new_privileges(Some(true));
    let mut user = process.user().clone();
    user.set_umask(Some(0o027));
    process.set_user(user);
    let mut env = process.env().clone().unwrap_or_default();
    env.push("GREETING=hello".into());
    process.set_env(Some(env));
    expect_output(
        &c.run()?,
        "512\n/does/not/exist\n755\n755\nhello\n0027\n500\nNoNewPrivs:\t1\n",
    )
}

fn unsupported_spec_features_are_refused(fx: &Fixture) -> TestResult {
    let mut c = container(fx, "unsupported", &["true"]);
    c.process()
        .set_apparmor_profile(Some("docker-default".into()));
    match c.start() {
        Ok(_) => Err("an AppArmor profile was accepted".into()),
        Err(f) => {
            ensure!(
                f.kind == StartFailureKind::Other && f.message.contains("AppArmor"),
                "{}",
                f.message
            );
            Ok(())
        }
    }
}

/// Reads what a terminal's master receives until the slave side is gone (EIO).
fn read_terminal(master: OwnedFd) -> Result<String, String> {
    let mut file = std::fs::File::from(master);
    let mut output = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => output.extend_from_slice(&buf[..n]),
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) => return Err(format!("reading the terminal: {e}")),
        }
    }
    Ok(String::from_utf8_lossy(&output).replace("\r\n", "\n"))
}

fn terminal_comes_from_the_containers_devpts(fx: &Fixture) -> TestResult {
    let mut c = container(
        fx,
        "terminal",
        &[
            "sh",
            "-c",
            "tty; stty size; ls -1 /dev/pts; echo ctty > /dev/tty; \
             read line; echo got $line; stat -c %u $(tty)",
        ],
    );
    let size = oci_spec::runtime::BoxBuilder::default()
        .height(31u64)
        .width(97u64)
        .build()
        .map_err(|e| e.to_string())?;
    c.process()
        .set_terminal(Some(true))
        .set_console_size(Some(size));
    c.annotate_user("app");
    let refused = berth_runtime::spawn(
        &c.config,
        Stdio {
            stdin: None,
            stdout: dev_null(),
            stderr: dev_null(),
        },
    );
    ensure!(
        matches!(&refused, Err(e) if e.to_string().contains("process.terminal")),
        "pipes for a terminal process were accepted: {refused:?}"
    );
    let started = berth_runtime::spawn_with(&c.config, berth_runtime::ProcessIo::Terminal)
        .map_err(|e| e.to_string())?;
    let cgroup = berth_runtime::cgroup(&c.config).map_err(|e| e.to_string())?;
    let master = started.terminal.ok_or("no terminal came back")?;
    let running = Started {
        pid: Pid::from_raw(started.spawned.pid),
        output: BufReader::new(std::fs::File::open("/dev/null").map_err(|e| e.to_string())?),
        cgroup,
    };
    // Typed once the script waits for it, so that the terminal's echo has its place.
    let mut terminal = std::fs::File::from(master);
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("ctty") {
        let mut buf = [0u8; 256];
        let n = terminal.read(&mut buf).map_err(|e| e.to_string())?;
        ensure!(n > 0, "the terminal closed early: {seen:?}");
        seen.extend_from_slice(&buf[..n]);
    }
    std::io::Write::write_all(&mut terminal, b"hello\n").map_err(|e| e.to_string())?;
    let output =
        String::from_utf8_lossy(&seen).replace("\r\n", "\n") + &read_terminal(terminal.into())?;
    let finished = running.finish()?;
    ensure!(finished.status == 0, "exit {}: {output:?}", finished.status);
    // /dev/tty works, so the terminal is the controlling one; it echoes the typed line; the
    // slave was handed to the container's user (1000).
    let wanted = "/dev/pts/0\n31 97\n0\nptmx\nctty\nhello\ngot hello\n1000\n";
    ensure!(
        output == wanted,
        "terminal output {output:?}, wanted {wanted:?}"
    );
    Ok(())
}

fn dev_null() -> OwnedFd {
    std::fs::File::options()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null")
        .into()
}

/// An exec'd process: its PID and the read end of its stdout and stderr.
struct Exec {
    pid: Pid,
    output: std::fs::File,
}

impl Exec {
    fn finish(self) -> Result<(i32, String), String> {
        let mut output = String::new();
        let mut file = self.output;
        file.read_to_string(&mut output)
            .map_err(|e| e.to_string())?;
        let status = match waitpid(self.pid, None).map_err(|e| e.to_string())? {
            WaitStatus::Exited(_, code) => code,
            WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
            other => return Err(format!("unexpected wait status {other:?}")),
        };
        Ok((status, output))
    }
}

fn exec_in(
    c: &Container,
    target: &mut berth_runtime::ExecTarget,
    args: &[&str],
    edit: impl FnOnce(&mut Process),
    user: Option<&str>,
) -> Result<Exec, StartFailure> {
    let mut process = c.config.spec.process().clone().expect("a process");
    process.set_args(Some(args.iter().map(|a| a.to_string()).collect()));
    edit(&mut process);
    let config = berth_runtime::ExecConfig {
        process,
        user: user.map(str::to_owned),
    };
    let (read, write) = nix::unistd::pipe().expect("pipe");
    let stdio = Stdio {
        stdin: None,
        stdout: write.try_clone().expect("dup"),
        stderr: write,
    };
    let started = target
        .exec(&config, berth_runtime::ProcessIo::Pipes(stdio))
        .map_err(|e| e.to_start_failure())?;
    Ok(Exec {
        pid: Pid::from_raw(started.spawned.pid),
        output: read.into(),
    })
}

fn exec_joins_the_containers_namespaces_cgroup_and_filter(fx: &Fixture) -> TestResult {
    let mut c = container(
        fx,
        "exec",
        &["sh", "-c", "mkdir /work; echo ready; exec sleep 1000"],
    );
    let mut env = c.process().env().clone().unwrap_or_default();
    env.push("FROM_CONTAINER=yes".into());
    c.process().set_env(Some(env));
    let mut running = c.start().map_err(|f| f.message)?;
    running.read_line()?;
    let view = |pid: Pid, what: &str| {
        std::fs::read_link(format!("/proc/{pid}/ns/{what}"))
            .map(|l| l.display().to_string())
            .map_err(|e| e.to_string())
    };
    let status_of = |pid: Pid| {
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())
    };

    // A process that waits on its stdin, so that the host can look at it while it runs.
    let mut process = c.config.spec.process().clone().expect("a process");
    process.set_args(Some(vec![
        "sh".into(),
        "-c".into(),
        "echo $$ $FROM_CONTAINER $(hostname) $(pwd); read x; true".into(),
    ]));
    process.set_cwd("/work".into());
    let config = berth_runtime::ExecConfig {
        process,
        user: None,
    };
    // One target for every exec below: the namespaces and cgroup files it opens at the
    // first serve the others.
    let mut target = berth_runtime::ExecTarget::new(&c.config, running.pid.as_raw())
        .map_err(|e| e.to_string())?;
    let (read, write) = nix::unistd::pipe().map_err(|e| e.to_string())?;
    let (stdin_read, stdin_write) = nix::unistd::pipe().map_err(|e| e.to_string())?;
    let started = target
        .exec(
            &config,
            berth_runtime::ProcessIo::Pipes(Stdio {
                stdin: Some(stdin_read),
                stdout: write.try_clone().map_err(|e| e.to_string())?,
                stderr: write,
            }),
        )
        .map_err(|e| e.to_string())?;
    let exec = Exec {
        pid: Pid::from_raw(started.spawned.pid),
        output: read.into(),
    };
    let mut first_line = String::new();
    BufReader::new(exec.output.try_clone().map_err(|e| e.to_string())?)
        .read_line(&mut first_line)
        .map_err(|e| e.to_string())?;
    let inside_pid: u32 = first_line
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("no PID in {first_line:?}"))?;
    ensure!(
        inside_pid > 1 && first_line.trim_end().ends_with("yes exec /work"),
        "the exec saw {first_line:?}"
    );
    for kind in ["mnt", "pid", "net", "uts", "ipc", "cgroup"] {
        let (exec_ns, container_ns) = (view(exec.pid, kind)?, view(running.pid, kind)?);
        ensure!(
            exec_ns == container_ns,
            "{kind}: the exec is in {exec_ns}, the container in {container_ns}"
        );
    }
    let cgroup_of = |pid: Pid| {
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).map_err(|e| e.to_string())
    };
    ensure!(
        cgroup_of(exec.pid)? == cgroup_of(running.pid)?,
        "the exec is not in the container's cgroup: {}",
        cgroup_of(exec.pid)?
    );
    let (exec_status, container_status) = (status_of(exec.pid)?, status_of(running.pid)?);
    for field in ["Seccomp", "CapEff", "CapBnd", "NoNewPrivs"] {
        ensure!(
            status_field(&exec_status, field) == status_field(&container_status, field),
            "{field}: the exec has {:?}, the container {:?}",
            status_field(&exec_status, field),
            status_field(&container_status, field)
        );
    }
    ensure!(
        status_field(&exec_status, "Seccomp") == Some("2"),
        "the exec runs without a seccomp filter"
    );
    drop(stdin_write);
    let (code, _) = exec.finish()?;
    ensure!(code == 0, "the exec exited with {code}");

    // As another user, with a terminal.
    let mut process = c.config.spec.process().clone().expect("a process");
    process
        .set_args(Some(vec!["sh".into(), "-c".into(), "id -u; tty".into()]))
        .set_terminal(Some(true));
    let config = berth_runtime::ExecConfig {
        process,
        user: Some("app".into()),
    };
    let started = target
        .exec(&config, berth_runtime::ProcessIo::Terminal)
        .map_err(|e| e.to_string())?;
    let output = read_terminal(started.terminal.ok_or("no terminal came back")?)?;
    let _ = waitpid(Pid::from_raw(started.spawned.pid), None);
    ensure!(
        output == "1000\n/dev/pts/0\n",
        "the exec's terminal showed {output:?}"
    );

    // Failures are classified as for a container's first process.
    let missing = exec_in(&c, &mut target, &["nosuch"], |_| {}, None);
    ensure!(
        matches!(&missing, Err(f) if f.kind == StartFailureKind::NotFound
            && f.message.contains("executable file not found")),
        "a missing command: {:?}",
        missing.map(|_| ())
    );
    let directory = exec_in(&c, &mut target, &["/work"], |_| {}, None);
    ensure!(
        matches!(&directory, Err(f) if f.kind == StartFailureKind::PermissionDenied),
        "a directory: {:?}",
        directory.map(|_| ())
    );
    let no_dir = exec_in(
        &c,
        &mut target,
        &["true"],
        |p| {
            p.set_cwd("/nowhere".into());
        },
        None,
    );
    ensure!(
        matches!(&no_dir, Err(f) if f.message.contains("/nowhere")),
        "a missing working directory: {:?}",
        no_dir.map(|_| ())
    );
    // The container itself did not notice.
    ensure!(
        kill(running.pid, None).is_ok(),
        "the container died during the execs"
    );
    Ok(())
}

/// An exec's child runs in the caller's memory (vfork): what it allocates must be freed,
/// whether it execs or fails, or a supervisor running healthchecks grows without end.
fn execs_leave_nothing_on_the_callers_heap_or_descriptor_table(fx: &Fixture) -> TestResult {
    // From here on execs share the descriptor table and move into slots (the test before
    // this one ran them on a copied table).
    berth_runtime::reserve_descriptors().map_err(|e| e.to_string())?;
    // As the supervisor, with a raised descriptor limit that its processes do not inherit.
    let inherited = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_err(|e| e.to_string())?;
    berth_runtime::raise_descriptor_limit().map_err(|e| e.to_string())?;
    let c = container(
        fx,
        "exec-heap",
        &["sh", "-c", "echo ready; exec sleep 1000"],
    );
    let mut running = c.start().map_err(|f| f.message)?;
    running.read_line()?;
    let mut target = berth_runtime::ExecTarget::new(&c.config, running.pid.as_raw())
        .map_err(|e| e.to_string())?;
    // Without a NOFILE of its own in the spec (which would win).
    let no_rlimits = |p: &mut Process| {
        p.set_rlimits(None);
    };
    let (code, limit) = exec_in(
        &c,
        &mut target,
        &["sh", "-c", "ulimit -n"],
        no_rlimits,
        None,
    )
    .map_err(|f| f.message)?
    .finish()?;
    ensure!(
        code == 0 && limit.trim() == inherited.0.to_string(),
        "the exec's descriptor limit is {limit:?}, the caller's was {}",
        inherited.0
    );
    let round = |target: &mut berth_runtime::ExecTarget| -> TestResult {
        let (code, output) = exec_in(&c, target, &["echo", "hi"], |_| {}, None)
            .map_err(|f| f.message)?
            .finish()?;
        ensure!(
            code == 0 && output == "hi\n",
            "echo gave {code}, {output:?}"
        );
        let missing = exec_in(&c, target, &["nosuch"], |_| {}, None);
        ensure!(
            matches!(&missing, Err(f) if f.kind == StartFailureKind::NotFound),
            "a missing command: {:?}",
            missing.map(|_| ())
        );
        Ok(())
    };
    // SAFETY: mallinfo2 only reads the allocator's counters.
    let in_use = || unsafe { libc::mallinfo2() }.uordblks;
    for _ in 0..20 {
        round(&mut target)?;
    }
    let descriptors = || std::fs::read_dir("/proc/self/fd").map(|d| d.count());
    let (before, open_before) = (in_use(), descriptors().map_err(|e| e.to_string())?);
    const ROUNDS: usize = 200;
    for _ in 0..ROUNDS {
        round(&mut target)?;
    }
    let grown = in_use().saturating_sub(before);
    let open_after = descriptors().map_err(|e| e.to_string())?;
    ensure!(
        open_after == open_before,
        "{open_before} descriptors open before the execs, {open_after} after"
    );
    // An exec's arguments and environment alone are a few hundred bytes: a leak of them
    // per exec would be tens of kilobytes here.
    ensure!(
        grown < 8 * 1024,
        "the heap grew by {grown} bytes over {} execs",
        2 * ROUNDS
    );
    Ok(())
}

fn memory_limit_kills_and_pids_limit_contains_a_fork_bomb(fx: &Fixture) -> TestResult {
    let limits = |c: &mut Container, memory: Option<i64>, pids: Option<i64>| {
        let mut resources = c.linux().resources().clone().unwrap_or_default();
        if let Some(limit) = memory {
            let mut m = oci_spec::runtime::LinuxMemory::default();
            m.set_limit(Some(limit)).set_swap(Some(limit));
            resources.set_memory(Some(m));
        }
        if let Some(limit) = pids {
            let mut p = oci_spec::runtime::LinuxPids::default();
            p.set_limit(limit);
            resources.set_pids(Some(p));
        }
        c.linux().set_resources(Some(resources));
    };
    // 64 MiB held in a shell variable against a 16 MiB limit: the OOM killer ends it.
    let mut c = container(
        fx,
        "oom",
        &[
            "sh",
            "-c",
            "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived",
        ],
    );
    limits(&mut c, Some(16 * 1024 * 1024), None);
    let run = c.run()?;
    ensure!(
        run.status == 137 && run.oom_killed,
        "status {} (OOM killed: {}), output {:?}",
        run.status,
        run.oom_killed,
        run.output
    );

    // Forks beyond the limit fail instead of filling the host. The count is
    // read with the `read` builtin: the cgroup is still full of sleeps then,
    // so a command substitution could not fork to read it.
    let script = "n=0; while [ $n -lt 64 ]; do sleep 1000 & n=$((n+1)); done 2>&1 | head -1; read tasks < /sys/fs/cgroup/pids/pids.current; echo tasks=$tasks";
    let mut c = container(fx, "pids", &["sh", "-c", script]);
    limits(&mut c, None, Some(16));
    let run = c.run()?;
    ensure!(
        run.output.contains("can't fork")
            || run.output.contains("Resource temporarily unavailable"),
        "{:?}",
        run.output
    );
    let tasks: u32 = run
        .output
        .rsplit("tasks=")
        .next()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| format!("no task count in {:?}", run.output))?;
    ensure!(tasks <= 16, "{tasks} tasks under a limit of 16");
    Ok(())
}

fn joined_namespaces_are_shared(fx: &Fixture) -> TestResult {
    let mut first = container(
        fx,
        "join-first",
        &["sh", "-c", "echo ready; exec sleep 1000"],
    );
    first.config.init = false;
    let mut running = first.start().map_err(|f| f.message)?;
    running.read_line()?;
    let ns = |kind: &str| format!("/proc/{}/ns/{kind}", running.pid);
    let host_view = |kind: &str| {
        std::fs::read_link(ns(kind))
            .map(|l| l.display().to_string())
            .map_err(|e| e.to_string())
    };
    let (net, pid) = (host_view("net")?, host_view("pid")?);

    let mut second = container(
        fx,
        "join-second",
        &[
            "sh",
            "-c",
            "readlink /proc/self/ns/net; echo $$; ps -o comm | grep -c sleep",
        ],
    );
    let mut namespaces: Vec<LinuxNamespace> = oci_spec::runtime::get_default_namespaces()
        .into_iter()
        .filter(|n| {
            !matches!(
                n.typ(),
                LinuxNamespaceType::Network | LinuxNamespaceType::Pid
            )
        })
        .collect();
    for (typ, path) in [
        (LinuxNamespaceType::Network, ns("net")),
        (LinuxNamespaceType::Pid, ns("pid")),
    ] {
        let mut joined = LinuxNamespace::default();
        joined.set_typ(typ).set_path(Some(path.into()));
        namespaces.push(joined);
    }
    second.linux().set_namespaces(Some(namespaces));
    let run = second.run()?;
    kill(running.pid, Signal::SIGKILL).map_err(|e| e.to_string())?;
    running.finish()?;
    let lines: Vec<&str> = run.output.lines().collect();
    ensure!(
        lines.first() == Some(&net.as_str()),
        "net namespace {:?}, wanted {net}",
        lines.first()
    );
    ensure!(
        lines.get(1).is_some_and(|p| *p != "1"),
        "the joining process is PID 1 of a new namespace ({pid}): {:?}",
        run.output
    );
    ensure!(
        lines.get(2) == Some(&"1"),
        "the first container's sleep is not visible: {:?}",
        run.output
    );
    Ok(())
}

/// A system call through the i386 ABI (`int 0x80`), as a 32-bit program makes it.
fn i386_syscall(number: u32, first: u32) -> i32 {
    let result: i32;
    // SAFETY: int 0x80 with IA32 emulation; the arguments are integers or a null pointer.
    unsafe {
        // rbx belongs to LLVM: the first argument is swapped in and out around the call.
        std::arch::asm!(
            "xchg {first}, rbx",
            "int 0x80",
            "xchg {first}, rbx",
            first = inout(reg) u64::from(first) => _,
            inlateout("eax") number as i32 => result,
            in("ecx") 0u32, in("edx") 0u32, in("esi") 0u32, in("edi") 0u32,
        );
    }
    result
}

fn the_kernel_applies_the_i386_rules_to_32_bit_calls(_: &Fixture) -> TestResult {
    let filter = berth_runtime::SeccompFilter::compile(&defaults::seccomp_profile())
        .map_err(|e| e.to_string())?;
    // SAFETY: the test process is single-threaded; the child only makes system calls.
    match unsafe { nix::unistd::fork() }.map_err(|e| e.to_string())? {
        nix::unistd::ForkResult::Child => {
            // SAFETY: plain prctl; no_new_privs lets an unprivileged filter in.
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            let installed = filter.install().is_ok();
            // i386 getpid (20) is allowed; i386 mount (21, x86_64's access) is refused with
            // EPERM, where without a filter it would fail with EFAULT on its null arguments.
            let getpid = i386_syscall(20, 0);
            let mount = i386_syscall(21, 0);
            let code = if !installed {
                2
            } else if getpid == std::process::id() as i32 && mount == -libc::EPERM {
                0
            } else {
                1
            };
            // SAFETY: leaves the forked copy of the test runner at once.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            match waitpid(child, None).map_err(|e| e.to_string())? {
                WaitStatus::Exited(_, 0) => Ok(()),
                other => Err(format!(
                    "the filtered child ended with {other:?} (1: wrong results, 2: no filter)"
                )),
            }
        }
    }
}

type Test = fn(&Fixture) -> TestResult;

/// Names each test after its function.
macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), $name as Test)),*]
    };
}

const TESTS: &[(&str, Test)] = tests![
    default_container_has_dockers_capabilities_and_seccomp,
    privileged_container_gets_every_capability_the_host_has,
    seccomp_filter_follows_the_profile,
    hostname_and_pid_namespace,
    proc_paths_are_masked_and_read_only,
    dev_is_a_private_tmpfs_with_the_standard_nodes,
    dev_mounts_are_devpts_shm_and_mqueue,
    loopback_is_up_in_a_new_network_namespace,
    host_network_shares_the_hosts_interfaces,
    user_by_name_gets_groups_and_home,
    user_with_group_and_numeric_forms,
    unknown_user_fails_with_dockers_message,
    root_gets_home_from_passwd,
    exit_code_is_propagated,
    missing_and_unrunnable_commands_are_classified,
    init_reaps_orphans_and_forwards_signals,
    readonly_rootfs_refuses_writes_but_not_to_its_mounts,
    bind_mounts_files_dirs_and_read_only,
    directory_rootfs_without_etc_gets_one_for_binds,
    mounts_cannot_escape_the_rootfs_through_symlinks,
    cgroup_limits_apply_and_the_namespace_hides_the_path,
    no_stray_descriptors_and_stdin_is_dev_null,
    rlimits_cwd_and_environment,
    unsupported_spec_features_are_refused,
    memory_limit_kills_and_pids_limit_contains_a_fork_bomb,
    joined_namespaces_are_shared,
    the_kernel_applies_the_i386_rules_to_32_bit_calls,
    terminal_comes_from_the_containers_devpts,
    exec_joins_the_containers_namespaces_cgroup_and_filter,
    execs_leave_nothing_on_the_callers_heap_or_descriptor_table,
];

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !nix::unistd::geteuid().is_root() {
        // Skipped, not failed: `cargo test` as a normal user runs the unit tests, and
        // scripts/test.sh runs these as root.
        println!(
            "skipped the {} container tests: they need root",
            TESTS.len()
        );
        return;
    }
    let fixture = match Fixture::new() {
        Ok(fixture) => fixture,
        Err(e) => {
            eprintln!("setting up the busybox rootfs: {e}");
            std::process::exit(1);
        }
    };
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in TESTS {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        match test(&fixture) {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok");
            }
            Err(e) => {
                failed += 1;
                println!("test {name} ... FAILED\n    {e}");
            }
        }
    }
    if let Err(e) = fixture.remove_cgroups() {
        failed += 1;
        println!("removing the test cgroups: {e}");
    }
    println!("\n{passed} passed, {failed} failed");
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
