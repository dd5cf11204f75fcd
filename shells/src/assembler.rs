//! Assembles tile results into whole images, whatever their order, duplicates and
//! interleaving with other jobs. Pure: the caller feeds messages and the clock, and acts on
//! the [`Moves`] it takes after each.
//!
//! Every result carries its whole job and Kafka records no trustworthy sender, so anyone can
//! announce a job. Memory therefore grows with the tiles received, never with the size a
//! message claims. When `--max-jobs` or `--max-mib` is reached, room is made by setting aside
//! the job with the least progress (fewest tiles) that has been idle longest; a newcomer is
//! never refused. A job set aside loses its tiles but not its place: its first offset stays
//! held, so nothing after it is committed, and once it gets a new tile and there is room it
//! is read again from there. A job read again takes room only from jobs with less progress
//! than it had, so two jobs that do not fit together complete one after the other instead of
//! pushing each other out for ever.
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use fixedbrot_core::wire::{Envelope, Message, Refusal};
use fixedbrot_core::{Job, JobId, TileIndex};

use crate::limits::Limits;
use crate::received::Received;

/// How many finished jobs are remembered, so a replay does not write them again; also the
/// most jobs set aside at once.
pub const FINISHED_MEMORY: usize = 4096;

/// A finished image: its job and its counts, row-major.
#[derive(Debug)]
pub struct Image {
    pub job_id: JobId,
    pub job: Job,
    pub counts: Vec<u32>,
}

/// What one message did.
#[derive(Debug)]
pub enum Outcome {
    /// A BEGIN marker: the job is now assembled here.
    Begin { job: Job },
    /// A BEGIN marker of a job already written: it took a slower path than the job's tiles.
    /// Nothing changes.
    LateBegin { job: Job },
    /// An END marker: informative, since completion is counted.
    End { tiles: u32 },
    /// A new tile; `done` of `total` are held.
    Progress { done: u32, total: u32 },
    /// The last missing tile: the image is whole, and its job forgotten.
    Complete(Image),
    /// A tile already held, a message of a job already written, or a message read again that
    /// was acted on the first time: nothing changes.
    Duplicate,
    /// A message of a job set aside to make room: its first offset stays held, and the job
    /// is read again from there when there is room.
    SetAside,
    /// A worker refused a tile: the job failed and is freed.
    Failed { refusal: Refusal },
    /// The message does not belong here (inconsistent with its job, over a limit, or a kind
    /// this topic does not carry): set it aside, with the reason.
    Rejected { reason: String },
}

/// What the caller must act on besides an outcome: jobs set aside, read again or freed.
#[derive(Debug, Default)]
pub struct Moves {
    /// Jobs set aside to make room; their first offsets stay held.
    pub set_aside: Vec<Evicted>,
    /// Jobs to read again from their first offset.
    pub read_again: Vec<JobId>,
    /// Jobs freed for good after the idle timeout; their first offsets are released.
    pub expired: Vec<Expired>,
}

/// A job set aside to make room.
#[derive(Debug)]
pub struct Evicted {
    pub job_id: JobId,
    /// Tiles it had.
    pub had: u32,
    pub total: u32,
    /// How long it had gone without a new tile.
    pub idle: Duration,
}

/// How many missing tiles an expired job names: enough for a log line, bounded whatever the
/// job's size.
const MISSING_SHOWN: usize = 20;

/// A job freed after the idle timeout, with the tiles it still lacked.
#[derive(Debug)]
pub struct Expired {
    pub job_id: JobId,
    /// How many tiles were missing.
    pub missing: u32,
    /// The first of them, at most MISSING_SHOWN; none for a job that was set aside.
    pub first_missing: Vec<TileIndex>,
    pub total: u32,
    /// The job had been set aside to make room, and never got room back.
    pub set_aside: bool,
}

/// A job being assembled.
struct Partial {
    job: Job,
    tiles: Received,
    /// Bytes kept for it: while it is read again, what it held when set aside; for a job
    /// this process made, its whole image.
    reserved: u64,
    /// Tiles it had when set aside: its progress until they are back.
    standing: u32,
    last_seen: Instant,
}

