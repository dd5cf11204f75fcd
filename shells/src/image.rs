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

use fixedbrot_core::smooth::Smooth;
use fixedbrot_core::wire::{self, Envelope, Message, Refusal};
use fixedbrot_core::{JobId, TileIndex};
use fixedbrot_pipeline::assembler::{Conflict, Expired, Moves, Outcome, Tile};
use fixedbrot_pipeline::{
    Answer, Assembler, Handler, Holds, Image, Incoming, JobKey, Letter, Limits,
};
use rdkafka::producer::{Producer, ThreadedProducer};

use crate::fault;
use crate::kafka::{self, AtLeastOnce, Deliveries, KafkaArgs, Member, Prefetch, IMAGE_GROUP};
use crate::log::{info, warn, Hex, Progress};
use crate::metrics::metrics;
use crate::output::written::key_of;
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
        // --output's directory (the output directory's is cleaned with its record).
        let file_dir = self
            .file
            .as_deref()
            .map(|file| file.parent().filter(|d| !d.as_os_str().is_empty()))
            .map(|dir| dir.unwrap_or(Path::new(".")));
        for dir in [self.raw_dir.as_deref(), file_dir].into_iter().flatten() {
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
        // It replies with nothing but dead letters, which keep their own headers.
        worker: String::new(),
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
    progress: BTreeMap<JobKey, Progress>,
    /// When each job being assembled sent its first message here, for its latency.
    first_seen: BTreeMap<JobKey, Instant>,
}

/// A job's first message holds its offset until the job is written, fails or expires.
fn hold(key: JobKey) -> Answer<JobKey> {
    Answer {
        hold: Some(key),
        ..Answer::default()
    }
}

/// The jobs' holds end.
fn release(keys: impl IntoIterator<Item = JobKey>) -> Answer<JobKey> {
    Answer {
        holds: Holds {
            release: keys.into_iter().collect(),
            ..Holds::default()
        },
        ..Answer::default()
    }
}

/// A message's job: its id, and its definition when the message carries one.
type Whose = (JobId, Option<JobKey>);

/// What a message that is not a result read on its own came to.
#[allow(
    clippy::large_enum_variant,
    reason = "one a message, moved once; a job's 2 KiB view is no reason to allocate"
)]
enum Read {
    /// The assembler took it.
    Assembled(Whose, Outcome),
    /// It is answered at once (a dead letter, a job written).
    Answered(Answer<JobKey>),
}

impl Handler for ImageHandler {
    type Key = JobKey;
    type Error = io::Error;

    fn handle(&mut self, message: &Incoming<'_>) -> Result<Answer<JobKey>, io::Error> {
        let payload = message.payload.unwrap_or_default();
        let now = Instant::now();
        // Results, nearly every message, are read without building a 16 KiB envelope each.
        let (whose, outcome) = if let Some(result) = wire::decode_result(payload) {
            let key = JobKey::new(result.job_id, &result.job);
            if let Some(answer) = self.written_already(&key) {
                return Ok(answer);
            }
            let fractions = result.job.fractions(result.len());
            let (counts, smooth): (Vec<u32>, Vec<Smooth>) = result.pixels().unzip();
            let tile = Tile {
                job: result.job,
                index: result.tile,
                counts: &counts,
                smooth: &smooth[..fractions],
            };
            let outcome = self.assembler.accept_tile(key, tile, now, message.again);
            ((key.id, Some(key)), outcome)
        } else {
            match self.envelope(payload, now, message.again) {
                Read::Assembled(whose, outcome) => (whose, outcome),
                Read::Answered(answer) => return Ok(answer),
            }
        };
        if let Some(key) = whose.1.filter(|key| self.assembler.assembles(key)) {
            self.first_seen.entry(key).or_insert(now);
        }
        let mut answer = self.outcome(whose, outcome)?;
        let moves = self.assembler.take_moves();
        self.moved(moves, &mut answer.holds);
        Ok(answer)
    }

