//! Docker's JSON progress messages (`{"status":…,"id":…,"progressDetail":…}`), streamed as
//! the body of a pull, push or load, one JSON object per line. The docker CLI draws its
//! progress bars from `progressDetail`; `progress` carries the same bar as text for
//! clients that print it as is.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::mpsc;

const BAR_WIDTH: u64 = 50;
/// Progress updates closer together than this are dropped (the final one never is).
const MIN_UPDATE_INTERVAL_MS: u64 = 100;

/// The sending side of a progress stream; clones share it.
#[derive(Clone)]
pub struct Progress {
    tx: mpsc::UnboundedSender<Bytes>,
    sent: Arc<AtomicBool>,
}

impl Progress {
    pub fn channel() -> (Progress, mpsc::UnboundedReceiver<Bytes>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Progress {
                tx,
                sent: Arc::new(AtomicBool::new(false)),
            },
            rx,
        )
    }

    /// Whether anything was sent yet (an error before that is answered with an HTTP
    /// status instead of in the stream, as Docker does).
    pub fn sent_any(&self) -> bool {
        self.sent.load(Ordering::Relaxed)
    }

    pub fn send(&self, message: &Value) {
        self.sent.store(true, Ordering::Relaxed);
        let mut line = serde_json::to_vec(message).expect("a JSON value serializes");
        line.push(b'\n');
        // A client that went away does not stop the transfer.
        let _ = self.tx.send(Bytes::from(line));
    }

    pub fn status(&self, status: &str) {
        self.send(&json!({ "status": status }));
    }

    /// A status line of one layer (`id` is its 12-character short digest).
    pub fn layer(&self, id: &str, status: &str) {
        self.send(&json!({ "status": status, "progressDetail": {}, "id": id }));
    }

    pub fn bar(&self, id: &str, status: &str, current: u64, total: u64) {
        self.send(&json!({
            "status": status,
            "progressDetail": { "current": current, "total": total },
            "progress": bar_text(current, total),
            "id": id,
        }));
    }

    pub fn aux(&self, aux: Value) {
        self.send(&json!({ "progressDetail": {}, "aux": aux }));
    }

    pub fn error(&self, message: &str) {
        self.send(&json!({ "errorDetail": { "message": message }, "error": message }));
    }

    /// A throttled `bar` reporter for one transfer.
    pub fn meter(&self, id: &str, status: &'static str, total: u64) -> Meter {
        Meter {
            progress: self.clone(),
            id: id.to_string(),
            status,
            total,
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }
}

/// Reports a transfer's progress at most every [`MIN_UPDATE_INTERVAL_MS`].
pub struct Meter {
    progress: Progress,
    id: String,
    status: &'static str,
    total: u64,
    started: Instant,
    last_ms: AtomicU64,
}

impl Meter {
    pub fn update(&self, current: u64) {
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.last_ms.load(Ordering::Relaxed);
        if current < self.total && now < last + MIN_UPDATE_INTERVAL_MS && last != 0 {
            return;
        }
        self.last_ms.store(now.max(1), Ordering::Relaxed);
        self.progress
            .bar(&self.id, self.status, current, self.total);
    }
}

/// `[=====>        ]  1.23MB/4.56MB`, as Docker's progress text.
pub fn bar_text(current: u64, total: u64) -> String {
    if total == 0 {
        return format!("{:>8}", human_size(current));
    }
    let filled = (BAR_WIDTH * current.min(total) / total) as usize;
    let width = BAR_WIDTH as usize;
    let mut bar = "=".repeat(filled);
    if filled < width {
        bar.push('>');
        bar.push_str(&" ".repeat(width - filled - 1));
    }
    format!("[{bar}] {:>8}/{}", human_size(current), human_size(total))
}

/// Sizes in decimal units with four significant digits, as Docker prints them.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", significant(size, 4), UNITS[unit])
}

/// Go's `%.4g` for the values `human_size` produces (0 ≤ v < 1000).
fn significant(value: f64, digits: usize) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let integer_digits = (value.abs().log10().floor() as i32 + 1).max(1) as usize;
    let decimals = digits.saturating_sub(integer_digits);
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_bars_read_like_dockers() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1234), "1.234kB");
        assert_eq!(human_size(4_261_376), "4.261MB");
        assert_eq!(human_size(1_000_000), "1MB");
        assert_eq!(
            bar_text(50, 100),
            format!("[{}>{}]      50B/100B", "=".repeat(25), " ".repeat(24))
        );
        assert_eq!(
            bar_text(100, 100),
            format!("[{}]     100B/100B", "=".repeat(50))
        );
    }

    #[test]
    fn messages_are_json_lines() {
        let (progress, mut rx) = Progress::channel();
        assert!(!progress.sent_any());
        progress.layer("abc", "Pulling fs layer");
        progress.error("boom");
        assert!(progress.sent_any());
        assert_eq!(
            rx.try_recv().unwrap(),
            "{\"id\":\"abc\",\"progressDetail\":{},\"status\":\"Pulling fs layer\"}\n"
        );
        assert_eq!(
            rx.try_recv().unwrap(),
            "{\"error\":\"boom\",\"errorDetail\":{\"message\":\"boom\"}}\n"
        );
    }
}
