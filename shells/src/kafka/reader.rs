//! Reading a topic's new records without joining a group: every partition from where it
//! ended when opened, and one added later from its start; nothing committed. For a process that waits on the answers to what it
//! sent itself (the explorer), which must see every one of them whoever else reads the topic.
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::admin::left_until;
use super::args::{client_id, KafkaArgs};
use super::error::Error;

/// How long to wait before asking a partition's leader again.
const RETRY: Duration = Duration::from_millis(100);

/// How often the topic is looked at for partitions added since.
const NEW_PARTITIONS: Duration = Duration::from_secs(5);

/// An open reader of one topic.
pub struct Reader {
    consumer: BaseConsumer,
    topic: String,
    /// The partitions read: 0 to `partitions - 1`.
    partitions: usize,
    /// When the topic is next looked at for new partitions.
    next_look: Instant,
}

/// A record as read: its payload (empty for NULL) and the value of the header asked for.
pub struct Record {
    pub payload: Vec<u8>,
    pub header: Option<String>,
}

impl Reader {
    /// A reader of `topic` from the end of each of its partitions now; one added later is
    /// read from its start, within [`NEW_PARTITIONS`] of being added.
    pub fn open(kafka: &KafkaArgs, topic: &str) -> Result<Reader, Error> {
        let client_id = client_id("fixedbrot.reader");
        // librdkafka wants a group to name the consumer; this one joins nothing and commits
        // nothing.
        let group = format!("{client_id}.{}", std::process::id());
        let settings = [
            ("group.id", group.as_str()),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("fetch.queue.backoff.ms", "10"),
        ];
        let consumer: BaseConsumer = kafka
            .config(&client_id, &settings)
            .create()
            .map_err(|e| Error::Settings(e.to_string()))?;
        kafka.require_topics(consumer.client(), &[topic])?;
        let deadline = Instant::now() + Duration::from_secs(kafka.connect_timeout);
        let consumed = |e: rdkafka::error::KafkaError| Error::Consumer(format!("{topic}: {e}"));
        let metadata = consumer
            .fetch_metadata(Some(topic), left_until(deadline))
            .map_err(consumed)?;
        let mut list = TopicPartitionList::new();
        for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
            let end = loop {
                match consumer.fetch_watermarks(topic, partition.id(), left_until(deadline)) {
                    Ok((_, end)) => break end,
                    // A topic just made has leaders in the metadata before they serve it
                    // ("Not leader for partition"): asked again until the connect timeout.
                    Err(_) if Instant::now() < deadline => thread::sleep(RETRY),
                    Err(e) => return Err(consumed(e)),
                }
            };
            list.add_partition_offset(topic, partition.id(), Offset::Offset(end))
                .map_err(consumed)?;
        }
        consumer.assign(&list).map_err(consumed)?;
        Ok(Reader {
            consumer,
            topic: topic.to_owned(),
            partitions: list.count(),
            next_look: Instant::now() + NEW_PARTITIONS,
        })
    }

    /// Reads the partitions added to the topic since it was last looked at, from their start:
    /// a writer that sees them first writes there, and what it wrote is for this reader too.
    fn follow_new_partitions(&mut self) -> Result<(), Error> {
        let now = Instant::now();
        if now < self.next_look {
            return Ok(());
        }
        self.next_look = now + NEW_PARTITIONS;
        let consumed = |e| Error::Consumer(format!("{}: {e}", self.topic));
        let metadata = (self.consumer)
            .fetch_metadata(Some(&self.topic), RETRY * 10)
            .map_err(consumed)?;
        let count = metadata.topics().iter().map(|t| t.partitions().len()).sum();
        if count <= self.partitions {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for partition in self.partitions..count {
            list.add_partition_offset(&self.topic, partition as i32, Offset::Beginning)
                .map_err(consumed)?;
        }
        self.consumer.incremental_assign(&list).map_err(consumed)?;
        self.partitions = count;
        Ok(())
    }

    /// The next record within `timeout`, with the value of its header `header`; `None` if
    /// none came.
    pub fn next(&mut self, timeout: Duration, header: &str) -> Option<Result<Record, Error>> {
        if let Err(e) = self.follow_new_partitions() {
            return Some(Err(e));
        }
        let message = match self.consumer.poll(timeout)? {
            Ok(message) => message,
            Err(e) => return Some(Err(Error::Consumer(e.to_string()))),
        };
        let header = message.headers().and_then(|headers| {
            headers
                .iter()
                .find(|h| h.key == header)
                .and_then(|h| h.value)
                .map(|value| String::from_utf8_lossy(value).into_owned())
        });
        Some(Ok(Record {
            payload: message.payload().unwrap_or_default().to_vec(),
            header,
        }))
    }
}
