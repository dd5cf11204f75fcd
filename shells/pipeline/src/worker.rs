//! A worker's one job: a request's bytes in, the answer's bytes out (for calc, the bridge and
//! render alike), with the refusals of the core's one policy.
use fixedbrot_core::wire::{
    self, Envelope, Message, Reason, Refusal, TileRequest, TileResult, WireError,
};
use fixedbrot_core::JobId;

use crate::cpu;
use crate::handler::{Answer, Letter, Never};
use crate::limits::{Limits, OverLimit};
use crate::plan::{self, encode};

/// Kernel steps above which a request is long work: answered on a thread of its own while
/// the consumer loop keeps serving the group (about 20 ms on a fast core, a second
/// point by point on a slow one).
pub const LONG_WORK: u64 = 1 << 24;

/// The most work a message can ask for ([`fixedbrot_core::Job::work`]), 0 for anything but
/// a request.
pub fn work(bytes: &[u8]) -> u64 {
    match wire::decode_request(bytes) {
        Ok((_, request)) => request
            .job
            .grid
            .rect(request.tile)
            .map_or(0, |rect| request.job.work(rect)),
        Err(_) => 0,
    }
}

/// A worker's answer to a message, and the kernel steps of the tile it computed, if it
/// computed one (for the shell's counts).
#[derive(Debug)]
pub struct Answered {
    /// What goes to the responses topic, and to the dead-letter topic.
    pub answer: Answer<Never>,
    /// The sum of the tile's counts: its kernel steps.
    pub steps: Option<u64>,
}

impl From<Answer<Never>> for Answered {
    fn from(answer: Answer<Never>) -> Answered {
        Answered {
            answer,
            steps: None,
        }
    }
}

/// Answers one message of the requests topic: a reply for the responses topic, keyed by its
/// job (a result, a refusal, or a marker passed through), and why it goes to the dead-letter
/// topic too, if it does.
pub fn answer(bytes: &[u8], limits: &Limits) -> Answered {
    // Requests, nearly every message, decode without building a whole envelope; so does a
    // board, and what is refused follows from that decoder's error, as on a board.
    match wire::decode_request(bytes) {
        Ok((job_id, request)) => answer_request(job_id, &request, limits),
        Err(WireError::NotARequest) => answer_other(bytes),
        Err(error) => refuse_undecodable(bytes, error, error).into(),
    }
}

fn answer_request(job_id: JobId, request: &TileRequest, limits: &Limits) -> Answered {
    match limits.refuse(request) {
        None => {
            let (bytes, steps) = compute_counted(job_id, request, limits);
            Answered {
                answer: reply(job_id, bytes, None),
                steps: Some(steps),
            }
        }
        Some(over) => {
            let why = match over {
                OverLimit::Work { .. } => format!("refused: tile {}: {over}", request.tile.0),
                _ => format!("refused: {over}"),
            };
            let refused = refusal(job_id, Some(*request), over.reason());
            reply(job_id, refused, Some(why)).into()
        }
    }
}

/// Answers a message of another kind than a request: markers pass through, responses belong
/// elsewhere, and one that does not decode is refused as the policy says of its kind.
fn answer_other(bytes: &[u8]) -> Answered {
    let envelope = match wire::decode(bytes) {
        Ok(envelope) => envelope,
        Err(error) => return refuse_undecodable(bytes, WireError::NotARequest, error).into(),
    };
    let job_id = envelope.job_id;
    match envelope.message {
        // The markers pass through, as in the original; they are informative only.
        Message::Begin(_) | Message::End(_) => reply(job_id, bytes.to_vec(), None).into(),
        // decode_request takes every request decode does.
        Message::Request(_) => Answer {
            dead_letter: Some("a request only the full decoder reads".into()),
            ..Answer::default()
        }
        .into(),
        Message::Result(_) | Message::Refused(_) => Answer {
            dead_letter: Some("a response on the requests topic".into()),
            ..Answer::default()
        }
        .into(),
    }
}

