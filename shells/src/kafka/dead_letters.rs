//! Dead letters: a message that cannot be used is copied, with why and where it came from,
//! to `<topic>.dlq`, and the member goes on.
use rdkafka::message::{Header, OwnedHeaders};

use super::args::{dead_letter_topic, KafkaArgs};
use super::error::Error;
use super::produce::{send, Outgoing, Queue, Settles};
use crate::log::warn;
use crate::metrics::metrics;
use fixedbrot_pipeline::Letter;

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
        DeadLetters {
            topic: dead_letter_topic(source_topic),
            max_bytes: kafka.message_max_bytes(),
            count: 0,
        }
    }

    /// Logs, counts and copies one message (`None`: a NULL message, copied as one).
    pub fn copy(
        &mut self,
        producer: &impl Queue,
        payload: Option<&[u8]>,
        key: Option<&[u8]>,
        origin: (i32, i64),
        why: &Letter,
        settles: Option<Settles>,
    ) -> Result<(), Error> {
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
            Outgoing {
                topic: &self.topic,
                key: letter.key,
                payload: letter.payload,
                headers: Some(headers),
                settles,
            },
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
