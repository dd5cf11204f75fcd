//! The one consumer loop of the Kafka roles (calc, bridge, image): take a message, have the
//! role's handler answer it, have the commit strategy send the answer and commit, and keep
//! serving the group meanwhile. It only schedules: what may be committed is the strategy's
//! [`Membership`](fixedbrot_pipeline::Membership), what a message means is the handler's.
//!
//! Each assigned partition's messages arrive on a queue of their own, so the consumer's main
//! queue carries only the group's events: while long work runs the loop keeps serving those
//! and takes no message, with nothing paused (a paused partition resumes fetching only after
//! about a second, which measured a second a tile on a board).
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use fixedbrot_pipeline::{Answer, Handler, Incoming, Letter, Taken};
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::args::Member;
use super::commits::{Commits, Rewind};
use super::error::Error;
use crate::log::{info, warn};
use crate::metrics::metrics;

/// How long a poll waits for a message: also how often the loop ticks and looks for a stop.
const POLL: Duration = Duration::from_millis(100);

/// How many times the main queue is looked at after it rings.
const LOOKS_AFTER_RING: u32 = 4;

/// How many messages in a row one partition's queue may give before the next one's turn.
const BURST: usize = 64;

/// How long a seek waits for the broker.
const SEEK: Duration = Duration::from_secs(10);

/// How long leaving waits for its last commit to be acknowledged.
const COMMIT_WAIT: Duration = Duration::from_secs(10);

/// How long leaving waits for the group to let the member go.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Locks a mutex whose holder may have panicked. Nothing under one here can be left
/// half-changed in a way that loses work (an offset book at worst commits late), so a
/// poisoned lock is used as it is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `member` with `handler`, its answers and offsets going through `commits`, until the
/// handler is done or a stop signal arrives (`Ok`), or something fails for good (`Err`,
/// nothing committed past the message it failed on).
pub fn run<H, S>(member: Member<'_>, commits: S, handler: H) -> Result<(), Error>
where
    H: Handler,
    S: Commits<Key = H::Key>,
{
    let stop = stop_signal()?;
    let bell = Arc::new(Bell::default());
    let group = member.kafka.group(member.group);
    let config = member.kafka.consumer_config(
        &member.client_id,
        group,
        member.prefetch,
        member.read_committed,
    );
    let context = Context {
        commits: Mutex::new(commits),
        changes: Mutex::new(Changes::default()),
    };
    let mut consumer: BaseConsumer<Context<S>> = config
        .create_with_context(context)
        .map_err(|e| Error::Consumer(e.to_string()))?;
    let events = Arc::new(AtomicBool::new(true));
    let (main_bell, main_events) = (Arc::clone(&bell), Arc::clone(&events));
    consumer.set_nonempty_callback(move || {
        main_events.store(true, Ordering::Release);
        main_bell.ring();
    });
    consumer
        .subscribe(&[member.input])
        .map_err(|e| Error::Consumer(format!("subscribing to {}: {e}", member.input)))?;
    let consumer = Arc::new(consumer);
    let mut member_loop = Loop {
        topic: member.input,
        consumer: &consumer,
        queues: BTreeMap::new(),
        next_queue: 0,
        taken: 0,
        bell,
        events,
        looks_left: 0,
        last_events: Instant::now(),
        waiting: VecDeque::new(),
    };
    let result = member_loop.serve(handler, &stop);
    // Everything delivered is committed: on leaving, so that dropping the consumer leaves the
    // group and its partitions move at once rather than after the session timeout; on
    // failing, up to the message it failed on.
    member_loop.finish(&result);
    drop(member_loop);
    leave(consumer);
    result
}

/// Closes the consumer, leaving its group, within `CLOSE_WAIT`. rdkafka's own drop waits
/// for the close for ever: with a broker that does not answer, the member (and SIGTERM)
/// would wait with it. What is not committed by then is answered again by the next owner.
fn leave<C: ConsumerContext>(consumer: Arc<BaseConsumer<C>>) {
    let deadline = Instant::now() + CLOSE_WAIT;
    if consumer.close_queue().is_ok() {
        while !consumer.closed() && Instant::now() < deadline {
            let _ = consumer.poll(POLL);
        }
    }
    if !consumer.closed() {
        warn!(
            "leaving the group: no broker answered within {} s; going without it",
            CLOSE_WAIT.as_secs()
        );
        // Its drop would wait for the close; the process is ending.
        std::mem::forget(consumer);
    }
}

/// The loop's state around one consumer.
struct Loop<'a, S: Commits> {
    topic: &'a str,
    consumer: &'a Arc<BaseConsumer<Context<S>>>,
    /// The queue of each assigned partition's messages.
    queues: BTreeMap<i32, PartitionQueue<Context<S>>>,
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
    /// Messages that came through the main queue (fetched before their partition's queue
    /// was split off, so older than what that queue holds), in order.
    waiting: VecDeque<OwnedMessage>,
}

