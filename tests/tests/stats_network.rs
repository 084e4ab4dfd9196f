//! `stats` reports a container's own interfaces (`eth0` on a bridge) in Docker's shape, and
//! leaves `networks` out under `--network none` and `host`, as Docker does (issue 10 §3).

use berth_tests::{eventually, Daemon};

const COUNTERS: [&str; 8] = [
    "rx_bytes",
    "rx_packets",
    "rx_errors",
    "rx_dropped",
    "tx_bytes",
    "tx_packets",
    "tx_errors",
    "tx_dropped",
];

#[test]
fn stats_count_eth0_traffic_on_a_bridge_and_leave_none_and_host_out() {
    berth_tests::needs_root!();
    let d = Daemon::networked();
    d.run_detached(&["--name", "target", "busybox", "sleep", "1000"]);
    let ip = d.inspect("target")["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!ip.is_empty(), "target has an address on the bridge");
    let ping = d
        .docker(&["run", "--rm", "busybox", "ping", "-c", "3", "-W", "2", &ip])
        .ok();
    assert!(ping.stdout.contains("3 packets received"), "{ping}");

    eventually("eth0 counts the pings", || {
        let stats = d
            .api("GET", "/containers/target/stats?stream=false", None)
            .json();
        let eth0 = &stats["networks"]["eth0"];
        eth0["rx_packets"].as_u64().unwrap_or(0) >= 3
            && eth0["tx_packets"].as_u64().unwrap_or(0) >= 3
    });
    let stats = d
        .api("GET", "/containers/target/stats?stream=false", None)
        .json();
    let networks = stats["networks"].as_object().expect("networks");
    assert_eq!(
        networks.keys().collect::<Vec<_>>(),
        ["eth0"],
        "loopback is left out: {stats}"
    );
    let eth0 = networks["eth0"].as_object().expect("eth0");
    let mut keys: Vec<_> = eth0.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = COUNTERS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected, "{stats}");
    assert!(eth0.values().all(|v| v.is_u64()), "{stats}");
    // 3 echo requests of 84 bytes in IP, 98 on the wire.
    assert!(eth0["rx_bytes"].as_u64().unwrap_or(0) >= 3 * 98, "{stats}");
    let out = d
        .docker(&["stats", "--no-stream", "--format", "{{.NetIO}}", "target"])
        .ok();
    assert!(!out.stdout.starts_with("0B / 0B"), "{out}");

    for mode in ["none", "host"] {
        let name = format!("net-{mode}");
        d.run_detached(&[
            "--name",
            &name,
            "--network",
            mode,
            "busybox",
            "sleep",
            "1000",
        ]);
        let stats = d
            .api(
                "GET",
                &format!("/containers/{name}/stats?stream=false"),
                None,
            )
            .json();
        assert!(stats["memory_stats"].is_object(), "a live sample: {stats}");
        assert!(stats.get("networks").is_none(), "{mode}: {stats}");
        let out = d
            .docker(&["stats", "--no-stream", "--format", "{{.NetIO}}", &name])
            .ok();
        assert_eq!(out.out(), "0B / 0B", "{mode}");
        d.docker(&["rm", "-f", &name]).ok();
    }
    d.docker(&["rm", "-f", "target"]).ok();
}
