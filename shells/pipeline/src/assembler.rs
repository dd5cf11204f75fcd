//! Assembles tile results into whole images, whatever their order, duplicates and
//! interleaving with other jobs. Pure: the caller feeds messages and the clock, and acts on
//! the [`Moves`] it takes after each.
//!
//! Every result carries its whole job and Kafka records no trustworthy sender, so anyone can
//! announce a job. Memory therefore grows with the tiles received, never with the size a
//! message claims. When `--max-jobs` or `--max-mib` is reached, room is made by setting aside
//! the job with the least progress (fewest tiles) that has been idle longest; a newcomer is
//! never refused. A job set aside loses its tiles but not its place: a small record of it is
//! kept (charged against `--max-mib`) and its first offset stays held, so nothing after it is
//! committed, and once it gets a new tile and there is room it is read again from there. A
//! job read again takes room only from jobs behind it (less progress, or as much and idle
//! longer), so two jobs that do not fit together complete one after the other instead of
//! pushing each other out for ever, and a job that gets a new tile goes before idle ones.
//!
//! With identical bits everywhere, two different copies of one tile mean a faulty or forged
//! worker. The assembler settles it by computing the tile itself, once per tile: the copy
//! equal to its own is kept, and the conflict is reported.
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use fixedbrot_core::wire::{Envelope, Message, Refusal};
use fixedbrot_core::{Job, JobId, TileIndex};

use crate::cpu;
use crate::image::Image;
use crate::limits::{Limits, OverLimit};
use crate::received::Received;

/// How many jobs finished here (written, failed or expired) are remembered, so that late
/// tiles of them open nothing. Jobs written to a directory are remembered by their images.
pub const FINISHED_MEMORY: usize = 4096;

/// What a job set aside costs while it waits, charged against `--max-mib`: its record here
/// and its hold in the consumer's book, with their maps' overhead (about 200 bytes).
pub const ASIDE_COST: u64 = 256;

/// What one message did.
#[derive(Debug)]
pub enum Outcome {
    /// A BEGIN marker: the job is now assembled here.
    Begin {
        /// The job it announces.
        job: Job,
    },
    /// A BEGIN marker of a job already written: it took a slower path than the job's tiles.
    /// Nothing changes.
    LateBegin {
        /// The job it announces.
        job: Job,
    },
    /// An END marker: informative, since completion is counted.
    End {
        /// How many requests the generator sent.
        tiles: u32,
    },
    /// A new tile.
    Progress {
        /// Tiles held now.
        done: u32,
        /// Tiles of the job.
        total: u32,
    },
    /// The last missing tile: the image is whole, and its job forgotten.
    Complete(Image),
    /// A tile already held, a message of a job already written, or a message read again that
    /// was acted on the first time: nothing changes.
    Duplicate,
    /// A message of a job set aside to make room: its first offset stays held, and the job
    /// is read again from there when there is room.
    SetAside,
    /// A worker refused a tile: the job failed and is freed.
    Failed {
        /// What the worker said.
        refusal: Refusal,
    },
    /// A second copy of a tile held, with other counts: settled by computing the tile here.
    Conflict(Conflict),
    /// The message does not belong here (inconsistent with its job, over a limit, or a kind
    /// this topic does not carry): it goes to the dead-letter topic, with the reason.
    Rejected {
        /// Why, in one sentence.
        reason: String,
    },
}

/// Two copies of one tile that differ, and what became of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The tile both copies are of.
    pub tile: TileIndex,
    /// SHA-256 of the copy held before ([`digest`]).
    pub held: String,
    /// SHA-256 of the copy at hand.
    pub this: String,
    /// Whose copy stands.
    pub verdict: Verdict,
}

/// Whose copy of a tile stands after a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The copy held is the tile's own counts: the copy at hand is wrong.
    HeldStands,
    /// The copy at hand is right and replaced the one held.
    ThisReplaced,
    /// Neither is right: the tile's own counts replaced both.
    NeitherStands,
    /// The tile is over `--max-work`, so this assembler may not compute it: its job fails.
    Unsettled,
}

