//! A download, sent in pieces while it holds one of the few download slots, given back once
//! its last piece is handed to the connection, or when the time its size allows has passed
//! (a connection whose writes stall is closed: [`super::connections`]). A probe's 40
//! sockets that never read their downloads held 1.45 GB.
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::OwnedSemaphorePermit;

use super::connections::STALL;

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
