//! The assembler's specification, case by case.
use super::*;
use fixedbrot_core::wire::{End, Reason, TileRequest};
use fixedbrot_core::Format;
use fixedbrot_tests::cases::job;

use crate::worker;

fn small_job() -> Job {
    job(Format::I4F28, "-2,1.5", "1,-1.5", (30, 20), 64, (8, 8))
}

/// 1 GiB of counts, as a forger may claim.
fn huge_job() -> Job {
    job(
        Format::I4F28,
        "-2,1.5",
        "1,-1.5",
        (16384, 16384),
        64,
        (64, 64),
    )
}

fn result(job_id: JobId, job: Job, tile: u32) -> Envelope {
    let request = TileRequest {
        job,
        tile: TileIndex(tile),
    };
    fixedbrot_core::wire::decode(&worker::compute(job_id, &request, &Limits::default())).unwrap()
}

/// Every tile result of a job, computed by the worker, decoded.
fn results(job_id: JobId, job: Job) -> Vec<Envelope> {
    (0..job.grid.tiles())
        .map(|t| result(job_id, job, t))
        .collect()
}

fn feed(assembler: &mut Assembler, envelopes: Vec<Envelope>) -> Vec<Image> {
    let now = Instant::now();
    envelopes
        .into_iter()
        .filter_map(|e| match assembler.accept(e, now, false) {
            Outcome::Complete(image) => Some(image),
            _ => None,
        })
        .collect()
}

/// One partition as the consumer loop reads it to the assembler: messages in order, the
/// first offset of each job held until it is written or freed, and a rewind to that
/// offset when the assembler asks to read a job again.
struct Partition {
    log: Vec<Envelope>,
    rewinds: usize,
    expired: Vec<JobId>,
    set_aside: Vec<JobId>,
    forgotten: Vec<JobId>,
    settled: Vec<Settled>,
    /// Jobs still held when the reading ended.
    held: usize,
}

impl Partition {
    fn new(log: Vec<Envelope>) -> Partition {
        Partition {
            log,
            rewinds: 0,
            expired: Vec::new(),
            set_aside: Vec::new(),
            forgotten: Vec::new(),
            settled: Vec::new(),
            held: 0,
        }
    }

    /// Reads to the end, a millisecond a message; the images written, in order. Panics
    /// if it does not end.
    fn read(&mut self, assembler: &mut Assembler) -> Vec<Image> {
        let (mut position, mut read_to) = (0, 0);
        let mut holds: HashMap<JobId, usize> = HashMap::new();
        let mut step = 0;
        let mut images = Vec::new();
        let start = Instant::now();
        while step < self.log.len() * 20 {
            step += 1;
            let now = start + Duration::from_millis(step as u64);
            let Some(envelope) = self.log.get(position).cloned() else {
                self.held = holds.len();
                return images;
            };
            let (job_id, again) = (envelope.job_id, position < read_to);
            read_to = read_to.max(position + 1);
            match assembler.accept(envelope, now, again) {
                Outcome::Begin { .. }
                | Outcome::Progress { .. }
                | Outcome::SetAside
                | Outcome::Conflict(_) => {
                    holds.entry(job_id).or_insert(position);
                }
                Outcome::Complete(image) => {
                    holds.remove(&job_id);
                    images.push(image);
                }
                Outcome::Failed { .. } | Outcome::Unsettled { .. } => {
                    holds.remove(&job_id);
                }
                _ => {}
            }
            let moves = assembler.take_moves();
            self.set_aside
                .extend(moves.set_aside.iter().map(|e| e.key.id));
            for expired in moves.expired {
                holds.remove(&expired.key.id);
                self.expired.push(expired.key.id);
            }
            for forgotten in moves.forgotten {
                holds.remove(&forgotten.key.id);
                self.forgotten.push(forgotten.key.id);
            }
            self.settled.extend(moves.settled);
            position += 1;
            for key in moves.read_again {
                position = position.min(holds[&key.id]);
                self.rewinds += 1;
            }
        }
        panic!("reading the partition did not end");
    }
}

