//! Reference orbits, computed once a process for each perturbation job and shared by every
//! tile of it that the process computes, within `--max-orbit-mib`.
//!
//! Why each worker computes its own rather than receiving it in messages: an orbit is 24
//! bytes an iteration (29 MB at rust-fractal-core's 5e227 location, 1.2 million
//! iterations), far past Kafka's 1 MB message, and computing it costs a worker less than
//! one tile's share of the job (0.7 s there, once; BENCHMARKS.md).
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use fixedbrot_core::{Delta, Grid, Job, JobError, OrbitEnd, Reference};

/// Bytes of one value of an orbit.
pub const POINT_BYTES: u64 = size_of::<Delta>() as u64;

/// A reference orbit owned by the cache.
#[derive(Debug)]
pub struct Orbit {
    points: Vec<Delta>,
    end: OrbitEnd,
}

impl Orbit {
    /// Computes `job`'s reference orbit.
    pub fn compute(job: &Job) -> Result<Orbit, JobError> {
        let mut points = vec![Delta::default(); Reference::most_points(job)];
        let reference = Reference::compute(job, &mut points)?;
        let (len, end) = (reference.len(), reference.end());
        points.truncate(len);
        points.shrink_to_fit();
        Ok(Orbit { points, end })
    }

    /// The orbit, for the core's kernel.
    pub fn reference(&self) -> Reference<'_> {
        // The parts of a computed reference are one.
        Reference::from_parts(&self.points, self.end).expect("a computed reference")
    }

    /// Bytes it holds.
    pub fn bytes(&self) -> u64 {
        self.points.len() as u64 * POINT_BYTES
    }
}

/// The most bytes a job's orbit can take: what `--max-orbit-mib` is held to.
pub fn most_bytes(job: &Job) -> u64 {
    Reference::most_points(job) as u64 * POINT_BYTES
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
        .get_or_init(|| Orbit::compute(job).map(Arc::new))
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
        Some(Ok(orbit)) => orbit.bytes(),
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
