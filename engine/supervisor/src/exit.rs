//! A container's exit: how it ended, and its `exit.json` in the container's state directory.
//!
//! The supervisor writes the file before it tells the daemon, so a daemon that was down when
//! the container exited still finds the true exit code, and one that crashes between the
//! notification and its own bookkeeping finds it too.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The file, inside a container's state directory, that holds its [`ExitRecord`].
pub const EXIT_FILE: &str = "exit.json";

/// How a container's PID 1 ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// The exit code as Docker reports it: the process's own code, or 128 + the signal that
    /// killed it.
    pub exit_code: i32,
    /// The signal that killed the process, if one did.
    pub signal: Option<i32>,
    /// When the supervisor reaped the process; RFC 3339 with nanoseconds on disk.
    #[serde(serialize_with = "rfc3339_nanos", deserialize_with = "rfc3339")]
    pub finished_at: DateTime<Utc>,
}

impl ExitRecord {
    /// The record for a process that called `exit(code)`.
    pub fn exited(code: i32, finished_at: DateTime<Utc>) -> Self {
        ExitRecord {
            exit_code: code,
            signal: None,
            finished_at,
        }
    }

    /// The record for a process killed by `signal`.
    pub fn killed(signal: i32, finished_at: DateTime<Utc>) -> Self {
        ExitRecord {
            exit_code: 128 + signal,
            signal: Some(signal),
            finished_at,
        }
    }
}

fn rfc3339_nanos<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Nanos, true))
}

fn rfc3339<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(deserializer)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(serde::de::Error::custom)
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ExitFileError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} is not a valid exit record: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// The source names the path already.
    #[error("writing the exit record: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// The exit recorded in `state_dir`, or `None` if there is none: the container has not
/// exited (or the supervisor that saw it exit could not write the file, and logged why). An
/// unreadable file is logged here and reads as `None` too.
pub fn read_exit_record(state_dir: &Path) -> Option<ExitRecord> {
    match load_exit_record(state_dir) {
        Ok(record) => record,
        Err(error) => {
            tracing::warn!("{error}");
            None
        }
    }
}

fn load_exit_record(state_dir: &Path) -> Result<Option<ExitRecord>, ExitFileError> {
    let path = state_dir.join(EXIT_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ExitFileError::Read { path, source }),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| ExitFileError::Parse { path, source })
}

/// Writes `record` to `state_dir/exit.json` so that a reader sees either no file or the
/// whole record. `durable` also makes it survive a power cut: needed when no daemon hears
/// of the exit now, so that the file is the only record of it. With a daemon connected the
/// daemon records the exit durably itself, and the file only has to outlive a daemon killed
/// before it got the message, which the page cache ensures; its two fsyncs would sit on the
/// path of every container's exit.
pub(crate) fn write_exit_record(
    state_dir: &Path,
    record: &ExitRecord,
    durable: bool,
) -> Result<(), ExitFileError> {
    let path = state_dir.join(EXIT_FILE);
    let bytes = serde_json::to_vec(record).expect("an exit record always serializes");
    let written = if durable {
        fsdriver::atomic::write_atomic(&path, &bytes)
    } else {
        fsdriver::atomic::write_replace(&path, &bytes)
    };
    written.map_err(|source| ExitFileError::Write { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_record_reads_back_with_nanoseconds_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let at = DateTime::parse_from_rfc3339("2025-03-04T05:06:07.000000009Z")
            .unwrap()
            .with_timezone(&Utc);
        let record = ExitRecord::killed(9, at);
        write_exit_record(dir.path(), &record, true).unwrap();

        let text = fs::read_to_string(dir.path().join(EXIT_FILE)).unwrap();
        assert!(
            text.contains("\"2025-03-04T05:06:07.000000009Z\""),
            "{text}"
        );
        assert_eq!(read_exit_record(dir.path()), Some(record));
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left behind"
        );
    }

    #[test]
    fn a_signal_death_reports_128_plus_the_signal() {
        let record = ExitRecord::killed(15, Utc::now());
        assert_eq!((record.exit_code, record.signal), (143, Some(15)));
        let record = ExitRecord::exited(3, Utc::now());
        assert_eq!((record.exit_code, record.signal), (3, None));
    }

    #[test]
    fn no_file_means_no_exit_and_a_broken_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_exit_record(dir.path()).unwrap(), None);
        fs::write(dir.path().join(EXIT_FILE), b"{not json").unwrap();
        assert!(matches!(
            load_exit_record(dir.path()),
            Err(ExitFileError::Parse { .. })
        ));
        assert_eq!(read_exit_record(dir.path()), None);
    }
}