/// A handler back from long work with its message and answer.
type Done<H> = (
    H,
    OwnedMessage,
    Result<Answer<<H as Handler>::Key>, <H as Handler>::Error>,
);

impl<S: Commits> Loop<'_, S> {
    /// The commit strategy. Never held across a poll of the consumer, whose rebalance
    /// callback takes it too.
    fn commits(&self) -> MutexGuard<'_, S> {
        lock(&self.consumer.context().commits)
    }

    fn serve<H: Handler<Key = S::Key>>(
        &mut self,
        mut handler: H,
        stop: &AtomicBool,
    ) -> Result<(), Error> {
        loop {
            if stop.load(Ordering::Relaxed) {
                info!("Stopping: leaving the group with every delivered answer committed");
                return Ok(());
            }
            let Some(message) = self.next_message(&mut handler)? else {
                continue;
            };
            let taken = self
                .commits()
                .membership()
                .take(message.partition(), message.offset());
            let (message, answer) = if handler.long(&incoming(&message, taken.again)) {
                if self.aborted_before_long_work(&taken)? {
                    continue; // it comes again
                }
                let Some(done) = self.long_work(handler, message, &taken, stop)? else {
                    return Ok(());
                };
                let (back, message, answer) = done;
                handler = back;
                (message, answer)
            } else {
                let answer = handler.handle(&incoming(&message, taken.again));
                (message, answer)
            };
            let answer = answer.map_err(|cause| Error::Handler {
                cause: Box::new(cause),
                topic: self.topic.to_owned(),
                partition: message.partition(),
                offset: message.offset(),
            })?;
            let done = answer.done;
            self.settle(&message, &taken, answer)?;
            if done {
                return Ok(());
            }
        }
    }

    /// Commits before long work, so that no transaction stays open across it and its
    /// timeout need not cover a tile's time. Whether the brokers refused that transaction and
    /// the message at hand is among those read again.
    fn aborted_before_long_work(&mut self, taken: &Taken) -> Result<bool, Error> {
        let rewind = self.commits().commit_now(self.consumer.as_ref())?;
        self.read_again(&rewind)?;
        Ok(rewind
            .get(&taken.partition)
            .is_some_and(|&from| from <= taken.offset))
    }

    /// Answers `message` on a thread of its own while the group is served. `None` if a stop
    /// signal came first: the work is abandoned.
    fn long_work<H: Handler<Key = S::Key>>(
        &mut self,
        handler: H,
        message: OwnedMessage,
        taken: &Taken,
        stop: &AtomicBool,
    ) -> Result<Option<Done<H>>, Error> {
        info!(
            partition = taken.partition,
            offset = taken.offset,
            "Long work: {} partition {} offset {} is answered on a thread of its own, the \
             group served meanwhile",
            self.topic,
            taken.partition,
            taken.offset
        );
        let work = Work::start(handler, message, taken.again, Arc::clone(&self.bell));
        let done = self.wait(&work, stop)?;
        if done.is_none() {
            info!("Stopping: the tile in progress is left uncommitted to the next owner of its partition");
        }
        Ok(done)
    }

    /// Has the strategy send an answer and book its hold, then ends or rewinds the holds it
    /// names (after its own hold: an answer may hold and release one key). If the answer
    /// cannot be sent, nothing of it is committed.
    fn settle(
        &mut self,
        message: &OwnedMessage,
        taken: &Taken,
        mut answer: Answer<S::Key>,
    ) -> Result<(), Error> {
        let holds = std::mem::take(&mut answer.holds);
        let mut commits = self.commits();
        let sent = commits.settle(message, taken, &answer);
        if sent.is_err() {
            commits.abandon();
        }
        let rewind = commits.membership().apply(holds);
        drop(commits);
        sent?;
        self.read_again(&rewind)
    }

    /// The next message to answer, oldest first within each partition, or `None` after
    /// waiting a moment for one. Serves the group's events and the handler's tick first.
    fn next_message<H: Handler<Key = S::Key>>(
        &mut self,
        handler: &mut H,
    ) -> Result<Option<OwnedMessage>, Error> {
        // One clock read a turn serves every timer of the turn: the clock is read once a
        // message, and a 1x1 job is 307,202 of them.
        let now = Instant::now();
        self.serve_events(now)?;
        self.tell_handler(handler, now)?;
        if let Some(message) = self.waiting.pop_front() {
            return Ok(Some(message));
        }
        if let Some(message) = self.poll_queues()? {
            return Ok(Some(message));
        }
        // Nothing to answer now: what was answered goes out at once, so a reader of committed
        // answers does not wait for COMMIT_EVERY at the end of each burst.
        let rewind = self.commits().commit_now(self.consumer.as_ref())?;
        self.read_again(&rewind)?;
        self.bell.wait(POLL);
        Ok(None)
    }

    /// Tells the handler what rebalances did and what time it is, and acts on its holds.
    fn tell_handler<H: Handler<Key = S::Key>>(
        &mut self,
        handler: &mut H,
        now: Instant,
    ) -> Result<(), Error> {
        let (lost, assigned) = {
            let mut commits = self.commits();
            let membership = commits.membership();
            (membership.take_lost(), membership.take_assigned())
        };
        if !lost.is_empty() {
            handler.lost(&lost);
        }
        if assigned {
            handler
                .assigned()
                .map_err(|cause| Error::Role(Box::new(cause)))?;
        }
        let holds = handler.tick(now);
        if holds.is_empty() {
            return Ok(()); // most turns: no lock taken
        }
        let rewind = self.commits().membership().apply(holds);
        self.read_again(&rewind)
    }

    /// The next message of the partitions' queues, taking turns.
    fn poll_queues(&mut self) -> Result<Option<OwnedMessage>, Error> {
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
                Some(Err(error)) => warn!("consuming {} [{partition}]: {error}", self.topic),
                None => {}
            }
        }
        Ok(None)
    }

    /// Serves the consumer's main queue: the group's events (rebalances, errors); a message
    /// there waits its turn. Then follows the assignment: queues for new partitions, none for
    /// lost ones. Commits if it is time.
    fn serve_events(&mut self, now: Instant) -> Result<(), Error> {
        // rdkafka's poll returns after serving one event (a rebalance, a commit) even if more
        // are queued, and the queue, never empty, rings no more: a ring is followed by a few
        // more looks.
        if self.events.swap(false, Ordering::Acquire) {
            self.looks_left = LOOKS_AFTER_RING;
        }
        if self.looks_left > 0 || now.saturating_duration_since(self.last_events) >= POLL {
            self.looks_left = self.looks_left.saturating_sub(1);
            self.last_events = now;
            while let Some(polled) = self.consumer.poll(Duration::ZERO) {
                match polled {
                    Ok(message) => self.waiting.push_back(message.detach()),
                    Err(error) => warn!("consuming {}: {error}", self.topic),
                }
            }
        }
        let changes = std::mem::take(&mut *lock(&self.consumer.context().changes));
        for partition in &changes.revoked {
            self.queues.remove(partition);
        }
        // Their new owner answers them from the last commit.
        self.waiting
            .retain(|message| !changes.revoked.contains(&message.partition()));
        if changes.assigned {
            self.split_queues();
        }
        if let Some(error) = changes.failed {
            return Err(error);
        }
        self.read_again(&changes.rewind)?;
        let rewind = self.commits().now_and_then(self.consumer.as_ref(), now)?;
        self.read_again(&rewind)
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
            let queue = self.consumer.split_partition_queue(self.topic, partition);
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
        work: &Work<H>,
        stop: &AtomicBool,
    ) -> Result<Option<Done<H>>, Error> {
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

    /// Rewinds partitions to read them again, each from its offset (owned ones only: the
    /// strategy's membership chose them).
    fn read_again(&mut self, rewind: &Rewind) -> Result<(), Error> {
        for (&partition, &offset) in rewind {
            if !self.queues.contains_key(&partition) {
                continue; // another member's now: it reads from the last commit anyway
            }
            // Fetched messages of it are past the rewind: they come again.
            self.waiting
                .retain(|message| message.partition() != partition);
            self.seek("reading again", partition, offset)?;
            info!(
                partition,
                offset, "Reading {} partition {partition} again from offset {offset}", self.topic
            );
        }
        Ok(())
    }

    fn seek(&self, doing: &'static str, partition: i32, offset: i64) -> Result<(), Error> {
        self.consumer
            .seek(self.topic, partition, Offset::Offset(offset), SEEK)
            .map_err(|cause| Error::Seek {
                doing,
                topic: self.topic.to_owned(),
                partition,
                offset,
                cause: cause.to_string(),
            })
    }

    /// Passes the batch a partition cannot read, which librdkafka would fetch again for
    /// ever: its first offset is dead-lettered (a NULL copy saying why, its origin in the
    /// headers) and committed like any answered message, and reading goes on after it, one
    /// offset at a time until the batch is behind.
    fn pass_unreadable(&mut self, partition: i32, error: &KafkaError) -> Result<(), Error> {
        let topic = self.topic;
        let Some(offset) = self.position(partition) else {
            warn!("consuming {topic} [{partition}]: {error}; its position is not known yet");
            return Ok(());
        };
        let timestamp = rdkafka::Timestamp::NotAvailable;
        let message =
            OwnedMessage::new(None, None, topic.into(), timestamp, partition, offset, None);
        let taken = self.commits().membership().take(partition, offset);
        let answer = Answer {
            dead_letter: Some(Letter::from(format!(
                "the batch at {topic} partition {partition} offset {offset} cannot be read: \
                 {error}"
            ))),
            ..Answer::default()
        };
        self.settle(&message, &taken, answer)?;
        self.seek("passing", partition, offset + 1)
    }

    /// The offset a partition is read from next: past the last message taken (librdkafka's
    /// position does not move for a seek), else its last commit, else its first offset.
    fn position(&self, partition: i32) -> Option<i64> {
        let topic = self.topic;
        let taken = self.commits().membership().next(partition);
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
            (Some(taken), Some(position)) => Some(taken.max(position)),
            (Some(at), None) | (None, Some(at)) => Some(at),
            (None, None) => known(self.consumer.committed(SEEK)).or_else(|| {
                let (low, _) = self
                    .consumer
                    .fetch_watermarks(topic, partition, SEEK)
                    .ok()?;
                Some(low)
            }),
        }
    }

    /// Delivers and commits what was answered before the consumer is dropped, waiting a
    /// while for the commit to be acknowledged.
    fn finish(&mut self, result: &Result<(), Error>) {
        if let Err(Error::Transaction(_)) = result {
            return; // a transactional producer that can go on no more commits nothing
        }
        let committing = self.commits().finish(self.consumer.as_ref());
        if committing.is_empty() {
            return;
        }
        // Asked of the broker, each ask within the time left: rdkafka reports no
        // acknowledgement of an asynchronous commit, and a synchronous one waits for ever.
        let mut list = TopicPartitionList::new();
        for &(partition, _) in &committing {
            list.add_partition(self.topic, partition);
        }
        let deadline = Instant::now() + COMMIT_WAIT;
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Ok(committed) = self.consumer.committed_offsets(list.clone(), left) {
                let at = |partition| match committed.find_partition(self.topic, partition) {
                    Some(element) => element.offset(),
                    None => Offset::Invalid,
                };
                let all = committing
                    .iter()
                    .all(|&(partition, offset)| at(partition) == Offset::Offset(offset));
                if all {
                    return;
                }
            }
            std::thread::sleep(POLL);
        }
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

