//! The Engine API's multiplexed stream (attach, exec and logs of a container without a TTY):
//! each frame is an 8-byte header (stream type, three zero bytes, big-endian u32 payload
//! length) followed by the payload.
//!
//! The demuxer is sans-IO: callers feed it whatever chunks the transport delivers, however
//! the frames are split across them.

pub const HEADER_LEN: usize = 8;

/// The stream a frame belongs to; the value is its type byte in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
}

/// The header of a frame of `len` bytes of `stream`. A payload is never longer than a u32
/// can say: the daemon sends output in pieces of at most a pipe's worth.
pub fn frame_header(stream: StreamKind, len: usize) -> [u8; HEADER_LEN] {
    let len = u32::try_from(len)
        .expect("a frame's payload fits in a u32")
        .to_be_bytes();
    [stream as u8, 0, 0, 0, len[0], len[1], len[2], len[3]]
}

/// `data` as one frame of `stream`.
pub fn encode_frame(stream: StreamKind, data: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(HEADER_LEN + data.len());
    framed.extend_from_slice(&frame_header(stream, data.len()));
    framed.extend_from_slice(data);
    framed
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

    /// Consumes `data`, calling `sink` with each run of payload bytes as it becomes available
    /// (a frame may reach the sink in several pieces).
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
                None if self.header.is_empty() && data.len() >= HEADER_LEN => {
                    // The usual case, a whole header at hand: read it in place.
                    let (header, rest) = data.split_at(HEADER_LEN);
                    self.start_frame(header)?;
                    data = rest;
                }
                None => {
                    let need = HEADER_LEN - self.header.len();
                    let take = need.min(data.len());
                    self.header.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.header.len() == HEADER_LEN {
                        let mut header = [0; HEADER_LEN];
                        header.copy_from_slice(&self.header);
                        self.start_frame(&header)?;
                        self.header.clear();
                    }
                }
            }
        }
        Ok(())
    }

    fn start_frame(&mut self, header: &[u8]) -> Result<(), DemuxError> {
        let kind = match header[0] {
            0 => StreamKind::Stdin,
            1 => StreamKind::Stdout,
            2 => StreamKind::Stderr,
            other => return Err(DemuxError::UnknownStream(other)),
        };
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        self.current = (len > 0).then_some((kind, len));
        Ok(())
    }

    /// Call at end of stream: a partial header or payload means the peer cut the stream short.
    pub fn finish(&self) -> Result<(), DemuxError> {
        let left = self.header.len() + self.current.map_or(0, |(_, n)| n);
        if left > 0 {
            Err(DemuxError::Truncated(left))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demux_in_chunks(stream: &[u8], chunk: usize) -> (Vec<u8>, Vec<u8>) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut demuxer = Demuxer::new();
        for piece in stream.chunks(chunk) {
            demuxer
                .feed(piece, |kind, bytes| match kind {
                    StreamKind::Stderr => err.extend_from_slice(bytes),
                    _ => out.extend_from_slice(bytes),
                })
                .unwrap();
        }
        demuxer.finish().unwrap();
        (out, err)
    }

    #[test]
    fn the_header_is_dockers() {
        assert_eq!(
            frame_header(StreamKind::Stderr, 0x0102_0304),
            [2, 0, 0, 0, 1, 2, 3, 4]
        );
        assert_eq!(
            encode_frame(StreamKind::Stdout, b"hi"),
            [1, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']
        );
    }

    #[test]
    fn frames_come_back_whole_whatever_the_chunking() {
        let mut stream = encode_frame(StreamKind::Stdout, b"hello\n");
        stream.extend(encode_frame(StreamKind::Stderr, b"oops\n"));
        stream.extend(encode_frame(StreamKind::Stdout, b""));
        stream.extend(encode_frame(StreamKind::Stdout, &vec![b'x'; 70_000]));
        for chunk in [1, 3, 7, 8, 9, 4096, stream.len()] {
            let (out, err) = demux_in_chunks(&stream, chunk);
            assert_eq!(&out[..6], b"hello\n", "chunk size {chunk}");
            assert_eq!(out.len(), 6 + 70_000, "chunk size {chunk}");
            assert_eq!(err, b"oops\n", "chunk size {chunk}");
        }
    }

    #[test]
    fn unknown_stream_type_and_truncation_are_errors() {
        let mut d = Demuxer::new();
        assert_eq!(
            d.feed(&[5, 0, 0, 0, 0, 0, 0, 1, b'x'], |_, _| {}),
            Err(DemuxError::UnknownStream(5))
        );
        let f = encode_frame(StreamKind::Stdout, b"hello");
        let mut d = Demuxer::new();
        d.feed(&f[..10], |_, _| {}).unwrap();
        assert_eq!(d.finish(), Err(DemuxError::Truncated(3)));
        let mut d = Demuxer::new();
        d.feed(&f[..4], |_, _| {}).unwrap();
        assert_eq!(d.finish(), Err(DemuxError::Truncated(4)));
    }
}
