//! `fixedbrot bridge`: a microcontroller joins the calculation group. Requests from Kafka go
//! to the board over a serial line (or QEMU's TCP-backed UART) as COBS frames, one at a time;
//! tiles larger than the board holds are split into pieces and the result reassembled.
use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fixedbrot_core::limits::{MAX_FRAME_LEN, MAX_TILE_PIXELS};
use fixedbrot_core::wire::{
    self, Deframer, Envelope, Framed, Message, Reason, TileRequest, TileResult,
};
use fixedbrot_core::{Format, Grid, Job, JobId, Rect, TileIndex, View};

use rdkafka::producer::{Producer, ThreadedProducer};

use crate::cli::GuaranteeArgs;
use crate::consumer::{self, Answer, Handler, Incoming, Member};
use crate::kafka::{self, Deliveries, KafkaArgs, CALCULATION_GROUP};
use crate::limits::Limits;
use crate::log::{info, warn};
use crate::metrics::metrics;
use crate::worker;

/// A byte link to a board.
pub trait Link {
    /// Sends bytes, paced for the line.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// The next byte, or `None` if none came within a short wait (about 100 ms).
    fn byte(&mut self) -> io::Result<Option<u8>>;
    /// How long `bytes` take on the line.
    fn transfer_time(&self, bytes: usize) -> Duration;
}

/// A UART behind a TCP socket (QEMU's `-serial tcp:...`, or a serial server).
pub struct TcpLink(BufReader<TcpStream>);

impl TcpLink {
    pub fn connect(address: &str) -> Result<TcpLink, String> {
        let stream = TcpStream::connect(address)
            .map_err(|e| format!("connecting to the board at {address}: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(|e| format!("configuring the connection to {address}: {e}"))?;
        Ok(TcpLink(BufReader::new(stream)))
    }
}

impl Link for TcpLink {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.get_mut().write_all(bytes)
    }

    fn byte(&mut self) -> io::Result<Option<u8>> {
        let mut byte = [0u8];
        match self.0.read(&mut byte) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the board closed the line",
            )),
            Ok(_) => Ok(Some(byte[0])),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn transfer_time(&self, _: usize) -> Duration {
        Duration::ZERO
    }
}

/// A serial device at `baud`, 8N1, raw, no flow control; a read returns after 100 ms of
/// silence.
pub struct SerialLink {
    port: Box<dyn serialport::SerialPort>,
    baud: u32,
}

/// A UART's receive FIFO (16 bytes on the LM3S6965): the most sent before letting the line
/// drain, since real UARTs have no flow control.
const UART_FIFO: usize = 16;

impl SerialLink {
    pub fn open(device: &Path, baud: u32) -> Result<SerialLink, String> {
        let port = serialport::new(device.to_string_lossy(), baud)
            .data_bits(serialport::DataBits::Eight)
            .parity(serialport::Parity::None)
            .stop_bits(serialport::StopBits::One)
            .flow_control(serialport::FlowControl::None)
            .timeout(Duration::from_millis(100))
            .open()
            .map_err(|e| format!("opening {} at {baud} baud: {e}", device.display()))?;
        Ok(SerialLink { port, baud })
    }
}