/// The consumer's context: on losing partitions, has the strategy deliver and commit what is
/// answered of them, then forget them; notes the changes for the loop.
struct Context<S> {
    commits: Mutex<S>,
    changes: Mutex<Changes>,
}

/// What rebalances changed since the loop last looked.
#[derive(Default)]
struct Changes {
    /// Partitions were assigned: their queues must be split off.
    assigned: bool,
    revoked: Vec<i32>,
    /// Partitions kept whose messages are read again: their transaction was aborted.
    rewind: Rewind,
    /// Committing on revoke failed for good: the member ends.
    failed: Option<Error>,
}

impl<S: Commits> ClientContext for Context<S> {
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

impl<S: Commits> ConsumerContext for Context<S> {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(partitions) = rebalance else {
            return;
        };
        let revoked: Vec<i32> = partitions
            .elements()
            .iter()
            .map(|e| e.partition())
            .collect();
        // Their lag is their next owner's to tell.
        for element in partitions.elements() {
            metrics().forget_lag(element.topic(), element.partition());
        }
        let committed = {
            let mut commits = lock(&self.commits);
            let committed = commits.revoking(consumer, &revoked);
            commits.membership().revoke(&revoked);
            committed
        };
        let mut changes = lock(&self.changes);
        match committed {
            Ok(rewind) => changes.rewind.extend(rewind),
            Err(error) => changes.failed = Some(error),
        }
        changes.revoked.extend(revoked);
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            let assigned: Vec<i32> = partitions
                .elements()
                .iter()
                .map(|e| e.partition())
                .collect();
            lock(&self.commits).membership().assign(&assigned);
            // A partition revoked and assigned again in one go stays revoked for what was
            // taken of it before: it is read again from its last commit.
            lock(&self.changes).assigned = true;
        }
        log_assignment(rebalance);
    }
}

