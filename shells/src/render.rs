//! `fixedbrot render`: generator, workers and assembler in one process, over channels that
//! carry the same encoded messages Kafka would. No broker.
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use fixedbrot_core::wire;

use crate::assembler::{Assembler, Outcome};
use crate::cli::RenderArgs;
use crate::limits::Limits;
use crate::log::Progress;
use crate::{cpu, info, picture, plan, worker};

/// Renders the job the flags describe and writes its PNG.
pub fn run(args: &RenderArgs, job: fixedbrot_core::Job) -> Result<(), String> {
    let threads = args
        .threads
        .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let limits = args.limits.limits();
    let job_id = plan::new_job_id();
    let started = Instant::now();
    info!(
        "Rendering {} on {threads} threads, {}",
        plan::describe(&job),
        cpu::Lanes::detect().describe()
    );
    // Bounded channels: the generator runs only a little ahead of the workers.
    let (requests_tx, requests_rx) = sync_channel::<Vec<u8>>(threads * 4);
    let (responses_tx, responses_rx) = sync_channel::<Vec<u8>>(threads * 4);
    let requests_rx = Arc::new(Mutex::new(requests_rx));
    let image = thread::scope(|scope| {
        scope.spawn(move || {
            for (_, bytes) in plan::messages(job_id, job) {
                if requests_tx.send(bytes).is_err() {
                    break; // the assembler gave up
                }
            }
        });
        for _ in 0..threads {
            let (requests, responses) = (Arc::clone(&requests_rx), responses_tx.clone());
            scope.spawn(move || loop {
                let next = requests
                    .lock()
                    .map_err(|_| ())
                    .and_then(|rx| rx.recv().map_err(|_| ()));
                let Ok(bytes) = next else { break };
                if let Some((_, reply)) = worker::answer(&bytes, &limits).reply {
                    if responses.send(reply).is_err() {
                        break;
                    }
                }
            });
        }
        drop(responses_tx);
        assemble(responses_rx, limits)
    })?;
    let seconds = started.elapsed().as_secs_f64();
    info!(
        "Rendered in {:.3} s: {:.1} Mpixel/s",
        seconds,
        image.counts.len() as f64 / seconds / 1e6
    );
    let png = picture::Png {
        palette: args.palette,
        threads,
    };
    let path = match &args.output {
        Some(path) => png
            .write(path, &image)
            .map(|()| path.clone())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        None => png
            .write_new(std::path::Path::new("."), &image)
            .map_err(|e| format!("cannot write the image: {e}"))?,
    };
    info!(
        "Output file is: {} (written in {:.3} s)",
        path.display(),
        started.elapsed().as_secs_f64() - seconds
    );
    Ok(())
}

fn assemble(
    responses: std::sync::mpsc::Receiver<Vec<u8>>,
    limits: Limits,
) -> Result<crate::assembler::Image, String> {
    let mut assembler = Assembler::new(limits);
    let progress = Progress::new();
    for bytes in responses {
        let envelope = wire::decode(&bytes).map_err(|e| format!("a worker's answer: {e}"))?;
        match assembler.accept(envelope, Instant::now()) {
            Outcome::Progress { done, total } => progress.show("render", done.into(), total.into()),
            Outcome::Complete(image) => {
                progress.clear();
                return Ok(image);
            }
            Outcome::Failed { refusal } => {
                return Err(format!("a worker refused the job: {:?}", refusal.reason))
            }
            Outcome::Rejected { reason } => return Err(reason),
            Outcome::Begin { .. }
            | Outcome::LateBegin { .. }
            | Outcome::End { .. }
            | Outcome::Duplicate => {}
        }
    }
    Err("the workers stopped before the image was complete".into())
}
