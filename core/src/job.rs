//! A job's exact geometry: the view in raw bits, its size, its iteration limit.
//!
//! Decimal text becomes raw bits here, once ([`View::from_corners`]); from then on a pixel's c
//! is integer arithmetic that every worker does the same way ([`View::point`]).
use crate::centre::{limbs_for, WideView};
use crate::decimal::Zoom;
use crate::error::JobError;
use crate::format::{parse_exact, Format, EXACT_FRAC};
use crate::grid::Grid;
use crate::limits::MAX_SIDE;
use crate::wide::Width;

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

    /// Turns a centre (`RE,IM` decimal text of any length) and a zoom into raw bits of
    /// `format`, as the deep-zoom community shares locations: see [`WideView::from_centre`]
    /// (the view is `4 / zoom` high, pixels are square, and pixel (width/2, height/2) is the
    /// centre, each number rounded once). A narrow format's bits are those of a wide format
    /// of one or two limbs, so the one geometry serves every format.
    pub fn from_centre(
        format: Format,
        centre: &str,
        zoom: &Zoom,
        width: u32,
        height: u32,
    ) -> Result<View, JobError> {
        let limbs = format.bits() / 32;
        let wide = Width::from_limbs(limbs as usize).ok_or(JobError::OutOfRange)?;
        let view = WideView::from_centre(wide, centre, zoom, width, height)?;
        let narrow = |x: &crate::wide::Fixed| x.to_i64().ok_or(JobError::OutOfRange);
        let view = View {
            origin_re: narrow(&view.origin_re)?,
            origin_im: narrow(&view.origin_im)?,
            step_x: narrow(&view.step_x)?,
            step_y: narrow(&view.step_y)?,
        };
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

impl Format {
    /// `--format auto` for a view by centre and zoom: the narrowest format whose pixel step is
    /// at least `max(MIN_STEP_ULPS, limit)` ulps ([`limits_for`](crate::limbs_for) has the
    /// rule and why). [`JobError::TooDeep`] names the width a deeper view needs.
    pub fn for_zoom(zoom: &Zoom, height: u32, limit: u32) -> Result<Format, JobError> {
        match limbs_for(zoom, height, limit)? {
            1 => Ok(Format::I4F28),
            2 => Ok(Format::I4F60),
            limbs => Err(JobError::TooDeep {
                bits: limbs as u32 * 32,
            }),
        }
    }

    /// `--format auto` for a view by its corners: the same rule, on the larger of the two
    /// steps' exact values (the corners are read to 124 fraction bits, finer than either
    /// narrow format's ulp).
    pub fn for_corners(
        top_left: &str,
        bottom_right: &str,
        width: u32,
        height: u32,
        limit: u32,
    ) -> Result<Format, JobError> {
        let (left, top) = parse_corner(top_left)?;
        let (right, bottom) = parse_corner(bottom_right)?;
        if width == 0 || height == 0 {
            return Err(JobError::EmptyImage);
        }
        if right <= left {
            return Err(JobError::NotLeftToRight);
        }
        if top <= bottom {
            return Err(JobError::NotTopToBottom);
        }
        // Both within ±4 with 124 fraction bits: the spans fit.
        let span_x = (right - left) / i128::from(width);
        let span_y = (top - bottom) / i128::from(height);
        let step = span_x.min(span_y);
        let ulps = i128::from(crate::MIN_STEP_ULPS.max(limit));
        let narrow = [Format::I4F28, Format::I4F60]
            .into_iter()
            .find(|format| step >= ulps << (EXACT_FRAC - format.frac_bits()));
        // Else the fraction bits that would give `ulps` a step, in whole 32-bit limbs with the
        // 4 integer bits: at least, since the step is known only to 124 bits.
        let length = |x: i128| 128 - x.leading_zeros();
        let frac = EXACT_FRAC + length(ulps) - length(step).clamp(1, EXACT_FRAC);
        narrow.ok_or(JobError::TooDeep {
            bits: (frac + 4).div_ceil(32) * 32,
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::Grid;

    fn zoom(text: &str) -> Zoom {
        Zoom::parse(text).unwrap()
    }

    /// The default view is 2.4 high about (-0.6, 0): a zoom of 4/2.4. By centre it is the same
    /// steps as by corners, to within the rounding of a zoom written in five digits.
    #[test]
    fn a_view_by_centre_and_zoom_is_a_view_by_corners() {
        let by_centre = View::from_centre(
            Format::I4F60,
            "-0.6,0",
            &zoom("1.6666666666666666667"),
            640,
            480,
        )
        .unwrap();
        let by_corners =
            View::from_corners(Format::I4F60, "-2.2,1.2", "1.0,-1.2", 640, 480).unwrap();
        assert!((by_centre.step_x - by_corners.step_x).abs() <= 1);
        assert_eq!(by_centre.step_x, by_centre.step_y);
        let middle = by_centre.point(320, 240);
        assert_eq!(middle, Point::from_text(Format::I4F60, "-0.6,0").unwrap());
    }

    #[test]
    fn the_automatic_format_is_the_narrowest_that_resolves_the_view() {
        assert_eq!(Format::for_zoom(&zoom("1.6"), 480, 128), Ok(Format::I4F28));
        assert_eq!(Format::for_zoom(&zoom("1E7"), 300, 1000), Ok(Format::I4F60));
        assert_eq!(
            Format::for_zoom(&zoom("1E16"), 300, 1000),
            Err(JobError::TooDeep { bits: 96 })
        );
        assert_eq!(
            Format::for_corners("-2.2,1.2", "1.0,-1.2", 65_535, 65_535, 1024),
            Ok(Format::I4F28)
        );
        // 1e-12 across ten pixels: 115,292 I4F60 ulps a step, a tenth of an I4F28 ulp.
        let top_left = "-0.7436438870371587,0.1318259042053120";
        let a_trillionth = "-0.7436438870361587,0.1318259042043120";
        let a_quadrillionth = "-0.7436438870371586,0.1318259042053119";
        assert_eq!(
            Format::for_corners(top_left, a_trillionth, 10, 10, 100),
            Ok(Format::I4F60)
        );
        assert_eq!(
            Format::for_corners(top_left, a_quadrillionth, 300, 300, 100),
            Err(JobError::TooDeep { bits: 96 })
        );
        assert_eq!(
            Format::for_corners(a_trillionth, top_left, 10, 10, 100),
            Err(JobError::NotLeftToRight)
        );
    }

    #[test]
    fn a_job_by_centre_is_checked_like_any_other() {
        let view = View::from_centre(Format::I4F28, "0,0", &zoom("1"), 64, 64).unwrap();
        let job = Job {
            format: Format::I4F28,
            view,
            grid: Grid {
                width: 64,
                height: 64,
                tile_width: 64,
                tile_height: 64,
            },
            iterations: 10,
        };
        assert_eq!(job.check(), Ok(()));
        assert_eq!(
            View::from_centre(Format::I4F28, "2.5,0", &zoom("1"), 64, 64),
            Err(JobError::OutOfRange)
        );
        assert_eq!(
            View::from_centre(Format::I4F28, "0,0", &zoom("1E9"), 64, 64),
            Err(JobError::UnresolvableY)
        );
    }
}