#[test]
fn image_complete_regardless_of_order_and_duplicates() {
    let (id, job) = (JobId(1), small_job());
    let expected = fixedbrot_tests::render_image(&job);
    let mut shuffled = results(id, job);
    shuffled.reverse();
    shuffled.swap(1, 5);
    let mut with_duplicates = shuffled.clone();
    with_duplicates.insert(3, shuffled[0].clone());
    with_duplicates.insert(0, shuffled[7].clone());
    let mut assembler = Assembler::new(Limits::default(), Instant::now());
    let images = feed(&mut assembler, with_duplicates);
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].counts, expected);
    assert_eq!(assembler.in_flight(), 0);
    assert_eq!(assembler.bytes(), 0);
}

#[test]
fn interleaved_jobs_become_separate_images() {
    let (a, b) = (
        small_job(),
        job(Format::I4F60, "-1,1", "0,0", (17, 9), 100, (4, 4)),
    );
    let mixed = interleave(results(JobId(1), a), results(JobId(2), b));
    let images = feed(
        &mut Assembler::new(Limits::default(), Instant::now()),
        mixed,
    );
    assert_eq!(images.len(), 2);
    for image in images {
        assert_eq!(image.counts, fixedbrot_tests::render_image(&image.job));
    }
}

fn interleave(a: Vec<Envelope>, b: Vec<Envelope>) -> Vec<Envelope> {
    let mut mixed = Vec::new();
    for i in 0..a.len().max(b.len()) {
        mixed.extend(a.get(i).cloned());
        mixed.extend(b.get(i).cloned());
    }
    mixed
}

#[test]
fn a_replayed_job_is_not_written_again() {
    let (id, job) = (JobId(3), small_job());
    let mut assembler = Assembler::new(Limits::default(), Instant::now());
    assert_eq!(feed(&mut assembler, results(id, job)).len(), 1);
    assert_eq!(feed(&mut assembler, results(id, job)).len(), 0);
    let begin = Envelope {
        job_id: id,
        message: Message::Begin(job),
    };
    assert!(matches!(
        assembler.accept(begin, Instant::now(), false),
        Outcome::LateBegin { .. }
    ));
    assert_eq!(assembler.in_flight(), 0);
}

/// Before, the first job seen under an id was the only one: one forged result with a real
/// job's id and another definition made every real tile a dead letter, and the real job was
/// never written. Now each definition is a job of its own.
#[test]
fn a_forged_definition_under_a_real_jobs_id_is_a_job_of_its_own() {
    let (id, real) = (JobId(4), small_job());
    let mut forged_job = real;
    forged_job.iterations += 1;
    let mut log = vec![result(id, forged_job, 0)];
    log.extend(results(id, real));
    let images = feed(&mut Assembler::new(Limits::default(), Instant::now()), log);
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].job, real);
    assert_eq!(images[0].counts, fixedbrot_tests::render_image(&real));
}

#[test]
fn memory_grows_with_the_tiles_received_not_with_the_size_a_message_claims() {
    let mut assembler = Assembler::new(Limits::default(), Instant::now());
    let forged = result(JobId(5), huge_job(), 7);
    assert!(matches!(
        assembler.accept(forged, Instant::now(), false),
        Outcome::Progress { done: 1, .. }
    ));
    assert_eq!(assembler.bytes(), 64 * 64 * 4 + received::TILE_OVERHEAD);
}

#[test]
fn a_job_this_process_made_is_charged_whole_from_the_start_and_completes_alike() {
    let (id, job) = (JobId(8), small_job());
    let mut assembler = Assembler::new(Limits::default(), Instant::now());
    assembler.open(JobKey::new(id, &job), &job).unwrap();
    assert_eq!(assembler.bytes(), Received::dense_bytes(job.grid, false));
    let images = feed(&mut assembler, results(id, job));
    assert_eq!(images[0].counts, fixedbrot_tests::render_image(&job));
    assert_eq!(assembler.bytes(), 0);
}

