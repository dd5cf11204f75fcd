//! The explorer's Kafka worker pool (`serve --brokers`): each tile or download a job on the
//! requests topic, computed by calc processes and boards anywhere; its results are read back
//! here (a [`Reader`], no group) and assembled. Who computed each part is in its
//! [`WORKER_HEADER`].
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use fixedbrot_core::wire::{self, Envelope, Message};
use fixedbrot_core::{Job, JobId};
use fixedbrot_pipeline::assembler::Outcome;
use fixedbrot_pipeline::{plan, Assembler, Image, JobKey, Limits};
use rdkafka::producer::ThreadedProducer;
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use crate::kafka::{
    self, Delivered, Deliveries, Error, KafkaArgs, Outgoing, Reader, Settled, Settles,
    WORKER_HEADER,
};
use crate::local::assembler_limits;
use crate::log::warn;

/// Why the pool has no image of a job.
#[derive(Debug, PartialEq, Eq)]
pub enum Unfinished {
    /// No worker finished it in time.
    TimedOut(Duration),
    /// It was refused (a limit), or failed; one line.
    Failed(String),
}

/// A job's image as the pool returns it, and the workers that computed its parts.
pub struct Done {
    pub image: Image,
    pub workers: Vec<String>,
}

/// The pool: a producer of jobs, and the jobs waited on.
pub struct Remote {
    requests: String,
    producer: ThreadedProducer<Deliveries>,
    jobs: Arc<Mutex<Jobs>>,
    /// Where the producer tells of each part's delivery.
    report: Sender<Delivered>,
    stop: Arc<AtomicBool>,
    timeout: Duration,
}

/// The jobs waited on, and their parts so far.
struct Jobs {
    assembler: Assembler,
    waiting: HashMap<JobId, Waiting>,
}

struct Waiting {
    key: JobKey,
    done: oneshot::Sender<Result<Done, String>>,
    workers: BTreeSet<String>,
    /// Set when its request went away or timed out: the slot it held in the pool, and since
    /// when. It is kept until the workers answer, or a part of the job is never delivered,
    /// so that no more than `--threads` jobs wait at the workers for nobody: freeing it after
    /// one timeout let every timeout send `--threads` more while the workers were away, and
    /// a returning worker computed all of them first. Only an answer lost for good (a
    /// worker writing to another topic, say) waits out [`LOST`] timeouts.
    abandoned: Option<(OwnedSemaphorePermit, Instant)>,
}

/// How many timeouts an abandoned job keeps its slot without an answer before it is taken
/// for lost, and the slot freed: the explorer serves again, and stale work at workers that
/// are away grows by `--threads` jobs at most that often.
const LOST: u32 = 10;

