//! `top` with Docker's default columns, `ps -ef`'s UID PID PPID C STIME TTY TIME CMD, read
//! straight from /proc: starting `ps` costs several times more than the rest of the request.
//! Values are formatted as procps 4 formats them under `LC_ALL=C`, which is how berth runs
//! `ps` for any other options, so both paths print the same rows.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bollard_stubs::models::ContainerTopResponse;

pub const TITLES: [&str; 8] = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];

/// procps prints a user name only up to this width; longer names are cut and end in `+`.
const USER_WIDTH: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ProcTopError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("unexpected contents of {path}: {reason}")]
    Parse { path: PathBuf, reason: &'static str },
}

/// Where process and user information is read: the host's /proc and /etc/passwd, or a
/// copy laid out the same way.
pub struct HostFiles {
    pub proc: PathBuf,
    pub passwd: PathBuf,
}

impl HostFiles {
    pub fn host() -> Self {
        HostFiles {
            proc: PathBuf::from("/proc"),
            passwd: PathBuf::from("/etc/passwd"),
        }
    }
}

/// The fields of `/proc/PID/stat` that `ps -ef` shows.
#[derive(Debug, PartialEq, Eq)]
pub struct Stat {
    pub comm: String,
    pub state: char,
    pub ppid: i32,
    pub tty: u64,
    /// User plus system time, in clock ticks.
    pub cpu_ticks: u64,
    /// Since boot, in clock ticks.
    pub start_ticks: u64,
}

/// The moment the listing is made, against which start times and CPU shares are shown.
pub struct Clock {
    pub now: i64,
    pub uptime: f64,
    pub ticks_per_second: u64,
}

impl Clock {
    pub fn read(proc: &Path) -> Result<Self, ProcTopError> {
        let path = proc.join("uptime");
        let text = read_text(&path)?;
        let uptime = text
            .split_whitespace()
            .next()
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or(ProcTopError::Parse {
                path,
                reason: "no uptime in seconds",
            })?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Ok(Clock {
            now,
            uptime,
            ticks_per_second: u64::try_from(ticks).unwrap_or(100).max(1),
        })
    }

    fn seconds_alive(&self, start_ticks: u64) -> u64 {
        let alive = self.uptime - start_ticks as f64 / self.ticks_per_second as f64;
        alive.max(0.0) as u64
    }

    fn started_at(&self, start_ticks: u64) -> i64 {
        let boot = self.now - self.uptime as i64;
        boot + (start_ticks / self.ticks_per_second) as i64
    }
}

/// Lists `pids` in ascending order as `ps -ef` would. A process that ends while it is
/// being read is left out, as `ps` leaves it out.
pub fn list(files: &HostFiles, pids: &[i32]) -> Result<ContainerTopResponse, ProcTopError> {
    let clock = Clock::read(&files.proc)?;
    let users = read_users(&files.passwd)?;
    let now = local_time(clock.now);
    let mut pids = pids.to_vec();
    pids.sort_unstable();
    let mut processes = Vec::with_capacity(pids.len());
    for pid in pids {
        let Some(process) = read_process(&files.proc, pid)? else {
            continue;
        };
        processes.push(row(pid, &process, &clock, &now, &users));
    }
    Ok(ContainerTopResponse {
        titles: Some(TITLES.iter().map(|t| t.to_string()).collect()),
        processes: Some(processes),
    })
}

struct Process {
    stat: Stat,
    euid: u32,
    cmdline: Vec<u8>,
}

fn read_process(proc: &Path, pid: i32) -> Result<Option<Process>, ProcTopError> {
    let dir = proc.join(pid.to_string());
    let stat_path = dir.join("stat");
    let Some(stat_text) = read_if_alive(&stat_path)? else {
        return Ok(None);
    };
    let stat = parse_stat(&String::from_utf8_lossy(&stat_text)).ok_or(ProcTopError::Parse {
        path: stat_path,
        reason: "not the fields of a process's stat",
    })?;
    let status_path = dir.join("status");
    let Some(status) = read_if_alive(&status_path)? else {
        return Ok(None);
    };
    let euid = effective_uid(&String::from_utf8_lossy(&status)).ok_or(ProcTopError::Parse {
        path: status_path,
        reason: "no Uid line",
    })?;
    let Some(cmdline) = read_if_alive(&dir.join("cmdline"))? else {
        return Ok(None);
    };
    Ok(Some(Process {
        stat,
        euid,
        cmdline,
    }))
}

