//! `fixedbrot render`: workers and the assembler in one process, no broker. Workers take the
//! tiles by number; their results reach the same assembler the `image` role uses.
use std::error::Error;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::thread;
use std::time::Instant;

use fixedbrot_core::{Job, JobId};
use fixedbrot_pipeline::{cpu, plan};

use crate::cli::RenderArgs;
use crate::local;
use crate::log::info;
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
    let never = AtomicBool::new(false);
    let image = local::compute(job_id, job, threads, args.limits.limits(), &never)
        .map_err(|failed| failed.to_string())?;
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