impl Partial {
    /// Its charge against `--max-mib`.
    fn bytes(&self) -> u64 {
        self.tiles.bytes(self.job.grid).max(self.reserved)
    }

    /// Who is set aside first: fewest tiles, then idle longest.
    fn rank(&self) -> Rank {
        (self.tiles.len().max(self.standing), self.last_seen)
    }
}

/// Fewest tiles first, then the longest idle.
type Rank = (u32, Instant);

/// A job set aside: what it takes to read it again.
struct Aside {
    job: Job,
    standing: u32,
    bytes: u64,
    last_seen: Instant,
    /// It got a new tile since it was set aside: it is read again as soon as there is room.
    wanted: bool,
}

/// Jobs in flight, bounded by [`Limits`], jobs set aside, and a bounded memory of finished
/// ones.
pub struct Assembler {
    limits: Limits,
    jobs: HashMap<JobId, Partial>,
    aside: HashMap<JobId, Aside>,
    /// The sum of the jobs' charges.
    bytes: u64,
    finished: RecentIds,
    moves: Moves,
    /// The clock as the caller last gave it.
    now: Instant,
}

/// The last `FINISHED_MEMORY` job ids inserted, oldest forgotten first.
#[derive(Default)]
struct RecentIds {
    ids: HashSet<JobId>,
    order: VecDeque<JobId>,
}

impl RecentIds {
    fn insert(&mut self, job_id: JobId) {
        if self.ids.insert(job_id) {
            self.order.push_back(job_id);
        }
        while self.order.len() > FINISHED_MEMORY {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }

    fn contains(&self, job_id: &JobId) -> bool {
        self.ids.contains(job_id)
    }
}

/// One tile of a result, as the assembler takes it.
pub struct Tile<'a> {
    /// The whole job the result carries.
    pub job: Job,
    pub index: TileIndex,
    /// Its counts, row-major.
    pub counts: &'a [u32],
}

impl Assembler {
    pub fn new(limits: Limits) -> Assembler {
        Assembler {
            limits,
            jobs: HashMap::new(),
            aside: HashMap::new(),
            bytes: 0,
            finished: RecentIds::default(),
            moves: Moves::default(),
            now: Instant::now(),
        }
    }

    /// Jobs being assembled.
    pub fn in_flight(&self) -> usize {
        self.jobs.len()
    }

    /// Whether `job_id` is being assembled.
    pub fn assembles(&self, job_id: JobId) -> bool {
        self.jobs.contains_key(&job_id)
    }

    /// Bytes charged against `--max-mib`.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Takes one decoded message. `again` says it was read before, and this is a second
    /// reading after a rewind: only tiles of jobs read again count then.
    pub fn accept(&mut self, envelope: Envelope, now: Instant, again: bool) -> Outcome {
        self.now = self.now.max(now);
        let job_id = envelope.job_id;
        match &envelope.message {
            Message::Result(result) => {
                let tile = Tile {
                    job: result.job,
                    index: result.tile,
                    counts: &result.counts,
                };
                self.tile(job_id, tile, again)
            }
            _ if again => Outcome::Duplicate,
            // A BEGIN may arrive after the job's tiles, even after its image: they take other
            // paths through the workers.
            Message::Begin(job) => self.begin(job_id, *job),
            Message::End(end) => Outcome::End { tiles: end.tiles },
            Message::Refused(refusal) => {
                self.drop_job(job_id);
                // Failed for good: later tiles of it must not open it again.
                self.finished.insert(job_id);
                self.read_again_if_room();
                Outcome::Failed { refusal: *refusal }
            }
            Message::Request(_) => Outcome::Rejected {
                reason: "a tile request on the responses topic".into(),
            },
        }
    }

    /// Takes one result, read without its envelope (`wire::decode_result`), as
    /// [`Assembler::accept`] takes it.
    pub fn accept_tile(
        &mut self,
        job_id: JobId,
        tile: Tile<'_>,
        now: Instant,
        again: bool,
    ) -> Outcome {
        self.now = self.now.max(now);
        self.tile(job_id, tile, again)
    }

    /// What the caller must act on since it last asked.
    pub fn take_moves(&mut self) -> Moves {
        std::mem::take(&mut self.moves)
    }

