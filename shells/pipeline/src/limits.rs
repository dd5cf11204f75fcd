//! Resource limits of the shells: settings with sane defaults, checked before any allocation.
use std::fmt;
use std::time::Duration;

use fixedbrot_core::wire::{Reason, TileRequest};
use fixedbrot_core::{Format, Job, Kernel, Rect, PERTURBED_STEP_COST};

use crate::orbits;

/// What a process accepts. The core's own limits (65,535-pixel sides, 4,096-pixel tiles)
/// stand behind these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest image, in pixels: 4 bytes each while it is assembled.
    pub max_pixels: u64,
    /// Largest iteration limit: a worker's time per tile grows with it.
    pub max_iterations: u32,
    /// Most work one request may ask for: its tile's pixels times the iteration limit times
    /// the cost of a step of its format ([`Job::work`]). Bounds a worker's time per request,
    /// so one request cannot hold it for minutes.
    pub max_work: u64,
    /// Most jobs assembled at once.
    pub max_jobs: usize,
    /// Most bytes of tiles held at once, over all jobs.
    pub max_bytes: u64,
    /// A job with no new tile for this long is logged with what is missing, and freed.
    pub idle: Duration,
    /// Most bytes of perturbation jobs' reference orbits held at once (32 bytes an
    /// iteration), and so the longest orbit computed.
    pub max_orbit_bytes: u64,
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
            // An orbit at the default --max-iterations, 2^24, is 384 MiB.
            max_orbit_bytes: 512 << 20,
        }
    }
}

/// A limit a job or a tile is over: which, by how much, and the flag that raises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverLimit {
    /// The image has more pixels than `--max-pixels`.
    Pixels {
        /// Its size.
        width: u32,
        /// Its size.
        height: u32,
        /// The limit.
        max: u64,
    },
    /// The iteration limit is above `--max-iterations`.
    Iterations {
        /// The job's.
        iterations: u32,
        /// The limit.
        max: u32,
    },
    /// A tile's kernel steps, pixels times iterations, are above `--max-work`.
    Work {
        /// The tile's rectangle.
        tile: Rect,
        /// The job's iteration limit.
        iterations: u32,
        /// The job's format, whose steps cost more the wider it is.
        format: Format,
        /// The job's kernel: a perturbed step's cost is the same in every format.
        kernel: Kernel,
        /// The tile's work ([`Job::work`]).
        work: u64,
        /// The limit.
        max: u64,
    },
    /// The job's reference orbit would take more bytes than `--max-orbit-mib`.
    Orbit {
        /// What it would take, at most.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// The job's tiles would take more bytes than all jobs may hold (`--max-mib`).
    Memory {
        /// What its whole image takes.
        bytes: u64,
        /// The limit.
        max: u64,
    },
}

impl OverLimit {
    /// The reason a worker refuses a request over it with, on the wire: a tile over
    /// `--max-work` has a reason of its own; any other limit makes the job invalid here.
    pub fn reason(&self) -> Reason {
        match self {
            OverLimit::Work { max, .. } => Reason::TooMuchWork { max_work: *max },
            OverLimit::Orbit { max, .. } => Reason::OrbitTooLong {
                max_points: u32::try_from(max / orbits::POINT_BYTES).unwrap_or(u32::MAX),
            },
            _ => Reason::InvalidJob,
        }
    }
}

impl fmt::Display for OverLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            OverLimit::Pixels { width, height, max } => {
                let pixels = u64::from(width) * u64::from(height);
                write!(
                    f,
                    "{width}x{height} is {pixels} pixels, above the limit of {max} (--max-pixels)"
                )
            }
            OverLimit::Iterations { iterations, max } => write!(
                f,
                "{iterations} iterations is above the limit of {max} (--max-iterations)"
            ),
            OverLimit::Work { .. } => self.say_work(f),
            OverLimit::Orbit { bytes, max } => write!(
                f,
                "the job's reference orbit would take up to {bytes} bytes ({} an iteration, {} with \
                 perturbation-v2's table), more than {max} (--max-orbit-mib): use fewer \
                 iterations, or raise it",
                orbits::POINT_BYTES,
                orbits::POINT_BYTES + 2 * orbits::MAP_BYTES
            ),
            OverLimit::Memory { bytes, max } => write!(
                f,
                "its tiles would take {bytes} bytes, more than all jobs may hold ({max} bytes, \
                 --max-mib)"
            ),
        }
    }
}

