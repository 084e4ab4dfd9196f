//! Sizes and CPU counts in docker's spellings.

/// Memory sizes in binary units: `512`, `64k`, `1.5g`, `100MiB`, `2 GB`.
pub fn parse_ram(value: &str) -> Result<i64, String> {
    let invalid = || format!("invalid size: '{value}'");
    let number_end = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, suffix) = value.split_at(number_end);
    if number.is_empty() || !number.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(invalid());
    }
    let number: f64 = number.parse().map_err(|_| invalid())?;
    let suffix = suffix.strip_prefix(' ').unwrap_or(suffix).to_lowercase();
    let mut rest = suffix.as_str();
    let multiplier: f64 = match rest.chars().next() {
        Some(unit @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            rest = &rest[1..];
            let power = "kmgtp".find(unit).expect("unit is one of kmgtp") as i32 + 1;
            1024f64.powi(power)
        }
        _ => 1.0,
    };
    let rest = rest.strip_prefix('i').unwrap_or(rest);
    let rest = rest.strip_prefix('b').unwrap_or(rest);
    if !rest.is_empty() {
        return Err(invalid());
    }
    Ok((number * multiplier) as i64)
}

/// `--memory-swap`: a size, or -1 for unlimited swap.
pub fn parse_memory_swap(value: &str) -> Result<i64, String> {
    if value == "-1" {
        return Ok(-1);
    }
    parse_ram(value)
}

/// `--cpus 1.5` → 1500000000 nano-CPUs, exactly (no float rounding).
pub fn parse_cpus(value: &str) -> Result<i64, String> {
    let invalid = || format!("failed to parse {value} as a rational number");
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if (whole.is_empty() && fraction.is_empty())
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
    {
        return Err(invalid());
    }
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > 9 {
        return Err("value is too precise".to_owned());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| invalid())?
    };
    let fraction_nanos: i64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().map_err(|_| invalid())?
    };
    let nanos = whole
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(fraction_nanos))
        .ok_or_else(invalid)?;
    Ok(if negative { -nanos } else { nanos })
}

/// Go's `time.ParseDuration`, in nanoseconds, with its error messages: `300ms`, `-1.5h`,
/// `2h45m`. Exact (integer arithmetic, fractions truncated as Go does), so `0.3s` is
/// 300000000 and not one less.
pub fn parse_duration(value: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration \"{value}\"");
    let (negative, mut rest) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let whole_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (whole, after) = rest.split_at(whole_len);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(after) => {
                let len = after
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(after.len());
                after.split_at(len)
            }
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid());
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let scale: i128 = match unit {
            "" => return Err(format!("time: missing unit in duration \"{value}\"")),
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit \"{unit}\" in duration \"{value}\""
                ))
            }
        };
        // More digits than an i64 holds cannot be a duration; Go says so too.
        if whole.len() > 19 {
            return Err(invalid());
        }
        let whole: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| invalid())?
        };
        let mut part = whole * scale;
        // Go keeps at most the fraction digits that still matter for nanoseconds.
        let mut divisor: i128 = 1;
        let mut numerator: i128 = 0;
        for digit in fraction.bytes().take(18) {
            numerator = numerator * 10 + i128::from(digit - b'0');
            divisor *= 10;
        }
        part += numerator * scale / divisor;
        total += part;
        if total > i128::from(i64::MAX) {
            return Err(invalid());
        }
        rest = after;
    }
    let total = i64::try_from(total).map_err(|_| invalid())?;
    Ok(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_ram("512"), Ok(512));
        assert_eq!(parse_ram("64k"), Ok(65536));
        assert_eq!(parse_ram("64KB"), Ok(65536));
        assert_eq!(parse_ram("100MiB"), Ok(100 * 1024 * 1024));
        assert_eq!(parse_ram("1.5g"), Ok(1610612736));
        assert_eq!(parse_ram("2 GB"), Ok(2 * 1024 * 1024 * 1024));
        assert!(parse_ram("").is_err());
        assert!(parse_ram("g").is_err());
        assert!(parse_ram("12x").is_err());
        assert_eq!(parse_cpus("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_cpus("0.000000001"), Ok(1));
        assert_eq!(parse_cpus(".5"), Ok(500_000_000));
        assert_eq!(parse_cpus("2"), Ok(2_000_000_000));
        assert_eq!(
            parse_cpus("0.0000000001"),
            Err("value is too precise".into())
        );
        assert!(parse_cpus("abc").is_err());
        assert!(parse_cpus(".").is_err());
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("300ms"), Ok(300_000_000));
        assert_eq!(parse_duration("0.3s"), Ok(300_000_000));
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration(".5m"), Ok(30_000_000_000));
        assert_eq!(parse_duration("2h45m"), Ok(9_900_000_000_000));
        assert_eq!(parse_duration("-1s"), Ok(-1_000_000_000));
        assert_eq!(parse_duration("1us"), Ok(1_000));
        assert_eq!(parse_duration("1µs"), Ok(1_000));
        assert_eq!(
            parse_duration("5"),
            Err("time: missing unit in duration \"5\"".into())
        );
        assert_eq!(
            parse_duration("1x"),
            Err("time: unknown unit \"x\" in duration \"1x\"".into())
        );
        assert_eq!(
            parse_duration(""),
            Err("time: invalid duration \"\"".into())
        );
        assert_eq!(
            parse_duration("s"),
            Err("time: invalid duration \"s\"".into())
        );
        assert!(
            parse_duration("3000000h").is_err(),
            "beyond an i64 of nanoseconds"
        );
    }
}
