//! The board protocol: one COBS-framed request at a time, an answer awaited for a time scaled
//! by its work, tiles larger than the board holds split into pieces it holds and put
//! together again, and tiles of formats wider than it computes computed here instead.
use std::io;
use std::time::{Duration, Instant};

use fixedbrot_core::limits::{MAX_FRAME_LEN, MAX_TILE_PIXELS};
use fixedbrot_core::smooth::Smooth;
use fixedbrot_core::wire::{
    self, Deframer, Envelope, Framed, Message, Reason, Refusal, TileRequest, TileResult, WireError,
};
use fixedbrot_core::{Format, Grid, Job, JobId, Kernel, Rect, Reference, TileIndex, View, Width};
use fixedbrot_pipeline::cpu;

use super::link::Link;
use crate::log::warn;
use crate::metrics::metrics;

/// Why the board cannot go on serving.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// The probe for the largest tile got another answer than a result or a size.
    #[error("the board {0}")]
    Probe(String),
    /// Writing to the line failed.
    #[error("sending to the board: {0}")]
    Send(io::Error),
    /// No answer to a request in time: the board is stuck.
    #[error("the board did not answer tile {tile} of job {job:016x} within {seconds} s")]
    Silent { tile: u32, job: u64, seconds: u64 },
    /// The line failed while a request was out: the board is gone (a probe of 366e534 was
    /// told "within 4589 s" of a line that had closed at once).
    #[error(
        "the line to the board broke before it answered tile {tile} of job {job:016x}: {cause}"
    )]
    Lost {
        tile: u32,
        job: u64,
        cause: io::Error,
    },
    /// A message could not be encoded (a bug, not the board's).
    #[error("encoding for the board: {0}")]
    Encode(WireError),
    /// The board answered with something that cannot be what it was asked.
    #[error("the board {0}")]
    Answer(&'static str),
}

/// A board behind a link: what it holds, how fast it is, and the one request in flight.
pub struct Board<L: Link> {
    link: L,
    /// The board's answers, split into frames as they come.
    frames: Box<Deframer<MAX_FRAME_LEN>>,
    max_pixels: usize,
    /// The widest format the board computes, in bits, as it says.
    max_bits: u32,
    steps_per_second: u64,
    pub tiles: u64,
    pub pieces: u64,
    /// Tiles too wide for the board, or whose reference orbit it cannot hold, computed here.
    pub on_host: u64,
    /// The most values of a reference orbit the board holds, as it says when it refuses one.
    max_orbit: Option<u32>,
    /// The bound of orbits computed here (`--max-orbit-mib`).
    max_orbit_bytes: u64,
}

impl<L: Link> Board<L> {
    /// Asks the board the largest tile it holds and the widest format it computes: requests
    /// of one iteration, which it computes or refuses with its limit.
    pub fn connect(
        link: L,
        steps_per_second: u64,
        max_orbit_bytes: u64,
    ) -> Result<Board<L>, BoardError> {
        let mut board = Board {
            link,
            frames: Box::default(),
            max_pixels: MAX_TILE_PIXELS,
            max_bits: Width::WIDEST.bits(),
            steps_per_second,
            tiles: 0,
            pieces: 0,
            on_host: 0,
            max_orbit: None,
            max_orbit_bytes,
        };
        board.probe_pixels()?;
        board.probe_bits()?;
        Ok(board)
    }

    /// A full-size tile, which the board computes or refuses with the most pixels it holds.
    fn probe_pixels(&mut self) -> Result<(), BoardError> {
        match self.exchange(JobId(0), &probe(Format::I4F28, 64))?.message {
            Message::Result(_) => {}
            Message::Refused(refusal) => match refusal.reason {
                Reason::TileTooLarge { max_pixels } if max_pixels > 0 => {
                    self.max_pixels = (max_pixels as usize).min(MAX_TILE_PIXELS)
                }
                other => return Err(BoardError::Probe(format!("refused the probe: {other:?}"))),
            },
            other => {
                return Err(BoardError::Probe(format!(
                    "answered the probe with {other:?}"
                )))
            }
        }
        Ok(())
    }

    /// One pixel of the widest format, which the board computes or refuses with the widest
    /// it computes.
    fn probe_bits(&mut self) -> Result<(), BoardError> {
        let widest = Format::Wide(Width::WIDEST);
        match self.exchange(JobId(0), &probe(widest, 1))?.message {
            Message::Result(_) => {}
            Message::Refused(Refusal {
                reason: Reason::TooWide { max_bits },
                ..
            }) => self.max_bits = max_bits,
            other => {
                return Err(BoardError::Probe(format!(
                    "answered the width probe with {other:?}"
                )))
            }
        }
        Ok(())
    }

    /// The widest format the board computes, in bits.
    pub fn max_bits(&self) -> u32 {
        self.max_bits
    }

