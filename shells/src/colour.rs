//! `fixedbrot colour`: counts that `render --raw` or `image --raw-dir` wrote, coloured by a
//! palette into a PNG; nothing is computed.
use std::path::Path;
use std::time::Instant;

use crate::cli::ColourArgs;
use crate::log::info;
use crate::output::{self, raw, Colouring, Png};

/// Colours the counts the flags name into a PNG.
pub fn run(args: &ColourArgs, colouring: Colouring) -> Result<(), String> {
    let started = Instant::now();
    let image = raw::read(&args.file, args.max_pixels)?;
    let png = Png {
        colouring,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    output::remove_abandoned_beside(args.output.as_deref().unwrap_or(Path::new("image.png")));
    let path = png
        .write_output(args.output.as_deref(), Path::new("."), &image)
        .map_err(|e| format!("cannot write the image: {e}"))?;
    info!(
        "Output file is: {} (job {:016x}, {}, {:.3} s)",
        path.display(),
        image.job_id.0,
        png.colouring.describe(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