#[test]
fn a_job_bigger_than_all_memory_is_refused_at_once() {
    let tight = Limits {
        max_bytes: 1000,
        ..Limits::default()
    };
    let outcome = Assembler::new(tight, Instant::now()).accept(
        result(JobId(9), small_job(), 0),
        Instant::now(),
        false,
    );
    assert!(matches!(outcome, Outcome::Rejected { .. }));
}

#[test]
fn forged_results_cannot_lock_out_a_real_job() {
    let limits = Limits::default();
    let mut log: Vec<Envelope> = (0..20)
        .map(|i| result(JobId(1000 + i), huge_job(), i as u32))
        .collect();
    let real = small_job();
    log.extend(results(JobId(7), real));
    let mut assembler = Assembler::new(limits, Instant::now());
    let mut partition = Partition::new(log);
    let images = partition.read(&mut assembler);
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].counts, fixedbrot_tests::render_image(&real));
    assert_eq!(partition.set_aside.len(), 20 + 1 - limits.max_jobs);
    assert!(!partition.set_aside.contains(&JobId(7)), "forged ones went");
    assert_eq!(partition.held, 20, "forged jobs wait for the idle timeout");
}

#[test]
fn room_is_taken_from_the_job_with_least_progress_then_idle_longest() {
    let limits = Limits {
        max_jobs: 3,
        ..Limits::default()
    };
    let mut assembler = Assembler::new(limits, Instant::now());
    let start = Instant::now();
    let at = |s| start + Duration::from_secs(s);
    // A has three tiles and is idle longest; B and C one each, B idle longer.
    for t in 0..3 {
        assembler.accept(result(JobId(1), small_job(), t), at(0), false);
    }
    assembler.accept(result(JobId(2), small_job(), 0), at(1), false);
    assembler.accept(result(JobId(3), small_job(), 0), at(2), false);
    assembler.accept(result(JobId(4), small_job(), 0), at(3), false);
    let moves = assembler.take_moves();
    let set_aside: Vec<JobId> = moves.set_aside.iter().map(|e| e.key.id).collect();
    assert_eq!(set_aside, vec![JobId(2)]);
    assert_eq!(moves.set_aside[0].idle, Duration::from_secs(2));
    assert_eq!(assembler.in_flight(), 3);
}

#[test]
fn two_jobs_that_do_not_fit_together_complete_one_after_the_other() {
    // 120x80 counts are 38 KiB: one job and the record of another fit, two jobs do not.
    let a = job(Format::I4F28, "-2,1.5", "1,-1.5", (120, 80), 64, (8, 8));
    let b = a;
    let one_job = Received::dense_bytes(a.grid, false);
    assert!(ASIDE_COST < one_job / 4);
    let limits = Limits {
        max_bytes: one_job + one_job / 4,
        ..Limits::default()
    };
    let log = interleave(results(JobId(1), a), results(JobId(2), b));
    let mut assembler = Assembler::new(limits, Instant::now());
    let mut partition = Partition::new(log);
    let images = partition.read(&mut assembler);
    assert_eq!(images.len(), 2);
    for image in &images {
        assert_eq!(image.counts, fixedbrot_tests::render_image(&image.job));
    }
    assert_eq!(partition.rewinds, 1, "the job set aside is read once more");
    assert_eq!(partition.held, 0);
}

#[test]
fn a_job_set_aside_is_read_again_only_once_it_gets_a_new_tile() {
    let limits = Limits {
        max_jobs: 1,
        ..Limits::default()
    };
    let (a, b) = (small_job(), small_job());
    // A's first tiles, then all of B, then the rest of A.
    let mut log = results(JobId(1), a);
    let rest = log.split_off(3);
    log.extend(results(JobId(2), b));
    log.extend(rest);
    let mut assembler = Assembler::new(limits, Instant::now());
    let mut partition = Partition::new(log);
    let images = partition.read(&mut assembler);
    assert_eq!(images.len(), 2);
    assert_eq!(images[1].counts, fixedbrot_tests::render_image(&a));
    assert_eq!(partition.set_aside, vec![JobId(1)]);
    assert_eq!(partition.rewinds, 1);
    assert_eq!(partition.held, 0);
}

