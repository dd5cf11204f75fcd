//! The Kafka wing: everything that talks to brokers, in small rooms. What it acts on is
//! decided in `fixedbrot-pipeline`; this only moves bytes.
//!
//! - [`args`]: how to reach Kafka, and every client setting this program chooses;
//! - [`admin`]: topics, created (`fixedbrot topics`) and waited for;
//! - [`produce`]: producers, back-pressure, and deliveries told to their members;
//! - [`dead_letters`]: copies of unusable messages to `<topic>.dlq`;
//! - [`commits`], [`exactly_once`]: how answers and offsets reach Kafka, one type per way;
//! - [`consumer`]: the one consumer loop of calc, bridge and image;
//! - [`reader`]: a topic's new records without a group (the explorer's answers);
//! - [`error`]: why any of it stops.
mod admin;
mod args;
mod commits;
mod consumer;
mod dead_letters;
mod error;
mod exactly_once;
mod produce;
mod reader;

pub use admin::{block_on, TopicSettings};
pub use args::{
    client_id, host, parse_setting, KafkaArgs, Member, Prefetch, CALCULATION_GROUP, IMAGE_GROUP,
    WORKER_HEADER,
};
pub use commits::{AtLeastOnce, Commits};
pub use consumer::{run, stop_members};
pub use error::Error;
pub use exactly_once::ExactlyOnce;
pub use produce::{finish, send, Delivered, Deliveries, Outgoing, Queue, Settled, Settles};
pub use reader::{Reader, Record};