    /// The largest tile the board takes, in pixels.
    pub fn max_pixels(&self) -> usize {
        self.max_pixels
    }

    /// The encoded answer to `request`: its result, computed by the board in one piece or
    /// several, or the board's refusal.
    pub fn compute(&mut self, job_id: JobId, request: &TileRequest) -> Result<Vec<u8>, BoardError> {
        let job = request.job;
        let rect = job.grid.rect(request.tile).ok_or(BoardError::Answer(
            "was asked for a tile that does not exist",
        ))?;
        let orbit_too_long = job.kernel.is_perturbation()
            && self
                .max_orbit
                .is_some_and(|max| Reference::most_points(&job) > max as usize);
        let mut answer = if job.format.bits() > self.max_bits || orbit_too_long {
            self.here(job_id, request)?
        } else if rect.pixels() <= self.max_pixels {
            self.pieces += 1;
            self.exchange(job_id, request)?
        } else {
            self.split(job_id, request)?
        };
        if let Message::Refused(Refusal { reason, .. }) = answer.message {
            // The board knows its RAM best: believe it from now on, and compute this here.
            match reason {
                Reason::TooWide { max_bits } => self.max_bits = max_bits,
                Reason::OrbitTooLong { max_points } => self.max_orbit = Some(max_points),
                _ => {}
            }
            if matches!(reason, Reason::TooWide { .. } | Reason::OrbitTooLong { .. }) {
                answer = self.here(job_id, request)?;
            }
        }
        self.tiles += 1;
        if let Message::Result(result) = &answer.message {
            metrics().computed(result.counts.iter().map(|&c| u64::from(c)).sum());
        }
        let mut buf = vec![0u8; MAX_FRAME_LEN];
        let len = wire::encode(&answer, &mut buf)
            .map_err(BoardError::Encode)?
            .len();
        buf.truncate(len);
        Ok(buf)
    }

    /// Computes a tile on this host, for a format wider than the board computes or an orbit
    /// longer than it holds: computed elsewhere, never refused for the board's RAM.
    fn here(&mut self, job_id: JobId, request: &TileRequest) -> Result<Envelope, BoardError> {
        let (mut counts, mut smooth) = (heapless::Vec::new(), heapless::Vec::new());
        let pixels = request.pixels();
        let too_large = |_| BoardError::Answer("was asked for a tile larger than any");
        counts.resize(pixels, 0).map_err(too_large)?;
        smooth
            .resize(request.job.fractions(pixels), 0)
            .map_err(too_large)?;
        cpu::render_tile(
            &request.job,
            request.tile,
            &mut counts,
            &mut smooth,
            self.max_orbit_bytes,
        )
        .map_err(|_| BoardError::Answer("was asked for a tile of an invalid job"))?;
        self.on_host += 1;
        Ok(Envelope {
            job_id,
            message: Message::Result(TileResult {
                job: request.job,
                tile: request.tile,
                counts,
                smooth,
            }),
        })
    }

    /// Computes a tile in pieces the board holds: a sub-grid of the same job whose tiles
    /// divide the job's tiles, so each piece is one sub-grid tile inside the original.
    fn split(&mut self, job_id: JobId, request: &TileRequest) -> Result<Envelope, BoardError> {
        let job = request.job;
        let rect = job.grid.rect(request.tile).ok_or(BoardError::Answer(
            "was asked for a tile that does not exist",
        ))?;
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
        let mut smooth = vec![0; job.fractions(rect.pixels())];
        for y in (rect.y..rect.y + rect.height).step_by(piece_height as usize) {
            for x in (rect.x..rect.x + rect.width).step_by(piece_width as usize) {
                let tile = pieces.grid.tile_at(x, y).ok_or(BoardError::Answer(
                    "was asked for a piece outside the image",
                ))?;
                let into = (&mut counts[..], &mut smooth[..]);
                if let Some(mut refusal) = self.piece(job_id, pieces, tile, rect, into)? {
                    // A refused piece fails the whole tile, under the tile's own index.
                    refusal.tile = Some(request.tile);
                    return Ok(Envelope {
                        job_id,
                        message: Message::Refused(refusal),
                    });
                }
            }
        }
        let too_large = |_| BoardError::Answer("sent a tile larger than any");
        let counts = heapless::Vec::from_slice(&counts).map_err(too_large)?;
        let smooth = heapless::Vec::from_slice(&smooth).map_err(too_large)?;
        Ok(Envelope {
            job_id,
            message: Message::Result(TileResult {
                job,
                tile: request.tile,
                counts,
                smooth,
            }),
        })
    }

