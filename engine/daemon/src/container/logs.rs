//! Reading a container's json-file log back, framed as the logs endpoint sends it.

use std::io::{BufRead, BufReader};
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::api::error::ApiError;

pub struct ReadOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub timestamps: bool,
    pub tail: Option<usize>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// The 8-byte header of Docker's multiplexed stream: stream type, three zero bytes, and the
/// payload length, big-endian.
pub fn frame_header(stream: u8, len: usize) -> [u8; 8] {
    let len = (len as u32).to_be_bytes();
    [stream, 0, 0, 0, len[0], len[1], len[2], len[3]]
}

/// Docker's clients send `since`/`until` as `seconds[.nanoseconds]` since the epoch;
/// RFC 3339 is accepted as well.
pub fn parse_time(value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(value) = value.filter(|v| !v.is_empty() && *v != "0") else {
        return Ok(None);
    };
    let invalid = || ApiError::bad_request(format!("invalid timestamp: {value:?}"));
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let (secs, nanos) = value.split_once('.').unwrap_or((value, "0"));
    let secs: i64 = secs.parse().map_err(|_| invalid())?;
    let nanos_digits = format!("{nanos:0<9}");
    let nanos: u32 = nanos_digits[..9].parse().map_err(|_| invalid())?;
    DateTime::from_timestamp(secs, nanos)
        .map(Some)
        .ok_or_else(invalid)
}

#[derive(serde::Deserialize)]
struct Entry {
    log: String,
    stream: String,
    time: DateTime<Utc>,
}

pub fn read(path: &Path, options: &ReadOptions, tty: bool) -> Result<Vec<u8>, ApiError> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => {
            return Err(ApiError::internal(format!(
                "opening log file {}: {err}",
                path.display()
            )))
        }
    };
    let mut entries: Vec<Entry> = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|err| {
            ApiError::internal(format!("reading log file {}: {err}", path.display()))
        })?;
        let Ok(entry) = serde_json::from_str::<Entry>(&line) else {
            // A line cut short by a crash is skipped, not fatal.
            continue;
        };
        let wanted = match entry.stream.as_str() {
            "stdout" => options.stdout,
            "stderr" => options.stderr,
            _ => false,
        };
        if !wanted
            || options.since.is_some_and(|since| entry.time < since)
            || options.until.is_some_and(|until| entry.time > until)
        {
            continue;
        }
        entries.push(entry);
    }
    if let Some(tail) = options.tail {
        let skip = entries.len().saturating_sub(tail);
        entries.drain(..skip);
    }
    let mut out = Vec::new();
    for entry in entries {
        let mut payload = Vec::with_capacity(entry.log.len() + 32);
        if options.timestamps {
            payload.extend_from_slice(
                entry
                    .time
                    .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                    .as_bytes(),
            );
            payload.push(b' ');
        }
        payload.extend_from_slice(entry.log.as_bytes());
        if !tty {
            let stream = if entry.stream == "stderr" { 2 } else { 1 };
            out.extend_from_slice(&frame_header(stream, payload.len()));
        }
        out.extend_from_slice(&payload);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_both_forms() {
        let t = parse_time(Some("1700000000.5")).unwrap().unwrap();
        assert_eq!(t.timestamp(), 1_700_000_000);
        assert_eq!(t.timestamp_subsec_nanos(), 500_000_000);
        assert!(parse_time(Some("2026-01-01T00:00:00Z")).unwrap().is_some());
        assert!(parse_time(Some("yesterday")).is_err());
        assert!(parse_time(Some("0")).unwrap().is_none());
    }

    #[test]
    fn read_frames_filters_and_tails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(
            &path,
            concat!(
                r#"{"log":"a\n","stream":"stdout","time":"2026-01-01T00:00:01Z"}"#,
                "\n",
                r#"{"log":"b\n","stream":"stderr","time":"2026-01-01T00:00:02Z"}"#,
                "\n",
                r#"{"log":"c\n","stream":"stdout","time":"2026-01-01T00:00:03Z"}"#,
                "\n",
                "{truncated",
            ),
        )
        .unwrap();
        let options = ReadOptions {
            stdout: true,
            stderr: true,
            timestamps: false,
            tail: Some(2),
            since: None,
            until: None,
        };
        let out = read(&path, &options, false).unwrap();
        let mut expected = frame_header(2, 2).to_vec();
        expected.extend_from_slice(b"b\n");
        expected.extend_from_slice(&frame_header(1, 2));
        expected.extend_from_slice(b"c\n");
        assert_eq!(out, expected);

        let only_stdout = ReadOptions {
            stderr: false,
            tail: None,
            ..options
        };
        assert_eq!(read(&path, &only_stdout, true).unwrap(), b"a\nc\n");
    }
}
