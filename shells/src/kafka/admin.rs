//! Topics: `fixedbrot topics` creates them, and every role waits, within its connect timeout,
//! until the topics it needs are served.
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{Client, DefaultClientContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;

use super::args::KafkaArgs;
use super::error::Error;
use crate::log::{info, warn};

/// How `fixedbrot topics` creates them.
pub struct TopicSettings<'a> {
    /// Partitions of every topic.
    pub partitions: i32,
    /// Replication factor.
    pub replication: i32,
    /// Topic settings, as kafka-topics' --config takes them.
    pub config: &'a [(String, String)],
}

/// Why [`await_topics`] gave up.
enum TopicWait {
    /// No broker answered a metadata request.
    NoBroker(KafkaError),
    /// A topic is not in the metadata.
    Missing(String),
    /// A topic is there but lacks partitions or leaders.
    Unready(String, String),
}

impl KafkaArgs {
    /// When the connect timeout, started now, runs out.
    fn deadline(&self) -> Instant {
        Instant::now() + Duration::from_secs(self.connect_timeout)
    }

    /// The error a wait for topics ends in.
    fn topic_error(&self, wait: TopicWait) -> Error {
        let (brokers, seconds) = (self.brokers.clone(), self.connect_timeout);
        match wait {
            TopicWait::NoBroker(cause) => Error::NoBroker {
                brokers,
                seconds,
                cause: cause.to_string(),
            },
            TopicWait::Missing(topic) => Error::MissingTopic {
                topic,
                brokers,
                seconds,
            },
            TopicWait::Unready(topic, why) => Error::Unready {
                topic,
                brokers,
                seconds,
                why,
            },
        }
    }

    /// Waits until every topic this process needs is usable (see [`await_topics`]), so that
    /// `fixedbrot topics && fixedbrot calc` works even while a new topic is still reaching
    /// the brokers' metadata; a topic that is really missing is a clear error within the
    /// connect timeout (librdkafka would log one warning and wait forever).
    pub fn require_topics<C: ClientContext>(
        &self,
        client: &Client<C>,
        topics: &[impl AsRef<str>],
    ) -> Result<(), Error> {
        let wanted: Vec<(&str, Option<usize>)> =
            topics.iter().map(|t| (t.as_ref(), None)).collect();
        await_topics(client, &wanted, self.deadline()).map_err(|wait| self.topic_error(wait))
    }

    /// Creates the requests and responses topics and their dead-letter topics if missing, and
    /// returns once every one of them is usable: in the metadata with all its partitions and a
    /// leader for each. The controller accepts a topic before the brokers serve it, widest
    /// right after a broker starts; a script that runs `topics` then a role must not see it
    /// missing.
    pub fn create_topics(&self, settings: &TopicSettings<'_>) -> Result<(), Error> {
        // One connect timeout for all of it: the broker, the creation, the wait.
        let deadline = self.deadline();
        let admin: AdminClient<DefaultClientContext> = self
            .config("fixedbrot-topics", &[])
            .create()
            .map_err(|e| Error::Settings(e.to_string()))?;
        admin
            .inner()
            .fetch_metadata(None, left_until(deadline))
            .map_err(|cause| self.topic_error(TopicWait::NoBroker(cause)))?;
        let names = [
            self.requests_topic.clone(),
            self.responses_topic.clone(),
            self.requests_dead_letters(),
            self.responses_dead_letters(),
        ];
        let created = self.create(&admin, &names, settings, deadline)?;
        let wanted: Vec<(&str, Option<usize>)> = created
            .iter()
            .map(|(name, n)| (name.as_str(), *n))
            .collect();
        await_topics(admin.inner(), &wanted, deadline).map_err(|wait| {
            let why = match self.topic_error(wait) {
                Error::MissingTopic { topic, .. } => format!("{topic} is not in the metadata"),
                Error::Unready { topic, why, .. } => format!("{topic}: {why}"),
                other => other.to_string(),
            };
            Error::Unready {
                topic: names.join(", "),
                brokers: self.brokers.clone(),
                seconds: self.connect_timeout,
                why: format!("created but not usable: {why}"),
            }
        })?;
        info!("Topics ready: {}", names.join(", "));
        Ok(())
    }

    /// Asks for the topics; each one's name and the partitions it must have (`None`: it was
    /// there already, with its own).
    fn create(
        &self,
        admin: &AdminClient<DefaultClientContext>,
        names: &[String],
        settings: &TopicSettings<'_>,
        deadline: Instant,
    ) -> Result<Vec<(String, Option<usize>)>, Error> {
        let (partitions, replication) = (settings.partitions, settings.replication);
        let topics: Vec<NewTopic<'_>> = names
            .iter()
            .map(|name| {
                settings.config.iter().fold(
                    NewTopic::new(name, partitions, TopicReplication::Fixed(replication)),
                    |topic, (key, value)| topic.set(key, value),
                )
            })
            .collect();
        let options = AdminOptions::new()
            .request_timeout(Some(left_until(deadline)))
            .operation_timeout(Some(left_until(deadline)));
        let results =
            block_on(admin.create_topics(&topics, &options)).map_err(|e| Error::Create {
                topic: names.join(", "),
                why: e.to_string(),
            })?;
        let mut wanted = Vec::new();
        for result in results {
            match result {
                Ok(name) => {
                    info!("Created topic {name} with {partitions} partitions");
                    wanted.push((name, usize::try_from(partitions).ok()));
                }
                Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    if settings.config.is_empty() {
                        info!("Topic {name} exists already");
                    } else {
                        warn!("Topic {name} exists already: it keeps its settings, not --config's");
                    }
                    wanted.push((name, None));
                }
                Err((topic, code)) => {
                    return Err(Error::Create {
                        topic,
                        why: code.to_string(),
                    })
                }
            }
        }
        Ok(wanted)
    }
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
pub(super) fn left_until(deadline: Instant) -> Duration {
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

/// Runs an rdkafka admin future to completion on this thread (the tests' admin calls too).
pub fn block_on<F: Future>(future: F) -> F::Output {
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
