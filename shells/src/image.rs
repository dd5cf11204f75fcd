//! `fixedbrot image`: the assembler in the image group. Its handler assembles results into
//! images and writes a PNG per completed job; it holds each job's first offset until the job
//! is written, so a partition is committed only below its oldest unfinished job and a restart
//! replays every tile it has not written yet.
use std::collections::BTreeMap;
use std::error::Error;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use fixedbrot_core::wire::{self, Message, Refusal};
use fixedbrot_core::JobId;
use fixedbrot_pipeline::assembler::{Conflict, Moves, Outcome, Tile, Verdict};
use fixedbrot_pipeline::{Answer, Assembler, Handler, Holds, Image, Incoming, Letter, Limits};
use rdkafka::producer::{Producer, ThreadedProducer};

use crate::fault;
use crate::kafka::{self, AtLeastOnce, Deliveries, KafkaArgs, Member, Prefetch, IMAGE_GROUP};
use crate::log::{info, warn, Hex, Progress};
use crate::metrics::metrics;
use crate::output::{self, checks, raw, Once, Png, Written};

/// Where and how images are written.
pub struct Output {
    pub dir: PathBuf,
    /// Write the first completed image here and exit.
    pub file: Option<PathBuf>,
    /// Write each job's counts and job here too (`raw`).
    pub raw_dir: Option<PathBuf>,
    /// How images are written.
    pub png: Png,
}

/// A directory that could not be read, said in a line.
fn reading(dir: &Path, error: &io::Error) -> String {
    format!("reading {}: {error}", dir.display())
}

impl Output {
    /// The record of the jobs written to the output directory (none with `--output`), read
    /// whole; partial files that dead writers left are removed. Says where the images go.
    fn record(&self, topic: &str) -> Result<Option<Written>, String> {
        if let Some(dir) = &self.raw_dir {
            output::remove_abandoned(dir).map_err(|e| reading(dir, &e))?;
        }
        let Some(file) = &self.file else {
            info!("Assembling images from {topic} into {}", self.dir.display());
            // An image names its job: the images in the directory are the record of what
            // was written, so a job replayed after a restart, or written by another
            // assembler sharing the directory, is not written again.
            let written = Written::open(&self.dir).map_err(|e| reading(&self.dir, &e))?;
            if !written.is_empty() {
                info!(
                    "{} images in {} are of jobs written already: those are not written again",
                    written.len(),
                    self.dir.display()
                );
            }
            return Ok(Some(written));
        };
        // --output writes one file that must not exist yet: nothing to find.
        info!(
            "Assembling the first image from {topic} into {}",
            file.display()
        );
        Ok(None)
    }

    /// Makes the directories the output needs and checks that they take new files (and that
    /// `--output` is new), before any broker is asked: a path problem is found at once, not
    /// at the first finished job. A sentence saying what is wrong, for a usage error.
    pub fn prepare(&self) -> Result<(), String> {
        let raw_dir = self.raw_dir.as_deref();
        checks::for_image(&self.dir, self.file.as_deref(), raw_dir)
    }
}

/// Assembles jobs from the responses topic until `--output` is written (or a stop signal);
/// with `read_committed`, only results whose transactions committed. The output is
/// [`prepare`]d already.
pub fn run(
    kafka: &KafkaArgs,
    output: Output,
    limits: Limits,
    read_committed: bool,
) -> Result<(), Box<dyn Error>> {
    let client_id = kafka::client_id(IMAGE_GROUP);
    let producer: Arc<ThreadedProducer<Deliveries>> = Arc::new(kafka.producer(&client_id)?);
    kafka.require_topics(
        producer.client(),
        &[&kafka.responses_topic, &kafka.responses_dead_letters()],
    )?;
    let topic = kafka.responses_topic.as_str();
    let written = output.record(topic)?;
    let member = Member {
        kafka,
        group: IMAGE_GROUP,
        client_id,
        input: topic,
        // The assembler produces only dead letters.
        output: topic,
        prefetch: Prefetch::Plenty,
        read_committed,
    };
    let handler = ImageHandler {
        assembler: Assembler::new(limits, Instant::now()),
        output,
        written,
        progress: BTreeMap::new(),
        first_seen: BTreeMap::new(),
    };
    // The assembler holds offsets: at least once, and idempotent by its images.
    let commits = AtLeastOnce::new(&member, producer);
    kafka::run(member, commits, handler)?;
    Ok(())
}

