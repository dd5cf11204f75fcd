//! The explorer's Kafka worker pool (`serve --brokers`): each tile or download a job on the
//! requests topic, computed by calc processes and boards anywhere; its results are read back
//! here (a [`Reader`], no group) and assembled. Who computed each part is in its
//! [`WORKER_HEADER`].
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use fixedbrot_core::wire::{self, Envelope, Message};
use fixedbrot_core::{Job, JobId};
use fixedbrot_pipeline::assembler::Outcome;
use fixedbrot_pipeline::{plan, Assembler, Image, JobKey, Limits};
use rdkafka::producer::ThreadedProducer;
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use crate::kafka::{self, Deliveries, Error, KafkaArgs, Outgoing, Reader, WORKER_HEADER};
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
    /// Set when its request went away: the slot it held in the pool, kept until the workers
    /// finish what was sent or `since` is `timeout` ago, so that abandoned tiles never pile up
    /// at the workers past `--threads`.
    abandoned: Option<(OwnedSemaphorePermit, Instant)>,
}

impl Remote {
    /// Connects, and reads the responses topic from its end now on a thread of its own. A
    /// job no worker finishes within `timeout` is given up.
    pub fn start(kafka: &KafkaArgs, limits: Limits, timeout: Duration) -> Result<Remote, Error> {
        let producer: ThreadedProducer<Deliveries> =
            kafka.producer(&kafka::client_id("Mandelbrot.Explorer"))?;
        kafka.require_topics(
            rdkafka::producer::Producer::client(&producer),
            &[&kafka.requests_topic],
        )?;
        let reader = Reader::open(kafka, &kafka.responses_topic)?;
        let jobs = Arc::new(Mutex::new(Jobs {
            assembler: Assembler::new(assembler_limits(limits), Instant::now()),
            waiting: HashMap::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (read_jobs, read_stop) = (Arc::clone(&jobs), Arc::clone(&stop));
        thread::spawn(move || read(&reader, &read_jobs, &read_stop, timeout));
        Ok(Remote {
            requests: kafka.requests_topic.clone(),
            producer,
            jobs,
            stop,
            timeout,
        })
    }

    /// `job`'s image, computed by the workers, and `permit` back. If this future is dropped,
    /// the requests already sent are still computed (the protocol has no way to take them
    /// back): the job keeps `permit` until they are, or until the timeout.
    pub async fn compute(
        &self,
        job: Job,
        permit: OwnedSemaphorePermit,
    ) -> Result<(Done, OwnedSemaphorePermit), Unfinished> {
        let id = crate::cli::new_job_id();
        let key = JobKey::new(id, &job);
        let (done, answer) = oneshot::channel();
        {
            let mut jobs = lock(&self.jobs);
            (jobs.assembler.open(key, &job))
                .map_err(|over| Unfinished::Failed(over.to_string()))?;
            let (workers, abandoned) = (BTreeSet::new(), None);
            let waiting = Waiting {
                key,
                done,
                workers,
                abandoned,
            };
            jobs.waiting.insert(id, waiting);
        }
        let mut forget = Forget {
            jobs: &self.jobs,
            id,
            permit: Some(permit),
        };
        for (key, bytes) in plan::messages(id, job) {
            let outgoing = Outgoing {
                topic: &self.requests,
                key: key.as_bytes(),
                payload: Some(&bytes),
                headers: None,
                settles: None,
            };
            kafka::send(&self.producer, outgoing)
                .map_err(|e| Unfinished::Failed(format!("cannot send the tile to Kafka: {e}")))?;
        }
        let done = match tokio::time::timeout(self.timeout, answer).await {
            Ok(Ok(result)) => result.map_err(Unfinished::Failed)?,
            Ok(Err(_)) => return Err(Unfinished::Failed("the reader of results stopped".into())),
            Err(_) => return Err(Unfinished::TimedOut(self.timeout)),
        };
        let permit = forget.permit.take().expect("held until now");
        Ok((done, permit))
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
            (Some(_), None) => jobs.forget(self.id),
            (None, _) => {}
        }
    }
}

fn lock(jobs: &Mutex<Jobs>) -> std::sync::MutexGuard<'_, Jobs> {
    jobs.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reads results until stopped, handing each of a job waited on to its assembler, and lets
/// abandoned jobs go after `timeout`.
fn read(reader: &Reader, jobs: &Mutex<Jobs>, stop: &AtomicBool, timeout: Duration) {
    while !stop.load(Ordering::Relaxed) {
        lock(jobs).let_go(timeout);
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
    /// Forgets job `id`, freeing its slot if it held one.
    fn forget(&mut self, id: JobId) {
        if let Some(waiting) = self.waiting.remove(&id) {
            self.assembler.forget(&waiting.key);
        }
    }

    /// Forgets the abandoned jobs older than `timeout`.
    fn let_go(&mut self, timeout: Duration) {
        let old: Vec<JobId> = (self.waiting.iter())
            .filter(|(_, w)| {
                w.abandoned
                    .as_ref()
                    .is_some_and(|(_, since)| since.elapsed() > timeout)
            })
            .map(|(&id, _)| id)
            .collect();
        for id in old {
            self.forget(id);
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
