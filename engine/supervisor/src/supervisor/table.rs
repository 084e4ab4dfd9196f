//! The supervisor's memory: every container it parents, running or exited and not yet
//! released, with the descriptors it keeps for the daemon, and the processes exec'd into
//! running containers.

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
    kept: KeptDescriptors,
    exit: Option<ExitRecord>,
}

/// What the supervisor holds for the daemon of one container.
#[derive(Debug, Default)]
pub(crate) struct KeptDescriptors {
    /// The daemon's ends of the container's output, in the order it gave them.
    pub kept: Vec<OwnedFd>,
    /// A writer of the container's stdin, until the daemon closes stdin.
    pub stdin_writer: Option<OwnedFd>,
    /// The master of the container's terminal.
    pub terminal: Option<OwnedFd>,
}

/// Whose exit a reaped PID is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Exited<'a> {
    Container { id: &'a str, state_dir: &'a Path },
    Exec { id: String, container: String },
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
    /// Running execs by PID: (exec ID, container ID).
    execs: HashMap<i32, (String, String)>,
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

    pub fn insert(&mut self, id: String, pid: i32, state_dir: PathBuf, kept: KeptDescriptors) {
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

    pub fn check_new_exec(&self, id: &str) -> Result<(), Refusal> {
        if self.execs.values().any(|(exec, _)| exec == id) {
            return Err(Refusal::DuplicateExec { id: id.to_owned() });
        }
        Ok(())
    }

    pub fn insert_exec(&mut self, id: String, container: String, pid: i32) {
        self.execs.insert(pid, (id, container));
    }

    /// Records that `pid` ended; returns whose exit it was, or `None` for a process that was
    /// neither a container's nor an exec's (a stray the subreaper inherited).
    pub fn record_exit(&mut self, pid: i32, exit: ExitRecord) -> Option<Exited<'_>> {
        if let Some((id, container)) = self.execs.remove(&pid) {
            return Some(Exited::Exec { id, container });
        }
        let id = self.running.remove(&pid)?;
        self.containers.get_mut(&id)?.exit = Some(exit);
        let (id, entry) = self.containers.get_key_value(&id)?;
        Some(Exited::Container {
            id: id.as_str(),
            state_dir: entry.state_dir.as_path(),
        })
    }

    /// Closes the writer of container `id`'s stdin (which it may not have, or no longer).
    pub fn close_stdin(&mut self, id: &str) -> Result<(), Refusal> {
        self.containers
            .get_mut(id)
            .ok_or_else(|| Refusal::UnknownContainer { id: id.to_owned() })?
            .kept
            .stdin_writer = None;
        Ok(())
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

    /// Every container, with copies of its kept descriptors in the order the daemon gave them,
    /// then its stdin writer and terminal master when it has them.
    pub fn list(&self) -> io::Result<(Vec<ListedContainer>, Vec<OwnedFd>)> {
        let mut listed = Vec::with_capacity(self.containers.len());
        let mut fds = Vec::new();
        for (id, entry) in &self.containers {
            let kept = &entry.kept;
            for fd in kept
                .kept
                .iter()
                .chain(&kept.stdin_writer)
                .chain(&kept.terminal)
            {
                fds.push(fd.try_clone()?);
            }
            listed.push(ListedContainer {
                id: id.clone(),
                pid: entry.pid,
                state_dir: entry.state_dir.clone(),
                exit: entry.exit.clone(),
                kept: kept.kept.len(),
                stdin_writer: kept.stdin_writer.is_some(),
                terminal: kept.terminal.is_some(),
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
        let kept = KeptDescriptors {
            kept: vec![pipe_end()],
            stdin_writer: Some(pipe_end()),
            terminal: None,
        };
        table.insert("a".into(), 100, "/state/a".into(), kept);
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
        assert_eq!(
            table.record_exit(100, exit.clone()),
            Some(Exited::Container {
                id: "a",
                state_dir: Path::new("/state/a")
            })
        );
        assert_eq!(table.target("a"), Ok(Target::Exited));

        let (listed, fds) = table.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].pid, listed[0].kept), (100, 1));
        assert!(listed[0].stdin_writer && !listed[0].terminal);
        assert_eq!(listed[0].exit, Some(exit));
        assert_eq!(fds.len(), 2);

        table.close_stdin("a").unwrap();
        assert!(!table.list().unwrap().0[0].stdin_writer);

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
        table.insert(
            "a".into(),
            100,
            "/state/a".into(),
            KeptDescriptors::default(),
        );
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

    #[test]
    fn an_exec_exit_names_the_exec_and_its_container_once() {
        let mut table = Table::default();
        table.insert(
            "a".into(),
            100,
            "/state/a".into(),
            KeptDescriptors::default(),
        );
        table.insert_exec("e1".into(), "a".into(), 300);
        assert_eq!(
            table.check_new_exec("e1"),
            Err(Refusal::DuplicateExec { id: "e1".into() })
        );
        assert_eq!(
            table.record_exit(300, ExitRecord::exited(2, Utc::now())),
            Some(Exited::Exec {
                id: "e1".into(),
                container: "a".into()
            })
        );
        assert!(table
            .record_exit(300, ExitRecord::exited(2, Utc::now()))
            .is_none());
        assert_eq!(table.target("a"), Ok(Target::Running(100)));
        assert!(table.check_new_exec("e1").is_ok());
    }
}
