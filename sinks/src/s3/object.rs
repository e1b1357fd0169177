//! One object being filled: its compressed bytes and what names it.

use std::io::{self, Write};
use std::sync::Arc;

use bytes::Bytes;
use kle_core::{Container, LogLine};
use tokio::time::Instant;

use crate::layout::ObjectStamp;
use crate::s3_config::Compression;

/// Compressed output is kept in chunks of at most this size, so a growing object never holds
/// twice its size while a `Vec` doubles, and its parts go to the store without copying.
const CHUNK_BYTES: usize = 1024 * 1024;

/// An append-only byte buffer made of sealed chunks.
#[derive(Debug, Default)]
pub(crate) struct Chunks {
    sealed: Vec<Bytes>,
    current: Vec<u8>,
    len: usize,
}

impl Chunks {
    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The chunks, in order.
    pub(crate) fn into_bytes(mut self) -> Vec<Bytes> {
        if !self.current.is_empty() {
            self.sealed.push(Bytes::from(std::mem::take(&mut self.current)));
        }
        self.sealed
    }
}

impl Write for Chunks {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let written = buf.len();
        while !buf.is_empty() {
            let room = CHUNK_BYTES - self.current.len();
            let take = room.min(buf.len());
            self.current.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.current.len() == CHUNK_BYTES {
                let full = std::mem::take(&mut self.current);
                self.sealed.push(Bytes::from(full));
            }
        }
        self.len += written;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The compressing writer of an object.
enum Compressor {
    None(Chunks),
    Gzip(flate2::write::GzEncoder<Chunks>),
    Zstd(zstd::stream::write::Encoder<'static, Chunks>),
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Compressor::None(_) => "None",
            Compressor::Gzip(_) => "Gzip",
            Compressor::Zstd(_) => "Zstd",
        })
    }
}

/// zstd's default level: most of the ratio at a fraction of the cost of higher levels.
const ZSTD_LEVEL: i32 = 3;

impl Compressor {
    fn new(compression: Compression) -> io::Result<Self> {
        Ok(match compression {
            Compression::None => Compressor::None(Chunks::default()),
            Compression::Gzip => Compressor::Gzip(flate2::write::GzEncoder::new(
                Chunks::default(),
                flate2::Compression::default(),
            )),
            Compression::Zstd => {
                let mut encoder = zstd::stream::write::Encoder::new(Chunks::default(), ZSTD_LEVEL)?;
                // Readers (and `zstd -d`) then verify each object.
                encoder.include_checksum(true)?;
                Compressor::Zstd(encoder)
            }
        })
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Compressor::None(out) => out.write_all(buf),
            Compressor::Gzip(out) => out.write_all(buf),
            Compressor::Zstd(out) => out.write_all(buf),
        }
    }

    /// Compressed bytes produced so far (the compressor's own window is not counted).
    fn held(&self) -> usize {
        match self {
            Compressor::None(out) => out.len(),
            Compressor::Gzip(out) => out.get_ref().len(),
            Compressor::Zstd(out) => out.get_ref().len(),
        }
    }

    fn finish(self) -> io::Result<Chunks> {
        match self {
            Compressor::None(out) => Ok(out),
            Compressor::Gzip(out) => out.finish(),
            Compressor::Zstd(out) => out.finish(),
        }
    }
}

/// An object open for one container instance.
#[derive(Debug)]
pub(crate) struct OpenObject {
    /// Held so the pointer used as the key cannot be reused by another container.
    pub(crate) container: Arc<Container>,
    compressor: Compressor,
    stamp: ObjectStamp,
    crc: crc32fast::Hasher,
    /// Bytes of the lines as the API sent them: what `max_object_bytes` limits.
    pub(crate) raw_bytes: u64,
    pub(crate) opened_at: Instant,
}

impl OpenObject {
    pub(crate) fn new(container: Arc<Container>, compression: Compression) -> io::Result<Self> {
        Ok(Self {
            container,
            compressor: Compressor::new(compression)?,
            stamp: ObjectStamp::new(None, None, 0, 0),
            crc: crc32fast::Hasher::new(),
            raw_bytes: 0,
            opened_at: Instant::now(),
        })
    }

    /// Appends encoded bytes for `lines` (already encoded into `encoded`).
    pub(crate) fn append(&mut self, lines: &[LogLine], encoded: &[u8]) -> io::Result<()> {
        self.compressor.write_all(encoded)?;
        self.crc.update(encoded);
        for line in lines {
            if let Some(ts) = line.timestamp() {
                self.stamp.first.get_or_insert(ts);
                self.stamp.last = Some(ts);
            }
            self.stamp.lines += 1;
            self.raw_bytes += raw_len(line);
        }
        Ok(())
    }

    /// Compressed bytes held in memory.
    pub(crate) fn held(&self) -> usize {
        self.compressor.held()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.stamp.lines == 0
    }

    /// Ends the compression; the object's bytes and what names it.
    pub(crate) fn finish(mut self) -> io::Result<(Arc<Container>, ObjectStamp, Vec<Bytes>)> {
        let chunks = self.compressor.finish()?;
        self.stamp.hash = self.crc.finalize();
        Ok((self.container, self.stamp, chunks.into_bytes()))
    }
}

/// Bytes of a line as the API sent it, newline included.
pub(crate) fn raw_len(line: &LogLine) -> u64 {
    line.raw().len() as u64 + u64::from(line.ends_line())
}

/// An object ready to upload (or whose upload failed and is retried at the next commit).
#[derive(Debug, Clone)]
pub(crate) struct FinishedObject {
    /// The full key, prefix included.
    pub(crate) key: String,
    /// The bytes, in chunks (sharing memory: cloning is cheap).
    pub(crate) chunks: Vec<Bytes>,
    /// Total bytes.
    pub(crate) len: usize,
    /// Lines in the object.
    pub(crate) lines: u64,
    /// `namespace/pod/container`, for logs.
    pub(crate) container: String,
}
