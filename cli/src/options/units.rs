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
}
