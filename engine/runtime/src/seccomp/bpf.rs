//! A tiny classic-BPF assembler: instructions that jump to labels, resolved into the
//! relative offsets the kernel wants.

use super::SeccompError;

pub(super) const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
pub(super) const AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
pub(super) const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
pub(super) const JGT_K: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
pub(super) const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
pub(super) const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
pub(super) const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// The kernel refuses longer filters (BPF_MAXINSNS).
const MAX_INSTRUCTIONS: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// The instruction right after the jump.
    Next,
    Label(usize),
}

#[derive(Debug, Clone, Copy)]
enum Item {
    Statement {
        code: u16,
        k: u32,
    },
    Branch {
        code: u16,
        k: u32,
        if_true: Target,
        if_false: Target,
    },
    Always(Target),
    Label(usize),
}

#[derive(Debug, Default)]
pub(super) struct Assembler {
    items: Vec<Item>,
    labels: usize,
}

impl Assembler {
    pub(super) fn new_label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }

    pub(super) fn place(&mut self, label: usize) {
        self.items.push(Item::Label(label));
    }

    pub(super) fn statement(&mut self, code: u16, k: u32) {
        self.items.push(Item::Statement { code, k });
    }

    pub(super) fn branch(&mut self, code: u16, k: u32, if_true: Target, if_false: Target) {
        self.items.push(Item::Branch {
            code,
            k,
            if_true,
            if_false,
        });
    }

    pub(super) fn jump(&mut self, target: Target) {
        self.items.push(Item::Always(target));
    }

    pub(super) fn finish(self) -> Result<Vec<libc::sock_filter>, SeccompError> {
        let mut positions = vec![usize::MAX; self.labels];
        let mut position = 0;
        for item in &self.items {
            match item {
                Item::Label(label) => positions[*label] = position,
                _ => position += 1,
            }
        }
        if position > MAX_INSTRUCTIONS {
            return Err(SeccompError::TooLarge {
                instructions: position,
            });
        }
        let offset = |from: usize, target: Target| -> Result<usize, SeccompError> {
            match target {
                Target::Next => Ok(0),
                Target::Label(label) => {
                    let to = positions[label];
                    debug_assert!(to != usize::MAX, "label {label} never placed");
                    // Jumps only go forward, relative to the next instruction.
                    Ok(to - from - 1)
                }
            }
        };
        let short = |distance: usize| -> Result<u8, SeccompError> {
            u8::try_from(distance).map_err(|_| SeccompError::JumpTooFar { distance })
        };
        let mut program = Vec::with_capacity(position);
        for item in &self.items {
            let at = program.len();
            let instruction = match *item {
                Item::Label(_) => continue,
                Item::Statement { code, k } => filter(code, 0, 0, k),
                Item::Branch {
                    code,
                    k,
                    if_true,
                    if_false,
                } => filter(
                    code,
                    short(offset(at, if_true)?)?,
                    short(offset(at, if_false)?)?,
                    k,
                ),
                Item::Always(target) => filter(JA, 0, 0, offset(at, target)? as u32),
            };
            program.push(instruction);
        }
        Ok(program)
    }
}

fn filter(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Runs a filter the way the kernel does, for the tests of the compiler.
#[cfg(test)]
pub(super) fn run(program: &[libc::sock_filter], data: &[u8]) -> u32 {
    let mut accumulator: u32 = 0;
    let mut pc = 0;
    loop {
        let insn = program[pc];
        pc += 1;
        match insn.code {
            LD_W_ABS => {
                let at = insn.k as usize;
                accumulator = u32::from_ne_bytes(data[at..at + 4].try_into().unwrap());
            }
            AND_K => accumulator &= insn.k,
            JEQ_K | JGT_K | JGE_K => {
                let taken = match insn.code {
                    JEQ_K => accumulator == insn.k,
                    JGT_K => accumulator > insn.k,
                    _ => accumulator >= insn.k,
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
            }
            JA => pc += insn.k as usize,
            RET_K => return insn.k,
            other => panic!("unexpected BPF instruction {other:#x}"),
        }
    }
}
