//! A view by its centre and zoom, the way deep-zoom locations are shared, in a wide format;
//! and the narrowest format a view needs.
use crate::decimal::Zoom;
use crate::error::JobError;
use crate::limbs::{self, Limb};
use crate::limits::{MAX_SIDE, MAX_WIDE_LIMBS};
use crate::wide::{Fixed, WidePoint, Width};

/// Where the pixels are, in a wide format: as for a narrow view, pixel (x, y) is
/// c = (origin_re + x·step_x, origin_im - y·step_y).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WideView {
    /// Real part of the top-left pixel.
    pub origin_re: Fixed,
    /// Imaginary part of the top-left pixel.
    pub origin_im: Fixed,
    /// Real distance between columns, positive.
    pub step_x: Fixed,
    /// Imaginary distance between rows, positive (rows go down).
    pub step_y: Fixed,
}

impl WideView {
    /// Turns a centre (`RE,IM` decimal text of any length) and a zoom into pixels, exactly:
    /// - the view is `4 / zoom` high and its pixels square, so both steps are
    ///   `4 / (zoom · height)`, rounded once to the format ([`Zoom::step`]);
    /// - pixel (width / 2, height / 2), halves rounded down, is the centre as read
    ///   ([`Fixed::from_decimal`]), so the origin is the centre less whole steps, exact.
    ///
    /// Refuses a centre that is not two decimals, a step that rounds to zero, a view too far
    /// out for the format, and views any of whose pixels leave the safe range.
    pub fn from_centre(
        format: Width,
        centre: &str,
        zoom: &Zoom,
        width: u32,
        height: u32,
    ) -> Result<WideView, JobError> {
        let (re, im) = centre.split_once(',').ok_or(JobError::BadCentre)?;
        let (re, im) = match (
            Fixed::from_decimal(format, re),
            Fixed::from_decimal(format, im),
        ) {
            (Some(re), Some(im)) => (re, im),
            _ => return Err(JobError::BadCentre),
        };
        check_size(width, height)?;
        let step = zoom.step(format, height).ok_or(JobError::OutOfRange)?;
        if step.is_zero() {
            return Err(JobError::UnresolvableY);
        }
        let view = WideView {
            origin_re: re.sub_times(width / 2, &step),
            origin_im: im.add_times(height / 2, &step),
            step_x: step,
            step_y: step,
        };
        view.check(width, height)?;
        Ok(view)
    }