#[test]
fn an_idle_job_expires_naming_its_missing_tiles() {
    let limits = Limits {
        idle: Duration::from_secs(10),
        ..Limits::default()
    };
    let mut assembler = Assembler::new(limits, Instant::now());
    let start = Instant::now();
    let all = results(JobId(5), small_job());
    let total = all.len() as u32;
    for e in all
        .into_iter()
        .filter(|e| !matches!(&e.message, Message::Result(r) if r.tile.0 == 2 || r.tile.0 == 5))
    {
        assembler.accept(e, start, false);
    }
    assembler.expire(start + Duration::from_secs(9));
    assert!(assembler.take_moves().expired.is_empty());
    assembler.expire(start + Duration::from_secs(11));
    let expired = assembler.take_moves().expired;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].missing, 2);
    assert_eq!(expired[0].first_missing, vec![TileIndex(2), TileIndex(5)]);
    assert_eq!(expired[0].total, total);
    assert!(!expired[0].set_aside);
    assert_eq!((assembler.in_flight(), assembler.bytes()), (0, 0));
    let late = result(JobId(5), small_job(), 2);
    assert!(
        matches!(assembler.accept(late, start, false), Outcome::Duplicate),
        "freed for good"
    );
}

#[test]
fn a_job_set_aside_that_gets_nothing_more_expires_as_set_aside() {
    let limits = Limits {
        max_jobs: 1,
        idle: Duration::from_secs(10),
        ..Limits::default()
    };
    let mut assembler = Assembler::new(limits, Instant::now());
    let start = Instant::now();
    assembler.accept(result(JobId(1), huge_job(), 0), start, false);
    assembler.accept(result(JobId(2), small_job(), 0), start, false);
    assembler.expire(start + Duration::from_secs(11));
    let expired = assembler.take_moves().expired;
    let forged = expired.iter().find(|e| e.key.id == JobId(1)).unwrap();
    assert!(forged.set_aside);
    assert_eq!(forged.missing, huge_job().grid.tiles() - 1);
}

#[test]
fn a_refusal_fails_its_job_and_later_tiles_are_ignored() {
    let mut assembler = Assembler::new(Limits::default(), Instant::now());
    let all = results(JobId(6), small_job());
    assembler.accept(all[0].clone(), Instant::now(), false);
    let refusal = Envelope {
        job_id: JobId(6),
        message: Message::Refused(Refusal {
            tile: Some(TileIndex(1)),
            reason: Reason::InvalidJob,
        }),
    };
    assert!(matches!(
        assembler.accept(refusal, Instant::now(), false),
        Outcome::Failed { .. }
    ));
    assert_eq!(feed(&mut assembler, all).len(), 0);
    assert_eq!((assembler.in_flight(), assembler.bytes()), (0, 0));
}

#[test]
fn markers_are_informative() {
    let mut assembler = Assembler::new(Limits::default(), Instant::now());
    let end = Envelope {
        job_id: JobId(7),
        message: Message::End(End { tiles: 12 }),
    };
    assert!(matches!(
        assembler.accept(end, Instant::now(), false),
        Outcome::End { tiles: 12, .. }
    ));
    assert_eq!(assembler.in_flight(), 0);
}

/// A one-tile result of a forged job claiming a huge image.
fn forged(i: u64) -> Envelope {
    result(JobId(1_000_000 + i), huge_job(), (i % 64) as u32)
}

