//! Creating an exec'd process the way glibc's posix_spawn does: clone(2) with `CLONE_VM |
//! CLONE_VFORK` on a stack of its own, so no page table is copied and the supervisor takes
//! no copy-on-write faults afterwards. The child runs in the supervisor's memory while the
//! supervisor is suspended, until it execs or exits.
//!
//! What that asks of the child (`crate::child::run_in_container`), and why:
//! - It shares the caller's heap, so it frees what it allocates, never what the caller owns
//!   (it only borrows the plan; the [`ChildEnds`] it is given hold descriptors and nothing
//!   on the heap), and what it still holds when it execs (the program's arguments and
//!   environment) it leaves in the [`ExecSlot`], which the caller drops once it is gone.
//! - It shares the caller's signal handlers' code and data but not their table: every
//!   signal stays blocked from before the clone until the child has reset its dispositions
//!   to the defaults, so no handler of the caller's ever runs in the child.
//! - It never returns from its function: it ends in execve, or in `_exit` after writing its
//!   failure report.
//! - It cannot wait for the caller (who is suspended), so it joins its cgroup itself, through
//!   `cgroup.procs` files the caller opened beforehand.
//!
//! The descriptor table is not copied by the clone either (`CLONE_FILES`): the supervisor
//! holds several descriptors per container (its pipes, the namespaces and cgroup files kept
//! for execs), and copying thousands of them per exec, only for exec to close them again,
//! was the largest cost left. The child moves the few it needs into slots reserved low in
//! the table ([`reserve_descriptors`]: placeholders of /dev/null), takes a private copy of
//! only the table's start (`close_range(end, ~0, CLOSE_RANGE_UNSHARE)`), and the caller puts
//! its placeholders back once the child is gone. Without reserved slots the clone copies the
//! table as fork does.
//!
//! As for `fork`, the caller must be single-threaded: the child calls malloc, and the setuid
//! family goes through raw system calls (glibc's wrappers would signal the caller's threads).

use std::cell::{Cell, OnceCell, RefCell};
use std::convert::Infallible;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

use crate::child::{ChildEnds, ChildIo};
use crate::exec::PreparedExec;
use crate::os_error::OsError;
use crate::spawn::SpawnError;
use crate::Stdio;

/// The child's stack: plenty for the setup's Rust code (debug builds included), committed
/// only as far as it is touched.
const STACK_SIZE: usize = 512 * 1024;

/// Memory the child leaves to the caller: what it allocated and still held at execve, and
/// whether it got that far.
#[derive(Default)]
pub(crate) struct ExecSlot {
    prepared: OnceCell<PreparedExec>,
    reached_exec: Cell<bool>,
}

impl ExecSlot {
    /// Keeps `prepared` for the caller to free, and notes that execve comes next.
    pub fn keep(&self, prepared: PreparedExec) -> &PreparedExec {
        self.reached_exec.set(true);
        self.prepared.get_or_init(|| prepared)
    }

    pub fn reached_exec(&self) -> bool {
        self.reached_exec.get()
    }
}

/// A stack for the child, with a guard page below it; one per thread, reused by every exec
/// (the child is done with it when the caller runs again).
struct Stack {
    base: *mut libc::c_void,
}

impl Stack {
    fn new() -> Result<Stack, SpawnError> {
        // SAFETY: a fresh anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                STACK_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(last_error("mapping the exec's stack"));
        }
        let stack = Stack { base };
        // SAFETY: the lowest page of the mapping just made; an overflow faults there.
        if unsafe { libc::mprotect(base, page_size(), libc::PROT_NONE) } != 0 {
            return Err(last_error("protecting the exec's stack guard page"));
        }
        Ok(stack)
    }

    fn top(&self) -> *mut libc::c_void {
        // 16-byte aligned, as the x86-64 ABI wants it.
        (self.base as usize + STACK_SIZE) as *mut libc::c_void
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, no longer used by anyone.
        unsafe { libc::munmap(self.base, STACK_SIZE) };
    }
}

thread_local! {
    static STACK: RefCell<Option<Stack>> = const { RefCell::new(None) };
}

fn page_size() -> usize {
    // SAFETY: sysconf only reads.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        size if size > 0 => size as usize,
        _ => 4096,
    }
}

fn last_error(what: &'static str) -> SpawnError {
    SpawnError::Os {
        what,
        source: OsError::from(std::io::Error::last_os_error()),
    }
}

/// The most descriptors an exec's child moves into reserved slots: its stdio (or terminal
/// socket), its report pipe, five namespaces and a cgroup v1 hierarchy's worth of
/// `cgroup.procs` files.
pub(crate) const SLOTS: usize = 32;

/// Descriptor numbers held by placeholders, low in the table.
struct Slots {
    numbers: [RawFd; SLOTS],
    /// One past the highest slot: the child keeps `[0, end)` of the table.
    end: RawFd,
    placeholder: OwnedFd,
}