/// Logs a consumer's new partitions: the line tests and scripts wait for before producing.
fn log_assignment(rebalance: &Rebalance<'_>) {
    if let Rebalance::Assign(partitions) = rebalance {
        let elements = partitions.elements();
        // A cooperative rebalance may assign nothing new: not worth a line, nor a test's wait.
        if elements.is_empty() {
            return;
        }
        let topic = elements
            .first()
            .map_or(String::new(), |e| e.topic().to_owned());
        let mut list: Vec<i32> = elements.iter().map(|e| e.partition()).collect();
        list.sort();
        info!(topic, partitions = ?list, "Partitions assigned: {topic} {list:?}");
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
fn stop_signal() -> Result<Arc<AtomicBool>, Error> {
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
    .map_err(Error::Thread)
}

/// Long work on its own thread: the handler goes with it and comes back with the answer,
/// and the loop's bell rings the moment it is back, so no tile waits out a poll.
struct Work<H: Handler> {
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
    fn done(&self) -> Option<Result<Done<H>, Error>> {
        match self.back.try_recv() {
            Ok(done) => Some(Ok(done)),
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => {
                Some(Err(Error::Thread("a worker thread failed".into())))
            }
        }
    }
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

    #[derive(Debug, thiserror::Error)]
    #[error("never")]
    struct NoError;

    impl Handler for Slow {
        type Key = fixedbrot_pipeline::Never;
        type Error = NoError;

        fn handle(&mut self, _: &Incoming<'_>) -> Result<Answer<Self::Key>, NoError> {
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
            type Key = fixedbrot_pipeline::Never;
            type Error = NoError;

            fn handle(&mut self, _: &Incoming<'_>) -> Result<Answer<Self::Key>, NoError> {
                panic!("a bug in a handler");
            }
        }
        let bell = Arc::new(Bell::default());
        let work = Work::start(Failing, message(), false, Arc::clone(&bell));
        assert!(bell.wait(Duration::from_secs(60)), "rung, not timed out");
        let failed = work.done().expect("back").err().map(|e| e.to_string());
        assert_eq!(failed.as_deref(), Some("a worker thread failed"));
    }
}