/// The tester's reproduction: tile 0 of a real 2-tile job, 4,200 forged one-tile jobs,
/// then the real tile 1. Before, jobs set aside were capped at 4,096: the real one,
/// idle longest, was "expired after 300 s" 0.3 s later, marked finished, and its last
/// tile dropped as a duplicate.
#[test]
fn forged_jobs_between_a_real_jobs_tiles_do_not_lose_it() {
    let real = job(Format::I4F28, "-2,1.5", "1,-1.5", (16, 8), 64, (8, 8));
    let mut log = vec![result(JobId(7), real, 0)];
    log.extend((0..4200).map(forged));
    log.push(result(JobId(7), real, 1));
    let mut assembler = Assembler::new(Limits::default(), Instant::now());
    let mut partition = Partition::new(log);
    let images = partition.read(&mut assembler);
    assert_eq!(images.len(), 1, "the real job is written");
    assert_eq!(images[0].counts, fixedbrot_tests::render_image(&real));
    assert!(partition.expired.is_empty() && partition.forgotten.is_empty());
    assert_eq!(partition.rewinds, 1, "read again once, from its first tile");
    assert_eq!(
        partition.held, 4200,
        "forged jobs wait for the idle timeout"
    );
    assert!(assembler.bytes() <= Limits::default().max_bytes);
}

/// Records of jobs set aside are charged against --max-mib; past it the least of them
/// are forgotten (holds released, nothing marked finished), so memory stays bounded
/// whatever a forger sends, and a forgotten job that gets a tile starts afresh.
#[test]
fn jobs_set_aside_are_bounded_by_memory_and_a_forgotten_one_is_not_finished() {
    let limits = Limits {
        max_jobs: 2,
        max_bytes: 200 * ASIDE_COST,
        ..Limits::default()
    };
    let mut assembler = Assembler::new(limits, Instant::now());
    let start = Instant::now();
    let mut forgotten = Vec::new();
    for i in 0..1000 {
        let now = start + Duration::from_millis(i);
        let small = job(Format::I4F28, "-2,1.5", "1,-1.5", (2, 1), 8, (1, 1));
        assembler.accept(result(JobId(i), small, 0), now, false);
        forgotten.extend(
            assembler
                .take_moves()
                .forgotten
                .into_iter()
                .map(|e| e.key.id),
        );
        assert!(assembler.bytes() <= limits.max_bytes);
    }
    assert!(forgotten.len() > 700, "{}", forgotten.len());
    assert_eq!(forgotten[0], JobId(0), "idle longest goes first");
    let small = job(Format::I4F28, "-2,1.5", "1,-1.5", (2, 1), 8, (1, 1));
    let later = start + Duration::from_secs(1);
    assert!(matches!(
        assembler.accept(result(JobId(0), small, 1), later, false),
        Outcome::Progress { done: 1, total: 2 }
    ));
}

/// Expiry says how long a job was really idle: a job set aside 0.3 s ago is not
/// "expired after 300 s".
#[test]
fn jobs_set_aside_expire_only_after_their_own_idle_time() {
    let limits = Limits {
        max_jobs: 1,
        idle: Duration::from_secs(10),
        ..Limits::default()
    };
    let mut assembler = Assembler::new(limits, Instant::now());
    let start = Instant::now();
    assembler.accept(result(JobId(1), small_job(), 0), start, false);
    let later = start + Duration::from_secs(6);
    assembler.accept(result(JobId(2), small_job(), 0), later, false);
    assembler.expire(start + Duration::from_secs(9));
    assert!(
        assembler.take_moves().expired.is_empty(),
        "JobId(1) idle 9 s"
    );
    assembler.expire(start + Duration::from_secs(12));
    let expired = assembler.take_moves().expired;
    assert_eq!(expired.len(), 1);
    assert_eq!(
        (expired[0].key.id, expired[0].idle, expired[0].set_aside),
        (JobId(1), Duration::from_secs(12), true)
    );
}

/// `result` with every count replaced.
fn forged_copy(job_id: JobId, job: Job, tile: u32, count: u32) -> Envelope {
    let mut envelope = result(job_id, job, tile);
    if let Message::Result(result) = &mut envelope.message {
        result.counts.iter_mut().for_each(|c| *c = count);
    }
    envelope
}

