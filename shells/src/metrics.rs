//! What a worker, a bridge or an assembler does, counted for Prometheus: `--metrics ADDR`
//! serves the counts as Prometheus text on `http://ADDR/metrics` (prometheus-client's
//! registry and encoder, behind a small HTTP/1.1 responder). The counts are kept whether or
//! not they are served: an atomic add per tile or message.
use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Metric, Registry};

use crate::log::{info, warn};

/// The longest dead-letter reason kept as a label.
const MAX_REASON_LABEL: usize = 64;

/// The most distinct reasons labelled; others count as "other". Reasons are sentences with
/// their numbers taken out, so a sender cannot make a label per number, but a bound holds
/// whatever a future reason says.
const MAX_REASONS: usize = 32;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    topic: String,
    partition: i32,
}

/// Every count this process keeps.
pub struct Metrics {
    registry: Registry,
    pub tiles_computed: Counter,
    pub kernel_steps: Counter,
    pub answers_delivered: Counter,
    pub delivery_failures: Counter,
    dead_letters: Family<ReasonLabel, Counter>,
    /// The reasons labelled so far.
    reasons: Mutex<HashSet<String>>,
    pub jobs_in_flight: Gauge,
    pub jobs_completed: Counter,
    pub jobs_failed: Counter,
    pub jobs_expired: Counter,
    pub jobs_forgotten: Counter,
    pub conflicting_results: Counter,
    pub job_seconds: Histogram,
    consumer_lag: Family<PartitionLabel, Gauge>,
}

/// `metric`, registered under `name`: the registry keeps a handle on the same count.
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

/// This process's counts.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("fixedbrot");
        let r = &mut registry;
        Metrics {
            tiles_computed: registered(
                r,
                "tiles_computed",
                "Tiles computed by this worker (by its board, for a bridge)",
                Counter::default(),
            ),
            kernel_steps: registered(
                r,
                "kernel_steps",
                "Kernel iterations of the tiles computed: the sum of their counts",
                Counter::default(),
            ),
            answers_delivered: registered(
                r,
                "answers_delivered",
                "Messages produced in answer to consumed ones (results, refusals, markers \
                 passed on, dead letters) that the brokers acknowledged",
                Counter::default(),
            ),
            delivery_failures: registered(
                r,
                "delivery_failures",
                "Messages the producer gave up delivering",
                Counter::default(),
            ),
            dead_letters: registered(
                r,
                "dead_letters",
                "Messages copied to the dead-letter topic, by reason",
                Family::default(),
            ),
            reasons: Mutex::default(),
            jobs_in_flight: registered(
                r,
                "jobs_in_flight",
                "Jobs being assembled",
                Gauge::default(),
            ),
            jobs_completed: registered(
                r,
                "jobs_completed",
                "Jobs whose image was written",
                Counter::default(),
            ),
            jobs_failed: registered(
                r,
                "jobs_failed",
                "Jobs failed by a worker's refusal",
                Counter::default(),
            ),
            jobs_expired: registered(
                r,
                "jobs_expired",
                "Jobs freed after --idle-timeout without a new tile",
                Counter::default(),
            ),
            jobs_forgotten: registered(
                r,
                "jobs_forgotten",
                "Jobs set aside whose records were dropped because jobs set aside filled \
                 --max-mib (a later tile starts them afresh)",
                Counter::default(),
            ),
            conflicting_results: registered(
                r,
                "conflicting_results",
                "Second copies of a tile with other counts or fractions: settled by computing \
                 the tile, the copy dead-lettered",
                Counter::default(),
            ),
            job_seconds: registered(
                r,
                "job_seconds",
                "Seconds from a job's first message here to its image written",
                // 10 ms to about 3 minutes.
                Histogram::new(exponential_buckets(0.01, 2.0, 15)),
            ),
            consumer_lag: registered(
                r,
                "consumer_lag",
                "Messages behind the end of each assigned partition, from librdkafka's statistics",
                Family::default(),
            ),
            registry,
        }
    }

    /// Counts a tile computed, and its kernel steps (the sum of its counts).
    pub fn computed(&self, steps: u64) {
        self.tiles_computed.inc();
        self.kernel_steps.inc_by(steps);
    }

    /// Counts a dead letter under its reason's first clause, numbers written as N.
    pub fn dead_letter(&self, reason: &str) {
        let clause = reason.split(':').next().unwrap_or(reason).trim();
        let mut label = String::new();
        for c in clause.chars().take(MAX_REASON_LABEL) {
            match c {
                '0'..='9' if label.ends_with('N') => {}
                '0'..='9' => label.push('N'),
                c => label.push(c),
            }
        }
        let mut label = ReasonLabel { reason: label };
        if self.reasons.lock().map_or(true, |mut reasons| {
            reasons.insert(label.reason.clone()) && reasons.len() > MAX_REASONS && {
                reasons.remove(&label.reason);
                true
            }
        }) {
            label.reason = "other".into();
        }
        self.dead_letters.get_or_create(&label).inc();
    }

    /// Drops a partition's lag: it is no longer this process's to read.
    pub fn forget_lag(&self, topic: &str, partition: i32) {
        self.consumer_lag.remove(&PartitionLabel {
            topic: topic.to_owned(),
            partition,
        });
    }

    /// Sets a partition's consumer lag.
    pub fn lag(&self, topic: &str, partition: i32, lag: i64) {
        self.consumer_lag
            .get_or_create(&PartitionLabel {
                topic: topic.to_owned(),
                partition,
            })
            .set(lag);
    }

    /// The counts in Prometheus's text format.
    pub fn text(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

static SERVING: AtomicBool = AtomicBool::new(false);

/// Whether `--metrics` serves the counts (consumers then ask librdkafka for statistics).
pub fn serving() -> bool {
    SERVING.load(Ordering::Relaxed)
}

/// Serves the counts on `address` from a thread of its own; fails now if it cannot listen.
pub fn serve(address: SocketAddr) -> Result<(), String> {
    let listener = TcpListener::bind(address).map_err(|e| format!("--metrics {address}: {e}"))?;
    let bound = listener.local_addr().unwrap_or(address);
    SERVING.store(true, Ordering::Relaxed);
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || accept(listener))
        .map_err(|e| format!("starting the metrics thread: {e}"))?;
    info!(address = %bound, "Metrics on http://{bound}/metrics");
    Ok(())
}

