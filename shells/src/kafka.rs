//! The Kafka side of the shells: connection flags, client settings, a broker check under a
//! deadline, a producer that reports every delivery, topic creation and the dead-letter topic.
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use clap::Args;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{Client, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::Rebalance;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer,
};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;

use crate::consumer::Letter;
use crate::log::{info, warn, Progress};
use crate::metrics::metrics;
use crate::offsets::Offsets;

/// The original's consumer group of calculation workers (calc, and bridges with boards).
pub const CALCULATION_GROUP: &str = "Mandelbrot.Calculation.Connector";

/// The original's consumer group of image assemblers.
pub const IMAGE_GROUP: &str = "Mandelbrot.Image.Connector";

/// How to reach Kafka, shared by every subcommand that does.
#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, host:port[,host:port...]
    #[arg(long, env = "KAFKA_BROKERS", default_value = "localhost:9092")]
    pub brokers: String,
    /// Any librdkafka setting, as kcat's -X: -X security.protocol=SSL -X sasl.mechanism=...
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_setting)]
    pub settings: Vec<(String, String)>,
    /// The topic of tile requests (and BEGIN/END markers)
    #[arg(long, visible_alias = "topic", default_value = "connector-requests")]
    pub requests_topic: String,
    /// The topic of tile results (and markers passed through)
    #[arg(long, default_value = "connector-responses")]
    pub responses_topic: String,
    /// Seconds to wait for the brokers and the topics at start before giving up (1-3600)
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub connect_timeout: u64,
}

/// The longest topic name Kafka accepts.
const MAX_TOPIC_NAME: usize = 249;

/// Why `name` cannot be a Kafka topic, if it cannot: Kafka's own rules.
fn topic_name_fault(name: &str) -> Option<&'static str> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() {
        Some("is empty")
    } else if name == "." || name == ".." {
        Some("is not a topic name")
    } else if name.len() > MAX_TOPIC_NAME {
        Some("is longer than the 249 characters Kafka allows")
    } else if !name.chars().all(legal) {
        Some("may hold only ASCII letters, digits, '.', '_' and '-'")
    } else {
        None
    }
}

/// A `key=value` setting of a flag.
pub fn parse_setting(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .filter(|(key, _)| !key.trim().is_empty())
        .ok_or_else(|| format!("expected key=value, not {text:?}"))?;
    Ok((key.trim().to_owned(), value.to_owned()))
}

/// A client id as the original made them: `cli.<role>.<HOSTNAME>`.
pub fn client_id(role: &str) -> String {
    format!("cli.{role}.{}", host())
}

/// This machine's name, upper case as the original wrote it.
pub fn host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_uppercase())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "LOCALHOST".into())
}

/// The dead-letter topic of a topic.
pub fn dead_letter_topic(topic: &str) -> String {
    format!("{topic}.dlq")
}

impl KafkaArgs {
    /// Checks what the flags ask of Kafka before anything talks to a broker: four legal and
    /// different topic names (requests, responses and their dead-letter topics; a role whose
    /// output is its own input would loop), and no empty consumer group.
    pub fn check(&self) -> Result<(), String> {
        let topics = [
            ("--requests-topic", self.requests_topic.clone()),
            ("--responses-topic", self.responses_topic.clone()),
            (
                "the requests' dead-letter topic",
                self.requests_dead_letters(),
            ),
            (
                "the responses' dead-letter topic",
                self.responses_dead_letters(),
            ),
        ];
        for (what, name) in &topics {
            if let Some(fault) = topic_name_fault(name) {
                return Err(format!("{what} {name:?} {fault}"));
            }
        }
        for (i, (what, name)) in topics.iter().enumerate() {
            if let Some((other, _)) = topics[i + 1..].iter().find(|(_, n)| n == name) {
                return Err(format!(
                    "{what} and {other} are both {name:?}: requests, responses and their \
                     dead-letter topics (<topic>.dlq) must be four different topics"
                ));
            }
        }
        if self
            .settings
            .iter()
            .any(|(k, v)| k == "group.id" && v.is_empty())
        {
            return Err("-X group.id must name a consumer group, not be empty".into());
        }
        // librdkafka judges each setting as it is set: a key it does not know, or a value
        // out of its range, is a usage error now, not a failure once work has started.
        for (key, value) in &self.settings {
            let mut one = ClientConfig::new();
            one.set(key, value);
            one.create_native_config()
                .map_err(|e| format!("-X {key}={value}: {e}"))?;
        }
        Ok(())
    }