fn conflict(outcome: Outcome) -> Conflict {
    match outcome {
        Outcome::Conflict(conflict) => conflict,
        other => panic!("not a conflict: {other:?}"),
    }
}

/// The tester's reproduction: a forged all-zero tile 0 before the real one left 713 wrong
/// pixels in the PNG, silently. The tile is disputed, and settled as the job completes.
#[test]
fn a_forged_copy_that_came_first_is_replaced_when_the_job_completes() {
    let (id, real) = (JobId(3), small_job());
    let mut assembler = Assembler::new(Limits::default(), Instant::now());
    let now = Instant::now();
    let zeros = forged_copy(id, real, 0, 0);
    assert!(matches!(
        assembler.accept(zeros, now, false),
        Outcome::Progress { .. }
    ));
    let right = result(id, real, 0);
    let Message::Result(right_tile) = &right.message else {
        unreachable!()
    };
    let expected = Conflict {
        tile: TileIndex(0),
        held: digest(&vec![0; right_tile.counts.len()]),
        this: digest(&right_tile.counts),
    };
    assert_eq!(conflict(assembler.accept(right, now, false)), expected);
    let images = feed(&mut assembler, results(id, real));
    assert_eq!(images[0].counts, fixedbrot_tests::render_image(&real));
    let settled = assembler.take_moves().settled;
    let key = JobKey::new(id, &real);
    assert_eq!(
        settled,
        vec![Settled {
            key,
            tile: TileIndex(0),
            replaced: true
        }]
    );
}

#[test]
fn a_forged_copy_that_came_second_changes_nothing() {
    let (id, real) = (JobId(4), small_job());
    let mut assembler = Assembler::new(Limits::default(), Instant::now());
    let now = Instant::now();
    assembler.accept(result(id, real, 5), now, false);
    conflict(assembler.accept(forged_copy(id, real, 5, 2), now, false));
    let images = feed(&mut assembler, results(id, real));
    assert_eq!(images[0].counts, fixedbrot_tests::render_image(&real));
    let settled = assembler.take_moves().settled;
    assert_eq!(settled.len(), 1);
    assert!(!settled[0].replaced, "the copy held was right");
}

#[test]
fn two_wrong_copies_are_both_replaced_by_the_tiles_own_counts() {
    let (id, real) = (JobId(5), small_job());
    let mut assembler = Assembler::new(Limits::default(), Instant::now());
    let now = Instant::now();
    assembler.accept(forged_copy(id, real, 1, 3), now, false);
    conflict(assembler.accept(forged_copy(id, real, 1, 4), now, false));
    let images = feed(&mut assembler, results(id, real));
    assert_eq!(images[0].counts, fixedbrot_tests::render_image(&real));
}

/// A tile this assembler may not compute (over its --max-work) cannot be settled: the job
/// fails, rather than be written with a copy nobody vouches for.
#[test]
fn a_disputed_tile_over_max_work_fails_its_job_when_it_completes() {
    let (id, real) = (JobId(6), small_job());
    let limits = Limits {
        max_work: 10,
        ..Limits::default()
    };
    let mut assembler = Assembler::new(limits, Instant::now());
    let now = Instant::now();
    assembler.accept(result(id, real, 2), now, false);
    conflict(assembler.accept(forged_copy(id, real, 2, 9), now, false));
    let outcomes: Vec<Outcome> = results(id, real)
        .into_iter()
        .map(|e| assembler.accept(e, now, false))
        .collect();
    assert!(matches!(
        outcomes.last(),
        Some(Outcome::Unsettled { tile: TileIndex(2) })
    ));
    assert_eq!((assembler.in_flight(), assembler.bytes()), (0, 0));
}

