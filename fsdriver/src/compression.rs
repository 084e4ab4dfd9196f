//! Layer compression, recognised by magic bytes rather than trusted from a media type or a
//! file name (what `docker import` does too).

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
const BZIP2_MAGIC: &[u8] = b"BZh";
/// Long enough for every magic above.
const MAGIC_LEN: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

#[derive(Debug, thiserror::Error)]
pub enum CompressionError {
    #[error("{0}-compressed layers are not supported (use gzip, zstd or an uncompressed tar)")]
    Unsupported(&'static str),
    #[error("reading the layer stream: {0}")]
    Read(#[source] io::Error),
    #[error("starting the zstd decoder: {0}")]
    Zstd(#[source] io::Error),
}

impl CompressionError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            CompressionError::Unsupported(_) | CompressionError::Read(_) => {
                crate::ErrorKind::InvalidArgument
            }
            CompressionError::Zstd(_) => crate::ErrorKind::Internal,
        }
    }
}

impl Compression {
    /// Recognises a stream by its first bytes; anything unrecognised is taken as a plain tar.
    pub fn detect(head: &[u8]) -> Result<Compression, CompressionError> {
        if head.starts_with(GZIP_MAGIC) {
            Ok(Compression::Gzip)
        } else if head.starts_with(ZSTD_MAGIC) {
            Ok(Compression::Zstd)
        } else if head.starts_with(XZ_MAGIC) {
            Err(CompressionError::Unsupported("xz"))
        } else if head.starts_with(BZIP2_MAGIC) {
            Err(CompressionError::Unsupported("bzip2"))
        } else {
            Ok(Compression::None)
        }
    }

    /// The OCI media type of a layer blob with this compression.
    pub fn oci_layer_media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// A stream whose first bytes were read ahead, put back in front of the rest.
pub type Sniffed<R> = io::Chain<io::Cursor<Vec<u8>>, R>;

/// Peeks at the start of `reader`, and returns its compression with a reader that yields the
/// whole stream still compressed (the peeked bytes included).
pub fn sniff<R: Read>(mut reader: R) -> Result<(Compression, Sniffed<R>), CompressionError> {
    let mut head = [0u8; MAGIC_LEN];
    let mut filled = 0;
    while filled < MAGIC_LEN {
        match reader.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CompressionError::Read(e)),
        }
    }
    let head = head[..filled].to_vec();
    let compression = Compression::detect(&head)?;
    Ok((compression, io::Cursor::new(head).chain(reader)))
}

/// Peeks at the start of `reader`, and returns its compression with a reader that yields the
/// decompressed stream (the peeked bytes included).
pub fn decompress<'a>(
    reader: impl Read + 'a,
) -> Result<(Compression, Box<dyn Read + 'a>), CompressionError> {
    let (compression, whole) = sniff(reader)?;
    let decompressed: Box<dyn Read + 'a> = match compression {
        Compression::None => Box::new(whole),
        // Multi-member, like Go's gzip reader: concatenated gzip streams are one layer.
        Compression::Gzip => Box::new(MultiGzDecoder::new(whole)),
        Compression::Zstd => Box::new(zstd::Decoder::new(whole).map_err(CompressionError::Zstd)?),
    };
    Ok((compression, decompressed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn round_trip(compressed: &[u8]) -> (Compression, Vec<u8>) {
        let (c, mut r) = decompress(compressed).unwrap();
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        (c, out)
    }

    #[test]
    fn detects_and_decompresses() {
        let data = b"some layer bytes".repeat(100);
        assert_eq!(round_trip(&data), (Compression::None, data.clone()));

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        assert_eq!(
            round_trip(&gz.finish().unwrap()),
            (Compression::Gzip, data.clone())
        );

        let zst = zstd::encode_all(&data[..], 1).unwrap();
        assert_eq!(round_trip(&zst), (Compression::Zstd, data.clone()));

        assert_eq!(round_trip(b"ab"), (Compression::None, b"ab".to_vec()));
        assert_eq!(round_trip(b""), (Compression::None, Vec::new()));
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&b"x".repeat(10_000)).unwrap();
        let gz = gz.finish().unwrap();
        let (_, mut r) = decompress(&gz[..gz.len() - 6]).unwrap();
        assert!(r.read_to_end(&mut Vec::new()).is_err());
    }

    #[test]
    fn refuses_xz_and_bzip2_clearly() {
        let err = decompress(&b"\xfd7zXZ\x00rest"[..]).err().unwrap();
        assert!(
            err.to_string()
                .contains("xz-compressed layers are not supported"),
            "{err}"
        );
        let err = decompress(&b"BZh91AY"[..]).err().unwrap();
        assert!(err.to_string().contains("bzip2"), "{err}");
    }
}