static RESERVED: OnceLock<Slots> = OnceLock::new();

/// Reserves the slots an exec's child moves its descriptors into, as low in the descriptor
/// table as they are free. Call it early (the supervisor does at start), while the table is
/// short: the child copies every descriptor below the highest slot. Reserving again is a
/// no-op.
pub fn reserve_descriptors() -> Result<(), SpawnError> {
    if RESERVED.get().is_some() {
        return Ok(());
    }
    let placeholder: OwnedFd = std::fs::File::open("/dev/null")
        .map_err(|e| SpawnError::Os {
            what: "opening /dev/null for the exec descriptor slots",
            source: e.into(),
        })?
        .into();
    let mut numbers = [0; SLOTS];
    for number in &mut numbers {
        let slot =
            rustix::io::fcntl_dupfd_cloexec(&placeholder, 3).map_err(|e| SpawnError::Os {
                what: "reserving the exec descriptor slots",
                source: e.into(),
            })?;
        // Open for the process's life: the descriptor is the reservation.
        *number = slot.into_raw_fd();
    }
    let end = numbers.iter().max().map_or(3, |highest| highest + 1);
    let _ = RESERVED.set(Slots {
        numbers,
        end,
        placeholder,
    });
    Ok(())
}

struct Shared<'a, F> {
    child: ManuallyDrop<F>,
    ends: ManuallyDrop<ChildEnds>,
    /// More descriptors the child needs (namespaces, cgroup files), by the caller's numbers.
    extra: &'a [BorrowedFd<'a>],
    /// Set when the table is shared (`CLONE_FILES`): the child moves into these slots.
    slots: Option<&'a Slots>,
}

/// Descriptor numbers, at most [`SLOTS`] of them.
struct Numbers {
    numbers: [RawFd; SLOTS],
    len: usize,
}

impl Numbers {
    fn new() -> Numbers {
        Numbers {
            numbers: [0; SLOTS],
            len: 0,
        }
    }

    fn push(&mut self, fd: RawFd) {
        if self.len == SLOTS {
            // Checked by `clone_vfork` before the clone; never happens.
            // SAFETY: ends the child without touching the caller's state.
            unsafe { libc::_exit(125) };
        }
        self.numbers[self.len] = fd;
        self.len += 1;
    }

    fn as_slice(&self) -> &[RawFd] {
        &self.numbers[..self.len]
    }
}

extern "C" fn trampoline<F>(arg: *mut libc::c_void) -> libc::c_int
where
    F: FnOnce(ChildEnds, &[RawFd]) -> Infallible,
{
    // SAFETY: `arg` is the `Shared` of `clone_vfork`, alive while the caller is suspended.
    let shared = unsafe { &mut *arg.cast::<Shared<'_, F>>() };
    // SAFETY: the closure is taken once, here; the caller never drops it (it holds only
    // references, so nothing is leaked).
    let child = unsafe { ManuallyDrop::take(&mut shared.child) };
    let mut extra = Numbers::new();
    let ends = match shared.slots {
        None => {
            for fd in shared.extra {
                extra.push(fd.as_raw_fd());
            }
            // SAFETY: a bitwise copy of the caller's descriptors: in the child's own copy
            // of the table, closed by its drops; the caller closes its own.
            unsafe { std::ptr::read(&*shared.ends) }
        }
        Some(slots) => {
            let moved = move_into_slots(&shared.ends, shared.extra, slots);
            let count = ends_fds(&shared.ends).len;
            for fd in &moved.as_slice()[count..] {
                extra.push(*fd);
            }
            // SAFETY: the slots hold the child's copies now, in the table it owns alone.
            unsafe { ends_at(&shared.ends, &moved.as_slice()[..count]) }
        }
    };
    // The match is never reached (the compiler knows: Infallible), but the function must
    // name a return value for clone(2)'s signature.
    #[allow(unreachable_code)]
    match child(ends, extra.as_slice()) {}
}

/// In the child, while the table is still the caller's: copies `ends` and `extra` into the
/// slots (over the placeholders, which the caller puts back), then unshares the table,
/// keeping only `[0, slots.end)`. A failure here cannot be reported (the report pipe is one
/// of the descriptors moved): the child exits, and the caller sees it end before its exec.
fn move_into_slots(ends: &ChildEnds, extra: &[BorrowedFd<'_>], slots: &Slots) -> Numbers {
    let mut moved = Numbers::new();
    let from_ends = ends_fds(ends);
    let sources = from_ends
        .as_slice()
        .iter()
        .copied()
        .chain(extra.iter().map(AsRawFd::as_raw_fd));
    for (source, slot) in sources.zip(slots.numbers) {
        // SAFETY: both are open descriptors of the (shared) table; the slot's placeholder
        // is replaced, and the caller restores it.
        if unsafe { libc::dup3(source, slot, libc::O_CLOEXEC) } < 0 {
            // SAFETY: ends the child without touching the caller's state.
            unsafe { libc::_exit(125) };
        }
        moved.push(slot);
    }
    // SAFETY: gives this process a table of its own with the descriptors below `end` only.
    let unshared = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            slots.end as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_UNSHARE,
        )
    };
    if unshared != 0 {
        // SAFETY: as above.
        unsafe { libc::_exit(125) };
    }
    moved
}

