//! The escape-time kernel: one point, a batch of points in step, and a tile of a job.
//!
//! One rule everywhere: before each step, escape if re² + im² > 4 (exact, double width);
//! the count is the number of steps taken, `0..=limit`, and `limit` means inside. Points that
//! never escape are recognised early by an exact test, never a guess (see [`Cycles`]).
use crate::arith::{Arith, Lane, Q28, Q60};
use crate::cycles::{Cycles, CHECK_EVERY};
use crate::error::JobError;
use crate::format::Format;
use crate::grid::{Rect, TileIndex};
use crate::job::{Job, Kernel};
use crate::limits::{MAX_TILE_PIXELS, MAX_WIDE_LIMBS};
use crate::perturbation::{self, Reference};
use crate::smooth::{smooth, Smooth};
use crate::trap;
use crate::view::NarrowView;
use crate::view::Point;
use crate::wide::{escape_wide, escape_wide_smooth, Fixed, WidePoint};

/// Points computed in step by [`escape_lanes`] (and by the tile kernels for I4F28): sixteen
/// `i64` lanes are two AVX-512 or four AVX2 vectors per operation, enough independent work to
/// hide the multiplies' latency. 8 lanes measured slower on AVX-512, 32 slower on AVX2.
pub const LANES: usize = 16;

/// Escape time of one point; refuses a point outside the safe range. In a wide format the
/// point's raw bits are those of an `i64`, sign-extended: points within `2^63` ulps of 0.
pub fn escape(format: Format, c: Point, limit: u32) -> Result<u32, JobError> {
    check_point(format, c)?;
    Ok(match format {
        Format::I4F28 => escape_i4f28(c, limit),
        Format::I4F60 => escape_i4f60(c, limit),
        Format::Wide(width) => escape_wide::<MAX_WIDE_LIMBS>(
            &WidePoint {
                re: Fixed::from_i64(width, c.re),
                im: Fixed::from_i64(width, c.im),
            },
            limit,
        ),
    })
}

// The point kernels are never inlined: in a function of its own the loop keeps c and z in
// registers, where inlined into a caller with more live values (the firmware's main loop) it
// spilled them to the stack. Their names are what `scripts/kernel-loops` looks for.

#[inline(never)]
fn escape_i4f28(c: Point, limit: u32) -> u32 {
    escape_one::<Q28>(c, limit).0
}

#[inline(never)]
fn escape_i4f60(c: Point, limit: u32) -> u32 {
    escape_one::<Q60>(c, limit).0
}

#[inline(never)]
fn escape_i4f28_smooth(c: Point, limit: u32) -> (u32, Smooth) {
    escape_one_smooth::<Q28>(c, limit)
}

#[inline(never)]
fn escape_i4f60_smooth(c: Point, limit: u32) -> (u32, Smooth) {
    escape_one_smooth::<Q60>(c, limit)
}

/// Escape times of [`LANES`] points computed in step; exactly what [`escape`] returns for
/// each, only faster where the lanes vectorise (see [`render_tile_in_lanes`]).
#[inline(always)]
pub fn escape_lanes(
    format: Format,
    c: &[Point; LANES],
    limit: u32,
) -> Result<[u32; LANES], JobError> {
    for &point in c {
        check_point(format, point)?;
    }
    Ok(match format {
        Format::I4F28 => escape_batch::<Q28>(c, limit),
        Format::I4F60 => escape_batch::<Q60>(c, limit),
        Format::Wide(_) => c.map(|c| escape(format, c, limit).unwrap_or(0)),
    })
}

/// Renders one tile of a job into `out`, row-major, and returns its rectangle; and into
/// `smooth`, unless it is empty, each pixel's smooth fraction ([`smooth`](crate::smooth)).
///
/// `out`, and `smooth` unless empty, need at least the tile's pixel count; what lies beyond
/// is left untouched. The counts are those of [`escape`] for each pixel, whichever kernel
/// computes them, and asking for the fractions changes none. I4F28 runs in lanes where this
/// build's instruction set vectorises them (AVX2 and up), point by point elsewhere (see
/// [`render_tile_in_lanes`] for the lanes' stack). A caller that knows more about the CPU at
/// run time can call [`render_tile_in_lanes`] from a function compiled for it.
pub fn render_tile(
    job: &Job,
    tile: TileIndex,
    out: &mut [u32],
    smooth: &mut [Smooth],
) -> Result<Rect, JobError> {
    direct(job)?;
    let (rect, out, smooth) = tile_of(job, tile, out, smooth)?;
    match (job.format, job.view.narrow()) {
        (Format::I4F28, Some(view)) if LANES_PAY && fills_a_batch(out) => {
            render_batched::<Q28>(&view, job.iterations, rect, out, smooth)
        }
        // tile_of checked the job.
        _ => render_scalar(&Pixels::checked(job), rect, out, smooth),
    }
    Ok(rect)
}