/// Disputes cost nothing until their job completes: a forger's conflicting copies of jobs
/// that never complete have nothing computed (the tester stalled an assembler 85 s with
/// forty such pairs of tiles at 2^30 steps each).
#[test]
fn disputes_of_jobs_that_never_complete_compute_nothing() {
    let limits = Limits {
        max_work: 1,
        ..Limits::default()
    };
    let mut assembler = Assembler::new(limits, Instant::now());
    let now = Instant::now();
    for id in 0..40 {
        assembler.accept(forged_copy(JobId(id), small_job(), 0, 1), now, false);
        conflict(assembler.accept(forged_copy(JobId(id), small_job(), 0, 2), now, false));
    }
    // Were a tile computed, max_work 1 would have failed its job.
    assert_eq!(assembler.in_flight(), 16);
    assert!(assembler.take_moves().settled.is_empty());
}

/// The tester's reproduction: two 400x400 jobs interleaved under 1 MiB, each needing
/// 640,400 bytes whole. Before, the one behind was set aside, read again at once for the
/// room it had held, set aside again at the same tile, and so on for ever; both expired,
/// and both were lost.
#[test]
fn two_jobs_that_do_not_fit_together_never_read_each_other_in_circles() {
    let big = job(Format::I4F28, "-2,1.5", "1,-1.5", (400, 400), 200, (20, 20));
    let limits = Limits {
        max_bytes: 1 << 20,
        ..Limits::default()
    };
    let log = interleave(results(JobId(1), big), results(JobId(2), big));
    let mut assembler = Assembler::new(limits, Instant::now());
    let mut partition = Partition::new(log);
    let images = partition.read(&mut assembler);
    assert_eq!(images.len(), 2);
    for image in &images {
        assert_eq!(image.counts, fixedbrot_tests::render_image(&image.job));
    }
    assert_eq!(partition.rewinds, 1);
    assert_eq!(partition.held, 0);
}

/// Before, every tick (one a message) scanned every job and every record set aside: with
/// 69,000 records the assembler drained 1,000 messages/s instead of 5,400. Records are
/// indexed by idle time now, and idle jobs are looked for at most once a second.
#[test]
fn idle_jobs_are_looked_for_at_most_once_a_second() {
    let limits = Limits {
        idle: Duration::from_secs(10),
        ..Limits::default()
    };
    let start = Instant::now();
    let at = |ms| start + Duration::from_millis(ms);
    let mut assembler = Assembler::new(limits, start);
    assembler.accept(result(JobId(1), small_job(), 0), at(0), false);
    assembler.accept(result(JobId(2), small_job(), 0), at(1_000), false);
    assembler.expire(at(10_500));
    assert_eq!(assembler.take_moves().expired.len(), 1, "idle 10.5 s");
    assembler.expire(at(11_200));
    assert!(
        assembler.take_moves().expired.is_empty(),
        "idle 10.2 s, but looked 0.7 s ago"
    );
    assembler.expire(at(11_600));
    assert_eq!(assembler.take_moves().expired.len(), 1);
}

/// A job set aside costs under a KiB whatever its format: the key holds a digest of the
/// definition, not the job, whose view has room for 4,096 bits (a probe of 366e534 found
/// records of 8.5 KiB charged, 17 KiB held, and jobs forgotten at --max-mib 1 that fit
/// before). Two jobs alike but for their format are two keys.
#[test]
fn a_record_costs_under_a_kib_whatever_the_width_of_its_view() {
    const { assert!(ASIDE_COST < 1024) };
    let key = |format| JobKey::new(JobId(1), &small_job_like(format));
    let (narrow, wide) = (key(Format::I4F60), key(Format::from_bits(4096).unwrap()));
    assert_eq!(narrow.grid, wide.grid);
    assert_ne!(narrow, wide);
    assert_eq!(
        narrow,
        JobKey::new(JobId(1), &small_job_like(Format::I4F60))
    );
}

fn small_job_like(format: Format) -> Job {
    job(format, "-2,1.5", "1,-1.5", (30, 20), 64, (8, 8))
}

