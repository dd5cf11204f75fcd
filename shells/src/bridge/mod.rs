//! `fixedbrot bridge`: a microcontroller joins the calculation group. Requests from Kafka go
//! to the board over a serial line (or QEMU's TCP-backed UART) as COBS frames, one at a time;
//! tiles larger than the board holds are split into pieces and the result reassembled.
//!
//! - `link`: the byte links, serial and TCP;
//! - `board`: the board protocol: probing, one request at a time, splitting;
//! - here: the Kafka role, a handler of the one consumer loop.
mod board;
mod link;

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fixedbrot_core::wire;
use fixedbrot_pipeline::{worker, Answer, Handler, Incoming, Limits, Never};
use rdkafka::producer::{Producer, ThreadedProducer};

pub use board::{Board, BoardError};
pub use link::{Link, SerialLink, TcpLink};

use crate::cli::GuaranteeArgs;
use crate::kafka::{self, AtLeastOnce, Deliveries, ExactlyOnce, KafkaArgs, Member, Prefetch};
use crate::log::info;

/// Serves requests from Kafka with the board until it stops answering (or a stop signal).
pub fn run<L: Link + Send + 'static>(
    kafka: &KafkaArgs,
    link: L,
    steps_per_second: u64,
    limits: Limits,
    guarantee: &GuaranteeArgs,
) -> Result<(), Box<dyn Error>> {
    let client_id = kafka::client_id(&format!("{}.bridge", kafka::CALCULATION_GROUP));
    let producer: Arc<ThreadedProducer<Deliveries>> = Arc::new(kafka.producer(&client_id)?);
    kafka.require_topics(producer.client(), &kafka.worker_topics())?;
    let board = Board::connect(link, steps_per_second, limits.max_orbit_bytes)?;
    info!("Board connected: tiles up to {} pixels", board.max_pixels());
    let member = Member {
        kafka,
        group: kafka::CALCULATION_GROUP,
        client_id,
        input: &kafka.requests_topic,
        output: &kafka.responses_topic,
        // Requests wait in Kafka, where faster workers can take them.
        prefetch: Prefetch::OneAtATime,
        read_committed: false,
        worker: format!(
            "board via bridge {} pid {}",
            kafka::host(),
            std::process::id()
        ),
    };
    let bridge = Bridge {
        board,
        limits,
        last_report: Instant::now(),
    };
    let group = kafka.group(kafka::CALCULATION_GROUP);
    match guarantee.transactional_id(group, "bridge") {
        None => {
            let commits = AtLeastOnce::new(&member, producer);
            kafka::run(member, commits, bridge)?;
        }
        Some(id) => {
            let commits = ExactlyOnce::start(&member, &id)?;
            kafka::run(member, commits, bridge)?;
        }
    }
    Ok(())
}

/// The member's handler: each request computed by the board, everything else answered as a
/// host worker answers it.
struct Bridge<L: Link> {
    board: Board<L>,
    limits: Limits,
    last_report: Instant,
}

impl<L: Link + Send + 'static> Handler for Bridge<L> {
    type Key = Never;
    type Error = BoardError;

    /// A board takes seconds for a tile: every request is long work.
    fn long(&self, message: &Incoming<'_>) -> bool {
        worker::work(message.payload.unwrap_or_default()) > 0
    }

    fn handle(&mut self, message: &Incoming<'_>) -> Result<Answer<Never>, BoardError> {
        let payload = message.payload.unwrap_or_default();
        let answer = match wire::decode_request(payload) {
            Ok((job_id, request)) if self.limits.refuse(&request).is_none() => {
                worker::reply(job_id, self.board.compute(job_id, &request)?, None)
            }
            // Markers, garbage and jobs over the limits: exactly as a host worker does.
            _ => worker::answer(payload, &self.limits).answer,
        };
        let board = &self.board;
        if board.tiles == 1 || self.last_report.elapsed() > Duration::from_secs(2) {
            info!(
                "The board has served {} tiles in {} pieces ({} too wide for it computed here)",
                board.tiles, board.pieces, board.on_host
            );
            self.last_report = Instant::now();
        }
        Ok(answer)
    }
}