/// [`render_tile`] with I4F28 in lanes whatever this build's instruction set, and inlined
/// into its caller, so that a caller compiled with wider vectors (a shell's
/// `#[target_feature(enable = "avx512f")]` function, chosen at run time) gets lanes in those
/// vectors. I4F60 runs point by point: its 128-bit products do not vectorise, and so do tiles
/// smaller than a batch. The lanes hold a tile's unfinished points on the stack: about 72 KiB.
#[inline(always)]
pub fn render_tile_in_lanes(
    job: &Job,
    tile: TileIndex,
    out: &mut [u32],
    smooth: &mut [Smooth],
) -> Result<Rect, JobError> {
    direct(job)?;
    let (rect, out, smooth) = tile_of(job, tile, out, smooth)?;
    match (job.format, job.view.narrow()) {
        (Format::I4F28, Some(view)) if fills_a_batch(out) => {
            render_batched::<Q28>(&view, job.iterations, rect, out, smooth)
        }
        // tile_of checked the job.
        _ => render_checked(job, rect, out, smooth),
    }
    Ok(rect)
}

/// [`render_scalar`] of a checked direct job, never inlined: a caller that takes the lanes
/// with wider vectors then holds the lanes alone, which LLVM compiles more steadily (the
/// cusp view 0.25-0.26 s with it against 0.27-0.32 s without, default and seahorse even).
#[inline(never)]
fn render_checked(job: &Job, rect: Rect, out: &mut [u32], smooth: &mut [Smooth]) {
    render_scalar(&Pixels::checked(job), rect, out, smooth)
}

/// Renders one tile of a perturbation job against its reference orbit into `out`, as
/// [`render_tile`](crate::render_tile) renders a direct one; `reference` must be the job's
/// ([`Reference::compute`]).
pub fn render_tile_perturbed(
    job: &Job,
    reference: &Reference,
    tile: TileIndex,
    out: &mut [u32],
    smooth: &mut [Smooth],
) -> Result<Rect, JobError> {
    let (rect, out, smooth) = tile_of(job, tile, out, smooth)?;
    render_scalar(&Pixels::perturbed(job, *reference)?, rect, out, smooth);
    Ok(rect)
}

/// Whether a tile has points for a whole batch of lanes. A smaller one (the original's 1x1
/// tiles) runs point by point: clearing the lanes' 72 KiB of state for a few points took
/// a tenth of a worker's time on 1x1 jobs.
fn fills_a_batch(out: &[u32]) -> bool {
    out.len() >= LANES
}

/// Whether this build's I4F28 lanes pay: with AVX2 (or AVX-512) they run 1.7x to 5x faster
/// than point by point; on baseline x86-64 (no signed 32x32->64 vector multiply) they run
/// slower (BENCHMARKS.md). Elsewhere, AArch64's NEON included, they are unmeasured on real
/// hardware, so tiles run point by point.
const LANES_PAY: bool = cfg!(target_feature = "avx2");

/// The steps every point of a tile takes in lanes before the points still going are packed
/// into fuller batches (see `render_batched`); each phase after it is twice as long.
const FIRST_PHASE: u32 = 32;

/// Steps between two periodicity checks of a batch of lanes. A batch waits for its slowest
/// lane, so finding cycles sooner pays more than the check costs: 4 measured 5% faster than
/// 8 on the default view at 1024 iterations (BENCHMARKS.md).
const LANE_CHECK_EVERY: u32 = 4;

fn check_point(format: Format, c: Point) -> Result<(), JobError> {
    if let Format::Wide(_) = format {
        // Any i64 is far inside the safe range of a format of 96 bits or more.
        return Ok(());
    }
    let bound = format.safe_raw();
    if (-bound..=bound).contains(&c.re) && (-bound..=bound).contains(&c.im) {
        Ok(())
    } else {
        Err(JobError::OutOfRange)
    }
}