    /// Frees jobs, in flight or set aside, idle for longer than the limit.
    pub fn expire(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let idle = self.limits.idle;
        let is_stale = |last_seen: Instant| now.saturating_duration_since(last_seen) > idle;
        let in_flight = self.jobs.iter().map(|(&id, p)| (id, p.last_seen));
        let aside = self.aside.iter().map(|(&id, a)| (id, a.last_seen));
        let stale: Vec<JobId> = in_flight
            .chain(aside)
            .filter(|&(_, last_seen)| is_stale(last_seen))
            .map(|(id, _)| id)
            .collect();
        for job_id in stale {
            self.expire_job(job_id);
        }
        self.read_again_if_room();
    }

    /// Drops a job without recording it as finished (another assembler took it).
    pub fn forget(&mut self, job_id: JobId) {
        self.drop_job(job_id);
        self.read_again_if_room();
    }

    /// Starts assembling a job this process made itself, so nobody need vouch for it: its
    /// whole image is allocated and charged now, and each tile is copied once.
    pub fn open(&mut self, job_id: JobId, job: Job) -> Result<(), String> {
        self.admit(&job)?;
        let bytes = Received::dense_bytes(job.grid);
        self.make_room(bytes, 1, job_id, None);
        self.bytes += bytes;
        self.jobs.insert(
            job_id,
            Partial {
                job,
                tiles: Received::dense(job.grid),
                reserved: bytes,
                standing: 0,
                last_seen: self.now,
            },
        );
        Ok(())
    }

    /// Records a job as written already (after a restart, from the output directory's record).
    pub fn mark_finished(&mut self, job_id: JobId) {
        self.finished.insert(job_id);
    }

    fn begin(&mut self, job_id: JobId, job: Job) -> Outcome {
        if self.finished.contains(&job_id) {
            return Outcome::LateBegin { job };
        }
        let known = match (self.jobs.get(&job_id), self.aside.get(&job_id)) {
            (Some(partial), _) => Some((partial.job, Outcome::Begin { job })),
            (_, Some(aside)) => Some((aside.job, Outcome::SetAside)),
            _ => None,
        };
        match known {
            Some((first, _)) if first != job => Outcome::Rejected {
                reason: DIFFERENT_JOB.into(),
            },
            Some((_, outcome)) => outcome,
            None => match self.admit(&job) {
                Err(reason) => Outcome::Rejected { reason },
                Ok(()) => {
                    self.enter(job_id, job);
                    Outcome::Begin { job }
                }
            },
        }
    }

    fn tile(&mut self, job_id: JobId, result: Tile<'_>, again: bool) -> Outcome {
        if self.finished.contains(&job_id) {
            return Outcome::Duplicate;
        }
        if let Some(aside) = self.aside.get_mut(&job_id) {
            if again {
                return Outcome::Duplicate;
            }
            if aside.job != result.job {
                return Outcome::Rejected {
                    reason: DIFFERENT_JOB.into(),
                };
            }
            aside.last_seen = self.now;
            aside.wanted = true;
            self.read_again_if_room();
            return Outcome::SetAside;
        }
        let same_job = self.jobs.get(&job_id).map(|p| p.job == result.job);
        let newcomer = match same_job {
            // A second reading: only the tiles of jobs here count, and they were checked.
            _ if again && same_job != Some(true) => return Outcome::Duplicate,
            Some(false) => {
                return Outcome::Rejected {
                    reason: DIFFERENT_JOB.into(),
                }
            }
            Some(true) => false,
            None => {
                if let Err(reason) = self.admit(&result.job) {
                    return Outcome::Rejected { reason };
                }
                self.enter(job_id, result.job);
                true
            }
        };
        self.store(job_id, result, again, newcomer)
    }

