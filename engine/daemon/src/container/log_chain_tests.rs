use super::*;
use crate::container::log_files::Rotation;
use crate::container::output::{JsonLogWriter, LogTarget, StreamKind};

fn options(tail: Option<usize>) -> ReadOptions {
    ReadOptions {
        stdout: true,
        stderr: true,
        timestamps: false,
        tail,
        since: None,
        until: None,
    }
}

const TIME: &str = "2024-01-01T00:00:00.000000000Z";

/// A writer rotating every `max_size` bytes into `max_file` files.
fn writer(path: &Path, max_size: u64, max_file: u32, compress: bool) -> JsonLogWriter {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    JsonLogWriter::with_target(LogTarget {
        file,
        rotation: Some((
            path.to_path_buf(),
            Rotation {
                max_size,
                max_file,
                compress,
            },
        )),
    })
}

fn write(writer: &mut JsonLogWriter, lines: impl IntoIterator<Item = String>) -> LogProgress {
    for line in lines {
        writer
            .write_entry(StreamKind::Stdout, line.as_bytes(), TIME)
            .unwrap();
    }
    let written = writer.flush().unwrap();
    writer.progress(written, false)
}

/// The raw stream's payload (tty), which is the log text itself.
fn read_all(reader: &mut ChainReader, limit: u64) -> String {
    let mut out = Vec::new();
    loop {
        let chunk = reader.read_chunk(limit).unwrap();
        out.extend_from_slice(&chunk.output);
        if chunk.caught_up || chunk.stopped {
            return String::from_utf8(out).unwrap();
        }
    }
}

fn numbers(text: &str) -> Vec<usize> {
    text.lines()
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn a_rotated_log_reads_oldest_first_and_tails_across_files() {
    for compress in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        // Each entry is about 70 bytes: a few per 200-byte file, 4 files kept.
        let mut w = writer(&path, 200, 4, compress);
        let progress = write(&mut w, (0..30).map(|n| format!("line {n:02}\n")));
        w.finish_compression();
        let files = log_files::in_order(&path);
        assert_eq!(files.len(), 4, "{files:?}");
        assert_eq!(
            files.iter().filter(|f| f.compressed).count(),
            if compress { 3 } else { 0 },
            "{files:?}"
        );

        let mut all = ChainReader::open(&path, &options(None), true, || None)
            .unwrap()
            .unwrap();
        let len = all.file_len().unwrap();
        let kept = numbers(&read_all(&mut all, len));
        // What is kept is the newest entries, in order, ending with the last one.
        assert_eq!(kept, (kept[0]..30).collect::<Vec<_>>());
        assert!(kept[0] > 0);

        // A tail longer than the newest file reaches into the older ones; the writer's
        // progress bounds the newest.
        let mut tail = ChainReader::open(&path, &options(Some(5)), true, || Some(progress))
            .unwrap()
            .unwrap();
        let limit = tail.limit(&progress).unwrap();
        assert_eq!(numbers(&read_all(&mut tail, limit)), [25, 26, 27, 28, 29]);
    }
}

#[test]
fn a_follower_takes_each_file_started_after_the_one_it_held_once() {
    for compress in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = writer(&path, 1000, 4, compress);
        let progress = write(&mut w, (0..2).map(|n| format!("early {n}\n")));
        let mut follower = ChainReader::open(&path, &options(None), true, || Some(progress))
            .unwrap()
            .unwrap();
        let limit = follower.limit(&progress).unwrap();
        assert_eq!(read_all(&mut follower, limit), "early 0\nearly 1\n");
        assert!(!follower.lags(&progress));

        // Enough to rotate twice while the follower waits; the rotated files may be
        // compressed or not yet when it looks.
        let big = "x".repeat(450);
        let progress = write(&mut w, (0..5).map(|n| format!("{big} {n}\n")));
        assert!(follower.lags(&progress));
        assert!(follower.follow(progress.file).unwrap());
        let limit = follower.limit(&progress).unwrap();
        assert_eq!(numbers(&read_all(&mut follower, limit)), [0, 1, 2, 3, 4]);
        assert!(!follower.lags(&progress));

        // Once more after the compressions ended: nothing is read twice.
        w.finish_compression();
        let progress = write(&mut w, (5..7).map(|n| format!("{big} {n}\n")));
        assert!(follower.follow(progress.file).unwrap());
        let limit = follower.limit(&progress).unwrap();
        assert_eq!(numbers(&read_all(&mut follower, limit)), [5, 6]);
    }
}

#[test]
fn a_writer_past_the_file_it_reported_is_not_followed_into_files_it_has_not_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    let mut w = writer(&path, 200, 5, false);
    let reported = write(&mut w, (0..2).map(|n| format!("line {n}\n")));
    // The writer rotates again before it reports.
    write(&mut w, (2..6).map(|n| format!("line {n}\n")));
    let mut reader = ChainReader::open(&path, &options(None), true, || Some(reported))
        .unwrap()
        .unwrap();
    let limit = reader.limit(&reported).unwrap();
    assert_eq!(numbers(&read_all(&mut reader, limit)), [0, 1]);
}
