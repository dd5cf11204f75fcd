//! The one consumer loop of the Kafka roles (calc, bridge, image): take a message, have the
//! role's [`Handler`] answer it, produce the answer, and commit the offset once everything it
//! caused is delivered and the handler holds it no longer. It owns the book of offsets,
//! cooperative rebalances, the consumer settings the roles share, long work on a thread of
//! its own while the group is still served, and leaving the group on SIGTERM or Ctrl-C.
//!
//! A member is at least once by default: offsets are committed after what their messages
//! caused is delivered, so a crash answers some messages twice. An exactly-once member
//! (`transactional_id`) commits answers and offsets together in transactions instead
//! ([`Transaction`]); the book of offsets and its holds are then unused, so the handlers that
//! hold (the assembler) run at least once.
//!
//! Each assigned partition's messages arrive on a queue of its own, so the consumer's main
//! queue carries only the group's events: while long work runs the loop keeps serving those
//! and takes no message, with nothing paused (a paused partition resumes fetching only after
//! about a second, which measured a second a tile on a board).
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{Producer, ThreadedProducer};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::kafka::{self, lock, DeadLetters, Deliveries, KafkaArgs, Settles};
use crate::log::{info, warn};
use crate::metrics::{self, metrics};
use crate::offsets::Offsets;
use crate::transaction::{Rewind, Transaction};

/// A message as a handler sees it.
pub struct Incoming<'a> {
    /// `None` for a NULL message.
    pub payload: Option<&'a [u8]>,
    pub key: Option<&'a [u8]>,
    pub partition: i32,
    pub offset: i64,
    /// Read before: this is a second reading after the handler asked for its partition to be
    /// read again. What it caused the first time stands.
    pub again: bool,
}

/// What a handler makes of one message.
#[derive(Debug, Default)]
pub struct Answer {
    /// Records for the member's output topic: key and payload.
    pub replies: Vec<(Vec<u8>, Vec<u8>)>,
    /// Why the message is copied to its topic's dead-letter topic, if it is.
    pub dead_letter: Option<Letter>,
    /// Holds the message's offset under this key until it is released: commits stop below
    /// it (the assembler: a job's first message, until the job is written).
    pub hold: Option<u64>,
    /// Other holds that end, or are read again.
    pub holds: Holds,
    /// The role has finished its work (image --output written): the member leaves once
    /// everything is delivered and committed.
    pub done: bool,
}

/// Why a message is copied to its topic's dead-letter topic, and what more its copy's
/// headers say (a conflict's digests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Letter {
    pub reason: String,
    pub headers: Vec<(&'static str, String)>,
}

impl From<String> for Letter {
    fn from(reason: String) -> Letter {
        Letter {
            reason,
            headers: Vec::new(),
        }
    }
}

impl From<&str> for Letter {
    fn from(reason: &str) -> Letter {
        Letter::from(reason.to_owned())
    }
}

/// What becomes of holds besides the message at hand.
#[derive(Debug, Default)]
pub struct Holds {
    /// Holds that end now.
    pub release: Vec<u64>,
    /// Holds whose partitions are read again from the held offset (the assembler: jobs it
    /// set aside to make room). Messages from there on come again, marked `again`.
    pub read_again: Vec<u64>,
}

impl Holds {
    pub fn is_empty(&self) -> bool {
        // Taken apart, so that a field added to Holds cannot be left out here.
        let Holds {
            release,
            read_again,
        } = self;
        release.is_empty() && read_again.is_empty()
    }
}

