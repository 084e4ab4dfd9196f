//! Human renderings that docker's output uses: sizes with three significant
//! digits in decimal units, durations like "About a minute", short IDs,
//! ellipsized text and Go's quoting.

use chrono::{DateTime, Local, TimeZone};

const SIZE_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/// `1500000` → `1.5MB`, `0` → `0B`, `999999` → `1e+03kB` (as Go's `%.3g` does).
pub fn human_size(bytes: f64) -> String {
    human_size_with_precision(bytes, 3)
}

/// Decimal-unit size with `precision` significant digits (Go's `%.*g`).
pub fn human_size_with_precision(bytes: f64, precision: usize) -> String {
    let mut size = bytes;
    let mut unit = 0;
    while size >= 1000.0 && unit < SIZE_UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", format_g(size, precision), SIZE_UNITS[unit])
}

/// Binary-unit size with four significant digits (`7.621GiB`), as `info`
/// shows memory.
pub fn binary_size(bytes: f64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut size = bytes;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    format!("{}{}", format_g(size, 4), UNITS[unit])
}

/// Go's `%.*g`: `precision` significant digits, trailing zeros dropped,
/// exponent notation when the exponent is below -4 or at least `precision`.
fn format_g(value: f64, precision: usize) -> String {
    if value == 0.0 {
        return "0".to_owned();
    }
    let precision = precision.max(1);
    let sci = format!("{value:.*e}", precision - 1);
    let (mantissa, exponent) = sci.split_once('e').expect("{:e} always has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponent is an integer");
    if exponent < -4 || exponent >= precision as i32 {
        let mantissa = trim_zeros(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    let decimals = (precision as i32 - 1 - exponent).max(0) as usize;
    trim_zeros(&format!("{value:.decimals$}")).to_owned()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Go's units.HumanDuration thresholds, for "… ago" and "Up …" texts.
pub fn human_duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let minutes = seconds / 60;
    let hours = (seconds as f64 / 3600.0 + 0.5) as i64;
    match () {
        _ if seconds < 1 => "Less than a second".to_owned(),
        _ if seconds == 1 => "1 second".to_owned(),
        _ if seconds < 60 => format!("{seconds} seconds"),
        _ if minutes == 1 => "About a minute".to_owned(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".to_owned(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", seconds / 3600 / 24 / 365),
    }
}

/// "How long ago" from a unix timestamp, relative to `now`.
pub fn ago(created: i64, now: i64) -> String {
    format!("{} ago", human_duration(now - created))
}

/// Go's `time.Time.String()` for a unix timestamp in the local zone:
/// `2024-01-02 15:04:05 +0000 UTC`.
pub fn go_time_string(unix: i64) -> String {
    match Local.timestamp_opt(unix, 0).single() {
        Some(t) => go_time_of(&t),
        None => unix.to_string(),
    }
}

fn go_time_of(t: &DateTime<Local>) -> String {
    let offset = t.format("%z").to_string();
    // chrono knows offsets but not zone abbreviations; UTC is the one zone
    // whose name is certain.
    let zone = if offset == "+0000" {
        "UTC".to_owned()
    } else {
        offset.clone()
    };
    format!("{} {offset} {zone}", t.format("%Y-%m-%d %H:%M:%S"))
}

/// The 12-character short form of an ID, without its algorithm prefix.
pub fn short_id(id: &str) -> &str {
    let hex = id.split_once(':').map_or(id, |(_, hex)| hex);
    match hex.char_indices().nth(12) {
        Some((cut, _)) => &hex[..cut],
        None => hex,
    }
}

/// Cuts `s` to `max` characters, the last being an ellipsis.
pub fn ellipsis(s: &str, max: usize) -> String {
    let count = s.chars().count();
    if count <= max {
        return s.to_owned();
    }
    match max {
        0 => String::new(),
        1 => s.chars().take(1).collect(),
        _ => {
            let mut cut: String = s.chars().take(max - 1).collect();
            cut.push('…');
            cut
        }
    }
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_have_three_significant_digits() {
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(human_size(999.0), "999B");
        assert_eq!(human_size(1000.0), "1kB");
        assert_eq!(human_size(1_234_567.0), "1.23MB");
        assert_eq!(human_size(4_261_376.0), "4.26MB");
        assert_eq!(human_size(12_345_678.0), "12.3MB");
        assert_eq!(human_size(123_456_789.0), "123MB");
        assert_eq!(human_size(999_999.0), "1e+03kB");
        assert_eq!(human_size(1_500_000_000.0), "1.5GB");
        assert_eq!(human_size_with_precision(4_261_376.0, 4), "4.261MB");
        assert_eq!(human_size_with_precision(1234.0, 4), "1.234kB");
        assert_eq!(binary_size(8_182_853_632.0), "7.621GiB");
        assert_eq!(binary_size(1024.0), "1KiB");
        assert_eq!(binary_size(1536.0 * 1024.0 * 1024.0), "1.5GiB");
    }

    #[test]
    fn durations_follow_docker_thresholds() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(60), "About a minute");
        assert_eq!(human_duration(119), "About a minute");
        assert_eq!(human_duration(120), "2 minutes");
        assert_eq!(human_duration(3600 - 1), "59 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(2 * 3600), "2 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(20 * 86400), "2 weeks");
        assert_eq!(human_duration(90 * 86400), "3 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
        assert_eq!(ago(100, 160), "About a minute ago");
    }

    #[test]
    fn ids_text_and_quotes() {
        assert_eq!(short_id("sha256:0123456789abcdef0123"), "0123456789ab");
        assert_eq!(short_id("0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
        assert_eq!(
            ellipsis("sh -c 'sleep 1000; echo done'", 20),
            "sh -c 'sleep 1000; …"
        );
        assert_eq!(ellipsis("echo hi", 20), "echo hi");
        assert_eq!(go_quote("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
    }
}
