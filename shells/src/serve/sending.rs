//! What a client that does not read can hold: a connection whose writes stall for
//! [`STALL`] is closed, and a download is sent in pieces while it holds one of the few
//! download slots, given back once its last piece is handed to the connection, or when the
//! time its size allows has passed. A probe's 40 sockets that never read their downloads
//! held 1.45 GB.
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Sleep;

/// How long a write may wait for the client to read.
pub const STALL: Duration = Duration::from_secs(20);

/// A connection whose writes give up after [`STALL`] without progress.
pub struct Stalling<T> {
    io: T,
    /// Set while a write waits, from when it began to.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> Stalling<T> {
    pub fn new(io: T) -> Stalling<T> {
        Stalling { io, stalled: None }
    }

    /// `polled` as it is, unless it has waited for [`STALL`]: then an error, which closes
    /// the connection.
    fn watch<R>(
        &mut self,
        polled: Poll<io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<R>> {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let timer = (self.stalled).get_or_insert_with(|| Box::pin(tokio::time::sleep(STALL)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Stalling<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Stalling<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch(polled, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.watch(polled, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_flush(cx);
        this.watch(polled, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_shutdown(cx);
        this.watch(polled, cx)
    }
}

/// The pieces a download is handed to its connection in.
const PIECE: usize = 64 << 10;

/// The slowest a download may be read, after [`STALL`]: 64 KiB/s.
const SLOWEST: u64 = 64 << 10;

/// A download's PNG and its slot, the body of its response: handed over a piece at a time,
/// each piece a copy, so that what a connection has not sent is a piece, not the PNG.
pub struct Download {
    png: Vec<u8>,
    sent: usize,
    deadline: Instant,
    _slot: OwnedSemaphorePermit,
}

impl Download {
    pub fn new(png: Vec<u8>, slot: OwnedSemaphorePermit) -> Download {
        let allowed = STALL + Duration::from_secs(png.len() as u64 / SLOWEST);
        Download {
            png,
            sent: 0,
            deadline: Instant::now() + allowed,
            _slot: slot,
        }
    }
}

impl http_body::Body for Download {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let rest = &this.png[this.sent..];
        if rest.is_empty() {
            return Poll::Ready(None);
        }
        if Instant::now() > this.deadline {
            let late = io::Error::new(io::ErrorKind::TimedOut, "the client reads too slowly");
            return Poll::Ready(Some(Err(late)));
        }
        let piece = Bytes::copy_from_slice(&rest[..PIECE.min(rest.len())]);
        this.sent += piece.len();
        Poll::Ready(Some(Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent == self.png.len()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact((self.png.len() - self.sent) as u64)
    }
}
