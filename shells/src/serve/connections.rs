//! The explorer's connections: at most [`MAX_CONNECTIONS`], each with a timeout for its
//! request's head, a bound on the head's size, and a timeout on writes that stall (a client
//! that stops reading). When every place is taken, a new connection makes room: the quietest
//! connection that is answering nothing (idle, or still sending a head) is closed at once,
//! else the quietest is closed after its answer, or cut if that takes over [`ANSWER_GRACE`].
//! Probes held all 256 with cheap requests every few seconds, with heads that never end, and
//! with requests for one slow tile, and the page could not be loaded. A newcomer that finds
//! no room gets a one-line 503.
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

use super::tiles::Waiting;

/// The most connections served at once.
const MAX_CONNECTIONS: usize = 256;

/// New connections waiting for a place; past them one is closed at once.
const MAX_WAITING: usize = 64;

/// The time a client has to send a request's head, and the longest a new connection waits
/// for a place.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The most bytes of a request's head buffered: a centre of 4,100 digits a part, and room.
const MAX_HEAD: usize = 32 << 10;

/// How long a connection asked to close may take to finish its answer before it is cut: a
/// probe held every place with requests for one tile of 170 s. The page asks again for a
/// tile whose connection was cut.
const ANSWER_GRACE: Duration = Duration::from_secs(2);

/// How long a write may wait for the client to read.
pub const STALL: Duration = Duration::from_secs(20);

/// The connections open.
pub struct Connections {
    places: Arc<Semaphore>,
    open: Mutex<HashMap<u64, Arc<Life>>>,
    waiting: AtomicUsize,
    next: AtomicU64,
    origin: Instant,
}

/// A connection's last sign of life, what it is answering, and the way to ask it to close.
struct Life {
    origin: Instant,
    /// Milliseconds from `origin` to its last read or write.
    active: AtomicU64,
    /// Requests being answered.
    requests: AtomicUsize,
    close: Notify,
}

/// A request being answered on a connection, counted while it is.
struct Answering(Arc<Life>);

impl Answering {
    fn new(life: &Arc<Life>) -> Answering {
        life.requests.fetch_add(1, Ordering::Relaxed);
        Answering(Arc::clone(life))
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.requests.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Life {
    fn touch(&self) {
        let now = self.origin.elapsed().as_millis() as u64;
        self.active.store(now, Ordering::Relaxed);
    }
}

impl Connections {
    pub fn new() -> Arc<Connections> {
        Arc::new(Connections {
            places: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            open: Mutex::new(HashMap::new()),
            waiting: AtomicUsize::new(0),
            next: AtomicU64::new(0),
            origin: Instant::now(),
        })
    }

    /// Serves `stream` with `service` once it has a place, until it closes or is asked to.
    pub async fn serve(self: Arc<Self>, stream: TcpStream, service: TowerToHyperService<Router>) {
        let Some(_place) = self.admit().await else {
            refuse(&stream);
            return;
        };
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let life = Arc::new(Life {
            origin: self.origin,
            active: AtomicU64::new(0),
            requests: AtomicUsize::new(0),
            close: Notify::new(),
        });
        life.touch();
        self.lock().insert(id, Arc::clone(&life));
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(Stalling::new(stream, Arc::clone(&life)));
        let answering = Arc::clone(&life);
        let service = hyper::service::service_fn(move |request| {
            let (counted, answer) = (Answering::new(&answering), service.call(request));
            async move {
                let _counted = counted;
                answer.await
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .max_buf_size(MAX_HEAD)
            .serve_connection(io, service);
        tokio::pin!(connection);
        tokio::select! {
            _ = connection.as_mut() => {}
            // Answering nothing, it is closed at once (dropped); else after its answer, if
            // that comes within ANSWER_GRACE.
            () = life.close.notified() => if life.requests.load(Ordering::Relaxed) > 0 {
                connection.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(ANSWER_GRACE, connection).await;
            }
        }
        self.lock().remove(&id);
    }

    /// A place: a free one, or, when all are taken, the one the connection quiet longest
    /// gives up when asked; `None` if none comes within [`HEADER_TIMEOUT`], or too many wait.
    async fn admit(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(place) = Arc::clone(&self.places).try_acquire_owned() {
            return Some(place);
        }
        let _waiting = Waiting::join(&self.waiting, MAX_WAITING)?;
        self.close_quietest();
        let freed = Arc::clone(&self.places).acquire_owned();
        tokio::time::timeout(HEADER_TIMEOUT, freed).await.ok()?.ok()
    }

    /// Asks the quietest connection to close, one answering nothing first, and counts it
    /// open no more, so that the next newcomer asks another.
    fn close_quietest(&self) {
        let mut open = self.lock();
        let quietest = (open.iter())
            .min_by_key(|(_, life)| {
                let answering = life.requests.load(Ordering::Relaxed) > 0;
                (answering, life.active.load(Ordering::Relaxed))
            })
            .map(|(&id, _)| id);
        if let Some(life) = quietest.and_then(|id| open.remove(&id)) {
            life.close.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Life>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A one-line 503 for a connection there is no room for, if its socket takes it at once
/// (it is closed either way, and the page asks again after either).
fn refuse(stream: &TcpStream) {
    let reason = "busy: too many connections; try again\n";
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{reason}",
        reason.len()
    );
    let _ = stream.try_write(answer.as_bytes());
}

/// A connection whose writes give up after [`STALL`] without progress, and which tells its
/// [`Life`] of every read and write.
struct Stalling<T> {
    io: T,
    life: Arc<Life>,
    /// Set while a write waits, from when it began to.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> Stalling<T> {
    fn new(io: T, life: Arc<Life>) -> Stalling<T> {
        Stalling {
            io,
            life,
            stalled: None,
        }
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
            self.life.touch();
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
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if polled.is_ready() {
            this.life.touch();
        }
        polled
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
