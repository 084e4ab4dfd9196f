//! Healthchecks: a container's `HEALTHCHECK` (from `--health-*` or `Healthcheck` in the
//! create body) run as an exec on one timer for the whole daemon ([`monitor`]), and the
//! health state it leaves in the container's record (`State.Health`).

pub mod monitor;
pub mod probe;

use std::time::{Duration, Instant};

use bollard_stubs::models::HealthConfig;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Docker's defaults for what a healthcheck leaves at zero.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: u32 = 3;
/// How many results `State.Health.Log` keeps, and how much output of each.
pub const LOG_KEPT: usize = 5;
pub const OUTPUT_KEPT: usize = 4096;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidHealthcheck(String);

/// Refuses durations Docker refuses (a set duration under 1ms, negative retries).
pub fn validate(config: &HealthConfig) -> Result<(), InvalidHealthcheck> {
    let durations = [
        ("Interval", config.interval),
        ("Timeout", config.timeout),
        ("StartPeriod", config.start_period),
        ("StartInterval", config.start_interval),
    ];
    for (name, value) in durations {
        if value.is_some_and(|v| v != 0 && v < 1_000_000) {
            return Err(InvalidHealthcheck(format!(
                "{name} in Healthcheck cannot be less than 1ms"
            )));
        }
    }
    if config.retries.is_some_and(|r| r < 0) {
        return Err(InvalidHealthcheck(
            "Retries in Healthcheck cannot be negative".to_string(),
        ));
    }
    Ok(())
}

/// The container's healthcheck: the request's, its unset fields taken from the image's
/// (`Healthcheck` of the image config), as dockerd merges them.
pub fn merge(
    requested: Option<HealthConfig>,
    image: Option<&serde_json::Value>,
) -> Option<HealthConfig> {
    let image: Option<HealthConfig> = image.and_then(|v| serde_json::from_value(v.clone()).ok());
    let Some(image) = image else {
        return requested;
    };
    let Some(mut merged) = requested else {
        return Some(image);
    };
    if merged.test.as_ref().is_none_or(Vec::is_empty) {
        merged.test = image.test;
    }
    let unset = |v: Option<i64>| v.is_none_or(|v| v == 0);
    if unset(merged.interval) {
        merged.interval = image.interval;
    }
    if unset(merged.timeout) {
        merged.timeout = image.timeout;
    }
    if unset(merged.start_period) {
        merged.start_period = image.start_period;
    }
    if unset(merged.start_interval) {
        merged.start_interval = image.start_interval;
    }
    if unset(merged.retries) {
        merged.retries = image.retries;
    }
    Some(merged)
}

/// A healthcheck to run: its command and schedule, Docker's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub command: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: u32,
}

fn duration(nanos: Option<i64>, default: Duration) -> Duration {
    match nanos {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

impl Probe {
    /// The probe a container's `Healthcheck` describes; `None` without one, or with `NONE`
    /// (`--no-healthcheck`).
    pub fn from_config(config: Option<&HealthConfig>) -> Option<Probe> {
        let config = config?;
        let test = config.test.as_deref().unwrap_or_default();
        let command = match test.split_first() {
            Some((kind, args)) if kind == "CMD" && !args.is_empty() => args.to_vec(),
            Some((kind, [shell])) if kind == "CMD-SHELL" => {
                vec!["/bin/sh".to_string(), "-c".to_string(), shell.clone()]
            }
            _ => return None,
        };
        Some(Probe {
            command,
            interval: duration(config.interval, DEFAULT_INTERVAL),
            timeout: duration(config.timeout, DEFAULT_TIMEOUT),
            start_period: duration(config.start_period, Duration::ZERO),
            start_interval: duration(config.start_interval, DEFAULT_START_INTERVAL),
            retries: config
                .retries
                .filter(|r| *r > 0)
                .map_or(DEFAULT_RETRIES, |r| r as u32),
        })
    }

    /// How long after a check ends the next one starts: `start_interval` while the start
    /// period lasts, `interval` after.
    pub fn next_delay(&self, started_at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
        if self.in_start_period(started_at, now) {
            self.start_interval
        } else {
            self.interval
        }
    }

    fn in_start_period(&self, started_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let elapsed = (now - started_at).to_std().unwrap_or_default();
        elapsed < self.start_period
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// One check's outcome, as `State.Health.Log` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub exit_code: i64,
    pub output: String,
}

/// `State.Health`, kept in the container's record so that it survives a daemon restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: HealthStatus,
    pub failing_streak: u32,
    pub log: Vec<CheckResult>,
}

impl Health {
    /// A container (re)started: checks begin again from "starting"; the log is kept.
    pub fn restart(previous: Option<Health>) -> Health {
        let mut health = previous.unwrap_or(Health {
            status: HealthStatus::Starting,
            failing_streak: 0,
            log: Vec::new(),
        });
        health.status = HealthStatus::Starting;
        health.failing_streak = 0;
        health
    }

    /// Records a check's result; answers the new status if it changed. A failure within
    /// the start period does not count, as in Docker.
    pub fn record(
        &mut self,
        probe: &Probe,
        started_at: DateTime<Utc>,
        result: CheckResult,
    ) -> Option<HealthStatus> {
        let before = self.status;
        if result.exit_code == 0 {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else if !probe.in_start_period(started_at, result.end) {
            self.failing_streak += 1;
            if self.failing_streak >= probe.retries {
                self.status = HealthStatus::Unhealthy;
            }
        }
        self.log.push(result);
        let excess = self.log.len().saturating_sub(LOG_KEPT);
        self.log.drain(..excess);
        (self.status != before).then_some(self.status)
    }
}

/// How long a container's health log may go unwritten while its verdict holds: a daemon
/// restarted after a kill -9 shows the status and failing streak as they were, and a log at
/// most this much older.
pub const LOG_WRITE_EVERY: Duration = Duration::from_secs(30);

/// How a check's result reaches the container's record on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthWrite {
    /// The status, or a failing streak that still counts towards the retries, moved: what a
    /// restart must find exactly, written as durably as every change of the record.
    Durable,
    /// Only the log moved, and it was last written [`LOG_WRITE_EVERY`] ago or never: written
    /// without the fsyncs (a kill -9 loses nothing written, a power cut may).
    Log,
    /// Only the log moved, and it was written lately: kept in memory (inspect shows it) until
    /// the next write of the record. dockerd writes no result at all that way.
    Memory,
}

/// What a result that took the health from `before` (status, failing streak) to `after`
/// writes, the log having last been written at `log_written`.
pub fn write_for(
    before: (HealthStatus, u32),
    after: &Health,
    retries: u32,
    log_written: Option<Instant>,
    now: Instant,
) -> HealthWrite {
    let (status, streak) = before;
    // Past the retries a growing streak changes nothing: the container is unhealthy until a
    // check passes, which moves the status.
    let streak_counts = streak.min(after.failing_streak) < retries;
    if after.status != status || (after.failing_streak != streak && streak_counts) {
        return HealthWrite::Durable;
    }
    match log_written {
        Some(at) if now.saturating_duration_since(at) < LOG_WRITE_EVERY => HealthWrite::Memory,
        _ => HealthWrite::Log,
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
