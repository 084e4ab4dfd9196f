//! `--since`/`--until` values as docker reads them: a Go duration relative
//! to now (`10m`, `1h30m`), an RFC 3339 time or date, or a unix timestamp.

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone};

use crate::error::CliError;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimestampError {
    #[error("failed to parse value as time or duration: {0:?}")]
    Unparsable(String),
}

/// Converts `value` to the API's form: `SECONDS` for durations and unix
/// times, `SECONDS.NANOSECONDS` for calendar times.
pub fn api_timestamp(value: &str, now: DateTime<Local>) -> Result<String, TimestampError> {
    if value != "0" {
        if let Ok(nanos) = crate::options::parse_duration(value) {
            let then = now.timestamp_nanos_opt().unwrap_or(0) as i128 - i128::from(nanos);
            return Ok(then.div_euclid(1_000_000_000).to_string());
        }
    }
    if let Some(t) = parse_calendar(value) {
        return Ok(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        ));
    }
    if !value.contains('-') && is_unix_timestamp(value) {
        return Ok(value.to_owned());
    }
    Err(TimestampError::Unparsable(value.to_owned()))
}

/// [`api_timestamp`] of the `--since` or `--until` value `flag` was given, if any; a
/// value that does not parse is a usage error naming the flag.
pub fn flag_timestamp(
    flag: &str,
    value: Option<&str>,
    now: DateTime<Local>,
) -> Result<Option<String>, CliError> {
    value
        .map(|v| {
            api_timestamp(v, now)
                .map_err(|e| CliError::Usage(format!("invalid value for \"{flag}\": {e}")))
        })
        .transpose()
}

fn is_unix_timestamp(value: &str) -> bool {
    let (secs, nanos) = value.split_once('.').unwrap_or((value, ""));
    !secs.is_empty()
        && secs.chars().all(|c| c.is_ascii_digit())
        && nanos.chars().all(|c| c.is_ascii_digit())
        && nanos.len() <= 9
}

fn parse_calendar(value: &str) -> Option<DateTime<chrono::FixedOffset>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t);
    }
    // Without a zone, the time is local.
    let local = |naive: NaiveDateTime| {
        Local
            .from_local_datetime(&naive)
            .single()
            .map(|t| t.fixed_offset())
    };
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(value, format) {
            return local(naive);
        }
    }
    let hour_only = value
        .split_once('T')
        .filter(|(_, hour)| hour.len() == 2 && hour.chars().all(|c| c.is_ascii_digit()));
    if let Some((date, hour)) = hour_only {
        let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
        return local(date.and_hms_opt(hour.parse().ok()?, 0, 0)?);
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Local> {
        Local.timestamp_opt(1_800_000_000, 0).single().unwrap()
    }

    #[test]
    fn durations_are_relative_to_now() {
        assert_eq!(api_timestamp("10m", now()).unwrap(), "1799999400");
        assert_eq!(api_timestamp("1h30m", now()).unwrap(), "1799994600");
        assert_eq!(api_timestamp("1.5s", now()).unwrap(), "1799999998");
    }

    #[test]
    fn calendar_times_and_unix_timestamps() {
        assert_eq!(
            api_timestamp("2024-01-01T00:00:00Z", now()).unwrap(),
            "1704067200.000000000"
        );
        assert_eq!(
            api_timestamp("2024-01-01T00:00:00.5+01:00", now()).unwrap(),
            "1704063600.500000000"
        );
        assert_eq!(api_timestamp("1704067200", now()).unwrap(), "1704067200");
        assert_eq!(
            api_timestamp("1704067200.123", now()).unwrap(),
            "1704067200.123"
        );
        assert_eq!(api_timestamp("0", now()).unwrap(), "0");
        assert!(api_timestamp("2024-01-01", now())
            .unwrap()
            .ends_with(".000000000"));
        assert!(api_timestamp("yesterday", now()).is_err());
        assert!(api_timestamp("2024-13-01", now()).is_err());
    }
}