    /// Stores a tile of a job in flight, making room for it; completes the job with its last.
    fn store(&mut self, job_id: JobId, result: Tile<'_>, again: bool, newcomer: bool) -> Outcome {
        let Some(partial) = self.jobs.get_mut(&job_id) else {
            return Outcome::Duplicate;
        };
        if !again {
            partial.last_seen = self.now;
        }
        let index = result.index.0;
        if partial.tiles.contains(index) {
            return Outcome::Duplicate;
        }
        // Decoding checked this already; the image is built on it.
        let fits = partial.job.grid.rect(result.index);
        if fits.is_none_or(|rect| rect.pixels() != result.counts.len()) {
            return Outcome::Rejected {
                reason: "its counts do not fill its tile".into(),
            };
        }
        let before = partial.bytes();
        let after = partial
            .tiles
            .bytes_with(partial.job.grid, result.counts.len())
            .max(partial.reserved);
        // A newcomer takes room from anyone; a job already here only from jobs behind it.
        let above = (!newcomer).then(|| partial.rank());
        if !self.make_room(after - before, 0, job_id, above) {
            // It is the one behind: it waits for room, wanted, since this tile is not held.
            self.evict(job_id);
            if let Some(aside) = self.aside.get_mut(&job_id) {
                aside.wanted = true;
            }
            return Outcome::SetAside;
        }
        let Some(partial) = self.jobs.get_mut(&job_id) else {
            return Outcome::Duplicate;
        };
        if !partial.tiles.insert(partial.job.grid, index, result.counts) {
            return Outcome::Rejected {
                reason: "its counts do not fit its tile".into(),
            };
        }
        self.bytes += after - before;
        let (done, total) = (partial.tiles.len(), partial.job.grid.tiles());
        if done < total {
            return Outcome::Progress { done, total };
        }
        let outcome = self.complete(job_id);
        self.read_again_if_room();
        outcome
    }

    /// The image of a job whose tiles are all here; the job is forgotten as finished.
    fn complete(&mut self, job_id: JobId) -> Outcome {
        let Some(partial) = self.jobs.remove(&job_id) else {
            return Outcome::Duplicate;
        };
        self.bytes -= partial.bytes();
        self.finished.insert(job_id);
        match partial.tiles.into_image(partial.job.grid) {
            Some(counts) => Outcome::Complete(Image {
                job_id,
                job: partial.job,
                counts,
            }),
            None => Outcome::Rejected {
                reason: "a tile does not fit its job".into(),
            },
        }
    }

    /// Refuses a job this process could never hold.
    fn admit(&self, job: &Job) -> Result<(), String> {
        self.limits.admit(job)?;
        let bytes = Received::dense_bytes(job.grid);
        if bytes > self.limits.max_bytes {
            return Err(format!(
                "its tiles would take {bytes} bytes, more than all jobs may hold ({} bytes, \
                 --max-mib)",
                self.limits.max_bytes
            ));
        }
        Ok(())
    }

    /// Starts assembling a new job, setting others aside if every slot is taken.
    fn enter(&mut self, job_id: JobId, job: Job) {
        self.make_room(0, 1, job_id, None);
        self.jobs.insert(
            job_id,
            Partial {
                job,
                tiles: Received::sparse(),
                reserved: 0,
                standing: 0,
                last_seen: self.now,
            },
        );
    }

    /// Sets aside jobs other than `for_job`, fewest tiles and longest idle first, and only
    /// those ranked below `above` if given, until `bytes` more fit and `slots` more jobs do.
    /// `false`, having set nothing aside, if that is not possible.
    fn make_room(&mut self, bytes: u64, slots: usize, for_job: JobId, above: Option<Rank>) -> bool {
        let mut victims: Vec<(Rank, JobId, u64)> = self
            .jobs
            .iter()
            .filter(|(&id, p)| id != for_job && above.is_none_or(|a| p.rank() < a))
            .map(|(&id, p)| (p.rank(), id, p.bytes()))
            .collect();
        victims.sort_unstable();
        let (mut free_bytes, mut free_slots) = (
            self.limits.max_bytes.saturating_sub(self.bytes),
            self.limits.max_jobs.saturating_sub(self.jobs.len()),
        );
        let mut chosen = 0;
        while free_bytes < bytes || free_slots < slots {
            let Some(&(_, _, freed)) = victims.get(chosen) else {
                return false;
            };
            free_bytes += freed;
            free_slots += 1;
            chosen += 1;
        }
        for &(_, job_id, _) in &victims[..chosen] {
            self.evict(job_id);
        }
        true
    }