/// The member's handler: the assembler, and the images it writes.
struct ImageHandler {
    assembler: Assembler,
    output: Output,
    /// The jobs whose images are in the output directory (none with `--output`).
    written: Option<Written>,
    /// A bar per job being received, on a terminal.
    progress: BTreeMap<JobId, Progress>,
    /// When each job being assembled sent its first message here, for its latency.
    first_seen: BTreeMap<JobId, Instant>,
}

/// A job's first message holds its offset until the job is written, fails or expires.
fn hold(job_id: JobId) -> Answer<JobId> {
    Answer {
        hold: Some(job_id),
        ..Answer::default()
    }
}

/// The job's holds end.
fn release(job_id: JobId) -> Answer<JobId> {
    Answer {
        holds: Holds {
            release: vec![job_id],
            ..Holds::default()
        },
        ..Answer::default()
    }
}

impl Handler for ImageHandler {
    type Key = JobId;
    type Error = io::Error;

    fn handle(&mut self, message: &Incoming<'_>) -> Result<Answer<JobId>, io::Error> {
        let payload = message.payload.unwrap_or_default();
        let now = Instant::now();
        // Results, nearly every message, are read without building a 16 KiB envelope each.
        let (job_id, outcome) = if let Some(result) = wire::decode_result(payload) {
            if let Some(answer) = self.written_already(result.job_id) {
                return Ok(answer);
            }
            let counts: Vec<u32> = result.counts().collect();
            let tile = Tile {
                job: result.job,
                index: result.tile,
                counts: &counts,
            };
            let outcome = self
                .assembler
                .accept_tile(result.job_id, tile, now, message.again);
            (result.job_id, outcome)
        } else {
            let envelope = match wire::decode(payload) {
                Ok(envelope) => envelope,
                // Set aside the first time.
                Err(_) if message.again => return Ok(Answer::default()),
                Err(error) => {
                    return Ok(Answer {
                        dead_letter: Some(error.to_string().into()),
                        ..Answer::default()
                    })
                }
            };
            let job_id = envelope.job_id;
            let written = self.written.as_ref().is_some_and(|w| w.contains(job_id));
            // The markers are logged whenever they come, a BEGIN after its image too.
            let outcome = match envelope.message {
                Message::Begin(job) if written && !message.again => Outcome::LateBegin { job },
                Message::Result(_) | Message::Begin(_) if written => {
                    return Ok(self.written_already(job_id).unwrap_or_default())
                }
                _ => self.assembler.accept(envelope, now, message.again),
            };
            (job_id, outcome)
        };
        if self.assembler.assembles(job_id) {
            self.first_seen.entry(job_id).or_insert(now);
        }
        let mut answer = self.outcome(job_id, outcome)?;
        let moves = self.assembler.take_moves();
        self.moved(moves, &mut answer.holds);
        Ok(answer)
    }

    fn tick(&mut self, now: Instant) -> Holds<JobId> {
        self.assembler.expire(now);
        let mut holds = Holds::default();
        let moves = self.assembler.take_moves();
        self.moved(moves, &mut holds);
        holds
    }

    /// Jobs whose partitions another assembler took: it assembles them from the last commit.
    fn lost(&mut self, jobs: &[JobId]) {
        for job_id in jobs {
            self.assembler.forget(*job_id);
            self.first_seen.remove(job_id);
            self.progress.remove(job_id);
        }
        metrics()
            .jobs_in_flight
            .set(self.assembler.in_flight() as i64);
    }

    /// New partitions are read from their last commit, which may be below jobs that the
    /// assembler who had them wrote into the same directory: the record is read again.
    fn assigned(&mut self) -> Result<(), io::Error> {
        let Some(written) = &mut self.written else {
            return Ok(());
        };
        let dir = self.output.dir.display();
        let found = written
            .refresh()
            .map_err(|e| io::Error::new(e.kind(), format!("reading {dir}: {e}")))?;
        if found > 0 {
            info!(
                "{found} more images in {} are of jobs written already (by another \
                 assembler): those are not written again",
                self.output.dir.display()
            );
        }
        Ok(())
    }
}