/// Refuses a job of another kernel: a perturbation job's tiles need its reference.
#[inline(always)]
fn direct<const L: usize>(job: &Job<L>) -> Result<(), JobError> {
    match job.kernel {
        Kernel::Direct => Ok(()),
        Kernel::PerturbationV1 | Kernel::PerturbationV2 => Err(JobError::NeedsReference),
    }
}

/// The tile's rectangle and the parts of `out` and `smooth` (unless empty) it fills;
/// refuses what cannot be rendered.
#[inline(always)]
fn tile_of<'a, 'b>(
    job: &Job,
    tile: TileIndex,
    out: &'a mut [u32],
    smooth: &'b mut [Smooth],
) -> Result<(Rect, &'a mut [u32], &'b mut [Smooth]), JobError> {
    job.check()?;
    let rect = job.grid.rect(tile).ok_or(JobError::NoSuchTile)?;
    let out = out
        .get_mut(..rect.pixels())
        .ok_or(JobError::BufferTooSmall)?;
    let smooth = match smooth.is_empty() {
        true => smooth,
        false => smooth
            .get_mut(..rect.pixels())
            .ok_or(JobError::BufferTooSmall)?,
    };
    Ok((rect, out, smooth))
}

/// The escape count of `c`, and z where the loop ended: the escaped value when it escaped.
#[inline(always)]
fn escape_one<A: Arith>(c: Point, limit: u32) -> (u32, (A::Z, A::Z)) {
    let c = A::prepare(c);
    let mut z = (A::Z::default(), A::Z::default());
    let mut saved = z;
    let mut cycles = Cycles::new();
    // Whole blocks of CHECK_EVERY steps, written out, then what is left before the limit.
    let whole = limit - limit % CHECK_EVERY;
    let mut steps = 0;
    while steps < whole {
        // Blocks up to the next save, each compared with the saved z; then the save. Two
        // loops, so that the one a board runs for nearly every step holds no more than the
        // block and the compare (`just kernel-loops` counts it).
        let save_at = cycles.next_save().next_multiple_of(CHECK_EVERY).min(whole);
        while steps < save_at {
            if let Err(escaped) = run_block::<A>(&mut z, &c) {
                return (steps + escaped, z);
            }
            steps += CHECK_EVERY;
            if cycles.compare_now(steps) && z == saved {
                return (limit, z);
            }
        }
        if cycles.save_now(steps) {
            // A save is also the moment to ask for a certificate: rare enough to cost nothing
            // a step, and soon enough after the orbit settles (within an eighth).
            if is_trapped_aside::<A>(z, &c, steps) {
                return (limit, z);
            }
            saved = z;
        }
    }
    match run::<A>(&mut z, &c, limit - steps) {
        Ok(_) => (limit, z),
        Err(escaped) => (steps + escaped, z),
    }
}

/// [`escape_one`]'s count and the smooth fraction ([`smooth`]) of its escaped z.
#[inline(always)]
fn escape_one_smooth<A: Arith>(c: Point, limit: u32) -> (u32, Smooth) {
    let (count, z) = escape_one::<A>(c, limit);
    (count, smooth_of::<A>(count, limit, z, c))
}

/// The smooth fraction of a point of count `count` whose loop ended at `z`: 0 for one that
/// never escaped.
#[inline(always)]
fn smooth_of<A: Arith>(count: u32, limit: u32, z: (A::Z, A::Z), c: Point) -> Smooth {
    match count < limit {
        true => smooth((z.0.widen(), z.1.widen()), (c.re, c.im), A::FRAC),
        false => 0,
    }
}

/// [`is_trapped_near_a_cycle`] out of line, for the point kernel: asked at its saves only,
/// it keeps the certificates' code out of the loop a board runs (`just kernel-loops` counts
/// that loop).
#[cold]
#[inline(never)]
fn is_trapped_aside<A: Arith>(z: (A::Z, A::Z), c: &A::C, steps: u32) -> bool {
    // Cycles from CYCLES_FROM steps on: before, most points asked still escape, and the
    // cycles' next values cost more than they find (the default view in I4F60 took a fifth
    // longer when they were asked from the first save).
    match steps >= CYCLES_FROM {
        true => is_trapped_near_a_cycle::<A>(z, c),
        false => is_trapped::<A>(z, c),
    }
}