    /// Has the board compute one piece, tile `tile` of `pieces`, and puts its counts and
    /// fractions where it lies in `counts` and `smooth`, those of the tile `rect`; the
    /// board's refusal, if it refused.
    fn piece(
        &mut self,
        job_id: JobId,
        pieces: Job,
        tile: TileIndex,
        rect: Rect,
        (counts, smooth): (&mut [u32], &mut [Smooth]),
    ) -> Result<Option<Refusal>, BoardError> {
        self.pieces += 1;
        let result = match self
            .exchange(job_id, &TileRequest { job: pieces, tile })?
            .message
        {
            Message::Result(result) => result,
            Message::Refused(refusal) => return Ok(Some(refusal)),
            _ => {
                return Err(BoardError::Answer(
                    "answered a piece with neither result nor refusal",
                ))
            }
        };
        let sub = pieces.grid.rect(tile).ok_or(BoardError::Answer(
            "was asked for a piece outside the image",
        ))?;
        let within_tile = Rect {
            x: sub.x - rect.x,
            y: sub.y - rect.y,
            ..sub
        };
        let misfit = || BoardError::Answer("sent a piece that does not fit its tile");
        within_tile
            .copy_into(&result.counts, counts, rect.width)
            .ok_or_else(misfit)?;
        if pieces.smooth {
            within_tile
                .copy_into(&result.smooth, smooth, rect.width)
                .ok_or_else(misfit)?;
        }
        Ok(None)
    }

