//! The perturbation kernels ([`crate::Kernel::PerturbationV1`] and
//! [`crate::Kernel::PerturbationV2`]): one reference orbit in the job's format, exact, and each
//! pixel's small difference from it in integers; version 2 skips iterations by bilinear
//! approximation.
//!
//! The rules, which are the kernel's and which a new version would change:
//! - **The reference** is the job's centre pixel, `(width / 2, height / 2)`. Its orbit is
//!   direct iteration's in the job's format ([`escape_wide`](crate::escape_wide)), kept as
//!   [`OrbitPoint`]s: `Z_m` in block floating point ([`Delta`], 62 bits relative, so a value
//!   near 0, where a minibrot's orbit passes, keeps its precision), each part's magnitude
//!   truncated, and its exact escape margin `|Z_m|² - 4` kept to 62 bits; from `Z_0 = 0` to
//!   the step where it escapes, to the limit, or to where it repeats exactly (then the orbit
//!   goes on from the value it repeats, as the same values follow).
//! - **A pixel** is `z_n = Z_m + δ` with `δc = c - c_ref` (exact in the format, then rounded
//!   once to a [`Delta`]) and `δ ← 2·Z_m·δ + δ² + δc` ([`Delta::step`]).
//! - **Escape**, before each step: `(|Z_m|² - 4) + 2·Re(conj(Z_m)·δ) + |δ|² > 0`, exactly,
//!   with the reference's margin (`escape.rs`): a point a hair outside the circle escapes
//!   however far below Z's bits the hair is, and where the reference itself passes a hair
//!   from the circle its margin, not its kept bits, decides. So with `δc = 0` a pixel
//!   escapes exactly when the reference does: its count is direct iteration's (a property
//!   test holds it).
//! - **Rebasing** (Zhuoran, 2021), after the escape test: when `|Z_m + δ|² < |δ|²`, compared
//!   exactly in δ's unit (Z_m rounded to it if coarser), `δ := Z_m + δ` and `m := 0`.
//! - **A pixel that outlives the reference**, reaching its last value when it escaped, is
//!   counted by direct iteration in the job's format, from the start: rebased there, δ would
//!   be the whole z, near 2, and its 62 bits could not hold δc (a probe found half a view
//!   by the needle at 1e24 counted 2 where the set's points count to the limit).
//! - **Version 2 skips**, after rebasing: the longest map of the BLA table (`bla.rs`) from `m`
//!   whose radius `|δ|` is within takes its `2^k` steps at once, `δ := A·δ + B·δc`, with no
//!   escape test or rebasing inside (none can be due there: a map spans only steps where Z
//!   is safely inside the circle and δ far below Z); a skip past the limit ends at it.
//!   Otherwise, and always in version 1, one step.
//! - **The count** is the steps taken, `0..=limit`; an exact repeat of `(m, δ)` means the
//!   limit, since the step (and the skip) is a function of them alone (`Cycles`, as in direct
//!   iteration).
//!
//! A count is a pure function of the job's integers, the same on every machine. It is not
//! direct iteration's: both round, and they part where the orbit is chaotic
//! (BENCHMARKS.md measures how often). One limit of both versions is known, and is every
//! 62-bit perturbation's: a pixel whose orbit differs from the reference's in one part by
//! far less than each (`z_im = Z_im + δ_im` cancelling to 78 bits for a pixel 2^-124 off
//! the real axis by the needle, the reference 1e-14 off it) keeps none of that part, and
//! once rebased its orbit is real: that row counts to the limit where direct iteration,
//! which carries the 2^-124, escapes at about 100 (`--center -2,0.00000000000001 --zoom
//! 1E14 --format 128`, 31 of 2,048 pixels). Wider mantissas would move the limit, not end it.
use crate::bla::{self, Bla};
use crate::bound::{Bound, Way};
use crate::cycles::Cycles;
use crate::delta::{Delta, MANTISSA_BITS};
use crate::error::JobError;
use crate::escape;
use crate::job::Job;
use crate::limbs::{self, Limb, LIMB_BITS};
use crate::orbit::OrbitPoint;
use crate::smooth::{smooth, Smooth};
use crate::wide::{self, orbit_wide, Fixed, OrbitEnd};

