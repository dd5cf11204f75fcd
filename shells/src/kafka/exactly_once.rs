//! Exactly-once answering: a member's answers, its dead letters and the offsets of the messages
//! they answer reach Kafka in one transaction, so a reader with `isolation.level=read_committed`
//! (`image --read-committed`) sees each request answered once, whatever crashes.
//!
//! Each member has its own transactional producer. Its id is stable across restarts, so a
//! restarted member fences its old self and aborts what that one left open, instead of
//! leaving read_committed readers waiting for the transaction timeout.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fixedbrot_pipeline::{Answer, Membership, Never, Taken};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::args::Member;
use super::commits::{Commits, Out, Rewind, COMMIT_EVERY, FLUSH};
use super::error::Error;
use super::produce::{finish, Deliveries};
use crate::log::{info, warn};

/// How long a transaction may stay open before the broker aborts it. A transaction holds
/// only answers that took little work (below `worker::LONG_WORK`, well under a second): the
/// loop commits before long work, a big tile or a board's, and opens the next transaction
/// after it. So no tile's time, however slow the board, counts against this.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// How long a transaction's commit, its abort included, may wait for the brokers in all,
/// retries included: a broker that does not answer must not hold a member (and SIGTERM) for
/// longer. A SIGTERM that comes during a commit waits for it, and its last call may overrun
/// by a request's timeout (10 s, `args.rs`): 20 s keeps the whole within half a minute, and
/// still spans a leader's election (a dead broker's session ends after 9 s).
const CALL: Duration = Duration::from_secs(20);

/// Exactly once, for handlers that hold nothing: the member's answers and the offsets of the
/// messages they answer are committed in one transaction of its own producer.
pub struct ExactlyOnce {
    membership: Membership<Never>,
    transaction: Transaction,
    out: Out,
}

impl ExactlyOnce {
    /// Starts the member's transactional producer, with the stable id `id`: its earlier
    /// incarnations are fenced and what they left open is aborted.
    pub fn start(member: &Member<'_>, id: &str) -> Result<ExactlyOnce, Error> {
        Ok(ExactlyOnce {
            membership: Membership::default(),
            transaction: Transaction::start(member, id)?,
            out: Out::new(member),
        })
    }

    /// Commits the open transaction; the partitions of one the brokers refused, to read
    /// again (those owned).
    fn commit<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) -> Result<Rewind, Error> {
        let rewind = self.transaction.commit(consumer, CALL)?;
        Ok(self.membership.rewinds(rewind))
    }
}

impl Commits for ExactlyOnce {
    type Key = Never;

    fn membership(&mut self) -> &mut Membership<Never> {
        &mut self.membership
    }

    fn settle(
        &mut self,
        message: &OwnedMessage,
        taken: &Taken,
        answer: &Answer<Never>,
    ) -> Result<(), Error> {
        if !self.membership.owns(taken) {
            // Its new owner answers it; this answer would be a second one.
            let (partition, offset) = (taken.partition, taken.offset);
            info!(
                partition,
                offset,
                "{} partition {partition} offset {offset} moved to another member while it \
                 was answered: the answer is dropped",
                self.transaction.topic
            );
            return Ok(());
        }
        self.transaction.take(taken.partition, taken.offset)?;
        let producer = &self.transaction.producer;
        self.out.send(producer, message, answer, || None)
    }

    /// Nothing of the open transaction may be committed now, not even by the revoke that
    /// dropping the consumer makes: an answer in it is incomplete.
    fn abandon(&mut self) {
        self.transaction.abort();
    }

    fn now_and_then<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        now: Instant,
    ) -> Result<Rewind, Error> {
        if self.transaction.open_for(now) >= Some(COMMIT_EVERY) {
            return self.commit(consumer);
        }
        Ok(Rewind::new())
    }

    fn commit_now<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<Rewind, Error> {
        self.commit(consumer)
    }

    /// Leaving waits for the brokers as long as at least once does ([`FLUSH`]): a broker
    /// away longer leaves the transaction uncommitted, its requests answered again.
    fn finish<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) -> Vec<(i32, i64)> {
        if let Err(error) = self.transaction.commit(consumer, FLUSH) {
            warn!("{error}");
        }
        Vec::new()
    }

    fn revoking<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        partitions: &[i32],
    ) -> Result<Rewind, Error> {
        let mut rewind = self.commit(consumer)?;
        rewind.retain(|partition, _| !partitions.contains(partition));
        Ok(rewind)
    }
}

/// A member's transactional producer and its open transaction.
struct Transaction {
    producer: ThreadedProducer<Deliveries>,
    id: String,
    /// The topic whose offsets the transactions commit.
    topic: String,
    /// The open transaction's messages per partition: the first offset and the next.
    open: BTreeMap<i32, (i64, i64)>,
    since: Option<Instant>,
}

/// The messages of an aborted transaction: each partition from its first.
type Aborted = Vec<(i32, i64)>;