impl Link for SerialLink {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        for chunk in bytes.chunks(UART_FIFO) {
            self.port.write_all(chunk)?;
            std::thread::sleep(self.transfer_time(chunk.len()));
        }
        Ok(())
    }

    fn byte(&mut self) -> io::Result<Option<u8>> {
        let mut byte = [0u8];
        match self.port.read(&mut byte) {
            Ok(0) => Ok(None),
            Ok(_) => Ok(Some(byte[0])),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn transfer_time(&self, bytes: usize) -> Duration {
        // 10 bits a byte: start, 8 data, stop.
        Duration::from_micros(bytes as u64 * 10 * 1_000_000 / u64::from(self.baud.max(1)))
    }
}

/// A board behind a link: what it holds, how fast it is, and the one request in flight.
pub struct Board<L: Link> {
    link: L,
    /// The board's answers, split into frames as they come.
    frames: Box<Deframer<MAX_FRAME_LEN>>,
    max_pixels: usize,
    steps_per_second: u64,
    pub tiles: u64,
    pub pieces: u64,
}

impl<L: Link> Board<L> {
    /// Asks the board the largest tile it holds: a full-size request at one iteration, which
    /// it computes or refuses with its limit.
    pub fn connect(link: L, steps_per_second: u64) -> Result<Board<L>, String> {
        let mut board = Board {
            link,
            frames: Box::default(),
            max_pixels: MAX_TILE_PIXELS,
            steps_per_second,
            tiles: 0,
            pieces: 0,
        };
        let side = 64;
        let format = Format::I4F28;
        let job = Job {
            format,
            view: View::from_corners(format, "-2,1", "1,-1", side, side)
                .map_err(|e| e.to_string())?,
            grid: Grid {
                width: side,
                height: side,
                tile_width: side,
                tile_height: side,
            },
            iterations: 1,
        };
        let probe = TileRequest {
            job,
            tile: TileIndex(0),
        };
        match board.exchange(JobId(0), &probe)?.message {
            Message::Result(_) => {}
            Message::Refused(refusal) => match refusal.reason {
                Reason::TileTooLarge { max_pixels } if max_pixels > 0 => {
                    board.max_pixels = (max_pixels as usize).min(MAX_TILE_PIXELS)
                }
                other => return Err(format!("the board refused the probe: {other:?}")),
            },
            other => return Err(format!("the board answered the probe with {other:?}")),
        }
        Ok(board)
    }

    /// The largest tile the board takes, in pixels.
    pub fn max_pixels(&self) -> usize {
        self.max_pixels
    }

    /// The encoded answer to `request`: its result, computed by the board in one piece or
    /// several, or the board's refusal.
    pub fn compute(&mut self, job_id: JobId, request: &TileRequest) -> Result<Vec<u8>, String> {
        let job = request.job;
        let rect = job
            .grid
            .rect(request.tile)
            .ok_or("a decoded request's tile exists")?;
        let answer = if rect.pixels() <= self.max_pixels {
            self.pieces += 1;
            self.exchange(job_id, request)?
        } else {
            self.split(job_id, request)?
        };
        self.tiles += 1;
        if let Message::Result(result) = &answer.message {
            metrics().computed(&result.counts);
        }
        let mut buf = vec![0u8; MAX_FRAME_LEN];
        let len = wire::encode(&answer, &mut buf)
            .map_err(|e| format!("re-encoding the board's answer: {e}"))?
            .len();
        buf.truncate(len);
        Ok(buf)
    }

    /// Computes a tile in pieces the board holds: a sub-grid of the same job whose tiles
    /// divide the job's tiles, so each piece is one sub-grid tile inside the original.
    fn split(&mut self, job_id: JobId, request: &TileRequest) -> Result<Envelope, String> {
        let job = request.job;
        let rect = job
            .grid
            .rect(request.tile)
            .ok_or("a decoded request's tile exists")?;
        let (width, height) = (job.grid.tile_width, job.grid.tile_height);
        let max = self.max_pixels as u32;
        let piece_width = largest_divisor_at_most(width, max);
        let piece_height = largest_divisor_at_most(height, max / piece_width);
        let pieces = Job {
            grid: Grid {
                tile_width: piece_width,
                tile_height: piece_height,
                ..job.grid
            },
            ..job
        };
        let mut counts = vec![0u32; rect.pixels()];
        for y in (rect.y..rect.y + rect.height).step_by(piece_height as usize) {
            for x in (rect.x..rect.x + rect.width).step_by(piece_width as usize) {
                let tile = pieces
                    .grid
                    .tile_at(x, y)
                    .ok_or("a piece lies inside the image")?;
                let piece = TileRequest { job: pieces, tile };
                self.pieces += 1;
                let answer = self.exchange(job_id, &piece)?;
                let result = match answer.message {
                    Message::Result(result) => result,
                    // A refused piece fails the whole tile, under the tile's own index.
                    Message::Refused(mut refusal) => {
                        refusal.tile = Some(request.tile);
                        return Ok(Envelope {
                            job_id,
                            message: Message::Refused(refusal),
                        });
                    }
                    _ => {
                        return Err(
                            "the board answered a piece with neither result nor refusal".into()
                        )
                    }
                };
                let sub = pieces.grid.rect(tile).ok_or("the piece's rectangle")?;
                let within_tile = Rect {
                    x: sub.x - rect.x,
                    y: sub.y - rect.y,
                    ..sub
                };
                within_tile
                    .copy_into(&result.counts, &mut counts, rect.width)
                    .ok_or("the board's piece does not fit its tile")?;
            }
        }
        let counts =
            heapless::Vec::from_slice(&counts).map_err(|_| "a tile fits MAX_TILE_PIXELS")?;
        Ok(Envelope {
            job_id,
            message: Message::Result(TileResult {
                job,
                tile: request.tile,
                counts,
            }),
        })
    }

    /// Sends one request and waits, for a time scaled by its work, for the board's answer to
    /// it: a result for that very tile, or a refusal.
    fn exchange(&mut self, job_id: JobId, request: &TileRequest) -> Result<Envelope, String> {
        let envelope = Envelope {
            job_id,
            message: Message::Request(*request),
        };
        let mut buf = vec![0u8; MAX_FRAME_LEN];
        let frame = wire::encode_cobs(&envelope, &mut buf)
            .map_err(|e| format!("encoding a request: {e}"))?;
        let pixels = request.pixels() as u64;
        let timeout = self.timeout(pixels, request.job.iterations);
        self.link
            .send(frame)
            .map_err(|e| format!("sending to the board: {e}"))?;
        let started = Instant::now();
        loop {
            let answer = self.frame(started + timeout).map_err(|e| {
                format!(
                    "the board did not answer tile {} of job {:016x} within {} s ({e})",
                    request.tile.0,
                    job_id.0,
                    timeout.as_secs()
                )
            })?;
            let Ok(envelope) = wire::decode(&answer) else {
                warn!("the board sent a frame that does not decode; still waiting");
                continue;
            };
            let answers_it = envelope.job_id == job_id
                && match &envelope.message {
                    Message::Result(result) => {
                        result.tile == request.tile && result.job == request.job
                    }
                    Message::Refused(refusal) => refusal.tile.is_none_or(|t| t == request.tile),
                    _ => false,
                };
            if answers_it {
                return Ok(envelope);
            }
            warn!(
                "the board answered something else than tile {}; still waiting",
                request.tile.0
            );
        }
    }

    /// 2 s, plus the line time of the largest frame, plus four times the work at the
    /// board's stated speed.
    fn timeout(&self, pixels: u64, iterations: u32) -> Duration {
        let work = pixels * u64::from(iterations) * 4 * 1000 / self.steps_per_second.max(1);
        Duration::from_secs(2)
            + self.link.transfer_time(MAX_FRAME_LEN)
            + Duration::from_millis(work)
    }

    /// The next frame's message bytes, by `deadline`.
    fn frame(&mut self, deadline: Instant) -> io::Result<Vec<u8>> {
        loop {
            if Instant::now() > deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
            }
            let Some(byte) = self.link.byte()? else {
                continue;
            };
            match self.frames.push(byte) {
                Some(Framed::Frame(frame)) => return Ok(frame.to_vec()),
                Some(Framed::TooLong) => warn!("the board sent a frame longer than any message"),
                Some(Framed::Broken) => warn!("the board sent a frame that is not COBS"),
                None => {}
            }
        }
    }
}

