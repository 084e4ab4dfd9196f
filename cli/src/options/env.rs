//! `-e`/`--env-file` and `--label-file`: docker's rules for KEY=VALUE lines.

use std::path::Path;

use super::{EnvLookup, OptionsError};

/// `KEY=VALUE` passes as is; a bare `KEY` takes its value from this
/// environment, or is passed bare (unset in the container) when absent.
pub fn validate_env(
    entry: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, OptionsError> {
    let (key, has_value) = match entry.split_once('=') {
        Some((k, _)) => (k, true),
        None => (entry, false),
    };
    if key.is_empty() {
        return Err(OptionsError::Env(entry.to_owned()));
    }
    if has_value {
        return Ok(entry.to_owned());
    }
    Ok(match lookup(key) {
        Some(value) => format!("{key}={value}"),
        None => entry.to_owned(),
    })
}

/// Reads a line-delimited KEY=VALUE file (blank lines and `#` comments are
/// skipped). For env files a bare KEY is looked up in this environment and
/// dropped when unset.
pub fn read_kv_file(
    path: &Path,
    flag: &'static str,
    lookup: Option<EnvLookup<'_>>,
) -> Result<Vec<String>, OptionsError> {
    let file_error = |reason: String| OptionsError::File {
        flag,
        path: path.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| file_error(e.to_string()))?;
    let text =
        String::from_utf8(bytes).map_err(|_| file_error("contains invalid utf8 bytes".into()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut lines = Vec::new();
    for (number, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim_start(), Some(v)),
            None => (line, None),
        };
        if key.contains(char::is_whitespace) {
            return Err(file_error(format!(
                "line {}: variable '{key}' contains whitespaces",
                number + 1
            )));
        }
        match (value, lookup) {
            (Some(v), _) => lines.push(format!("{key}={v}")),
            (None, Some(lookup)) => {
                if let Some(v) = lookup(key) {
                    lines.push(format!("{key}={v}"));
                }
            }
            (None, None) => lines.push(key.to_owned()),
        }
    }
    Ok(lines)
}
