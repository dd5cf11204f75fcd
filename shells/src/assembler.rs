//! Assembles tile results into whole images, whatever their order, duplicates and
//! interleaving with other jobs. Pure: the caller feeds messages and the clock.
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use fixedbrot_core::wire::{Envelope, Message, Refusal, TileResult};
use fixedbrot_core::{Job, JobId, TileIndex};

use crate::limits::Limits;

/// How many finished jobs are remembered, so a replay does not write them again.
pub const FINISHED_MEMORY: usize = 4096;

/// A finished image: its job and its counts, row-major.
#[derive(Debug)]
pub struct Image {
    pub job: Job,
    pub counts: Vec<u32>,
}

/// What one message did.
#[derive(Debug)]
pub enum Outcome {
    /// A BEGIN marker: the job now has a buffer.
    Begin { job: Job },
    /// A BEGIN marker of a job already written: it took a slower path than the job's tiles.
    /// Nothing changes.
    LateBegin { job: Job },
    /// An END marker: informative, since completion is counted.
    End { tiles: u32 },
    /// A new tile; `done` of `total` have arrived.
    Progress { done: u32, total: u32 },
    /// The last missing tile: the image is whole, and its job forgotten.
    Complete(Image),
    /// A tile already received, or a message of a job already written: nothing changes.
    Duplicate,
    /// A worker refused a tile: the job failed and is freed.
    Failed { refusal: Refusal },
    /// The message does not belong here (inconsistent with its job, over a limit, or a kind
    /// this topic does not carry): set it aside, with the reason.
    Rejected { reason: String },
}

/// How many missing tiles an expired job names: enough for a log line, bounded whatever the
/// job's size.
const MISSING_SHOWN: usize = 20;

/// A job freed after the idle timeout, with the tiles it still lacked.
#[derive(Debug)]
pub struct Expired {
    pub job_id: JobId,
    /// How many tiles were missing.
    pub missing: u32,
    /// The first of them, at most MISSING_SHOWN.
    pub first_missing: Vec<TileIndex>,
    pub total: u32,
}

struct Partial {
    job: Job,
    counts: Vec<u32>,
    received: Vec<bool>,
    done: u32,
    last_seen: Instant,
}

/// Jobs in flight, bounded by [`Limits`], and a bounded memory of finished ones.
pub struct Assembler {
    limits: Limits,
    jobs: HashMap<JobId, Partial>,
    bytes: u64,
    finished: RecentIds,
    refused: RecentIds,
}

/// The last `FINISHED_MEMORY` job ids inserted, oldest forgotten first.
#[derive(Default)]
struct RecentIds {
    ids: HashSet<JobId>,
    order: VecDeque<JobId>,
}

impl RecentIds {
    fn insert(&mut self, job_id: JobId) {
        if self.ids.insert(job_id) {
            self.order.push_back(job_id);
        }
        while self.order.len() > FINISHED_MEMORY {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }

    fn contains(&self, job_id: &JobId) -> bool {
        self.ids.contains(job_id)
    }
}

impl Assembler {
    pub fn new(limits: Limits) -> Assembler {
        Assembler {
            limits,
            jobs: HashMap::new(),
            bytes: 0,
            finished: RecentIds::default(),
            refused: RecentIds::default(),
        }
    }

    /// Jobs being assembled.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.jobs.len()
    }

    /// Takes one decoded message.
    pub fn accept(&mut self, envelope: Envelope, now: Instant) -> Outcome {
        let job_id = envelope.job_id;
        match envelope.message {
            // A BEGIN may arrive after the job's tiles, even after its image: they take other
            // paths through the workers.
            Message::Begin(job) => match self.open(job_id, &job, now) {
                Ok(_) if self.jobs.contains_key(&job_id) => Outcome::Begin { job },
                Ok(_) => Outcome::LateBegin { job },
                Err(reason) => Outcome::Rejected { reason },
            },
            Message::End(end) => Outcome::End { tiles: end.tiles },
            Message::Result(result) => self.tile(job_id, result, now),
            Message::Refused(refusal) => {
                if let Some(partial) = self.jobs.remove(&job_id) {
                    self.bytes -= buffer_bytes(&partial.job);
                }
                // Failed for good: later tiles of it must not open it again.
                self.finished.insert(job_id);
                Outcome::Failed { refusal }
            }
            Message::Request(_) => Outcome::Rejected {
                reason: "a tile request on the responses topic".into(),
            },
        }
    }