/// The most clients served at once. Past it, the one connected longest is cut off to make
/// room: a scrape (answered in a millisecond) always gets in, whatever idle or slow clients
/// hold, and no number of them grows the process past this many small threads.
const MAX_CLIENTS: usize = 256;

/// A client's thread needs little: a request head and the counts' text are on the heap.
const CLIENT_STACK: usize = 128 << 10;

/// Accepts clients for ever, each served on a thread of its own within `CLIENT_TIME`.
fn accept(listener: TcpListener) {
    let clients = std::sync::Arc::new(Clients::default());
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                // Out of descriptors, say: wait a moment rather than spin on the error.
                warn!("serving metrics: {error}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let Some(id) = clients.admit(&stream) else {
            continue;
        };
        let served = std::sync::Arc::clone(&clients);
        let spawned = std::thread::Builder::new()
            .name("metrics-client".into())
            .stack_size(CLIENT_STACK)
            .spawn(move || {
                // A client that is slow, silent or gone is its own problem, not the log's.
                let theirs = [
                    io::ErrorKind::TimedOut,
                    io::ErrorKind::WouldBlock,
                    io::ErrorKind::ConnectionReset,
                    io::ErrorKind::BrokenPipe,
                    io::ErrorKind::NotConnected,
                ];
                if let Err(error) = respond(stream) {
                    if !theirs.contains(&error.kind()) {
                        warn!("serving metrics: {error}");
                    }
                }
                served.leave(id);
            });
        if spawned.is_err() {
            clients.leave(id);
        }
    }
}

/// The clients being served: a handle on each connection, oldest first, to cut it off.
#[derive(Default)]
struct Clients {
    open: Mutex<std::collections::VecDeque<(u64, TcpStream)>>,
    next: std::sync::atomic::AtomicU64,
}

impl Clients {
    /// Registers a client, cutting off the oldest if all places are taken; its id.
    fn admit(&self, stream: &TcpStream) -> Option<u64> {
        let handle = stream.try_clone().ok()?;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.len() >= MAX_CLIENTS {
            if let Some((_, oldest)) = open.pop_front() {
                // Its thread's read or write fails at once, and the thread ends.
                let _ = oldest.shutdown(std::net::Shutdown::Both);
            }
        }
        open.push_back((id, handle));
        Some(id)
    }