    /// The consumer group a role joins: its default, unless `-X group.id` names another.
    pub fn group<'a>(&'a self, default: &'a str) -> &'a str {
        self.settings
            .iter()
            .rev()
            .find(|(key, _)| key == "group.id")
            .map_or(default, |(_, group)| group.as_str())
    }

    /// Client settings: our defaults, then every `-X`, which wins.
    pub fn config(&self, client_id: &str, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", client_id)
            // Connect to the brokers at once rather than when first needed: the first
            // metadata request otherwise waited about 50 ms for a lazy connect on half the
            // starts, half of a small job's time.
            .set("enable.sparse.connections", "false");
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.settings {
            config.set(key, value);
        }
        config
    }

    /// Fails by `deadline` if no broker answers a metadata request, instead of letting
    /// librdkafka retry for minutes in silence.
    fn check_brokers<C: ClientContext>(
        &self,
        client: &Client<C>,
        deadline: Instant,
    ) -> Result<(), String> {
        client
            .fetch_metadata(None, left_until(deadline))
            .map(|_| ())
            .map_err(|e| self.no_broker(&e))
    }

    /// When the connect timeout, started now, runs out.
    fn deadline(&self) -> Instant {
        Instant::now() + Duration::from_secs(self.connect_timeout)
    }

    fn no_broker(&self, error: &dyn std::fmt::Display) -> String {
        format!(
            "no Kafka broker answered at {} within {} s ({error}); is it running? \
             (`just kafka-up` starts one)",
            self.brokers, self.connect_timeout
        )
    }

    /// The dead-letter topic of the requests topic.
    pub fn requests_dead_letters(&self) -> String {
        dead_letter_topic(&self.requests_topic)
    }

    /// The dead-letter topic of the responses topic.
    pub fn responses_dead_letters(&self) -> String {
        dead_letter_topic(&self.responses_topic)
    }

    /// The topics a member of the calculation group (calc, bridge) reads and writes.
    pub fn worker_topics(&self) -> [String; 3] {
        [
            self.requests_topic.clone(),
            self.responses_topic.clone(),
            self.requests_dead_letters(),
        ]
    }

    /// Waits until every topic this process needs is usable (see [`await_topics`]), so that
    /// `fixedbrot topics && fixedbrot calc` works even while a new topic is still reaching
    /// the brokers' metadata; a topic that is really missing is a clear error within the
    /// connect timeout (librdkafka would log one warning and wait forever).
    pub fn require_topics<C: ClientContext>(
        &self,
        client: &Client<C>,
        topics: &[impl AsRef<str>],
    ) -> Result<(), String> {
        let wanted: Vec<(&str, Option<usize>)> =
            topics.iter().map(|t| (t.as_ref(), None)).collect();
        await_topics(client, &wanted, self.deadline()).map_err(|wait| match wait {
            TopicWait::NoBroker(error) => self.no_broker(&error),
            TopicWait::Missing(topic) => format!(
                "topic {topic} does not exist at {} (waited {} s); create the topics with \
                 `fixedbrot topics` (same --brokers and topic flags) or `just kafka-up`",
                self.brokers, self.connect_timeout
            ),
            TopicWait::Unready(topic, why) => format!(
                "topic {topic} at {} is not usable after {} s: {why}",
                self.brokers, self.connect_timeout
            ),
        })
    }

    /// A producer that acknowledges only what every in-sync replica has, and counts
    /// deliveries and failures. Not idempotent: a retried message may arrive twice or out of
    /// order, which tiles make harmless (invariant 2), while the idempotent producer's
    /// handshake measured a 500 ms stall on one start in ten.
    ///
    /// The roles' producers are threaded; generate's is a base producer that it polls
    /// itself, so that it exits the moment its last message is acknowledged (a threaded
    /// producer's poll thread takes up to 100 ms to stop, which was most of a small job).
    pub fn producer<P: FromClientConfigAndContext<Deliveries>>(
        &self,
        client_id: &str,
    ) -> Result<P, String> {
        self.producer_with(client_id, &[("enable.idempotence", "false")])
    }

