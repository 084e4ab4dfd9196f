use super::*;

fn config(test: &[&str]) -> HealthConfig {
    HealthConfig {
        test: Some(test.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
}

fn result(at: DateTime<Utc>, code: i64) -> CheckResult {
    CheckResult {
        start: at,
        end: at,
        exit_code: code,
        output: String::new(),
    }
}

#[test]
fn commands_and_defaults_follow_docker() {
    let probe = Probe::from_config(Some(&config(&["CMD-SHELL", "test -f /ok"]))).unwrap();
    assert_eq!(probe.command, ["/bin/sh", "-c", "test -f /ok"]);
    assert_eq!(probe.interval, Duration::from_secs(30));
    assert_eq!(probe.timeout, Duration::from_secs(30));
    assert_eq!(probe.retries, 3);
    let exec = Probe::from_config(Some(&config(&["CMD", "true", "x"]))).unwrap();
    assert_eq!(exec.command, ["true", "x"]);
    assert_eq!(Probe::from_config(Some(&config(&["NONE"]))), None);
    assert_eq!(Probe::from_config(Some(&config(&[]))), None);
    assert_eq!(Probe::from_config(None), None);
}

#[test]
fn durations_under_a_millisecond_and_negative_retries_are_refused() {
    let mut bad = config(&["CMD", "true"]);
    bad.interval = Some(10);
    assert_eq!(
        validate(&bad).unwrap_err().to_string(),
        "Interval in Healthcheck cannot be less than 1ms"
    );
    let mut bad = config(&["CMD", "true"]);
    bad.retries = Some(-1);
    assert!(validate(&bad).is_err());
    let mut good = config(&["CMD", "true"]);
    good.interval = Some(0);
    good.timeout = Some(2_000_000);
    assert!(validate(&good).is_ok());
}

#[test]
fn failures_turn_unhealthy_after_the_retries_and_a_success_heals() {
    let probe = Probe {
        retries: 2,
        ..Probe::from_config(Some(&config(&["CMD", "true"]))).unwrap()
    };
    let started = Utc::now();
    let mut health = Health::restart(None);
    assert_eq!(health.status, HealthStatus::Starting);
    assert_eq!(health.record(&probe, started, result(started, 1)), None);
    assert_eq!(health.failing_streak, 1);
    assert_eq!(
        health.record(&probe, started, result(started, 1)),
        Some(HealthStatus::Unhealthy)
    );
    assert_eq!(
        health.record(&probe, started, result(started, 0)),
        Some(HealthStatus::Healthy)
    );
    assert_eq!(health.failing_streak, 0);
    for _ in 0..10 {
        health.record(&probe, started, result(started, 0));
    }
    assert_eq!(health.log.len(), LOG_KEPT);
    let restarted = Health::restart(Some(health));
    assert_eq!(restarted.status, HealthStatus::Starting);
    assert_eq!(restarted.log.len(), LOG_KEPT);
}

#[test]
fn failures_in_the_start_period_do_not_count() {
    let probe = Probe {
        retries: 1,
        start_period: Duration::from_secs(60),
        start_interval: Duration::from_secs(1),
        ..Probe::from_config(Some(&config(&["CMD", "true"]))).unwrap()
    };
    let started = Utc::now();
    let mut health = Health::restart(None);
    assert_eq!(health.record(&probe, started, result(started, 1)), None);
    assert_eq!(health.failing_streak, 0);
    assert_eq!(probe.next_delay(started, started), Duration::from_secs(1));
    let later = started + chrono::Duration::seconds(61);
    assert_eq!(probe.next_delay(started, later), probe.interval);
    assert_eq!(
        health.record(&probe, started, result(later, 1)),
        Some(HealthStatus::Unhealthy)
    );
}

#[test]
fn the_requests_healthcheck_takes_what_it_leaves_unset_from_the_images() {
    let image =
        serde_json::json!({"Test": ["CMD", "true"], "Interval": 5_000_000_000i64, "Retries": 7});
    let merged = merge(None, Some(&image)).unwrap();
    assert_eq!(
        merged.test,
        Some(vec!["CMD".to_string(), "true".to_string()])
    );
    let requested = HealthConfig {
        interval: Some(1_000_000),
        ..Default::default()
    };
    let merged = merge(Some(requested), Some(&image)).unwrap();
    assert_eq!(merged.interval, Some(1_000_000));
    assert_eq!(merged.retries, Some(7));
    assert_eq!(merged.test.unwrap()[1], "true");
    let none = merge(Some(config(&["NONE"])), Some(&image)).unwrap();
    assert_eq!(Probe::from_config(Some(&none)), None);
    assert_eq!(merge(None, None), None);
}

/// Runs `codes` through a fresh health (retries 3, no start period) and answers what each
/// result writes, the log counting as written when a result wrote it, `gap` apart.
fn writes(codes: &[i64], gap: Duration) -> Vec<HealthWrite> {
    let probe = Probe::from_config(Some(&config(&["CMD", "true"]))).unwrap();
    let started = Utc::now() - chrono::Duration::seconds(60);
    let mut health = Health::restart(None);
    let t0 = Instant::now();
    let mut written = None;
    let mut out = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        let now = t0 + gap * i as u32;
        let before = (health.status, health.failing_streak);
        health.record(&probe, started, result(Utc::now(), *code));
        let write = write_for(before, &health, probe.retries, written, now);
        if write != HealthWrite::Memory {
            written = Some(now);
        }
        out.push(write);
    }
    out
}

#[test]
fn a_repeated_verdict_is_written_only_now_and_then() {
    use HealthWrite::*;
    let second = Duration::from_secs(1);
    // Starting → healthy is durable; then the log is written once, and again only once
    // LOG_WRITE_EVERY has passed since.
    let healthy = writes(&[0; 33], second);
    assert_eq!(healthy[0], Durable);
    assert!(healthy[1..30].iter().all(|w| *w == Memory), "{healthy:?}");
    assert_eq!(healthy[30], Log);
    assert_eq!(healthy[31..], [Memory, Memory]);
    // Checks further apart than that write their log every time.
    assert_eq!(writes(&[0, 0, 0], LOG_WRITE_EVERY), [Durable, Log, Log]);
}

#[test]
fn the_status_and_a_counting_failing_streak_are_written_durably() {
    use HealthWrite::*;
    let second = Duration::from_secs(1);
    // healthy, then failures: streaks 1 and 2 count towards the 3 retries, the third turns
    // the container unhealthy; past that a growing streak changes nothing a restart needs.
    let failing = writes(&[0, 1, 1, 1, 1, 1, 0, 0], second);
    assert_eq!(
        failing,
        [Durable, Durable, Durable, Durable, Memory, Memory, Durable, Memory]
    );
    // A failure then a pass while healthy: the streak went 0 → 1 → 0, both written.
    assert_eq!(writes(&[0, 1, 0], second), [Durable, Durable, Durable]);
}