    /// Checks that steps are positive and every pixel of a `width`×`height` image lies in the
    /// safe range, so the kernel cannot overflow on any of them.
    pub fn check(&self, width: u32, height: u32) -> Result<(), JobError> {
        check_size(width, height)?;
        let format = self.origin_re.width();
        let same = [self.origin_im, self.step_x, self.step_y]
            .iter()
            .all(|x| x.width() == format);
        // A forged view may mix formats; every computation below assumes one.
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
        let three = Fixed::from_int(format, 3);
        let fits =
            |span: Option<Fixed>, room: Fixed| span.is_some_and(|s| s.cmp_signed(&room).is_le());
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
    pub fn point(&self, x: u32, y: u32) -> WidePoint {
        WidePoint {
            re: self.origin_re.add_times(x, &self.step_x),
            im: self.origin_im.sub_times(y, &self.step_y),
        }
    }
}

/// `count · step` for a positive step, or `None` if it is 8 or more (it would not fit).
fn span(step: &Fixed, count: u32) -> Option<Fixed> {
    let n = step.width().limbs();
    let mut limbs = [0 as Limb; MAX_WIDE_LIMBS];
    limbs[..n].copy_from_slice(step.limbs());
    let carry = limbs::mul_small(&mut limbs[..n], count, 0);
    let product = Fixed::from_limbs(&limbs[..n])?;
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

/// The fewest ulps a pixel step may be: 2^12, or the iteration limit if that is more.
///
/// Each step rounds each part of z by at most half an ulp, and the orbit carries an error
/// made at one step forward as it carries a change of c (both grow by the same derivatives,
/// 2z a step). So after n steps the rounding has done about what moving c by n ulps would do.
/// With pixels at least `limit` ulps apart that stays within a pixel, and the picture is the
/// set's, not the rounding's. 2^12 more keeps the default view, at every size up to 65,535
/// pixels across, in I4F28 as before.
pub const MIN_STEP_ULPS: u32 = 1 << 12;

/// The limbs of the narrowest format in which a view `height` pixels high at `zoom` has a
/// step of at least `max(MIN_STEP_ULPS, limit)` ulps: 1 is I4F28, 2 is I4F60, more a
/// [`Width`]. [`JobError::OutOfRange`] for a zoom so far out that a step does not fit any
/// format, [`JobError::TooDeep`] for one that even the widest does not resolve.
///
/// The step is taken once, in the widest format; in a format `k` limbs narrower it is that
/// step over `2^32k` ulps, so the rule is one exact comparison per format, the same on every
/// machine.
pub fn limbs_for(zoom: &Zoom, height: u32, limit: u32) -> Result<usize, JobError> {
    let step = zoom
        .step(Width::WIDEST, height)
        .ok_or(JobError::OutOfRange)?;
    let ulps = MIN_STEP_ULPS.max(limit);
    let mut least = [0 as Limb; MAX_WIDE_LIMBS];
    (1..=MAX_WIDE_LIMBS)
        .find(|&n| {
            // ulps · 2^(32 · (widest - n)): the least step, in the widest format's ulps.
            least.fill(0);
            least[MAX_WIDE_LIMBS - n] = ulps;
            limbs::compare(step.limbs(), &least).is_ge()
        })
        .ok_or(JobError::TooDeep { bits: u32::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zoom(text: &str) -> Zoom {
        Zoom::parse(text).unwrap()
    }

    #[test]
    fn the_centre_pixel_is_the_centre() {
        let format = Width::from_bits(256).unwrap();
        let centre = "-0.04947002906310409375169222672735363011874571248822487931810494,\
                      -0.67478757584467536401139205313059765633477070682240348069799979";
        let view = WideView::from_centre(format, centre, &zoom("1E50"), 1024, 576).unwrap();
        let (re, im) = centre.split_once(',').unwrap();
        let middle = view.point(512, 288);
        assert_eq!(Some(middle.re), Fixed::from_decimal(format, re));
        assert_eq!(Some(middle.im), Fixed::from_decimal(format, im));
        assert_eq!(Some(view.step_x), zoom("1E50").step(format, 576));
    }

    #[test]
    fn bad_centres_and_views_are_refused() {
        let format = Width::from_bits(128).unwrap();
        let z = zoom("1E10");
        for centre in ["", "0.1", "a,b", "0.1;0.2", "0.1,"] {
            assert_eq!(
                WideView::from_centre(format, centre, &z, 10, 10),
                Err(JobError::BadCentre),
                "{centre:?}"
            );
        }
        let far = WideView::from_centre(format, "2.9,0", &zoom("1"), 100, 100);
        assert_eq!(far, Err(JobError::OutOfRange));
        let deep = WideView::from_centre(format, "0,0", &zoom("1E40"), 100, 100);
        assert_eq!(deep, Err(JobError::UnresolvableY));
        let empty = WideView::from_centre(format, "0,0", &z, 0, 10);
        assert_eq!(empty, Err(JobError::EmptyImage));
    }

    #[test]
    fn the_format_grows_with_the_zoom() {
        // The default view's height is 2.4, a zoom of 5/3: I4F28 at any size.
        assert_eq!(limbs_for(&zoom("1.6667"), 65_535, 1024), Ok(1));
        assert_eq!(limbs_for(&zoom("1E7"), 300, 1000), Ok(2));
        assert_eq!(limbs_for(&zoom("1E16"), 300, 1000), Ok(3));
        assert_eq!(limbs_for(&zoom("1E50"), 1080, 263_010), Ok(7));
        assert_eq!(limbs_for(&zoom("1E1000"), 1080, 100_000), Ok(105));
        let too_deep = Err(JobError::TooDeep { bits: u32::MAX });
        assert_eq!(limbs_for(&zoom("1E1230"), 1080, 100_000), too_deep);
        // Too far out is not too deep: a step of 8 or more fits no format.
        assert_eq!(
            limbs_for(&zoom("0.001"), 480, 100),
            Err(JobError::OutOfRange)
        );
    }
}
