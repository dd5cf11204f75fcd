//! Assembles tile results into whole images, whatever their order, duplicates and
//! interleaving with other jobs. Pure: the caller feeds messages and the clock, and acts on
//! the [`Moves`] it takes after each.
//!
//! Every result carries its whole job and Kafka records no trustworthy sender, so anyone can
//! announce a job, even under a real job's id: a job is its id and its definition together
//! ([`JobKey`]), so a forged definition is a job of its own, and memory grows with the tiles
//! received, never with the size a message claims. When `--max-jobs` or `--max-mib` is
//! reached, room is made by setting aside the job with the least progress (fewest tiles)
//! that has been idle longest; a newcomer is never refused. A job set aside loses its tiles
//! but not its place: a small record of it is kept (charged against `--max-mib`) and its
//! first offset stays held, so nothing after it is committed. Once it gets a new tile and
//! its whole image fits, taking room only from jobs behind it, it is read again from there:
//! two jobs that do not fit together complete one after the other, and a job that gets a
//! tile goes before idle forged ones.
//!
//! With identical bits everywhere, two different copies of one tile mean a faulty or forged
//! worker. The tile is marked disputed, and when its job is otherwise complete the assembler
//! computes it itself and keeps its own counts: jobs that never complete (forged ones) cost
//! nothing to settle.
mod aside;
mod received;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

use fixedbrot_core::limits::MAX_JOB_LEN;
use fixedbrot_core::smooth::Smooth;
use fixedbrot_core::wire::{self, Envelope, Message, Refusal};
use fixedbrot_core::{Grid, Job, JobId, TileIndex};

use self::aside::{Aside, Rank, Record};
use self::received::Received;
use crate::cpu;
use crate::handler::HoldKey;
use crate::image::Image;
use crate::limits::{Limits, OverLimit};

/// How many jobs finished here (written, failed or expired) are remembered, so that late
/// tiles of them open nothing. Jobs written to a directory are remembered by their images.
pub const FINISHED_MEMORY: usize = 4096;

/// What a job set aside costs while it waits, charged against `--max-mib`: its record here,
/// in three indexes, and its hold in the consumer's book, four copies of its key in B-tree
/// nodes that hold about twice their keys' room, and the record's own fields.
pub const ASIDE_COST: u64 = 8 * size_of::<JobKey>() as u64 + 256;

/// How often idle jobs are looked for: an idle timeout is kept to within this.
const EXPIRY_CHECKS: Duration = Duration::from_secs(1);

/// A job as the assembler keys it: its id and its definition. Two definitions under one id
/// are two jobs (a forged one, say), so a forger cannot make a real job's tiles his.
///
/// The definition is held as the SHA-256 of the job's wire encoding, with the grid beside it
/// for the bookkeeping: 72 bytes whatever the view's width, where the job itself holds room
/// for a 4,096-bit view (2 KiB), in every index and hold a job set aside is in. The messages
/// that need the whole job (an image, a disputed tile) carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct JobKey {
    /// The id its generator chose.
    pub id: JobId,
    /// SHA-256 of the job as the wire encodes it.
    pub definition: [u8; 32],
    /// The job's image and tile sizes.
    pub grid: Grid,
    /// Whether its tiles carry smooth fractions ([`Job::smooth`]).
    pub smooth: bool,
}

impl JobKey {
    /// The key of `job` under `id`.
    pub fn new(id: JobId, job: &Job) -> JobKey {
        use sha2::{Digest, Sha256};
        let mut buf = [0u8; MAX_JOB_LEN];
        // Every message the assembler takes is checked, so its job encodes; one that did not
        // would be defined by nothing but its id and grid.
        let bytes = wire::encode_job(job, &mut buf).map_or(&[][..], |b| &*b);
        JobKey {
            id,
            definition: Sha256::digest(bytes).into(),
            grid: job.grid,
            smooth: job.smooth,
        }
    }
}

impl PartialOrd for JobKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for JobKey {
    /// By id, then definition (which determines the grid).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.id, self.definition).cmp(&(other.id, other.definition))
    }
}

