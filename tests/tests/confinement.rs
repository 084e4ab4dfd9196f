//! What a container must not be able to do, tried from inside one with the default
//! settings: load a kernel module, mount, set the host's clock, see the host's processes,
//! write /proc/sys, reach berthd's sockets, read another container's files.

use std::fs;

use berth_tests::Daemon;

/// Runs `script` in a fresh `--rm` busybox container and returns what it printed (stdout
/// and stderr together) and its exit code, as `rc=N` on the last line.
fn inside(d: &Daemon, script: &str) -> String {
    let full = format!("{{ {script} ; }} 2>&1; echo rc=$?");
    d.run_rm(&["busybox", "sh", "-c", &full])
}

#[track_caller]
fn refused(output: &str, why: &str) {
    assert!(!output.contains("rc=0"), "it worked:\n{output}");
    assert!(output.contains(why), "expected {why:?}:\n{output}");
}

/// busybox's mount says EPERM its own way.
const MOUNT_EPERM: &str = "permission denied (are you root?)";

#[test]
fn a_container_cannot_load_a_kernel_module() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    // init_module(2) is reached with a file to load: refused (seccomp, no CAP_SYS_MODULE).
    let out = inside(&d, "printf 'not an ELF' > /tmp/m.ko && insmod /tmp/m.ko");
    refused(&out, "not permitted");
}

#[test]
fn a_container_cannot_mount() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    refused(&inside(&d, "mount -t tmpfs none /mnt"), MOUNT_EPERM);
    refused(&inside(&d, "mount --bind /bin /mnt"), MOUNT_EPERM);
    let out = inside(&d, "umount /etc/hosts");
    assert!(!out.contains("rc=0"), "it worked:\n{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
}

#[test]
fn a_container_cannot_set_the_clock() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let before = chrono::Utc::now();
    // busybox's date reports the failure and exits 0 all the same.
    let out = inside(&d, "date -s 2001-02-03");
    assert!(
        out.contains("can't set date: Operation not permitted"),
        "{out}"
    );
    // adjtimex(2) may read the clock, never change it.
    refused(&inside(&d, "adjtimex -o 1000000"), "not permitted");
    assert!(chrono::Utc::now() >= before, "the host's clock went back");
}

#[test]
fn a_container_sees_none_of_the_hosts_processes() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    // Only its own: the shell (PID 1), ls and grep.
    let out = inside(&d, "ls /proc | grep -c '^[0-9][0-9]*$'");
    let count: u32 = out
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(99);
    assert!(count <= 3, "{count} processes visible:\n{out}");
    // berthd's command line appears nowhere.
    let out = inside(&d, "cat /proc/[0-9]*/cmdline | tr '\\0' ' '");
    assert!(!out.contains("berthd"), "{out}");
    // And it cannot signal them: kill -9 -1 reaches only its own namespace.
    let out = inside(&d, "kill -9 -1; true");
    assert!(out.contains("rc=0"), "{out}");
    assert!(d.ping(), "berthd survived kill -9 -1 in a container");
}

#[test]
fn a_container_cannot_write_proc_sys() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let host = fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
    refused(
        &inside(&d, "echo pwned > /proc/sys/kernel/domainname"),
        "Read-only file system",
    );
    refused(
        &inside(&d, "sysctl -w vm.drop_caches=1"),
        "Read-only file system",
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/domainname").unwrap(),
        host
    );
}

#[test]
fn a_container_cannot_reach_berthds_sockets() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let api = d.socket.display().to_string();
    let supervisor = d.exec_root.join("supervisor.sock").display().to_string();
    for path in [&api, &supervisor] {
        let out = inside(&d, &format!("ls -l {path}"));
        refused(&out, "No such file or directory");
    }
    // Nor through the host's root, seen from any process it can see.
    let out = inside(&d, &format!("ls /proc/1/root{api}"));
    refused(&out, "No such file or directory");
}

#[test]
fn a_container_cannot_read_another_containers_files() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let holder = d.run_detached(&[
        "--name",
        "holder",
        "busybox",
        "sh",
        "-c",
        "echo s3cr3t-4f9a > /secret; sleep 600",
    ]);
    berth_tests::eventually("the secret to be written", || {
        d.berth(&["exec", "holder", "cat", "/secret"])
            .stdout
            .contains("s3cr3t")
    });
    let pid = d.container_pid("holder");
    // Its root, its upper directory on the host and its processes are out of reach.
    let out = inside(
        &d,
        "grep -rl s3cr3t-4f9a / --exclude-dir=proc --exclude-dir=sys 2>/dev/null; echo searched",
    );
    assert!(
        out.contains("searched") && !out.contains("/secret"),
        "{out}"
    );
    let out = inside(&d, &format!("cat /proc/{pid}/root/secret"));
    assert!(!out.contains("s3cr3t-4f9a"), "{out}");
    let data_root = d.data_root.display().to_string();
    refused(
        &inside(&d, &format!("ls {data_root}/containers/{holder}")),
        "No such file or directory",
    );
}

#[test]
fn a_container_cannot_reach_berthds_tcp_listener() {
    berth_tests::needs_root!();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = Daemon::start_with(&["-H".into(), format!("tcp://127.0.0.1:{port}")]);
    d.import_busybox();
    // The host answers on that port; the container's loopback is its own.
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("berthd listens on loopback");
    let out = inside(
        &d,
        &format!("printf 'GET /_ping HTTP/1.0\\r\\n\\r\\n' | nc -w 2 127.0.0.1 {port}"),
    );
    assert!(!out.contains("OK"), "berthd answered:\n{out}");
    refused(&out, "can't connect");
}