    fn tick(&mut self, now: Instant) -> Holds<JobKey> {
        self.assembler.expire(now);
        let mut holds = Holds::default();
        let moves = self.assembler.take_moves();
        self.moved(moves, &mut holds);
        holds
    }

    /// Jobs whose partitions another assembler took: it assembles them from the last commit.
    fn lost(&mut self, keys: &[JobKey]) {
        for key in keys {
            self.assembler.forget(key);
            self.first_seen.remove(key);
            self.progress.remove(key);
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
    /// A message that is not a result read on its own, decoded whole: whose it is and what
    /// the assembler made of it, or the answer at once (a dead letter, a job written).
    fn envelope(&mut self, payload: &[u8], now: Instant, again: bool) -> Read {
        let envelope = match wire::decode(payload) {
            Ok(envelope) => envelope,
            // Dead-lettered the first time.
            Err(_) if again => return Read::Answered(Answer::default()),
            Err(error) => {
                return Read::Answered(Answer {
                    dead_letter: Some(error.to_string().into()),
                    ..Answer::default()
                })
            }
        };
        let id = envelope.job_id;
        let key = match &envelope.message {
            Message::Begin(job) => Some(JobKey::new(id, job)),
            Message::Result(result) => Some(JobKey::new(id, &result.job)),
            _ => None,
        };
        let written = (self.written.as_ref())
            .is_some_and(|w| key.as_ref().is_some_and(|key| w.contains(key)));
        // The markers are logged whenever they come, a BEGIN after its image too.
        let outcome = match (envelope.message, key) {
            (Message::Begin(job), _) if written && !again => Outcome::LateBegin { job },
            (Message::Begin(_) | Message::Result(_), Some(key)) if written => {
                return Read::Answered(self.written_already(&key).unwrap_or_default());
            }
            (message, _) => {
                let envelope = Envelope {
                    job_id: id,
                    message,
                };
                self.assembler.accept(envelope, now, again)
            }
        };
        Read::Assembled((id, key), outcome)
    }

    /// The answer to a message of a job whose image is in the directory: nothing to do, and
    /// if it was being assembled here (another assembler wrote it meanwhile), it goes.
    fn written_already(&mut self, key: &JobKey) -> Option<Answer<JobKey>> {
        if !self.written.as_ref()?.contains(key) {
            return None;
        }
        if !self.assembler.assembles(key) {
            return Some(Answer::default());
        }
        self.assembler.forget(key);
        let mut answer = release([*key]);
        let moves = self.assembler.take_moves();
        self.moved(moves, &mut answer.holds);
        Some(answer)
    }

    /// What the member does with an outcome of the assembler.
    fn outcome(&mut self, whose: Whose, outcome: Outcome) -> Result<Answer<JobKey>, io::Error> {
        let (id, key) = whose;
        let answer = match (outcome, key) {
            (Outcome::Progress { done, total }, Some(key)) => {
                self.progress
                    .entry(key)
                    .or_insert_with(|| {
                        Progress::new(&format!("job {:016x}", id.0), total.into(), "tiles")
                    })
                    .show(done.into());
                hold(key)
            }
            (Outcome::Complete(image), _) => self.complete(image)?,
            (Outcome::Conflict(conflict), Some(key)) => self.conflict(key, conflict),
            (begin @ Outcome::Begin { .. }, Some(key)) => {
                self.marker(id, &begin);
                hold(key)
            }
            (Outcome::SetAside, Some(key)) => hold(key),
            (Outcome::Failed { refusal, dropped }, _) => self.failed(id, &refusal, dropped),
            (Outcome::Unsettled { tile }, Some(key)) => self.unsettled(key, tile),
            (Outcome::Rejected { reason }, _) => Answer {
                dead_letter: Some(reason.into()),
                ..Answer::default()
            },
            (other, _) => {
                self.marker(id, &other);
                Answer::default()
            }
        };
        Ok(answer)
    }

    /// Logs a BEGIN or END marker, as the original did.
    fn marker(&self, id: JobId, marker: &Outcome) {
        match marker {
            Outcome::Begin { job } => info!(
                job = %Hex(id.0),
                tiles = job.grid.tiles(),
                "Received BEGIN marker, creating image of size {} x {} (job {:016x}, {} tiles)",
                job.grid.width,
                job.grid.height,
                id.0,
                job.grid.tiles()
            ),
            Outcome::LateBegin { job } => info!(
                job = %Hex(id.0),
                "Received BEGIN marker, image of size {} x {} already written (job {:016x})",
                job.grid.width, job.grid.height, id.0
            ),
            Outcome::End { tiles } => info!(
                job = %Hex(id.0),
                tiles,
                "Received END marker (job {:016x}: {tiles} tiles were sent)",
                id.0
            ),
            _ => {}
        }
    }

    /// A worker refused a tile: the jobs of its id failed, and their holds end.
    fn failed(&mut self, id: JobId, refusal: &Refusal, dropped: Vec<JobKey>) -> Answer<JobKey> {
        metrics().jobs_failed.inc();
        warn!(
            job = %Hex(id.0),
            tile = refusal.tile.map(|t| t.0),
            "Job {:016x} failed: a worker refused {}: {}",
            id.0,
            refusal
                .tile
                .map_or("it".to_string(), |tile| format!("tile {}", tile.0)),
            refusal.reason
        );
        release(dropped)
    }

    /// A disputed tile this assembler may not compute: the job fails, its holds end.
    fn unsettled(&mut self, key: JobKey, tile: TileIndex) -> Answer<JobKey> {
        metrics().jobs_failed.inc();
        warn!(
            job = %Hex(key.id.0),
            tile = tile.0,
            "Job {:016x} failed: tile {} came in two different copies, and it is over \
             --max-work here, so this assembler may not compute it to settle them",
            key.id.0,
            tile.0
        );
        release([key])
    }

    /// Writes a whole image, unless it is in the directory already.
    fn complete(&mut self, image: Image) -> Result<Answer<JobKey>, io::Error> {
        let key = key_of(&image);
        let job_id = image.job_id;
        info!(
            job = %Hex(job_id.0),
            "All {} tiles of job {:016x} received, writing image to file",
            image.job.grid.tiles(),
            job_id.0
        );
        let written = self.write(&image).map_err(|e| {
            let why = format!("writing the image of job {:016x}: {e}", job_id.0);
            io::Error::new(e.kind(), why)
        })?;
        let first = self.first_seen.remove(&key);
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
            ..release([key])
        })
    }