    /// Sends one request and waits, for a time scaled by its work, for the board's answer to
    /// it: a result for that very tile, or a refusal.
    fn exchange(&mut self, job_id: JobId, request: &TileRequest) -> Result<Envelope, BoardError> {
        let envelope = Envelope {
            job_id,
            message: Message::Request(*request),
        };
        let mut buf = vec![0u8; MAX_FRAME_LEN];
        let frame = wire::encode_cobs(&envelope, &mut buf).map_err(BoardError::Encode)?;
        let work = request
            .job
            .grid
            .rect(request.tile)
            .map_or(0, |rect| request.job.work(rect));
        let timeout = self.timeout(work, request.job.format);
        self.link.send(frame).map_err(BoardError::Send)?;
        let started = Instant::now();
        loop {
            let answer = self.frame(started + timeout).map_err(|cause| {
                let (tile, job) = (request.tile.0, job_id.0);
                match cause.kind() {
                    io::ErrorKind::TimedOut => BoardError::Silent {
                        tile,
                        job,
                        seconds: timeout.as_secs(),
                    },
                    _ => BoardError::Lost { tile, job, cause },
                }
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
    /// board's stated speed (in narrow steps), four times more again for a wide format: a
    /// 32-bit board's limbs are half the 64-bit words the cost of a wide step counts, and
    /// its squares four times the work.
    fn timeout(&self, work: u64, format: Format) -> Duration {
        let words = match format {
            Format::Wide(_) => 4,
            _ => 1,
        };
        let millis = work.saturating_mul(4 * 1000 * words) / self.steps_per_second.max(1);
        Duration::from_secs(2)
            + self.link.transfer_time(MAX_FRAME_LEN)
            + Duration::from_millis(millis)
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
                Some(Framed::TooLong(_)) => warn!("the board sent a frame longer than any message"),
                Some(Framed::Broken) => warn!("the board sent a frame that is not COBS"),
                None => {}
            }
        }
    }
}

/// Tile 0 of a square job of `side` pixels in `format`, at one iteration: a probe.
fn probe(format: Format, side: u32) -> TileRequest {
    let job = Job {
        format,
        view: View::from_corners(format, "-2,1", "1,-1", side, side)
            .expect("a fixed view that fits"),
        grid: Grid {
            width: side,
            height: side,
            tile_width: side,
            tile_height: side,
        },
        iterations: 1,
        kernel: Kernel::Direct,
        smooth: false,
        samples: 1,
    };
    TileRequest {
        job,
        tile: TileIndex(0),
    }
}

fn largest_divisor_at_most(n: u32, limit: u32) -> u32 {
    (1..=n.min(limit.max(1)))
        .rev()
        .find(|&d| n.is_multiple_of(d))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use fixedbrot_core::render_tile;
    use fixedbrot_core::wire::Refusal;
    use fixedbrot_tests::cases::job;

    use super::*;
    use fixedbrot_pipeline::{worker, Limits};

    /// A board in memory that answers like the firmware, holding at most `max` pixels, and
    /// reference orbits of at most `max_orbit` values.
    struct FakeBoard {
        max: usize,
        max_bits: u32,
        max_orbit: usize,
        incoming: Box<Deframer<MAX_FRAME_LEN>>,
        outgoing: VecDeque<u8>,
        requests: usize,
    }

    impl FakeBoard {
        fn new(max: usize) -> FakeBoard {
            FakeBoard::holding(max, Width::WIDEST.bits())
        }

        fn holding(max: usize, max_bits: u32) -> FakeBoard {
            FakeBoard {
                max,
                max_bits,
                max_orbit: usize::MAX,
                incoming: Box::default(),
                outgoing: VecDeque::new(),
                requests: 0,
            }
        }

        fn answer(&mut self, frame: &[u8]) -> Envelope {
            self.requests += 1;
            let (job_id, request) = wire::decode_request(frame).unwrap();
            let job = request.job;
            let pixels = job.grid.rect(request.tile).unwrap().pixels();
            let refused = |tile, reason| Envelope {
                job_id,
                message: Message::Refused(Refusal { tile, reason }),
            };
            if job.format.bits() > self.max_bits {
                let max_bits = self.max_bits;
                return refused(None, Reason::TooWide { max_bits });
            }
            if pixels > self.max {
                let max_pixels = self.max as u32;
                return refused(Some(request.tile), Reason::TileTooLarge { max_pixels });
            }
            if job.kernel.is_perturbation() && Reference::most_points(&job) > self.max_orbit {
                let max_points = self.max_orbit as u32;
                return refused(Some(request.tile), Reason::OrbitTooLong { max_points });
            }
            let (counts, smooth) =
                fixedbrot_tests::cases::tile_pixels(&job, request.tile, job.smooth).unwrap();
            let result = TileResult {
                job: request.job,
                tile: request.tile,
                counts: heapless::Vec::from_slice(&counts).unwrap(),
                smooth: heapless::Vec::from_slice(&smooth).unwrap(),
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
            Board::connect(FakeBoard::new(4096), 1, 1 << 20)
                .unwrap()
                .max_pixels(),
            4096
        );
        assert_eq!(
            Board::connect(FakeBoard::new(700), 1, 1 << 20)
                .unwrap()
                .max_pixels(),
            700
        );
    }

    /// A format wider than the board computes is never refused for it: the bridge computes
    /// the tile itself, the same counts, and asks the board no more of that width.
    #[test]
    fn tiles_too_wide_for_the_board_are_computed_here_exactly() {
        let mut board = Board::connect(FakeBoard::holding(4096, 1024), 1_000_000, 1 << 20).unwrap();
        assert_eq!(board.max_bits(), 1024);
        let asked = board.link.requests;
        for bits in [1024, 2048] {
            let format = Format::from_bits(bits).unwrap();
            let job = job(format, "-2,1.5", "1,-1.5", (20, 12), 200, (8, 8));
            let request = TileRequest {
                job,
                tile: TileIndex(4),
            };
            let answer = board.compute(JobId(5), &request).unwrap();
            let Message::Result(result) = wire::decode(&answer).unwrap().message else {
                panic!("a result at {bits} bits");
            };
            let mut expected = vec![0; result.counts.len()];
            render_tile(&job, request.tile, &mut expected, &mut []).unwrap();
            assert_eq!(result.counts.as_slice(), expected.as_slice(), "{bits} bits");
        }
        assert_eq!(
            board.link.requests,
            asked + 1,
            "the board saw the 1024-bit tile only"
        );
        assert_eq!(board.on_host, 1);
    }

    /// A board computes the perturbation tiles whose reference orbit it holds; the others,
    /// refused, are computed here, once each, to the same bytes a host worker sends.
    #[test]
    fn orbits_longer_than_the_board_holds_are_computed_here_exactly() {
        let mut fake = FakeBoard::new(4096);
        fake.max_orbit = 600;
        let mut board = Board::connect(fake, 1_000_000, 1 << 30).unwrap();
        for (iterations, on_board) in [(500, true), (3000, false), (400, true), (2000, false)] {
            let mut job = fixedbrot_tests::cases::location_1e50(
                Format::from_bits(256).unwrap(),
                (16, 8),
                iterations,
                (8, 8),
            );
            job.kernel = Kernel::PerturbationV2;
            let request = TileRequest {
                job,
                tile: TileIndex(1),
            };
            let (asked, here) = (board.link.requests, board.on_host);
            let answer = board.compute(JobId(5), &request).unwrap();
            assert_eq!(
                answer,
                worker::compute(JobId(5), &request, &Limits::default()),
                "{iterations} iterations"
            );
            // The board is asked once, until it has said what it holds; then not at all.
            assert_eq!(board.on_host - here, u64::from(!on_board), "{iterations}");
            assert!(board.link.requests - asked <= 1, "{iterations}");
        }
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
        // With smooth fractions too: the pieces' fractions land where their counts do.
        let smooth = Job {
            smooth: true,
            ..odd
        };
        for (job, max) in [
            (default, 1000),
            (default, 64),
            (default, 4096),
            (odd, 3),
            (odd, 34),
            (smooth, 3),
            (smooth, 34),
        ] {
            let mut board = Board::connect(FakeBoard::new(max), 1_000_000, 1 << 20).unwrap();
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
                    worker::compute(JobId(5), &request, &Limits::default()),
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
