//! The explorer's tiles and downloads, computed on the in-process pool ([`crate::local`]):
//! at most `--threads` at once, at most `--max-queue` waiting, finished tiles kept by the
//! hash of their job within `--cache-mib`, and a computation stopped when its request goes.
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use fixedbrot_core::limits::MAX_JOB_LEN;
use fixedbrot_core::{wire, Job, JobId};
use fixedbrot_pipeline::Limits;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::local::{self, Failed};
use crate::log::debug;
use crate::output::{Colouring, Png};

/// A finished tile: its PNG, who computed it and in how long.
#[derive(Debug)]
pub struct Tile {
    pub png: Vec<u8>,
    pub worker: String,
    pub millis: f64,
}

/// Why a tile or download has no image.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// `--max-queue` requests are waiting already.
    Busy,
    /// Its request went away, and so did the work.
    Cancelled,
    /// The job was refused (a limit), or failed; one line.
    Failed(String),
}

/// The pool, the queue's bound and the cache.
pub struct Tiles {
    permits: Arc<Semaphore>,
    threads: u32,
    waiting: AtomicUsize,
    max_queue: usize,
    cache: Mutex<Cache>,
    limits: Limits,
    /// This process, as the overlay names it.
    worker: String,
}

impl Tiles {
    pub fn new(threads: u32, max_queue: usize, cache_bytes: usize, limits: Limits) -> Tiles {
        Tiles {
            permits: Arc::new(Semaphore::new(threads as usize)),
            threads,
            waiting: AtomicUsize::new(0),
            max_queue,
            cache: Mutex::new(Cache::new(cache_bytes)),
            limits,
            worker: format!("{} pid {}", crate::kafka::host(), std::process::id()),
        }
    }

    /// The limits every tile and download is held to.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// `job`'s tile coloured by `colouring`, from the cache or computed on one thread.
    pub async fn tile(&self, job: Job, colouring: &Colouring) -> Result<Arc<Tile>, Refused> {
        let key = key(&job, colouring);
        if let Some(tile) = self.cache().get(&key) {
            return Ok(tile);
        }
        let permit = self.wait(1).await?;
        let png = Png {
            colouring: colouring.clone(),
            threads: 1,
        };
        let (limits, worker) = (self.limits, self.worker.clone());
        let tile = self
            .compute(permit, move |cancel| {
                let started = Instant::now();
                let png = encode(&png, job_id(&key), job, 1, limits, cancel, &[])?;
                let thread = format!("{:?}", std::thread::current().id());
                Ok(Tile {
                    png,
                    worker: format!("{worker} {}", thread.to_lowercase()),
                    millis: started.elapsed().as_secs_f64() * 1e3,
                })
            })
            .await?;
        let tile = Arc::new(tile);
        self.cache().insert(key, Arc::clone(&tile));
        Ok(tile)
    }

    /// `job`'s image as a PNG with `texts` in text chunks, computed on every thread once all
    /// are free; never cached.
    pub async fn download(
        &self,
        job: Job,
        colouring: &Colouring,
        texts: Vec<(String, String)>,
    ) -> Result<Vec<u8>, Refused> {
        let permit = self.wait(self.threads).await?;
        let (threads, limits) = (self.threads as usize, self.limits);
        let png = Png {
            colouring: colouring.clone(),
            threads,
        };
        let id = crate::cli::new_job_id();
        self.compute(permit, move |cancel| {
            encode(&png, id, job, threads, limits, cancel, &texts)
        })
        .await
    }

