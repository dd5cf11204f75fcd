//! `--format auto`: the narrowest format that resolves a view, by one exact rule.
use crate::decimal::Zoom;
use crate::error::JobError;
use crate::format::Format;
use crate::limbs::{self, Limb};
use crate::limits::MAX_WIDE_LIMBS;
use crate::view::View;
use crate::wide::{Fixed, Width};

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
    limbs_for_step(&step, limit)
}

/// [`limbs_for`] of a step of the widest format.
fn limbs_for_step(step: &Fixed, limit: u32) -> Result<usize, JobError> {
    let ulps = MIN_STEP_ULPS.max(limit);
    let mut least = [0 as Limb; MAX_WIDE_LIMBS];
    (1..=MAX_WIDE_LIMBS)
        .find(|&n| {
            // ulps · 2^(32 · (widest - n)): the least step, in the widest format's ulps.
            least.fill(0);
            least[MAX_WIDE_LIMBS - n] = ulps;
            limbs::compare(step.limbs(), &least).is_ge()
        })
        .ok_or(JobError::TooDeep)
}

impl Format {
    /// `--format auto` for a view by centre and zoom: the narrowest format whose pixel step is
    /// at least `max(MIN_STEP_ULPS, limit)` ulps ([`limbs_for`] has the rule and why).
    /// [`JobError::TooDeep`] for a view that even the widest does not resolve.
    pub fn for_zoom(zoom: &Zoom, height: u32, limit: u32) -> Result<Format, JobError> {
        limbs_for(zoom, height, limit).map(of_limbs)
    }

    /// `--format auto` for a view by its corners: the same rule, on the smaller of the two
    /// steps, taken in the widest format.
    pub fn for_corners(
        top_left: &str,
        bottom_right: &str,
        width: u32,
        height: u32,
        limit: u32,
    ) -> Result<Format, JobError> {
        let widest = Format::Wide(Width::WIDEST);
        let view = match View::from_corners(widest, top_left, bottom_right, width, height) {
            Err(JobError::UnresolvableX | JobError::UnresolvableY) => {
                return Err(JobError::TooDeep)
            }
            view => view?,
        };
        let step = match view.step_x.cmp_signed(&view.step_y) {
            core::cmp::Ordering::Less => view.step_x,
            _ => view.step_y,
        };
        limbs_for_step(&step, limit).map(of_limbs)
    }
}

/// The format of `limbs` limbs: I4F28, I4F60 or a wide one.
fn of_limbs(limbs: usize) -> Format {
    match limbs {
        1 => Format::I4F28,
        2 => Format::I4F60,
        // From 3 to the widest: limbs_for finds no other count.
        _ => Format::from_bits(limbs as u32 * 32).unwrap_or(Format::Wide(Width::WIDEST)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zoom(text: &str) -> Zoom {
        Zoom::parse(text).unwrap()
    }

    #[test]
    fn the_automatic_format_is_the_narrowest_that_resolves_the_view() {
        let wide = |bits| Ok(Format::from_bits(bits).unwrap());
        assert_eq!(Format::for_zoom(&zoom("1.6"), 480, 128), Ok(Format::I4F28));
        assert_eq!(Format::for_zoom(&zoom("1E7"), 300, 1000), Ok(Format::I4F60));
        assert_eq!(Format::for_zoom(&zoom("1E16"), 300, 1000), wide(96));
        assert_eq!(Format::for_zoom(&zoom("1E50"), 1080, 263_010), wide(224));
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
            wide(96)
        );
        assert_eq!(
            Format::for_corners(a_trillionth, top_left, 10, 10, 100),
            Err(JobError::NotLeftToRight)
        );
    }

    #[test]
    fn the_format_grows_with_the_zoom() {
        // The default view's height is 2.4, a zoom of 5/3: I4F28 at any size.
        assert_eq!(limbs_for(&zoom("1.6667"), 65_535, 1024), Ok(1));
        assert_eq!(limbs_for(&zoom("1E7"), 300, 1000), Ok(2));
        assert_eq!(limbs_for(&zoom("1E16"), 300, 1000), Ok(3));
        assert_eq!(limbs_for(&zoom("1E50"), 1080, 263_010), Ok(7));
        assert_eq!(limbs_for(&zoom("1E1000"), 1080, 100_000), Ok(105));
        let too_deep = Err(JobError::TooDeep);
        assert_eq!(limbs_for(&zoom("1E1230"), 1080, 100_000), too_deep);
        // Too far out is not too deep: a step of 8 or more fits no format.
        assert_eq!(
            limbs_for(&zoom("0.001"), 480, 100),
            Err(JobError::OutOfRange)
        );
    }
}
