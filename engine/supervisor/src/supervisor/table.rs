//! The supervisor's memory: every container it parents, running or exited and not yet
//! released, with the descriptors it keeps for the daemon.

use std::collections::HashMap;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::exit::ExitRecord;
use crate::protocol::{ListedContainer, Refusal};

#[derive(Debug)]
struct Entry {
    pid: i32,
    state_dir: PathBuf,
    kept: Vec<OwnedFd>,
    exit: Option<ExitRecord>,
}

/// What a signal request finds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// Not reaped yet, so the PID still names this container's process (a zombie at worst).
    Running(i32),
    Exited,
}

#[derive(Debug, Default)]
pub(crate) struct Table {
    containers: HashMap<String, Entry>,
    /// Only running containers: a reaped PID may already belong to someone else.
    running: HashMap<i32, String>,
}

impl Table {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty()
    }

    pub fn check_new(&self, id: &str) -> Result<(), Refusal> {
        if self.containers.contains_key(id) {
            return Err(Refusal::DuplicateContainer { id: id.to_owned() });
        }
        Ok(())
    }

    pub fn insert(&mut self, id: String, pid: i32, state_dir: PathBuf, kept: Vec<OwnedFd>) {
        self.running.insert(pid, id.clone());
        self.containers.insert(
            id,
            Entry {
                pid,
                state_dir,
                kept,
                exit: None,
            },
        );
    }

    /// Records that `pid` ended; returns the container it was, or `None` for a process that was
    /// not a container's (a stray the subreaper inherited).
    pub fn record_exit(&mut self, pid: i32, exit: ExitRecord) -> Option<(&str, &Path)> {
        let id = self.running.remove(&pid)?;
        self.containers.get_mut(&id)?.exit = Some(exit);
        let (id, entry) = self.containers.get_key_value(&id)?;
        Some((id.as_str(), entry.state_dir.as_path()))
    }

    pub fn target(&self, id: &str) -> Result<Target, Refusal> {
        let entry = self.get(id)?;
        Ok(match entry.exit {
            None => Target::Running(entry.pid),
            Some(_) => Target::Exited,
        })
    }

    /// Forgets an exited container and closes the descriptors kept for it.
    pub fn release(&mut self, id: &str) -> Result<(), Refusal> {
        if self.get(id)?.exit.is_none() {
            return Err(Refusal::StillRunning { id: id.to_owned() });
        }
        self.containers.remove(id);
        Ok(())
    }

    /// Every container, with copies of its kept descriptors in the order the daemon gave them.
    pub fn list(&self) -> io::Result<(Vec<ListedContainer>, Vec<OwnedFd>)> {
        let mut listed = Vec::with_capacity(self.containers.len());
        let mut fds = Vec::new();
        for (id, entry) in &self.containers {
            for fd in &entry.kept {
                fds.push(fd.try_clone()?);
            }
            listed.push(ListedContainer {
                id: id.clone(),
                pid: entry.pid,
                state_dir: entry.state_dir.clone(),
                exit: entry.exit.clone(),
                kept: entry.kept.len(),
            });
        }
        Ok((listed, fds))
    }

    fn get(&self, id: &str) -> Result<&Entry, Refusal> {
        self.containers
            .get(id)
            .ok_or_else(|| Refusal::UnknownContainer { id: id.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn pipe_end() -> OwnedFd {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .unwrap()
            .0
    }

    #[test]
    fn a_container_goes_from_running_to_exited_to_released() {
        let mut table = Table::default();
        table.insert("a".into(), 100, "/state/a".into(), vec![pipe_end()]);
        assert_eq!(table.target("a"), Ok(Target::Running(100)));
        assert_eq!(
            table.release("a"),
            Err(Refusal::StillRunning { id: "a".into() })
        );
        assert_eq!(
            table.check_new("a"),
            Err(Refusal::DuplicateContainer { id: "a".into() })
        );

        let exit = ExitRecord::exited(3, Utc::now());
        let (id, state_dir) = table.record_exit(100, exit.clone()).unwrap();
        assert_eq!((id, state_dir), ("a", Path::new("/state/a")));
        assert_eq!(table.target("a"), Ok(Target::Exited));

        let (listed, fds) = table.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].pid, listed[0].kept), (100, 1));
        assert_eq!(listed[0].exit, Some(exit));
        assert_eq!(fds.len(), 1);

        table.release("a").unwrap();
        assert!(table.is_empty());
        assert_eq!(
            table.target("a"),
            Err(Refusal::UnknownContainer { id: "a".into() })
        );
    }

    #[test]
    fn a_stray_or_an_already_reaped_pid_is_no_container() {
        let mut table = Table::default();
        table.insert("a".into(), 100, "/state/a".into(), Vec::new());
        assert!(table
            .record_exit(200, ExitRecord::exited(0, Utc::now()))
            .is_none());
        assert!(table
            .record_exit(100, ExitRecord::exited(0, Utc::now()))
            .is_some());
        assert!(table
            .record_exit(100, ExitRecord::exited(1, Utc::now()))
            .is_none());
        assert_eq!(
            table.list().unwrap().0[0].exit.as_ref().unwrap().exit_code,
            0
        );
    }
}