/// A job's reference orbit: what every pixel of the job is computed against.
#[derive(Clone, Copy, Debug)]
pub struct Reference<'a> {
    /// `Z_0 = 0` to its last value.
    orbit: &'a [OrbitPoint],
    /// How it ends.
    end: OrbitEnd,
    /// Its BLA table (`bla.rs`), empty for version 1.
    table: &'a [Bla],
}

impl<'a> Reference<'a> {
    /// Computes `job`'s reference orbit into `room`, which needs up to
    /// [`Reference::most_points`] of the job (fewer when the reference escapes early); refuses
    /// a job of another kernel or a room too small for its orbit.
    pub fn compute<const L: usize>(
        job: &Job<L>,
        room: &'a mut [OrbitPoint],
    ) -> Result<Reference<'a>, JobError> {
        job.check()?;
        if !job.kernel.is_perturbation() {
            return Err(JobError::NotPerturbation);
        }
        let (x, y) = reference_pixel(job);
        let (len, end) = orbit_wide(&job.view.point(x, y), job.iterations, room);
        let whole = end != OrbitEnd::Stopped || len == Reference::most_points(job);
        let orbit = room.get(..len).filter(|_| whole);
        // Whole, it holds Z_0 and Z_1 at least: a checked job's limit is 1 or more.
        Reference::from_parts(orbit.ok_or(JobError::OrbitTooLong)?, end, &[])
            .ok_or(JobError::OrbitTooLong)
    }

    /// A reference computed before ([`Reference::compute`], [`Reference::with_table`]) from
    /// the values it holds, how it ends ([`Reference::end`]) and its table, as a cache kept
    /// them; `None` if they cannot be one (fewer than two values, which any limit gives, a repeat of a value it does not
    /// hold, or a table of another length).
    pub fn from_parts(
        orbit: &'a [OrbitPoint],
        end: OrbitEnd,
        table: &'a [Bla],
    ) -> Option<Reference<'a>> {
        let last = orbit.len().checked_sub(1).filter(|&last| last > 0)?;
        let whole = table.is_empty() || table.len() == bla::entries(last);
        match end {
            OrbitEnd::Repeats { from } if from >= last => None,
            _ => whole.then_some(Reference { orbit, end, table }),
        }
    }

    /// How it ends.
    pub fn end(&self) -> OrbitEnd {
        self.end
    }

    /// What `job`'s kernel computes against: its reference orbit, computed into `room`, and
    /// for a kernel that skips its BLA table, built into `table` (both as long as
    /// [`Reference::compute`] and [`Reference::with_table`] need).
    pub fn of_job<const L: usize>(
        job: &Job<L>,
        room: &'a mut [OrbitPoint],
        table: &'a mut [Bla],
    ) -> Result<Reference<'a>, JobError> {
        let reference = Reference::compute(job, room)?;
        match job.kernel.skips() {
            true => reference.with_table(job, table),
            false => Ok(reference),
        }
    }

    /// The reference with its BLA table, built into `room` (at least
    /// [`Reference::table_entries`] long), for a job of a kernel that skips by BLA.
    pub fn with_table<const L: usize>(
        self,
        job: &Job<L>,
        room: &'a mut [Bla],
    ) -> Result<Reference<'a>, JobError> {
        let last = self.orbit.len() - 1;
        let room = room
            .get_mut(..bla::entries(last))
            .ok_or(JobError::OrbitTooLong)?;
        bla::build(self.orbit, dc_most(job), room);
        Ok(Reference {
            table: room,
            ..self
        })
    }

    /// Whether it carries a BLA table ([`Reference::with_table`]).
    pub fn has_table(&self) -> bool {
        !self.table.is_empty()
    }

    /// The entries of a BLA table for this orbit.
    pub fn table_entries(&self) -> usize {
        bla::entries(self.orbit.len() - 1)
    }

    /// The most values a job's reference orbit holds: the limit's steps and `Z_0`.
    pub fn most_points<const L: usize>(job: &Job<L>) -> usize {
        job.iterations as usize + 1
    }

    /// The values it holds.
    pub fn len(&self) -> usize {
        self.orbit.len()
    }

    /// Whether it holds none (a computed reference always holds `Z_0`).
    pub fn is_empty(&self) -> bool {
        self.orbit.is_empty()
    }
}

/// The pixel whose orbit is the reference: the centre one.
pub fn reference_pixel<const L: usize>(job: &Job<L>) -> (u32, u32) {
    (job.grid.width / 2, job.grid.height / 2)
}