/// The descriptors of `ends` in a fixed order: stdin (when given), stdout and stderr, or the
/// terminal socket; then the report pipe.
fn ends_fds(ends: &ChildEnds) -> Numbers {
    let mut fds = Numbers::new();
    match &ends.io {
        ChildIo::Pipes(stdio) => {
            if let Some(stdin) = &stdio.stdin {
                fds.push(stdin.as_raw_fd());
            }
            fds.push(stdio.stdout.as_raw_fd());
            fds.push(stdio.stderr.as_raw_fd());
        }
        ChildIo::Terminal(socket) => fds.push(socket.as_raw_fd()),
    }
    fds.push(ends.report.as_raw_fd());
    fds
}

/// `ends` rebuilt on the descriptors `numbers`, in [`ends_fds`]' order.
///
/// # Safety
/// `numbers` must be open descriptors that nothing else in this process owns.
unsafe fn ends_at(ends: &ChildEnds, numbers: &[RawFd]) -> ChildEnds {
    let mut next = numbers.iter();
    let mut take = || match next.next() {
        // SAFETY: the caller's promise.
        Some(fd) => unsafe { OwnedFd::from_raw_fd(*fd) },
        // SAFETY: ends the child without touching the caller's state.
        None => unsafe { libc::_exit(125) },
    };
    let io = match &ends.io {
        ChildIo::Pipes(stdio) => {
            let stdin = stdio.stdin.as_ref().map(|_| take());
            let (stdout, stderr) = (take(), take());
            ChildIo::Pipes(Stdio {
                stdin,
                stdout,
                stderr,
            })
        }
        ChildIo::Terminal(_) => ChildIo::Terminal(take()),
    };
    ChildEnds {
        io,
        go: None,
        report: take(),
    }
}

/// Clones a child with `flags` (plus `CLONE_VM | CLONE_VFORK`, and `CLONE_FILES` when slots
/// are reserved) that runs `child(ends, extra)`, `extra` being the numbers the `extra`
/// descriptors have in the child; returns its PID once it has exec'd or exited. The caller's
/// copies of `ends` are closed before this returns.
pub(crate) fn clone_vfork<F>(
    flags: libc::c_int,
    ends: ChildEnds,
    extra: &[BorrowedFd<'_>],
    child: F,
) -> Result<i32, SpawnError>
where
    F: FnOnce(ChildEnds, &[RawFd]) -> Infallible,
{
    let needed = ends_fds(&ends).len + extra.len();
    let slots = RESERVED.get().filter(|_| needed <= SLOTS);
    let files = if slots.is_some() {
        libc::CLONE_FILES
    } else {
        0
    };
    if slots.is_none() && extra.len() > SLOTS {
        return Err(SpawnError::Os {
            what: "an exec needs more descriptors than berth passes",
            source: std::io::Error::from_raw_os_error(libc::EMFILE).into(),
        });
    }
    STACK.with(|cell| {
        let mut stack = cell.borrow_mut();
        let stack = match &mut *stack {
            Some(stack) => stack,
            empty => empty.insert(Stack::new()?),
        };
        let mut shared = Shared {
            child: ManuallyDrop::new(child),
            ends: ManuallyDrop::new(ends),
            extra,
            slots,
        };
        // SAFETY: sigset_t is plain data, filled by sigfillset before use.
        let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
        let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: both sets are valid; blocking everything only delays delivery.
        unsafe {
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
        }
        // SAFETY: the child runs `trampoline` on its own stack, sharing our memory while we
        // are suspended (CLONE_VFORK), and never returns from it (see the module's rules).
        let pid = unsafe {
            libc::clone(
                trampoline::<F>,
                stack.top(),
                flags | files | libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                (&mut shared as *mut Shared<'_, F>).cast(),
            )
        };
        let clone_error = std::io::Error::last_os_error();
        // SAFETY: restores the mask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut()) };
        if let Some(slots) = slots {
            // The child's copies in our (then shared) table go; the placeholders come back.
            for slot in &slots.numbers[..needed] {
                // SAFETY: both are open descriptors of this process.
                unsafe { libc::dup3(slots.placeholder.as_raw_fd(), *slot, libc::O_CLOEXEC) };
            }
        }
        // Our copies of the child's ends; the child's went with its exec or exit. Without a
        // child, the closure was never taken: it holds only references.
        // SAFETY: `ends` is dropped once, here; the child only had a bitwise copy.
        unsafe { ManuallyDrop::drop(&mut shared.ends) };
        if pid < 0 {
            return Err(SpawnError::Os {
                what: "clone",
                source: clone_error.into(),
            });
        }
        Ok(pid)
    })
}
