//! A small submission-batching executor over one io_uring: callers queue chains of
//! submission entries tagged with their own `user_data`, the executor submits them to the
//! kernel in batches (when the submission queue fills, or when the caller asks), and hands
//! back completions as `(user_data, result)` pairs. It knows nothing of files or tars; the
//! caller keeps whatever each entry points to alive until its completion comes back.

use std::io;

use io_uring::{opcode, squeue, IoUring, Probe};

/// The operations the extractor submits; a kernel lacking any of them is not used.
const REQUIRED: [(u8, &str); 4] = [
    (opcode::OpenAt::CODE, "openat"),
    (opcode::Write::CODE, "write"),
    (opcode::Close::CODE, "close"),
    (opcode::SymlinkAt::CODE, "symlinkat"),
];

pub(super) struct Executor {
    ring: IoUring,
    /// Entries queued or submitted whose completion has not been reaped yet. Kept at most
    /// `capacity`, so the completion queue can never overflow.
    in_flight: usize,
    capacity: usize,
}

impl Executor {
    /// A ring of `entries` submission slots with a table of `fixed_files` direct descriptors.
    pub fn new(entries: u32, fixed_files: u32) -> io::Result<Executor> {
        let cq_entries = entries * 4;
        // One thread submits and reaps, so completions can wait until it asks for them;
        // older kernels refuse these flags, and then get a plain ring.
        let mut ring = IoUring::builder()
            .dontfork()
            .setup_cqsize(cq_entries)
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(entries)
            .or_else(|_| {
                IoUring::builder()
                    .dontfork()
                    .setup_cqsize(cq_entries)
                    .build(entries)
            })?;
        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        for (code, name) in REQUIRED {
            if !probe.is_supported(code) {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("the kernel's io_uring has no {name} operation"),
                ));
            }
        }
        ring.submitter().register_files_sparse(fixed_files)?;
        let capacity = ring.completion().capacity();
        Ok(Executor {
            ring,
            in_flight: 0,
            capacity,
        })
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// How many more entries can be pushed before completions must be reaped.
    pub fn room(&self) -> usize {
        self.capacity - self.in_flight
    }

    /// Queues `chain`, whose entries the caller has linked (or not) as it needs. A chain is
    /// never split between two submissions, since the kernel would end the link there.
    ///
    /// # Safety
    /// Every buffer, path and descriptor the entries refer to must stay valid until their
    /// completions have been reaped, and `chain.len()` must not exceed [`Executor::room`].
    pub unsafe fn push(&mut self, chain: &[squeue::Entry]) -> io::Result<()> {
        assert!(
            chain.len() <= self.room(),
            "pushed past the completion queue"
        );
        let free = {
            let sq = self.ring.submission();
            sq.capacity() - sq.len()
        };
        if free < chain.len() {
            self.submit()?;
        }
        let mut sq = self.ring.submission();
        for entry in chain {
            // SAFETY: forwarded to our caller; there is room, as checked above.
            unsafe { sq.push(entry) }.expect("the submission queue has room for the chain");
        }
        drop(sq);
        self.in_flight += chain.len();
        Ok(())
    }

    /// Hands everything queued to the kernel without waiting.
    pub fn submit(&mut self) -> io::Result<()> {
        loop {
            match self.ring.submit() {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Submits what is queued, waits until at least one completion is available (unless
    /// nothing is in flight) and appends every available completion to `out`.
    pub fn wait(&mut self, out: &mut Vec<(u64, i32)>) -> io::Result<()> {
        if self.in_flight == 0 {
            return Ok(());
        }
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        let before = out.len();
        out.extend(
            self.ring
                .completion()
                .map(|cqe| (cqe.user_data(), cqe.result())),
        );
        self.in_flight -= out.len() - before;
        Ok(())
    }
}
