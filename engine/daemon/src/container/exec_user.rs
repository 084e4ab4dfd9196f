//! An exec's user (`-u`), resolved as Docker's daemon does before it asks the runtime to start
//! anything: against the container's own /etc/passwd and /etc/group. A name the files do not
//! know fails the start with the lookup's own message, not a runtime's, and exec exit code 126.
//! The runtime resolves the user again inside the container, from the same files.

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use berth_runtime::{resolve_user, UserError};
use rustix::fs::{Mode, OFlags, ResolveFlags};

#[derive(Debug, thiserror::Error)]
pub enum ExecUserError {
    #[error(transparent)]
    Unknown(#[from] UserError),
    #[error("reading {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
}

/// Checks that `spec` names a user (and group) of the container whose init is `pid`.
pub fn check(pid: i32, spec: &str) -> Result<(), ExecUserError> {
    let root_path = PathBuf::from(format!("/proc/{pid}/root"));
    let root = rustix::fs::open(
        &root_path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| ExecUserError::Read {
        path: root_path.clone(),
        source: errno.into(),
    })?;
    let passwd = read_in_root(&root, &root_path, "etc/passwd")?;
    let group = read_in_root(&root, &root_path, "etc/group")?;
    resolve_user(spec, passwd.as_deref(), group.as_deref())?;
    Ok(())
}

/// The file at `relative` as the container sees it (symbolic links resolved inside its root,
/// never out of it); `None` when the image has none.
fn read_in_root(
    root: &OwnedFd,
    root_path: &std::path::Path,
    relative: &str,
) -> Result<Option<String>, ExecUserError> {
    let path = root_path.join(relative);
    let fail = |source: io::Error| ExecUserError::Read {
        path: path.clone(),
        source,
    };
    let opened = rustix::fs::openat2(
        root,
        relative,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    );
    let fd = match opened {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(errno) => return Err(fail(errno.into())),
    };
    let mut text = String::new();
    std::fs::File::from(fd)
        .read_to_string(&mut text)
        .map_err(fail)?;
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_in_the_root_of_the_given_process() {
        // This test's own root: root exists everywhere, this name nowhere.
        let pid = std::process::id() as i32;
        check(pid, "root").unwrap();
        check(pid, "0:0").unwrap();
        let err = check(pid, "berth-no-such-user").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find user berth-no-such-user: no matching entries in passwd file"
        );
        assert!(matches!(
            check(pid, "root:berth-no-such-group"),
            Err(ExecUserError::Unknown(UserError::UnknownGroup(_)))
        ));
    }
}
