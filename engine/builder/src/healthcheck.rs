//! `HEALTHCHECK` as Docker's classic builder records it: Docker's `config.Healthcheck`
//! (`Test`, durations in nanoseconds, `Retries`, zeros left out) and the history text Go's
//! `%q` makes of it (`HEALTHCHECK &{["CMD-SHELL" "…"] "30s" "0s" "0s" "0s" '\x03'}`).

use serde_json::{json, Map, Value};

use crate::dockerfile::{CommandForm, Healthcheck};

/// Docker's lower bound for a non-zero duration.
const MINIMUM_NANOS: i64 = 1_000_000;

const DURATIONS: [(&str, &str); 4] = [
    ("interval", "Interval"),
    ("timeout", "Timeout"),
    ("start-period", "StartPeriod"),
    ("start-interval", "StartInterval"),
];

/// The healthcheck `instruction` sets, and its history comment; errors are Docker's texts.
pub fn parse(instruction: &Healthcheck) -> Result<(Value, String), String> {
    let (flags, command) = match instruction {
        Healthcheck::None => {
            let test = vec!["NONE".to_string()];
            return Ok((
                json!({ "Test": test }),
                format!(
                    "HEALTHCHECK &{{{} \"0s\" \"0s\" \"0s\" \"0s\" '\\x00'}}",
                    go_quoted(&test)
                ),
            ));
        }
        Healthcheck::Cmd { flags, command } => (flags, command),
    };
    let mut durations = [0i64; 4];
    let mut retries = 0i64;
    for (name, value) in flags {
        let value = value.as_deref().unwrap_or_default();
        if name == "retries" {
            if !value.is_empty() {
                retries = value
                    .parse::<i64>()
                    .map_err(|_| format!("invalid value {value:?} for flag --retries"))?;
                if retries < 0 {
                    return Err(format!("--retries cannot be negative ({retries})"));
                }
            }
            continue;
        }
        let Some(slot) = DURATIONS.iter().position(|(flag, _)| flag == name) else {
            return Err(format!("unknown flag: {name}"));
        };
        durations[slot] = interval(name, value)?;
    }
    let test = match command {
        CommandForm::Exec(argv) => {
            let mut test = vec!["CMD".to_string()];
            test.extend(argv.iter().cloned());
            test
        }
        CommandForm::Shell(line) => vec!["CMD-SHELL".to_string(), line.clone()],
    };
    if test.len() < 2 || test[1..].iter().all(|a| a.trim().is_empty()) {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let mut config = Map::new();
    config.insert("Test".into(), json!(test));
    for ((_, field), nanos) in DURATIONS.iter().zip(durations) {
        if nanos != 0 {
            config.insert(field.to_string(), json!(nanos));
        }
    }
    if retries != 0 {
        config.insert("Retries".into(), json!(retries));
    }
    let comment = format!(
        "HEALTHCHECK &{{{} {} {}}}",
        go_quoted(&test),
        durations
            .iter()
            .map(|d| format!("\"{}\"", go_duration(*d)))
            .collect::<Vec<_>>()
            .join(" "),
        go_rune(retries)
    );
    Ok((Value::Object(config), comment))
}

fn go_quoted(items: &[String]) -> String {
    crate::config::go_quoted(items)
}

/// A duration flag: empty is zero; otherwise at least 1ms, as Docker requires.
fn interval(name: &str, value: &str) -> Result<i64, String> {
    if value.is_empty() {
        return Ok(0);
    }
    let nanos =
        parse_duration(value).ok_or_else(|| format!("time: invalid duration {:?}", value))?;
    if nanos == 0 {
        return Ok(0);
    }
    if nanos < 0 {
        return Err(format!("Interval {name:?} cannot be negative"));
    }
    if nanos < MINIMUM_NANOS {
        return Err(format!("Interval {name:?} cannot be less than 1ms"));
    }
    Ok(nanos)
}

/// Go's `time.ParseDuration`: `1h30m`, `1.5s`, `300ms`, `-2s`, `0`.
pub fn parse_duration(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let nanos = total.round() as i64;
    Some(if negative { -nanos } else { nanos })
}

/// Go's `time.Duration.String`: `0s`, `500ms`, `1.5s`, `1m30s`, `2h0m0s`.
pub fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let fraction = |value: u64, digits: u32| {
        let scale = 10u64.pow(digits);
        let (whole, part) = (value / scale, value % scale);
        if part == 0 {
            whole.to_string()
        } else {
            let part = format!("{part:0width$}", width = digits as usize);
            format!("{whole}.{}", part.trim_end_matches('0'))
        }
    };
    if n < 1_000 {
        return format!("{sign}{n}ns");
    }
    if n < 1_000_000 {
        return format!("{sign}{}µs", fraction(n, 3));
    }
    if n < 1_000_000_000 {
        return format!("{sign}{}ms", fraction(n, 6));
    }
    let (hours, rest) = (n / 3_600_000_000_000, n % 3_600_000_000_000);
    let (minutes, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
    let seconds = fraction(rest, 9);
    match (hours, minutes) {
        (0, 0) => format!("{sign}{seconds}s"),
        (0, m) => format!("{sign}{m}m{seconds}s"),
        (h, m) => format!("{sign}{h}h{m}m{seconds}s"),
    }
}

/// Go's `%q` of an integer: the character literal of that code point.
fn go_rune(value: i64) -> String {
    let named = match value {
        7 => Some("\\a"),
        8 => Some("\\b"),
        9 => Some("\\t"),
        10 => Some("\\n"),
        11 => Some("\\v"),
        12 => Some("\\f"),
        13 => Some("\\r"),
        0x27 => Some("\\'"),
        0x5c => Some("\\\\"),
        _ => None,
    };
    if let Some(named) = named {
        return format!("'{named}'");
    }
    match u32::try_from(value).ok().and_then(char::from_u32) {
        Some(c) if (' '..='~').contains(&c) => format!("'{c}'"),
        Some(_) if value < 0x80 => format!("'\\x{value:02x}'"),
        Some(c) if !c.is_control() => format!("'{c}'"),
        Some(_) if value <= 0xffff => format!("'\\u{value:04x}'"),
        Some(_) => format!("'\\U{value:08x}'"),
        None => "'�'".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(flags: &[(&str, &str)], command: CommandForm) -> Healthcheck {
        Healthcheck::Cmd {
            flags: flags
                .iter()
                .map(|(k, v)| (k.to_string(), Some(v.to_string())))
                .collect(),
            command,
        }
    }

    #[test]
    fn docker_config_and_history_text() {
        let (config, comment) = parse(&cmd(
            &[("interval", "30s"), ("timeout", "1m30s"), ("retries", "3")],
            CommandForm::Shell("wget -q localhost || exit 1".into()),
        ))
        .unwrap();
        assert_eq!(
            config,
            json!({
                "Test": ["CMD-SHELL", "wget -q localhost || exit 1"],
                "Interval": 30_000_000_000i64,
                "Timeout": 90_000_000_000i64,
                "Retries": 3,
            })
        );
        assert_eq!(
            comment,
            r#"HEALTHCHECK &{["CMD-SHELL" "wget -q localhost || exit 1"] "30s" "1m30s" "0s" "0s" '\x03'}"#
        );
        let (config, _) = parse(&cmd(&[], CommandForm::Exec(vec!["/ok".into()]))).unwrap();
        assert_eq!(config, json!({ "Test": ["CMD", "/ok"] }));
        let (config, _) = parse(&Healthcheck::None).unwrap();
        assert_eq!(config, json!({ "Test": ["NONE"] }));
    }

    #[test]
    fn bad_flags_are_refused_with_dockers_messages() {
        let shell = || CommandForm::Shell("true".into());
        assert_eq!(
            parse(&cmd(&[("interval", "10us")], shell())).unwrap_err(),
            r#"Interval "interval" cannot be less than 1ms"#
        );
        assert_eq!(
            parse(&cmd(&[("retries", "-1")], shell())).unwrap_err(),
            "--retries cannot be negative (-1)"
        );
        assert!(parse(&cmd(&[("timeout", "soon")], shell())).is_err());
        assert!(parse(&cmd(&[("color", "red")], shell())).is_err());
    }

    #[test]
    fn go_durations() {
        for (text, nanos, shown) in [
            ("0", 0, "0s"),
            ("1.5s", 1_500_000_000, "1.5s"),
            ("300ms", 300_000_000, "300ms"),
            ("2h", 7_200_000_000_000, "2h0m0s"),
            ("1m5s", 65_000_000_000, "1m5s"),
        ] {
            assert_eq!(parse_duration(text), Some(nanos), "{text}");
            assert_eq!(go_duration(nanos), shown);
        }
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(go_rune(3), "'\\x03'");
        assert_eq!(go_rune(65), "'A'");
    }
}
