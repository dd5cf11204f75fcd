//! Producing: producers that count every delivery, sending with back-pressure, and telling a
//! member when what it answered is delivered (or failed for good).
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer,
};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;

use fixedbrot_core::JobId;

use super::args::KafkaArgs;
use super::error::Error;
use crate::log::{warn, Progress};
use crate::metrics::metrics;

/// Counts what a producer delivered and what it could not, and tells each record's sender,
/// if it asked (its [`Settles`]), how its delivery went.
#[derive(Default, Clone)]
pub struct Deliveries {
    pub delivered: Arc<AtomicU64>,
    pub failed: Arc<AtomicU64>,
}

/// What a record's delivery settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// A member's answer to the consumed message at `partition`, `offset`: committed past
    /// once every record of the answer is delivered.
    Answer { partition: i32, offset: i64 },
    /// A part of a job sent to the workers by a process that waits for the answer: if it is
    /// never delivered, no worker will answer, and the sender stops waiting.
    Request(JobId),
}

/// A record's delivery, delivered or failed for good, as its sender is told of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub settled: Settled,
    pub ok: bool,
}

/// What a produced record settles, and where its sender hears of its delivery. A channel,
/// not a lock: librdkafka calls back on whichever thread polls, a member's own while it
/// flushes too.
pub struct Settles {
    pub report: Sender<Delivered>,
    pub settled: Settled,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<Option<Settles>>;

    fn delivery(&self, result: &DeliveryResult<'_>, on_delivery: Self::DeliveryOpaque) {
        let ok = result.is_ok();
        if let Err((error, _)) = result {
            // An aborted transaction purges its messages on purpose: the transaction says so.
            let purged = matches!(
                error.rdkafka_error_code(),
                Some(RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight)
            );
            if !purged {
                warn!("a message could not be delivered: {error}");
                metrics().delivery_failures.inc();
            }
            self.failed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.delivered.fetch_add(1, Ordering::Relaxed);
            // Every record of calc, image and bridge answers a message, settled or in a
            // transaction (which settles nothing); generate and serve serve no metrics.
            metrics().answers_delivered.inc();
        }
        if let Some(settles) = *on_delivery {
            // A member that has ended hears nothing more, and needs nothing more.
            let settled = settles.settled;
            let _ = settles.report.send(Delivered { settled, ok });
        }
    }
}

impl KafkaArgs {
    /// A producer that acknowledges only what every in-sync replica has, and counts
    /// deliveries and failures.
    ///
    /// The roles' producers are threaded; generate's is a base producer that it polls
    /// itself, so that it exits the moment its last message is acknowledged (a threaded
    /// producer's poll thread takes up to 100 ms to stop, which was most of a small job).
    pub fn producer<P: FromClientConfigAndContext<Deliveries>>(
        &self,
        client_id: &str,
    ) -> Result<P, Error> {
        self.producer_config(client_id)
            .create_with_context(Deliveries::default())
            .map_err(|e| Error::Settings(e.to_string()))
    }

    /// A member's producer for exactly-once answering, with transactional id `id`.
    pub fn transactional_producer(
        &self,
        client_id: &str,
        id: &str,
        timeout: Duration,
    ) -> Result<ThreadedProducer<Deliveries>, Error> {
        self.transactional_config(client_id, id, timeout)
            .create_with_context(Deliveries::default())
            .map_err(|e| Error::Settings(e.to_string()))
    }
}

/// A record as [`send`] makes it, with what its delivery settles.
type Record<'a> = BaseRecord<'a, [u8], [u8], Box<Option<Settles>>>;

/// What [`send`] and [`finish`] need of a producer: to take a record, and to be served (its
/// delivery reports handled) while a full queue drains or acknowledgements come in.
pub trait Queue: Producer<Deliveries> {
    /// rdkafka's `send`, which hands a record it cannot queue back with its error.
    #[allow(clippy::result_large_err)]
    fn enqueue<'a>(&self, record: Record<'a>) -> Result<(), (KafkaError, Record<'a>)>;
    fn serve(&self, timeout: Duration);
}

impl Queue for ThreadedProducer<Deliveries> {
    fn enqueue<'a>(&self, record: Record<'a>) -> Result<(), (KafkaError, Record<'a>)> {
        self.send(record)
    }

    fn serve(&self, timeout: Duration) {
        self.poll(timeout);
    }
}

impl Queue for BaseProducer<Deliveries> {
    fn enqueue<'a>(&self, record: Record<'a>) -> Result<(), (KafkaError, Record<'a>)> {
        self.send(record)
    }

    fn serve(&self, timeout: Duration) {
        self.poll(timeout);
    }
}

/// One record to send: where, its key and payload (`None`: a NULL message, which Kafka tells
/// apart from an empty one), headers, and what its delivery settles.
pub struct Outgoing<'a> {
    pub topic: &'a str,
    pub key: &'a [u8],
    pub payload: Option<&'a [u8]>,
    pub headers: Option<OwnedHeaders>,
    pub settles: Option<Settles>,
}

/// Sends one record, waiting while the producer's queue is full (back-pressure, not loss).
pub fn send(producer: &impl Queue, outgoing: Outgoing<'_>) -> Result<(), Error> {
    let topic = outgoing.topic;
    let mut record =
        BaseRecord::with_opaque_to(topic, Box::new(outgoing.settles)).key(outgoing.key);
    if let Some(payload) = outgoing.payload {
        record = record.payload(payload);
    }
    if let Some(headers) = outgoing.headers {
        record = record.headers(headers);
    }
    loop {
        match producer.enqueue(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.serve(Duration::from_millis(10));
            }
            Err((cause, _)) => {
                return Err(Error::Produce {
                    topic: topic.to_owned(),
                    cause: cause.to_string(),
                })
            }
        }
    }
}

/// Waits, within `deadline`, until everything produced is acknowledged; says what could not
/// be delivered. A progress bar, if given, shows the acknowledgements.
pub fn finish(
    producer: &impl Queue,
    deadline: Duration,
    progress: Option<&Progress>,
) -> Result<(), Error> {
    // librdkafka's flush wakes in 100 ms steps while another thread polls; a short poll loop
    // returns as soon as the last acknowledgement is in.
    let started = Instant::now();
    while producer.in_flight_count() > 0 {
        if let Some(progress) = progress {
            progress.show(producer.context().delivered.load(Ordering::Relaxed));
        }
        if started.elapsed() > deadline {
            return Err(Error::Unacknowledged(format!(
                "{} messages still unacknowledged after {} s",
                producer.in_flight_count(),
                deadline.as_secs()
            )));
        }
        producer.serve(Duration::from_millis(1));
    }
    let failed = producer.context().failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(Error::Unacknowledged(format!(
            "{failed} messages could not be delivered"
        )));
    }
    Ok(())
}