/// The escape count of pixel (x, y) of `job` against its `reference`; the job is checked.
pub(crate) fn count<const L: usize>(job: &Job<L>, reference: &Reference, x: u32, y: u32) -> u32 {
    match escape_perturbed(reference, &delta_c(job, x, y), job.iterations) {
        Some((count, _)) => count,
        None => crate::escape_wide(&job.view.point(x, y), job.iterations),
    }
}

/// [`count`] and the pixel's smooth fraction ([`crate::smooth`]): from `Z + δ` where it
/// escaped, or as direct iteration gives both where it counts the pixel.
pub(crate) fn count_smooth<const L: usize>(
    job: &Job<L>,
    reference: &Reference,
    x: u32,
    y: u32,
) -> (u32, Smooth) {
    let c = job.view.point(x, y);
    match escape_perturbed(reference, &delta_c(job, x, y), job.iterations) {
        Some((count, z)) if count < job.iterations => {
            let c = (wide::top_of(&c.re), wide::top_of(&c.im));
            (
                count,
                smooth(z.fixed(wide::SMOOTH_BITS), c, wide::SMOOTH_BITS),
            )
        }
        Some((count, _)) => (count, 0),
        None => wide::escape_wide_smooth(&c, job.iterations),
    }
}

/// `δc = c(x, y) - c_ref`, exact in the job's format, rounded once to a delta.
fn delta_c<const L: usize>(job: &Job<L>, x: u32, y: u32) -> Delta {
    let (x0, y0) = reference_pixel(job);
    let view = &job.view;
    // Rows go down: c_im falls as y grows.
    delta_of(&offset(&view.step_x, x0, x), &offset(&view.step_y, y, y0))
}

/// The delta nearest `re + i·im`, two numbers of one wide format, rounded once (each
/// magnitude to nearest, ties away from zero): `δc`, a pixel's c less the reference's,
/// exact in the format.
fn delta_of<const L: usize>(re: &Fixed<L>, im: &Fixed<L>) -> Delta {
    let ((re, re_negative), (im, im_negative)) = (re.magnitude(), im.magnitude());
    let top = limbs::bit_length(re.limbs()).max(limbs::bit_length(im.limbs()));
    if top == 0 {
        return Delta::ZERO;
    }
    let frac = re.width().frac_bits() as i32;
    let mut shift = top as i32 - MANTISSA_BITS as i32;
    let mut parts = (top_bits(re.limbs(), shift), top_bits(im.limbs(), shift));
    if (parts.0 | parts.1) >> MANTISSA_BITS != 0 {
        shift += 1;
        parts = (top_bits(re.limbs(), shift), top_bits(im.limbs(), shift));
    }
    let signed = |part: u64, negative: bool| {
        let part = part as i64;
        if negative {
            -part
        } else {
            part
        }
    };
    Delta {
        re: signed(parts.0, re_negative),
        im: signed(parts.1, im_negative),
        exp: shift - frac,
    }
}

/// `magnitude · 2^-shift` rounded once (`shift` may be negative, then exact), for a
/// magnitude whose bit length is `shift + 62`: at most 2^62.
fn top_bits(magnitude: &[Limb], shift: i32) -> u64 {
    let mut out = [0 as Limb; 3];
    if shift <= 0 {
        limbs::shift_left_into(magnitude, (-shift) as u32, &mut out);
        return join(&out);
    }
    let shift = shift as u32;
    limbs::shift_right_into(magnitude, shift, &mut out);
    let below = shift - 1;
    let half = magnitude
        .get((below / LIMB_BITS) as usize)
        .is_some_and(|limb| limb >> (below % LIMB_BITS) & 1 == 1);
    join(&out) + u64::from(half)
}

fn join(limbs: &[Limb; 3]) -> u64 {
    u64::from(limbs[0]) | u64::from(limbs[1]) << LIMB_BITS
}

/// `(to - from) · step`, exact.
fn offset<const L: usize>(step: &Fixed<L>, from: u32, to: u32) -> Fixed<L> {
    let zero = Fixed::zero_in(step.width());
    if to >= from {
        zero.add_times(to - from, step)
    } else {
        zero.sub_times(from - to, step)
    }
}

/// A bound at or above every pixel's `|δc|`: the farthest corner's.
fn dc_most<const L: usize>(job: &Job<L>) -> Bound {
    let (w, h) = (job.grid.width - 1, job.grid.height - 1);
    [(0, 0), (w, 0), (0, h), (w, h)]
        .into_iter()
        .map(|(x, y)| Bound::magnitude(&delta_c(job, x, y), Way::Up))
        .fold(Bound::ZERO, Bound::max)
}

