//! Reading a topic's new records without joining a group: every partition from where it
//! ended when opened, nothing committed. For a process that waits on the answers to what it
//! sent itself (the explorer), which must see every one of them whoever else reads the topic.
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::args::{client_id, KafkaArgs};
use super::error::Error;

/// An open reader of one topic.
pub struct Reader {
    consumer: BaseConsumer,
}

/// A record as read: its payload (empty for NULL) and the value of the header asked for.
pub struct Record {
    pub payload: Vec<u8>,
    pub header: Option<String>,
}

impl Reader {
    /// A reader of `topic` from the end of each of its partitions now (its partitions at
    /// opening: one added later is not read).
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
        let timeout = Duration::from_secs(kafka.connect_timeout);
        let consumed = |e: rdkafka::error::KafkaError| Error::Consumer(format!("{topic}: {e}"));
        let metadata = consumer
            .fetch_metadata(Some(topic), timeout)
            .map_err(consumed)?;
        let mut list = TopicPartitionList::new();
        for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
            let (_, end) = consumer
                .fetch_watermarks(topic, partition.id(), timeout)
                .map_err(consumed)?;
            list.add_partition_offset(topic, partition.id(), Offset::Offset(end))
                .map_err(consumed)?;
        }
        consumer.assign(&list).map_err(consumed)?;
        Ok(Reader { consumer })
    }

    /// The next record within `timeout`, with the value of its header `header`; `None` if
    /// none came.
    pub fn next(&self, timeout: Duration, header: &str) -> Option<Result<Record, Error>> {
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