/// A reply keyed by its job, and perhaps a dead letter.
pub fn reply(job_id: JobId, bytes: Vec<u8>, dead_letter: Option<String>) -> Answer<Never> {
    Answer {
        replies: vec![(plan::key(job_id, None).into_bytes(), bytes)],
        dead_letter: dead_letter.map(Letter::from),
        ..Answer::default()
    }
}

/// Renders the tile of a decoded (so checked) request into its encoded result, streamed
/// count by count as the firmware does, rather than through a 16 KiB result whatever the
/// tile's size (1x1 tiles spent a tenth of a worker's time moving those).
pub fn compute(job_id: JobId, request: &TileRequest, limits: &Limits) -> Vec<u8> {
    compute_counted(job_id, request, limits).0
}

/// [`compute`], and the tile's kernel steps: the sum of its counts.
fn compute_counted(job_id: JobId, request: &TileRequest, limits: &Limits) -> (Vec<u8>, u64) {
    let pixels = request.pixels();
    let mut counts = vec![0u32; pixels];
    // Fractions only where the job asks for them: an empty buffer asks the kernel for none.
    let mut smooth = vec![0; request.job.fractions(pixels)];
    cpu::render_tile(
        &request.job,
        request.tile,
        &mut counts,
        &mut smooth,
        limits.max_orbit_bytes,
    )
    .expect("decoded requests are checked, their orbits within the limit");
    let steps = counts.iter().map(|&c| u64::from(c)).sum();
    let mut bytes = vec![0u8; wire::max_result_len(pixels)];
    let mut len = wire::encode_result_head(job_id, request, &mut bytes)
        .expect("decoded requests are checked, and their results fit max_result_len")
        .len();
    let mut pixel_bytes = [0u8; wire::MAX_PIXEL_LEN];
    for (i, count) in counts.into_iter().enumerate() {
        let fraction = smooth.get(i).copied();
        let encoded = wire::encode_pixel(count, fraction, &mut pixel_bytes);
        bytes[len..len + encoded.len()].copy_from_slice(encoded);
        len += encoded.len();
    }
    bytes.truncate(len);
    (bytes, steps)
}

/// Renders the tile of a checked request into its result, boxed: built where it stays, for
/// a result of counts and fractions is 24 KiB, and each move of it is a copy (`render` spent
/// 5% of the default view's time copying them).
pub fn result(job_id: JobId, request: &TileRequest, limits: &Limits) -> Box<Envelope> {
    let mut envelope = Box::new(Envelope {
        job_id,
        message: Message::Result(TileResult {
            job: request.job,
            tile: request.tile,
            counts: heapless::Vec::new(),
            smooth: heapless::Vec::new(),
        }),
    });
    let Message::Result(result) = &mut envelope.message else {
        unreachable!("made a result above");
    };
    let pixels = request.pixels();
    // A checked tile has at most MAX_TILE_PIXELS pixels, the vectors' capacity.
    result
        .counts
        .resize(pixels, 0)
        .expect("a checked tile fits MAX_TILE_PIXELS");
    result
        .smooth
        .resize(request.job.fractions(pixels), 0)
        .expect("a checked tile fits MAX_TILE_PIXELS");
    cpu::render_tile(
        &request.job,
        request.tile,
        &mut result.counts,
        &mut result.smooth,
        limits.max_orbit_bytes,
    )
    .expect("render checks its job, and its orbit within the limit");
    envelope
}

/// A message that does not decode: the job it names, if the core's policy trusts `error`
/// (the request decoder's) to name one, is told it failed; either way the bytes go to the
/// dead-letter topic, saying `why`.
fn refuse_undecodable(bytes: &[u8], error: WireError, why: WireError) -> Answer<Never> {
    match wire::refusal_for(bytes, error) {
        Some((job_id, reason)) => {
            reply(job_id, refusal(job_id, None, reason), Some(why.to_string()))
        }
        None => Answer {
            dead_letter: Some(why.to_string().into()),
            ..Answer::default()
        },
    }
}