/// The steps from which the point kernel asks for a certificate near a cycle.
const CYCLES_FROM: u32 = 512;

/// Whether the orbit at `z`, not yet tested for escape, is trapped for good (`trap.rs`),
/// its next value as the step computes it: the plain loop would return the limit.
#[inline(always)]
fn is_trapped<A: Arith>(z: (A::Z, A::Z), c: &A::C) -> bool {
    let (inside, re, im) = A::iterate(z.0, z.1, c);
    inside && trap::trapped((z.0.widen(), z.1.widen()), (re, im), A::FRAC)
}

/// [`is_trapped`], or trapped near a cycle of 2 to [`trap::MOST_PERIOD`] steps
/// ([`trap::trapped_cycle`]), from the next values: the point kernel's question. The lanes
/// ask only for a fixed point: asked of them between phases, the cycles cost more than they
/// saved (cusp view 1.08x, default 1.02x the time, with a gate refusing orbits near a fixed
/// point; BENCHMARKS.md). Out of line is not what costs: calls between phases leave the
/// lanes' loop as fast, so long as the loop itself is inlined into the function compiled for
/// the CPU's vectors ([`render_tile_in_lanes`]; out of it, the loop runs baseline code, and
/// the default view took 2.7x as long).
fn is_trapped_near_a_cycle<A: Arith>(z: (A::Z, A::Z), c: &A::C) -> bool {
    let mut points = [(z.0.widen(), z.1.widen()); trap::MOST_PERIOD + 1];
    let mut at = z;
    for k in 1..=trap::MOST_PERIOD {
        let (inside, re, im) = A::iterate(at.0, at.1, c);
        if !inside {
            return false; // it escapes within a few steps: nothing to prove
        }
        points[k] = (re, im);
        let proved = match k {
            1 => trap::trapped(points[0], points[1], A::FRAC),
            _ => trap::trapped_cycle(&points[..=k], A::FRAC),
        };
        if proved {
            return true;
        }
        at = (A::Z::narrow(re), A::Z::narrow(im));
    }
    false
}

/// Takes [`CHECK_EVERY`] steps from `z`, written out: compilers do not unroll a loop with a
/// body this long for a Cortex-M, and a counter would cost a sixth of each step there.
/// `Err(k)` if z had escaped after `k` of them.
#[inline(always)]
fn run_block<A: Arith>(z: &mut (A::Z, A::Z), c: &A::C) -> Result<u32, u32> {
    const _: () = assert!(CHECK_EVERY == 8, "run_block takes CHECK_EVERY steps");
    step::<A>(z, c, 0)?;
    step::<A>(z, c, 1)?;
    step::<A>(z, c, 2)?;
    step::<A>(z, c, 3)?;
    step::<A>(z, c, 4)?;
    step::<A>(z, c, 5)?;
    step::<A>(z, c, 6)?;
    step::<A>(z, c, 7)?;
    Ok(CHECK_EVERY)
}

/// Takes `n` steps from `z`; `Err(k)` if z had escaped after `k` of them.
#[inline(always)]
fn run<A: Arith>(z: &mut (A::Z, A::Z), c: &A::C, n: u32) -> Result<u32, u32> {
    for taken in 0..n {
        step::<A>(z, c, taken)?;
    }
    Ok(n)
}

/// One step, or `Err(taken)` if z has escaped: `taken` steps came before.
#[inline(always)]
fn step<A: Arith>(z: &mut (A::Z, A::Z), c: &A::C, taken: u32) -> Result<(), u32> {
    let (inside, re, im) = A::iterate(z.0, z.1, c);
    if !inside {
        return Err(taken);
    }
    *z = (A::Z::narrow(re), A::Z::narrow(im));
    Ok(())
}

/// The batched kernel: [`escape_one`] for [`LANES`] points in step.
#[inline(always)]
fn escape_batch<A: Arith>(c: &[Point; LANES], limit: u32) -> [u32; LANES] {
    let mut batch = Batch::<A>::stopped();
    for (lane, &c) in c.iter().enumerate() {
        batch.start(lane, c);
    }
    batch.run(0, limit, limit, &mut Cycles::new());
    batch.counts
}