impl OverLimit {
    /// What [`OverLimit::Work`] says: the tile, what its work counts, and what to change.
    fn say_work(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let OverLimit::Work {
            tile,
            iterations,
            format,
            kernel,
            work,
            max,
        } = *self
        else {
            return Ok(());
        };
        write!(
            f,
            "{}x{} pixels at {iterations} iterations",
            tile.width, tile.height
        )?;
        match (kernel.is_perturbation(), format.step_cost()) {
            (false, 1) => write!(f, " is {work} steps")?,
            (false, cost) => write!(
                f,
                " in {format} (a step of {} bits costs {cost} narrow ones) is {work} \
                 steps' work",
                format.bits()
            )?,
            (true, _) => write!(
                f,
                " by {kernel} in {format} is {work} steps' work (a perturbed step costs \
                 {PERTURBED_STEP_COST} narrow ones, and the reference orbit's steps count too)"
            )?,
        }
        let advice = match tile.pixels() {
            1 => "use fewer iterations",
            _ => "use smaller tiles or fewer iterations",
        };
        write!(
            f,
            ", above the limit of {max} per tile (--max-work): {advice}, or raise it"
        )
    }
}

impl std::error::Error for OverLimit {}

impl Limits {
    /// Refuses a job this process will not hold, saying which limit and how to raise it.
    pub fn admit(&self, job: &Job) -> Result<(), OverLimit> {
        if job.grid.pixels() > self.max_pixels {
            return Err(OverLimit::Pixels {
                width: job.grid.width,
                height: job.grid.height,
                max: self.max_pixels,
            });
        }
        if job.iterations > self.max_iterations {
            return Err(OverLimit::Iterations {
                iterations: job.iterations,
                max: self.max_iterations,
            });
        }
        Ok(())
    }

    /// Refuses a job to compute whose largest tile is over `--max-work` or whose reference
    /// orbit is over `--max-orbit-mib`, or that [`Limits::admit`] refuses.
    pub fn admit_work(&self, job: &Job) -> Result<(), OverLimit> {
        self.admit(job)?;
        self.check_orbit(job)?;
        let grid = job.grid;
        let largest = Rect {
            x: 0,
            y: 0,
            width: grid.tile_width.min(grid.width),
            height: grid.tile_height.min(grid.height),
        };
        self.check_work(job, largest)
    }

    /// Why a worker refuses `request`; `None` if it computes it.
    pub fn refuse(&self, request: &TileRequest) -> Option<OverLimit> {
        let job = &request.job;
        if let Err(over) = self.admit(job) {
            return Some(over);
        }
        if let Err(over) = self.check_orbit(job) {
            return Some(over);
        }
        let rect = job.grid.rect(request.tile)?;
        self.check_work(job, rect).err()
    }

    /// Refuses a perturbation job whose reference orbit can be over `--max-orbit-mib`.
    pub fn check_orbit(&self, job: &Job) -> Result<(), OverLimit> {
        let bytes = orbits::most_bytes(job);
        if job.kernel.is_perturbation() && bytes > self.max_orbit_bytes {
            return Err(OverLimit::Orbit {
                bytes,
                max: self.max_orbit_bytes,
            });
        }
        Ok(())
    }

    /// Refuses `tile` of `job` if its work is over `--max-work`.
    pub fn check_work(&self, job: &Job, tile: Rect) -> Result<(), OverLimit> {
        if job.work(tile) <= self.max_work {
            return Ok(());
        }
        Err(OverLimit::Work {
            tile,
            iterations: job.iterations,
            format: job.format,
            kernel: job.kernel,
            work: job.work(tile),
            max: self.max_work,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixedbrot_core::{TileIndex, Width};
    use fixedbrot_tests::cases::job;

    /// The cost of width: a step of `w` 64-bit words costs `24 + w²` narrow ones (within a
    /// third of the measured ratio to 1,024 bits, above it beyond), and `--max-work` refuses
    /// by it, saying what the format costs.
    #[test]
    fn a_wide_step_costs_its_squares_and_max_work_counts_it() {
        let cost = |bits| Format::from_bits(bits).unwrap().step_cost();
        assert_eq!([cost(32), cost(64)], [1, 1]);
        assert_eq!([cost(96), cost(128), cost(256)], [28, 28, 40]);
        assert_eq!([cost(1024), cost(4096)], [24 + 256, 24 + 4096]);
        assert_eq!(cost(Width::WIDEST.bits()), 4120);
        let limits = Limits {
            max_work: 64 * 64 * 1000 * 40,
            ..Limits::default()
        };
        let in_format = |format| job(format, "-2,1.5", "1,-1.5", (64, 64), 1000, (64, 64));
        let narrow = in_format(Format::I4F60);
        let at_256 = in_format(Format::from_bits(256).unwrap());
        let at_288 = in_format(Format::from_bits(288).unwrap());
        let tile = narrow.grid.rect(TileIndex(0)).unwrap();
        assert_eq!(narrow.work(tile) * 40, at_256.work(tile));
        assert_eq!(limits.admit_work(&narrow), Ok(()));
        assert_eq!(limits.admit_work(&at_256), Ok(()));
        let over = limits.admit_work(&at_288).unwrap_err();
        assert_eq!(
            over.reason(),
            Reason::TooMuchWork {
                max_work: limits.max_work
            }
        );
        let said = over.to_string();
        assert!(
            said.contains("I4F284") && said.contains("costs 49 narrow ones"),
            "{said}"
        );
    }
}