impl HoldKey for JobKey {}

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
    /// A worker refused a tile: the job failed, and its variants here are freed.
    Failed {
        /// What the worker said.
        refusal: Refusal,
        /// The jobs of that id that were being assembled, and are no more.
        dropped: Vec<JobKey>,
    },
    /// A second copy of a tile held, with other counts: the tile is disputed, and settled
    /// when its job is complete.
    Conflict(Conflict),
    /// The job is complete, but a disputed tile of it is over this assembler's `--max-work`,
    /// so it may not compute it: the job fails rather than be written with a copy nobody
    /// vouches for.
    Unsettled {
        /// The tile.
        tile: TileIndex,
    },
    /// The message does not belong here (over a limit, or a kind this topic does not carry):
    /// it goes to the dead-letter topic, with the reason.
    Rejected {
        /// Why, in one sentence.
        reason: String,
    },
}

/// Two copies of one tile that differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The tile both copies are of.
    pub tile: TileIndex,
    /// SHA-256 of the copy held ([`digest`]).
    pub held: String,
    /// SHA-256 of the copy at hand.
    pub this: String,
}

/// A disputed tile settled as its job completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// The job.
    pub key: JobKey,
    /// The tile.
    pub tile: TileIndex,
    /// The copy held was wrong, and the tile's own counts replaced it.
    pub replaced: bool,
}

/// What the caller must act on besides an outcome: jobs set aside, read again or freed.
#[derive(Debug, Default)]
pub struct Moves {
    /// Jobs set aside to make room; their first offsets stay held.
    pub set_aside: Vec<Evicted>,
    /// Jobs to read again from their first offsets.
    pub read_again: Vec<JobKey>,
    /// Jobs freed for good after the idle timeout; their first offsets are released.
    pub expired: Vec<Expired>,
    /// Jobs set aside whose records were dropped because records of jobs set aside filled
    /// `--max-mib`: their first offsets are released. What they had is committed past, so
    /// they complete only if their tiles come again.
    pub forgotten: Vec<Evicted>,
    /// Disputed tiles settled by the job that completed.
    pub settled: Vec<Settled>,
}

/// A job set aside to make room, or forgotten.
#[derive(Debug)]
pub struct Evicted {
    /// The job.
    pub key: JobKey,
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
    pub key: JobKey,
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
    tiles: Received,
    /// Bytes kept for it whatever it holds: a job read again, or one this process made, has
    /// its whole image kept, so it can complete.
    reserved: u64,
    /// Tiles it had when set aside: its progress until they are back.
    standing: u32,
    last_seen: Instant,
    /// Tiles that came in two different copies, settled when the job is complete.
    disputed: BTreeSet<u32>,
}

impl Partial {
    /// Its charge against `--max-mib`.
    fn bytes(&self, grid: Grid) -> u64 {
        self.tiles.bytes(grid).max(self.reserved)
    }

    /// Who is set aside first: fewest tiles, then idle longest.
    fn rank(&self) -> Rank {
        (self.tiles.len().max(self.standing), self.last_seen)
    }
}

/// The last `FINISHED_MEMORY` keys inserted, oldest forgotten first.
struct Recent<T> {
    set: HashSet<T>,
    order: VecDeque<T>,
}

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Recent {
            set: HashSet::new(),
            order: VecDeque::new(),
        }
    }
}