/// [`LANES`] points in step: their c, z, saved z and counts, one array per quantity so the
/// steps vectorise. The parts of z are held in i64 whatever the format: x86's 32×32→64 vector
/// multiply reads the low half of a 64-bit lane, so I4F28 parts stay where they are multiplied.
struct Batch<A: Arith> {
    c: [A::C; LANES],
    re: [i64; LANES],
    im: [i64; LANES],
    saved_re: [i64; LANES],
    saved_im: [i64; LANES],
    counts: [u32; LANES],
}

impl<A: Arith> Batch<A> {
    /// Every lane stopped, on an escaped z that is never iterated into anything else.
    #[inline(always)]
    fn stopped() -> Batch<A> {
        Batch {
            c: [A::prepare(Point::default()); LANES],
            re: [A::ESCAPED.widen(); LANES],
            im: [0; LANES],
            saved_re: [0; LANES],
            saved_im: [0; LANES],
            counts: [0; LANES],
        }
    }

    /// Gives `lane` the point `c`, from its first step.
    #[inline(always)]
    fn start(&mut self, lane: usize, c: Point) {
        self.resume(lane, c, 0, [A::Z::default(); 4]);
    }

    /// Gives `lane` the point `c` after `steps` steps, at z and saved z `[re, im, saved_re,
    /// saved_im]`.
    #[inline(always)]
    fn resume(&mut self, lane: usize, c: Point, steps: u32, z: [A::Z; 4]) {
        self.c[lane] = A::prepare(c);
        (self.re[lane], self.im[lane]) = (z[0].widen(), z[1].widen());
        (self.saved_re[lane], self.saved_im[lane]) = (z[2].widen(), z[3].widen());
        self.counts[lane] = steps;
    }

    /// `lane`'s z and saved z, as [`Batch::resume`] takes them.
    #[inline(always)]
    fn state(&self, lane: usize) -> [A::Z; 4] {
        [
            self.re[lane],
            self.im[lane],
            self.saved_re[lane],
            self.saved_im[lane],
        ]
        .map(A::Z::narrow)
    }

    /// Runs every lane from `start` steps, which each has taken, to `end` at most, unless all
    /// have stopped before. A lane stops when its point escapes (it keeps the escaped z, so
    /// it stays stopped; its next z is computed and thrown away) or is found in a cycle (it
    /// gets the limit as its count and an escaped z). Only lanes whose last step was taken
    /// are compared, since a stopped lane's frozen z would "repeat". Selects are masks, not
    /// branches, so the compiler vectorises the lanes (it does for I4F28 with AVX2 or
    /// AVX-512). `cycles` is the saving schedule at `start`, and is left at `end`. Returns the
    /// lanes still going at `end`, a bit each.
    #[inline(always)]
    fn run(&mut self, start: u32, end: u32, limit: u32, cycles: &mut Cycles) -> u32 {
        // Copies, so the compiler keeps them in vector registers for the whole run.
        let (c, mut re, mut im) = (self.c, self.re, self.im);
        let (mut saved_re, mut saved_im, mut counts) = (self.saved_re, self.saved_im, self.counts);
        let mut steps = start;
        let going = loop {
            let block = LANE_CHECK_EVERY.min(end - steps);
            let mut stepped = [false; LANES];
            for _ in 0..block {
                let mut step = |lane: usize| {
                    let (inside, next_re, next_im) =
                        A::iterate(A::Z::narrow(re[lane]), A::Z::narrow(im[lane]), &c[lane]);
                    re[lane] = select(inside, next_re, re[lane]);
                    im[lane] = select(inside, next_im, im[lane]);
                    counts[lane] += u32::from(inside);
                    stepped[lane] = inside;
                };
                // Written out, lane by lane: a loop over the lanes is unrolled or not as
                // LLVM's cost model decides, and once not, the lanes lived in memory for
                // three times the time (BENCHMARKS.md); constant indices keep them in registers.
                const _: () = assert!(LANES == 16, "the steps below are written for 16 lanes");
                step(0);
                step(1);
                step(2);
                step(3);
                step(4);
                step(5);
                step(6);
                step(7);
                step(8);
                step(9);
                step(10);
                step(11);
                step(12);
                step(13);
                step(14);
                step(15);
                if !stepped.iter().fold(false, |any, &lane| any | lane) {
                    break;
                }
            }
            steps += block;
            if !stepped.iter().fold(false, |any, &lane| any | lane) {
                break 0;
            }
            let mut cycling = [false; LANES];
            if cycles.compare_now(steps) {
                cycling = core::array::from_fn(|lane| {
                    stepped[lane] & (re[lane] == saved_re[lane]) & (im[lane] == saved_im[lane])
                });
                for lane in 0..LANES {
                    counts[lane] = if cycling[lane] { limit } else { counts[lane] };
                    re[lane] = select(cycling[lane], A::ESCAPED.widen(), re[lane]);
                }
            }
            if cycles.save_now(steps) {
                (saved_re, saved_im) = (re, im);
            }
            if steps == end {
                break (0..LANES).fold(0, |going, lane| {
                    going | u32::from(stepped[lane] & !cycling[lane]) << lane
                });
            }
        };
        (self.re, self.im, self.counts) = (re, im, counts);
        (self.saved_re, self.saved_im) = (saved_re, saved_im);
        going
    }
}

