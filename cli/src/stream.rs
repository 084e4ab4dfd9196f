//! The Engine API's multiplexed stream: each frame is an 8-byte header
//! (stream type, three zero bytes, big-endian u32 payload length) followed by
//! the payload. Used by attach and logs when the container has no TTY.
//!
//! The demuxer is sans-IO: callers feed it whatever chunks the transport
//! delivers, however the frames are split across them.

use std::io::Write;

const HEADER_LEN: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Stdin,
    Stdout,
    Stderr,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DemuxError {
    #[error("malformed multiplexed stream: unknown stream type {0} in frame header")]
    UnknownStream(u8),
    #[error("multiplexed stream ended in the middle of a frame ({0} bytes left over)")]
    Truncated(usize),
}

#[derive(Default)]
pub struct Demuxer {
    header: Vec<u8>,
    current: Option<(StreamKind, usize)>,
}

impl Demuxer {
    pub fn new() -> Demuxer {
        Demuxer::default()
    }

    /// Consumes `data`, calling `sink` with each run of payload bytes as it
    /// becomes available (a frame may reach the sink in several pieces).
    pub fn feed(
        &mut self,
        mut data: &[u8],
        mut sink: impl FnMut(StreamKind, &[u8]),
    ) -> Result<(), DemuxError> {
        while !data.is_empty() {
            match self.current {
                Some((kind, remaining)) => {
                    let take = remaining.min(data.len());
                    sink(kind, &data[..take]);
                    data = &data[take..];
                    self.current = (remaining > take).then_some((kind, remaining - take));
                }
                None => {
                    let need = HEADER_LEN - self.header.len();
                    let take = need.min(data.len());
                    self.header.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.header.len() == HEADER_LEN {
                        let kind = match self.header[0] {
                            0 => StreamKind::Stdin,
                            1 => StreamKind::Stdout,
                            2 => StreamKind::Stderr,
                            other => return Err(DemuxError::UnknownStream(other)),
                        };
                        let len = u32::from_be_bytes([
                            self.header[4],
                            self.header[5],
                            self.header[6],
                            self.header[7],
                        ]) as usize;
                        self.header.clear();
                        self.current = (len > 0).then_some((kind, len));
                    }
                }
            }
        }
        Ok(())
    }

    /// Call at end of stream: a partial header or payload means the peer cut
    /// the stream short.
    pub fn finish(&self) -> Result<(), DemuxError> {
        let left = self.header.len() + self.current.map_or(0, |(_, n)| n);
        if left > 0 {
            Err(DemuxError::Truncated(left))
        } else {
            Ok(())
        }
    }
}

/// Routes demultiplexed (or raw) output to the terminal's stdout and stderr.
pub struct Output<O: Write, E: Write> {
    pub stdout: O,
    pub stderr: E,
    demuxer: Option<Demuxer>,
}

impl<O: Write, E: Write> Output<O, E> {
    /// `raw` streams (TTY containers) are copied to stdout unchanged.
    pub fn new(stdout: O, stderr: E, raw: bool) -> Self {
        Output {
            stdout,
            stderr,
            demuxer: (!raw).then(Demuxer::new),
        }
    }

    pub fn write(&mut self, chunk: &[u8]) -> Result<(), OutputError> {
        match &mut self.demuxer {
            None => {
                self.stdout.write_all(chunk)?;
                self.stdout.flush()?;
            }
            Some(demuxer) => {
                // The payloads of one chunk go out as one write per run of the same stream,
                // not one per frame: a log is millions of small frames. Runs keep their
                // order, so stdout and stderr interleave as the daemon sent them.
                let mut runs: Vec<(StreamKind, std::ops::Range<usize>)> = Vec::new();
                let mut joined = Vec::with_capacity(chunk.len());
                let fed = demuxer.feed(chunk, |kind, bytes| {
                    let kind = match kind {
                        // stdin frames never come from the daemon; show them rather than
                        // lose bytes.
                        StreamKind::Stdin => StreamKind::Stdout,
                        other => other,
                    };
                    let start = joined.len();
                    joined.extend_from_slice(bytes);
                    match runs.last_mut() {
                        Some((last, range)) if *last == kind => range.end = joined.len(),
                        _ => runs.push((kind, start..joined.len())),
                    }
                });
                for (kind, range) in runs {
                    let bytes = &joined[range];
                    match kind {
                        StreamKind::Stderr => {
                            self.stderr.write_all(bytes)?;
                            self.stderr.flush()?;
                        }
                        _ => {
                            self.stdout.write_all(bytes)?;
                            self.stdout.flush()?;
                        }
                    }
                }
                // What came before a malformed frame is shown before the error.
                fed?;
            }
        }
        Ok(())
    }

    pub fn finish(&self) -> Result<(), OutputError> {
        if let Some(demuxer) = &self.demuxer {
            demuxer.finish()?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(transparent)]
    Demux(#[from] DemuxError),
    #[error("writing container output: {0}")]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![kind, 0, 0, 0];
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn split_collect(stream: &[u8], chunk: usize) -> (Vec<u8>, Vec<u8>) {
        let mut out = Output::new(Vec::new(), Vec::new(), false);
        for piece in stream.chunks(chunk) {
            out.write(piece).unwrap();
        }
        out.finish().unwrap();
        (out.stdout, out.stderr)
    }

    #[test]
    fn frames_route_to_stdout_and_stderr_whatever_the_chunking() {
        let mut stream = frame(1, b"hello\n");
        stream.extend(frame(2, b"oops\n"));
        stream.extend(frame(1, b""));
        stream.extend(frame(1, &vec![b'x'; 70_000]));
        for chunk in [1, 3, 7, 8, 9, 4096, stream.len()] {
            let (out, err) = split_collect(&stream, chunk);
            assert_eq!(&out[..6], b"hello\n", "chunk size {chunk}");
            assert_eq!(out.len(), 6 + 70_000, "chunk size {chunk}");
            assert_eq!(err, b"oops\n", "chunk size {chunk}");
        }
    }

    #[test]
    fn unknown_stream_type_and_truncation_are_errors() {
        let mut d = Demuxer::new();
        assert_eq!(
            d.feed(&frame(5, b"x"), |_, _| {}),
            Err(DemuxError::UnknownStream(5))
        );
        let mut d = Demuxer::new();
        let f = frame(1, b"hello");
        d.feed(&f[..10], |_, _| {}).unwrap();
        assert_eq!(d.finish(), Err(DemuxError::Truncated(3)));
        let mut d = Demuxer::new();
        d.feed(&f[..4], |_, _| {}).unwrap();
        assert_eq!(d.finish(), Err(DemuxError::Truncated(4)));
    }

    #[test]
    fn raw_streams_pass_through_to_stdout() {
        let mut out = Output::new(Vec::new(), Vec::new(), true);
        out.write(&[1, 0, 0, 0, 0, 0, 0, 1, b'a']).unwrap();
        assert_eq!(out.stdout, vec![1, 0, 0, 0, 0, 0, 0, 1, b'a']);
        assert!(out.stderr.is_empty());
    }
}