fn row(
    pid: i32,
    process: &Process,
    clock: &Clock,
    now: &LocalTime,
    users: &HashMap<u32, String>,
) -> Vec<String> {
    let stat = &process.stat;
    vec![
        user_column(users.get(&process.euid).map(String::as_str), process.euid),
        pid.to_string(),
        stat.ppid.to_string(),
        cpu_share(
            stat.cpu_ticks,
            clock.ticks_per_second,
            clock.seconds_alive(stat.start_ticks),
        )
        .to_string(),
        start_column(&local_time(clock.started_at(stat.start_ticks)), now),
        tty_column(stat.tty),
        cpu_time_column(stat.cpu_ticks / clock.ticks_per_second),
        command_column(&process.cmdline, &stat.comm, stat.state == 'Z'),
    ]
}

/// Reads a file of a process; `None` when the process has gone (its directory vanished,
/// or the kernel answers ESRCH for a process being reaped).
fn read_if_alive(path: &Path) -> Result<Option<Vec<u8>>, ProcTopError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err)
            if err.kind() == io::ErrorKind::NotFound || err.raw_os_error() == Some(libc::ESRCH) =>
        {
            Ok(None)
        }
        Err(source) => Err(ProcTopError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn read_text(path: &Path) -> Result<String, ProcTopError> {
    std::fs::read_to_string(path).map_err(|source| ProcTopError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The host's users by UID; a missing /etc/passwd leaves every UID numeric.
fn read_users(passwd: &Path) -> Result<HashMap<u32, String>, ProcTopError> {
    match std::fs::read(passwd) {
        Ok(bytes) => Ok(parse_passwd(&String::from_utf8_lossy(&bytes))),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(HashMap::new()),
        Err(source) => Err(ProcTopError::Read {
            path: passwd.to_path_buf(),
            source,
        }),
    }
}

/// The first entry for a UID wins, as with getpwuid.
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    let mut users = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(uid)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if let Ok(uid) = uid.parse::<u32>() {
            users.entry(uid).or_insert_with(|| name.to_string());
        }
    }
    users
}

/// `comm` is between the first `(` and the last `)`: it may itself hold parentheses.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let number = |i: usize| rest.get(i).and_then(|s| s.parse::<u64>().ok());
    Some(Stat {
        comm,
        state: rest.first()?.chars().next()?,
        ppid: rest.get(1)?.parse().ok()?,
        tty: number(4)?,
        cpu_ticks: number(11)? + number(12)?,
        start_ticks: number(19)?,
    })
}

/// `Uid:` lists the real, effective, saved and filesystem UIDs; `ps -f` shows the
/// effective one.
pub fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn user_column(name: Option<&str>, uid: u32) -> String {
    match name {
        Some(name) if name.chars().count() <= USER_WIDTH => name.to_string(),
        Some(name) => {
            let mut cut: String = name.chars().take(USER_WIDTH - 1).collect();
            cut.push('+');
            cut
        }
        None => uid.to_string(),
    }
}

/// CPU time over the time alive, in whole percent, at most 99.
pub fn cpu_share(cpu_ticks: u64, ticks_per_second: u64, seconds_alive: u64) -> u64 {
    if seconds_alive == 0 {
        return 0;
    }
    (cpu_ticks * 100 / ticks_per_second / seconds_alive).min(99)
}

/// The parts of a local time that STIME shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    pub day_of_year: i32,
    pub month: usize,
    pub day_of_month: i32,
    pub hour: i32,
    pub minute: i32,
}

fn local_time(unix_seconds: i64) -> LocalTime {
    let seconds: libc::time_t = unix_seconds;
    // SAFETY: tm is plain data that localtime_r fills; both pointers are valid for the call.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&seconds, &mut tm);
        tm
    };
    LocalTime {
        year: tm.tm_year + 1900,
        day_of_year: tm.tm_yday,
        month: tm.tm_mon.clamp(0, 11) as usize,
        day_of_month: tm.tm_mday,
        hour: tm.tm_hour,
        minute: tm.tm_min,
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `HH:MM` for a start today, `MonDD` earlier this year, the year before that.
pub fn start_column(start: &LocalTime, now: &LocalTime) -> String {
    if start.year != now.year {
        start.year.to_string()
    } else if start.day_of_year != now.day_of_year {
        format!("{}{:02}", MONTHS[start.month], start.day_of_month)
    } else {
        format!("{:02}:{:02}", start.hour, start.minute)
    }
}

/// Terminals by device number: pseudo-terminals (majors 136–143), virtual consoles and
/// serial ports (major 4), `?` for none. Other devices are not terminals a container is
/// given, and are shown as `?` too.
pub fn tty_column(tty: u64) -> String {
    let major = ((tty >> 8) & 0xfff) as u32;
    let minor = ((tty & 0xff) | ((tty >> 12) & 0xfff00)) as u32;
    match major {
        0 => "?".to_string(),
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        5 if minor == 1 => "console".to_string(),
        _ => "?".to_string(),
    }
}

/// `[DD-]HH:MM:SS`.
pub fn cpu_time_column(seconds: u64) -> String {
    let days = seconds / 86_400;
    let clock = format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60
    );
    if days > 0 {
        format!("{days}-{clock}")
    } else {
        clock
    }
}