/// `if take { a } else { b }` as a mask: an `if` here stops LLVM from vectorising the lanes.
#[inline(always)]
fn select(take: bool, a: i64, b: i64) -> i64 {
    let mask = -i64::from(take);
    (a & mask) | (b & !mask)
}

/// A checked job's pixels, counted one at a time, as a worker that streams its counts does:
/// a narrow view's bits as `i64` once, a wide view's numbers as they are, a perturbation
/// job's against its reference.
pub struct Pixels<'a, const L: usize = MAX_WIDE_LIMBS> {
    job: &'a Job<L>,
    how: How<'a>,
}

/// How [`Pixels`] counts.
enum How<'a> {
    Narrow(NarrowView, PointKernel, SmoothKernel),
    Wide,
    Perturbed(Reference<'a>),
}

/// A narrow format's point kernel.
type PointKernel = fn(Point, u32) -> u32;

/// A narrow format's point kernel with the smooth fraction.
type SmoothKernel = fn(Point, u32) -> (u32, Smooth);

impl<'a, const L: usize> Pixels<'a, L> {
    /// Checks `job`, a direct one, so that every pixel's c lies in the safe range.
    pub fn new(job: &'a Job<L>) -> Result<Pixels<'a, L>, JobError> {
        job.check()?;
        direct(job)?;
        Ok(Pixels::checked(job))
    }

    /// The pixels of a perturbation job, counted against its `reference`
    /// ([`Reference::compute`]).
    pub fn perturbed(job: &'a Job<L>, reference: Reference<'a>) -> Result<Pixels<'a, L>, JobError> {
        job.check()?;
        if !job.kernel.is_perturbation() {
            return Err(JobError::NotPerturbation);
        }
        if job.kernel.skips() && !reference.has_table() {
            return Err(JobError::NeedsReference);
        }
        let how = How::Perturbed(reference);
        Ok(Pixels { job, how })
    }