    /// Writes an image and, with `--raw-dir`, its counts: once, if there is a record.
    fn write(&mut self, image: &Image) -> io::Result<Once> {
        let output = &self.output;
        let job_id = image.job_id;
        if output.png.colouring.uses_fractions() && !image.job.smooth {
            // Not an error: its counts still colour it, only in bands.
            warn!(
                job = %Hex(job_id.0),
                "Job {:016x} carries no smooth fractions (generated with --counts-only): \
                 coloured by its counts, in bands",
                job_id.0
            );
        }
        let write = || -> io::Result<PathBuf> {
            // Before the PNG, whose link is the record that the job was written: a job
            // written has its counts too. A replayed job's counts replace the same counts.
            if let Some(dir) = &output.raw_dir {
                // Named by id and definition, as jobs are: a forged job under a real id
                // writes counts of its own, not over the real job's (a probe of 4146cb4).
                let definition = key_of(image).definition;
                let definition: String =
                    definition[..8].iter().map(|b| format!("{b:02x}")).collect();
                let path = dir.join(format!("job-{:016x}-{definition}.npy", job_id.0));
                raw::write(&path, image, raw::Place::Replace).map_err(|e| {
                    io::Error::new(e.kind(), format!("its counts, {}: {e}", path.display()))
                })?;
                info!(job = %Hex(job_id.0), path = %path.display(), "Counts written to {}", path.display());
            }
            output
                .png
                .write_output(output.file.as_deref(), &output.dir, image)
        };
        match &mut self.written {
            Some(record) => record.write_once(&key_of(image), write),
            None => write().map(Once::Wrote),
        }
    }

