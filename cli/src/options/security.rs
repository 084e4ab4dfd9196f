//! `--security-opt` and `--cap-add`/`--cap-drop` values.

use super::OptionsError;

type SecurityOpts = (Vec<String>, Option<Vec<String>>, Option<Vec<String>>);

/// Validates `--security-opt`; a seccomp profile given as a file is sent by
/// content, and `systempaths=unconfined` becomes empty masked and read-only
/// path lists instead of being sent.
pub(super) fn parse_security_opts(opts: &[String]) -> Result<SecurityOpts, OptionsError> {
    let mut kept = Vec::new();
    let mut unconfined_paths = false;
    for opt in opts {
        if opt == "systempaths=unconfined" {
            unconfined_paths = true;
            continue;
        }
        if opt == "no-new-privileges" {
            kept.push(opt.clone());
            continue;
        }
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .filter(|(_, v)| !v.is_empty())
            .ok_or_else(|| OptionsError::SecurityOpt(opt.clone()))?;
        if key == "seccomp" && value != "unconfined" && value != "builtin" {
            let profile = std::fs::read(value).map_err(|e| OptionsError::Seccomp {
                path: value.to_owned(),
                reason: e.to_string(),
            })?;
            let parsed: serde_json::Value =
                serde_json::from_slice(&profile).map_err(|e| OptionsError::Seccomp {
                    path: value.to_owned(),
                    reason: format!("not valid JSON: {e}"),
                })?;
            kept.push(format!("seccomp={parsed}"));
            continue;
        }
        kept.push(opt.clone());
    }
    let paths = unconfined_paths.then(Vec::new);
    Ok((kept, paths.clone(), paths))
}

/// `sys_admin` → `CAP_SYS_ADMIN`; `ALL` stays `ALL`.
pub(super) fn normalize_capability(cap: &str) -> String {
    let upper = cap.to_uppercase();
    if upper == "ALL" || upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}
