//! How a member's answers, and the offsets of the messages they answer, reach Kafka. One type
//! per way: [`AtLeastOnce`] commits offsets once the answers are delivered and nothing holds
//! them; `ExactlyOnce` (exactly_once.rs) commits both in one transaction. A strategy owns the
//! member's [`Membership`]; a handler that holds offsets can only be run with a strategy that
//! honours holds, since `ExactlyOnce` takes handlers whose key is [`Never`].
use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fixedbrot_pipeline::{Answer, HoldKey, Membership, Taken};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::message::{Header, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{Producer, PurgeConfig, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use super::args::{Member, WORKER_HEADER};
use super::dead_letters::DeadLetters;
use super::error::Error;
use super::produce::{send, Delivered, Deliveries, Outgoing, Queue, Settled, Settles};
use crate::log::warn;

/// Partitions to read again, each from an offset.
pub type Rewind = BTreeMap<i32, i64>;

/// How often offsets are committed while messages flow (and transactions, which are also
/// committed whenever the member runs out of messages).
pub const COMMIT_EVERY: Duration = Duration::from_millis(200);

/// How long leaving (or losing partitions) waits for what was produced to be delivered:
/// deliveries take milliseconds, and a broker away longer leaves the rest uncommitted.
pub const FLUSH: Duration = Duration::from_secs(10);

/// How often every partition's offset is committed again, moved or not: a commit is not
/// waited for, and one that failed (a rebalance at that moment) is mended by the next.
const RECOMMIT_EVERY: Duration = Duration::from_secs(5);

/// A way for a member's answers and offsets to reach Kafka.
pub trait Commits: Send + 'static {
    /// What the handler it serves holds offsets under.
    type Key: HoldKey;

    /// The member's partitions, book and holds.
    fn membership(&mut self) -> &mut Membership<Self::Key>;

    /// Sends the answer to a message the member took as `taken`, and books what committing
    /// that message waits for.
    fn settle(
        &mut self,
        message: &OwnedMessage,
        taken: &Taken,
        answer: &Answer<Self::Key>,
    ) -> Result<(), Error>;

    /// An answer could not be sent: nothing of it may be committed, by this or a later call.
    fn abandon(&mut self);

    /// Commits what is due at `now`; the partitions to read again. An error ends the member.
    fn now_and_then<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        now: Instant,
    ) -> Result<Rewind, Error>;

    /// Commits at once whatever waits to be (before long work, and whenever the member runs
    /// out of messages); the partitions to read again.
    fn commit_now<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<Rewind, Error>;

    /// Delivers and commits everything answered, as the member leaves or ends; the offsets
    /// whose commit is on its way, for the loop to see committed (for a while) before leaving.
    fn finish<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) -> Vec<(i32, i64)>;

    /// `partitions` are being revoked: what was answered of them goes out and is committed
    /// while they are still this member's. Returns partitions kept to read again.
    fn revoking<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        partitions: &[i32],
    ) -> Result<Rewind, Error>;
}

/// Where a member's answers go: its output topic, and its input's dead-letter topic.
pub struct Out {
    topic: String,
    dead_letters: DeadLetters,
    worker: String,
}

impl Out {
    pub fn new(member: &Member<'_>) -> Out {
        Out {
            topic: member.output.to_owned(),
            dead_letters: DeadLetters::new(member.kafka, member.input),
            worker: member.worker.clone(),
        }
    }

    /// Sends an answer's records through `producer`, each settling `settles()` once it is
    /// delivered: its dead letter, then its replies.
    pub fn send<K>(
        &mut self,
        producer: &impl Queue,
        message: &OwnedMessage,
        answer: &Answer<K>,
        settles: impl Fn() -> Option<Settles>,
    ) -> Result<(), Error> {
        let origin = (message.partition(), message.offset());
        if let Some(letter) = &answer.dead_letter {
            let (payload, key) = (message.payload(), message.key());
            self.dead_letters
                .copy(producer, payload, key, origin, letter, settles())?;
        }
        for (key, payload) in &answer.replies {
            let outgoing = Outgoing {
                topic: &self.topic,
                key,
                payload: Some(payload),
                headers: Some(OwnedHeaders::new().insert(Header {
                    key: WORKER_HEADER,
                    value: Some(&self.worker),
                })),
                settles: settles(),
            };
            send(producer, outgoing)?;
        }
        Ok(())
    }
}

/// At least once: a message's offset is committed once everything it caused is delivered and
/// nothing holds it, so a crash answers some messages twice, which tiles make harmless.
pub struct AtLeastOnce<K> {
    membership: Membership<K>,
    /// Shared by a process's members.
    producer: Arc<ThreadedProducer<Deliveries>>,
    out: Out,
    /// The topic whose offsets are committed.
    topic: String,
    /// Deliveries of this member's records, told by whichever thread polled the producer.
    report: Sender<Delivered>,
    deliveries: Receiver<Delivered>,
    last_commit: Instant,
    last_recommit: Instant,
}