    /// Reports a conflict: logged, counted, and the copy at hand copied to the dead-letter
    /// topic with both digests. The tile is settled when the job is complete.
    fn conflict(&mut self, key: JobKey, conflict: Conflict) -> Answer<JobKey> {
        metrics().conflicting_results.inc();
        let (id, tile) = (key.id.0, conflict.tile.0);
        warn!(
            job = %Hex(id),
            tile,
            "Job {id:016x} tile {tile}: two copies differ (sha256 {} held, {} now); the tile \
             is computed here when the job is complete",
            conflict.held,
            conflict.this,
        );
        let letter = Letter {
            reason: format!(
                "a second copy of tile {tile} differs from the first: the assembler computes \
                 the tile when its job is complete and keeps its own counts"
            ),
            headers: vec![
                ("fixedbrot.held-sha256", conflict.held),
                ("fixedbrot.this-sha256", conflict.this),
            ],
        };
        Answer {
            dead_letter: Some(letter),
            ..hold(key)
        }
    }

    /// Logs what the assembler moved and turns it into holds: jobs set aside keep theirs,
    /// jobs read again rewind to theirs, expired and forgotten jobs release theirs.
    fn moved(&mut self, moves: Moves, holds: &mut Holds<JobKey>) {
        // Every message and tick ends here: what is kept per job follows the assembler, so a
        // job it dropped (a rejected tile, an END of a job written) leaves nothing behind.
        metrics()
            .jobs_in_flight
            .set(self.assembler.in_flight() as i64);
        let assembler = &self.assembler;
        self.first_seen.retain(|key, _| assembler.assembles(key));
        self.progress.retain(|key, _| assembler.assembles(key));
        for job in &moves.set_aside {
            info!(
                job = %Hex(job.key.id.0),
                "Job {:016x} set aside to make room (--max-jobs, --max-mib): it had {} of {} \
                 tiles and no new one for {} s; it is read again once it gets one and its \
                 whole image fits",
                job.key.id.0,
                job.had,
                job.total,
                job.idle.as_secs()
            );
        }
        for key in moves.read_again {
            info!(job = %Hex(key.id.0), "Job {:016x} has room again: reading it again", key.id.0);
            holds.read_again.push(key);
        }
        for job in moves.expired {
            self.expired(&job);
            holds.release.push(job.key);
        }
        for job in moves.forgotten {
            warn!(
                job = %Hex(job.key.id.0),
                "Job {:016x} forgotten: records of jobs set aside fill --max-mib; the {} of {} \
                 tiles it had are given up (committed past), so it completes only if they \
                 come again",
                job.key.id.0,
                job.had,
                job.total,
            );
            holds.release.push(job.key);
            metrics().jobs_forgotten.inc();
        }
        for settled in moves.settled {
            let (id, tile) = (settled.key.id.0, settled.tile.0);
            if settled.replaced {
                warn!(job = %Hex(id), tile, "Job {id:016x} tile {tile}: the copy held was wrong; the tile's own counts, computed here, replaced it");
            } else {
                info!(job = %Hex(id), tile, "Job {id:016x} tile {tile}: the copy held is the tile's own counts, computed here");
            }
        }
    }

    /// Logs a job that expired.
    fn expired(&self, job: &Expired) {
        let shown: Vec<u32> = job.first_missing.iter().map(|t| t.0).collect();
        let which = if job.set_aside {
            "set aside to make room".to_string()
        } else {
            format!("first {shown:?}")
        };
        warn!(
            job = %Hex(job.key.id.0),
            missing = job.missing,
            "Job {:016x} expired after {} s without a new tile: {} of {} tiles missing ({which})",
            job.key.id.0,
            job.idle.as_secs(),
            job.missing,
            job.total
        );
        metrics().jobs_expired.inc();
    }
}
