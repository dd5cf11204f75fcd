//! The explorer's tiles and downloads, computed on the in-process pool ([`crate::local`]):
//! at most `--threads` at once, at most `--max-queue` waiting, finished tiles kept by the
//! hash of their job within `--cache-mib`, and a computation stopped when its request goes.
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use fixedbrot_core::limits::MAX_JOB_LEN;
use fixedbrot_core::{wire, Job, JobId};
use fixedbrot_pipeline::{Image, Limits};
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::flights::Flights;
use super::remote::{Remote, Unfinished};
use crate::local::{self, Failed};
use crate::log::debug;
use crate::output::{Colouring, Png};

/// When a request to the Kafka pool stops waiting, and the timeout that set it.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    at: tokio::time::Instant,
    timeout: Duration,
}

/// Downloads held at once, computing or being sent, and as many may wait; more are refused.
/// The one being computed takes every thread, so two let the next compute while one is
/// sent. Few wait: a download waits for seconds of every thread, or for a client that reads
/// slowly, and holds a connection while it does (a probe's queued downloads took every
/// connection the server has).
const DOWNLOADS: usize = 2;

/// A finished tile: its PNG, who computed it and in how long.
#[derive(Debug)]
pub struct Tile {
    pub png: Vec<u8>,
    pub worker: String,
    pub millis: f64,
}

/// Why a tile or download has no image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// `--max-queue` requests are waiting already, or as many downloads as may: what is
    /// waiting, in one line.
    Busy(&'static str),
    /// Its request went away, and so did the work.
    Cancelled,
    /// No worker of the Kafka pool finished it in time.
    TimedOut(Duration),
    /// The job was refused (a limit), or failed; one line.
    Failed(String),
}

/// A job's image, who computed it and in how long.
struct Computed {
    image: Image,
    worker: String,
    millis: f64,
}

/// The pool, the queue's bound and the cache.
pub struct Tiles {
    permits: Arc<Semaphore>,
    /// [`DOWNLOADS`] slots, each held from a download's start until it is sent.
    downloads: Arc<Semaphore>,
    /// Downloads waiting for a slot.
    downloads_waiting: AtomicUsize,
    threads: u32,
    waiting: AtomicUsize,
    max_queue: usize,
    cache: Mutex<Cache>,
    /// The tiles under way, each shared by the requests for it.
    flights: Flights<Key, Result<Arc<Tile>, Refused>>,
    limits: Limits,
    /// The Kafka pool, with `--brokers`; else this process computes.
    remote: Option<Remote>,
    /// This process, as the overlay names it.
    worker: String,
}

impl Tiles {
    /// `threads` at once (jobs in flight, with a Kafka pool), within `max_queue` waiting and
    /// a cache of `cache_bytes`.
    pub fn new(
        threads: u32,
        max_queue: usize,
        cache_bytes: usize,
        limits: Limits,
        remote: Option<Remote>,
    ) -> Tiles {
        Tiles {
            permits: Arc::new(Semaphore::new(threads as usize)),
            downloads: Arc::new(Semaphore::new(DOWNLOADS)),
            downloads_waiting: AtomicUsize::new(0),
            threads,
            waiting: AtomicUsize::new(0),
            max_queue,
            cache: Mutex::new(Cache::new(cache_bytes)),
            flights: Flights::new(),
            limits,
            remote,
            worker: format!("serve {} pid {}", crate::kafka::host(), std::process::id()),
        }
    }

    /// The limits every tile and download is held to.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// `job`'s tile coloured by `colouring`, from the cache, or computed on one thread for
    /// every request that asks for it meanwhile.
    pub async fn tile(
        self: &Arc<Self>,
        job: Job,
        colouring: &Colouring,
    ) -> Result<Arc<Tile>, Refused> {
        let key = key(&job, colouring);
        if let Some(tile) = self.cache().get(&key) {
            return Ok(tile);
        }
        let (tiles, colouring) = (Arc::clone(self), colouring.clone());
        let flown = (self.flights).join(key, || async move {
            tiles.compute_tile(key, job, &colouring).await
        });
        let failed = || Err(Refused::Failed("a tile's computation failed".into()));
        flown.await.unwrap_or_else(failed)
    }

    /// Tile `key`, `job` coloured by `colouring`, computed on one thread, and kept.
    async fn compute_tile(
        &self,
        key: Key,
        job: Job,
        colouring: &Colouring,
    ) -> Result<Arc<Tile>, Refused> {
        let deadline = self.deadline();
        let permit = self.wait(&self.permits, 1, deadline).await?;
        let (computed, permit) = self.image(job_id(&key), job, 1, permit, deadline).await?;
        let png = Png {
            colouring: colouring.clone(),
            threads: 1,
        };
        let tile = Arc::new(Tile {
            png: encode(png, computed.image, Vec::new(), permit).await?,
            worker: computed.worker,
            millis: computed.millis,
        });
        self.cache().insert(key, Arc::clone(&tile));
        Ok(tile)
    }

