//! Why the Kafka wing stops: each a kind a caller can tell apart, each one line for the user.
/// Why talking to Kafka failed, or why a member ended without committing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No broker answered a metadata request in time.
    #[error(
        "no Kafka broker answered at {brokers} within {seconds} s ({cause}); is it running? \
         (`just kafka-up` starts one)"
    )]
    NoBroker {
        brokers: String,
        seconds: u64,
        cause: String,
    },
    /// A topic the process needs is not in the brokers' metadata.
    #[error(
        "topic {topic} does not exist at {brokers} (waited {seconds} s); create the topics with \
         `fixedbrot topics` (same --brokers and topic flags) or `just kafka-up`"
    )]
    MissingTopic {
        topic: String,
        brokers: String,
        seconds: u64,
    },
    /// A topic is there but lacks partitions or leaders.
    #[error("topic {topic} at {brokers} is not usable after {seconds} s: {why}")]
    Unready {
        topic: String,
        brokers: String,
        seconds: u64,
        why: String,
    },
    /// Creating a topic failed.
    #[error("creating topic {topic}: {why}")]
    Create { topic: String, why: String },
    /// librdkafka refused the settings.
    #[error("Kafka settings: {0}")]
    Settings(String),
    /// A record could not be queued.
    #[error("producing to {topic}: {cause}")]
    Produce { topic: String, cause: String },
    /// Records were not acknowledged in time, or failed.
    #[error("{0}")]
    Unacknowledged(String),
    /// An answer failed to be delivered for good: the member ends without committing it.
    #[error(
        "an answer to {topic} partition {partition} offset {offset} could not be delivered; \
         exiting without committing it, so it is answered again on restart"
    )]
    Undelivered {
        topic: String,
        partition: i32,
        offset: i64,
    },
    /// A transactional producer can go on no more (fenced, or worse).
    #[error("{0}")]
    Transaction(String),
    /// A partition could not be read again from an offset, or passed.
    #[error("{doing} {topic} partition {partition} offset {offset}: {cause}; exiting with it uncommitted, so a restart reads it")]
    Seek {
        doing: &'static str,
        topic: String,
        partition: i32,
        offset: i64,
        cause: String,
    },
    /// The consumer could not be made or subscribed.
    #[error("Kafka consumer: {0}")]
    Consumer(String),
    /// The role's handler could not go on at a message, which stays uncommitted.
    #[error(
        "{cause}; {topic} partition {partition} offset {offset} is not committed, so it is \
         answered again on restart"
    )]
    Handler {
        cause: Box<dyn std::error::Error + Send>,
        topic: String,
        partition: i32,
        offset: i64,
    },
    /// The role's handler could not go on between messages.
    #[error("{0}")]
    Role(Box<dyn std::error::Error + Send>),
    /// A thread of the process failed.
    #[error("{0}")]
    Thread(String),
}
