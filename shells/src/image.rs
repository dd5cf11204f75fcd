//! `fixedbrot image`: the assembler in consumer group `Mandelbrot.Image.Connector`. Writes a
//! PNG per completed job, and commits a partition's offset only below its oldest unfinished
//! job, so a restart replays every tile it has not written yet.
use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fixedbrot_core::wire;
use fixedbrot_core::JobId;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::producer::Producer;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::assembler::{Assembler, Outcome};
use crate::kafka::{self, DeadLetters, KafkaArgs};
use crate::limits::Limits;
use crate::log::Progress;
use crate::picture::{self, Png};
use crate::{info, warn};

/// The original's consumer group of image assemblers.
pub const GROUP: &str = "Mandelbrot.Image.Connector";

/// Where finished job ids are recorded in the output directory, so a replay after a restart
/// does not write an image twice.
const FINISHED_FILE: &str = ".fixedbrot-finished";

/// Where and how images are written.
pub struct Output {
    pub dir: PathBuf,
    /// Write the first completed image here and exit.
    pub file: Option<PathBuf>,
    /// How images are written.
    pub png: Png,
}

/// Notes the partitions this assembler loses, so it stops committing for them: their new
/// owner starts from the last commit, at or below their oldest unfinished job.
#[derive(Default)]
struct Assignment {
    revoked: Mutex<Vec<i32>>,
}

impl ClientContext for Assignment {}

impl ConsumerContext for Assignment {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            let mut revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
            revoked.extend(partitions.elements().iter().map(|e| e.partition()));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        kafka::log_assignment(rebalance);
    }
}

/// Assembles jobs from the responses topic until `--output` is written (or forever).
pub fn run(kafka: &KafkaArgs, output: &Output, limits: Limits) -> Result<(), String> {
    let client_id = kafka::client_id(GROUP);
    let dirs = [
        Some(output.dir.as_path()),
        output.file.as_deref().and_then(Path::parent),
    ];
    for dir in dirs
        .into_iter()
        .flatten()
        .filter(|d| !d.as_os_str().is_empty())
    {
        fs::create_dir_all(dir).map_err(|e| format!("output directory {}: {e}", dir.display()))?;
    }
    // Found now, not at the first finished job (and again at every restart).
    match &output.file {
        Some(file) => picture::check_new_file(file)
            .map_err(|e| format!("--output {}: {e}", file.display()))?,
        None => picture::check_writable_dir(&output.dir)
            .map_err(|e| format!("--output-dir {}: {e}", output.dir.display()))?,
    }
    let producer = kafka.producer(&client_id)?;
    kafka.require_topics(
        producer.client(),
        &[&kafka.responses_topic, &kafka.responses_dead_letters()],
    )?;
    let consumer: BaseConsumer<Assignment> = kafka
        .config(
            &client_id,
            &[
                ("group.id", GROUP),
                ("enable.auto.commit", "false"),
                ("auto.offset.reset", "earliest"),
                // A killed member's partitions move to the others after 10 s, not 45.
                ("session.timeout.ms", "10000"),
            ],
        )
        .create_with_context(Assignment::default())
        .map_err(|e| format!("Kafka consumer: {e}"))?;
    let topic = kafka.responses_topic.as_str();
    consumer
        .subscribe(&[topic])
        .map_err(|e| format!("subscribing to {topic}: {e}"))?;
    match &output.file {
        Some(file) => info!(
            "Assembling the first image from {topic} into {}",
            file.display()
        ),
        None => info!(
            "Assembling images from {topic} into {}",
            output.dir.display()
        ),
    }

    let mut assembler = Assembler::new(limits);
    // The record lives beside the images it speaks for.
    let images_dir = match output.file.as_deref().and_then(Path::parent) {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        Some(_) => Path::new("."),
        None => output.dir.as_path(),
    };
    let finished_path = images_dir.join(FINISHED_FILE);
    for job_id in read_finished(&finished_path) {
        assembler.mark_finished(job_id);
    }
    let mut dead_letters = DeadLetters::new(kafka, topic);
    // Per partition: the next offset to read, and the first offset of each unfinished job.
    let mut next: HashMap<i32, i64> = HashMap::new();
    let mut open: HashMap<JobId, (i32, i64)> = HashMap::new();
    let mut committed: HashMap<i32, i64> = HashMap::new();
    let mut last_commit = Instant::now();
    let progress = Progress::new();
    loop {
        let polled = consumer.poll(Duration::from_millis(100));
        let revoked = std::mem::take(
            &mut *consumer
                .context()
                .revoked
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for partition in revoked {
            next.remove(&partition);
            committed.remove(&partition);
            // Their new owner assembles them; drop them here without calling them finished.
            open.retain(|&job_id, (p, _)| {
                let keep = *p != partition;
                if !keep {
                    assembler.forget(job_id);
                }
                keep
            });
        }
        if let Some(message) = polled {
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    warn!("consuming {topic}: {error}");
                    continue;
                }
            };
            let (partition, offset) = (message.partition(), message.offset());
            next.insert(partition, offset + 1);
            let payload = message.payload().unwrap_or_default();
            let envelope = match wire::decode(payload) {
                Ok(envelope) => envelope,
                Err(error) => {
                    dead_letters.set_aside(
                        &producer,
                        message.payload(),
                        message.key(),
                        (partition, offset),
                        &error.to_string(),
                        None,
                    )?;
                    continue;
                }
            };
            let job_id = envelope.job_id;
            match assembler.accept(envelope, Instant::now()) {
                Outcome::Begin { job } => {
                    open.entry(job_id).or_insert((partition, offset));
                    info!(
                        "Received BEGIN marker, creating image of size {} x {} (job {:016x}, {} tiles)",
                        job.grid.width, job.grid.height, job_id.0, job.grid.tiles()
                    );
                }
                Outcome::LateBegin { job } => info!(
                    "Received BEGIN marker, image of size {} x {} already written (job {:016x})",
                    job.grid.width, job.grid.height, job_id.0
                ),
                Outcome::End { tiles } => {
                    info!(
                        "Received END marker (job {:016x}: {tiles} tiles were sent)",
                        job_id.0
                    )
                }
                Outcome::Progress { done, total } => {
                    open.entry(job_id).or_insert((partition, offset));
                    progress.show(&format!("job {:016x}", job_id.0), done.into(), total.into());
                }
                Outcome::Complete(image) => {
                    progress.clear();
                    info!(
                        "All {} tiles of job {:016x} received, writing image to file",
                        image.job.grid.tiles(),
                        job_id.0
                    );
                    let written = match &output.file {
                        Some(path) => output.png.write(path, &image).map(|()| path.clone()),
                        None => output.png.write_new(&output.dir, &image),
                    };
                    let path = written
                        .map_err(|e| format!("writing the image of job {:016x}: {e}", job_id.0))?;
                    record_finished(&finished_path, job_id)?;
                    open.remove(&job_id);
                    info!("Output file is: {}", path.display());
                    if output.file.is_some() {
                        commit(
                            &consumer,
                            topic,
                            &next,
                            &open,
                            &mut committed,
                            CommitMode::Sync,
                        );
                        return Ok(());
                    }
                }
                Outcome::Duplicate => {}
                Outcome::Failed { refusal } => {
                    open.remove(&job_id);
                    warn!(
                        "Job {:016x} failed: a worker refused tile {:?}: {:?}",
                        job_id.0,
                        refusal.tile.map(|t| t.0),
                        refusal.reason
                    );
                }
                Outcome::Rejected { reason } => {
                    dead_letters.set_aside(
                        &producer,
                        message.payload(),
                        message.key(),
                        (partition, offset),
                        &reason,
                        None,
                    )?;
                }
            }
        }
        for expired in assembler.expire(Instant::now()) {
            open.remove(&expired.job_id);
            let shown: Vec<u32> = expired.first_missing.iter().map(|t| t.0).collect();
            warn!(
                "Job {:016x} expired after {} s without a new tile: {} of {} tiles missing, first {shown:?}",
                expired.job_id.0,
                limits.idle.as_secs(),
                expired.missing,
                expired.total
            );
        }
        // Dead letters must be delivered before the offsets past them are committed.
        if last_commit.elapsed() >= Duration::from_millis(500) && producer.in_flight_count() == 0 {
            commit(
                &consumer,
                topic,
                &next,
                &open,
                &mut committed,
                CommitMode::Async,
            );
            last_commit = Instant::now();
        }
    }
}