fn refusal(job_id: JobId, request: Option<TileRequest>, reason: Reason) -> Vec<u8> {
    encode(&Envelope {
        job_id,
        message: Message::Refused(Refusal {
            tile: request.map(|r| r.tile),
            reason,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixedbrot_core::limits::WIRE_VERSION;
    use fixedbrot_core::{Format, TileIndex};
    use fixedbrot_tests::cases::default_job;
    use proptest::prelude::*;

    /// The one reply of an answer: its job, from its key, and its bytes.
    fn the_reply(answer: &Answer<Never>) -> Option<(JobId, Vec<u8>)> {
        let [(key, bytes)] = answer.replies.as_slice() else {
            return None;
        };
        let job = u64::from_str_radix(std::str::from_utf8(key).unwrap(), 16).unwrap();
        Some((JobId(job), bytes.clone()))
    }

    #[test]
    fn every_request_of_a_job_is_answered_with_its_tile() {
        let job = default_job(Format::I4F28, 64);
        let expected = fixedbrot_tests::render_image(&job);
        let mut answered = 0;
        for (_, bytes) in plan::messages(JobId(1), job) {
            let answer = answer(&bytes, &Limits::default()).answer;
            assert_eq!(answer.dead_letter, None);
            let (job_id, reply) = the_reply(&answer).expect("a reply");
            assert_eq!(job_id, JobId(1));
            if let Message::Result(result) = wire::decode(&reply).unwrap().message {
                let rect = job.grid.rect(result.tile).unwrap();
                let first = (rect.y * job.grid.width + rect.x) as usize;
                assert_eq!(result.counts[0], expected[first]);
                answered += 1;
            }
        }
        assert_eq!(answered, 80);
    }

    /// Streamed count by count or built whole, a result is the same bytes: tiles of 1, of
    /// fewer points than a batch of lanes, clipped at the edges, and full, in both formats.
    #[test]
    fn a_streamed_result_is_the_encoding_of_the_whole_result() {
        for format in [Format::I4F28, Format::I4F60] {
            for (tile, size) in [(1, (9, 7)), (3, (40, 30)), (64, (200, 150))] {
                let job = fixedbrot_tests::cases::job(
                    format,
                    "-2.2,1.2",
                    "1.0,-1.2",
                    size,
                    500,
                    (tile, tile),
                );
                for t in 0..job.grid.tiles() {
                    let request = TileRequest {
                        job,
                        tile: TileIndex(t),
                    };
                    let limits = Limits::default();
                    let whole = encode(&result(JobId(7), &request, &limits));
                    assert_eq!(
                        compute(JobId(7), &request, &limits),
                        whole,
                        "tile {t} of {tile}"
                    );
                }
            }
        }
    }

    #[test]
    fn garbage_goes_to_the_dead_letter_topic_without_a_reply() {
        // Garbage after a known version byte; other first bytes read as another version.
        let mut long = [0xff; 40];
        long[0] = WIRE_VERSION;
        let hello = [&[WIRE_VERSION][..], b"hello"].concat();
        for garbage in [&b""[..], &[WIRE_VERSION], &hello, &long] {
            let answer = answer(garbage, &Limits::default()).answer;
            assert!(answer.replies.is_empty(), "{garbage:?}");
            assert!(answer.dead_letter.is_some());
        }
    }

    #[test]
    fn another_version_is_refused_to_its_job_and_dead_lettered() {
        let (_, mut bytes) = plan::messages(JobId(9), default_job(Format::I4F28, 64))
            .nth(1)
            .unwrap();
        bytes[0] = WIRE_VERSION + 1;
        let answer = answer(&bytes, &Limits::default()).answer;
        let (job_id, reply) = the_reply(&answer).expect("a refusal");
        assert_eq!(job_id, JobId(9));
        assert!(matches!(
            wire::decode(&reply).unwrap().message,
            Message::Refused(Refusal {
                reason: Reason::UnsupportedVersion(v),
                ..
            }) if v == WIRE_VERSION + 1
        ));
        let says = format!("version {}", WIRE_VERSION + 1);
        assert!(answer.dead_letter.as_ref().unwrap().reason.contains(&says));
    }

    #[test]
    fn a_job_over_this_workers_limits_is_refused() {
        let limits = Limits {
            max_iterations: 100,
            ..Limits::default()
        };
        let (_, bytes) = plan::messages(JobId(9), default_job(Format::I4F28, 64))
            .nth(1)
            .unwrap();
        let answer = answer(&bytes, &limits).answer;
        assert!(answer
            .dead_letter
            .as_ref()
            .unwrap()
            .reason
            .contains("--max-iterations"));
        let (_, reply) = the_reply(&answer).unwrap();
        assert!(matches!(
            wire::decode(&reply).unwrap().message,
            Message::Refused(_)
        ));
    }

    /// Pixels times iterations, per tile: a clipped edge tile may pass where a full one does not.
    #[test]
    fn a_tile_over_max_work_is_refused_with_its_own_reason() {
        // 640x480 in 64x64 tiles: tile 0 is full (4096 pixels), tile 79 is 64x32.
        let job = default_job(Format::I4F28, 64);
        let max_work = 64 * 32 * u64::from(job.iterations);
        let limits = Limits {
            max_work,
            ..Limits::default()
        };
        let request = |tile| {
            let envelope = Envelope {
                job_id: JobId(9),
                message: Message::Request(TileRequest {
                    job,
                    tile: TileIndex(tile),
                }),
            };
            encode(&envelope)
        };
        let full = answer(&request(0), &limits).answer;
        assert!(full
            .dead_letter
            .as_ref()
            .unwrap()
            .reason
            .contains("--max-work"));
        let (_, reply) = the_reply(&full).unwrap();
        let reason = Reason::TooMuchWork { max_work };
        assert_eq!(
            wire::decode(&reply).unwrap().message,
            Message::Refused(Refusal {
                tile: Some(TileIndex(0)),
                reason
            })
        );
        let clipped = answer(&request(79), &limits).answer;
        assert!(clipped.dead_letter.is_none(), "{:?}", clipped.dead_letter);
    }

    /// Bytes near messages: valid ones of every kind with a few bytes changed, cut or grown,
    /// and noise.
    fn bytes_near_messages() -> impl Strategy<Value = Vec<u8>> {
        let message = fixedbrot_tests::strategies::envelope().prop_map(|e| encode(&e));
        let mutated = (
            message,
            proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            0usize..8,
        )
            .prop_map(|(mut bytes, changes, cut)| {
                for (at, byte) in changes {
                    let i = at.index(bytes.len());
                    bytes[i] = byte;
                }
                bytes.truncate(bytes.len().saturating_sub(cut));
                bytes
            });
        prop_oneof![mutated, proptest::collection::vec(any::<u8>(), 0..64)]
    }

    proptest! {
        /// A host worker and a board (which calls `wire::refusal_for` on what its request
        /// decoder says) refuse any bytes alike, the bridge too since it answers what is not
        /// a request as the worker does. Only a valid message of another kind differs: a host
        /// passes markers on and dead-letters responses, which no board is ever sent.
        #[test]
        fn a_worker_refuses_any_bytes_as_the_cores_policy_does(bytes in bytes_near_messages()) {
            let Err(error) = wire::decode_request(&bytes) else {
                return Ok(());
            };
            if error == WireError::NotARequest && wire::decode(&bytes).is_ok() {
                return Ok(());
            }
            let answer = answer(&bytes, &Limits::default()).answer;
            let refused = the_reply(&answer).map(|(job_id, reply)| {
                match wire::decode(&reply).expect("a refusal decodes").message {
                    Message::Refused(refusal) => (job_id, refusal.reason),
                    other => panic!("a reply that is no refusal: {other:?}"),
                }
            });
            prop_assert_eq!(refused, wire::refusal_for(&bytes, error));
            prop_assert!(answer.dead_letter.is_some(), "copied to the dead-letter topic too");
        }
    }
}
