//! The in-process worker pool: a job's tiles computed on threads of this process and
//! assembled here, no broker. `render` computes its one job on it; `serve` computes each
//! explorer tile and download on it.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::thread;
use std::time::Instant;

use fixedbrot_core::wire::{Envelope, TileRequest};
use fixedbrot_core::{Job, JobId, TileIndex};
use fixedbrot_pipeline::assembler::{Conflict, Outcome};
use fixedbrot_pipeline::{worker, Assembler, Image, JobKey, Limits};

use crate::log::{debug, Progress};

/// Why a job computed here has no image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failed {
    /// `cancel` was set: the workers stopped taking tiles.
    Cancelled,
    /// A worker refused the job, or the assembler did; the reason, one line.
    Refused(String),
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failed::Cancelled => f.write_str("cancelled"),
            Failed::Refused(reason) => f.write_str(reason),
        }
    }
}

/// The job's image, its tiles computed on `threads` threads, unless `cancel` is set first
/// (it is read between tiles, so a cancelled job stops within a tile's time).
///
/// Workers take tiles by number and hand their results to the assembler (this thread)
/// decoded, boxed: no request or result is encoded, and no lock is shared, since the threads
/// waking each other took a sixth of the time.
pub fn compute(
    job_id: JobId,
    job: Job,
    threads: usize,
    limits: Limits,
    cancel: &AtomicBool,
) -> Result<Image, Failed> {
    let next_tile = AtomicU64::new(0);
    let tiles = u64::from(job.grid.tiles());
    let (results_tx, results_rx) = sync_channel::<Box<Envelope>>(threads * 16);
    thread::scope(|scope| {
        for worker in 0..threads {
            let (results, next_tile) = (results_tx.clone(), &next_tile);
            scope.spawn(move || loop {
                let tile = next_tile.fetch_add(1, Ordering::Relaxed);
                if tile >= tiles || cancel.load(Ordering::Relaxed) {
                    debug!(worker, "Worker {worker}: no tiles left");
                    break;
                }
                // Below the tile count, so a u32.
                let request = TileRequest {
                    job,
                    tile: TileIndex(tile as u32),
                };
                if results
                    .send(worker::result(job_id, &request, &limits))
                    .is_err()
                {
                    break; // the assembler gave up
                }
            });
        }
        drop(results_tx);
        match assemble(job_id, job, results_rx, limits) {
            Err(_) if cancel.load(Ordering::Relaxed) => Err(Failed::Cancelled),
            other => other.map_err(Failed::Refused),
        }
    })
}

/// The assembler's limits for the one job it computes, under `limits`: it holds that job
/// whole, however large `--max-pixels` let it be (an image's own limit is `--max-mib`,
/// which an in-process job has no use for).
pub fn assembler_limits(limits: Limits) -> Limits {
    Limits {
        max_bytes: u64::MAX,
        ..limits
    }
}

fn assemble(
    job_id: JobId,
    job: Job,
    results: std::sync::mpsc::Receiver<Box<Envelope>>,
    limits: Limits,
) -> Result<Image, String> {
    let mut assembler = Assembler::new(assembler_limits(limits), Instant::now());
    assembler
        .open(JobKey::new(job_id, &job), &job)
        .map_err(|over| over.to_string())?;
    let progress = Progress::new("render", job.grid.tiles().into(), "tiles");
    for envelope in results {
        match assembler.accept(*envelope, Instant::now(), false) {
            Outcome::Progress { done, .. } => progress.show(done.into()),
            Outcome::Complete(image) => return Ok(image),
            Outcome::Failed { refusal, .. } => {
                return Err(format!("a worker refused the job: {}", refusal.reason))
            }
            Outcome::Rejected { reason } => return Err(reason),
            // Each tile is computed once here: two copies would be a bug, said as one.
            Outcome::Conflict(Conflict { tile, .. }) | Outcome::Unsettled { tile } => {
                return Err(format!(
                    "tile {} was computed twice with different counts",
                    tile.0
                ))
            }
            Outcome::Begin { .. }
            | Outcome::LateBegin { .. }
            | Outcome::End { .. }
            | Outcome::Duplicate => {}
            // One job in the limits it was admitted under: nothing takes its room.
            Outcome::SetAside => return Err("the image was set aside".into()),
        }
    }
    Err("the workers stopped before the image was complete".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixedbrot_core::Format;

    /// Before, render stopped at about 2^29 pixels whatever --max-pixels said, naming
    /// --max-mib, a flag it does not have.
    #[test]
    fn render_holds_any_job_its_max_pixels_admits() {
        let limits = Limits {
            max_pixels: 65_535 * 65_535,
            ..Limits::default()
        };
        let job = fixedbrot_tests::cases::job(
            Format::I4F28,
            "-2,1.5",
            "1,-1.5",
            (65_535, 65_535),
            64,
            (64, 64),
        );
        assert_eq!(limits.admit(&job), Ok(()));
        assert!(
            Assembler::new(limits, Instant::now()).admit(&job).is_err(),
            "an image's --max-mib"
        );
        let holds_any = Assembler::new(assembler_limits(limits), Instant::now());
        assert_eq!(holds_any.admit(&job), Ok(()));
    }
}
