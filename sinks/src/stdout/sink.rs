//! [`StdoutSink`]: encoded lines on standard output, or on any async writer.

use std::io::{self, Write as _};

use async_trait::async_trait;
use kle_core::{Container, Gap, LogBatch};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::task::JoinHandle;

use crate::encode::{Encoder, Format};
use kle_core::Sink;
use kle_core::SinkError;

/// Bytes gathered before they are written even though more lines are waiting.
const WRITE_BYTES: usize = 256 * 1024;

/// Writes lines in a [`Format`] to standard output (or another [`Output`]).
///
/// Batches are encoded into one reused buffer, written at the delivery loop's
/// [`flush`](Sink::flush) (10 ms after the first of them) or when 256 KiB have gathered: a
/// terminal sees lines as they arrive, a pipe gets few large writes. [`commit`](Sink::commit) writes and flushes. A
/// reader that went away (`| head`) gives [`SinkError::Closed`], and a full disk behind a
/// redirection [`SinkError::DiskFull`].
///
/// ```no_run
/// use kle_core::Sink;
/// use kle_sinks::encode::Format;
/// use kle_sinks::stdout::StdoutSink;
///
/// # async fn demo(batch: kle_core::LogBatch) -> Result<(), kle_core::SinkError> {
/// let mut sink = StdoutSink::new(Format::Text { color: true, timestamps: false });
/// sink.write(&batch).await?;
/// sink.commit().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct StdoutSink<O = Stdout> {
    output: O,
    encoder: Encoder,
    buf: Vec<u8>,
    name: String,
}

/// Where a [`StdoutSink`] writes: the process's [`Stdout`], or any [`AsyncWrite`].
///
/// Buffers change hands whole, so an output that writes on another thread copies nothing.
#[async_trait]
pub trait Output: Send {
    /// Writes all of `buf`; returns an empty buffer to encode the next lines into.
    ///
    /// # Errors
    /// The write's, possibly that of an earlier buffer still being written.
    async fn write_buf(&mut self, buf: Vec<u8>) -> io::Result<Vec<u8>>;

    /// Waits until everything handed over is written, and flushes.
    ///
    /// # Errors
    /// As for [`write_buf`](Output::write_buf).
    async fn flush(&mut self) -> io::Result<()>;
}

#[async_trait]
impl<W: AsyncWrite + Unpin + Send> Output for W {
    async fn write_buf(&mut self, mut buf: Vec<u8>) -> io::Result<Vec<u8>> {
        self.write_all(&buf).await?;
        buf.clear();
        Ok(buf)
    }

    async fn flush(&mut self) -> io::Result<()> {
        AsyncWriteExt::flush(self).await
    }
}

/// The process's standard output, written on tokio's blocking pool one buffer at a time: the
/// next lines are encoded while the last are being written.
#[derive(Debug, Default)]
pub struct Stdout {
    writing: Option<JoinHandle<io::Result<Vec<u8>>>>,
}

impl Stdout {
    /// Waits for the buffer being written; returns it, emptied.
    async fn written(&mut self) -> io::Result<Vec<u8>> {
        match self.writing.take() {
            Some(writing) => writing.await.map_err(io::Error::other)?,
            None => Ok(Vec::new()),
        }
    }
}

#[async_trait]
impl Output for Stdout {
    async fn write_buf(&mut self, buf: Vec<u8>) -> io::Result<Vec<u8>> {
        let spare = self.written().await?;
        self.writing = Some(tokio::task::spawn_blocking(move || {
            let mut buf = buf;
            // Lines end in newlines: std's line buffering passes them straight through.
            io::stdout().lock().write_all(&buf)?;
            buf.clear();
            Ok(buf)
        }));
        Ok(spare)
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.written().await?;
        tokio::task::spawn_blocking(|| io::stdout().lock().flush())
            .await
            .map_err(io::Error::other)?
    }
}

impl StdoutSink<Stdout> {
    /// A sink writing `format` to the process's standard output.
    pub fn new(format: Format) -> Self {
        Self::from_writer(Stdout::default(), format).with_name("stdout")
    }
}

impl<O: Output> StdoutSink<O> {
    /// A sink writing `format` to `output` (a pipe, a socket, a buffer in tests).
    pub fn from_writer(output: O, format: Format) -> Self {
        Self {
            output,
            encoder: Encoder::new(format),
            buf: Vec::with_capacity(64 * 1024),
            name: "writer".into(),
        }
    }

    /// Labels every line with its cluster, `name` (see [`Encoder::with_cluster`]).
    #[must_use]
    pub fn with_cluster(mut self, name: Option<&str>) -> Self {
        self.encoder = Encoder::new(self.encoder.format()).with_cluster(name);
        self
    }

    /// Names the output in messages and in [`describe`](Sink::describe).
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The format written.
    pub fn format(&self) -> Format {
        self.encoder.format()
    }

    /// The output, e.g. to inspect what a test wrote. Bytes not yet written stay in the sink.
    pub fn into_inner(self) -> O {
        self.output
    }

    fn error(&self, action: &'static str, err: io::Error) -> SinkError {
        SinkError::from_io(action, &self.name, err)
    }

    async fn write_buffered(&mut self) -> Result<(), SinkError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.buf);
        match self.output.write_buf(buf).await {
            Ok(spare) => {
                self.buf = spare;
                Ok(())
            }
            Err(err) => Err(self.error("writing to", err)),
        }
    }
}

