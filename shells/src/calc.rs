//! `fixedbrot calc`: a worker in consumer group `Mandelbrot.Calculation.Connector`. Each
//! thread is one group member: it takes a request, computes it, produces the answer, and
//! commits the request's offset only after the answer is delivered.
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::producer::{Producer, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use fixedbrot_core::limits::MAX_TILE_PIXELS;

use crate::kafka::{self, lock, DeadLetters, Deliveries, KafkaArgs};
use crate::limits::Limits;
use crate::offsets::Offsets;
use crate::worker::{self, Answer};
use crate::{info, plan, warn};

/// The original's consumer group of calculation workers.
pub const GROUP: &str = "Mandelbrot.Calculation.Connector";

/// Runs `threads` group members until one fails.
pub fn run(kafka: &KafkaArgs, threads: usize, limits: Limits) -> Result<(), String> {
    let client_id = kafka::client_id(GROUP);
    let producer = Arc::new(kafka.producer(&client_id)?);
    kafka.require_topics(producer.client(), &kafka.worker_topics())?;
    info!(
        "Worker with {threads} threads in group {}: {} -> {}",
        kafka.group(GROUP),
        kafka.requests_topic,
        kafka.responses_topic
    );
    // A host computes at least 50 M kernel steps a second (BENCHMARKS.md: 340 M for the
    // slower format); allow twice the slowest tile the limits admit before the group
    // decides this member is stuck, within librdkafka's range.
    let slowest_ms = MAX_TILE_PIXELS as u64 * u64::from(limits.max_iterations) / 50_000;
    let interval = (2 * slowest_ms).clamp(300_000, 86_400_000).to_string();
    // The first member to end ends the worker (the process exits with it); what the others
    // had not committed is answered again by whoever takes their partitions.
    let (ended, first) = mpsc::channel();
    for n in 0..threads {
        let (kafka, producer, ended) = (kafka.clone(), Arc::clone(&producer), ended.clone());
        let (client_id, interval) = (format!("{client_id}.{n}"), interval.clone());
        thread::spawn(move || {
            let answer = |payload: &[u8]| Ok(worker::answer(payload, &limits));
            let settings = [("max.poll.interval.ms", interval.as_str())];
            let _ = ended.send(member(&kafka, &client_id, producer, &settings, answer));
        });
    }
    first
        .recv()
        .unwrap_or_else(|_| Err("every worker thread ended without a word".into()))
}

/// The consumer's context: on losing partitions, deliver what is in flight and commit it.
pub struct Member {
    offsets: Arc<Mutex<Offsets>>,
    producer: Arc<ThreadedProducer<Deliveries>>,
    topic: String,
}

impl ClientContext for Member {}

impl ConsumerContext for Member {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            let _ = self.producer.flush(Duration::from_secs(30));
            commit(consumer, &self.topic, &self.offsets, CommitMode::Sync);
            let mut offsets = lock(&self.offsets);
            for element in partitions.elements() {
                offsets.forget(element.partition());
            }
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        kafka::log_assignment(rebalance);
    }
}

/// One member of the calculation group: takes each request, has `answer` answer it, produces
/// the answer (and any dead letter), and commits the request once they are delivered. An
/// `Err` from `answer` ends the member without committing that request. `settings` add to
/// (and override) the consumer's defaults.
pub fn member(
    kafka: &KafkaArgs,
    client_id: &str,
    producer: Arc<ThreadedProducer<Deliveries>>,
    settings: &[(&str, &str)],
    mut answer: impl FnMut(&[u8]) -> Result<Answer, String>,
) -> Result<(), String> {
    let offsets = Arc::new(Mutex::new(Offsets::default()));
    let context = Member {
        offsets: Arc::clone(&offsets),
        producer: Arc::clone(&producer),
        topic: kafka.requests_topic.clone(),
    };
    let mut config = kafka.config(
        client_id,
        &[
            ("group.id", GROUP),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            // A killed member's partitions move to the others after 10 s, not 45.
            ("session.timeout.ms", "10000"),
            // A small prefetch: requests wait in Kafka, where other workers can take them.
            ("queued.max.messages.kbytes", "4096"),
        ],
    );
    for (key, value) in settings {
        config.set(*key, *value);
    }
    // -X still wins over what a role sets.
    for (key, value) in &kafka.settings {
        config.set(key, value);
    }
    let consumer: BaseConsumer<Member> = config
        .create_with_context(context)
        .map_err(|e| format!("Kafka consumer: {e}"))?;
    consumer
        .subscribe(&[&kafka.requests_topic])
        .map_err(|e| format!("subscribing to {}: {e}", kafka.requests_topic))?;
    let mut dead_letters = DeadLetters::new(kafka, &kafka.requests_topic);
    let mut last_commit = Instant::now();
    loop {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    warn!("consuming {}: {error}", kafka.requests_topic);
                    continue;
                }
            };
            let (partition, offset) = (message.partition(), message.offset());
            let payload = message.payload().unwrap_or_default();
            let answer = match answer(payload) {
                Ok(answer) => answer,
                Err(error) => {
                    commit(&consumer, &kafka.requests_topic, &offsets, CommitMode::Sync);
                    return Err(format!(
                        "{error}; {} partition {partition} offset {offset} is not committed, \
                         so it is answered again on restart",
                        kafka.requests_topic
                    ));
                }
            };
            let deliveries =
                u32::from(answer.reply.is_some()) + u32::from(answer.dead_letter.is_some());
            lock(&offsets).begin(partition, offset, deliveries);
            let settles = || kafka::Settles {
                offsets: Arc::clone(&offsets),
                partition,
                offset,
            };
            if let Some(reason) = &answer.dead_letter {
                dead_letters.set_aside(
                    &producer,
                    message.payload(),
                    message.key(),
                    (partition, offset),
                    reason,
                    Some(settles()),
                )?;
            }
            if let Some((job_id, reply)) = &answer.reply {
                let key = plan::key(*job_id, None);
                kafka::send(
                    &producer,
                    &kafka.responses_topic,
                    key.as_bytes(),
                    Some(reply),
                    None,
                    Some(settles()),
                )?;
            }
        }
        if let Some((partition, offset)) = lock(&offsets).failed {
            commit(&consumer, &kafka.requests_topic, &offsets, CommitMode::Sync);
            return Err(format!(
                "the answer to {} partition {partition} offset {offset} could not be delivered; \
                 exiting without committing it, so it is computed again on restart",
                kafka.requests_topic
            ));
        }
        if last_commit.elapsed() >= Duration::from_millis(200) {
            commit(
                &consumer,
                &kafka.requests_topic,
                &offsets,
                CommitMode::Async,
            );
            last_commit = Instant::now();
        }
    }
}

/// Commits every partition's safe offset that moved since the last commit.
fn commit<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    offsets: &Mutex<Offsets>,
    mode: CommitMode,
) {
    let moves = lock(offsets).take_commits();
    if moves.is_empty() {
        return;
    }
    let mut list = TopicPartitionList::new();
    for (partition, offset) in moves {
        let _ = list.add_partition_offset(topic, partition, Offset::Offset(offset));
    }
    if let Err(error) = consumer.commit(&list, mode) {
        // Not fatal: the work is replayed and results are idempotent.
        warn!("committing {topic} offsets: {error}");
    }
}