    /// Sets a job in flight aside: its tiles are dropped, its place is kept.
    fn evict(&mut self, job_id: JobId) {
        let Some(partial) = self.jobs.remove(&job_id) else {
            return;
        };
        self.bytes -= partial.bytes();
        let (standing, _) = partial.rank();
        self.moves.set_aside.push(Evicted {
            job_id,
            had: standing,
            total: partial.job.grid.tiles(),
            idle: self.now.saturating_duration_since(partial.last_seen),
        });
        self.aside.insert(
            job_id,
            Aside {
                job: partial.job,
                standing,
                bytes: partial.bytes(),
                last_seen: partial.last_seen,
                wanted: false,
            },
        );
        // Each costs a few dozen bytes, but forged jobs are unbounded: past the limit the
        // one idle longest is freed, as it would be at the idle timeout.
        if self.aside.len() > FINISHED_MEMORY {
            let oldest = self
                .aside
                .iter()
                .min_by_key(|(_, a)| a.last_seen)
                .map(|(&id, _)| id);
            if let Some(oldest) = oldest {
                self.expire_job(oldest);
            }
        }
    }

    /// Takes back the jobs set aside that got a new tile, most progress first, each if there
    /// is room for what it had or room can be taken from jobs behind it.
    fn read_again_if_room(&mut self) {
        let mut wanted: Vec<(Rank, JobId)> = self
            .aside
            .iter()
            .filter(|(_, a)| a.wanted)
            .map(|(&id, a)| ((a.standing, a.last_seen), id))
            .collect();
        wanted.sort_unstable_by(|a, b| b.cmp(a));
        for (rank, job_id) in wanted {
            let Some(bytes) = self.aside.get(&job_id).map(|a| a.bytes) else {
                continue;
            };
            if !self.make_room(bytes, 1, job_id, Some(rank)) {
                continue;
            }
            let Some(aside) = self.aside.remove(&job_id) else {
                continue;
            };
            self.bytes += aside.bytes;
            self.jobs.insert(
                job_id,
                Partial {
                    job: aside.job,
                    tiles: Received::sparse(),
                    reserved: aside.bytes,
                    standing: aside.standing,
                    last_seen: aside.last_seen,
                },
            );
            self.moves.read_again.push(job_id);
        }
    }

    /// Frees a job, in flight or set aside, for good, noting what it lacked.
    fn expire_job(&mut self, job_id: JobId) {
        let expired = if let Some(partial) = self.jobs.remove(&job_id) {
            self.bytes -= partial.bytes();
            let total = partial.job.grid.tiles();
            let missing = (0..total).filter(|&t| !partial.tiles.contains(t));
            Expired {
                job_id,
                missing: total - partial.tiles.len(),
                first_missing: missing.take(MISSING_SHOWN).map(TileIndex).collect(),
                total,
                set_aside: false,
            }
        } else if let Some(aside) = self.aside.remove(&job_id) {
            let total = aside.job.grid.tiles();
            Expired {
                job_id,
                missing: total - aside.standing,
                first_missing: Vec::new(),
                total,
                set_aside: true,
            }
        } else {
            return;
        };
        // Freed for good: tiles arriving later must not open it again.
        self.finished.insert(job_id);
        self.moves.expired.push(expired);
    }

    /// Removes a job wherever it is, freeing its bytes.
    fn drop_job(&mut self, job_id: JobId) {
        if let Some(partial) = self.jobs.remove(&job_id) {
            self.bytes -= partial.bytes();
        }
        self.aside.remove(&job_id);
    }
}

const DIFFERENT_JOB: &str = "its job differs from the job first seen with this id";

