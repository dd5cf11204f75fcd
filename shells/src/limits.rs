//! Resource limits of the shells: settings with sane defaults, checked before any allocation.
use std::time::Duration;

use fixedbrot_core::wire::{Reason, TileRequest};
use fixedbrot_core::{Job, Rect};

/// What a process accepts. The core's own limits (65,535-pixel sides, 4,096-pixel tiles)
/// stand behind these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest image, in pixels: 4 bytes each while it is assembled.
    pub max_pixels: u64,
    /// Largest iteration limit: a worker's time per tile grows with it.
    pub max_iterations: u32,
    /// Most kernel steps one request may ask for: its tile's pixels times the iteration
    /// limit. Bounds a worker's time per request, so one request cannot hold it for minutes.
    pub max_work: u64,
    /// Most jobs assembled at once.
    pub max_jobs: usize,
    /// Most bytes of tiles held at once, over all jobs.
    pub max_bytes: u64,
    /// A job with no new tile for this long is logged with what is missing, and freed.
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // 16384 x 16384: 1 GiB of counts.
            max_pixels: 1 << 28,
            max_iterations: 1 << 24,
            // A few seconds of one core in the worst case: a 64x64 tile at 262,144
            // iterations, or a 1x1 tile at 2^24.
            max_work: 1 << 30,
            max_jobs: 16,
            max_bytes: 2 << 30,
            idle: Duration::from_secs(300),
        }
    }
}

impl Limits {
    /// Refuses a job this process will not hold, saying which limit and how to raise it.
    pub fn admit(&self, job: &Job) -> Result<(), String> {
        let pixels = job.grid.pixels();
        if pixels > self.max_pixels {
            return Err(format!(
                "{}x{} is {pixels} pixels, above the limit of {} (--max-pixels)",
                job.grid.width, job.grid.height, self.max_pixels
            ));
        }
        if job.iterations > self.max_iterations {
            return Err(format!(
                "{} iterations is above the limit of {} (--max-iterations)",
                job.iterations, self.max_iterations
            ));
        }
        Ok(())
    }

    /// Refuses a job to compute whose largest tile is over `--max-work`, or that
    /// [`Limits::admit`] refuses.
    pub fn admit_work(&self, job: &Job) -> Result<(), String> {
        self.admit(job)?;
        let grid = job.grid;
        let largest = Rect {
            x: 0,
            y: 0,
            width: grid.tile_width.min(grid.width),
            height: grid.tile_height.min(grid.height),
        };
        self.check_work(job, largest)
    }

    /// Why a worker refuses `request`, and its reason on the wire; `None` if it computes it.
    pub fn refuse(&self, request: &TileRequest) -> Option<(Reason, String)> {
        let job = &request.job;
        if let Err(text) = self.admit(job) {
            return Some((Reason::InvalidJob, text));
        }
        let rect = job.grid.rect(request.tile)?;
        self.check_work(job, rect).err().map(|text| {
            let reason = Reason::TooMuchWork {
                max_work: self.max_work,
            };
            (reason, format!("tile {}: {text}", request.tile.0))
        })
    }

    /// Refuses `tile` of `job` if its kernel steps are over `--max-work`.
    pub fn check_work(&self, job: &Job, tile: Rect) -> Result<(), String> {
        let work = tile.pixels() as u64 * u64::from(job.iterations);
        if work <= self.max_work {
            return Ok(());
        }
        Err(format!(
            "{}x{} pixels at {} iterations is {work} steps, above the limit of {} steps per \
             tile (--max-work): use smaller tiles or fewer iterations, or raise it",
            tile.width, tile.height, job.iterations, self.max_work
        ))
    }
}