/// A job read again and set aside by a newcomer before its tiles came back stays wanted: its
/// tiles, read again, touch nothing, so without that it waited for its idle timeout and was
/// lost (a probe of 4146cb4, 17 of 30 jobs at --max-jobs 1, tiles of three partitions).
#[test]
fn a_job_set_aside_in_its_second_reading_is_read_again_when_there_is_room() {
    let limits = Limits {
        max_jobs: 1,
        ..Limits::default()
    };
    let two_tiles = |re: &str| {
        job(
            Format::I4F28,
            &format!("{re},1"),
            "1,-1",
            (16, 8),
            64,
            (8, 8),
        )
    };
    let (a, b, c) = (two_tiles("-2"), two_tiles("-1.5"), two_tiles("-1"));
    let start = Instant::now();
    let at = |s| start + Duration::from_secs(s);
    let mut assembler = Assembler::new(limits, start);
    let tile = |id, job, t| result(JobId(id), job, t);
    assembler.accept(tile(1, a, 0), at(0), false);
    assembler.accept(tile(2, b, 0), at(1), false); // A set aside for B
    assembler.accept(tile(1, a, 1), at(2), false); // A wanted, read again: B set aside
    let moves = assembler.take_moves();
    assert_eq!(
        moves.read_again.iter().map(|k| k.id).collect::<Vec<_>>(),
        [JobId(1)]
    );
    // Before A's tiles come back, a newcomer takes its slot.
    assembler.accept(tile(3, c, 0), at(3), false);
    // A's tiles, read again, are duplicates while it is aside; room comes when C is whole.
    for t in 0..2 {
        assembler.accept(tile(1, a, t), at(4), true);
    }
    let Outcome::Complete(_) = assembler.accept(tile(3, c, 1), at(5), false) else {
        panic!("C completes")
    };
    let moves = assembler.take_moves();
    assert!(
        moves.read_again.iter().any(|k| k.id == JobId(1)),
        "{moves:?}"
    );
    let mut images = Vec::new();
    for t in 0..2 {
        if let Outcome::Complete(image) = assembler.accept(tile(1, a, t), at(6), true) {
            images.push(image);
        }
    }
    assert_eq!(images.len(), 1, "A completes from its third reading");
    assert_eq!(images[0].counts, fixedbrot_tests::render_image(&a));
}

fn smooth_job() -> Job {
    Job {
        smooth: true,
        ..small_job()
    }
}

#[test]
fn a_smooth_jobs_fractions_land_where_its_counts_do_in_any_order() {
    let (id, job) = (JobId(11), smooth_job());
    let mut shuffled = results(id, job);
    shuffled.reverse();
    shuffled.insert(2, shuffled[4].clone());
    let mut assembler = Assembler::new(Limits::default(), Instant::now());
    let images = feed(&mut assembler, shuffled);
    assert_eq!(images.len(), 1);
    let (counts, smooth) = fixedbrot_tests::render_image_smooth(&job);
    assert_eq!((&images[0].counts, &images[0].smooth), (&counts, &smooth));
    assert!(
        smooth.iter().filter(|&&f| f != 0).count() > 300,
        "fractions, not zeros"
    );
    assert_eq!(assembler.bytes(), 0);
}

#[test]
fn a_copy_whose_fractions_differ_is_disputed_and_settled_by_its_own() {
    let (id, real) = (JobId(12), smooth_job());
    let mut assembler = Assembler::new(Limits::default(), Instant::now());
    let now = Instant::now();
    // The counts right, the fractions all wrong: it came first, so it is held.
    let mut forged = result(id, real, 0);
    if let Message::Result(result) = &mut forged.message {
        result.smooth.iter_mut().for_each(|f| *f = 0);
    }
    assembler.accept(forged, now, false);
    conflict(assembler.accept(result(id, real, 0), now, false));
    let images = feed(&mut assembler, results(id, real));
    assert_eq!(
        images[0].smooth,
        fixedbrot_tests::render_image_smooth(&real).1
    );
    let settled = assembler.take_moves().settled;
    assert_eq!(settled.len(), 1);
    assert!(settled[0].replaced, "the copy held was wrong");
}
