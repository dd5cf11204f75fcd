//! `fixedbrot calc`: workers in the calculation group. Each thread is one group member whose
//! handler answers each request with its tile; the consumer loop does the rest.
use std::convert::Infallible;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use fixedbrot_pipeline::{worker, Answer, Handler, Incoming, Limits, Never};
use rdkafka::producer::{Producer, ThreadedProducer};

use crate::cli::GuaranteeArgs;
use crate::kafka::{
    self, AtLeastOnce, Deliveries, Error, ExactlyOnce, KafkaArgs, Member, Prefetch,
    CALCULATION_GROUP,
};
use crate::log::info;
use crate::metrics::metrics;

/// How long the other members get to leave once one has ended: a commit's calls and a flush.
const LEAVE: Duration = Duration::from_secs(60);

/// Runs `threads` group members until one ends; a stop signal ends them all.
pub fn run(
    kafka: &KafkaArgs,
    threads: usize,
    limits: Limits,
    guarantee: &GuaranteeArgs,
) -> Result<(), Error> {
    let client_id = kafka::client_id(CALCULATION_GROUP);
    let producer: Arc<ThreadedProducer<Deliveries>> = Arc::new(kafka.producer(&client_id)?);
    kafka.require_topics(producer.client(), &kafka.worker_topics())?;
    info!(
        "Worker with {threads} threads in group {}: {} -> {}",
        kafka.group(CALCULATION_GROUP),
        kafka.requests_topic,
        kafka.responses_topic
    );
    // The first member to end ends the worker; what the others had not committed is answered
    // again by whoever takes their partitions.
    let (ended, first) = mpsc::channel();
    for n in 0..threads {
        let (kafka, producer, ended) = (kafka.clone(), Arc::clone(&producer), ended.clone());
        let client_id = format!("{client_id}.{n}");
        let transactional_id =
            guarantee.transactional_id(kafka.group(CALCULATION_GROUP), &n.to_string());
        thread::spawn(move || {
            let member = Member {
                kafka: &kafka,
                group: CALCULATION_GROUP,
                client_id,
                input: &kafka.requests_topic,
                output: &kafka.responses_topic,
                prefetch: Prefetch::Little,
                read_committed: false,
                worker: format!(
                    "calc {} pid {} member {n}",
                    kafka::host(),
                    std::process::id()
                ),
            };
            let _ = ended.send(serve(member, producer, transactional_id, limits));
        });
    }
    let first_end = first.recv().unwrap_or_else(|_| {
        Err(Error::Thread(
            "every worker thread ended without a word".into(),
        ))
    });
    // The others leave too, each committing what it answered (an exactly-once member's open
    // transaction would otherwise hold back read_committed readers), before the process ends.
    kafka::stop_members();
    for _ in 1..threads {
        if first.recv_timeout(LEAVE).is_err() {
            break;
        }
    }
    first_end
}

/// One member, at least once or (with a transactional id) exactly once.
fn serve(
    member: Member<'_>,
    producer: Arc<ThreadedProducer<Deliveries>>,
    transactional_id: Option<String>,
    limits: Limits,
) -> Result<(), Error> {
    let handler = Calculation { limits };
    match transactional_id {
        None => {
            let commits = AtLeastOnce::new(&member, producer);
            kafka::run(member, commits, handler)
        }
        Some(id) => {
            let commits = ExactlyOnce::start(&member, &id)?;
            kafka::run(member, commits, handler)
        }
    }
}

/// A member's handler: the tile of each request.
struct Calculation {
    limits: Limits,
}

impl Handler for Calculation {
    type Key = Never;
    type Error = Infallible;

    fn long(&self, message: &Incoming<'_>) -> bool {
        worker::work(message.payload.unwrap_or_default()) > worker::LONG_WORK
    }

    fn handle(&mut self, message: &Incoming<'_>) -> Result<Answer<Never>, Infallible> {
        let answered = worker::answer(message.payload.unwrap_or_default(), &self.limits);
        if let Some(steps) = answered.steps {
            metrics().computed(steps);
        }
        Ok(answered.answer)
    }
}
