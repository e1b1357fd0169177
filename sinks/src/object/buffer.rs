//! One object being filled: its compressed bytes and what names it.

use std::io::{self, Write};
use std::sync::Arc;

use bytes::Bytes;
use jiff::Timestamp;
use kle_core::Container;
use kle_core::lines::Lines;
use tokio::time::Instant;

use crate::layout::ObjectStamp;
use crate::object::config::Compression;

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

/// Lines are compressed in blocks of this many bytes, each an independent zstd frame or gzip
/// member (a valid `.zst` / `.gz` file is any sequence of them), by one compressor shared by
/// all objects. A streaming compressor per open object would hold its window and tables for
/// every container: about 2.5 MiB each for zstd, 500 MiB for 200 containers.
pub(crate) const BLOCK_BYTES: usize = 256 * 1024;

/// zstd's default level: most of the ratio at a fraction of the cost of higher levels.
const ZSTD_LEVEL: i32 = 3;

/// The compressor shared by the open objects.
pub(crate) enum BlockCompressor {
    None,
    Gzip,
    Zstd(Box<zstd::bulk::Compressor<'static>>),
}

impl std::fmt::Debug for BlockCompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BlockCompressor::None => "None",
            BlockCompressor::Gzip => "Gzip",
            BlockCompressor::Zstd(_) => "Zstd",
        })
    }
}

impl BlockCompressor {
    pub(crate) fn new(compression: Compression) -> io::Result<Self> {
        Ok(match compression {
            Compression::None => BlockCompressor::None,
            Compression::Gzip => BlockCompressor::Gzip,
            Compression::Zstd => {
                let mut zstd = zstd::bulk::Compressor::new(ZSTD_LEVEL)?;
                // Readers (and `zstd -d`) then verify each frame.
                zstd.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
                BlockCompressor::Zstd(Box::new(zstd))
            }
        })
    }

    /// Appends the compressed form of `block` to `out`.
    fn compress(&mut self, block: &[u8], out: &mut Chunks) -> io::Result<()> {
        if block.is_empty() {
            return Ok(());
        }
        match self {
            BlockCompressor::None => out.write_all(block),
            BlockCompressor::Gzip => {
                // Level 1: gzip is here for compatibility, zstd for ratio; level 6 ran at
                // 15 MiB/s, a bottleneck for a busy node.
                let mut gzip = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
                gzip.write_all(block)?;
                gzip.finish().map(drop)
            }
            BlockCompressor::Zstd(zstd) => out.write_all(&zstd.compress(block)?),
        }
    }

    fn passes_through(&self) -> bool {
        matches!(self, BlockCompressor::None)
    }
}

/// An object open for one container instance.
#[derive(Debug)]
pub(crate) struct OpenObject {
    /// Held so the pointer used as the key cannot be reused by another container.
    pub(crate) container: Arc<Container>,
    /// Encoded bytes not compressed yet (less than a block).
    pending: Vec<u8>,
    /// Compressed bytes.
    out: Chunks,
    stamp: ObjectStamp,
    /// Holds a gap marker (an object may hold nothing else).
    has_marker: bool,
    crc: crc32fast::Hasher,
    /// Bytes of the lines as the API sent them: what `max_object_bytes` limits.
    pub(crate) raw_bytes: u64,
    pub(crate) opened_at: Instant,
}

impl OpenObject {
    pub(crate) fn new(container: Arc<Container>) -> Self {
        Self {
            container,
            pending: Vec::new(),
            out: Chunks::default(),
            stamp: ObjectStamp::new(None, None, 0, 0),
            has_marker: false,
            crc: crc32fast::Hasher::new(),
            raw_bytes: 0,
            opened_at: Instant::now(),
        }
    }

    /// Appends encoded bytes for `lines` (already encoded into `encoded`).
    pub(crate) fn append(&mut self, lines: &Lines, encoded: &[u8], compressor: &mut BlockCompressor) -> io::Result<()> {
        if compressor.passes_through() {
            self.out.write_all(encoded)?;
        } else {
            // Blocks never grow past BLOCK_BYTES, so `pending` keeps its one allocation.
            if self.pending.len() + encoded.len() > BLOCK_BYTES {
                compressor.compress(&self.pending, &mut self.out)?;
                self.pending.clear();
            }
            if encoded.len() >= BLOCK_BYTES {
                compressor.compress(encoded, &mut self.out)?;
            } else {
                if self.pending.capacity() == 0 {
                    self.pending.reserve_exact(BLOCK_BYTES);
                }
                self.pending.extend_from_slice(encoded);
            }
        }
        self.crc.update(encoded);
        if let Some(first) = lines.first_timestamp() {
            self.stamp.first.get_or_insert(first);
        }
        if let Some(last) = lines.last_timestamp() {
            self.stamp.last = Some(last);
        }
        self.stamp.lines += lines.len() as u64;
        self.raw_bytes += lines.raw_len() as u64;
        Ok(())
    }

    /// Bytes held in memory: compressed, and waiting to be.
    pub(crate) fn held(&self) -> usize {
        self.out.len() + self.pending.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.stamp.lines == 0 && !self.has_marker
    }

    /// Appends a marker (a gap) that is not a line: it counts as no line, and its time
    /// stamps the object only when no line does.
    pub(crate) fn append_marker(
        &mut self,
        encoded: &[u8],
        at: Option<Timestamp>,
        compressor: &mut BlockCompressor,
    ) -> io::Result<()> {
        self.append(&Lines::default(), encoded, compressor)?;
        self.has_marker = true;
        if let Some(at) = at {
            self.stamp.first.get_or_insert(at);
            self.stamp.last = Some(self.stamp.last.map_or(at, |last| last.max(at)));
        }
        Ok(())
    }

    /// Ends the compression; the object's bytes and what names it.
    pub(crate) fn finish(
        mut self,
        compressor: &mut BlockCompressor,
    ) -> io::Result<(Arc<Container>, ObjectStamp, Vec<Bytes>)> {
        compressor.compress(&self.pending, &mut self.out)?;
        self.stamp.hash = self.crc.finalize();
        Ok((self.container, self.stamp, self.out.into_bytes()))
    }
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
