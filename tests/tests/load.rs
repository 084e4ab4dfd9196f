//! Load: 100 concurrent `docker run --rm` through the real docker CLI lose nothing: each
//! prints its own output and exits with its own code, and no container is left.

use std::thread;

use berth_tests::Daemon;

const RUNS: usize = 100;

#[test]
fn a_hundred_concurrent_docker_run_rm_lose_nothing() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let started = std::time::Instant::now();
    let outcomes: Vec<_> = thread::scope(|scope| {
        let runs: Vec<_> = (0..RUNS)
            .map(|i| {
                let d = &d;
                scope.spawn(move || {
                    let script = format!("echo run-{i}; exit {}", i % 7);
                    let out = d.docker(&["run", "--rm", "busybox", "sh", "-c", &script]);
                    (i, out)
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let elapsed = started.elapsed();
    let mut lost = Vec::new();
    for (i, out) in &outcomes {
        if out.code != (*i % 7) as i32 || out.out() != format!("run-{i}") {
            lost.push(format!("run {i}:\n{out}"));
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {RUNS} runs lost something:\n{}",
        lost.len(),
        lost.join("\n")
    );
    eprintln!("{RUNS} concurrent docker run --rm in {elapsed:?}");
    berth_tests::eventually("every --rm container to be removed", || {
        d.container_ids().is_empty()
    });
}