/// A role: what it does with each message. The loop does the rest.
pub trait Handler: Send + 'static {
    /// Whether answering `message` may take long enough that the group must be served
    /// meanwhile (a big tile, a board): the loop then answers it on a thread of its own and
    /// keeps serving the group's events, so rebalances and heartbeats go on.
    fn long(&self, _message: &Incoming<'_>) -> bool {
        false
    }

    /// Answers one message. An `Err` ends the member without committing this message.
    fn handle(&mut self, message: &Incoming<'_>) -> Result<Answer, String>;

    /// Called between messages at least every 100 ms: holds to release or read again (the
    /// assembler's jobs idle too long).
    fn tick(&mut self, _now: Instant) -> Holds {
        Holds::default()
    }

    /// Holds lost with partitions this member no longer owns: their new owner reads them
    /// again from the last commit.
    fn lost(&mut self, _keys: &[u64]) {}

    /// Partitions were assigned, to be read from their last commit: what another member did
    /// with them may matter (the assembler: images written by another into its directory).
    /// Called before any of their messages. An `Err` ends the member.
    fn assigned(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// One member of a consumer group.
pub struct Member<'a> {
    pub kafka: &'a KafkaArgs,
    /// The group, unless `-X group.id` names another.
    pub group: &'static str,
    pub client_id: String,
    /// The topic consumed.
    pub input: &'a str,
    /// The topic replies go to.
    pub output: &'a str,
    /// Settings of this role, over the shared ones (and under `-X`).
    pub settings: Vec<(&'static str, String)>,
    /// Shared by a process's members: its deliveries settle each member's book.
    pub producer: Arc<ThreadedProducer<Deliveries>>,
    /// Answer exactly once, in transactions of a producer of the member's own with this
    /// transactional id (stable across restarts).
    pub transactional_id: Option<String>,
}

/// How often offsets are committed while messages flow (and transactions, which are also
/// committed whenever the member runs out of messages).
const COMMIT_EVERY: Duration = Duration::from_millis(200);

/// How long a poll waits for a message: also how often the loop ticks and looks for a stop.
const POLL: Duration = Duration::from_millis(100);

/// How many times the main queue is looked at after it rings.
const LOOKS_AFTER_RING: u32 = 4;

/// How many messages in a row one partition's queue may give before the next one's turn.
const BURST: usize = 64;

/// How long leaving waits for what was produced to be delivered.
const FLUSH: Duration = Duration::from_secs(30);

/// How long a rewind waits for the broker.
const SEEK: Duration = Duration::from_secs(10);

/// Runs `member` with `handler` until the handler is done or a stop signal arrives (`Ok`), or
/// something fails for good (`Err`, nothing committed past the message it failed on).
pub fn run<H: Handler>(member: Member<'_>, handler: H) -> Result<(), String> {
    let stop = stop_signal()?;
    let book = Arc::new(Mutex::new(Offsets::default()));
    let bell = Arc::new(Bell::default());
    let transaction = match &member.transactional_id {
        Some(id) => Some(Arc::new(Mutex::new(Transaction::start(
            member.kafka,
            id,
            &member.client_id,
            member.input,
        )?))),
        None => None,
    };
    let context = Context {
        book: Arc::clone(&book),
        producer: Arc::clone(&member.producer),
        transaction: transaction.clone(),
        topic: member.input.to_owned(),
        changes: Mutex::new(Changes::default()),
    };
    let mut consumer: BaseConsumer<Context> = consumer_config(&member)
        .create_with_context(context)
        .map_err(|e| format!("Kafka consumer: {e}"))?;
    let events = Arc::new(AtomicBool::new(true));
    let (main_bell, main_events) = (Arc::clone(&bell), Arc::clone(&events));
    consumer.set_nonempty_callback(move || {
        main_events.store(true, Ordering::Release);
        main_bell.ring();
    });
    let consumer = Arc::new(consumer);
    consumer
        .subscribe(&[member.input])
        .map_err(|e| format!("subscribing to {}: {e}", member.input))?;
    let mut member_loop = Loop {
        member: &member,
        consumer: &consumer,
        queues: BTreeMap::new(),
        next_queue: 0,
        taken: 0,
        bell,
        events,
        looks_left: 0,
        last_events: Instant::now(),
        book: &book,
        transaction,
        dead_letters: DeadLetters::new(member.kafka, member.input),
        waiting: VecDeque::new(),
        lost: Vec::new(),
        assigned: false,
        epochs: BTreeMap::new(),
        last_commit: Instant::now(),
    };
    let result = member_loop.serve(handler, &stop);
    if result.is_ok() {
        // Everything delivered is committed; dropping the consumer then leaves the group, so
        // its partitions move at once rather than after the session timeout.
        member_loop.leave();
    }
    result
}

/// The consumer settings every member shares; the role's and then `-X` win over them.
fn consumer_config(member: &Member<'_>) -> rdkafka::ClientConfig {
    let mut config = member.kafka.config(
        &member.client_id,
        &[
            ("group.id", member.group),
            ("enable.auto.commit", "false"),
            // A new group reads from the start: no request sent before a worker joined is
            // skipped.
            ("auto.offset.reset", "earliest"),
            // A killed member's partitions move to the others after 10 s, not 45.
            ("session.timeout.ms", "10000"),
            // A rebalance reaches the members at their next heartbeat, and a cooperative one
            // takes two: a joiner, or the partitions of a member that left, wait for them.
            ("heartbeat.interval.ms", "500"),
            // Rebalances move only the partitions that change hands: a member busy with a
            // long tile keeps its own, and a joiner does not wait for it to finish.
            ("partition.assignment.strategy", "cooperative-sticky"),
            // A member whose prefetch queue is full fetches again 10 ms after it has room,
            // not up to a second after (librdkafka's default): on 1x1 jobs the workers and the
            // assembler sat idle behind that backoff, and a job took 1.2 to 2.8 s.
            ("fetch.queue.backoff.ms", "10"),
        ],
    );
    if metrics::serving() {
        // Once a second: the partitions' lag for --metrics.
        config.set("statistics.interval.ms", "1000");
    }
    for (key, value) in &member.settings {
        config.set(*key, value);
    }
    // -X still wins over what a role sets.
    for (key, value) in &member.kafka.settings {
        config.set(key, value);
    }
    config
}

/// The loop's state around one consumer.
struct Loop<'a> {
    member: &'a Member<'a>,
    consumer: &'a Arc<BaseConsumer<Context>>,
    /// The queue of each assigned partition's messages.
    queues: BTreeMap<i32, PartitionQueue<Context>>,
    /// Where the next look for a message starts, so no partition waits on the others.
    next_queue: usize,
    /// How many messages in a row came from the queue at `next_queue`.
    taken: usize,
    /// Rung when a queue has something: the loop sleeps on it when there is nothing to do.
    bell: Arc<Bell>,
    /// Set when the main queue has something: polling it costs as much as a message, so it is
    /// polled when set, and every `POLL` in case a wake-up was missed.
    events: Arc<AtomicBool>,
    /// Looks at the main queue still due after a ring.
    looks_left: u32,
    last_events: Instant,
    book: &'a Arc<Mutex<Offsets>>,
    /// An exactly-once member's transactions, which commit in place of the book.
    transaction: Option<Arc<Mutex<Transaction>>>,
    dead_letters: DeadLetters,
    /// Messages that came through the main queue (fetched before their partition's queue
    /// was split off, so older than what that queue holds), in order.
    waiting: VecDeque<OwnedMessage>,
    /// Holds lost to a rebalance, for the handler when it is home.
    lost: Vec<u64>,
    /// Partitions were assigned since the handler was last told.
    assigned: bool,
    /// How often each partition was revoked: an answer to a message taken before its
    /// partition was revoked is not this member's to commit, even if it has it back.
    epochs: BTreeMap<i32, u64>,
    last_commit: Instant,
}

/// A handler back from long work with its message and answer.
type Done<H> = (H, OwnedMessage, Result<Answer, String>);

/// Long work on its own thread: the handler goes with it and comes back with the answer,
/// and the loop's bell rings the moment it is back, so no tile waits out a poll.
struct Work<H> {
    back: mpsc::Receiver<Done<H>>,
}

impl<H: Handler> Work<H> {
    fn start(mut handler: H, message: OwnedMessage, again: bool, bell: Arc<Bell>) -> Work<H> {
        let (send, back) = mpsc::sync_channel(1);
        thread::spawn(move || {
            // Declared first, so dropped last: the bell rings once the answer is sent, or
            // once the channel is closed if the handler panicked.
            let _wake = Wake(bell);
            let send = send;
            let answer = handler.handle(&incoming(&message, again));
            let _ = send.send((handler, message, answer));
        });
        Work { back }
    }

    /// The handler with its answer, once back; an error if its thread failed.
    fn done(&self) -> Option<Result<Done<H>, String>> {
        match self.back.try_recv() {
            Ok(done) => Some(Ok(done)),
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => Some(Err("a worker thread failed".into())),
        }
    }
}

impl Loop<'_> {
    fn serve<H: Handler>(&mut self, mut handler: H, stop: &AtomicBool) -> Result<(), String> {
        loop {
            if stop.load(Ordering::Relaxed) {
                info!("Stopping: leaving the group with every delivered answer committed");
                return Ok(());
            }
            let next = self.next_message(&mut handler)?;
            let Some(message) = next else { continue };
            let again = lock(self.book).seen(message.partition(), message.offset());
            let epoch = self.epoch(message.partition());
            let (message, answer) = if handler.long(&incoming(&message, again)) {
                // No transaction stays open across long work, so its timeout need not cover
                // a tile's time. If the brokers refused it, the message may be among those
                // read again: it comes back then.
                let rewind = self.commit_transaction()?;
                let (partition, offset) = (message.partition(), message.offset());
                if rewind
                    .iter()
                    .any(|&(p, from)| p == partition && from <= offset)
                {
                    continue;
                }
                info!(
                    partition = message.partition(),
                    offset = message.offset(),
                    "Long work: {} partition {} offset {} is answered on a thread of its own, \
                     the group served meanwhile",
                    self.member.input,
                    message.partition(),
                    message.offset()
                );
                let work = Work::start(handler, message, again, Arc::clone(&self.bell));
                match self.wait(work, stop)? {
                    Some((back, message, answer)) => {
                        handler = back;
                        (message, answer)
                    }
                    None => {
                        info!(
                            "Stopping: the tile in progress is left uncommitted to the next \
                             owner of its partition"
                        );
                        return Ok(());
                    }
                }
            } else {
                let answer = handler.handle(&incoming(&message, again));
                (message, answer)
            };
            let answer = answer.map_err(|e| self.not_committed(&message, &e))?;
            let done = answer.done;
            self.settle(&message, answer, epoch)?;
            if done {
                return Ok(());
            }
        }
    }

    /// The next message to answer, oldest first within each partition, or `None` after
    /// waiting a moment for one. Serves the group's events and the handler's tick first.
    fn next_message<H: Handler>(
        &mut self,
        handler: &mut H,
    ) -> Result<Option<OwnedMessage>, String> {
        // One clock read a turn serves every timer of the turn: the clock is read once a
        // message, and a 1x1 job is 307,202 of them.
        let now = Instant::now();
        self.serve_events(now)?;
        let lost = std::mem::take(&mut self.lost);
        if !lost.is_empty() {
            handler.lost(&lost);
        }
        if std::mem::take(&mut self.assigned) {
            handler.assigned()?;
        }
        let holds = handler.tick(now);
        self.apply(holds)?;
        if let Some(message) = self.waiting.pop_front() {
            return Ok(Some(message));
        }
        let count = self.queues.len();
        for i in 0..count {
            let at = (self.next_queue + i) % count;
            let (&partition, queue) = self.queues.iter().nth(at).expect("within the map");
            match queue.poll(Duration::ZERO) {
                Some(Ok(message)) => {
                    // A queue that has messages is drained for a burst before the next
                    // one's turn: an empty poll costs as much as a full one (five clock
                    // reads), and moving on after every message made the assembler of a 1x1
                    // job spend a third of its time polling empty queues.
                    self.taken = if at == self.next_queue {
                        self.taken + 1
                    } else {
                        1
                    };
                    self.next_queue = at;
                    if self.taken == BURST {
                        self.taken = 0;
                        self.next_queue = (at + 1) % count;
                    }
                    return Ok(Some(message.detach()));
                }
                Some(Err(error)) if unreadable(&error) => {
                    self.pass_unreadable(partition, &error)?;
                    return Ok(None);
                }
                Some(Err(error)) => {
                    warn!("consuming {} [{partition}]: {error}", self.member.input)
                }
                None => {}
            }
        }
        // Nothing to answer now: what was answered goes out at once, so a reader of committed
        // answers does not wait for COMMIT_EVERY at the end of each burst.
        self.commit_transaction()?;
        self.bell.wait(POLL);
        Ok(None)
    }

    /// Serves the consumer's main queue: the group's events (rebalances, errors); a message
    /// there waits its turn. Then follows the assignment: queues for new partitions, none for
    /// lost ones, and their holds noted for the handler. Commits if it is time.
    fn serve_events(&mut self, now: Instant) -> Result<(), String> {
        // rdkafka's poll returns after serving one event (a rebalance, a commit) even if more
        // are queued, and the queue, never empty, rings no more: a ring is followed by a few
        // more looks.
        let rung = self.events.swap(false, Ordering::Acquire);
        if rung {
            self.looks_left = LOOKS_AFTER_RING;
        }
        if self.looks_left > 0 || now.saturating_duration_since(self.last_events) >= POLL {
            self.looks_left = self.looks_left.saturating_sub(1);
            self.last_events = now;
            while let Some(polled) = self.consumer.poll(Duration::ZERO) {
                match polled {
                    Ok(message) => self.waiting.push_back(message.detach()),
                    Err(error) => warn!("consuming {}: {error}", self.member.input),
                }
            }
        }
        let changes = std::mem::take(&mut *lock(&self.consumer.context().changes));
        for partition in &changes.revoked {
            self.queues.remove(partition);
            *self.epochs.entry(*partition).or_default() += 1;
        }
        // Their new owner answers them from the last commit.
        self.waiting
            .retain(|message| !changes.revoked.contains(&message.partition()));
        self.lost.extend(changes.lost);
        if changes.assigned {
            self.split_queues();
            self.assigned = true;
        }
        if let Some(error) = changes.failed {
            return Err(error);
        }
        self.read_again(changes.rewind)?;
        self.commit_now_and_then(now)
    }

    /// Gives every assigned partition a queue of its own. An assignment hands a partition's
    /// fetched messages to the main queue again, so this follows every assignment.
    fn split_queues(&mut self) {
        let Ok(assignment) = self.consumer.assignment() else {
            return;
        };
        self.queues.clear();
        for element in assignment.elements() {
            let partition = element.partition();
            let queue = self
                .consumer
                .split_partition_queue(self.member.input, partition);
            if let Some(mut queue) = queue {
                let bell = Arc::clone(&self.bell);
                queue.set_nonempty_callback(move || bell.ring());
                self.queues.insert(partition, queue);
            }
        }
        self.next_queue = 0;
        self.taken = 0;
    }

    /// Serves the group while long work runs, taking no message: rebalances, heartbeats and
    /// commits go on. `None` if a stop signal came first: the work is abandoned.
    fn wait<H: Handler>(
        &mut self,
        work: Work<H>,
        stop: &AtomicBool,
    ) -> Result<Option<Done<H>>, String> {
        loop {
            if let Some(done) = work.done() {
                return done.map(Some);
            }
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            self.serve_events(Instant::now())?;
            self.bell.wait(POLL);
        }
    }

    /// Passes the batch a partition cannot read, which librdkafka would fetch again for
    /// ever: its first offset is dead-lettered (a NULL copy saying why, its origin in the
    /// headers) and committed like any answered message, and reading goes on after it, one
    /// offset at a time until the batch is behind.
    fn pass_unreadable(&mut self, partition: i32, error: &KafkaError) -> Result<(), String> {
        let topic = self.member.input;
        let Some(offset) = self.position(partition) else {
            warn!("consuming {topic} [{partition}]: {error}; its position is not known yet");
            return Ok(());
        };
        let message = OwnedMessage::new(
            None,
            None,
            topic.to_owned(),
            rdkafka::Timestamp::NotAvailable,
            partition,
            offset,
            None,
        );
        let answer = Answer {
            dead_letter: Some(Letter::from(format!(
                "the batch at {topic} partition {partition} offset {offset} cannot be read: \
                 {error}"
            ))),
            ..Answer::default()
        };
        let epoch = self.epoch(partition);
        self.settle(&message, answer, epoch)?;
        self.consumer
            .seek(topic, partition, Offset::Offset(offset + 1), SEEK)
            .map_err(|e| format!("passing {topic} partition {partition} offset {offset}: {e}"))
    }

    /// The offset a partition is read from next: past the last message taken (librdkafka's
    /// position does not move for a seek), else its last commit, else its first offset.
    fn position(&self, partition: i32) -> Option<i64> {
        let topic = self.member.input;
        let taken = lock(self.book).next(partition);
        let known = |list: KafkaResult<TopicPartitionList>| match list
            .ok()?
            .find_partition(topic, partition)?
            .offset()
        {
            Offset::Offset(offset) => Some(offset),
            _ => None,
        };
        let position = known(self.consumer.position());
        match (taken, position) {
            (Some(taken), Some(position)) => return Some(taken.max(position)),
            (Some(at), None) | (None, Some(at)) => return Some(at),
            (None, None) => {}
        }
        known(self.consumer.committed(SEEK)).or_else(|| {
            let (low, _) = self
                .consumer
                .fetch_watermarks(topic, partition, SEEK)
                .ok()?;
            Some(low)
        })
    }

    /// Commits if it is time, and ends the member if a delivery failed for good.
    fn commit_now_and_then(&mut self, now: Instant) -> Result<(), String> {
        if let Some(transaction) = &self.transaction {
            if lock(transaction).open_for(now) >= Some(COMMIT_EVERY) {
                self.commit_transaction()?;
            }
            return Ok(());
        }
        // Read on its own line: a guard in an `if let` lives through the body, and commit
        // locks the book again.
        let failed = lock(self.book).failed;
        if let Some((partition, offset)) = failed {
            commit(
                self.consumer,
                self.member.input,
                self.book,
                CommitMode::Sync,
            );
            return Err(format!(
                "an answer to {} partition {partition} offset {offset} could not be delivered; \
                 exiting without committing it, so it is answered again on restart",
                self.member.input
            ));
        }
        if now.saturating_duration_since(self.last_commit) >= COMMIT_EVERY {
            commit(
                self.consumer,
                self.member.input,
                self.book,
                CommitMode::Async,
            );
            self.last_commit = now;
        }
        Ok(())
    }

    /// How often `partition` was revoked from this member.
    fn epoch(&self, partition: i32) -> u64 {
        self.epochs.get(&partition).copied().unwrap_or(0)
    }

    /// Produces an answer to a message taken in `epoch` of its partition; the message's
    /// offset is committed once all of it is delivered and its hold, if any, is released.
    fn settle(&mut self, message: &OwnedMessage, answer: Answer, epoch: u64) -> Result<(), String> {
        let sent = self.send_answer(message, answer, epoch);
        if sent.is_err() {
            // Nothing of the open transaction may be committed now, not even by the revoke
            // that dropping the consumer makes: this message's answer is incomplete.
            if let Some(transaction) = &self.transaction {
                lock(transaction).abort();
            }
        }
        sent
    }

    fn send_answer(
        &mut self,
        message: &OwnedMessage,
        answer: Answer,
        epoch: u64,
    ) -> Result<(), String> {
        let (partition, offset) = (message.partition(), message.offset());
        let deliveries = answer.replies.len() + usize::from(answer.dead_letter.is_some());
        // A partition lost while its message was answered (long work) is another member's
        // now, or was and is back, read from its last commit: the answer still goes out, a
        // harmless duplicate, but this member commits nothing for it.
        let owned = self.queues.contains_key(&partition) && self.epoch(partition) == epoch;
        let producer = match &self.transaction {
            // Exactly once: its new owner answers it; this answer would be a second one.
            Some(_) if !owned => {
                info!(
                    partition,
                    offset,
                    "{} partition {partition} offset {offset} moved to another member while it \
                     was answered: the answer is dropped",
                    self.member.input
                );
                return Ok(());
            }
            Some(transaction) => {
                let mut transaction = lock(transaction);
                transaction.take(partition, offset)?;
                transaction.producer()
            }
            None => Arc::clone(&self.member.producer),
        };
        if self.transaction.is_none() {
            let mut book = lock(self.book);
            if owned {
                book.begin(partition, offset, deliveries as u32);
                if let Some(key) = answer.hold {
                    book.hold(key, partition, offset);
                }
            }
        }
        self.apply(answer.holds)?;
        let settles = || {
            (owned && self.transaction.is_none()).then(|| Settles {
                offsets: Arc::clone(self.book),
                partition,
                offset,
            })
        };
        if let Some(letter) = &answer.dead_letter {
            self.dead_letters.set_aside(
                &producer,
                message.payload(),
                message.key(),
                (partition, offset),
                letter,
                settles(),
            )?;
        }
        for (key, payload) in &answer.replies {
            kafka::send(
                producer.as_ref(),
                self.member.output,
                key,
                Some(payload),
                None,
                settles(),
            )?;
        }
        Ok(())
    }

    /// Ends holds, and rewinds the partitions of holds read again to the held offsets.
    fn apply(&mut self, holds: Holds) -> Result<(), String> {
        if holds.is_empty() {
            return Ok(()); // most messages: no lock taken
        }
        let rewind: Rewind = {
            let mut book = lock(self.book);
            for key in &holds.release {
                book.release(*key);
            }
            holds
                .read_again
                .iter()
                .flat_map(|&k| book.held(k))
                .collect()
        };
        self.read_again(rewind)
    }

    /// Rewinds partitions to read them again from the earliest offset given for each.
    fn read_again(&mut self, rewind: Rewind) -> Result<(), String> {
        let mut from: BTreeMap<i32, i64> = BTreeMap::new();
        for (partition, offset) in rewind {
            let at = from.entry(partition).or_insert(offset);
            *at = (*at).min(offset);
        }
        for (partition, offset) in from {
            if !self.queues.contains_key(&partition) {
                continue; // another member's now: it reads from the last commit anyway
            }
            // Fetched messages of it are past the rewind: they come again.
            self.waiting
                .retain(|message| message.partition() != partition);
            self.consumer
                .seek(
                    self.member.input,
                    partition,
                    Offset::Offset(offset),
                    SEEK,
                )
                .map_err(|e| {
                    format!(
                        "reading {} partition {partition} again from offset {offset}: {e};                          exiting with it uncommitted, so a restart reads it",
                        self.member.input
                    )
                })?;
            info!(
                partition,
                offset,
                "Reading {} partition {partition} again from offset {offset}",
                self.member.input
            );
        }
        Ok(())
    }

    /// The error that ends the member at `message`, which stays uncommitted.
    fn not_committed(&mut self, message: &OwnedMessage, error: &str) -> String {
        self.commit_all();
        format!(
            "{error}; {} partition {} offset {} is not committed, so it is answered again on \
             restart",
            self.member.input,
            message.partition(),
            message.offset()
        )
    }

    /// Commits the open transaction of an exactly-once member, if one is open; the
    /// messages of one the brokers refused are read again, from the offsets returned.
    fn commit_transaction(&mut self) -> Result<Rewind, String> {
        let Some(transaction) = &self.transaction else {
            return Ok(Rewind::new());
        };
        let rewind = lock(transaction).commit(self.consumer.as_ref())?;
        self.read_again(rewind.clone())?;
        Ok(rewind)
    }

    /// Delivers what was answered and commits it, before the member ends.
    fn commit_all(&mut self) {
        match &self.transaction {
            Some(transaction) => {
                let committed = lock(transaction).commit(self.consumer.as_ref());
                if let Err(error) = committed {
                    warn!("{error}");
                }
            }
            None => {
                if let Err(error) = self.member.producer.flush(FLUSH) {
                    warn!("delivering the last answers: {error}");
                }
                commit(
                    self.consumer,
                    self.member.input,
                    self.book,
                    CommitMode::Sync,
                );
            }
        }
    }

    /// Commits what was answered before the consumer is dropped and leaves the group.
    fn leave(&mut self) {
        self.commit_all();
    }
}