#[cfg(test)]
mod tests {
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
        fixedbrot_core::wire::decode(&worker::compute(job_id, &request)).unwrap()
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
                held: 0,
            }
        }

        /// Reads to the end; the images written, in order. Panics if it does not end.
        fn read(&mut self, assembler: &mut Assembler) -> Vec<Image> {
            let (mut position, mut read_to) = (0, 0);
            let mut holds: HashMap<JobId, usize> = HashMap::new();
            let mut images = Vec::new();
            let now = Instant::now();
            for _ in 0..self.log.len() * 20 {
                let Some(envelope) = self.log.get(position).cloned() else {
                    self.held = holds.len();
                    return images;
                };
                let (job_id, again) = (envelope.job_id, position < read_to);
                read_to = read_to.max(position + 1);
                match assembler.accept(envelope, now, again) {
                    Outcome::Begin { .. } | Outcome::Progress { .. } | Outcome::SetAside => {
                        holds.entry(job_id).or_insert(position);
                    }
                    Outcome::Complete(image) => {
                        holds.remove(&job_id);
                        images.push(image);
                    }
                    Outcome::Failed { .. } => {
                        holds.remove(&job_id);
                    }
                    _ => {}
                }
                let moves = assembler.take_moves();
                self.set_aside
                    .extend(moves.set_aside.iter().map(|e| e.job_id));
                for expired in moves.expired {
                    holds.remove(&expired.job_id);
                    self.expired.push(expired.job_id);
                }
                position += 1;
                for job_id in moves.read_again {
                    position = position.min(holds[&job_id]);
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
        let mut assembler = Assembler::new(Limits::default());
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
        let images = feed(&mut Assembler::new(Limits::default()), mixed);
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
        let mut assembler = Assembler::new(Limits::default());
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

    #[test]
    fn a_result_whose_job_differs_from_its_ids_first_job_is_rejected() {
        let mut assembler = Assembler::new(Limits::default());
        let mut other = small_job();
        other.iterations += 1;
        let now = Instant::now();
        assert!(matches!(
            assembler.accept(result(JobId(4), small_job(), 0), now, false),
            Outcome::Progress { .. }
        ));
        assert!(matches!(
            assembler.accept(result(JobId(4), other, 1), now, false),
            Outcome::Rejected { .. }
        ));
    }

    #[test]
    fn memory_grows_with_the_tiles_received_not_with_the_size_a_message_claims() {
        let mut assembler = Assembler::new(Limits::default());
        let forged = result(JobId(5), huge_job(), 7);
        assert!(matches!(
            assembler.accept(forged, Instant::now(), false),
            Outcome::Progress { done: 1, .. }
        ));
        assert_eq!(
            assembler.bytes(),
            64 * 64 * 4 + crate::received::TILE_OVERHEAD
        );
    }

    #[test]
    fn a_job_this_process_made_is_charged_whole_from_the_start_and_completes_alike() {
        let (id, job) = (JobId(8), small_job());
        let mut assembler = Assembler::new(Limits::default());
        assembler.open(id, job).unwrap();
        assert_eq!(assembler.bytes(), Received::dense_bytes(job.grid));
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
        let outcome =
            Assembler::new(tight).accept(result(JobId(9), small_job(), 0), Instant::now(), false);
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
        let mut assembler = Assembler::new(limits);
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
        let mut assembler = Assembler::new(limits);
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
        let set_aside: Vec<JobId> = moves.set_aside.iter().map(|e| e.job_id).collect();
        assert_eq!(set_aside, vec![JobId(2)]);
        assert_eq!(moves.set_aside[0].idle, Duration::from_secs(2));
        assert_eq!(assembler.in_flight(), 3);
    }

    #[test]
    fn two_jobs_that_do_not_fit_together_complete_one_after_the_other() {
        let (a, b) = (small_job(), small_job());
        let one_job = Received::dense_bytes(a.grid);
        let limits = Limits {
            max_bytes: one_job + one_job / 4,
            ..Limits::default()
        };
        let log = interleave(results(JobId(1), a), results(JobId(2), b));
        let mut assembler = Assembler::new(limits);
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
        let mut assembler = Assembler::new(limits);
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
        let mut assembler = Assembler::new(limits);
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
        let mut assembler = Assembler::new(limits);
        let start = Instant::now();
        assembler.accept(result(JobId(1), huge_job(), 0), start, false);
        assembler.accept(result(JobId(2), small_job(), 0), start, false);
        assembler.expire(start + Duration::from_secs(11));
        let expired = assembler.take_moves().expired;
        let forged = expired.iter().find(|e| e.job_id == JobId(1)).unwrap();
        assert!(forged.set_aside);
        assert_eq!(forged.missing, huge_job().grid.tiles() - 1);
    }

    #[test]
    fn a_refusal_fails_its_job_and_later_tiles_are_ignored() {
        let mut assembler = Assembler::new(Limits::default());
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
        let mut assembler = Assembler::new(Limits::default());
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
}
