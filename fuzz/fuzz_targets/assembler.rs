//! The assembler fed an arbitrary sequence of messages, checked ones as `image` would get
//! them: results, refusals and markers of a few small jobs (so sequences complete jobs, set
//! them aside and read them again), raw bytes, second readings and the passing of time. It
//! never panics and never holds more jobs or bytes than its limits.
#![no_main]
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use fixedbrot_core::limits::MAX_ENCODED_LEN;
use fixedbrot_core::wire::{self, End, Envelope, Message, Reason, Refusal, TileResult};
use fixedbrot_core::{Format, Grid, Job, JobId, Kernel, TileIndex, View};
use fixedbrot_pipeline::assembler::{Assembler, Outcome, ASIDE_COST};
use fixedbrot_pipeline::Limits;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Step {
    Result {
        job: u8,
        tile: u8,
        count: u8,
        again: bool,
    },
    Begin {
        job: u8,
    },
    End {
        job: u8,
    },
    Refused {
        job: u8,
    },
    Bytes(Vec<u8>),
    Wait {
        seconds: u8,
    },
}

/// Four small jobs under a few ids: tiles enough to be set aside and read again.
fn job(which: u8) -> (JobId, Job) {
    let format = Format::I4F28;
    let (width, height, tile) = match which % 4 {
        0 => (8, 8, 4),
        1 => (12, 4, 4),
        2 => (5, 7, 3),
        _ => (16, 16, 8),
    };
    let job = Job {
        format,
        view: View::from_corners(format, "-2,1", "1,-1", width, height).expect("a valid view"),
        grid: Grid {
            width,
            height,
            tile_width: tile,
            tile_height: tile,
        },
        iterations: 50,
        kernel: Kernel::Direct,
        smooth: false,
        samples: 1,
    };
    (JobId(u64::from(which % 6)), job)
}

/// The message as `image` gets it: encoded and decoded, so checked.
fn checked(envelope: Envelope) -> Option<Envelope> {
    let mut buf = [0u8; MAX_ENCODED_LEN];
    let bytes = wire::encode(&envelope, &mut buf).ok()?;
    wire::decode(bytes).ok()
}

fuzz_target!(|steps: Vec<Step>| {
    let limits = Limits {
        max_jobs: 2,
        // Room for two records of jobs set aside and a few tiles, so both press.
        max_bytes: 2 * ASIDE_COST + 3000,
        idle: Duration::from_secs(60),
        ..Limits::default()
    };
    let mut now = Instant::now();
    let mut assembler = Assembler::new(limits, now);
    for step in steps {
        let (envelope, again) = match step {
            Step::Result {
                job: which,
                tile,
                count,
                again,
            } => {
                let (job_id, job) = job(which);
                let tile = TileIndex(u32::from(tile) % job.grid.tiles());
                let pixels = job.grid.rect(tile).map_or(0, |r| r.pixels());
                let counts = (0..pixels).map(|i| (u32::from(count) + i as u32) % 50 + 1);
                let message = Message::Result(TileResult {
                    job,
                    tile,
                    counts: counts.collect(),
                    smooth: Default::default(),
                });
                (Envelope { job_id, message }, again)
            }
            Step::Begin { job: which } => {
                let (job_id, job) = job(which);
                (
                    Envelope {
                        job_id,
                        message: Message::Begin(job),
                    },
                    false,
                )
            }
            Step::End { job: which } => {
                let (job_id, job) = job(which);
                let message = Message::End(End {
                    tiles: job.grid.tiles(),
                });
                (Envelope { job_id, message }, false)
            }
            Step::Refused { job: which } => {
                let (job_id, _) = job(which);
                let refusal = Refusal {
                    tile: None,
                    reason: Reason::InvalidJob,
                };
                (
                    Envelope {
                        job_id,
                        message: Message::Refused(refusal),
                    },
                    false,
                )
            }
            Step::Bytes(bytes) => match wire::decode(&bytes) {
                Ok(envelope) => (envelope, false),
                Err(_) => continue,
            },
            Step::Wait { seconds } => {
                now += Duration::from_secs(u64::from(seconds));
                assembler.expire(now);
                let _ = assembler.take_moves();
                continue;
            }
        };
        let Some(envelope) = checked(envelope) else {
            continue;
        };
        if let Outcome::Complete(image) = assembler.accept(envelope, now, again) {
            assert_eq!(image.counts.len() as u64, image.job.grid.pixels());
        }
        let _ = assembler.take_moves();
        assert!(assembler.in_flight() <= limits.max_jobs);
        assert!(assembler.bytes() <= limits.max_bytes);
    }
});