fn largest_divisor_at_most(n: u32, limit: u32) -> u32 {
    (1..=n.min(limit.max(1)))
        .rev()
        .find(|&d| n.is_multiple_of(d))
        .unwrap_or(1)
}

/// Serves requests from Kafka with the board until it stops answering (or a stop signal).
pub fn run<L: Link + Send + 'static>(
    kafka: &KafkaArgs,
    link: L,
    steps_per_second: u64,
    limits: Limits,
    guarantee: &GuaranteeArgs,
) -> Result<(), String> {
    let client_id = kafka::client_id(&format!("{CALCULATION_GROUP}.bridge"));
    let producer: Arc<ThreadedProducer<Deliveries>> = Arc::new(kafka.producer(&client_id)?);
    kafka.require_topics(producer.client(), &kafka.worker_topics())?;
    let board = Board::connect(link, steps_per_second)?;
    info!("Board connected: tiles up to {} pixels", board.max_pixels());
    let member = Member {
        kafka,
        group: CALCULATION_GROUP,
        client_id,
        input: &kafka.requests_topic,
        output: &kafka.responses_topic,
        // One request at a time, so prefetch almost nothing: requests wait in Kafka, where
        // faster workers can take them.
        settings: vec![
            ("queued.max.messages.kbytes", "64".into()),
            ("queued.min.messages", "1".into()),
        ],
        producer,
        transactional_id: guarantee.transactional_id(kafka.group(CALCULATION_GROUP), "bridge"),
    };
    let bridge = Bridge {
        board,
        limits,
        last_report: Instant::now(),
    };
    consumer::run(member, bridge)
}

/// The member's handler: each request computed by the board, everything else answered as a
/// host worker answers it.
struct Bridge<L: Link> {
    board: Board<L>,
    limits: Limits,
    last_report: Instant,
}

