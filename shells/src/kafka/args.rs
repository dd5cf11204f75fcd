//! How to reach Kafka: the flags every Kafka subcommand takes, their checks, and every client
//! setting this program chooses, in one place, each with its reason. `-X` wins over all of
//! them.
use std::time::Duration;

use clap::Args;
use rdkafka::config::ClientConfig;

use crate::metrics;

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

/// Every client's settings.
const CLIENT_DEFAULTS: &[(&str, &str)] = &[
    // Connect to the brokers at once rather than when first needed: the first metadata
    // request otherwise waited about 50 ms for a lazy connect on half the starts, half of a
    // small job's time.
    ("enable.sparse.connections", "false"),
    // A topic asked for that does not exist must be an error, not be created with the
    // broker's defaults (auto.create.topics.enable is on by default).
    ("allow.auto.create.topics", "false"),
    // Partitions added to a topic are seen within 10 s, not librdkafka's 5 minutes: a probe
    // grew the requests topic, a new explorer wrote to every partition at once, and calc's
    // group read the new ones only 300 s later, every tile a 504 meanwhile. A metadata
    // request every 10 s is all it costs.
    ("topic.metadata.refresh.interval.ms", "10000"),
];

/// Every producer's settings.
const PRODUCER_DEFAULTS: &[(&str, &str)] = &[
    ("acks", "all"),
    ("linger.ms", "5"),
    // 64 MiB of unsent messages at most (librdkafka's default is 1 GiB): a slow broker makes
    // senders wait, not grow.
    ("queue.buffering.max.kbytes", "65536"),
    ("compression.type", "lz4"),
];

/// Every consumer's settings.
const CONSUMER_DEFAULTS: &[(&str, &str)] = &[
    ("enable.auto.commit", "false"),
    // A new group reads from the start: no request sent before a worker joined is skipped.
    ("auto.offset.reset", "earliest"),
    // A killed member's partitions move to the others after 10 s, not 45.
    ("session.timeout.ms", "10000"),
    // A rebalance reaches the members at their next heartbeat, and a cooperative one takes
    // two: a joiner, or the partitions of a member that left, wait for them.
    ("heartbeat.interval.ms", "500"),
    // Rebalances move only the partitions that change hands: a member busy with a long tile
    // keeps its own, and a joiner does not wait for it to finish.
    ("partition.assignment.strategy", "cooperative-sticky"),
    // A member whose prefetch queue is full fetches again 10 ms after it has room, not up to
    // a second after (librdkafka's default): on 1x1 jobs the workers and the assembler sat
    // idle behind that backoff, and a job took 1.2 to 2.8 s.
    ("fetch.queue.backoff.ms", "10"),
];

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
    /// How far ahead of its answers it fetches.
    pub prefetch: Prefetch,
    /// It reads only committed transactions.
    pub read_committed: bool,
    /// Who it is, for the [`WORKER_HEADER`] of its replies: host, process and thread, or
    /// the board.
    pub worker: String,
}

/// The header of each reply that names the worker that made it (`calc HOST pid N member M`,
/// a board's bridge): the explorer shows which worker computed each tile.
pub const WORKER_HEADER: &str = "fixedbrot-worker";

/// How much a consumer fetches ahead of what it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefetch {
    /// librdkafka's own (the assembler, which takes results as fast as they come).
    Plenty,
    /// 4 MiB: requests wait in Kafka, where other workers can take them (calc).
    Little,
    /// Almost nothing: one request at a time (a bridge, whose board takes seconds a tile).
    OneAtATime,
}

impl Prefetch {
    fn settings(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Prefetch::Plenty => &[],
            Prefetch::Little => &[("queued.max.messages.kbytes", "4096")],
            Prefetch::OneAtATime => &[
                ("queued.max.messages.kbytes", "64"),
                ("queued.min.messages", "1"),
            ],
        }
    }
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
    /// output is its own input would loop), no empty consumer group, and `-X` settings
    /// librdkafka takes.
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

    /// The most bytes a produced message may have: librdkafka's `message.max.bytes`.
    pub fn message_max_bytes(&self) -> usize {
        self.settings
            .iter()
            .rev()
            .find(|(key, _)| key == "message.max.bytes")
            .and_then(|(_, value)| value.parse().ok())
            .unwrap_or(1_000_000)
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

    /// Any client's settings: ours, then `defaults`, then every `-X`, which wins.
    pub fn config(&self, client_id: &str, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", client_id);
        for (key, value) in CLIENT_DEFAULTS.iter().chain(defaults) {
            config.set(*key, *value);
        }
        for (key, value) in &self.settings {
            config.set(key, value);
        }
        config
    }

    /// A producer's settings. Not idempotent: a retried message may arrive twice or out of
    /// order, which tiles make harmless, while the idempotent producer's handshake measured
    /// a 500 ms stall on one start in ten.
    pub fn producer_config(&self, client_id: &str) -> ClientConfig {
        let settings = [PRODUCER_DEFAULTS, &[("enable.idempotence", "false")]].concat();
        self.config(client_id, &settings)
    }

    /// An exactly-once member's producer settings: idempotent, as transactions require, with
    /// transactional id `id` and a transaction timeout.
    pub fn transactional_config(
        &self,
        client_id: &str,
        id: &str,
        timeout: Duration,
    ) -> ClientConfig {
        let timeout = timeout.as_millis().to_string();
        let transactional = [
            ("enable.idempotence", "true"),
            ("transactional.id", id),
            ("transaction.timeout.ms", timeout.as_str()),
            // A transactional call returns when its request does, whatever its timeout: at
            // librdkafka's 60 s a broker that stopped answering held SIGTERM for 57 to 87 s.
            // 10 s bounds each, so the commit's own wait is what counts.
            ("socket.timeout.ms", "10000"),
        ];
        let settings = [PRODUCER_DEFAULTS, &transactional].concat();
        self.config(client_id, &settings)
    }

    /// A group member's consumer settings: the shared ones, the prefetch its role wants, the
    /// isolation level, then `-X`.
    pub fn consumer_config(
        &self,
        client_id: &str,
        group: &str,
        prefetch: Prefetch,
        read_committed: bool,
    ) -> ClientConfig {
        // librdkafka reads committed by default, which waits for open transactions; Kafka's
        // own default, uncommitted, is what at-least-once workers need.
        let isolation = if read_committed {
            "read_committed"
        } else {
            "read_uncommitted"
        };
        let mut settings = vec![("group.id", group), ("isolation.level", isolation)];
        settings.extend_from_slice(CONSUMER_DEFAULTS);
        settings.extend_from_slice(prefetch.settings());
        if metrics::serving() {
            // Once a second: the partitions' lag for --metrics.
            settings.push(("statistics.interval.ms", "1000"));
        }
        self.config(client_id, &settings)
    }
}
