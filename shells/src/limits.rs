//! Resource limits of the shells: settings with sane defaults, checked before any allocation.
use std::time::Duration;

use fixedbrot_core::Job;

/// What a process accepts. The core's own limits (65,535-pixel sides, 4,096-pixel tiles)
/// stand behind these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest image, in pixels: 4 bytes each while it is assembled.
    pub max_pixels: u64,
    /// Largest iteration limit: a worker's time per tile grows with it.
    pub max_iterations: u32,
    /// Most jobs assembled at once.
    pub max_jobs: usize,
    /// Most bytes of count buffers held at once, over all jobs.
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
            max_jobs: 16,
            max_bytes: 2 << 30,
            idle: Duration::from_secs(300),
        }
    }
}

impl Limits {
    /// Refuses a job this process will not take on, saying which limit and how to raise it.
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
}