    /// `job`'s image as a PNG with `texts` in text chunks, computed on every thread once all
    /// are free; never cached. It comes with one of the few slots for downloads, to hold
    /// until it is sent: a client that does not read holds its PNG, and no more.
    pub async fn download(
        &self,
        job: Job,
        colouring: &Colouring,
        texts: Vec<(String, String)>,
    ) -> Result<(Vec<u8>, OwnedSemaphorePermit), Refused> {
        let deadline = self.deadline();
        let queued = Waiting::join(&self.downloads_waiting, DOWNLOADS)
            .ok_or(Refused::Busy("too many downloads are waiting"))?;
        let slot = self.wait(&self.downloads, 1, deadline).await?;
        drop(queued);
        let permit = self.wait(&self.permits, self.threads, deadline).await?;
        let threads = self.threads as usize;
        let (computed, permit) = self
            .image(crate::cli::new_job_id(), job, threads, permit, deadline)
            .await?;
        let png = Png {
            colouring: colouring.clone(),
            threads,
        };
        // The image is held until it is encoded, under the same permits: downloads' memory
        // is bounded by the pool, not by the queue.
        Ok((encode(png, computed.image, texts, permit).await?, slot))
    }

    /// When a request stops waiting for the Kafka pool, from now; this process's pool
    /// always finishes.
    fn deadline(&self) -> Option<Deadline> {
        let timeout = self.remote.as_ref()?.timeout();
        let at = tokio::time::Instant::now() + timeout;
        Some(Deadline { at, timeout })
    }

    /// `job`'s image from the Kafka pool by `deadline`, or computed here on `threads`
    /// threads, and `permit` back to hold while the image is.
    async fn image(
        &self,
        id: JobId,
        job: Job,
        threads: usize,
        permit: OwnedSemaphorePermit,
        deadline: Option<Deadline>,
    ) -> Result<(Computed, OwnedSemaphorePermit), Refused> {
        let started = Instant::now();
        let ((image, worker), permit) = match (&self.remote, deadline) {
            (Some(remote), Some(deadline)) => {
                let computed = remote.compute(job, permit, deadline.at).await;
                let (done, permit) = computed.map_err(|e| match e {
                    Unfinished::TimedOut(after) => Refused::TimedOut(after),
                    Unfinished::Failed(reason) => Refused::Failed(reason),
                })?;
                // Sent under an id of its own, so two requests for one tile never mix; kept
                // under `id`, so a tile's bytes are the same whichever pool computed it.
                let image = Image {
                    job_id: id,
                    ..done.image
                };
                ((image, done.workers.join(", ")), permit)
            }
            _ => {
                let (limits, worker) = (self.limits, self.worker.clone());
                self.compute(permit, move |cancel| {
                    let image =
                        local::compute(id, job, threads, limits, cancel).map_err(|failed| {
                            match failed {
                                Failed::Cancelled => Refused::Cancelled,
                                Failed::Refused(reason) => Refused::Failed(reason),
                            }
                        })?;
                    let thread = format!("{:?}", std::thread::current().id()).to_lowercase();
                    Ok((image, format!("{worker} {thread}")))
                })
                .await?
            }
        };
        let millis = started.elapsed().as_secs_f64() * 1e3;
        let computed = Computed {
            image,
            worker,
            millis,
        };
        Ok((computed, permit))
    }

    /// Runs `work` on a blocking thread holding `permit`, which comes back with its result.
    /// If this future is dropped (the client went away), `work`'s cancel flag is set and the
    /// permit is freed when it stops.
    async fn compute<T: Send + 'static>(
        &self,
        permit: OwnedSemaphorePermit,
        work: impl FnOnce(&AtomicBool) -> Result<T, Refused> + Send + 'static,
    ) -> Result<(T, OwnedSemaphorePermit), Refused> {
        let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
        let flag = Arc::clone(&cancel.0);
        let done = tokio::task::spawn_blocking(move || {
            let result = work(&flag);
            if result.as_ref().err() == Some(&Refused::Cancelled) {
                debug!("A request went away: its work stopped");
            }
            result.map(|value| (value, permit))
        });
        let result = done
            .await
            .unwrap_or_else(|_| Err(Refused::Failed("a tile's computation failed".into())));
        drop(cancel);
        result
    }

    /// Waits for `permits` of `pool` until `deadline`, unless `--max-queue` requests wait
    /// already.
    async fn wait(
        &self,
        pool: &Arc<Semaphore>,
        permits: u32,
        deadline: Option<Deadline>,
    ) -> Result<OwnedSemaphorePermit, Refused> {
        let _waiting = Waiting::join(&self.waiting, self.max_queue)
            .ok_or(Refused::Busy("too many tiles are waiting"))?;
        let acquired = Arc::clone(pool).acquire_many_owned(permits);
        let permit = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline.at, acquired)
                .await
                .map_err(|_| Refused::TimedOut(deadline.timeout))?,
            None => acquired.await,
        };
        permit.map_err(|_| Refused::Failed("the server is stopping".into()))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `image` as a PNG with `texts`, encoded on a blocking thread that holds `permit` (and the
/// image) until it is done, whether or not the request is still there.
async fn encode(
    png: Png,
    image: Image,
    texts: Vec<(String, String)>,
    permit: OwnedSemaphorePermit,
) -> Result<Vec<u8>, Refused> {
    let encoded = tokio::task::spawn_blocking(move || {
        let _held = permit;
        let mut bytes = Vec::new();
        png.encode_with_texts(&image, &texts, &mut bytes)
            .map(|()| bytes)
    });
    match encoded.await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(Refused::Failed(format!("cannot encode the image: {e}"))),
        Err(_) => Err(Refused::Failed("the image's encoding failed".into())),
    }
}

/// Sets its flag when dropped: when the request's future is, the computation stops.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// One among those waiting for something, counted while it waits.
pub struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    /// Counted in `count`, unless `most` wait already.
    pub fn join(count: &'a AtomicUsize, most: usize) -> Option<Waiting<'a>> {
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