/// Whether a consumer error means that a partition's next batch cannot be read however
/// often it is fetched: corrupt, or in a codec this build lacks.
fn unreadable(error: &KafkaError) -> bool {
    matches!(
        error,
        KafkaError::MessageConsumption(
            RDKafkaErrorCode::BadMessage
                | RDKafkaErrorCode::BadCompression
                | RDKafkaErrorCode::NotImplemented
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord
        )
    )
}

/// A message's view for its handler.
fn incoming(message: &OwnedMessage, again: bool) -> Incoming<'_> {
    Incoming {
        payload: message.payload(),
        key: message.key(),
        partition: message.partition(),
        offset: message.offset(),
        again,
    }
}

/// The consumer's context: on losing partitions, deliver what is in flight and commit it,
/// then forget them; note the changes for the loop.
struct Context {
    book: Arc<Mutex<Offsets>>,
    producer: Arc<ThreadedProducer<Deliveries>>,
    transaction: Option<Arc<Mutex<Transaction>>>,
    topic: String,
    changes: Mutex<Changes>,
}

/// What rebalances changed since the loop last looked.
#[derive(Default)]
struct Changes {
    /// Partitions were assigned: their queues must be split off.
    assigned: bool,
    revoked: Vec<i32>,
    /// Holds lost with the revoked partitions.
    lost: Vec<u64>,
    /// Partitions kept whose messages are read again: their transaction was aborted.
    rewind: Rewind,
    /// Committing on revoke failed for good: the member ends.
    failed: Option<String>,
}