#[async_trait]
impl<O: Output> Sink for StdoutSink<O> {
    async fn write(&mut self, batch: &LogBatch) -> Result<(), SinkError> {
        self.encoder.encode(batch, &mut self.buf);
        if self.buf.len() >= WRITE_BYTES {
            self.write_buffered().await?;
        }
        Ok(())
    }

    async fn gap(&mut self, gap: &Gap) -> Result<(), SinkError> {
        self.encoder.encode_gap(gap, &mut self.buf);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        self.write_buffered().await
    }

    async fn commit(&mut self) -> Result<(), SinkError> {
        self.write_buffered().await?;
        let result = self.output.flush().await;
        result.map_err(|err| self.error("flushing", err))
    }

    async fn end_container(&mut self, container: &Container) -> Result<(), SinkError> {
        self.encoder.forget(container);
        Ok(())
    }

    async fn close(&mut self) -> Result<(), SinkError> {
        self.commit().await?;
        // Keep a pathological number of pods from keeping a big buffer after the run.
        self.buf = Vec::new();
        Ok(())
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;
    use kle_core::testing::{batch, container, line};

    /// A writer that fails every write with `error`.
    struct Failing(fn() -> io::Error);

    impl AsyncWrite for Failing {
        fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
            Poll::Ready(Err((self.0)()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn writes_batches_in_the_format_and_flushes_on_commit() {
        let c = container("web-1", "app");
        let mut sink = StdoutSink::from_writer(Vec::new(), Format::PLAIN_TEXT);
        sink.write(&batch(
            &c,
            vec![line("2026-11-23T10:00:00Z", "one"), line("2026-11-23T10:00:01Z", "two")],
        ))
        .await
        .unwrap();
        sink.write(&batch(&c, vec![])).await.unwrap();
        sink.close().await.unwrap();
        assert_eq!(sink.describe(), "writer");
        assert_eq!(
            String::from_utf8(sink.into_inner()).unwrap(),
            "shop/web-1/app one\nshop/web-1/app two\n"
        );
    }

    /// Keeps what is written and counts the writes.
    #[derive(Default)]
    struct Counting {
        bytes: Vec<u8>,
        writes: usize,
    }

    impl AsyncWrite for Counting {
        fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            self.writes += 1;
            self.bytes.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn lines_gather_until_flushed_or_256_kib() {
        let c = container("web-1", "app");
        let mut sink = StdoutSink::from_writer(Counting::default(), Format::RAW_WITH_TIMESTAMPS);
        let one = batch(&c, vec![line("2026-11-23T10:00:00Z", &"x".repeat(1000))]);
        for _ in 0..10 {
            sink.write(&one).await.unwrap();
        }
        assert_eq!(sink.output.writes, 0, "held while more lines come");
        sink.flush().await.unwrap();
        assert_eq!((sink.output.writes, sink.output.bytes.len()), (1, 10 * one.raw_len()));
        sink.flush().await.unwrap();
        assert_eq!(sink.output.writes, 1, "nothing held, nothing written");
        // Between flushes, a busy run still writes every 256 KiB.
        for _ in 0..600 {
            sink.write(&one).await.unwrap();
        }
        assert_eq!(sink.output.writes, 1 + 600 * one.raw_len() / WRITE_BYTES);
        sink.close().await.unwrap();
        let written = sink.into_inner().bytes;
        assert_eq!(written.len(), 610 * one.raw_len());
        assert!(
            written
                .chunks(one.raw_len())
                .all(|c| c == one.lines.raw_slices().concat())
        );
    }

    #[tokio::test]
    async fn broken_pipe_is_closed() {
        let c = container("web-1", "app");
        let mut sink = StdoutSink::from_writer(
            Failing(|| io::Error::from(io::ErrorKind::BrokenPipe)),
            Format::PLAIN_TEXT,
        )
        .with_name("stdout");
        sink.write(&batch(&c, vec![line("2026-11-23T10:00:00Z", "x")]))
            .await
            .unwrap();
        let err = sink.flush().await.unwrap_err();
        assert!(err.is_closed(), "{err:?}");
        assert_eq!(err.to_string(), "stdout was closed by its reader; stopping");
    }

    #[tokio::test]
    async fn no_space_is_disk_full() {
        let c = container("web-1", "app");
        let mut sink = StdoutSink::from_writer(Failing(|| io::Error::from(io::ErrorKind::StorageFull)), Format::Json);
        sink.write(&batch(&c, vec![line("2026-11-23T10:00:00Z", "x")]))
            .await
            .unwrap();
        let err = sink.commit().await.unwrap_err();
        assert!(matches!(err, SinkError::DiskFull { .. }), "{err:?}");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn dev_full_is_disk_full() {
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .await
            .unwrap();
        let c = container("web-1", "app");
        let mut sink = StdoutSink::from_writer(file, Format::RAW_WITH_TIMESTAMPS).with_name("/dev/full");
        // tokio's file may defer the error to the flush.
        let result = match sink.write(&batch(&c, vec![line("2026-11-23T10:00:00Z", "x")])).await {
            Ok(()) => sink.commit().await,
            Err(err) => Err(err),
        };
        let err = result.unwrap_err();
        assert!(matches!(err, SinkError::DiskFull { .. }), "{err:?}");
        assert!(err.to_string().contains("/dev/full"), "{err}");
    }
}
