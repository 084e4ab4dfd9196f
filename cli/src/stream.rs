//! Container output on the terminal: the multiplexed stream (attach and logs of a container
//! without a TTY) demultiplexed to stdout and stderr, or a TTY's raw stream copied as it is.

use std::io::Write;

use berth_stdio::{DemuxError, Demuxer, StreamKind};

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
    use berth_stdio::encode_frame;

    #[test]
    fn frames_route_to_stdout_and_stderr_whatever_the_chunking() {
        let mut stream = encode_frame(StreamKind::Stdout, b"hello\n");
        stream.extend(encode_frame(StreamKind::Stderr, b"oops\n"));
        for chunk in [1, 3, 9, stream.len()] {
            let mut out = Output::new(Vec::new(), Vec::new(), false);
            for piece in stream.chunks(chunk) {
                out.write(piece).unwrap();
            }
            out.finish().unwrap();
            assert_eq!(out.stdout, b"hello\n", "chunk size {chunk}");
            assert_eq!(out.stderr, b"oops\n", "chunk size {chunk}");
        }
    }

    #[test]
    fn a_stream_cut_mid_frame_is_an_error() {
        let frame = encode_frame(StreamKind::Stdout, b"hello");
        let mut out = Output::new(Vec::new(), Vec::new(), false);
        out.write(&frame[..10]).unwrap();
        assert!(matches!(
            out.finish(),
            Err(OutputError::Demux(DemuxError::Truncated(3)))
        ));
    }

    #[test]
    fn raw_streams_pass_through_to_stdout() {
        let mut out = Output::new(Vec::new(), Vec::new(), true);
        out.write(&[1, 0, 0, 0, 0, 0, 0, 1, b'a']).unwrap();
        assert_eq!(out.stdout, vec![1, 0, 0, 0, 0, 0, 0, 1, b'a']);
        assert!(out.stderr.is_empty());
    }
}