    /// A member's producer for exactly-once answering, with transactional id `id`:
    /// idempotent, as transactions require.
    pub fn transactional_producer(
        &self,
        client_id: &str,
        id: &str,
        timeout: Duration,
    ) -> Result<ThreadedProducer<Deliveries>, String> {
        let timeout = timeout.as_millis().to_string();
        self.producer_with(
            client_id,
            &[
                ("enable.idempotence", "true"),
                ("transactional.id", id),
                ("transaction.timeout.ms", &timeout),
            ],
        )
    }

    fn producer_with<P: FromClientConfigAndContext<Deliveries>>(
        &self,
        client_id: &str,
        settings: &[(&str, &str)],
    ) -> Result<P, String> {
        let mut defaults = vec![
            ("acks", "all"),
            ("linger.ms", "5"),
            // 64 MiB of unsent messages at most (librdkafka's default is 1 GiB): a slow
            // broker makes senders wait, not grow.
            ("queue.buffering.max.kbytes", "65536"),
            ("compression.type", "lz4"),
            // A topic asked for that does not exist must be an error, not be created with
            // the broker's defaults (auto.create.topics.enable is on by default).
            ("allow.auto.create.topics", "false"),
        ];
        defaults.extend_from_slice(settings);
        self.config(client_id, &defaults)
            .create_with_context(Deliveries::default())
            .map_err(|e| format!("Kafka settings: {e}"))
    }

    /// Creates the requests and responses topics and their dead-letter topics if missing, and
    /// returns once every one of them is usable: in the metadata with all its partitions and a
    /// leader for each. The controller accepts a topic before the brokers serve it, widest
    /// right after a broker starts; a script that runs `topics` then a role must not see it
    /// missing.
    pub fn create_topics(
        &self,
        partitions: i32,
        replication: i32,
        settings: &[(String, String)],
    ) -> Result<(), String> {
        // One connect timeout for all of it: the broker, the creation, the wait.
        let deadline = self.deadline();
        let admin: AdminClient<DefaultClientContext> = self
            .config("fixedbrot-topics", &[("allow.auto.create.topics", "false")])
            .create()
            .map_err(|e| format!("Kafka settings: {e}"))?;
        self.check_brokers(admin.inner(), deadline)?;
        let names = [
            self.requests_topic.clone(),
            self.responses_topic.clone(),
            self.requests_dead_letters(),
            self.responses_dead_letters(),
        ];
        let topics: Vec<NewTopic<'_>> = names
            .iter()
            .map(|name| {
                settings.iter().fold(
                    NewTopic::new(name, partitions, TopicReplication::Fixed(replication)),
                    |topic, (key, value)| topic.set(key, value),
                )
            })
            .collect();
        let options = AdminOptions::new()
            .request_timeout(Some(left_until(deadline)))
            .operation_timeout(Some(left_until(deadline)));
        let results = block_on(admin.create_topics(&topics, &options))
            .map_err(|e| format!("creating topics: {e}"))?;
        let mut wanted = Vec::new();
        for result in results {
            match result {
                Ok(name) => {
                    info!("Created topic {name} with {partitions} partitions");
                    wanted.push((name, usize::try_from(partitions).ok()));
                }
                Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    if settings.is_empty() {
                        info!("Topic {name} exists already");
                    } else {
                        warn!("Topic {name} exists already: it keeps its settings, not --config's");
                    }
                    wanted.push((name, None));
                }
                Err((name, code)) => return Err(format!("creating topic {name}: {code}")),
            }
        }
        let wanted: Vec<(&str, Option<usize>)> =
            wanted.iter().map(|(name, n)| (name.as_str(), *n)).collect();
        await_topics(admin.inner(), &wanted, deadline).map_err(|wait| {
            let why = match wait {
                TopicWait::NoBroker(error) => self.no_broker(&error),
                TopicWait::Missing(topic) => format!("{topic} is not in the metadata"),
                TopicWait::Unready(topic, why) => format!("{topic}: {why}"),
            };
            format!(
                "the topics were created but are not usable at {} after {} s: {why}",
                self.brokers, self.connect_timeout
            )
        })?;
        info!("Topics ready: {}", names.join(", "));
        Ok(())
    }
}

/// Why [`await_topics`] gave up.
enum TopicWait {
    /// No broker answered a metadata request.
    NoBroker(rdkafka::error::KafkaError),
    /// A topic is not in the metadata.
    Missing(String),
    /// A topic is there but lacks partitions or leaders.
    Unready(String, String),
}