/// The arguments joined by spaces; `[comm]` when there are none (a kernel thread, or a
/// process that cleared them), followed by `<defunct>` for a zombie. As `ps` does in the C
/// locale, control characters show as `.` and bytes outside ASCII as `?`.
pub fn command_column(cmdline: &[u8], comm: &str, zombie: bool) -> String {
    let args = cmdline.strip_suffix(b"\0").unwrap_or(cmdline);
    if args.is_empty() || zombie {
        let mut shown = format!("[{}]", printable(comm.as_bytes(), false));
        if zombie {
            shown.push_str(" <defunct>");
        }
        return shown;
    }
    printable(args, true)
}

fn printable(bytes: &[u8], nul_is_space: bool) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0 if nul_is_space => ' ',
            0x20..=0x7e => b as char,
            0x80..=0xff => '?',
            _ => '.',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_around_a_comm_with_parentheses_and_spaces() {
        let text = "4242 (my (odd) cmd) S 4200 4242 4242 34817 4242 4194560 120 0 0 0 \
                    250 130 0 0 20 0 1 0 987654 2449408 200 18446744073709551615";
        let stat = parse_stat(text).unwrap();
        assert_eq!(
            stat,
            Stat {
                comm: "my (odd) cmd".into(),
                state: 'S',
                ppid: 4200,
                tty: 34817,
                cpu_ticks: 380,
                start_ticks: 987654,
            }
        );
        assert!(parse_stat("4242 (cut").is_none());
        assert!(parse_stat("4242 (x) S 1 2").is_none());
    }

    #[test]
    fn the_effective_uid_is_the_second_of_four() {
        let status =
            "Name:\tsleep\nUmask:\t0022\nUid:\t1000\t65534\t1000\t1000\nGid:\t0\t0\t0\t0\n";
        assert_eq!(effective_uid(status), Some(65534));
        assert_eq!(effective_uid("Name:\tx\n"), None);
    }

    #[test]
    fn users_longer_than_eight_are_cut_with_a_plus_and_unknown_ones_are_numbers() {
        let users = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\n\
             systemd-timesync:x:997:997::/:/usr/sbin/nologin\n\
             eightchr:x:1000:1000::/home:/bin/sh\n\
             again:x:0:0::/:/bin/sh\n\
             broken line\n",
        );
        let shown = |uid: u32| user_column(users.get(&uid).map(String::as_str), uid);
        assert_eq!(shown(0), "root");
        assert_eq!(shown(997), "systemd+");
        assert_eq!(shown(1000), "eightchr");
        assert_eq!(shown(12345), "12345");
    }

    #[test]
    fn cpu_share_is_whole_percent_of_the_time_alive_capped_at_99() {
        assert_eq!(cpu_share(0, 100, 0), 0);
        assert_eq!(cpu_share(50, 100, 10), 5);
        assert_eq!(cpu_share(99, 100, 10), 9);
        assert_eq!(cpu_share(5000, 100, 10), 99);
    }

    #[test]
    fn start_time_is_clock_today_month_and_day_this_year_else_the_year() {
        let now = LocalTime {
            year: 2026,
            day_of_year: 332,
            month: 10,
            day_of_month: 29,
            hour: 16,
            minute: 5,
        };
        let today = LocalTime {
            hour: 9,
            minute: 3,
            ..now
        };
        assert_eq!(start_column(&today, &now), "09:03");
        let earlier = LocalTime {
            day_of_year: 37,
            month: 1,
            day_of_month: 6,
            ..now
        };
        assert_eq!(start_column(&earlier, &now), "Feb06");
        let last_year = LocalTime {
            year: 2025,
            ..today
        };
        assert_eq!(start_column(&last_year, &now), "2025");
    }

    #[test]
    fn terminals_by_device_number() {
        assert_eq!(tty_column(0), "?");
        assert_eq!(tty_column((136 << 8) | 3), "pts/3");
        // pts/300: major 137, minor 44.
        assert_eq!(tty_column((137 << 8) | 44), "pts/300");
        // Minors above 255 are stored above the major.
        assert_eq!(tty_column((136 << 8) | (1 << 20)), "pts/256");
        assert_eq!(tty_column((4 << 8) | 1), "tty1");
        assert_eq!(tty_column((4 << 8) | 65), "ttyS1");
        assert_eq!(tty_column((5 << 8) | 1), "console");
        assert_eq!(tty_column((8 << 8) | 1), "?");
    }

    #[test]
    fn cpu_time_shows_days_only_when_there_are_some() {
        assert_eq!(cpu_time_column(0), "00:00:00");
        assert_eq!(cpu_time_column(3 * 3600 + 25 * 60 + 7), "03:25:07");
        assert_eq!(cpu_time_column(86_400 * 2 + 61), "2-00:01:01");
    }

    #[test]
    fn commands_join_arguments_and_fall_back_to_the_bracketed_name() {
        assert_eq!(
            command_column(b"sh\0-c\0sleep 1000 & wait\0", "sh", false),
            "sh -c sleep 1000 & wait"
        );
        assert_eq!(command_column(b"", "kworker/0:1", false), "[kworker/0:1]");
        assert_eq!(
            command_column(b"sleep\x001\0", "sleep", true),
            "[sleep] <defunct>"
        );
        assert_eq!(
            command_column("s\th\0x\x01y\0\u{e9}\0".as_bytes(), "sh", false),
            "s.h x.y ??"
        );
    }

    #[test]
    fn rows_match_ps_ef_for_the_same_processes() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sleep")
            .arg0("odd\tname\u{e9}")
            .arg("1000")
            .spawn()
            .unwrap();
        let pids = [std::process::id() as i32, child.id() as i32];
        // The new program's arguments appear a moment after the spawn returns.
        let cmdline = format!("/proc/{}/cmdline", child.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::fs::read(&cmdline).unwrap().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "{cmdline} stays empty"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let from_proc = list(&HostFiles::host(), &pids).unwrap();
        let from_ps = crate::container::top::list("-ef", &pids).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(from_ps.titles.unwrap(), TITLES);
        // C, STIME and TIME may tick between the two readings.
        let stable = |rows: Vec<Vec<String>>| -> Vec<Vec<String>> {
            rows.into_iter()
                .map(|r| [0, 1, 2, 5, 7].iter().map(|&i| r[i].clone()).collect())
                .collect()
        };
        let from_proc = stable(from_proc.processes.unwrap());
        assert_eq!(from_proc.len(), 2);
        assert_eq!(from_proc, stable(from_ps.processes.unwrap()));
    }

    #[test]
    fn a_fake_proc_lists_only_live_processes_in_pid_order() {
        let root = tempfile::tempdir().unwrap();
        let proc = root.path().join("proc");
        std::fs::create_dir_all(&proc).unwrap();
        std::fs::write(proc.join("uptime"), "1000.50 1900.00\n").unwrap();
        let passwd = root.path().join("passwd");
        std::fs::write(&passwd, "root:x:0:0::/:/bin/sh\n").unwrap();
        for (pid, ppid, uid, cmdline) in [(30, 20, 0, "sleep\x001000\0"), (20, 1, 4000, "")] {
            let dir = proc.join(pid.to_string());
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(
                dir.join("stat"),
                format!("{pid} (sh) S {ppid} 1 1 0 1 0 0 0 0 0 6000 0 0 0 20 0 1 0 0 0 0"),
            )
            .unwrap();
            std::fs::write(
                dir.join("status"),
                format!("Uid:\t{uid}\t{uid}\t{uid}\t{uid}\n"),
            )
            .unwrap();
            std::fs::write(dir.join("cmdline"), cmdline).unwrap();
        }
        let files = HostFiles { proc, passwd };
        let top = list(&files, &[30, 99, 20]).unwrap();
        assert_eq!(top.titles.unwrap(), TITLES);
        let rows = top.processes.unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        let ticks = Clock::read(&files.proc).unwrap().ticks_per_second;
        let share = cpu_share(6000, ticks, 1000).to_string();
        let time = cpu_time_column(6000 / ticks);
        assert_eq!(rows[0][0], "4000");
        assert_eq!(rows[0][1..4], ["20", "1", share.as_str()]);
        assert_eq!(rows[0][5..], ["?", time.as_str(), "[sh]"]);
        assert_eq!(rows[1][..3], ["root", "30", "20"]);
        assert_eq!(rows[1][7], "sleep 1000");
    }
}