/// The perturbed loop of one pixel (see the module for its rules); `None` for a pixel that
/// outlives an escaped reference.
fn escape_perturbed(reference: &Reference, dc: &Delta, limit: u32) -> Option<(u32, Delta)> {
    let orbit = reference.orbit;
    let last = orbit.len() - 1;
    let (mut m, mut delta) = (0, Delta::ZERO);
    let mut saved = (m, delta);
    let mut cycles = Cycles::new();
    let mut taken = 0;
    while taken < limit {
        let point = &orbit[m];
        if escape::beyond_two(point, &delta) {
            return Some((taken, delta.plus_orbit(&point.z())));
        }
        // A repeating orbit never reaches its last value (see below), and one that ran to
        // the limit only at the limit (a pixel has taken at least m steps): this one escaped.
        if m == last {
            return None;
        }
        let z = point.z();
        if rebases(&z, &delta) {
            delta = delta.plus_orbit(&z);
            m = 0;
        }
        match bla::longest(reference.table, last, m, &delta) {
            Some((map, steps)) => {
                delta = Delta::linear(&map.a, &delta, &map.b, dc);
                m += steps;
                taken = taken.saturating_add(steps as u32);
            }
            None => {
                delta = delta.step(&orbit[m].z(), dc);
                m += 1;
                taken += 1;
            }
        }
        if m == last {
            if let OrbitEnd::Repeats { from } = reference.end {
                // Z_last is Z_from exactly: the same values follow.
                m = from;
            }
        }
        if cycles.compare_now(taken) && (m, delta) == saved {
            return Some((limit, delta));
        }
        if cycles.save_now(taken) {
            saved = (m, delta);
        }
    }
    Some((limit, delta))
}

/// Whether `|Z + δ|² < |δ|²`, compared exactly in δ's unit (Z rounded to it when coarser).
#[inline(always)]
fn rebases(z: &Delta, delta: &Delta) -> bool {
    match delta.plus_orbit_in_unit(z) {
        Some((re, im)) => ((re * re + im * im) as u128) < delta.norm(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;
    use crate::grid::Grid;
    use crate::view::View;
    use crate::wide::Width;
    use crate::Zoom;

    fn job(centre: &str, zoom: &str, size: u32, iterations: u32) -> Job {
        let zoom = Zoom::parse(zoom).unwrap();
        let format = Format::for_zoom(&zoom, size, iterations).unwrap();
        Job {
            format,
            view: View::from_centre(format, centre, &zoom, size, size).unwrap(),
            grid: Grid {
                width: size,
                height: size,
                tile_width: size,
                tile_height: size,
            },
            iterations,
            kernel: crate::Kernel::PerturbationV1,
            smooth: false,
            samples: 1,
        }
    }

    #[test]
    fn delta_c_from_wide_numbers_is_rounded_once() {
        let width = Width::from_bits(128).unwrap();
        let re = Fixed::from_i64(width, 3);
        let im = Fixed::from_i64(width, -(1 << 62) - 1);
        let d = delta_of(&re, &im);
        // im has 63 bits: one bit dropped, and magnitudes round to nearest, ties away from 0.
        assert_eq!(
            (i128::from(d.re), i128::from(d.im), d.exp),
            (2, -(1 << 61) - 1, 1 - 124)
        );
    }

    #[test]
    fn the_reference_pixel_counts_as_direct_iteration() {
        let job = job("-1.74999841099374081749002483162428393452822172335808534616943930976364659857414193,0.0000000000000000000000000000000000000000000000000000000000000000000000000000000", "1E30", 9, 5000);
        let mut room = [OrbitPoint::default(); 5001];
        let reference = Reference::compute(&job, &mut room).unwrap();
        let (x, y) = reference_pixel(&job);
        let direct = crate::escape_wide(&job.view.point(x, y), job.iterations);
        assert_eq!(count(&job, &reference, x, y), direct);
    }

    #[test]
    fn a_room_too_small_for_the_orbit_is_refused() {
        let job = job("-0.75,0.1", "1E20", 8, 300);
        let mut room = [OrbitPoint::default(); 10];
        assert_eq!(
            Reference::compute(&job, &mut room).err(),
            Some(JobError::OrbitTooLong)
        );
    }
}
