//! The escape-time kernel: one point, a batch of points in step, and a tile of a job.
//!
//! One rule everywhere: before each step, escape if re² + im² > 4 (exact, double width);
//! the count is the number of steps taken, `0..=limit`, and `limit` means inside.
use crate::error::JobError;
use crate::format::{Arith, Format, Q28, Q60};
use crate::grid::{Rect, TileIndex};
use crate::job::{Job, Point};

/// Points computed in step by [`escape_lanes`] (and by [`render_tile`] for I4F28): sixteen
/// `i64` lanes are two AVX-512 or four AVX2 vectors per operation, enough independent work to
/// hide the multiplies' latency. 8 lanes measured slower on AVX-512, 32 slower on AVX2.
pub const LANES: usize = 16;

/// Escape time of one point; refuses a point outside the safe range.
pub fn escape(format: Format, c: Point, limit: u32) -> Result<u32, JobError> {
    check_point(format, c)?;
    Ok(match format {
        Format::I4F28 => escape_one::<Q28>(c, limit),
        Format::I4F60 => escape_one::<Q60>(c, limit),
    })
}

/// Escape times of [`LANES`] points computed in step; exactly what [`escape`] returns for
/// each, only faster, because the lanes are independent work the CPU can overlap.
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
    })
}

/// Renders one tile of a job into `out`, row-major, and returns its rectangle.
///
/// `out` needs at least the tile's pixel count; what lies beyond is left untouched. Either
/// way the counts are the same; the batched kernel is used only where it is faster.
pub fn render_tile(job: &Job, tile: TileIndex, out: &mut [u32]) -> Result<Rect, JobError> {
    job.check()?;
    let rect = job.grid.rect(tile).ok_or(JobError::NoSuchTile)?;
    let out = out
        .get_mut(..rect.pixels())
        .ok_or(JobError::BufferTooSmall)?;
    match job.format {
        Format::I4F28 if BATCH_I4F28 => render_batched::<Q28>(job, rect, out),
        Format::I4F28 => render_scalar::<Q28>(job, rect, out),
        Format::I4F60 => render_scalar::<Q60>(job, rect, out),
    }
    Ok(rect)
}

/// Batching pays only where the lanes vectorise: with AVX2 (or AVX-512) I4F28 lanes run 1.7x
/// to 5x faster than point by point; on baseline x86-64 (no signed 32x32->64 vector multiply,
/// no 64-bit arithmetic shift) and for I4F60 (128-bit products) they run slower (BENCHMARKS.md).
const BATCH_I4F28: bool = cfg!(target_feature = "avx2");

fn check_point(format: Format, c: Point) -> Result<(), JobError> {
    let bound = format.safe_raw();
    if (-bound..=bound).contains(&c.re) && (-bound..=bound).contains(&c.im) {
        Ok(())
    } else {
        Err(JobError::OutOfRange)
    }
}

fn escape_one<A: Arith>(c: Point, limit: u32) -> u32 {
    let (mut re, mut im) = (0, 0);
    for steps in 0..limit {
        if A::escaped(re, im) {
            return steps;
        }
        (re, im) = A::step(re, im, c.re, c.im);
    }
    limit
}

/// The batched kernel. An escaped lane keeps its escaped z, so it stays escaped and stops
/// counting; its next z is computed and thrown away. Selects are masks, not branches, so the
/// compiler can vectorise the lanes (it does for I4F28 with AVX2 or AVX-512; see
/// BENCHMARKS.md). The loop ends when every lane has escaped or at the limit.
#[inline(always)]
fn escape_batch<A: Arith>(c: &[Point; LANES], limit: u32) -> [u32; LANES] {
    let (mut re, mut im) = ([0i64; LANES], [0i64; LANES]);
    let mut counts = [0u32; LANES];
    for _ in 0..limit {
        let mut live = 0u32;
        for lane in 0..LANES {
            let inside = !A::escaped(re[lane], im[lane]);
            let (next_re, next_im) = A::step(re[lane], im[lane], c[lane].re, c[lane].im);
            re[lane] = select(inside, next_re, re[lane]);
            im[lane] = select(inside, next_im, im[lane]);
            counts[lane] += u32::from(inside);
            live |= u32::from(inside);
        }
        if live == 0 {
            break;
        }
    }
    counts
}

/// `if take { a } else { b }` as a mask: an `if` here stops LLVM from vectorising the lanes.
#[inline(always)]
fn select(take: bool, a: i64, b: i64) -> i64 {
    let mask = -i64::from(take);
    (a & mask) | (b & !mask)
}

/// The c of every pixel of `rect`, row-major.
fn pixels(job: &Job, rect: Rect) -> impl Iterator<Item = Point> {
    let view = job.view;
    (rect.y..rect.y + rect.height)
        .flat_map(move |y| (rect.x..rect.x + rect.width).map(move |x| view.point(x, y)))
}

fn render_scalar<A: Arith>(job: &Job, rect: Rect, out: &mut [u32]) {
    for (count, c) in out.iter_mut().zip(pixels(job, rect)) {
        *count = escape_one::<A>(c, job.iterations);
    }
}

fn render_batched<A: Arith>(job: &Job, rect: Rect, out: &mut [u32]) {
    let mut pixels = pixels(job, rect);
    // A point that escapes after one step fills the lanes past the tile's last pixel.
    let bound = job.format.safe_raw();
    let filler = Point {
        re: bound,
        im: bound,
    };
    for chunk in out.chunks_mut(LANES) {
        let c: [Point; LANES] = core::array::from_fn(|_| pixels.next().unwrap_or(filler));
        let counts = escape_batch::<A>(&c, job.iterations);
        chunk.copy_from_slice(&counts[..chunk.len()]);
    }
}