impl ClientContext for Context {
    /// librdkafka's statistics, asked for when --metrics serves them: each assigned
    /// partition's lag.
    fn stats(&self, statistics: Statistics) {
        for (name, topic) in &statistics.topics {
            for (&partition, stats) in &topic.partitions {
                // Partition -1 is librdkafka's internal one; a lag of -1 is not known yet.
                if partition >= 0 && stats.consumer_lag >= 0 {
                    metrics().lag(name, partition, stats.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            let revoked: Vec<i32> = partitions
                .elements()
                .iter()
                .map(|e| e.partition())
                .collect();
            // Their lag is their next owner's to tell.
            for element in partitions.elements() {
                metrics().forget_lag(element.topic(), element.partition());
            }
            // What is answered goes out with its offsets while they are still ours. No lock is
            // held across the commit: deliveries it waits for lock the book.
            let committed = match &self.transaction {
                Some(transaction) => {
                    let committed = lock(transaction).commit(consumer);
                    committed.map(|rewind| {
                        let kept = |(p, _): &(i32, i64)| !revoked.contains(p);
                        rewind.into_iter().filter(kept).collect::<Rewind>()
                    })
                }
                None => {
                    let _ = self.producer.flush(FLUSH);
                    commit(consumer, &self.topic, &self.book, CommitMode::Sync);
                    Ok(Rewind::new())
                }
            };
            let lost = lock(&self.book).forget(&revoked);
            let mut changes = lock(&self.changes);
            match committed {
                Ok(rewind) => changes.rewind.extend(rewind),
                Err(error) => changes.failed = Some(error),
            }
            changes.revoked.extend(revoked);
            changes.lost.extend(lost);
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(_) = rebalance {
            // A partition revoked and assigned again in one go stays revoked for the loop:
            // it is read again from its last commit, so what was taken of it before goes.
            lock(&self.changes).assigned = true;
        }
        kafka::log_assignment(rebalance);
    }
}

/// Commits every partition's safe offset that moved since the last commit.
fn commit<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    book: &Mutex<Offsets>,
    mode: CommitMode,
) {
    let moves = lock(book).take_commits();
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

/// Stops every member of this process as SIGTERM would: each stops taking messages, commits
/// what it answered and leaves its group.
pub fn stop_members() {
    if let Ok(stop) = stop_signal() {
        stop.store(true, Ordering::Relaxed);
    }
}

/// Set once SIGTERM or SIGINT (Ctrl-C) arrives: members then stop taking messages, commit
/// what was delivered and leave their groups. Registered once per process.
fn stop_signal() -> Result<Arc<AtomicBool>, String> {
    static STOP: OnceLock<Result<Arc<AtomicBool>, String>> = OnceLock::new();
    STOP.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register(signal, Arc::clone(&flag))
                .map_err(|e| format!("handling signal {signal}: {e}"))?;
        }
        Ok(flag)
    })
    .clone()
}

/// Rings a bell when dropped.
struct Wake(Arc<Bell>);

impl Drop for Wake {
    fn drop(&mut self) {
        self.0.ring();
    }
}

/// Wakes the loop when one of its queues has something.
#[derive(Default)]
struct Bell {
    rung: Mutex<bool>,
    signal: Condvar,
}

impl Bell {
    fn ring(&self) {
        *lock(&self.rung) = true;
        self.signal.notify_all();
    }

