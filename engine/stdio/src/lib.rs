//! Docker's attach streams, as both ends see them: berthd writes the multiplexed stream and
//! watches for the detach keys; the CLI reads the stream and watches for the keys too (so that
//! it knows it detached rather than saw the container end).

pub mod detach;
pub mod mux;

pub use detach::{DetachKeys, DetachScanner, Scanned};
pub use mux::{encode_frame, frame_header, DemuxError, Demuxer, StreamKind, HEADER_LEN};