impl Verdict {
    /// One sentence, for logs and dead letters.
    pub fn says(self) -> &'static str {
        match self {
            Verdict::HeldStands => "the copy held is right (computed here); this one is wrong",
            Verdict::ThisReplaced => "this copy is right (computed here) and replaced the one held",
            Verdict::NeitherStands => "neither is right (computed here); both replaced",
            Verdict::Unsettled => {
                "the tile is over --max-work, so it was not computed here: the job fails"
            }
        }
    }
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
    /// Jobs set aside whose records were dropped because jobs set aside filled `--max-mib`:
    /// their first offsets are released, and they are not finished (a later tile starts
    /// them afresh).
    pub forgotten: Vec<Evicted>,
}

/// A job set aside to make room.
#[derive(Debug)]
pub struct Evicted {
    /// The job.
    pub job_id: JobId,
    /// Tiles it had.
    pub had: u32,
    /// Tiles of the job.
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
    /// The job.
    pub job_id: JobId,
    /// How long it had gone without a new tile.
    pub idle: Duration,
    /// How many tiles were missing.
    pub missing: u32,
    /// The first of them, at most MISSING_SHOWN; none for a job that was set aside.
    pub first_missing: Vec<TileIndex>,
    /// Tiles of the job.
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
    /// Tiles whose counts this assembler computed itself to settle a conflict.
    settled: Vec<u32>,
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

impl Aside {
    /// Its place among jobs: what it had, and when it last got a tile.
    fn rank(&self) -> Rank {
        (self.standing, self.last_seen)
    }
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
    /// Which tile.
    pub index: TileIndex,
    /// Its counts, row-major.
    pub counts: &'a [u32],
}

impl Assembler {
    /// An assembler holding nothing yet, within `limits`, its clock at `now`.
    pub fn new(limits: Limits, now: Instant) -> Assembler {
        Assembler {
            limits,
            jobs: HashMap::new(),
            aside: HashMap::new(),
            bytes: 0,
            finished: RecentIds::default(),
            moves: Moves::default(),
            now,
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
    pub fn open(&mut self, job_id: JobId, job: Job) -> Result<(), OverLimit> {
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
                settled: Vec::new(),
            },
        );
        Ok(())
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
                Err(over) => Outcome::Rejected {
                    reason: over.to_string(),
                },
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
                if let Err(over) = self.admit(&result.job) {
                    return Outcome::Rejected {
                        reason: over.to_string(),
                    };
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
        // Decoding checked this already; the image is built on it.
        let fits = partial.job.grid.rect(result.index);
        if fits.is_none_or(|rect| rect.pixels() != result.counts.len()) {
            return Outcome::Rejected {
                reason: "its counts do not fill its tile".into(),
            };
        }
        if partial.tiles.contains(index) {
            return self.second_copy(job_id, result);
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
            self.set_aside_wanted(job_id);
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

    /// A tile that is held already: the same counts are a duplicate; other counts are a
    /// conflict, settled by the tile's own counts, computed here once per tile.
    fn second_copy(&mut self, job_id: JobId, result: Tile<'_>) -> Outcome {
        let Some(partial) = self.jobs.get_mut(&job_id) else {
            return Outcome::Duplicate;
        };
        let (job, index) = (partial.job, result.index);
        let Some(held) = partial.tiles.counts(job.grid, index.0) else {
            return Outcome::Duplicate;
        };
        if held == result.counts {
            return Outcome::Duplicate;
        }
        let mut conflict = Conflict {
            tile: index,
            held: digest(&held),
            this: digest(result.counts),
            verdict: Verdict::HeldStands,
        };
        if partial.settled.contains(&index.0) {
            return Outcome::Conflict(conflict);
        }
        let own = job
            .grid
            .rect(index)
            .filter(|&rect| self.limits.check_work(&job, rect).is_ok())
            .and_then(|rect| {
                let mut own = vec![0u32; rect.pixels()];
                cpu::render_tile(&job, index, &mut own).ok().map(|_| own)
            });
        let Some(own) = own else {
            conflict.verdict = Verdict::Unsettled;
            self.drop_job(job_id);
            // Failed for good, as a refusal fails it: later tiles must not open it again.
            self.finished.insert(job_id);
            self.read_again_if_room();
            return Outcome::Conflict(conflict);
        };
        conflict.verdict = if own == held {
            Verdict::HeldStands
        } else if own == result.counts {
            Verdict::ThisReplaced
        } else {
            Verdict::NeitherStands
        };
        if own != held {
            partial.tiles.replace(job.grid, index.0, &own);
        }
        partial.settled.push(index.0);
        Outcome::Conflict(conflict)
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

    /// Refuses a job this assembler could never hold.
    pub fn admit(&self, job: &Job) -> Result<(), OverLimit> {
        self.limits.admit(job)?;
        let bytes = Received::dense_bytes(job.grid);
        if bytes > self.limits.max_bytes {
            let max = self.limits.max_bytes;
            return Err(OverLimit::Memory { bytes, max });
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
                settled: Vec::new(),
            },
        );
    }

    /// Makes room for `bytes` more and `slots` more jobs in flight, taking it only from jobs
    /// other than `for_job` and, if `above` is given, ranked below it: first by setting jobs
    /// in flight aside (fewest tiles and longest idle first), then, if the records of jobs
    /// set aside fill the memory, by forgetting those records. `false`, with nothing moved,
    /// if that is not possible.
    fn make_room(&mut self, bytes: u64, slots: usize, for_job: JobId, above: Option<Rank>) -> bool {
        let behind = |id: JobId, rank: Rank| id != for_job && above.is_none_or(|a| rank < a);
        let mut in_flight: Vec<(Rank, JobId, u64)> = self
            .jobs
            .iter()
            .filter(|(&id, p)| behind(id, p.rank()))
            .map(|(&id, p)| (p.rank(), id, p.bytes()))
            .collect();
        in_flight.sort_unstable();
        let needed = i128::from(bytes);
        let mut free_slots = self.limits.max_jobs.saturating_sub(self.jobs.len());
        // Signed: a job whose tiles take less than a record takes room when set aside.
        let mut free_bytes = i128::from(self.limits.max_bytes) - i128::from(self.bytes);
        let mut victims = Vec::new();
        for &(_, job_id, held) in &in_flight {
            if free_slots >= slots && free_bytes >= needed {
                break;
            }
            let freed = i128::from(held) - i128::from(ASIDE_COST);
            if free_slots < slots || freed > 0 {
                free_bytes += freed;
                free_slots += 1;
                victims.push(job_id);
            }
        }
        if free_slots < slots {
            return false;
        }
        let mut records: Vec<(Rank, JobId)> = Vec::new();
        if free_bytes < needed {
            records = self
                .aside
                .iter()
                .filter(|(&id, a)| behind(id, a.rank()))
                .map(|(&id, a)| (a.rank(), id))
                .collect();
            records.sort_unstable();
        }
        let mut forgotten = 0;
        while free_bytes < needed {
            if forgotten == records.len() {
                return false;
            }
            free_bytes += i128::from(ASIDE_COST);
            forgotten += 1;
        }
        for job_id in victims {
            self.evict(job_id);
        }
        for &(_, job_id) in &records[..forgotten] {
            self.forget_record(job_id);
        }
        true
    }

    /// Drops the record of a job set aside, and its hold: it is not finished, and a later
    /// tile starts it afresh.
    fn forget_record(&mut self, job_id: JobId) {
        if let Some(aside) = self.aside.remove(&job_id) {
            self.bytes -= ASIDE_COST;
            self.moves.forgotten.push(Evicted {
                job_id,
                had: aside.standing,
                total: aside.job.grid.tiles(),
                idle: self.now.saturating_duration_since(aside.last_seen),
            });
        }
    }

    /// Sets aside a job in flight that found no room for a tile it got, to be read again
    /// when there is room; if even its record finds no room, it is forgotten.
    fn set_aside_wanted(&mut self, job_id: JobId) {
        let Some(partial) = self.jobs.get(&job_id) else {
            return;
        };
        let (held, rank) = (partial.bytes(), partial.rank());
        if !self.make_room(ASIDE_COST.saturating_sub(held), 0, job_id, Some(rank)) {
            let Some(partial) = self.jobs.remove(&job_id) else {
                return;
            };
            self.bytes -= held;
            self.moves.forgotten.push(Evicted {
                job_id,
                had: partial.tiles.len(),
                total: partial.job.grid.tiles(),
                idle: Duration::ZERO,
            });
            return;
        }
        self.evict(job_id);
        if let Some(aside) = self.aside.get_mut(&job_id) {
            aside.wanted = true;
        }
    }

    /// Sets a job in flight aside: its tiles are dropped, a record of it is kept.
    fn evict(&mut self, job_id: JobId) {
        let Some(partial) = self.jobs.remove(&job_id) else {
            return;
        };
        self.bytes = self.bytes - partial.bytes() + ASIDE_COST;
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
    }

    /// Takes back the jobs set aside that got a new tile, most progress first, each if there
    /// is room for what it had or room can be taken from jobs behind it.
    fn read_again_if_room(&mut self) {
        let mut wanted: Vec<(Rank, JobId)> = self
            .aside
            .iter()
            .filter(|(_, a)| a.wanted)
            .map(|(&id, a)| (a.rank(), id))
            .collect();
        wanted.sort_unstable_by(|a, b| b.cmp(a));
        for (rank, job_id) in wanted {
            let Some(bytes) = self.aside.get(&job_id).map(|a| a.bytes) else {
                continue;
            };
            // Its record's cost comes back as it goes.
            let needed = bytes.saturating_sub(ASIDE_COST);
            if !self.make_room(needed, 1, job_id, Some(rank)) {
                continue;
            }
            let Some(aside) = self.aside.remove(&job_id) else {
                continue;
            };
            self.bytes = self.bytes - ASIDE_COST + aside.bytes;
            self.jobs.insert(
                job_id,
                Partial {
                    job: aside.job,
                    tiles: Received::sparse(),
                    reserved: aside.bytes,
                    standing: aside.standing,
                    last_seen: aside.last_seen,
                    settled: Vec::new(),
                },
            );
            self.moves.read_again.push(job_id);
        }
    }

    /// Frees a job, in flight or set aside, for good, noting what it lacked.
    fn expire_job(&mut self, job_id: JobId) {
        let idle = |last_seen| self.now.saturating_duration_since(last_seen);
        let expired = if let Some(partial) = self.jobs.remove(&job_id) {
            self.bytes -= partial.bytes();
            let total = partial.job.grid.tiles();
            let missing = (0..total).filter(|&t| !partial.tiles.contains(t));
            Expired {
                job_id,
                idle: idle(partial.last_seen),
                missing: total - partial.tiles.len(),
                first_missing: missing.take(MISSING_SHOWN).map(TileIndex).collect(),
                total,
                set_aside: false,
            }
        } else if let Some(aside) = self.aside.remove(&job_id) {
            self.bytes -= ASIDE_COST;
            let total = aside.job.grid.tiles();
            Expired {
                job_id,
                idle: idle(aside.last_seen),
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
        if self.aside.remove(&job_id).is_some() {
            self.bytes -= ASIDE_COST;
        }
    }
}

/// The SHA-256 of a tile's counts as little-endian `u32`s, in hex: what a conflict names.
pub fn digest(counts: &[u32]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for count in counts {
        hasher.update(count.to_le_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
        forgotten: Vec<JobId>,
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
                held: 0,
            }
        }

        /// Reads to the end, a millisecond a message; the images written, in order. Panics
        /// if it does not end.
        fn read(&mut self, assembler: &mut Assembler) -> Vec<Image> {
            let (mut position, mut read_to) = (0, 0);
            let mut holds: HashMap<JobId, usize> = HashMap::new();
            let mut images = Vec::new();
            let start = Instant::now();
            for step in 0..self.log.len() as u64 * 20 {
                let now = start + Duration::from_millis(step);
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
                    Outcome::Conflict(conflict) if conflict.verdict != Verdict::Unsettled => {
                        holds.entry(job_id).or_insert(position);
                    }
                    Outcome::Complete(image) => {
                        holds.remove(&job_id);
                        images.push(image);
                    }
                    Outcome::Failed { .. } | Outcome::Conflict(_) => {
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
                for forgotten in moves.forgotten {
                    holds.remove(&forgotten.job_id);
                    self.forgotten.push(forgotten.job_id);
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

    #[test]
    fn a_result_whose_job_differs_from_its_ids_first_job_is_rejected() {
        let mut assembler = Assembler::new(Limits::default(), Instant::now());
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
        let mut assembler = Assembler::new(Limits::default(), Instant::now());
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
        let mut assembler = Assembler::new(Limits::default(), Instant::now());
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
        let forged = expired.iter().find(|e| e.job_id == JobId(1)).unwrap();
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
                    .map(|e| e.job_id),
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
            (expired[0].job_id, expired[0].idle, expired[0].set_aside),
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

    /// The tester's reproduction: a forged all-zero tile 0 before the real one left 713
    /// wrong pixels in the PNG, silently. The assembler computes the tile to settle it.
    #[test]
    fn a_forged_copy_that_came_first_is_replaced_by_the_right_one() {
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
            verdict: Verdict::ThisReplaced,
        };
        assert_eq!(
            conflict(assembler.accept(right.clone(), now, false)),
            expected
        );
        assert!(matches!(
            assembler.accept(right, now, false),
            Outcome::Duplicate
        ));
        // Settled: another wrong copy is judged against it, without computing again.
        let ones = forged_copy(id, real, 0, 1);
        assert_eq!(
            conflict(assembler.accept(ones, now, false)).verdict,
            Verdict::HeldStands
        );
        let images = feed(&mut assembler, results(id, real));
        assert_eq!(images[0].counts, fixedbrot_tests::render_image(&real));
    }

    #[test]
    fn a_forged_copy_that_came_second_is_judged_wrong_and_changes_nothing() {
        let (id, real) = (JobId(4), small_job());
        let mut assembler = Assembler::new(Limits::default(), Instant::now());
        let now = Instant::now();
        assembler.accept(result(id, real, 5), now, false);
        let verdict = conflict(assembler.accept(forged_copy(id, real, 5, 2), now, false));
        assert_eq!(verdict.verdict, Verdict::HeldStands);
        let images = feed(&mut assembler, results(id, real));
        assert_eq!(images[0].counts, fixedbrot_tests::render_image(&real));
    }

    #[test]
    fn two_wrong_copies_are_both_replaced_by_the_tiles_own_counts() {
        let (id, real) = (JobId(5), small_job());
        let mut assembler = Assembler::new(Limits::default(), Instant::now());
        let now = Instant::now();
        assembler.accept(forged_copy(id, real, 1, 3), now, false);
        let verdict = conflict(assembler.accept(forged_copy(id, real, 1, 4), now, false));
        assert_eq!(verdict.verdict, Verdict::NeitherStands);
        let images = feed(&mut assembler, results(id, real));
        assert_eq!(images[0].counts, fixedbrot_tests::render_image(&real));
    }

    /// A tile this assembler may not compute (over its --max-work) cannot be settled: the
    /// job fails, rather than be written with a copy nobody vouches for.
    #[test]
    fn a_conflict_over_max_work_fails_the_job() {
        let (id, real) = (JobId(6), small_job());
        let limits = Limits {
            max_work: 10,
            ..Limits::default()
        };
        let mut assembler = Assembler::new(limits, Instant::now());
        let now = Instant::now();
        assembler.accept(result(id, real, 2), now, false);
        let verdict = conflict(assembler.accept(forged_copy(id, real, 2, 9), now, false));
        assert_eq!(verdict.verdict, Verdict::Unsettled);
        assert_eq!((assembler.in_flight(), assembler.bytes()), (0, 0));
        assert_eq!(feed(&mut assembler, results(id, real)).len(), 0);
    }
}
