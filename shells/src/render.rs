//! `fixedbrot render`: workers and the assembler in one process, no broker. Workers take the
//! tiles by number; their results reach the same assembler the `image` role uses.
use std::error::Error;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::thread;
use std::time::Instant;

use fixedbrot_core::wire::{Envelope, TileRequest};
use fixedbrot_core::{Job, JobId, TileIndex};
use fixedbrot_pipeline::assembler::{Conflict, Outcome};
use fixedbrot_pipeline::{cpu, plan, worker, Assembler, Image, JobKey, Limits};

use crate::cli::RenderArgs;
use crate::log::{debug, info, Progress};
use crate::output::{self, raw, Colouring, Png};

/// Renders job `job_id`, as the flags describe it, and writes its PNG.
pub fn run(
    args: &RenderArgs,
    job_id: JobId,
    job: Job,
    colouring: Colouring,
) -> Result<(), Box<dyn Error>> {
    let threads = args
        .threads
        .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let started = Instant::now();
    info!(
        "Rendering {} on {threads} threads, {}",
        plan::describe(&job),
        cpu::Lanes::detect().describe()
    );
    let image = compute(job_id, job, threads, args.limits.limits())?;
    let seconds = started.elapsed().as_secs_f64();
    // Deep zooms render thousands of pixels a second, not millions.
    let rate = image.counts.len() as f64 / seconds;
    if rate >= 1e5 {
        info!("Rendered in {seconds:.3} s: {:.1} Mpixel/s", rate / 1e6);
    } else {
        info!("Rendered in {seconds:.3} s: {rate:.0} pixels/s");
    }
    if let Some(path) = &args.raw {
        output::remove_abandoned_beside(path);
        raw::write(path, &image, raw::Place::New)
            .map_err(|e| format!("cannot write the counts to {}: {e}", path.display()))?;
        info!("Counts written to {}", path.display());
    }
    let png = Png { colouring, threads };
    output::remove_abandoned_beside(args.output.as_deref().unwrap_or(Path::new("image.png")));
    let path = png
        .write_output(args.output.as_deref(), Path::new("."), &image)
        .map_err(|e| format!("cannot write the image: {e}"))?;
    info!(
        "Output file is: {} (written in {:.3} s)",
        path.display(),
        started.elapsed().as_secs_f64() - seconds
    );
    Ok(())
}

/// The job's image, its tiles computed on `threads` threads.
///
/// Workers take tiles by number and hand their results to the assembler (this thread)
/// decoded, boxed: no request or result is encoded, and no lock is shared, since the threads
/// waking each other took a sixth of the time.
fn compute(job_id: JobId, job: Job, threads: usize, limits: Limits) -> Result<Image, String> {
    let next_tile = AtomicU64::new(0);
    let tiles = u64::from(job.grid.tiles());
    let (results_tx, results_rx) = sync_channel::<Box<Envelope>>(threads * 16);
    thread::scope(|scope| {
        for worker in 0..threads {
            let (results, next_tile) = (results_tx.clone(), &next_tile);
            scope.spawn(move || loop {
                let tile = next_tile.fetch_add(1, Ordering::Relaxed);
                if tile >= tiles {
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
        assemble(job_id, job, results_rx, limits)
    })
}

/// The assembler's limits for the one job `render` made itself, under `limits`: it holds
/// that job whole, however large `--max-pixels` let it be (an image's own limit is
/// `--max-mib`, which render has no use for).
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