/// Polls the metadata until every topic is there with all its partitions (`Some(n)`: exactly
/// `n`; `None`: whatever it has, at least one) and a leader for each, or `deadline` passes.
/// Each poll asks a broker afresh: librdkafka's cached metadata would hide a topic that
/// reached the brokers after the cache was filled.
fn await_topics<C: ClientContext>(
    client: &Client<C>,
    topics: &[(&str, Option<usize>)],
    deadline: Instant,
) -> Result<(), TopicWait> {
    loop {
        let mut verdict = Ok(());
        for &(topic, partitions) in topics {
            verdict = client
                .fetch_metadata(Some(topic), left_until(deadline))
                .map_err(TopicWait::NoBroker)
                .and_then(|metadata| topic_state(&metadata, topic, partitions));
            if verdict.is_err() {
                break;
            }
        }
        if verdict.is_ok() || Instant::now() >= deadline {
            return verdict;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The time left until `deadline`, at least a moment: a librdkafka call with no time at all
/// fails without asking.
fn left_until(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100))
}

/// Whether one topic of `metadata` is usable.
fn topic_state(
    metadata: &rdkafka::metadata::Metadata,
    topic: &str,
    partitions: Option<usize>,
) -> Result<(), TopicWait> {
    let missing = || TopicWait::Missing(topic.to_owned());
    let found = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(missing)?;
    match found.error().map(RDKafkaErrorCode::from) {
        None if found.partitions().is_empty() => return Err(missing()),
        None => {}
        Some(RDKafkaErrorCode::UnknownTopicOrPartition) => return Err(missing()),
        // Not authorised, no leader yet, ...: there, but not usable, and not to be created.
        Some(code) => return Err(TopicWait::Unready(topic.to_owned(), code.to_string())),
    }
    let have = found.partitions().len();
    if partitions.is_some_and(|want| want != have) {
        return Err(TopicWait::Unready(
            topic.to_owned(),
            format!("{have} of {} partitions", partitions.unwrap_or(have)),
        ));
    }
    let leaderless = found
        .partitions()
        .iter()
        .filter(|p| p.leader() < 0 || p.error().is_some())
        .count();
    if leaderless > 0 {
        return Err(TopicWait::Unready(
            topic.to_owned(),
            format!("{leaderless} of {have} partitions have no leader"),
        ));
    }
    Ok(())
}

/// Counts what the producer delivered and what it could not, and settles each record's
/// [`Settles`] so its source message's offset can be committed.
#[derive(Default, Clone)]
pub struct Deliveries {
    pub delivered: Arc<AtomicU64>,
    pub failed: Arc<AtomicU64>,
}

/// The consumed message a produced record answers: its delivery (or final failure) is
/// reported to the consumer's offset book.
pub struct Settles {
    pub offsets: Arc<Mutex<Offsets>>,
    pub partition: i32,
    pub offset: i64,
}

/// Locks a mutex whose holder may have panicked. Nothing under one here can be left
/// half-changed in a way that loses work (an offset book at worst commits late), so a
/// poisoned lock is used as it is.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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
            }
            self.failed.fetch_add(1, Ordering::Relaxed);
            if !purged {
                metrics().delivery_failures.inc();
            }
        } else {
            self.delivered.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(settles) = *on_delivery {
            if ok {
                metrics().answers_delivered.inc();
            }
            lock(&settles.offsets).delivered(settles.partition, settles.offset, ok);
        }
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

/// Sends one record, waiting while the producer's queue is full (back-pressure, not loss).
/// A record without payload is a NULL message, which Kafka tells apart from an empty one.
pub fn send(
    producer: &impl Queue,
    topic: &str,
    key: &[u8],
    payload: Option<&[u8]>,
    headers: Option<OwnedHeaders>,
    settles: Option<Settles>,
) -> Result<(), String> {
    let mut record = BaseRecord::with_opaque_to(topic, Box::new(settles)).key(key);
    if let Some(payload) = payload {
        record = record.payload(payload);
    }
    if let Some(headers) = headers {
        record = record.headers(headers);
    }
    loop {
        match producer.enqueue(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.serve(Duration::from_millis(10));
            }
            Err((error, _)) => return Err(format!("producing to {topic}: {error}")),
        }
    }
}

/// librdkafka's `message.max.bytes` when `-X` does not set it.
const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;

/// Room a record needs besides its key, payload and headers' bytes: librdkafka counts some of
/// it against `message.max.bytes`, the broker's batch more.
const RECORD_OVERHEAD: usize = 512;