    /// Frees jobs idle for longer than the limit.
    pub fn expire(&mut self, now: Instant) -> Vec<Expired> {
        let idle = self.limits.idle;
        let stale: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.last_seen) > idle)
            .map(|(&id, _)| id)
            .collect();
        stale
            .into_iter()
            .filter_map(|job_id| {
                let partial = self.jobs.remove(&job_id)?;
                self.bytes -= buffer_bytes(&partial.job);
                // Freed for good: tiles arriving later must not open it again.
                self.finished.insert(job_id);
                let total = partial.job.grid.tiles();
                let missing = (0..total).filter(|&t| !partial.received[t as usize]);
                Some(Expired {
                    job_id,
                    missing: total - partial.done,
                    first_missing: missing.take(MISSING_SHOWN).map(TileIndex).collect(),
                    total,
                })
            })
            .collect()
    }

    /// Opens a job's buffer; `Ok(false)` if it is already open or already written.
    fn open(&mut self, job_id: JobId, job: &Job, now: Instant) -> Result<bool, String> {
        if self.finished.contains(&job_id) {
            return Ok(false);
        }
        if let Some(partial) = self.jobs.get(&job_id) {
            return if partial.job == *job {
                Ok(false)
            } else {
                Err("its job differs from the job first seen with this id".into())
            };
        }
        if self.refused.contains(&job_id) {
            return Err("its job was refused when it arrived (over capacity)".into());
        }
        self.limits.admit(job)?;
        let bytes = buffer_bytes(job);
        if bytes > self.limits.max_bytes {
            return Err(format!(
                "its {bytes} bytes of counts are more than all jobs may hold ({} bytes)",
                self.limits.max_bytes
            ));
        }
        // Over capacity the whole job is set aside, every message of it, so the dead-letter
        // topic holds all of it for a replay, and no half of it lingers here.
        let full = if self.jobs.len() >= self.limits.max_jobs {
            Some(format!("{} jobs are in flight already", self.jobs.len()))
        } else if self.bytes + bytes > self.limits.max_bytes {
            Some(format!(
                "its {bytes} bytes would take the jobs in flight over {} bytes",
                self.limits.max_bytes
            ))
        } else {
            None
        };
        if let Some(reason) = full {
            self.refused.insert(job_id);
            return Err(reason);
        }
        let tiles = job.grid.tiles() as usize;
        self.jobs.insert(
            job_id,
            Partial {
                job: *job,
                counts: vec![0; job.grid.pixels() as usize],
                received: vec![false; tiles],
                done: 0,
                last_seen: now,
            },
        );
        self.bytes += bytes;
        Ok(true)
    }

    fn tile(&mut self, job_id: JobId, result: TileResult, now: Instant) -> Outcome {
        if let Err(reason) = self.open(job_id, &result.job, now) {
            return Outcome::Rejected { reason };
        }
        let Some(partial) = self.jobs.get_mut(&job_id) else {
            return Outcome::Duplicate; // written already
        };
        partial.last_seen = now;
        let index = result.tile.0 as usize;
        if partial.received[index] {
            return Outcome::Duplicate;
        }
        // Decoding checked that the tile is in the job and the counts fill it exactly.
        let grid = partial.job.grid;
        let Some(rect) = grid.rect(result.tile) else {
            return Outcome::Rejected {
                reason: "tile outside its job".into(),
            };
        };
        for (row, counts) in result.counts.chunks(rect.width as usize).enumerate() {
            let start = (rect.y as usize + row) * grid.width as usize + rect.x as usize;
            partial.counts[start..start + counts.len()].copy_from_slice(counts);
        }
        partial.received[index] = true;
        partial.done += 1;
        let (done, total) = (partial.done, grid.tiles());
        if done < total {
            return Outcome::Progress { done, total };
        }
        let partial = self.jobs.remove(&job_id).expect("present above");
        self.bytes -= buffer_bytes(&partial.job);
        self.finished.insert(job_id);
        Outcome::Complete(Image {
            job: partial.job,
            counts: partial.counts,
        })
    }

    /// Drops a job in flight without recording it as finished (another assembler took it).
    pub fn forget(&mut self, job_id: JobId) {
        if let Some(partial) = self.jobs.remove(&job_id) {
            self.bytes -= buffer_bytes(&partial.job);
        }
    }

    /// Records a job as written already (after a restart, from the output directory's record).
    pub fn mark_finished(&mut self, job_id: JobId) {
        self.finished.insert(job_id);
    }
}