    fn leave(&self, id: u64) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|(other, _)| *other != id);
    }
}

/// The longest request head read: a scraper's is a few hundred bytes.
const MAX_REQUEST: usize = 8192;

/// How long one client may take, its request and the reply together.
const CLIENT_TIME: Duration = Duration::from_secs(2);

/// Answers one HTTP request: the counts for `GET /metrics`, an error status for anything else.
/// A client has `CLIENT_TIME` in all, however it trickles its bytes.
fn respond(mut stream: TcpStream) -> io::Result<()> {
    let deadline = Instant::now() + CLIENT_TIME;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "a client took too long"))
    };
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        stream.set_read_timeout(Some(left()?))?;
        let read = stream.read(&mut buf)?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buf[..read]);
        if head.len() > MAX_REQUEST {
            return reply(&mut stream, "431 Request Header Fields Too Large", "");
        }
    }
    stream.set_write_timeout(Some(left()?))?;
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    match (words.next(), words.next()) {
        (Some(b"GET"), Some(b"/metrics")) => reply(&mut stream, "200 OK", &metrics().text()),
        (Some(b"GET"), Some(_)) => reply(&mut stream, "404 Not Found", "see /metrics\n"),
        (Some(_), Some(_)) => reply(&mut stream, "405 Method Not Allowed", ""),
        _ => reply(&mut stream, "400 Bad Request", ""),
    }
}

fn reply(stream: &mut TcpStream, status: &str, body: &str) -> io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_reasons_are_labelled_by_their_first_clause() {
        let metrics = Metrics::new();
        metrics.dead_letter("invalid job or tile: the view is empty");
        metrics.dead_letter("invalid job or tile: no iterations");
        metrics.dead_letter("a response on the requests topic");
        // A number a sender chose makes no label of its own.
        metrics.dead_letter("70000x2 is 140000 pixels, above --max-pixels");
        metrics.dead_letter("9x9 is 81 pixels, above --max-pixels");
        for n in 0..40 {
            metrics.dead_letter(&format!("reason {}", "x".repeat(n)));
        }
        let text = metrics.text();
        assert!(
            text.contains("reason=\"NxN is N pixels, above --max-pixels\"} 2"),
            "{text}"
        );
        assert!(text.contains("reason=\"other\"} 11"), "{text}");
        assert!(
            text.contains("fixedbrot_dead_letters_total{reason=\"invalid job or tile\"} 2"),
            "{text}"
        );
        assert!(text.contains("reason=\"a response on the requests topic\"} 1"));
    }

    #[test]
    fn a_scrape_gets_the_counts_and_anything_else_an_error_status() {
        metrics().tiles_computed.inc_by(3);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(3) {
                let _ = respond(stream.unwrap());
            }
        });
        let ask = |request: &str| {
            let mut stream = TcpStream::connect(address).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            answer
        };
        let scrape = ask("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(scrape.starts_with("HTTP/1.1 200 OK\r\n"), "{scrape}");
        assert!(
            scrape.contains("\nfixedbrot_tiles_computed_total "),
            "{scrape}"
        );
        assert!(ask("GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(ask("POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
    }

    /// Before, clients were served one at a time with 2 s each: ten idle connections made a
    /// scrape wait 20 s (Prometheus gives up at 10), and slow-drip clients starved it.
    #[test]
    fn a_scrape_answers_within_a_second_while_hundreds_of_idle_and_slow_clients_are_open() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || accept(listener));
        let idle: Vec<TcpStream> = (0..300)
            .map(|_| TcpStream::connect(address).unwrap())
            .collect();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let drips: Vec<_> = (0..50)
            .map(|_| {
                let stop = std::sync::Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut stream = TcpStream::connect(address).unwrap();
                    while !stop.load(Ordering::Relaxed) {
                        // One byte of a request head every 50 ms, never its end.
                        if stream.write_all(b"G").is_err() {
                            stream = TcpStream::connect(address).unwrap();
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        for _ in 0..3 {
            let started = Instant::now();
            let mut stream = TcpStream::connect(address).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(1)))
                .unwrap();
            stream
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
            assert!(started.elapsed() < Duration::from_secs(1));
        }
        stop.store(true, Ordering::Relaxed);
        for drip in drips {
            drip.join().unwrap();
        }
        drop(idle);
    }
}
