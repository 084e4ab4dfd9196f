//! Signal names as Docker accepts them: `SIGKILL`, `KILL`, `kill` or `9`.

use std::str::FromStr;

use nix::sys::signal::Signal;

use super::error::Error;

pub fn parse(text: &str) -> Result<i32, Error> {
    let invalid = || Error::invalid(format!("Invalid signal: {text}"));
    if let Ok(number) = text.parse::<i32>() {
        return if (1..=64).contains(&number) {
            Ok(number)
        } else {
            Err(invalid())
        };
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name)
        .map(|s| s as i32)
        .map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_signal_spellings() {
        assert_eq!(parse("SIGKILL").unwrap(), 9);
        assert_eq!(parse("kill").unwrap(), 9);
        assert_eq!(parse("TERM").unwrap(), 15);
        assert_eq!(parse("10").unwrap(), 10);
        assert!(parse("SIGNOPE").is_err());
        assert!(parse("0").is_err());
        assert!(parse("99").is_err());
    }
}