impl<L: Link + Send + 'static> Handler for Bridge<L> {
    /// A board takes seconds for a tile: every request is long work.
    fn long(&self, message: &Incoming<'_>) -> bool {
        worker::work(message.payload.unwrap_or_default()) > 0
    }

    fn handle(&mut self, message: &Incoming<'_>) -> Result<Answer, String> {
        let payload = message.payload.unwrap_or_default();
        let answer = match wire::decode_request(payload) {
            Ok((job_id, request)) if self.limits.refuse(&request).is_none() => {
                worker::reply(job_id, self.board.compute(job_id, &request)?, None)
            }
            // Markers, garbage and jobs over the limits: exactly as a host worker does.
            _ => worker::answer(payload, &self.limits),
        };
        let board = &self.board;
        if board.tiles == 1 || self.last_report.elapsed() > Duration::from_secs(2) {
            info!(
                "The board has served {} tiles in {} pieces",
                board.tiles, board.pieces
            );
            self.last_report = Instant::now();
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use fixedbrot_core::render_tile;
    use fixedbrot_core::wire::Refusal;
    use fixedbrot_tests::cases::job;

    use super::*;

    /// A board in memory that answers like the firmware, holding at most `max` pixels.
    struct FakeBoard {
        max: usize,
        incoming: Box<Deframer<MAX_FRAME_LEN>>,
        outgoing: VecDeque<u8>,
        requests: usize,
    }

    impl FakeBoard {
        fn new(max: usize) -> FakeBoard {
            FakeBoard {
                max,
                incoming: Box::default(),
                outgoing: VecDeque::new(),
                requests: 0,
            }
        }

        fn answer(&mut self, frame: &[u8]) -> Envelope {
            self.requests += 1;
            let (job_id, request) = wire::decode_request(frame).unwrap();
            let pixels = request.job.grid.rect(request.tile).unwrap().pixels();
            if pixels > self.max {
                let reason = Reason::TileTooLarge {
                    max_pixels: self.max as u32,
                };
                let refusal = Refusal {
                    tile: Some(request.tile),
                    reason,
                };
                return Envelope {
                    job_id,
                    message: Message::Refused(refusal),
                };
            }
            let mut counts = heapless::Vec::new();
            counts.resize(pixels, 0).unwrap();
            render_tile(&request.job, request.tile, &mut counts).unwrap();
            let result = TileResult {
                job: request.job,
                tile: request.tile,
                counts,
            };
            Envelope {
                job_id,
                message: Message::Result(result),
            }
        }
    }

    impl Link for FakeBoard {
        fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
            for &byte in bytes {
                if let Some(Framed::Frame(frame)) = self.incoming.push(byte) {
                    let frame = frame.to_vec();
                    let answer = self.answer(&frame);
                    let mut buf = vec![0u8; MAX_FRAME_LEN];
                    self.outgoing
                        .extend(wire::encode_cobs(&answer, &mut buf).unwrap().iter());
                }
            }
            Ok(())
        }

        fn byte(&mut self) -> io::Result<Option<u8>> {
            Ok(self.outgoing.pop_front())
        }

        fn transfer_time(&self, _: usize) -> Duration {
            Duration::ZERO
        }
    }

    #[test]
    fn the_probe_learns_the_largest_tile_a_board_holds() {
        assert_eq!(
            Board::connect(FakeBoard::new(4096), 1)
                .unwrap()
                .max_pixels(),
            4096
        );
        assert_eq!(
            Board::connect(FakeBoard::new(700), 1).unwrap().max_pixels(),
            700
        );
    }

    #[test]
    fn tiles_larger_than_the_board_are_split_and_reassembled_exactly() {
        let default = job(
            Format::I4F28,
            "-2.2,1.2",
            "1.0,-1.2",
            (640, 480),
            128,
            (64, 64),
        );
        let odd = job(Format::I4F60, "-2,1.5", "1,-1.5", (100, 33), 256, (7, 5));
        for (job, max) in [
            (default, 1000),
            (default, 64),
            (default, 4096),
            (odd, 3),
            (odd, 34),
        ] {
            let mut board = Board::connect(FakeBoard::new(max), 1_000_000).unwrap();
            for tile in [
                0,
                job.grid.columns() - 1,
                job.grid.tiles() / 2,
                job.grid.tiles() - 1,
            ] {
                let request = TileRequest {
                    job,
                    tile: TileIndex(tile),
                };
                let answer = board.compute(JobId(5), &request).unwrap();
                assert_eq!(
                    answer,
                    crate::worker::compute(JobId(5), &request),
                    "tile {tile}, board of {max}"
                );
            }
            let pieces = board.link.requests - 1; // less the probe
            assert!(
                max >= 4096 || pieces > 4,
                "{pieces} pieces for a board of {max} pixels"
            );
        }
    }
}