impl<T: Copy + Eq + Hash> Recent<T> {
    fn insert(&mut self, value: T) {
        if self.set.insert(value) {
            self.order.push_back(value);
        }
        while self.order.len() > FINISHED_MEMORY {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    fn contains(&self, value: &T) -> bool {
        self.set.contains(value)
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
    /// Their smooth fractions if the job asks for them, else none.
    pub smooth: &'a [Smooth],
}

/// Jobs in flight, bounded by [`Limits`], jobs set aside, and a bounded memory of finished
/// ones.
pub struct Assembler {
    limits: Limits,
    jobs: HashMap<JobKey, Partial>,
    aside: Aside,
    /// The jobs' charges and the records' costs.
    bytes: u64,
    finished: Recent<JobKey>,
    /// Ids a worker refused: every job of the id has failed.
    refused: Recent<JobId>,
    moves: Moves,
    /// The clock as the caller last gave it.
    now: Instant,
    /// When idle jobs are next looked for.
    next_expiry: Instant,
}

impl Assembler {
    /// An assembler holding nothing yet, within `limits`, its clock at `now`.
    pub fn new(limits: Limits, now: Instant) -> Assembler {
        Assembler {
            limits,
            jobs: HashMap::new(),
            aside: Aside::default(),
            bytes: 0,
            finished: Recent::default(),
            refused: Recent::default(),
            moves: Moves::default(),
            now,
            next_expiry: now,
        }
    }

    /// Jobs being assembled.
    pub fn in_flight(&self) -> usize {
        self.jobs.len()
    }

    /// Whether `key` is being assembled.
    pub fn assembles(&self, key: &JobKey) -> bool {
        self.jobs.contains_key(key)
    }

    /// Bytes charged against `--max-mib`.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Takes one decoded message. `again` says it was read before, and this is a second
    /// reading after a rewind: only tiles of jobs read again count then.
    pub fn accept(&mut self, envelope: Envelope, now: Instant, again: bool) -> Outcome {
        self.now = self.now.max(now);
        let id = envelope.job_id;
        match &envelope.message {
            Message::Result(result) => {
                let tile = Tile {
                    job: result.job,
                    index: result.tile,
                    counts: &result.counts,
                    smooth: &result.smooth,
                };
                self.tile(JobKey::new(id, &result.job), tile, again)
            }
            _ if again => Outcome::Duplicate,
            // A BEGIN may arrive after the job's tiles, even after its image: they take other
            // paths through the workers.
            Message::Begin(job) => self.begin(JobKey::new(id, job), job),
            Message::End(end) => Outcome::End { tiles: end.tiles },
            Message::Refused(refusal) => self.refuse(id, *refusal),
            Message::Request(_) => Outcome::Rejected {
                reason: "a tile request on the responses topic".into(),
            },
        }
    }

    /// Takes one result, read without its envelope (`wire::decode_result`), as
    /// [`Assembler::accept`] takes it; `key` is its job's ([`JobKey::new`]), which the caller
    /// has made already to look the job up.
    pub fn accept_tile(
        &mut self,
        key: JobKey,
        tile: Tile<'_>,
        now: Instant,
        again: bool,
    ) -> Outcome {
        self.now = self.now.max(now);
        self.tile(key, tile, again)
    }

    /// What the caller must act on since it last asked.
    pub fn take_moves(&mut self) -> Moves {
        std::mem::take(&mut self.moves)
    }

    /// Frees jobs, in flight or set aside, idle for longer than the limit. Cheap to call
    /// often: it looks at most once a second.
    pub fn expire(&mut self, now: Instant) {
        self.now = self.now.max(now);
        if now < self.next_expiry {
            return;
        }
        self.next_expiry = now + EXPIRY_CHECKS;
        let Some(horizon) = now.checked_sub(self.limits.idle) else {
            return;
        };
        let mut stale: Vec<JobKey> = self
            .jobs
            .iter()
            .filter(|(_, p)| p.last_seen < horizon)
            .map(|(&key, _)| key)
            .collect();
        stale.extend(self.aside.seen_before(horizon));
        for key in stale {
            self.expire_job(key);
        }
        self.read_again_if_room();
    }

    /// Drops a job without recording it as finished (another assembler took it, or wrote
    /// it).
    pub fn forget(&mut self, key: &JobKey) {
        self.drop_job(key);
        self.read_again_if_room();
    }

    /// Starts assembling a job this process made itself, so nobody need vouch for it: its
    /// whole image is allocated and charged now, and each tile is copied once.
    pub fn open(&mut self, key: JobKey, job: &Job) -> Result<(), OverLimit> {
        self.admit(job)?;
        let bytes = Received::dense_bytes(key.grid, key.smooth);
        self.make_room(bytes, 1, &key, None);
        self.bytes += bytes;
        let partial = Partial {
            tiles: Received::dense(key.grid, key.smooth),
            reserved: bytes,
            standing: 0,
            last_seen: self.now,
            disputed: BTreeSet::new(),
        };
        self.jobs.insert(key, partial);
        Ok(())
    }

    /// Refuses a job this assembler could never hold.
    pub fn admit(&self, job: &Job) -> Result<(), OverLimit> {
        self.limits.admit(job)?;
        let bytes = Received::dense_bytes(job.grid, job.smooth);
        if bytes > self.limits.max_bytes {
            let max = self.limits.max_bytes;
            return Err(OverLimit::Memory { bytes, max });
        }
        Ok(())
    }

    fn begin(&mut self, key: JobKey, job: &Job) -> Outcome {
        if self.finished.contains(&key) || self.refused.contains(&key.id) {
            return Outcome::LateBegin { job: *job };
        }
        if self.jobs.contains_key(&key) {
            return Outcome::Begin { job: *job };
        }
        if self.aside.get(&key).is_some() {
            return Outcome::SetAside;
        }
        match self.admit(job) {
            Err(over) => Outcome::Rejected {
                reason: over.to_string(),
            },
            Ok(()) => {
                self.enter(key);
                Outcome::Begin { job: *job }
            }
        }
    }

    /// A worker refused a tile: every job of the id has failed, and later tiles of them are
    /// ignored. Jobs of it set aside wait for their idle timeout.
    fn refuse(&mut self, id: JobId, refusal: Refusal) -> Outcome {
        self.refused.insert(id);
        let dropped: Vec<JobKey> = self.jobs.keys().filter(|k| k.id == id).copied().collect();
        for key in &dropped {
            self.drop_job(key);
            self.finished.insert(*key);
        }
        self.read_again_if_room();
        Outcome::Failed { refusal, dropped }
    }

    fn tile(&mut self, key: JobKey, result: Tile<'_>, again: bool) -> Outcome {
        let id = key.id;
        if self.finished.contains(&key) || self.refused.contains(&id) {
            return Outcome::Duplicate;
        }
        if self.aside.get(&key).is_some() {
            if again {
                return Outcome::Duplicate;
            }
            self.aside.touch(&key, self.now);
            self.read_again_if_room();
            return Outcome::SetAside;
        }
        let newcomer = match self.jobs.contains_key(&key) {
            // A second reading: only the tiles of jobs here count, and they were checked.
            false if again => return Outcome::Duplicate,
            true => false,
            false => {
                if let Err(over) = self.admit(&result.job) {
                    return Outcome::Rejected {
                        reason: over.to_string(),
                    };
                }
                self.enter(key);
                true
            }
        };
        self.store(key, result, again, newcomer)
    }

    /// Stores a tile of a job in flight, making room for it; completes the job with its last.
    fn store(&mut self, key: JobKey, result: Tile<'_>, again: bool, newcomer: bool) -> Outcome {
        let Some(partial) = self.jobs.get_mut(&key) else {
            return Outcome::Duplicate;
        };
        if !again {
            partial.last_seen = self.now;
        }
        let index = result.index.0;
        // Decoding checked this already; the image is built on it.
        let fits = key.grid.rect(result.index);
        if fits.is_none_or(|rect| rect.pixels() != result.counts.len()) {
            return Outcome::Rejected {
                reason: "its counts do not fill its tile".into(),
            };
        }
        if partial.tiles.contains(index) {
            return self.second_copy(&key, result);
        }
        let before = partial.bytes(key.grid);
        let after = partial
            .tiles
            .bytes_with(key.grid, result.counts.len())
            .max(partial.reserved);
        // A newcomer takes room from anyone; a job already here only from jobs behind it.
        let above = (!newcomer).then(|| partial.rank());
        if !self.make_room(after - before, 0, &key, above) {
            // It is the one behind: it waits for room, wanted, since this tile is not held.
            self.set_aside_wanted(&key);
            return Outcome::SetAside;
        }
        let Some(partial) = self.jobs.get_mut(&key) else {
            return Outcome::Duplicate;
        };
        if !partial
            .tiles
            .insert(key.grid, index, result.counts, result.smooth)
        {
            return Outcome::Rejected {
                reason: "its counts do not fit its tile".into(),
            };
        }
        self.bytes += after - before;
        let (done, total) = (partial.tiles.len(), key.grid.tiles());
        if done < total {
            return Outcome::Progress { done, total };
        }
        let outcome = self.complete(&key, &result.job);
        self.read_again_if_room();
        outcome
    }

    /// A tile that is held already: the same counts and fractions are a duplicate; others
    /// dispute it.
    fn second_copy(&mut self, key: &JobKey, result: Tile<'_>) -> Outcome {
        let Some(partial) = self.jobs.get_mut(key) else {
            return Outcome::Duplicate;
        };
        let index = result.index;
        let Some((counts, smooth)) = partial.tiles.tile(key.grid, index.0) else {
            return Outcome::Duplicate;
        };
        if counts == result.counts && smooth == result.smooth {
            return Outcome::Duplicate;
        }
        partial.disputed.insert(index.0);
        Outcome::Conflict(Conflict {
            tile: index,
            held: digest_tile(&counts, &smooth),
            this: digest_tile(result.counts, result.smooth),
        })
    }

    /// The image of a job whose tiles are all here, its disputed tiles settled by their own
    /// counts; the job is forgotten as finished.
    fn complete(&mut self, key: &JobKey, job: &Job) -> Outcome {
        let Some(mut partial) = self.jobs.remove(key) else {
            return Outcome::Duplicate;
        };
        self.bytes -= partial.bytes(key.grid);
        self.finished.insert(*key);
        for tile in std::mem::take(&mut partial.disputed) {
            let tile = TileIndex(tile);
            match self.settle(job, tile, &mut partial.tiles) {
                Some(replaced) => self.moves.settled.push(Settled {
                    key: *key,
                    tile,
                    replaced,
                }),
                None => return Outcome::Unsettled { tile },
            }
        }
        match partial.tiles.into_image(key.grid) {
            Some((counts, smooth)) => Outcome::Complete(Image {
                job_id: key.id,
                job: *job,
                counts,
                smooth,
            }),
            None => Outcome::Rejected {
                reason: "a tile does not fit its job".into(),
            },
        }
    }

    /// Computes a disputed tile and puts its own counts and fractions in place; whether the
    /// copy held was replaced. `None` if the tile is over `--max-work` (or its orbit over
    /// `--max-orbit-mib`).
    fn settle(&self, job: &Job, tile: TileIndex, tiles: &mut Received) -> Option<bool> {
        let rect = job.grid.rect(tile)?;
        self.limits.check_work(job, rect).ok()?;
        self.limits.check_orbit(job).ok()?;
        let mut own = (
            vec![0u32; rect.pixels()],
            vec![0; job.fractions(rect.pixels())],
        );
        cpu::render_tile(
            job,
            tile,
            &mut own.0,
            &mut own.1,
            self.limits.max_orbit_bytes,
        )
        .ok()?;
        let replaced = tiles.tile(job.grid, tile.0)? != own;
        if replaced {
            tiles.replace(job.grid, tile.0, &own.0, &own.1);
        }
        Some(replaced)
    }

    /// Starts assembling a new job, setting others aside if every slot is taken; if even
    /// their records find no room in memory, the least of them is forgotten, as a job set
    /// aside whose record finds none is (a probe found slots overrun when records of 2 KiB
    /// views outgrew a small --max-mib).
    fn enter(&mut self, key: JobKey) {
        if !self.make_room(0, 1, &key, None) && self.jobs.len() >= self.limits.max_jobs {
            let least = self
                .jobs
                .iter()
                .filter(|(other, _)| **other != key)
                .min_by_key(|(_, partial)| partial.rank())
                .map(|(other, _)| *other);
            if let Some(least) = least {
                self.forget_in_flight(&least);
            }
        }
        let partial = Partial {
            tiles: Received::sparse(key.smooth),
            reserved: 0,
            standing: 0,
            last_seen: self.now,
            disputed: BTreeSet::new(),
        };
        self.jobs.insert(key, partial);
    }

    /// Makes room for `bytes` more and `slots` more jobs in flight, taking it only from jobs
    /// other than `for_key` and, if `above` is given, ranked below it: first by setting jobs
    /// in flight aside (fewest tiles and longest idle first), then, if the records of jobs
    /// set aside fill the memory, by forgetting those records. `false`, with nothing moved,
    /// if that is not possible.
    fn make_room(
        &mut self,
        bytes: u64,
        slots: usize,
        for_key: &JobKey,
        above: Option<Rank>,
    ) -> bool {
        let behind = |key: &JobKey, rank: Rank| key != for_key && above.is_none_or(|a| rank < a);
        let mut in_flight: Vec<(Rank, JobKey, u64)> = self
            .jobs
            .iter()
            .filter(|(key, p)| behind(key, p.rank()))
            .map(|(&key, p)| (p.rank(), key, p.bytes(key.grid)))
            .collect();
        in_flight.sort_unstable();
        let needed = i128::from(bytes);
        let mut free_slots = self.limits.max_jobs.saturating_sub(self.jobs.len());
        // Signed: a job whose tiles take less than a record takes room when set aside.
        let mut free_bytes = i128::from(self.limits.max_bytes) - i128::from(self.bytes);
        let mut victims = Vec::new();
        for &(_, key, held) in &in_flight {
            if free_slots >= slots && free_bytes >= needed {
                break;
            }
            let freed = i128::from(held) - i128::from(ASIDE_COST);
            if free_slots < slots || freed > 0 {
                free_bytes += freed;
                free_slots += 1;
                victims.push(key);
            }
        }
        if free_slots < slots {
            return false;
        }
        let mut forgotten = Vec::new();
        for (rank, key) in self.aside.least() {
            if free_bytes >= needed || !behind(&key, rank) {
                break;
            }
            free_bytes += i128::from(ASIDE_COST);
            forgotten.push(key);
        }
        if free_bytes < needed {
            return false;
        }
        for key in victims {
            self.evict(&key);
        }
        for key in forgotten {
            self.forget_record(&key);
        }
        true
    }

    /// Drops the record of a job set aside, and its hold: it is not finished, but what it
    /// had is committed past.
    fn forget_record(&mut self, key: &JobKey) {
        if let Some(record) = self.aside.remove(key) {
            self.bytes -= ASIDE_COST;
            self.moves.forgotten.push(Evicted {
                key: *key,
                had: record.standing,
                total: key.grid.tiles(),
                idle: self.now.saturating_duration_since(record.last_seen),
            });
        }
    }

    /// Sets aside a job in flight that found no room for a tile it got, to be read again
    /// when its whole image fits; if even its record finds no room, it is forgotten.
    fn set_aside_wanted(&mut self, key: &JobKey) {
        let Some(partial) = self.jobs.get(key) else {
            return;
        };
        let (held, rank) = (partial.bytes(key.grid), partial.rank());
        if !self.make_room(ASIDE_COST.saturating_sub(held), 0, key, Some(rank)) {
            self.forget_in_flight(key);
            return;
        }
        self.evict(key);
        self.aside.touch(key, self.now);
    }

    /// Drops a job in flight and its tiles without a record: not finished, but what it had
    /// is committed past.
    fn forget_in_flight(&mut self, key: &JobKey) {
        let Some(partial) = self.jobs.remove(key) else {
            return;
        };
        self.bytes -= partial.bytes(key.grid);
        self.moves.forgotten.push(Evicted {
            key: *key,
            had: partial.tiles.len(),
            total: key.grid.tiles(),
            idle: Duration::ZERO,
        });
    }

    /// Sets a job in flight aside: its tiles are dropped, a record of it is kept.
    fn evict(&mut self, key: &JobKey) {
        let Some(partial) = self.jobs.remove(key) else {
            return;
        };
        self.bytes = self.bytes - partial.bytes(key.grid) + ASIDE_COST;
        let (standing, _) = partial.rank();
        self.moves.set_aside.push(Evicted {
            key: *key,
            had: standing,
            total: key.grid.tiles(),
            idle: self.now.saturating_duration_since(partial.last_seen),
        });
        // A job set aside in its second reading has tiles yet to be read again, which will
        // come as messages read before and touch nothing: it stays wanted, so room brings it
        // back (a probe of 4146cb4 lost 17 of 30 jobs a newcomer set aside mid-reading).
        let record = Record {
            standing,
            last_seen: partial.last_seen,
            wanted: partial.tiles.len() < partial.standing,
        };
        self.aside.insert(*key, record);
    }

    /// Takes back the jobs set aside that got a new tile, most progress first, each whose
    /// whole image fits or can be made to fit by taking room from jobs behind it: a job read
    /// again can complete, so it is not set aside again at every tile of its second reading.
    fn read_again_if_room(&mut self) {
        for (rank, key) in self.aside.wanted() {
            let whole = Received::dense_bytes(key.grid, key.smooth);
            // Its record's cost comes back as it goes.
            if !self.make_room(whole.saturating_sub(ASIDE_COST), 1, &key, Some(rank)) {
                continue;
            }
            let Some(record) = self.aside.remove(&key) else {
                continue;
            };
            self.bytes = self.bytes - ASIDE_COST + whole;
            let partial = Partial {
                tiles: Received::sparse(key.smooth),
                reserved: whole,
                standing: record.standing,
                last_seen: record.last_seen,
                disputed: BTreeSet::new(),
            };
            self.jobs.insert(key, partial);
            self.moves.read_again.push(key);
        }
    }

    /// Frees a job, in flight or set aside, for good, noting what it lacked.
    fn expire_job(&mut self, key: JobKey) {
        let idle = |last_seen| self.now.saturating_duration_since(last_seen);
        let total = key.grid.tiles();
        let expired = if let Some(partial) = self.jobs.remove(&key) {
            self.bytes -= partial.bytes(key.grid);
            let missing = (0..total).filter(|&t| !partial.tiles.contains(t));
            Expired {
                key,
                idle: idle(partial.last_seen),
                missing: total - partial.tiles.len(),
                first_missing: missing.take(MISSING_SHOWN).map(TileIndex).collect(),
                total,
                set_aside: false,
            }
        } else if let Some(record) = self.aside.remove(&key) {
            self.bytes -= ASIDE_COST;
            Expired {
                key,
                idle: idle(record.last_seen),
                missing: total - record.standing,
                first_missing: Vec::new(),
                total,
                set_aside: true,
            }
        } else {
            return;
        };
        // Freed for good: tiles arriving later must not open it again.
        self.finished.insert(key);
        self.moves.expired.push(expired);
    }

    /// Removes a job wherever it is, freeing its bytes.
    fn drop_job(&mut self, key: &JobKey) {
        if let Some(partial) = self.jobs.remove(key) {
            self.bytes -= partial.bytes(key.grid);
        }
        if self.aside.remove(key).is_some() {
            self.bytes -= ASIDE_COST;
        }
    }
}

/// The SHA-256 of counts as little-endian `u32`s, in hex: what digests.tsv pins of images.
pub fn digest(counts: &[u32]) -> String {
    digest_tile(counts, &[])
}

/// The SHA-256 of a tile's counts as little-endian `u32`s and then its fractions (if any) as
/// little-endian `u16`s, in hex: what a conflict names.
pub fn digest_tile(counts: &[u32], smooth: &[Smooth]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for count in counts {
        hasher.update(count.to_le_bytes());
    }
    for fraction in smooth {
        hasher.update(fraction.to_le_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests;
