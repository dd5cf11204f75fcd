//! Where a job's pixels are, in raw bits of its format: from a person's decimal text, once,
//! by corners or by centre and zoom; from then on a pixel's c is integer arithmetic that
//! every worker does the same way ([`View::point`]).
//!
//! A view is four numbers of its format ([`Fixed`], one limb for I4F28, two for I4F60, more
//! for a wide format), so one geometry and one check serve every format. The narrow kernels
//! take the same bits as `i64` once a tile ([`View::narrow`]).
use crate::decimal::Zoom;
use crate::error::JobError;
use crate::format::{parse_exact, Format, EXACT_FRAC};
use crate::limbs::{self, Limb};
use crate::limits::{MAX_SIDE, MAX_WIDE_LIMBS};
use crate::wide::{Fixed, WidePoint, Width};

/// Where the pixels are: pixel (x, y) is c = (origin_re + x·step_x, origin_im - y·step_y),
/// the original's corner convention (the top-left pixel's c is the top-left corner).
///
/// `L` is its numbers' room in limbs ([`Fixed`]): the widest format's by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct View<const L: usize = MAX_WIDE_LIMBS> {
    /// Real part of the top-left pixel.
    pub origin_re: Fixed<L>,
    /// Imaginary part of the top-left pixel.
    pub origin_im: Fixed<L>,
    /// Real distance between columns, positive.
    pub step_x: Fixed<L>,
    /// Imaginary distance between rows, positive (rows go down).
    pub step_y: Fixed<L>,
}

/// A view of a narrow format, its raw bits as `i64`: what the narrow kernels take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct NarrowView {
    /// Real part of the top-left pixel, raw bits.
    pub origin_re: i64,
    /// Imaginary part of the top-left pixel, raw bits.
    pub origin_im: i64,
    /// Real distance between columns, raw bits.
    pub step_x: i64,
    /// Imaginary distance between rows, raw bits.
    pub step_y: i64,
}

/// A point of the complex plane in raw bits of a narrow [`Format`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Point {
    /// Real part.
    pub re: i64,
    /// Imaginary part.
    pub im: i64,
}

impl Point {
    /// Reads `RE,IM` decimal text (`-0.75,0.1`) into raw bits of a narrow `format`, exactly
    /// and rounded once like a view's corners; refuses a point outside the safe range (and
    /// every point of a wide format, whose bits are no `i64`).
    pub fn from_text(format: Format, text: &str) -> Result<Point, JobError> {
        if let Format::Wide(_) = format {
            return Err(JobError::OutOfRange);
        }
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
    /// the one rule (to nearest, ties up). The narrow formats read the corners to 124 fraction
    /// bits, a wide one to the widest format's 4,092, both far below the format's ulp.
    /// Refuses text that is not two decimals, a corner order that is not top-left to
    /// bottom-right, a step that rounds to zero, and views any of whose pixels leave the safe
    /// range.
    pub fn from_corners(
        format: Format,
        top_left: &str,
        bottom_right: &str,
        width: u32,
        height: u32,
    ) -> Result<View, JobError> {
        let view = match format {
            Format::Wide(wide) => wide_corners(wide, top_left, bottom_right, width, height)?,
            narrow => narrow_corners(narrow, top_left, bottom_right, width, height)?,
        };
        if view.step_x.is_zero() {
            return Err(JobError::UnresolvableX);
        }
        if view.step_y.is_zero() {
            return Err(JobError::UnresolvableY);
        }
        view.check(format, width, height)?;
        Ok(view)
    }

    /// Turns a centre (`RE,IM` decimal text of any length) and a zoom into pixels, exactly:
    /// - the view is `4 / zoom` high and its pixels square, so both steps are
    ///   `4 / (zoom · height)`, rounded once to the format ([`Zoom::step`]);
    /// - pixel (width / 2, height / 2), halves rounded down, is the centre as read
    ///   ([`Fixed::from_decimal`]), so the origin is the centre less whole steps, exact.
    ///
    /// Refuses a centre that is not two decimals, a step that rounds to zero, a view too far
    /// out for the format, and views any of whose pixels leave the safe range.
    pub fn from_centre(
        format: Format,
        centre: &str,
        zoom: &Zoom,
        width: u32,
        height: u32,
    ) -> Result<View, JobError> {
        let bits = format.width();
        let (re, im) = read_point(bits, centre, JobError::BadCentre)?;
        check_size(width, height)?;
        let step = zoom.step(bits, height).ok_or(JobError::OutOfRange)?;
        if step.is_zero() {
            return Err(JobError::UnresolvableY);
        }
        let view = View {
            origin_re: re.sub_times(width / 2, &step),
            origin_im: im.add_times(height / 2, &step),
            step_x: step,
            step_y: step,
        };
        view.check(format, width, height)?;
        Ok(view)
    }
}

impl<const L: usize> View<L> {
    /// Checks that the view's numbers are of `format`, steps are positive and every pixel of
    /// a `width`×`height` image lies in the safe range, so the kernel cannot overflow on any
    /// of them.
    pub fn check(&self, format: Format, width: u32, height: u32) -> Result<(), JobError> {
        check_size(width, height)?;
        let bits = format.width();
        // A forged view may mix formats; every computation below assumes one.
        let same = [self.origin_re, self.origin_im, self.step_x, self.step_y]
            .iter()
            .all(|x| x.width() == bits);
        if !same {
            return Err(JobError::OutOfRange);
        }
        if self.step_x.is_negative() || self.step_x.is_zero() {
            return Err(JobError::NotLeftToRight);
        }
        if self.step_y.is_negative() || self.step_y.is_zero() {
            return Err(JobError::NotTopToBottom);
        }
        // The far edges without overflow: last_re = origin_re + span_x <= 3 exactly when
        // span_x <= 3 - origin_re, a number in [0, 6] for a safe origin; likewise for rows.
        let three = Fixed::<L>::from_int_in(bits, 3);
        let fits = |span: Option<Fixed<L>>, room: Fixed<L>| {
            span.is_some_and(|s| s.cmp_signed(&room).is_le())
        };
        let safe = self.origin_re.is_safe()
            && self.origin_im.is_safe()
            && fits(
                span(&self.step_x, width - 1),
                three.sub_times(1, &self.origin_re),
            )
            && fits(
                span(&self.step_y, height - 1),
                self.origin_im.add_times(1, &three),
            );
        if !safe {
            return Err(JobError::OutOfRange);
        }
        Ok(())
    }