fn buffer_bytes(job: &Job) -> u64 {
    job.grid.pixels() * 4 + u64::from(job.grid.tiles())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixedbrot_core::wire::{End, Reason, TileRequest};
    use fixedbrot_core::Format;
    use fixedbrot_tests::cases::job;
    use std::time::Duration;

    use crate::worker;

    fn small_job() -> Job {
        job(Format::I4F28, "-2,1.5", "1,-1.5", (30, 20), 64, (8, 8))
    }

    /// Every tile result of a job, computed by the worker, decoded.
    fn results(job_id: JobId, job: Job) -> Vec<Envelope> {
        (0..job.grid.tiles())
            .map(|t| {
                let request = TileRequest {
                    job,
                    tile: TileIndex(t),
                };
                fixedbrot_core::wire::decode(&worker::compute(job_id, &request)).unwrap()
            })
            .collect()
    }

    fn feed(assembler: &mut Assembler, envelopes: Vec<Envelope>) -> Vec<Image> {
        let now = Instant::now();
        envelopes
            .into_iter()
            .filter_map(|e| match assembler.accept(e, now) {
                Outcome::Complete(image) => Some(image),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn image_complete_regardless_of_order_and_duplicates() {
        let (id, job) = (JobId(1), small_job());
        let expected = fixedbrot_tests::render_image(&job);
        let mut shuffled = results(id, job);
        shuffled.reverse();
        shuffled.swap(1, 5);
        let mut with_duplicates = shuffled.clone();
        with_duplicates.insert(3, shuffled[0].clone());
        with_duplicates.insert(0, shuffled[7].clone());
        let mut assembler = Assembler::new(Limits::default());
        let images = feed(&mut assembler, with_duplicates);
        assert_eq!(images.len(), 1);
        assert_eq!(images[0].counts, expected);
        assert_eq!(assembler.in_flight(), 0);
    }

    #[test]
    fn interleaved_jobs_become_separate_images() {
        let (a, b) = (
            small_job(),
            job(Format::I4F60, "-1,1", "0,0", (17, 9), 100, (4, 4)),
        );
        let (ra, rb) = (results(JobId(1), a), results(JobId(2), b));
        let mut mixed = Vec::new();
        for i in 0..ra.len().max(rb.len()) {
            mixed.extend(ra.get(i).cloned());
            mixed.extend(rb.get(i).cloned());
        }
        let images = feed(&mut Assembler::new(Limits::default()), mixed);
        assert_eq!(images.len(), 2);
        for image in images {
            assert_eq!(image.counts, fixedbrot_tests::render_image(&image.job));
        }
    }

    #[test]
    fn a_replayed_job_is_not_written_again() {
        let (id, job) = (JobId(3), small_job());
        let mut assembler = Assembler::new(Limits::default());
        assert_eq!(feed(&mut assembler, results(id, job)).len(), 1);
        assert_eq!(feed(&mut assembler, results(id, job)).len(), 0);
        let begin = Envelope {
            job_id: id,
            message: Message::Begin(job),
        };
        assert!(matches!(
            assembler.accept(begin, Instant::now()),
            Outcome::LateBegin { .. }
        ));
        assert_eq!(assembler.in_flight(), 0);
    }

    #[test]
    fn a_result_whose_job_differs_from_its_ids_first_job_is_rejected() {
        let mut assembler = Assembler::new(Limits::default());
        let first = results(JobId(4), small_job());
        let mut other = small_job();
        other.iterations += 1;
        let second = results(JobId(4), other);
        assert!(matches!(
            assembler.accept(first[0].clone(), Instant::now()),
            Outcome::Progress { .. }
        ));
        assert!(matches!(
            assembler.accept(second[1].clone(), Instant::now()),
            Outcome::Rejected { .. }
        ));
    }

    #[test]
    fn jobs_and_bytes_in_flight_are_capped() {
        let limits = Limits {
            max_jobs: 2,
            ..Limits::default()
        };
        let mut assembler = Assembler::new(limits);
        for id in 0..3 {
            let outcome =
                assembler.accept(results(JobId(id), small_job())[0].clone(), Instant::now());
            assert_eq!(
                matches!(outcome, Outcome::Rejected { .. }),
                id == 2,
                "job {id}"
            );
        }
        // The refused job stays refused, every message of it, even once there is room.
        let later = results(JobId(2), small_job()).swap_remove(1);
        let first = results(JobId(0), small_job());
        feed(&mut assembler, first);
        assert_eq!(assembler.in_flight(), 1);
        assert!(matches!(
            assembler.accept(later, Instant::now()),
            Outcome::Rejected { .. }
        ));
        let tight = Limits {
            max_bytes: 1000,
            ..Limits::default()
        };
        let outcome =
            Assembler::new(tight).accept(results(JobId(9), small_job())[0].clone(), Instant::now());
        assert!(matches!(outcome, Outcome::Rejected { .. }));
    }

    #[test]
    fn an_idle_job_expires_naming_its_missing_tiles() {
        let limits = Limits {
            idle: Duration::from_secs(10),
            ..Limits::default()
        };
        let mut assembler = Assembler::new(limits);
        let start = Instant::now();
        let all = results(JobId(5), small_job());
        let total = all.len() as u32;
        for e in all
            .into_iter()
            .filter(|e| !matches!(&e.message, Message::Result(r) if r.tile.0 == 2 || r.tile.0 == 5))
        {
            assembler.accept(e, start);
        }
        assert!(assembler.expire(start + Duration::from_secs(9)).is_empty());
        let expired = assembler.expire(start + Duration::from_secs(11));
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].missing, 2);
        assert_eq!(expired[0].first_missing, vec![TileIndex(2), TileIndex(5)]);
        assert_eq!(expired[0].total, total);
        assert_eq!(assembler.in_flight(), 0);
        let late = results(JobId(5), small_job()).swap_remove(2);
        assert!(
            matches!(assembler.accept(late, start), Outcome::Duplicate),
            "freed for good"
        );
    }

    #[test]
    fn a_refusal_fails_its_job_and_later_tiles_are_ignored() {
        let mut assembler = Assembler::new(Limits::default());
        let all = results(JobId(6), small_job());
        assembler.accept(all[0].clone(), Instant::now());
        let refusal = Envelope {
            job_id: JobId(6),
            message: Message::Refused(Refusal {
                tile: Some(TileIndex(1)),
                reason: Reason::InvalidJob,
            }),
        };
        assert!(matches!(
            assembler.accept(refusal, Instant::now()),
            Outcome::Failed { .. }
        ));
        assert_eq!(feed(&mut assembler, all).len(), 0);
        assert_eq!(assembler.in_flight(), 0);
    }

    #[test]
    fn markers_are_informative() {
        let mut assembler = Assembler::new(Limits::default());
        let end = Envelope {
            job_id: JobId(7),
            message: Message::End(End { tiles: 12 }),
        };
        assert!(matches!(
            assembler.accept(end, Instant::now()),
            Outcome::End { tiles: 12, .. }
        ));
        assert_eq!(assembler.in_flight(), 0);
    }
}