    /// Waits until rung, at most `timeout`; whether it was rung.
    fn wait(&self, timeout: Duration) -> bool {
        let rung = lock(&self.rung);
        let (mut rung, _) = self
            .signal
            .wait_timeout_while(rung, timeout, |rung| !*rung)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        std::mem::replace(&mut *rung, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler whose every answer takes a while, as a big tile does.
    struct Slow;

    impl Handler for Slow {
        fn handle(&mut self, _: &Incoming<'_>) -> Result<Answer, String> {
            thread::sleep(Duration::from_millis(20));
            Ok(Answer::default())
        }
    }

    fn message() -> OwnedMessage {
        let timestamp = rdkafka::Timestamp::NotAvailable;
        OwnedMessage::new(None, None, "t".into(), timestamp, 0, 7, None)
    }

    /// The loop sleeps on its bell while long work runs. Before, nothing rang it when the
    /// work was done, so every long tile waited out the rest of a poll (a 384-tile job took
    /// 25.6 s through the pipeline against 5.3 s in `render`).
    #[test]
    fn long_work_rings_the_loop_the_moment_it_is_done() {
        let bell = Arc::new(Bell::default());
        let work = Work::start(Slow, message(), false, Arc::clone(&bell));
        assert!(bell.wait(Duration::from_secs(60)), "rung, not timed out");
        let (_, message, answer) = work.done().expect("back").expect("no failure");
        assert_eq!(message.offset(), 7);
        assert!(answer.is_ok());
    }

    /// A handler that panics on its own thread ends the member with an error, not a hang.
    #[test]
    fn long_work_whose_thread_fails_is_an_error() {
        struct Failing;
        impl Handler for Failing {
            fn handle(&mut self, _: &Incoming<'_>) -> Result<Answer, String> {
                panic!("a bug in a handler");
            }
        }
        let bell = Arc::new(Bell::default());
        let work = Work::start(Failing, message(), false, Arc::clone(&bell));
        assert!(bell.wait(Duration::from_secs(60)), "rung, not timed out");
        let failed = work.done().expect("back").err();
        assert_eq!(failed.as_deref(), Some("a worker thread failed"));
    }
}
