//! Detach keys: the key sequence (ctrl-p ctrl-q unless the client names another) that ends an
//! attached session on a TTY without stopping the container.
//!
//! Docker's syntax is a comma-separated list of keys, each a single character, `ctrl-X` for
//! X in `@`, `a`–`z`, `[`, `\`, `]`, `^`, `_`, or `DEL`.

/// ctrl-p, ctrl-q.
const DEFAULT: [u8; 2] = [16, 17];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachKeys(Vec<u8>);

impl Default for DetachKeys {
    fn default() -> Self {
        DetachKeys(DEFAULT.to_vec())
    }
}

impl DetachKeys {
    /// Parses Docker's syntax; an empty text means the default sequence.
    pub fn parse(text: &str) -> Result<DetachKeys, String> {
        if text.is_empty() {
            return Ok(DetachKeys::default());
        }
        let mut codes = Vec::new();
        for key in text.split(',') {
            let code = match key.as_bytes() {
                [single] => *single,
                b"DEL" => 127,
                _ => control_code(key).ok_or_else(|| format!("Unknown character: '{key}'"))?,
            };
            codes.push(code);
        }
        Ok(DetachKeys(codes))
    }

    pub fn scanner(&self) -> DetachScanner {
        DetachScanner {
            keys: self.0.clone(),
            matched: 0,
        }
    }
}

/// `ctrl-@` is 0, `ctrl-a` 1 … `ctrl-z` 26, then `ctrl-[` 27 … `ctrl-_` 31.
fn control_code(key: &str) -> Option<u8> {
    let [c] = key.strip_prefix("ctrl-")?.as_bytes() else {
        return None;
    };
    match c {
        b'@' => Some(0),
        b'a'..=b'z' => Some(c - b'a' + 1),
        b'[' | b'\\' | b']' | b'^' | b'_' => Some(c - b'[' + 27),
        _ => None,
    }
}

/// Watches a client's input for the detach sequence. Bytes that may start the sequence are
/// held back until the next byte tells; if it turns out not to be the sequence, they are
/// passed on after all, so the container never loses a keystroke.
#[derive(Debug)]
pub struct DetachScanner {
    keys: Vec<u8>,
    matched: usize,
}

/// What a piece of input amounts to.
#[derive(Debug, PartialEq, Eq)]
pub struct Scanned {
    /// What goes on to the container.
    pub forward: Vec<u8>,
    /// The whole sequence was typed: the client detaches, and input after it is dropped.
    pub detached: bool,
}

impl DetachScanner {
    pub fn feed(&mut self, input: &[u8]) -> Scanned {
        let mut forward = Vec::with_capacity(input.len());
        for &byte in input {
            if byte == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return Scanned {
                        forward,
                        detached: true,
                    };
                }
                continue;
            }
            // A partial match that failed: what was held back is ordinary input, and this
            // byte may still start the sequence afresh.
            forward.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if byte == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    return Scanned {
                        forward,
                        detached: true,
                    };
                }
            } else {
                forward.push(byte);
            }
        }
        Scanned {
            forward,
            detached: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_key_syntax() {
        assert_eq!(DetachKeys::parse("").unwrap(), DetachKeys(vec![16, 17]));
        assert_eq!(
            DetachKeys::parse("ctrl-a,x,ctrl-@,ctrl-_,DEL,ctrl-[").unwrap(),
            DetachKeys(vec![1, b'x', 0, 31, 127, 27])
        );
        assert_eq!(
            DetachKeys::parse("ctrl-1").unwrap_err(),
            "Unknown character: 'ctrl-1'"
        );
        assert!(DetachKeys::parse("ab").is_err());
        assert!(DetachKeys::parse("ctrl-").is_err());
    }

    fn feed_all(keys: &str, pieces: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut scanner = DetachKeys::parse(keys).unwrap().scanner();
        let mut forwarded = Vec::new();
        for piece in pieces {
            let scanned = scanner.feed(piece);
            forwarded.extend(scanned.forward);
            if scanned.detached {
                return (forwarded, true);
            }
        }
        (forwarded, false)
    }

    #[test]
    fn the_sequence_detaches_and_what_came_before_passes() {
        assert_eq!(
            feed_all("", &[b"ls\n\x10\x11rest"]),
            (b"ls\n".to_vec(), true)
        );
        // Split across reads.
        assert_eq!(feed_all("", &[b"a\x10", b"\x11b"]), (b"a".to_vec(), true));
    }

    #[test]
    fn a_broken_sequence_is_passed_on_whole() {
        assert_eq!(feed_all("", &[b"\x10x"]), (b"\x10x".to_vec(), false));
        assert_eq!(feed_all("", &[b"\x10", b"y"]), (b"\x10y".to_vec(), false));
        // ctrl-p ctrl-p ctrl-q: the first is input, the last two detach.
        assert_eq!(feed_all("", &[b"\x10\x10\x11"]), (b"\x10".to_vec(), true));
        // A held-back prefix at the end of the input stays held.
        assert_eq!(feed_all("", &[b"z\x10"]), (b"z".to_vec(), false));
    }

    #[test]
    fn a_single_key_sequence_detaches_at_once() {
        assert_eq!(feed_all("q", &[b"abq"]), (b"ab".to_vec(), true));
        assert_eq!(
            feed_all("ctrl-x,q", &[b"\x18\x18q"]),
            (b"\x18".to_vec(), true)
        );
    }
}