impl Remote {
    /// Connects, and reads the responses topic from its end now on a thread of its own. A
    /// request no worker answers within `timeout` is given up. At most `in_flight` jobs are
    /// ever sent and unanswered, each holding a slot of the pool.
    pub fn start(
        kafka: &KafkaArgs,
        limits: Limits,
        timeout: Duration,
        in_flight: usize,
    ) -> Result<Remote, Error> {
        let producer: ThreadedProducer<Deliveries> =
            kafka.producer(&kafka::client_id("Mandelbrot.Explorer"))?;
        kafka.require_topics(
            rdkafka::producer::Producer::client(&producer),
            &[&kafka.requests_topic],
        )?;
        let reader = Reader::open(kafka, &kafka.responses_topic)?;
        let jobs = Arc::new(Mutex::new(Jobs {
            // Room for every job in flight: one set aside would lose its parts, and never
            // give its slot back.
            assembler: Assembler::new(
                Limits {
                    max_jobs: in_flight,
                    ..assembler_limits(limits)
                },
                Instant::now(),
            ),
            waiting: HashMap::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (report, deliveries) = mpsc::channel();
        let (read_jobs, read_stop) = (Arc::clone(&jobs), Arc::clone(&stop));
        let lost = timeout * LOST;
        thread::spawn(move || read(reader, &read_jobs, &deliveries, &read_stop, lost));
        Ok(Remote {
            requests: kafka.requests_topic.clone(),
            producer,
            jobs,
            report,
            stop,
            timeout,
        })
    }

    /// How long a request waits for the workers, from its arrival.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `job`'s image, computed by the workers by `deadline`, and `permit` back. If this
    /// future is dropped or times out, the requests already sent are still computed (the
    /// protocol has no way to take them back): the job keeps `permit` until they are.
    pub async fn compute(
        &self,
        job: Job,
        permit: OwnedSemaphorePermit,
        deadline: tokio::time::Instant,
    ) -> Result<(Done, OwnedSemaphorePermit), Unfinished> {
        let id = crate::cli::new_job_id();
        let answer = self.wait_for(id, &job)?;
        let mut forget = Forget {
            jobs: &self.jobs,
            id,
            permit: Some(permit),
        };
        if let Err(e) = self.send(id, job) {
            // Never whole at the workers, so never answered: nothing to wait for.
            drop(forget.permit.take());
            return Err(Unfinished::Failed(format!(
                "cannot send the tile to Kafka: {e}"
            )));
        }
        let done = match tokio::time::timeout_at(deadline, answer).await {
            Ok(Ok(result)) => result.map_err(Unfinished::Failed)?,
            Ok(Err(_)) => return Err(Unfinished::Failed("the reader of results stopped".into())),
            Err(_) => {
                warn!(
                    "No worker answered a tile within {} s; its slot is kept until one does",
                    self.timeout.as_secs()
                );
                return Err(Unfinished::TimedOut(self.timeout));
            }
        };
        let permit = forget.permit.take().expect("held until now");
        Ok((done, permit))
    }

    /// Opens job `id` to its parts' results: where its image (or why there is none) comes.
    fn wait_for(
        &self,
        id: JobId,
        job: &Job,
    ) -> Result<oneshot::Receiver<Result<Done, String>>, Unfinished> {
        let key = JobKey::new(id, job);
        let (done, answer) = oneshot::channel();
        let mut jobs = lock(&self.jobs);
        (jobs.assembler.open(key, job)).map_err(|over| Unfinished::Failed(over.to_string()))?;
        let waiting = Waiting {
            key,
            done,
            workers: BTreeSet::new(),
            abandoned: None,
        };
        jobs.waiting.insert(id, waiting);
        Ok(answer)
    }

    /// Sends job `id`'s requests, each telling of its delivery.
    fn send(&self, id: JobId, job: Job) -> Result<(), Error> {
        for (key, bytes) in plan::messages(id, job) {
            let settles = Settles {
                report: self.report.clone(),
                settled: Settled::Request(id),
            };
            let outgoing = Outgoing {
                topic: &self.requests,
                key: key.as_bytes(),
                payload: Some(&bytes),
                headers: None,
                settles: Some(settles),
            };
            kafka::send(&self.producer, outgoing)?;
        }
        Ok(())
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Forgets a job waited on when its request ends, however it ends; if the workers may still
/// be computing it, its slot stays held until they finish ([`Waiting::abandoned`]).
struct Forget<'a> {
    jobs: &'a Mutex<Jobs>,
    id: JobId,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        let mut jobs = lock(self.jobs);
        match (jobs.waiting.get_mut(&self.id), self.permit.take()) {
            (Some(waiting), Some(permit)) => waiting.abandoned = Some((permit, Instant::now())),
            (Some(_), None) => drop(jobs.forget(self.id)),
            (None, _) => {}
        }
    }
}

fn lock(jobs: &Mutex<Jobs>) -> std::sync::MutexGuard<'_, Jobs> {
    jobs.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reads results until stopped, handing each of a job waited on to its assembler, and gives
/// up the jobs a part of which could not be delivered, and the abandoned ones unanswered for
/// `lost`.
fn read(
    mut reader: Reader,
    jobs: &Mutex<Jobs>,
    deliveries: &Receiver<Delivered>,
    stop: &AtomicBool,
    lost: Duration,
) {
    while !stop.load(Ordering::Relaxed) {
        lock(jobs).let_go(lost);
        while let Ok(delivered) = deliveries.try_recv() {
            if let (Settled::Request(id), false) = (delivered.settled, delivered.ok) {
                lock(jobs).undelivered(id);
            }
        }
        match reader.next(Duration::from_millis(100), WORKER_HEADER) {
            None => {}
            Some(Err(e)) => {
                warn!("Reading results: {e}");
                thread::sleep(Duration::from_millis(500));
            }
            // Another process's messages, and anything unreadable, are not ours to judge.
            Some(Ok(record)) => {
                if let Ok(envelope) = wire::decode(&record.payload) {
                    lock(jobs).accept(envelope, record.header);
                }
            }
        }
    }
}

impl Jobs {
    /// Forgets job `id`: what is waiting for it, which holds its slot if it was abandoned.
    fn forget(&mut self, id: JobId) -> Option<Waiting> {
        let waiting = self.waiting.remove(&id)?;
        self.assembler.forget(&waiting.key);
        Some(waiting)
    }

    /// Frees the slots of the abandoned jobs unanswered for `lost`.
    fn let_go(&mut self, lost: Duration) {
        let old: Vec<JobId> = (self.waiting.iter())
            .filter(|(_, w)| {
                (w.abandoned.as_ref()).is_some_and(|(_, since)| since.elapsed() > lost)
            })
            .map(|(&id, _)| id)
            .collect();
        for id in old {
            warn!(
                "Job {:016x} sent to the workers was never answered: its slot is freed",
                id.0
            );
            self.forget(id);
        }
    }

    /// A part of job `id` was never delivered, so no worker will answer it: its request is
    /// told so, and its slot is free.
    fn undelivered(&mut self, id: JobId) {
        if let Some(waiting) = self.forget(id) {
            let reason = "a part of the tile could not be delivered to Kafka";
            let _gone = waiting.done.send(Err(reason.into()));
        }
    }

    fn accept(&mut self, envelope: Envelope, worker: Option<String>) {
        let id = envelope.job_id;
        let Some(waiting) = self.waiting.get_mut(&id) else {
            return;
        };
        if let (Message::Result(_), Some(worker)) = (&envelope.message, worker) {
            waiting.workers.insert(worker);
        }
        let result = match self.assembler.accept(envelope, Instant::now(), false) {
            Outcome::Complete(image) => Ok(image),
            Outcome::Failed { refusal, .. } => {
                Err(format!("a worker refused the tile: {}", refusal.reason))
            }
            Outcome::Rejected { reason } => Err(reason),
            Outcome::Unsettled { tile } => Err(format!(
                "part {} of the tile came back twice with different counts",
                tile.0
            )),
            _ => return,
        };
        if let Some(waiting) = self.waiting.remove(&id) {
            let workers = waiting.workers.into_iter().collect();
            let _gone = waiting
                .done
                .send(result.map(|image| Done { image, workers }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixedbrot_core::Format;
    use tokio::sync::Semaphore;

    /// Jobs waited on, one of them abandoned, holding the pool's only slot.
    fn abandoned(
        id: JobId,
    ) -> (
        Jobs,
        Arc<Semaphore>,
        oneshot::Receiver<Result<Done, String>>,
    ) {
        let job = fixedbrot_tests::cases::job(Format::I4F28, "-2,1", "1,-1", (8, 8), 16, (8, 8));
        let key = JobKey::new(id, &job);
        let mut assembler = Assembler::new(assembler_limits(Limits::default()), Instant::now());
        assembler.open(key, &job).unwrap();
        let pool = Arc::new(Semaphore::new(1));
        let (done, answer) = oneshot::channel();
        let waiting = Waiting {
            key,
            done,
            workers: BTreeSet::new(),
            abandoned: Some((
                Arc::clone(&pool).try_acquire_owned().unwrap(),
                Instant::now(),
            )),
        };
        let jobs = Jobs {
            assembler,
            waiting: HashMap::from([(id, waiting)]),
        };
        (jobs, pool, answer)
    }

    #[test]
    fn an_abandoned_job_keeps_its_slot_until_a_part_is_not_delivered() {
        let (mut jobs, pool, mut answer) = abandoned(JobId(7));
        jobs.let_go(Duration::from_secs(60));
        jobs.undelivered(JobId(8));
        assert_eq!(pool.available_permits(), 0, "another job's part");
        jobs.undelivered(JobId(7));
        assert_eq!(pool.available_permits(), 1);
        assert!(jobs.waiting.is_empty() && jobs.assembler.in_flight() == 0);
        let told = answer.try_recv().unwrap();
        assert!(told.is_err_and(|reason| reason.contains("could not be delivered")));
    }

    #[test]
    fn an_abandoned_job_unanswered_for_long_is_taken_for_lost() {
        let (mut jobs, pool, _answer) = abandoned(JobId(7));
        std::thread::sleep(Duration::from_millis(5));
        jobs.let_go(Duration::from_millis(1));
        assert_eq!(pool.available_permits(), 1);
        assert!(jobs.waiting.is_empty() && jobs.assembler.in_flight() == 0);
    }
}