    /// Runs `work` on a blocking thread holding `permit`. If this future is dropped (the
    /// client went away), `work`'s cancel flag is set and the permit is freed when it stops.
    async fn compute<T: Send + 'static>(
        &self,
        permit: OwnedSemaphorePermit,
        work: impl FnOnce(&AtomicBool) -> Result<T, Refused> + Send + 'static,
    ) -> Result<T, Refused> {
        let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
        let flag = Arc::clone(&cancel.0);
        let done = tokio::task::spawn_blocking(move || {
            let _held = permit;
            let result = work(&flag);
            if result.as_ref().err() == Some(&Refused::Cancelled) {
                debug!("A request went away: its work stopped");
            }
            result
        });
        let result = done
            .await
            .unwrap_or_else(|_| Err(Refused::Failed("a tile's computation failed".into())));
        drop(cancel);
        result
    }

    /// Waits for `permits` of the pool's threads, unless `--max-queue` requests wait already.
    async fn wait(&self, permits: u32) -> Result<OwnedSemaphorePermit, Refused> {
        let waiting = Waiting::join(&self.waiting, self.max_queue).ok_or(Refused::Busy)?;
        let permit = Arc::clone(&self.permits).acquire_many_owned(permits).await;
        drop(waiting);
        permit.map_err(|_| Refused::Failed("the server is stopping".into()))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Computes `job` and encodes its PNG with `texts`.
fn encode(
    png: &Png,
    id: JobId,
    job: Job,
    threads: usize,
    limits: Limits,
    cancel: &AtomicBool,
    texts: &[(String, String)],
) -> Result<Vec<u8>, Refused> {
    let image =
        local::compute(id, job, threads, limits, cancel).map_err(|failed| match failed {
            Failed::Cancelled => Refused::Cancelled,
            Failed::Refused(reason) => Refused::Failed(reason),
        })?;
    let mut bytes = Vec::new();
    png.encode_with_texts(&image, texts, &mut bytes)
        .map_err(|e| Refused::Failed(format!("cannot encode the image: {e}")))?;
    Ok(bytes)
}

/// Sets its flag when dropped: when the request's future is, the computation stops.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// One request among those waiting for a thread, counted while it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn join(count: &'a AtomicUsize, most: usize) -> Option<Waiting<'a>> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < most).then_some(n + 1)
            })
            .ok()
            .map(|_| Waiting(count))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A tile's name: the hash of its job as the wire encodes it, and of its colouring.
type Key = [u8; 32];

fn key(job: &Job, colouring: &Colouring) -> Key {
    let mut buf = [0; MAX_JOB_LEN];
    let mut hash = Sha256::new();
    // Only checked jobs reach here, and every checked job encodes.
    if let Ok(bytes) = wire::encode_job(job, &mut buf) {
        hash.update(bytes);
    }
    hash.update(format!("{colouring:?}"));
    hash.finalize().into()
}

/// A tile's job id, from its name: the same tile's PNG has the same bytes every time.
fn job_id(key: &Key) -> JobId {
    let mut first = [0; 8];
    first.copy_from_slice(&key[..8]);
    JobId(u64::from_le_bytes(first))
}

/// Finished tiles within a budget of bytes; the oldest go first.
struct Cache {
    budget: usize,
    used: usize,
    tiles: HashMap<Key, Arc<Tile>>,
    order: VecDeque<Key>,
}

impl Cache {
    fn new(budget: usize) -> Cache {
        Cache {
            budget,
            used: 0,
            tiles: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn get(&self, key: &Key) -> Option<Arc<Tile>> {
        self.tiles.get(key).cloned()
    }

    fn insert(&mut self, key: Key, tile: Arc<Tile>) {
        let size = tile.png.len();
        if size > self.budget || self.tiles.contains_key(&key) {
            return;
        }
        while self.used + size > self.budget {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(gone) = self.tiles.remove(&oldest) {
                self.used -= gone.png.len();
            }
        }
        self.used += size;
        self.order.push_back(key);
        self.tiles.insert(key, tile);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile(bytes: usize) -> Arc<Tile> {
        Arc::new(Tile {
            png: vec![0; bytes],
            worker: String::new(),
            millis: 0.0,
        })
    }

    #[test]
    fn the_cache_keeps_within_its_budget_and_drops_the_oldest() {
        let mut cache = Cache::new(100);
        cache.insert([1; 32], tile(60));
        cache.insert([2; 32], tile(30));
        cache.insert([3; 32], tile(30));
        assert!(cache.get(&[1; 32]).is_none());
        assert!(cache.get(&[2; 32]).is_some() && cache.get(&[3; 32]).is_some());
        assert_eq!(cache.used, 60);
        cache.insert([4; 32], tile(101));
        assert!(cache.get(&[4; 32]).is_none(), "larger than the budget");
        assert_eq!(cache.used, 60);
    }

    #[test]
    fn the_queue_admits_up_to_its_bound() {
        let count = AtomicUsize::new(0);
        let first = Waiting::join(&count, 2).unwrap();
        let second = Waiting::join(&count, 2).unwrap();
        assert!(Waiting::join(&count, 2).is_none());
        drop(first);
        assert!(Waiting::join(&count, 2).is_some());
        drop(second);
        assert_eq!(count.load(Ordering::Relaxed), 0);
    }
}