    /// The c of pixel (x, y); exact for the pixels of a checked view.
    pub fn point(&self, x: u32, y: u32) -> WidePoint<L> {
        WidePoint {
            re: self.origin_re.add_times(x, &self.step_x),
            im: self.origin_im.sub_times(y, &self.step_y),
        }
    }

    /// The view's raw bits as `i64`, if every number fits one: always for a narrow format.
    pub fn narrow(&self) -> Option<NarrowView> {
        Some(NarrowView {
            origin_re: self.origin_re.to_i64()?,
            origin_im: self.origin_im.to_i64()?,
            step_x: self.step_x.to_i64()?,
            step_y: self.step_y.to_i64()?,
        })
    }
}

impl NarrowView {
    /// The same bits as numbers of a narrow `format` (an I4F28 value must fit an `i32`, or
    /// it wraps; a checked view's do).
    pub fn in_format<const L: usize>(&self, format: Format) -> View<L> {
        let width = format.width();
        View {
            origin_re: Fixed::from_i64_in(width, self.origin_re),
            origin_im: Fixed::from_i64_in(width, self.origin_im),
            step_x: Fixed::from_i64_in(width, self.step_x),
            step_y: Fixed::from_i64_in(width, self.step_y),
        }
    }

    /// The c of pixel (x, y). Exact for the pixels of a checked job; total (no panic) for any.
    pub fn point(&self, x: u32, y: u32) -> Point {
        // |i64| + u32·|i64| < 2^96: no overflow in i128 for any input.
        Point {
            re: (i128::from(self.origin_re) + i128::from(x) * i128::from(self.step_x)) as i64,
            im: (i128::from(self.origin_im) - i128::from(y) * i128::from(self.step_y)) as i64,
        }
    }
}

/// A narrow format's view by corners: read to 124 fraction bits, steps rounded once.
fn narrow_corners(
    format: Format,
    top_left: &str,
    bottom_right: &str,
    width: u32,
    height: u32,
) -> Result<View, JobError> {
    let (left, top) = parse_corner(top_left)?;
    let (right, bottom) = parse_corner(bottom_right)?;
    check_size(width, height)?;
    let span_x = right.checked_sub(left).ok_or(JobError::OutOfRange)?;
    let span_y = top.checked_sub(bottom).ok_or(JobError::OutOfRange)?;
    // A span of zero at 124 bits is corners too close for the format (the step check after
    // says so), not corners in the wrong order.
    if span_x < 0 {
        return Err(JobError::NotLeftToRight);
    }
    if span_y < 0 {
        return Err(JobError::NotTopToBottom);
    }
    let narrow = |raw: i128| i64::try_from(raw).map_err(|_| JobError::OutOfRange);
    let view = NarrowView {
        origin_re: narrow(format.round_exact(left))?,
        origin_im: narrow(format.round_exact(top))?,
        step_x: narrow(divide_rounded(span_x, width, format))?,
        step_y: narrow(divide_rounded(span_y, height, format))?,
    };
    // An I4F28 number beyond 32 bits would wrap into one that fits: refuse it whole.
    let all = [view.origin_re, view.origin_im, view.step_x, view.step_y];
    if format == Format::I4F28 && all.iter().any(|&raw| i32::try_from(raw).is_err()) {
        return Err(JobError::OutOfRange);
    }
    Ok(view.in_format(format))
}

/// A wide format's view by corners: read into the widest format, the spans exact there, each
/// step rounded once from them to `width`.
fn wide_corners(
    width: Width,
    top_left: &str,
    bottom_right: &str,
    columns: u32,
    rows: u32,
) -> Result<View, JobError> {
    let read = |format, text| read_point(format, text, JobError::BadCorner);
    let (left, top) = read(Width::WIDEST, top_left)?;
    let (right, bottom) = read(Width::WIDEST, bottom_right)?;
    check_size(columns, rows)?;
    if !(left.is_safe() && top.is_safe() && right.is_safe() && bottom.is_safe()) {
        return Err(JobError::OutOfRange);
    }
    // Within ±3 each, so the spans (at most 6) fit. A span that is zero in the widest
    // format is corners too close for any format, not corners in the wrong order.
    let span_x = right.sub_times(1, &left);
    let span_y = top.sub_times(1, &bottom);
    match (span_x.is_negative(), span_y.is_negative()) {
        (true, _) => return Err(JobError::NotLeftToRight),
        (_, true) => return Err(JobError::NotTopToBottom),
        _ => {}
    }
    // The origin is the corner read once into the format, as a centre is.
    let (origin_re, origin_im) = read(width, top_left)?;
    Ok(View {
        origin_re,
        origin_im,
        step_x: divide_wide(&span_x, columns, width),
        step_y: divide_wide(&span_y, rows, width),
    })
}

/// `RE,IM` decimal text read exactly into `width`, or `bad`.
fn read_point(width: Width, text: &str, bad: JobError) -> Result<(Fixed, Fixed), JobError> {
    let (re, im) = text.split_once(',').ok_or(bad)?;
    match (
        Fixed::from_decimal(width, re),
        Fixed::from_decimal(width, im),
    ) {
        (Some(re), Some(im)) => Ok((re, im)),
        _ => Err(bad),
    }
}

/// `span / size` for a positive span of the widest format, rounded once to `width`:
/// `floor((2·span + d) / 2d)` with `d = size · 2^(F_widest - F)`.
fn divide_wide(span: &Fixed, size: u32, width: Width) -> Fixed {
    const ROOM: usize = MAX_WIDE_LIMBS + 2;
    let shift = Width::WIDEST.frac_bits() - width.frac_bits();
    let mut size_limbs = [0 as Limb; ROOM];
    size_limbs[0] = size;
    let mut d = [0 as Limb; ROOM];
    limbs::shift_left_into(&size_limbs, shift, &mut d);
    let mut numerator = [0 as Limb; ROOM];
    numerator[..MAX_WIDE_LIMBS].copy_from_slice(span.limbs());
    limbs::shift_left_one(&mut numerator);
    limbs::add(&mut numerator, &d);
    let mut doubled = d;
    limbs::shift_left_one(&mut doubled);
    let (mut quotient, mut scratch) = ([0 as Limb; ROOM], [0 as Limb; ROOM + 1]);
    limbs::divide(&mut numerator, &doubled, &mut quotient, &mut scratch);
    // At most 6 / size, rounded: a non-negative number of any format.
    Fixed::from_limbs(&quotient[..width.limbs()]).unwrap_or(Fixed::zero(width))
}

/// `count · step` for a positive step, or `None` if it is 8 or more (it would not fit).
fn span<const L: usize>(step: &Fixed<L>, count: u32) -> Option<Fixed<L>> {
    let mut product = *step;
    let carry = limbs::mul_small(product.limbs_mut(), count, 0);
    (carry == 0 && !product.is_negative()).then_some(product)
}

fn check_size(width: u32, height: u32) -> Result<(), JobError> {
    if width == 0 || height == 0 {
        return Err(JobError::EmptyImage);
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(JobError::ImageTooLarge);
    }
    Ok(())
}

/// `RE,IM` to two exact values with [`EXACT_FRAC`] fraction bits, each within ±4 (beyond
/// the safe range anyway), so rounding and spans cannot overflow the exact `i128`.
pub(crate) fn parse_corner(text: &str) -> Result<(i128, i128), JobError> {
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
    use crate::job::{Job, Kernel};
    use crate::Grid;

    fn zoom(text: &str) -> Zoom {
        Zoom::parse(text).unwrap()
    }

    fn wide(bits: u32) -> Format {
        Format::from_bits(bits).unwrap()
    }

    /// The default view is 2.4 high about (-0.6, 0): a zoom of 4/2.4. By centre it is the same
    /// steps as by corners, to within the rounding of a zoom written in twenty digits.
    #[test]
    fn a_view_by_centre_and_zoom_is_a_view_by_corners() {
        let zoom = zoom("1.6666666666666666667");
        let by_centre = View::from_centre(Format::I4F60, "-0.6,0", &zoom, 640, 480).unwrap();
        let by_corners =
            View::from_corners(Format::I4F60, "-2.2,1.2", "1.0,-1.2", 640, 480).unwrap();
        let (centre, corners) = (by_centre.narrow().unwrap(), by_corners.narrow().unwrap());
        assert!((centre.step_x - corners.step_x).abs() <= 1);
        assert_eq!(centre.step_x, centre.step_y);
        let middle = centre.point(320, 240);
        assert_eq!(middle, Point::from_text(Format::I4F60, "-0.6,0").unwrap());
        // And in a wide format: 5/3 in twenty digits is off by 2e-20 of itself, which moves a
        // step of 1/200 by 1e-22, below 2^-70.
        let by_centre = View::from_centre(wide(128), "-0.6,0", &zoom, 640, 480).unwrap();
        let by_corners = View::from_corners(wide(128), "-2.2,1.2", "1.0,-1.2", 640, 480).unwrap();
        let difference = by_centre.step_x.sub_times(1, &by_corners.step_x);
        let (difference, _) = difference.magnitude();
        let bound = Fixed::from_limbs(&[0, 1 << 22, 0, 0]).unwrap();
        assert!(difference.cmp_signed(&bound).is_le(), "{difference}");
    }

    /// A narrow format's view is the same bits whichever way it is held.
    #[test]
    fn narrow_bits_are_a_view_of_one_or_two_limbs() {
        for format in [Format::I4F28, Format::I4F60] {
            let view = View::from_corners(format, "-2.2,1.2", "1.0,-1.2", 640, 480).unwrap();
            let narrow = view.narrow().unwrap();
            assert_eq!(narrow.in_format(format), view);
            assert_eq!(view.origin_re.width(), format.width());
            let c = view.point(17, 400);
            assert_eq!(
                (c.re.to_i64().unwrap(), c.im.to_i64().unwrap()),
                (narrow.point(17, 400).re, narrow.point(17, 400).im)
            );
        }
    }

    /// Corners of a wide format are read past 124 bits: a view 1e-40 across resolves.
    #[test]
    fn deep_corners_resolve_in_a_wide_format() {
        let top_left = "-0.743643887037158704752191506114774,0.131825904205311970493132056385139";
        let bottom_right =
            "-0.743643887037158704752191506114773,0.131825904205311970493132056385138";
        let view = View::from_corners(wide(192), top_left, bottom_right, 100, 100).unwrap();
        let (re, _) = top_left.split_once(',').unwrap();
        assert_eq!(
            Some(view.origin_re),
            Fixed::from_decimal(wide(192).width(), re)
        );
        assert!(view.point(99, 99).re.cmp_signed(&view.origin_re).is_gt());
        assert_eq!(
            View::from_corners(Format::I4F60, top_left, bottom_right, 100, 100),
            Err(JobError::UnresolvableX)
        );
        assert_eq!(
            View::from_corners(wide(96), bottom_right, top_left, 100, 100),
            Err(JobError::NotLeftToRight)
        );
        // Corners too close for the widest format are too close, not out of order (a probe
        // of 366e534 was told "bottom-right must be right of top-left").
        let mut close = heapless::String::<1300>::new();
        close.push_str("-0.75").unwrap();
        close.push_str(",0.1").unwrap();
        let mut closer = heapless::String::<1300>::new();
        closer.push_str("-0.").unwrap();
        closer.push_str("7499999999").unwrap();
        for _ in 0..1240 {
            closer.push('9').unwrap();
        }
        closer.push_str(",0.0999999").unwrap();
        assert_eq!(
            View::from_corners(wide(4096), &close, &closer, 8, 8),
            Err(JobError::UnresolvableX)
        );
        assert_eq!(
            View::from_corners(Format::I4F60, "-0.75,0.1", "-0.75,0.09", 8, 8),
            Err(JobError::UnresolvableX)
        );
    }

    /// A corner is read once into the format: 2^-93 less a hair rounds down to 0 in I4F92
    /// (whose ulp is 2^-92), as the same text as a centre does; read first to 4,092 bits it
    /// became 2^-93 exactly, which rounded up (a probe of 366e534).
    #[test]
    fn a_corner_is_rounded_once() {
        let mut corner = heapless::String::<4200>::new();
        // 2^-93 = 1.0097419586828951e-28; less 1e-4099 is its digits then 9s.
        let half_ulp = Fixed::from_limbs(&[1 << 31, 0, 0, 0]).unwrap();
        let mut written = heapless::String::<200>::new();
        core::fmt::Write::write_fmt(&mut written, format_args!("{half_ulp}")).unwrap();
        // Its exact decimal ends in 5; a hair less is ...4999... to 4,099 places.
        let (head, _) = written.split_at(written.len() - 1);
        corner.push_str(head).unwrap();
        corner.push('4').unwrap();
        while corner.len() < 4099 {
            corner.push('9').unwrap();
        }
        corner.push_str(",0.5").unwrap();
        let view = View::from_corners(wide(96), &corner, "0.5,-0.5", 8, 8).unwrap();
        assert!(view.origin_re.is_zero(), "{}", view.origin_re);
    }

    #[test]
    fn the_centre_pixel_is_the_centre() {
        let format = wide(256);
        let centre = "-0.04947002906310409375169222672735363011874571248822487931810494,\
                      -0.67478757584467536401139205313059765633477070682240348069799979";
        let view = View::from_centre(format, centre, &zoom("1E50"), 1024, 576).unwrap();
        let (re, im) = centre.split_once(',').unwrap();
        let middle = view.point(512, 288);
        assert_eq!(Some(middle.re), Fixed::from_decimal(format.width(), re));
        assert_eq!(Some(middle.im), Fixed::from_decimal(format.width(), im));
        assert_eq!(Some(view.step_x), zoom("1E50").step(format.width(), 576));
    }

    #[test]
    fn bad_centres_and_views_are_refused() {
        let format = wide(128);
        let z = zoom("1E10");
        for centre in ["", "0.1", "a,b", "0.1;0.2", "0.1,"] {
            assert_eq!(
                View::from_centre(format, centre, &z, 10, 10),
                Err(JobError::BadCentre),
                "{centre:?}"
            );
        }
        let far = View::from_centre(format, "2.9,0", &zoom("1"), 100, 100);
        assert_eq!(far, Err(JobError::OutOfRange));
        let deep = View::from_centre(format, "0,0", &zoom("1E40"), 100, 100);
        assert_eq!(deep, Err(JobError::UnresolvableY));
        let empty = View::from_centre(format, "0,0", &z, 0, 10);
        assert_eq!(empty, Err(JobError::EmptyImage));
        assert_eq!(
            View::from_centre(Format::I4F28, "2.5,0", &zoom("1"), 64, 64),
            Err(JobError::OutOfRange)
        );
        assert_eq!(
            View::from_centre(Format::I4F28, "0,0", &zoom("1E9"), 64, 64),
            Err(JobError::UnresolvableY)
        );
    }

    /// A view whose numbers are of another format than the job's is refused, however it was
    /// made (a forged message can say anything).
    #[test]
    fn a_view_of_another_format_is_refused() {
        let view = View::from_centre(wide(128), "0,0", &zoom("1"), 64, 64).unwrap();
        let grid = Grid {
            width: 64,
            height: 64,
            tile_width: 64,
            tile_height: 64,
        };
        let job = |format| Job {
            format,
            view,
            grid,
            iterations: 10,
            kernel: Kernel::Direct,
            smooth: false,
            samples: 1,
        };
        assert_eq!(job(wide(128)).check(), Ok(()));
        assert_eq!(job(wide(160)).check(), Err(JobError::OutOfRange));
        assert_eq!(job(Format::I4F60).check(), Err(JobError::OutOfRange));
        let mut mixed = view;
        mixed.step_y = Fixed::from_int(Width::from_bits(96).unwrap(), 0);
        assert_eq!(view.check(wide(128), 64, 64), Ok(()));
        assert_eq!(mixed.check(wide(128), 64, 64), Err(JobError::OutOfRange));
    }
}