impl ImageHandler {
    /// The answer to a message of a job whose image is in the directory: nothing to do, and
    /// if it was being assembled here (another assembler wrote it meanwhile), it goes.
    fn written_already(&mut self, job_id: JobId) -> Option<Answer<JobId>> {
        if !self.written.as_ref()?.contains(job_id) {
            return None;
        }
        if !self.assembler.assembles(job_id) {
            return Some(Answer::default());
        }
        self.assembler.forget(job_id);
        let mut answer = release(job_id);
        let moves = self.assembler.take_moves();
        self.moved(moves, &mut answer.holds);
        Some(answer)
    }

    /// What the member does with an outcome of the assembler.
    fn outcome(&mut self, job_id: JobId, outcome: Outcome) -> Result<Answer<JobId>, io::Error> {
        let answer = match outcome {
            Outcome::Begin { .. } | Outcome::LateBegin { .. } | Outcome::End { .. } => {
                self.marker(job_id, outcome)
            }
            Outcome::Progress { done, total } => {
                self.progress
                    .entry(job_id)
                    .or_insert_with(|| {
                        Progress::new(&format!("job {:016x}", job_id.0), total.into(), "tiles")
                    })
                    .show(done.into());
                hold(job_id)
            }
            Outcome::Complete(image) => {
                self.progress.remove(&job_id);
                self.complete(image)?
            }
            Outcome::Duplicate => Answer::default(),
            Outcome::SetAside => hold(job_id),
            Outcome::Failed { refusal } => self.failed(job_id, &refusal),
            Outcome::Conflict(conflict) => self.conflict(job_id, conflict),
            Outcome::Rejected { reason } => Answer {
                dead_letter: Some(reason.into()),
                ..Answer::default()
            },
        };
        Ok(answer)
    }

    /// Logs a BEGIN or END marker, as the original did; a BEGIN holds its job.
    fn marker(&mut self, job_id: JobId, marker: Outcome) -> Answer<JobId> {
        match marker {
            Outcome::Begin { job } => {
                info!(
                    job = %Hex(job_id.0),
                    tiles = job.grid.tiles(),
                    "Received BEGIN marker, creating image of size {} x {} (job {:016x}, {} tiles)",
                    job.grid.width,
                    job.grid.height,
                    job_id.0,
                    job.grid.tiles()
                );
                hold(job_id)
            }
            Outcome::LateBegin { job } => {
                info!(
                    job = %Hex(job_id.0),
                    "Received BEGIN marker, image of size {} x {} already written (job {:016x})",
                    job.grid.width, job.grid.height, job_id.0
                );
                Answer::default()
            }
            Outcome::End { tiles } => {
                info!(
                    job = %Hex(job_id.0),
                    tiles,
                    "Received END marker (job {:016x}: {tiles} tiles were sent)",
                    job_id.0
                );
                Answer::default()
            }
            _ => Answer::default(),
        }
    }

    /// A worker refused a tile: the job failed, and its holds end.
    fn failed(&mut self, job_id: JobId, refusal: &Refusal) -> Answer<JobId> {
        self.progress.remove(&job_id);
        self.first_seen.remove(&job_id);
        metrics().jobs_failed.inc();
        warn!(
            job = %Hex(job_id.0),
            tile = refusal.tile.map(|t| t.0),
            "Job {:016x} failed: a worker refused tile {:?}: {:?}",
            job_id.0,
            refusal.tile.map(|t| t.0),
            refusal.reason
        );
        release(job_id)
    }

    /// Writes a whole image, unless it is in the directory already.
    fn complete(&mut self, image: Image) -> Result<Answer<JobId>, io::Error> {
        let job_id = image.job_id;
        info!(
            job = %Hex(job_id.0),
            "All {} tiles of job {:016x} received, writing image to file",
            image.job.grid.tiles(),
            job_id.0
        );
        let output = &self.output;
        let write = || -> io::Result<PathBuf> {
            // Before the PNG, whose link is the record that the job was written: a job
            // written has its counts too. A replayed job's counts replace the same counts.
            if let Some(dir) = &output.raw_dir {
                let path = dir.join(format!("job-{:016x}.npy", job_id.0));
                raw::write(&path, &image, raw::Place::Replace).map_err(|e| {
                    io::Error::new(e.kind(), format!("its counts, {}: {e}", path.display()))
                })?;
                info!(job = %Hex(job_id.0), path = %path.display(), "Counts written to {}", path.display());
            }
            output
                .png
                .write_output(output.file.as_deref(), &output.dir, &image)
        };
        let written = match &mut self.written {
            Some(record) => record.write_once(job_id, write),
            None => write().map(Once::Wrote),
        }
        .map_err(|e| {
            let why = format!("writing the image of job {:016x}: {e}", job_id.0);
            io::Error::new(e.kind(), why)
        })?;
        let first = self.first_seen.remove(&job_id);
        match written {
            Once::Wrote(path) => {
                info!(job = %Hex(job_id.0), path = %path.display(), "Output file is: {}", path.display());
                let first = first.unwrap_or_else(Instant::now);
                metrics().job_seconds.observe(first.elapsed().as_secs_f64());
                metrics().jobs_completed.inc();
            }
            Once::There => info!(
                job = %Hex(job_id.0),
                "Job {:016x} is complete, but its image was written already (by another \
                 assembler sharing {}): not written again",
                job_id.0,
                self.output.dir.display()
            ),
        }
        fault::point("after-link");
        Ok(Answer {
            done: self.output.file.is_some(),
            ..release(job_id)
        })
    }

