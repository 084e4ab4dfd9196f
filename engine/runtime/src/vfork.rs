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
//! As for `fork`, the caller must be single-threaded: the child calls malloc, and the setuid
//! family goes through raw system calls (glibc's wrappers would signal the caller's threads).

use std::cell::{Cell, OnceCell, RefCell};
use std::convert::Infallible;
use std::mem::ManuallyDrop;

use crate::child::ChildEnds;
use crate::exec::PreparedExec;
use crate::os_error::OsError;
use crate::spawn::SpawnError;

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

struct Shared<F> {
    child: ManuallyDrop<F>,
    ends: ManuallyDrop<ChildEnds>,
}

extern "C" fn trampoline<F: FnOnce(ChildEnds) -> Infallible>(
    arg: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: `arg` is the `Shared<F>` of `clone_vfork`, alive while the caller is suspended.
    let shared = unsafe { &mut *arg.cast::<Shared<F>>() };
    // SAFETY: the closure is taken once, here; the caller never drops it (it holds only
    // references, so nothing is leaked).
    let child = unsafe { ManuallyDrop::take(&mut shared.child) };
    // SAFETY: a bitwise copy of the caller's descriptors: the child's copies of them are
    // its own descriptor table's, closed by its drops; the caller closes its own.
    let ends = unsafe { std::ptr::read(&*shared.ends) };
    // The match is never reached (the compiler knows: Infallible), but the function must
    // name a return value for clone(2)'s signature.
    #[allow(unreachable_code)]
    match child(ends) {}
}

/// Clones a child with `flags` (plus `CLONE_VM | CLONE_VFORK`) that runs `child(ends)`, and
/// returns its PID once it has exec'd or exited. The caller's copies of `ends` are closed
/// before this returns.
pub(crate) fn clone_vfork<F>(
    flags: libc::c_int,
    child: F,
    ends: ChildEnds,
) -> Result<i32, SpawnError>
where
    F: FnOnce(ChildEnds) -> Infallible,
{
    STACK.with(|cell| {
        let mut stack = cell.borrow_mut();
        let stack = match &mut *stack {
            Some(stack) => stack,
            empty => empty.insert(Stack::new()?),
        };
        let mut shared = Shared {
            child: ManuallyDrop::new(child),
            ends: ManuallyDrop::new(ends),
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
                flags | libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                (&mut shared as *mut Shared<F>).cast(),
            )
        };
        let clone_error = std::io::Error::last_os_error();
        // SAFETY: restores the mask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut()) };
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