/// Commits, per partition, the first offset of its oldest unfinished job, or the next offset
/// to read when it has none.
fn commit<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    next: &HashMap<i32, i64>,
    open: &HashMap<JobId, (i32, i64)>,
    committed: &mut HashMap<i32, i64>,
    mode: CommitMode,
) {
    let mut list = TopicPartitionList::new();
    for (&partition, &next_offset) in next {
        let safe = open
            .values()
            .filter(|(p, _)| *p == partition)
            .map(|&(_, offset)| offset)
            .min()
            .unwrap_or(next_offset);
        if committed.get(&partition) != Some(&safe) {
            committed.insert(partition, safe);
            let _ = list.add_partition_offset(topic, partition, Offset::Offset(safe));
        }
    }
    if list.count() > 0 {
        if let Err(error) = consumer.commit(&list, mode) {
            warn!("committing {topic} offsets: {error}");
        }
    }
}

fn read_finished(path: &Path) -> Vec<JobId> {
    let text = fs::read_to_string(path).unwrap_or_default();
    let ids: Vec<JobId> = text
        .lines()
        .filter_map(|line| u64::from_str_radix(line.trim(), 16).ok())
        .map(JobId)
        .collect();
    // The assembler keeps only the newest; so does the file, rewritten when it grows.
    let keep = crate::assembler::FINISHED_MEMORY;
    if ids.len() > 2 * keep {
        let newest = &ids[ids.len() - keep..];
        let text: String = newest.iter().map(|id| format!("{:016x}\n", id.0)).collect();
        let _ = fs::write(path, text);
        return newest.to_vec();
    }
    ids
}

fn record_finished(path: &Path, job_id: JobId) -> Result<(), String> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| writeln!(file, "{:016x}", job_id.0))
        .map_err(|e| {
            format!(
                "recording job {:016x} as written in {}: {e}",
                job_id.0,
                path.display()
            )
        })
}