    /// Reports a conflict: logged, counted, and the copy at hand copied to the dead-letter
    /// topic with both digests and the verdict. The job goes on, unless it was unsettled.
    fn conflict(&mut self, job_id: JobId, conflict: Conflict) -> Answer<JobId> {
        metrics().conflicting_results.inc();
        warn!(
            job = %Hex(job_id.0),
            tile = conflict.tile.0,
            "Job {:016x} tile {}: two copies differ (sha256 {} held, {} now): {}",
            job_id.0,
            conflict.tile.0,
            conflict.held,
            conflict.this,
            conflict.verdict.says()
        );
        let letter = Letter {
            reason: format!(
                "a second copy of tile {} differs from the first: {}",
                conflict.tile.0,
                conflict.verdict.says()
            ),
            headers: vec![
                ("fixedbrot.held-sha256", conflict.held),
                ("fixedbrot.this-sha256", conflict.this),
            ],
        };
        let fate = if conflict.verdict == Verdict::Unsettled {
            self.progress.remove(&job_id);
            self.first_seen.remove(&job_id);
            metrics().jobs_failed.inc();
            release(job_id)
        } else {
            hold(job_id)
        };
        Answer {
            dead_letter: Some(letter),
            ..fate
        }
    }

    /// Logs what the assembler moved and turns it into holds: jobs set aside keep theirs,
    /// jobs read again rewind to theirs, expired and forgotten jobs release theirs.
    fn moved(&mut self, moves: Moves, holds: &mut Holds<JobId>) {
        // Every message and tick ends here: what is kept per job follows the assembler, so a
        // job it dropped (a rejected tile, an END of a job written) leaves nothing behind.
        metrics()
            .jobs_in_flight
            .set(self.assembler.in_flight() as i64);
        let assembler = &self.assembler;
        self.first_seen
            .retain(|job_id, _| assembler.assembles(*job_id));
        self.progress
            .retain(|job_id, _| assembler.assembles(*job_id));
        for job in &moves.set_aside {
            info!(
                job = %Hex(job.job_id.0),
                "Job {:016x} set aside to make room (--max-jobs, --max-mib): it had {} of {} \
                 tiles and no new one for {} s; it is read again once it gets one and there \
                 is room",
                job.job_id.0,
                job.had,
                job.total,
                job.idle.as_secs()
            );
        }
        for job_id in moves.read_again {
            info!(job = %Hex(job_id.0), "Job {:016x} has room again: reading it again", job_id.0);
            holds.read_again.push(job_id);
        }
        for job in moves.expired {
            let shown: Vec<u32> = job.first_missing.iter().map(|t| t.0).collect();
            let which = if job.set_aside {
                "set aside to make room".to_string()
            } else {
                format!("first {shown:?}")
            };
            warn!(
                job = %Hex(job.job_id.0),
                missing = job.missing,
                "Job {:016x} expired after {} s without a new tile: {} of {} tiles missing ({which})",
                job.job_id.0,
                job.idle.as_secs(),
                job.missing,
                job.total
            );
            holds.release.push(job.job_id);
            metrics().jobs_expired.inc();
        }
        for job in moves.forgotten {
            warn!(
                job = %Hex(job.job_id.0),
                "Job {:016x} forgotten: jobs set aside fill --max-mib; it had {} of {} tiles \
                 and no new one for {} s; a later tile of it starts it afresh",
                job.job_id.0,
                job.had,
                job.total,
                job.idle.as_secs()
            );
            holds.release.push(job.job_id);
            metrics().jobs_forgotten.inc();
        }
    }
}