impl Transaction {
    /// A producer with transactional id `id`, its earlier incarnations fenced.
    fn start(member: &Member<'_>, id: &str) -> Result<Transaction, Error> {
        let (kafka, client_id, topic) = (member.kafka, &member.client_id, member.input);
        let producer = kafka.transactional_producer(client_id, id, TIMEOUT)?;
        producer
            .init_transactions(Duration::from_secs(kafka.connect_timeout))
            .map_err(|e| {
                Error::Transaction(format!(
                    "starting transactions as {id} at {} (within {} s): {e}",
                    kafka.brokers, kafka.connect_timeout
                ))
            })?;
        info!("Exactly once: answers are committed in transactions as {id}");
        Ok(Transaction {
            producer,
            id: id.to_owned(),
            topic: topic.to_owned(),
            open: BTreeMap::new(),
            since: None,
        })
    }

    /// Counts a message in the open transaction, opening one if none is open: its answers
    /// are produced next.
    fn take(&mut self, partition: i32, offset: i64) -> Result<(), Error> {
        if self.since.is_none() {
            self.producer
                .begin_transaction()
                .map_err(|e| self.fatal("beginning a transaction", &e))?;
            self.since = Some(Instant::now());
        }
        let span = self.open.entry(partition).or_insert((offset, offset));
        span.1 = span.1.max(offset + 1);
        Ok(())
    }

    /// How long the open transaction has been open at `now`, if one is.
    fn open_for(&self, now: Instant) -> Option<Duration> {
        self.since.map(|since| now.saturating_duration_since(since))
    }

    /// Commits the open transaction, its answers with the offsets after its messages. If the
    /// brokers refuse it (a delivery failed, the group moved on), it is aborted instead and
    /// its partitions are returned, to be read again from its first message. `Err` when the
    /// producer can go on no more: fenced by a newer member with its id, or worse.
    /// All of it, the flush, the commit and an abort, within `wait`.
    fn commit<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        wait: Duration,
    ) -> Result<Aborted, Error> {
        if self.since.take().is_none() {
            return Ok(Aborted::new());
        }
        let open = std::mem::take(&mut self.open);
        let rewind = open.iter().map(|(&p, &(first, _))| (p, first)).collect();
        let group = consumer.group_metadata().ok_or_else(|| {
            Error::Transaction(format!(
                "transaction {}: the consumer has no group to commit to",
                self.id
            ))
        })?;
        let mut offsets = TopicPartitionList::new();
        for (&partition, &(_, next)) in &open {
            offsets
                .add_partition_offset(&self.topic, partition, Offset::Offset(next))
                .map_err(|e| self.fatal("listing offsets", &e))?;
        }
        // Delivered first, polled here: commit_transaction's own flush wakes in 100 ms steps
        // while the producer's thread polls, which cost every transaction 100 ms. Whatever
        // failed, commit_transaction says so.
        let deadline = Instant::now() + wait;
        let _ = finish(&self.producer, wait, None);
        let committed = retrying(deadline, |left| {
            self.producer
                .send_offsets_to_transaction(&offsets, &group, left)
        })
        .and_then(|()| retrying(deadline, |left| self.producer.commit_transaction(left)));
        match committed {
            Ok(()) => Ok(Aborted::new()),
            Err(error) if requires_abort(&error) => {
                warn!(
                    "transaction {}: {error}; aborted, its {} partitions are read again",
                    self.id,
                    open.len()
                );
                retrying(deadline, |left| self.producer.abort_transaction(left))
                    .map_err(|e| self.fatal("aborting a transaction", &e))?;
                Ok(rewind)
            }
            Err(error) => Err(self.fatal("committing a transaction", &error)),
        }
    }

    /// Aborts the open transaction, if one is open: none of it is committed, by this call
    /// or a later one. For a member that ends because an answer could not be sent.
    fn abort(&mut self) {
        if self.since.take().is_none() {
            return;
        }
        self.open.clear();
        match retrying(Instant::now() + CALL, |left| {
            self.producer.abort_transaction(left)
        }) {
            Ok(()) => warn!(
                "transaction {} aborted: its requests are answered again",
                self.id
            ),
            // Its next incarnation aborts it when it starts (or the broker, after TIMEOUT).
            Err(error) => warn!("aborting transaction {}: {error}", self.id),
        }
    }

    /// The error that ends the member: nothing of the open transaction is committed, and
    /// the next member with this id aborts it.
    fn fatal(&self, doing: &str, error: &KafkaError) -> Error {
        let fenced = matches!(
            error.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::Fenced
                    | RDKafkaErrorCode::ProducerFenced
                    | RDKafkaErrorCode::InvalidProducerEpoch
            )
        );
        Error::Transaction(if fenced {
            format!(
                "{doing} as {}: fenced by a newer producer with the same transactional id (a \
                 restart of this member, or another worker given the same --instance); this \
                 one stops, its open transaction aborted",
                self.id
            )
        } else {
            format!(
                "{doing} as {}: {error}; stopping with the open transaction uncommitted, so its \
                 requests are answered again",
                self.id
            )
        })
    }
}

/// Whether the transaction must be aborted (and can be: the producer goes on after).
fn requires_abort(error: &KafkaError) -> bool {
    matches!(error, KafkaError::Transaction(e) if e.txn_requires_abort())
}

/// Runs a transactional call, again while librdkafka says that is worth it and `deadline`
/// has not passed; each try may wait for what time is left.
fn retrying(
    deadline: Instant,
    mut call: impl FnMut(Duration) -> KafkaResult<()>,
) -> KafkaResult<()> {
    loop {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(100));
        match call(left) {
            Err(KafkaError::Transaction(e)) if e.is_retriable() && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            result => return result,
        }
    }
}
