//! A job's exact geometry: the view in raw bits, its size, its iteration limit.
//!
//! Decimal text becomes raw bits here, once ([`View::from_corners`]); from then on a pixel's c
//! is integer arithmetic that every worker does the same way ([`View::point`]).
use crate::error::JobError;
use crate::format::{parse_exact, Format, EXACT_FRAC};
use crate::grid::Grid;
use crate::limits::MAX_SIDE;

/// A job's identity, chosen by whoever generates it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct JobId(pub u64);

/// A point of the complex plane in raw bits of some [`Format`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Point {
    /// Real part.
    pub re: i64,
    /// Imaginary part.
    pub im: i64,
}

/// Where the pixels are: pixel (x, y) is c = (origin_re + x·step_x, origin_im - y·step_y),
/// the original's corner convention (the top-left pixel's c is the top-left corner).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct View {
    /// Real part of the top-left pixel, raw bits.
    pub origin_re: i64,
    /// Imaginary part of the top-left pixel, raw bits.
    pub origin_im: i64,
    /// Real distance between columns, raw bits, positive.
    pub step_x: i64,
    /// Imaginary distance between rows, raw bits, positive (rows go down).
    pub step_y: i64,
}

/// Everything a worker needs to compute any tile of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Job {
    /// The fixed-point format of the view and of the arithmetic.
    pub format: Format,
    /// The view, in raw bits of `format`.
    pub view: View,
    /// Image and tile sizes.
    pub grid: Grid,
    /// Iteration limit N: a count of N means inside the set.
    pub iterations: u32,
}

impl Point {
    /// Reads `RE,IM` decimal text (`-0.75,0.1`) into raw bits of `format`, exactly and
    /// rounded once like a view's corners; refuses a point outside the safe range.
    pub fn from_text(format: Format, text: &str) -> Result<Point, JobError> {
        let (re, im) = parse_corner(text)?;
        let bound = i128::from(format.safe_raw());
        let (re, im) = (format.round_exact(re), format.round_exact(im));
        if re.abs() > bound || im.abs() > bound {
            return Err(JobError::OutOfRange);
        }
        // In the safe range, so both fit an i64 (an i32 for I4F28).
        Ok(Point {
            re: re as i64,
            im: im as i64,
        })
    }
}

impl View {
    /// Turns a person's view, corners as `RE,IM` decimal text (`-2.2,1.2`), into raw bits.
    ///
    /// The corners are read exactly, never through a float; the origin is the top-left corner
    /// and each step is (bottom-right - top-left) / size, each rounded once to the format by
    /// [`Format`]'s rule (to nearest, ties up). Refuses text that is not two decimals, a
    /// corner order that is not top-left to bottom-right, a step that rounds to zero, and
    /// views any of whose pixels leave the safe range.
    pub fn from_corners(
        format: Format,
        top_left: &str,
        bottom_right: &str,
        width: u32,
        height: u32,
    ) -> Result<View, JobError> {
        let (left, top) = parse_corner(top_left)?;
        let (right, bottom) = parse_corner(bottom_right)?;
        if width == 0 || height == 0 {
            return Err(JobError::EmptyImage);
        }
        if width > MAX_SIDE || height > MAX_SIDE {
            return Err(JobError::ImageTooLarge);
        }
        let span_x = right.checked_sub(left).ok_or(JobError::OutOfRange)?;
        let span_y = top.checked_sub(bottom).ok_or(JobError::OutOfRange)?;
        if span_x <= 0 {
            return Err(JobError::NotLeftToRight);
        }
        if span_y <= 0 {
            return Err(JobError::NotTopToBottom);
        }
        let narrow = |raw: i128| i64::try_from(raw).map_err(|_| JobError::OutOfRange);
        let view = View {
            origin_re: narrow(format.round_exact(left))?,
            origin_im: narrow(format.round_exact(top))?,
            step_x: narrow(divide_rounded(span_x, width, format))?,
            step_y: narrow(divide_rounded(span_y, height, format))?,
        };
        if view.step_x == 0 {
            return Err(JobError::UnresolvableX);
        }
        if view.step_y == 0 {
            return Err(JobError::UnresolvableY);
        }
        view.check(format, width, height)?;
        Ok(view)
    }

    /// Checks that steps are positive and every pixel of a `width`×`height` image lies in the
    /// safe range, so the kernel cannot overflow on any of them.
    pub fn check(&self, format: Format, width: u32, height: u32) -> Result<(), JobError> {
        if self.step_x <= 0 {
            return Err(JobError::NotLeftToRight);
        }
        if self.step_y <= 0 {
            return Err(JobError::NotTopToBottom);
        }
        let bound = i128::from(format.safe_raw());
        let last = self.point_wide(width.saturating_sub(1), height.saturating_sub(1));
        let (left, top) = (i128::from(self.origin_re), i128::from(self.origin_im));
        if left < -bound || last.0 > bound || top > bound || last.1 < -bound {
            return Err(JobError::OutOfRange);
        }
        Ok(())
    }

    /// The c of pixel (x, y). Exact for the pixels of a checked job; total (no panic) for any.
    pub fn point(&self, x: u32, y: u32) -> Point {
        let (re, im) = self.point_wide(x, y);
        Point {
            re: re as i64,
            im: im as i64,
        }
    }

    fn point_wide(&self, x: u32, y: u32) -> (i128, i128) {
        // |i64| + u32·|i64| < 2^96: no overflow in i128 for any input.
        (
            i128::from(self.origin_re) + i128::from(x) * i128::from(self.step_x),
            i128::from(self.origin_im) - i128::from(y) * i128::from(self.step_y),
        )
    }
}

impl Job {
    /// Checks every part of a job; the kernel and the wire accept only jobs that pass.
    pub fn check(&self) -> Result<(), JobError> {
        self.grid.check()?;
        if self.iterations == 0 {
            return Err(JobError::NoIterations);
        }
        self.view
            .check(self.format, self.grid.width, self.grid.height)
    }
}

/// `RE,IM` to two exact values with [`EXACT_FRAC`] fraction bits, each within ±4 (beyond
/// the safe range anyway), so rounding and spans cannot overflow the exact `i128`.
fn parse_corner(text: &str) -> Result<(i128, i128), JobError> {
    const FOUR: u128 = 4 << EXACT_FRAC;
    let (re, im) = text.split_once(',').ok_or(JobError::BadCorner)?;
    match (parse_exact(re), parse_exact(im)) {
        (Some(re), Some(im)) if re.unsigned_abs() <= FOUR && im.unsigned_abs() <= FOUR => {
            Ok((re, im))
        }
        (Some(_), Some(_)) => Err(JobError::OutOfRange),
        _ => Err(JobError::BadCorner),
    }
}

/// `span / size`, span exact, rounded once to the format: to nearest, ties up.
fn divide_rounded(span: i128, size: u32, format: Format) -> i128 {
    // size < 2^16 and the shift is at most 96, so the divisor is below 2^112.
    let divisor = i128::from(size) << (EXACT_FRAC - format.frac_bits());
    let (quotient, remainder) = (span / divisor, span % divisor);
    quotient + i128::from(remainder >= divisor - remainder)
}