/// The longest key a dead letter keeps whole (our keys are a few dozen bytes), and at most an
/// eighth of what a message may hold.
const MAX_DEAD_LETTER_KEY: usize = 1024;

/// The longest reason a dead letter's header keeps.
const MAX_REASON: usize = 256;

/// Bytes a header takes besides its key and value, for the reckoning.
const HEADER_OVERHEAD: usize = 16;

/// What the headers of a cut copy add, at most: two sizes in decimal and a SHA-256 in hex.
const CUT_HEADERS: usize = "fixedbrot.original-size".len()
    + "fixedbrot.kept-size".len()
    + "fixedbrot.sha256".len()
    + 2 * 20
    + 64
    + 3 * HEADER_OVERHEAD;

/// Copies a message that cannot be used to `<topic>.dlq`, with why and where it came from.
///
/// The copy always fits what the producer may send (`message.max.bytes`, which `-X` can
/// change): a message too large to copy whole, with its headers, keeps a prefix, and its
/// size and SHA-256 go in headers; its origin (partition and offset) finds it whole in its
/// topic. A copy that cannot be sent would stop the consumer on that message for good.
pub struct DeadLetters {
    topic: String,
    max_bytes: usize,
    count: u64,
}

impl DeadLetters {
    pub fn new(kafka: &KafkaArgs, source_topic: &str) -> DeadLetters {
        let max_bytes = kafka
            .settings
            .iter()
            .rev()
            .find(|(key, _)| key == "message.max.bytes")
            .and_then(|(_, value)| value.parse().ok())
            .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES);
        DeadLetters {
            topic: dead_letter_topic(source_topic),
            max_bytes,
            count: 0,
        }
    }

    /// Logs, counts and copies one message (`None`: a NULL message, copied as one).
    pub fn set_aside(
        &mut self,
        producer: &ThreadedProducer<Deliveries>,
        payload: Option<&[u8]>,
        key: Option<&[u8]>,
        origin: (i32, i64),
        why: &Letter,
        settles: Option<Settles>,
    ) -> Result<(), String> {
        self.count += 1;
        let reason = why.reason.as_str();
        metrics().dead_letter(reason);
        let letter = DeadLetter::new(payload, key, origin, why, self.max_bytes);
        warn!(
            partition = origin.0,
            offset = origin.1,
            reason,
            "dead letter #{} from partition {} offset {}: {reason}; copied to {}{}",
            self.count,
            origin.0,
            origin.1,
            self.topic,
            if letter.cut { ", cut to fit" } else { "" }
        );
        let mut headers = OwnedHeaders::new();
        for (key, value) in &letter.headers {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        send(
            producer,
            &self.topic,
            letter.key,
            letter.payload,
            Some(headers),
            settles,
        )
    }
}

/// What a dead letter holds: the message, or as much of it as fits, and headers saying why,
/// from where, and what was cut.
struct DeadLetter<'a> {
    key: &'a [u8],
    payload: Option<&'a [u8]>,
    headers: Vec<(&'static str, String)>,
    cut: bool,
}

