//! System call errors worded as Go (and so runc) words them: "no such file or directory",
//! "permission denied". The docker CLI picks `run`'s exit code by searching for exactly these
//! lowercase texts, so a failure's message must use them.

use std::fmt;
use std::io;

#[derive(Debug)]
pub struct OsError(pub io::Error);

impl OsError {
    pub fn raw(&self) -> Option<i32> {
        self.0.raw_os_error()
    }
}

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.raw_os_error() {
            Some(code) => {
                let text = nix::errno::Errno::from_raw(code).desc();
                let mut chars = text.chars();
                match chars.next() {
                    Some(first) => write!(f, "{}{}", first.to_lowercase(), chars.as_str()),
                    None => write!(f, "errno {code}"),
                }
            }
            None => self.0.fmt(f),
        }
    }
}

impl std::error::Error for OsError {}

impl From<io::Error> for OsError {
    fn from(e: io::Error) -> Self {
        OsError(e)
    }
}

impl From<nix::errno::Errno> for OsError {
    fn from(e: nix::errno::Errno) -> Self {
        OsError(e.into())
    }
}

impl From<rustix::io::Errno> for OsError {
    fn from(e: rustix::io::Errno) -> Self {
        OsError(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_texts_are_lowercase_like_go() {
        let text = |code| OsError(io::Error::from_raw_os_error(code)).to_string();
        assert_eq!(text(libc::ENOENT), "no such file or directory");
        assert_eq!(text(libc::EACCES), "permission denied");
        assert_eq!(text(libc::ENOEXEC), "exec format error");
        assert_eq!(text(libc::EISDIR), "is a directory");
    }
}
