//! Finding the container's program and replacing the process with it.

use std::ffi::CString;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::os_error::OsError;
use crate::StartFailureKind;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The wording follows runc, whose messages the docker CLI turns into exit codes.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotInPath(String),
    #[error("exec: {program:?}: stat {program}: {source}")]
    Stat { program: String, source: OsError },
    #[error("exec: {0:?}: is a directory: permission denied")]
    IsDirectory(String),
    #[error("exec: {0:?}: permission denied")]
    NotExecutable(String),
    #[error("exec {path}: {source}")]
    Execve { path: String, source: OsError },
    #[error("the command or environment contains a NUL byte: {0:?}")]
    Nul(String),
}

impl ExecError {
    pub fn kind(&self) -> StartFailureKind {
        let by_errno = |source: &OsError| match source.raw() {
            Some(libc::ENOENT) => StartFailureKind::NotFound,
            Some(libc::EACCES | libc::EISDIR | libc::EPERM) => StartFailureKind::PermissionDenied,
            _ => StartFailureKind::Other,
        };
        match self {
            ExecError::NotInPath(_) => StartFailureKind::NotFound,
            ExecError::Stat { source, .. } | ExecError::Execve { source, .. } => by_errno(source),
            ExecError::IsDirectory(_) | ExecError::NotExecutable(_) => {
                StartFailureKind::PermissionDenied
            }
            ExecError::Nul(_) => StartFailureKind::Other,
        }
    }
}

/// The `PATH` of a container's environment, or Docker's default.
pub fn path_variable(env: &[String]) -> &str {
    env.iter()
        .rev()
        .find_map(|var| var.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
}

/// Finds `program` as Go's exec.LookPath would: a name with a slash is taken as it is,
/// any other is searched in `path` and must be an executable regular file there.
pub fn find_executable(program: &str, path: &str) -> Result<PathBuf, ExecError> {
    if program.contains('/') {
        let metadata = std::fs::metadata(program).map_err(|e| ExecError::Stat {
            program: program.into(),
            source: e.into(),
        })?;
        if metadata.is_dir() {
            return Err(ExecError::IsDirectory(program.into()));
        }
        if metadata.permissions().mode() & 0o111 == 0 {
            return Err(ExecError::NotExecutable(program.into()));
        }
        return Ok(PathBuf::from(program));
    }
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(program);
        if let Ok(metadata) = std::fs::metadata(&candidate) {
            if metadata.is_file() && metadata.permissions().mode() & 0o111 != 0 {
                return Ok(candidate);
            }
        }
    }
    Err(ExecError::NotInPath(program.into()))
}

/// The arguments and environment, converted before the last steps so that execve itself is
/// the only thing left that can fail. It holds every allocation execve reads (the pointer
/// arrays too), so that a vfork child can leave all of it to the supervisor to free.
pub struct PreparedExec {
    path: CString,
    shown_path: String,
    _args: Vec<CString>,
    _env: Vec<CString>,
    /// NULL-terminated pointers into `_args` and `_env`, whose heap buffers never move.
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

impl PreparedExec {
    pub fn new(path: &Path, args: &[String], env: &[String]) -> Result<PreparedExec, ExecError> {
        let c = |text: &str| CString::new(text).map_err(|_| ExecError::Nul(text.into()));
        let shown_path = path.display().to_string();
        let args: Vec<CString> = args.iter().map(|a| c(a)).collect::<Result<_, _>>()?;
        let env: Vec<CString> = env.iter().map(|e| c(e)).collect::<Result<_, _>>()?;
        let pointers = |list: &[CString]| {
            list.iter()
                .map(|s| s.as_ptr())
                .chain([std::ptr::null()])
                .collect()
        };
        Ok(PreparedExec {
            path: c(&shown_path)?,
            shown_path,
            argv: pointers(&args),
            envp: pointers(&env),
            _args: args,
            _env: env,
        })
    }

    /// Replaces the process; returns only on failure.
    pub fn exec(&self) -> ExecError {
        // SAFETY: every pointer points into a CString this value owns, and both arrays end
        // with NULL.
        unsafe { libc::execve(self.path.as_ptr(), self.argv.as_ptr(), self.envp.as_ptr()) };
        ExecError::Execve {
            path: self.shown_path.clone(),
            source: io::Error::last_os_error().into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn lookup_follows_path_and_classifies_failures() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let tool = bin.join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = bin.join("data");
        std::fs::write(&data, "").unwrap();
        let path = format!("/nonexistent:{}", bin.display());

        assert_eq!(find_executable("tool", &path).unwrap(), tool);
        let missing = find_executable("nosuch", &path).unwrap_err();
        assert_eq!(
            missing.to_string(),
            r#"exec: "nosuch": executable file not found in $PATH"#
        );
        assert_eq!(missing.kind(), StartFailureKind::NotFound);
        // A non-executable file in PATH is skipped, as Go does.
        assert_eq!(
            find_executable("data", &path).unwrap_err().kind(),
            StartFailureKind::NotFound
        );

        let absent = find_executable("/nosuch", &path).unwrap_err();
        assert_eq!(
            absent.to_string(),
            r#"exec: "/nosuch": stat /nosuch: no such file or directory"#
        );
        assert_eq!(absent.kind(), StartFailureKind::NotFound);

        let not_executable = find_executable(data.to_str().unwrap(), &path).unwrap_err();
        assert!(not_executable.to_string().contains("permission denied"));
        assert_eq!(not_executable.kind(), StartFailureKind::PermissionDenied);

        let directory = find_executable(bin.to_str().unwrap(), &path).unwrap_err();
        assert!(directory
            .to_string()
            .ends_with("is a directory: permission denied"));
        assert_eq!(directory.kind(), StartFailureKind::PermissionDenied);
    }

    #[test]
    fn path_comes_from_the_environment_or_dockers_default() {
        assert_eq!(path_variable(&["A=1".into(), "PATH=/x:/y".into()]), "/x:/y");
        assert_eq!(path_variable(&["A=1".into()]), DEFAULT_PATH);
    }
}