impl<'a> DeadLetter<'a> {
    fn new(
        payload: Option<&'a [u8]>,
        key: Option<&'a [u8]>,
        origin: (i32, i64),
        why: &Letter,
        max_bytes: usize,
    ) -> DeadLetter<'a> {
        let key = key.unwrap_or_default();
        let mut headers = vec![
            (
                "fixedbrot.reason",
                why.reason.chars().take(MAX_REASON).collect(),
            ),
            ("fixedbrot.origin", format!("{}/{}", origin.0, origin.1)),
        ];
        // Ours, a few short values each (digests): bounded, and counted below like the rest.
        headers.extend(why.headers.iter().cloned());
        let kept_key = &key[..key.len().min(MAX_DEAD_LETTER_KEY).min(max_bytes / 8)];
        if kept_key.len() < key.len() {
            headers.push(("fixedbrot.key-size", key.len().to_string()));
        }
        let size = payload.map_or(0, <[u8]>::len);
        let fixed: usize = headers
            .iter()
            .map(|(k, v)| k.len() + v.len() + HEADER_OVERHEAD)
            .sum();
        let room = max_bytes.saturating_sub(RECORD_OVERHEAD + kept_key.len() + fixed);
        let mut kept_payload = payload;
        let cut = size > room;
        if let (true, Some(whole)) = (cut, payload) {
            let kept = room.saturating_sub(CUT_HEADERS);
            kept_payload = Some(&whole[..kept]);
            headers.push(("fixedbrot.original-size", size.to_string()));
            headers.push(("fixedbrot.kept-size", kept.to_string()));
            headers.push(("fixedbrot.sha256", sha256_hex(whole)));
        }
        DeadLetter {
            key: kept_key,
            payload: kept_payload,
            headers,
            cut,
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Logs a consumer's new partitions: the line tests and scripts wait for before producing.
pub fn log_assignment(rebalance: &Rebalance<'_>) {
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

/// Runs an rdkafka admin future to completion on this thread.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

/// Waits, within `deadline`, until everything produced is acknowledged; says what could not
/// be delivered. A progress bar, if given, shows the acknowledgements.
pub fn finish(
    producer: &impl Queue,
    deadline: Duration,
    progress: Option<&Progress>,
) -> Result<(), String> {
    // librdkafka's flush wakes in 100 ms steps while another thread polls; a short poll loop
    // returns as soon as the last acknowledgement is in.
    let started = Instant::now();
    while producer.in_flight_count() > 0 {
        if let Some(progress) = progress {
            progress.show(producer.context().delivered.load(Ordering::Relaxed));
        }
        if started.elapsed() > deadline {
            return Err(format!(
                "{} messages still unacknowledged after {} s",
                producer.in_flight_count(),
                deadline.as_secs()
            ));
        }
        producer.serve(Duration::from_millis(1));
    }
    let failed = producer.context().failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(format!("{failed} messages could not be delivered"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(letter: &DeadLetter<'_>) -> usize {
        let headers: usize = letter
            .headers
            .iter()
            .map(|(k, v)| k.len() + v.len() + HEADER_OVERHEAD)
            .sum();
        letter.key.len() + letter.payload.map_or(0, <[u8]>::len) + headers + RECORD_OVERHEAD
    }

    #[test]
    fn a_dead_letter_that_fits_is_the_whole_message_with_why_and_whence() {
        let letter = DeadLetter::new(
            Some(b"garbage"),
            Some(b"x"),
            (2, 41),
            &"undecodable".into(),
            1_000_000,
        );
        assert_eq!(
            (letter.key, letter.payload, letter.cut),
            (&b"x"[..], Some(&b"garbage"[..]), false)
        );
        assert_eq!(
            letter.headers,
            [
                ("fixedbrot.reason", "undecodable".to_string()),
                ("fixedbrot.origin", "2/41".to_string())
            ]
        );
    }

    #[test]
    fn a_null_message_stays_null() {
        let letter = DeadLetter::new(None, None, (0, 0), &"undecodable".into(), 1_000_000);
        assert_eq!((letter.payload, letter.cut), (None, false));
    }

    /// kcat's stock settings send 999,900 bytes; the copy with its headers must still go.
    #[test]
    fn a_dead_letter_always_fits_the_producers_limit_and_says_what_was_cut() {
        let whole: Vec<u8> = (0..1_200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let key = vec![b'k'; 5000];
        for max_bytes in [1000, 3000, 100_000, 1_000_000, 1_048_576] {
            for len in [0, 1, 2000, 99_000, 999_900, 1_200_000] {
                let payload = &whole[..len];
                let letter = DeadLetter::new(
                    Some(payload),
                    Some(&key),
                    (1, 7),
                    &"too big".into(),
                    max_bytes,
                );
                assert!(size(&letter) <= max_bytes, "{len} bytes, limit {max_bytes}");
                let kept = letter.payload.unwrap();
                assert_eq!(kept, &payload[..kept.len()], "a prefix");
                let header = |name| {
                    letter
                        .headers
                        .iter()
                        .find(|(k, _)| *k == name)
                        .map(|(_, v)| v.clone())
                };
                assert_eq!(header("fixedbrot.key-size"), Some("5000".to_string()));
                assert!(letter.key.len() <= 1024 && letter.key == &key[..letter.key.len()]);
                if letter.cut {
                    assert!(kept.len() < len);
                    assert_eq!(header("fixedbrot.original-size"), Some(len.to_string()));
                    assert_eq!(header("fixedbrot.kept-size"), Some(kept.len().to_string()));
                    assert_eq!(header("fixedbrot.sha256"), Some(sha256_hex(payload)));
                } else {
                    assert_eq!(kept.len(), len);
                }
            }
        }
    }
}
