//! Load: concurrent `docker run --rm` through the real docker CLI lose nothing: each prints
//! its own output and exits with its own code, and no container, cgroup or process is left.
//! 100 at once in CI; 1,000 runs (100 at a time) on demand (`--ignored`), too slow for CI.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use berth_tests::Daemon;

/// Runs `runs` `docker run --rm`, `concurrency` at a time, and checks every one.
fn load(runs: usize, concurrency: usize) {
    let d = Daemon::with_own_cgroups();
    let next = AtomicUsize::new(0);
    let started = std::time::Instant::now();
    let outcomes: Vec<_> = thread::scope(|scope| {
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (d, next) = (&d, &next);
                scope.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= runs {
                            return done;
                        }
                        let script = format!("echo run-{i}; exit {}", i % 7);
                        let out = d.docker(&["run", "--rm", "busybox", "sh", "-c", &script]);
                        done.push((i, out));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let elapsed = started.elapsed();
    let mut lost = Vec::new();
    for (i, out) in &outcomes {
        if out.code != (*i % 7) as i32 || out.out() != format!("run-{i}") {
            lost.push(format!("run {i}:\n{out}"));
        }
    }
    assert_eq!(outcomes.len(), runs);
    assert!(
        lost.is_empty(),
        "{} of {runs} runs lost something:\n{}",
        lost.len(),
        lost.join("\n")
    );
    eprintln!("{runs} docker run --rm, {concurrency} at a time, in {elapsed:?}");
    berth_tests::eventually("every --rm container to be removed", || {
        d.container_ids().is_empty()
    });
    // Dropping the daemon checks that no cgroup or process is left below its cgroup parent.
}

#[test]
fn a_hundred_concurrent_docker_run_rm_lose_nothing() {
    berth_tests::needs_root!();
    load(100, 100);
}

#[test]
#[ignore = "about 1,000 docker CLI runs: minutes on 2 cores; run with --ignored"]
fn a_thousand_docker_run_rm_a_hundred_at_a_time_lose_nothing() {
    berth_tests::needs_root!();
    load(1000, 100);
}
