//! Reference orbits, computed once a process for each perturbation job and shared by every
//! tile of it that the process computes, within `--max-orbit-mib`.
//!
//! Why each worker computes its own rather than receiving it in messages: an orbit is 32
//! bytes an iteration and its BLA table up to 128 more (192 MB at rust-fractal-core's 5e227
//! location, 1.2 million iterations), far past Kafka's 1 MB message, and computing both
//! costs a worker about a second there, once (BENCHMARKS.md).
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use fixedbrot_core::{Bla, Grid, Job, JobError, OrbitEnd, OrbitPoint, Reference};

/// Bytes of one value of an orbit.
pub const POINT_BYTES: u64 = size_of::<OrbitPoint>() as u64;

/// Bytes of one map of a BLA table: a table holds fewer than two a value.
pub const MAP_BYTES: u64 = size_of::<Bla>() as u64;

/// Bytes a cache entry holds beside its orbit: the job it is keyed by, and the map's own.
const ENTRY_BYTES: u64 = size_of::<Job>() as u64 + 64;

/// The room an orbit is first computed in: many references escape long before the limit,
/// so room for the limit is taken only when the orbit needs it; then the first 2^16 steps,
/// computed again, cost little beside the rest (doubling the room each time had computed a
/// 1.2-million-step orbit 2.6 times over).
const FIRST_ROOM: usize = 1 << 16;

/// A reference orbit owned by the cache, and its BLA table for a kernel that skips.
#[derive(Debug)]
pub struct Orbit {
    points: Vec<OrbitPoint>,
    end: OrbitEnd,
    table: Vec<Bla>,
}

impl Orbit {
    /// Computes `job`'s reference orbit, and its table if the kernel skips: in [`FIRST_ROOM`]
    /// values, or if the orbit is longer in room for the limit (so an orbit that escapes early
    /// takes little), each allocation fallible, so that memory running out refuses the job
    /// rather than ending the process.
    pub fn compute(job: &Job) -> Result<Orbit, JobError> {
        let most = Reference::most_points(job);
        let mut room = most.min(FIRST_ROOM);
        let (points, end) = loop {
            let mut points = filled(room, OrbitPoint::default())?;
            match Reference::compute(job, &mut points) {
                Ok(reference) => {
                    let (len, end) = (reference.len(), reference.end());
                    points.truncate(len);
                    points.shrink_to_fit();
                    break (points, end);
                }
                Err(JobError::OrbitTooLong) if room < most => room = most,
                Err(error) => return Err(error),
            }
        };
        let reference = Reference::from_parts(&points, end, &[]).ok_or(JobError::OrbitTooLong)?;
        let table = if job.kernel.skips() {
            let mut table = filled(reference.table_entries(), Bla::default())?;
            reference.with_table(job, &mut table)?;
            table
        } else {
            Vec::new()
        };
        Ok(Orbit { points, end, table })
    }

    /// The orbit, for the core's kernel.
    pub fn reference(&self) -> Reference<'_> {
        // The parts of a computed reference are one.
        Reference::from_parts(&self.points, self.end, &self.table).expect("a computed reference")
    }

    /// Bytes it holds.
    pub fn bytes(&self) -> u64 {
        self.points.len() as u64 * POINT_BYTES + self.table.len() as u64 * MAP_BYTES
    }
}

/// `len` copies of `value`, or a refusal if memory cannot hold them.
fn filled<T: Clone>(len: usize, value: T) -> Result<Vec<T>, JobError> {
    let mut items = Vec::new();
    items
        .try_reserve_exact(len)
        .map_err(|_| JobError::OrbitTooLong)?;
    items.resize(len, value);
    Ok(items)
}

/// The most bytes a job's orbit and table can take: what `--max-orbit-mib` is held to.
pub fn most_bytes(job: &Job) -> u64 {
    let points = Reference::most_points(job) as u64;
    let maps = if job.kernel.skips() { 2 * points } else { 0 };
    points * POINT_BYTES + maps * MAP_BYTES + ENTRY_BYTES
}

/// An orbit being computed or computed, shared by the threads that want it.
type Slot = Arc<OnceLock<Result<Arc<Orbit>, JobError>>>;

#[derive(Default)]
struct Cache {
    slots: HashMap<Job, (Slot, u64)>,
    uses: u64,
}

/// This process's orbits, the most recently used kept while their bytes stay within the
/// budget. One cache for the process: render's threads, calc's long-work threads, the
/// bridge's host fallback and the assembler's settling all want the same orbits.
static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();

/// Held while an orbit is computed.
static COMPUTING: Mutex<()> = Mutex::new(());

/// The reference orbit of `job` (a perturbation job), computed once while kept, within
/// `budget` bytes of orbits in all. Threads asking for one being computed wait for it.
pub fn get(job: &Job, budget: u64) -> Result<Arc<Orbit>, JobError> {
    if most_bytes(job) > budget {
        return Err(JobError::OrbitTooLong);
    }
    let key = Job {
        // Tiles do not change the orbit: one entry for every tiling of a view.
        grid: Grid {
            tile_width: 1,
            tile_height: 1,
            ..job.grid
        },
        ..*job
    };
    let slot = {
        let mut cache = lock();
        cache.uses += 1;
        let uses = cache.uses;
        let (slot, used) = cache.slots.entry(key).or_default();
        *used = uses;
        slot.clone()
    };
    let orbit = slot
        .get_or_init(|| {
            // One orbit computed at a time: each takes room up to its limit's while it runs,
            // which the budget does not see yet.
            let _computing = COMPUTING.lock().unwrap_or_else(PoisonError::into_inner);
            Orbit::compute(job).map(Arc::new)
        })
        .clone();
    if orbit.is_err() {
        // Not kept: a job refused is not asked for again (nor can a checked one be refused).
        lock().slots.remove(&key);
    }
    evict(budget);
    orbit
}

/// Drops the least recently used computed orbits until the rest fit `budget` (orbits in use
/// are freed when their last user lets go).
fn evict(budget: u64) {
    let mut cache = lock();
    let bytes = |slot: &Slot| match slot.get() {
        Some(Ok(orbit)) => orbit.bytes() + ENTRY_BYTES,
        _ => 0,
    };
    let mut held: u64 = cache.slots.values().map(|(slot, _)| bytes(slot)).sum();
    while held > budget {
        let least = cache
            .slots
            .iter()
            .filter(|(_, (slot, _))| bytes(slot) > 0)
            .min_by_key(|(_, (_, used))| *used)
            .map(|(key, (slot, _))| (*key, bytes(slot)));
        let Some((key, freed)) = least else { break };
        cache.slots.remove(&key);
        held -= freed;
    }
}

fn lock() -> std::sync::MutexGuard<'static, Cache> {
    CACHE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}
