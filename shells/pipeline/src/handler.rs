//! The contract between the consumer loop and a role: what a handler sees of a message, and
//! what it answers. A role knows nothing of Kafka; the loop knows nothing of roles.
use std::fmt::Debug;
use std::hash::Hash;
use std::time::Instant;

use fixedbrot_core::JobId;

/// A message as a handler sees it.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// `None` for a NULL message.
    pub payload: Option<&'a [u8]>,
    /// The message's key, if it has one.
    pub key: Option<&'a [u8]>,
    /// Where it was read.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
    /// Read before: this is a second reading after the handler asked for its partition to be
    /// read again. What it caused the first time stands.
    pub again: bool,
}

/// What a handler holds offsets under: the assembler holds each job's first message on every
/// partition until the job is written. [`Never`] for a handler that holds nothing.
pub trait HoldKey: Copy + Eq + Ord + Hash + Debug + Send + 'static {}

impl HoldKey for JobId {}

/// The key of a handler that holds nothing: there is no value of it, so its answers cannot
/// hold, and only such a handler may answer exactly once (whose transactions commit offsets
/// with no room for holds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Never {}

impl HoldKey for Never {}

/// What a handler makes of one message.
#[derive(Debug)]
pub struct Answer<K> {
    /// Records for the member's output topic: key and payload.
    pub replies: Vec<(Vec<u8>, Vec<u8>)>,
    /// Why the message is copied to its topic's dead-letter topic, if it is.
    pub dead_letter: Option<Letter>,
    /// Holds the message's offset under this key until it is released: commits stop below
    /// it on its partition.
    pub hold: Option<K>,
    /// Other holds that end, or are read again.
    pub holds: Holds<K>,
    /// The role has finished its work (`image --output` written): the member leaves once
    /// everything is delivered and committed.
    pub done: bool,
}

impl<K> Default for Answer<K> {
    fn default() -> Self {
        Answer {
            replies: Vec::new(),
            dead_letter: None,
            hold: None,
            holds: Holds::default(),
            done: false,
        }
    }
}

/// Why a message is copied to its topic's dead-letter topic, and what more the copy's
/// headers say (a conflict's digests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Letter {
    /// One sentence: why.
    pub reason: String,
    /// Header names and values to add.
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
#[derive(Debug)]
pub struct Holds<K> {
    /// Holds that end now.
    pub release: Vec<K>,
    /// Holds whose partitions are read again from the held offsets (the assembler: jobs it
    /// set aside to make room). Messages from there on come again, marked `again`.
    pub read_again: Vec<K>,
}

impl<K> Default for Holds<K> {
    fn default() -> Self {
        Holds {
            release: Vec::new(),
            read_again: Vec::new(),
        }
    }
}

impl<K> Holds<K> {
    /// Whether nothing changes.
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
    /// What it holds offsets under ([`Never`]: nothing).
    type Key: HoldKey;
    /// Why it cannot go on: the member ends without committing the message at hand.
    type Error: std::error::Error + Send + 'static;

    /// Whether answering `message` may take long enough that the group must be served
    /// meanwhile (a big tile, a board): the loop then answers it on a thread of its own and
    /// keeps serving the group's events, so rebalances and heartbeats go on.
    fn long(&self, _message: &Incoming<'_>) -> bool {
        false
    }

    /// Answers one message.
    fn handle(&mut self, message: &Incoming<'_>) -> Result<Answer<Self::Key>, Self::Error>;

    /// Called between messages at least every 100 ms, with the time: holds to release or read
    /// again (the assembler's jobs idle too long).
    fn tick(&mut self, _now: Instant) -> Holds<Self::Key> {
        Holds::default()
    }

    /// Holds lost with partitions this member no longer owns: their new owner reads them
    /// again from the last commit.
    fn lost(&mut self, _keys: &[Self::Key]) {}

    /// Partitions were assigned, to be read from their last commit: what another member did
    /// with them may matter (the assembler: images written by another into its directory).
    /// Called before any of their messages.
    fn assigned(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}
