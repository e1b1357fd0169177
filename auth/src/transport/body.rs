//! The response body a client reads: hyper's (HTTP/1.1) or an h2 stream's, either way
//! holding the stream's place in the counts until it is dropped.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tower::BoxError;

use super::pool::Slot;
use super::stats::TransportStats;

/// What a response body keeps counted while it is open (given back by its `Drop`).
#[expect(dead_code, reason = "held only to be dropped with the body")]
pub(crate) enum Hold {
    /// A stream on an HTTP/2 connection of the pool.
    Slot(Slot),
    /// An HTTP/1.1 request (its own connection).
    Http1(Http1Stream),
}

/// An open HTTP/1.1 stream in the stats.
pub(crate) struct Http1Stream(TransportStats);

impl Http1Stream {
    pub(crate) fn open(stats: &TransportStats) -> Self {
        stats.stream_opened();
        Self(stats.clone())
    }
}

impl Drop for Http1Stream {
    fn drop(&mut self) {
        self.0.stream_closed();
    }
}

/// A response body of either HTTP version.
pub struct ResponseBody {
    kind: Kind,
    _hold: Hold,
}

enum Kind {
    Http1(Incoming),
    Http2(h2::RecvStream),
}

impl ResponseBody {
    pub(crate) fn http1(body: Incoming, hold: Hold) -> Self {
        Self {
            kind: Kind::Http1(body),
            _hold: hold,
        }
    }

    pub(crate) fn http2(body: h2::RecvStream, hold: Hold) -> Self {
        Self {
            kind: Kind::Http2(body),
            _hold: hold,
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().kind {
            Kind::Http1(body) => Pin::new(body).poll_frame(cx).map_err(BoxError::from),
            Kind::Http2(body) => poll_h2(body, cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Http1(body) => body.is_end_stream(),
            Kind::Http2(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Http1(body) => body.size_hint(),
            Kind::Http2(_) => SizeHint::default(),
        }
    }
}

/// The next frame of an h2 stream. The window is opened again by what is handed to the
/// reader, so the server never has more than one window in flight to an unread stream.
fn poll_h2(body: &mut h2::RecvStream, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
    match ready!(body.poll_data(cx)) {
        Some(Ok(data)) => {
            // Fails only when the stream is already gone; the next poll says so.
            let _ = body.flow_control().release_capacity(data.len());
            Poll::Ready(Some(Ok(Frame::data(data))))
        }
        Some(Err(error)) => Poll::Ready(Some(Err(error.into()))),
        None => match ready!(body.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(error) => Poll::Ready(Some(Err(error.into()))),
        },
    }
}