impl<K: HoldKey> AtLeastOnce<K> {
    pub fn new(member: &Member<'_>, producer: Arc<ThreadedProducer<Deliveries>>) -> Self {
        let (report, deliveries) = mpsc::channel();
        AtLeastOnce {
            membership: Membership::default(),
            producer,
            out: Out::new(member),
            topic: member.input.to_owned(),
            report,
            deliveries,
            last_commit: Instant::now(),
            last_recommit: Instant::now(),
        }
    }

    /// Books the deliveries told since the last look.
    fn take_deliveries(&mut self) {
        while let Ok(delivered) = self.deliveries.try_recv() {
            if let Settled::Answer { partition, offset } = delivered.settled {
                self.membership.delivered(partition, offset, delivered.ok);
            }
        }
    }

    /// Commits every partition's safe offset that moved since the last commit; the offsets
    /// committed. Never waits for the broker: a broker away must not stop a member (a
    /// synchronous commit waits for ever, and SIGTERM with it).
    fn commit<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) -> Vec<(i32, i64)> {
        self.take_deliveries();
        let moves = self.membership.commits();
        if moves.is_empty() {
            return moves;
        }
        let mut list = TopicPartitionList::new();
        for &(partition, offset) in &moves {
            let _ = list.add_partition_offset(&self.topic, partition, Offset::Offset(offset));
        }
        if let Err(error) = consumer.commit(&list, CommitMode::Async) {
            // Not fatal: the work is replayed and results are idempotent.
            warn!("committing {} offsets: {error}", self.topic);
            let partitions: Vec<i32> = moves.iter().map(|&(p, _)| p).collect();
            self.membership.commit_failed(&partitions);
            return Vec::new();
        }
        moves
    }

    /// Everything produced, delivered (or failed for good) within `FLUSH`, then committed.
    /// Leaving, what is still undelivered is purged: it stays uncommitted, answered again by
    /// the next owner, and the process need not wait for a broker that does not answer.
    fn deliver_and_commit<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        leaving: bool,
    ) -> Vec<(i32, i64)> {
        // Delivery reports may come on this thread while it flushes: they go to a channel.
        if let Err(error) = self.producer.flush(FLUSH) {
            warn!("delivering the last answers: {error}");
            if leaving {
                self.producer
                    .purge(PurgeConfig::default().queue().inflight());
            }
        }
        self.commit(consumer)
    }
}

impl<K: HoldKey> Commits for AtLeastOnce<K> {
    type Key = K;

    fn membership(&mut self) -> &mut Membership<K> {
        &mut self.membership
    }

    fn settle(
        &mut self,
        message: &OwnedMessage,
        taken: &Taken,
        answer: &Answer<K>,
    ) -> Result<(), Error> {
        let deliveries = answer.replies.len() + usize::from(answer.dead_letter.is_some());
        // A partition lost while its message was answered (long work) is another member's
        // now, or was and is back, read from its last commit: the answer still goes out, a
        // harmless duplicate, but this member commits nothing for it.
        let owned = self.membership.book(taken, deliveries as u32, answer);
        let report = &self.report;
        let settles = || {
            owned.then(|| Settles {
                report: report.clone(),
                settled: Settled::Answer {
                    partition: taken.partition,
                    offset: taken.offset,
                },
            })
        };
        self.out
            .send(self.producer.as_ref(), message, answer, settles)
    }

    /// What was sent of the answer is never committed past: its message waits for the
    /// records that were never sent.
    fn abandon(&mut self) {}

    fn now_and_then<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        now: Instant,
    ) -> Result<Rewind, Error> {
        self.take_deliveries();
        if let Some((partition, offset)) = self.membership.failed() {
            // What was delivered before it is committed; it and what follows are not.
            self.commit(consumer);
            return Err(Error::Undelivered {
                topic: self.topic.clone(),
                partition,
                offset,
            });
        }
        if now.saturating_duration_since(self.last_recommit) >= RECOMMIT_EVERY {
            let owned: Vec<i32> = self.membership.owned().collect();
            self.membership.commit_failed(&owned);
            self.last_recommit = now;
        }
        if now.saturating_duration_since(self.last_commit) >= COMMIT_EVERY {
            self.commit(consumer);
            self.last_commit = now;
        }
        Ok(Rewind::new())
    }

    fn commit_now<C: ConsumerContext>(&mut self, _: &BaseConsumer<C>) -> Result<Rewind, Error> {
        Ok(Rewind::new())
    }

    fn finish<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) -> Vec<(i32, i64)> {
        self.deliver_and_commit(consumer, true)
    }

    fn revoking<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        _: &[i32],
    ) -> Result<Rewind, Error> {
        self.deliver_and_commit(consumer, false);
        Ok(Rewind::new())
    }
}