    /// The pixels of a direct job checked already (a tile's renderer checked it).
    fn checked(job: &'a Job<L>) -> Pixels<'a, L> {
        let kernels: Option<(PointKernel, SmoothKernel)> = match job.format {
            Format::I4F28 => Some((escape_i4f28, escape_i4f28_smooth)),
            Format::I4F60 => Some((escape_i4f60, escape_i4f60_smooth)),
            Format::Wide(_) => None,
        };
        let how = match job.view.narrow().zip(kernels) {
            Some((view, (kernel, smooth))) => How::Narrow(view, kernel, smooth),
            None => How::Wide,
        };
        Pixels { job, how }
    }

    /// The escape count of pixel (x, y), as [`escape`] gives it (or, for a perturbation job,
    /// its kernel).
    pub fn count(&self, x: u32, y: u32) -> u32 {
        let limit = self.job.iterations;
        match &self.how {
            How::Narrow(view, kernel, _) => kernel(view.point(x, y), limit),
            How::Wide => escape_wide(&self.job.view.point(x, y), limit),
            How::Perturbed(reference) => perturbation::count(self.job, reference, x, y),
        }
    }

    /// [`Pixels::count`] and the pixel's smooth fraction ([`smooth`](crate::smooth)).
    pub fn escape(&self, x: u32, y: u32) -> (u32, Smooth) {
        let limit = self.job.iterations;
        match &self.how {
            How::Narrow(view, _, kernel) => kernel(view.point(x, y), limit),
            How::Wide => escape_wide_smooth(&self.job.view.point(x, y), limit),
            How::Perturbed(reference) => perturbation::count_smooth(self.job, reference, x, y),
        }
    }
}

/// Every pixel of `rect`, row-major, by `pixels`; with its smooth fraction unless `smooth`
/// is empty.
fn render_scalar<const L: usize>(
    pixels: &Pixels<'_, L>,
    rect: Rect,
    out: &mut [u32],
    smooth: &mut [Smooth],
) {
    let all = (rect.y..rect.y + rect.height)
        .flat_map(|y| (rect.x..rect.x + rect.width).map(move |x| (x, y)));
    if smooth.is_empty() {
        for (count, (x, y)) in out.iter_mut().zip(all) {
            *count = pixels.count(x, y);
        }
    } else {
        for ((count, fraction), (x, y)) in out.iter_mut().zip(smooth).zip(all) {
            (*count, *fraction) = pixels.escape(x, y);
        }
    }
}

/// Every pixel of `rect`, row-major, in batches of lanes, in phases.
///
/// A batch waits for its slowest point, and near the set's boundary neighbours' counts differ
/// most. So every point first runs [`FIRST_PHASE`] steps; the points still going then are
/// packed into new batches, with their state, for twice as many steps, and so on: each
/// phase's batches hold points of similar length (BENCHMARKS.md measures the gain). A point
/// that stops gets its smooth fraction then, from its escaped z, unless `smooth` is empty.
#[inline(always)]
fn render_batched<A: Arith>(
    view: &NarrowView,
    limit: u32,
    rect: Rect,
    out: &mut [u32],
    smooth: &mut [Smooth],
) {
    let width = rect.width as usize;
    let point = |i: usize| view.point(rect.x + (i % width) as u32, rect.y + (i / width) as u32);
    // The points still going after a phase, packed: which pixel, its z and saved z.
    let mut going = [0u16; MAX_TILE_PIXELS];
    let mut state = [[A::Z::default(); 4]; MAX_TILE_PIXELS];
    let (mut start, mut end, mut points) = (0, FIRST_PHASE.min(limit), out.len());
    let mut cycles = Cycles::new();
    loop {
        let (mut kept, mut cycles_at_end) = (0, cycles);
        for first in (0..points).step_by(LANES) {
            let lanes = (points - first).min(LANES);
            let mut batch = Batch::<A>::stopped();
            for lane in 0..lanes {
                if start == 0 {
                    going[first + lane] = (first + lane) as u16;
                    batch.start(lane, point(first + lane));
                } else {
                    let which = usize::from(going[first + lane]);
                    batch.resume(lane, point(which), start, state[first + lane]);
                }
            }
            let mut batch_cycles = cycles;
            let still = batch.run(start, end, limit, &mut batch_cycles);
            for lane in 0..lanes {
                let which = going[first + lane];
                let z = batch.state(lane);
                // Between phases, out of the lanes' loop, each point still going is asked for
                // a certificate (`trap.rs`), as escape_one asks at its saves: phases double, so
                // this costs no step, and a trapped point waits at most its own time again.
                let trapped = || {
                    trap::may_be_trapped((z[0].widen(), z[1].widen()), A::FRAC)
                        && is_trapped::<A>((z[0], z[1]), &A::prepare(point(which.into())))
                };
                let going_on = still & (1 << lane) != 0 && end < limit;
                if !going_on {
                    let (which, count) = (usize::from(which), batch.counts[lane]);
                    out[which] = count;
                    if !smooth.is_empty() {
                        let z = (z[0], z[1]);
                        smooth[which] = smooth_of::<A>(count, limit, z, point(which));
                    }
                } else if trapped() {
                    out[usize::from(which)] = limit;
                } else {
                    // Packed in place: no later read is at or before `kept`.
                    (going[kept], state[kept]) = (which, z);
                    kept += 1;
                    cycles_at_end = batch_cycles;
                }
            }
        }
        if kept == 0 {
            return;
        }
        (start, end, points, cycles) = (end, end.saturating_mul(2).min(limit), kept, cycles_at_end);
    }
}
