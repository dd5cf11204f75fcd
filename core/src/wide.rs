//! The wide formats: four integer bits, like I4F28 and I4F60, and as many fraction bits as a
//! deep zoom needs, in 32-bit limbs; their numbers; and the kernel's one step on them, under
//! the narrow formats' rules.
//!
//! A number of a format of `n` limbs is a two's complement integer of `32n` bits standing for
//! `raw / 2^(32n - 4)`: I4F92 for 3 limbs, I4F4092 for [`MAX_WIDE_LIMBS`]. Any count of limbs
//! between is a format, so a view pays for the bits it needs and no more.
//!
//! The step is the narrow one, written for limbs (`limits.rs` has the overflow argument):
//! escape before it when re² + im² > 4, exactly; then each part of z² + c from the exact
//! double-width products, rounded once by the one rule, `floor(x / 2^F + 1/2)`.
use core::cmp::Ordering;
use core::fmt;

use crate::cycles::{Cycles, CHECK_EVERY};
use crate::delta::{Delta, MANTISSA_BITS};
use crate::limbs::{self, Limb, Word, LIMB_BITS};
use crate::limits::{MAX_WIDE_LIMBS, SAFE_BOUND};
use crate::orbit::OrbitPoint;
use crate::smooth::{smooth, Smooth};
use crate::trap;

/// A wide format, by its count of 32-bit limbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Width(u8);

impl Width {
    /// The narrowest wide format, 96 bits: the narrow formats cover 32 and 64.
    pub const NARROWEST: Width = Width(3);
    /// I4F28's bits, one limb: a narrow format's numbers are a wide one's of one or two limbs.
    pub(crate) const I4F28: Width = Width(1);
    /// I4F60's bits, two limbs.
    pub(crate) const I4F60: Width = Width(2);
    /// The widest, 4096 bits: 4092 fraction bits resolve a step of 1e-1000 with 20 guard bits
    /// to spare and a pixel count's worth more (see [`MAX_WIDE_LIMBS`]).
    pub const WIDEST: Width = Width(MAX_WIDE_LIMBS as u8);

    /// The wide format of `bits` bits in all: a multiple of 32 from 96 to 4096.
    pub const fn from_bits(bits: u32) -> Option<Width> {
        if bits.is_multiple_of(LIMB_BITS) && bits >= 96 && bits <= LIMB_BITS * MAX_WIDE_LIMBS as u32
        {
            Some(Width((bits / LIMB_BITS) as u8))
        } else {
            None
        }
    }

    /// A format of any count of limbs from 1 (I4F28's bits) to [`MAX_WIDE_LIMBS`]; the narrow
    /// counts let a test hold the wide step to the narrow kernels.
    pub(crate) const fn from_limbs(limbs: usize) -> Option<Width> {
        if limbs >= 1 && limbs <= MAX_WIDE_LIMBS {
            Some(Width(limbs as u8))
        } else {
            None
        }
    }

    /// 32-bit limbs in a number.
    pub const fn limbs(self) -> usize {
        self.0 as usize
    }

    /// Bits in all.
    pub const fn bits(self) -> u32 {
        self.0 as u32 * LIMB_BITS
    }

    /// Fraction bits: a raw value `r` stands for `r / 2^frac_bits()`.
    pub const fn frac_bits(self) -> u32 {
        self.bits() - 4
    }
}

/// On the wire a width is its count of limbs, one byte; one that names no wide format is
/// refused as it is read, so a decoded width is always one.
impl serde::Serialize for Width {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Width {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Width, D::Error> {
        let limbs = u8::deserialize(deserializer)?;
        Width::from_bits(u32::from(limbs) * LIMB_BITS)
            .ok_or_else(|| serde::de::Error::custom("not a wide format"))
    }
}

/// A number of a wide format.
///
/// Limbs past the format's are zero, so equal numbers are equal structs.
///
/// `L` is the room, in limbs: any width up to it. The widest by default; a board with
/// little RAM holds its numbers, views and requests in the room of the widest format it
/// computes (a view of 4,096-bit numbers is 2 KiB).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fixed<const L: usize = MAX_WIDE_LIMBS> {
    width: Width,
    raw: [Limb; L],
}

impl Fixed {
    /// Zero in `width`.
    pub const fn zero(width: Width) -> Fixed {
        Fixed::zero_in(width)
    }

    /// The whole number `value` in `width` (at most 7 in magnitude, or it wraps).
    pub fn from_int(width: Width, value: i8) -> Fixed {
        Fixed::from_int_in(width, value)
    }

    /// The number from its raw limbs, little-endian; `None` if there are more than the
    /// widest format holds.
    pub fn from_limbs(limbs: &[Limb]) -> Option<Fixed> {
        let width = Width::from_limbs(limbs.len())?;
        let mut number = Fixed::zero(width);
        number.limbs_mut().copy_from_slice(limbs);
        Some(number)
    }

    /// The number of raw bits `raw`, two's complement, in `width` (sign-extended, or cut to
    /// one limb for I4F28's bits, where it must fit an `i32` or it wraps).
    pub fn from_i64(width: Width, raw: i64) -> Fixed {
        Fixed::from_i64_in(width, raw)
    }
}

impl<const L: usize> Fixed<L> {
    /// Zero in `width`, in a room of `L` limbs (which must hold it).
    pub(crate) const fn zero_in(width: Width) -> Fixed<L> {
        Fixed { width, raw: [0; L] }
    }

    /// The whole number `value` in `width` (at most 7 in magnitude, or it wraps).
    pub(crate) fn from_int_in(width: Width, value: i8) -> Fixed<L> {
        let mut number = Self::zero_in(width);
        // Two's complement of a whole number: its bits in the top limb, zeros below.
        if let Some(top) = number.limbs_mut().last_mut() {
            *top = (i32::from(value) << (LIMB_BITS - 4)) as Limb;
        }
        number
    }

    /// The number of raw bits `raw`, two's complement, in `width` (sign-extended, or cut to
    /// one limb for I4F28's bits, where it must fit an `i32` or it wraps).
    pub(crate) fn from_i64_in(width: Width, raw: i64) -> Fixed<L> {
        let mut number = Self::zero_in(width);
        let fill = if raw < 0 { Limb::MAX } else { 0 };
        for (i, limb) in number.limbs_mut().iter_mut().enumerate() {
            *limb = if i < 2 {
                (raw >> (32 * i)) as Limb
            } else {
                fill
            };
        }
        number
    }

    /// Its raw bits as an `i64`, two's complement, if they fit one (a number of one or two
    /// limbs always does: I4F28's and I4F60's raw bits).
    pub fn to_i64(&self) -> Option<i64> {
        let limbs = self.limbs();
        let fill = if self.is_negative() { Limb::MAX } else { 0 };
        let at = |i: usize| limbs.get(i).copied().unwrap_or(fill);
        let value = (i64::from(at(1) as i32) << 32) | i64::from(at(0));
        let fits =
            limbs.iter().skip(2).all(|&limb| limb == fill) && (value < 0) == self.is_negative();
        fits.then_some(value)
    }

    /// Its format.
    pub const fn width(&self) -> Width {
        self.width
    }

    /// Its raw limbs, little-endian two's complement.
    pub fn limbs(&self) -> &[Limb] {
        // A width beyond the room is never made (the constructors and the wire see to it);
        // were it, the number would be its room's limbs, never a panic.
        &self.raw[..self.width.limbs().min(L)]
    }

    pub(crate) fn limbs_mut(&mut self) -> &mut [Limb] {
        let n = self.width.limbs().min(L);
        &mut self.raw[..n]
    }

    /// Whether it is below zero.
    pub fn is_negative(&self) -> bool {
        limbs::is_negative(self.limbs())
    }

    /// Whether it is zero.
    pub fn is_zero(&self) -> bool {
        limbs::is_zero(self.limbs())
    }

    /// `self + k · step`, wrapping.
    pub fn add_times(&self, k: u32, step: &Fixed<L>) -> Fixed<L> {
        let mut product = *step;
        let negative = product.is_negative();
        if negative {
            limbs::negate(product.limbs_mut());
        }
        limbs::mul_small(product.limbs_mut(), k, 0);
        let mut sum = *self;
        if negative {
            limbs::sub(sum.limbs_mut(), product.limbs());
        } else {
            limbs::add(sum.limbs_mut(), product.limbs());
        }
        sum
    }

    /// `self - k · step`, wrapping.
    pub fn sub_times(&self, k: u32, step: &Fixed<L>) -> Fixed<L> {
        let mut negated = *step;
        limbs::negate(negated.limbs_mut());
        self.add_times(k, &negated)
    }

    /// Whether it lies in the safe range, `[-3, 3]` ([`SAFE_BOUND`]).
    pub fn is_safe(&self) -> bool {
        self.cmp_int(SAFE_BOUND as i8).is_le() && self.cmp_int(-(SAFE_BOUND as i8)).is_ge()
    }

    fn cmp_int(&self, value: i8) -> Ordering {
        self.cmp_signed(&Self::from_int_in(self.width, value))
    }

    /// Signed comparison with a number of the same format.
    pub fn cmp_signed(&self, other: &Fixed<L>) -> Ordering {
        match (self.is_negative(), other.is_negative()) {
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            _ => limbs::compare(self.limbs(), other.limbs()),
        }
    }

    /// Its magnitude and whether it is negative.
    pub(crate) fn magnitude(&self) -> (Fixed<L>, bool) {
        let mut magnitude = *self;
        let negative = self.is_negative();
        if negative {
            limbs::negate(magnitude.limbs_mut());
        }
        (magnitude, negative)
    }
}

#[cfg(feature = "defmt")]
impl<const L: usize> defmt::Format for Fixed<L> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Fixed({=usize} limbs)", self.width.limbs())
    }
}

impl<const L: usize> fmt::Debug for Fixed<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// A point of the complex plane in a wide format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WidePoint<const L: usize = MAX_WIDE_LIMBS> {
    /// Real part.
    pub re: Fixed<L>,
    /// Imaginary part.
    pub im: Fixed<L>,
}

/// Escape time of one point of a wide format, under the narrow kernels' rules: before each
/// step, escape if re² + im² > 4; the count is the steps taken, `0..=limit`; an exact repeat of
/// z means the limit (see `kernel.rs`, `Cycles`). `c`'s parts must share a format and lie in
/// the safe range (the caller checks: see [`Fixed::is_safe`]).
///
/// In 64-bit words where the CPU multiplies them into 128 bits, else in 32-bit ones: every
/// product and sum is exact either way, so the counts are the same integers.
pub fn escape_wide<const L: usize>(c: &WidePoint<L>, limit: u32) -> u32 {
    with_orbit(c, Count { limit })
}

/// [`escape_wide`]'s count and the smooth fraction of its escaped z ([`crate::smooth`]), from
/// the top bits of z and c: 0 for a point that does not escape.
pub fn escape_wide_smooth<const L: usize>(c: &WidePoint<L>, limit: u32) -> (u32, Smooth) {
    let c_top = (top_of(&c.re), top_of(&c.im));
    with_orbit(c, CountSmooth { limit, c: c_top })
}

/// The fraction bits a wide number is cut to for [`smooth`], which keeps 40.
pub(crate) const SMOOTH_BITS: u32 = 40;

/// `x` to [`SMOOTH_BITS`] fraction bits, its magnitude truncated: `|x|` below 2^23.
pub(crate) fn top_of<const L: usize>(x: &Fixed<L>) -> i64 {
    let (magnitude, negative) = x.magnitude();
    let top = shifted_down::<Limb>(magnitude.limbs(), x.width().frac_bits() - SMOOTH_BITS) as i64;
    if negative {
        -top
    } else {
        top
    }
}

/// The orbit of `c` from 0, exact in its format as [`escape_wide`] takes it, the z after `n`
/// steps written to `out[n]` ([`OrbitPoint`]: a delta truncated toward zero
/// ([`Delta::truncated`]), so that `|Z|² <= |z|²`, and z's exact escape margin kept to 62
/// bits): until z has escaped, after `limit` steps, until z repeats exactly
/// (found as [`escape_wide`] finds it), or until `out` is full. Returns how many it wrote and
/// how the orbit ended.
pub(crate) fn orbit_wide<const L: usize>(
    c: &WidePoint<L>,
    limit: u32,
    out: &mut [OrbitPoint],
) -> (usize, OrbitEnd) {
    with_orbit(c, Record { limit, out })
}

/// How a reference orbit ends: its last value is
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrbitEnd {
    /// escaped;
    Escaped,
    /// after the limit's steps, or where `out` was full;
    Stopped,
    /// `z_from` again, exactly: the orbit repeats from there forever, never escaping.
    Repeats {
        /// The step whose value the last one repeats.
        from: usize,
    },
}

/// What is done with a point's orbit, in whatever words [`with_orbit`] chooses.
trait OrbitTask {
    type Out;
    fn run<W: Word, const M: usize, const C: usize>(self, orbit: &mut Orbit<W, M, C>) -> Self::Out;
}

/// Runs `task` on the orbit of `c` in 64-bit words where the CPU multiplies them into 128
/// bits, else in 32-bit ones: every product and sum is exact either way, so the orbits are
/// the same integers.
fn with_orbit<T: OrbitTask, const L: usize>(c: &WidePoint<L>, task: T) -> T::Out {
    let limbs = c.re.width().limbs();
    if !cfg!(target_pointer_width = "64") {
        // Room for no more than the width needs, so that a board with 16 KiB of RAM computes
        // the widths it holds: an orbit takes 80 bytes a limb.
        // A room of `L` limbs holds no wider number, so a board's build has no larger orbit.
        return match limbs {
            _ if L <= 8 || limbs <= 8 => in_words::<u32, 0, 8, L, T>(c, task),
            _ if L <= 32 || limbs <= 32 => in_words::<u32, 0, 32, L, T>(c, task),
            _ => in_words::<u32, 0, MAX_WIDE_LIMBS, L, T>(c, task),
        };
    }
    // Widths to 1,024 bits with their word count known when compiled, so the squares'
    // loops are unrolled and the orbit is no larger than it needs; the rest with it known
    // when run.
    match limbs.div_ceil(2) {
        1 => in_words::<u64, 1, 1, L, T>(c, task),
        2 => in_words::<u64, 2, 2, L, T>(c, task),
        3 => in_words::<u64, 3, 3, L, T>(c, task),
        4 => in_words::<u64, 4, 4, L, T>(c, task),
        6 => in_words::<u64, 6, 6, L, T>(c, task),
        8 => in_words::<u64, 8, 8, L, T>(c, task),
        12 => in_words::<u64, 12, 12, L, T>(c, task),
        16 => in_words::<u64, 16, 16, L, T>(c, task),
        _ => in_words::<u64, 0, { MAX_WIDE_LIMBS / 2 }, L, T>(c, task),
    }
}

/// The orbit of `c` in words `W`, `M` of them a part if known when compiled (else 0), in
/// room for `C` words a part, which must hold c's width. Never inlined, so that a caller's
/// stack holds one orbit while it runs, not one of each size (a board's 16 KiB could not);
/// its name is what `scripts/wide-loops` looks for.
#[inline(never)]
fn in_words<W: Word, const M: usize, const C: usize, const L: usize, T: OrbitTask>(
    c: &WidePoint<L>,
    task: T,
) -> T::Out {
    task.run(&mut Orbit::<W, M, C>::new(c))
}

/// [`escape_wide`]'s task: the escape count, with exact periodicity.
struct Count {
    limit: u32,
}

impl OrbitTask for Count {
    type Out = u32;

    #[inline(always)]
    fn run<W: Word, const M: usize, const C: usize>(self, orbit: &mut Orbit<W, M, C>) -> u32 {
        let limit = self.limit;
        let mut cycles = Cycles::new();
        // After a save, the next step's value: the pair a certificate (trap.rs) is asked of.
        let mut just_saved = false;
        for steps in 0..limit {
            if !orbit.step() {
                return steps;
            }
            if just_saved {
                just_saved = false;
                if orbit.trapped() {
                    return limit;
                }
            }
            let steps = steps + 1;
            if steps % CHECK_EVERY == 0 {
                if cycles.compare_now(steps) && orbit.repeats() {
                    return limit;
                }
                if cycles.save_now(steps) {
                    orbit.save();
                    just_saved = true;
                }
            }
        }
        limit
    }
}

/// [`escape_wide_smooth`]'s task: [`Count`]'s, and the smooth fraction of the escaped z.
struct CountSmooth {
    limit: u32,
    /// c's parts to [`SMOOTH_BITS`].
    c: (i64, i64),
}

impl OrbitTask for CountSmooth {
    type Out = (u32, Smooth);

    fn run<W: Word, const M: usize, const C: usize>(self, orbit: &mut Orbit<W, M, C>) -> Self::Out {
        let count = Count { limit: self.limit }.run(orbit);
        let fraction = match count < self.limit {
            true => smooth(orbit.z_top(), self.c, SMOOTH_BITS),
            false => 0,
        };
        (count, fraction)
    }
}

/// [`orbit_wide`]'s task.
struct Record<'a> {
    limit: u32,
    out: &'a mut [OrbitPoint],
}

impl OrbitTask for Record<'_> {
    type Out = (usize, OrbitEnd);

    #[inline(always)]
    fn run<W: Word, const M: usize, const C: usize>(
        self,
        orbit: &mut Orbit<W, M, C>,
    ) -> (usize, OrbitEnd) {
        let Some(first) = self.out.first_mut() else {
            return (0, OrbitEnd::Stopped);
        };
        *first = orbit.as_point();
        let (mut cycles, mut saved) = (Cycles::new(), 0);
        for steps in 1..=self.limit as usize {
            if !orbit.step() {
                return (steps, OrbitEnd::Escaped);
            }
            let Some(next) = self.out.get_mut(steps) else {
                return (steps, OrbitEnd::Stopped);
            };
            *next = orbit.as_point();
            let at = steps as u32;
            if at.is_multiple_of(CHECK_EVERY) {
                if cycles.compare_now(at) && orbit.repeats() {
                    return (steps + 1, OrbitEnd::Repeats { from: saved });
                }
                if cycles.save_now(at) {
                    orbit.save();
                    saved = steps;
                }
            }
        }
        (self.limit as usize + 1, OrbitEnd::Stopped)
    }
}

/// Words from which a step's squares first leave out their lowest columns (see
/// `Orbit::step`): below, there is too little to leave out.
const SHORT_FROM: usize = 24;

/// One point's orbit in words `W`, and the room its steps work in.
///
/// A part of z is `m` words, two's complement, at least the format's `32n` bits: sign bits
/// fill the rest. Every bound of `limits.rs` is in terms of F, so the extra bits change
/// nothing but the room.
struct Orbit<W, const M: usize, const C: usize> {
    m: usize,
    frac: u32,
    /// `c_re · 2^F + 2^(F-1)` and `c_im · 2^F + 2^(F-1)`: c and the rounding constant of each
    /// part, as one double-width addend each.
    c_re: [[W; C]; 2],
    c_im: [[W; C]; 2],
    re: [W; C],
    im: [W; C],
    saved_re: [W; C],
    saved_im: [W; C],
    /// |re|, |im| and |re| + |im|: squares of magnitudes need no signs.
    a: [W; C],
    b: [W; C],
    sum: [W; C],
    /// re², im², (|re| + |im|)² and a sum, double width.
    aa: [[W; C]; 2],
    bb: [[W; C]; 2],
    ss: [[W; C]; 2],
    t: [[W; C]; 2],
    u: [[W; C]; 2],
}

impl<W: Word, const M: usize, const C: usize> Orbit<W, M, C> {
    fn new<const L: usize>(c: &WidePoint<L>) -> Orbit<W, M, C> {
        let width = c.re.width();
        let m = (width.bits()).div_ceil(W::BITS) as usize;
        let mut orbit = Orbit {
            m,
            frac: width.frac_bits(),
            c_re: [[W::ZERO; C]; 2],
            c_im: [[W::ZERO; C]; 2],
            re: [W::ZERO; C],
            im: [W::ZERO; C],
            saved_re: [W::ZERO; C],
            saved_im: [W::ZERO; C],
            a: [W::ZERO; C],
            b: [W::ZERO; C],
            sum: [W::ZERO; C],
            aa: [[W::ZERO; C]; 2],
            bb: [[W::ZERO; C]; 2],
            ss: [[W::ZERO; C]; 2],
            t: [[W::ZERO; C]; 2],
            u: [[W::ZERO; C]; 2],
        };
        orbit.prepare(&c.re, true);
        orbit.prepare(&c.im, false);
        orbit
    }

    /// `c · 2^F + 2^(F-1)`, double width, two's complement, into `c_re` or `c_im`: a part of
    /// c and the rounding constant folded into the one addend of its part of the step.
    fn prepare<const L: usize>(&mut self, c: &Fixed<L>, real: bool) {
        let (m, frac) = (self.m(), self.frac);
        let mut extended = [[W::ZERO; C]; 2];
        let extended = &mut extended.as_flattened_mut()[..2 * m];
        words(c, extended);
        let out = if real {
            &mut self.c_re.as_flattened_mut()[..2 * m]
        } else {
            &mut self.c_im.as_flattened_mut()[..2 * m]
        };
        limbs::shift_left_into(extended, frac, out);
        let half = frac - 1;
        limbs::add(
            &mut out[(half / W::BITS) as usize..],
            &[W::ONE << (half % W::BITS)],
        );
    }

    /// One step, or `false` with z unchanged if z has escaped.
    ///
    /// From [`SHORT_FROM`] words, the squares first leave out their lowest columns, which
    /// change the top ones by a carry at most; when the bits below each result's rounding
    /// point show that no such carry can reach it, the step is the exact one, else it is
    /// taken again in full. Either way the integers are the exact step's.
    #[inline]
    fn step(&mut self) -> bool {
        if self.m() >= SHORT_FROM {
            if let Some(inside) = self.try_step::<true>(self.m() - 3) {
                return inside;
            }
        }
        self.try_step::<false>(0).unwrap_or(false)
    }

    /// The step with squares from column `from` ([`limbs::square_from`]) if `SHORT`, or
    /// `None`, with z unchanged, when the columns left out could change its result; the
    /// exact step, never `None`, if not. One body, two functions: the exact one has none of
    /// the checks.
    #[inline]
    fn try_step<const SHORT: bool>(&mut self, from: usize) -> Option<bool> {
        let (m, frac) = (self.m(), self.frac);
        // Each square is short of the whole by less than 2·from·B^(from+1) < 2^band / 4
        // (from < B), so a sum of three is off by less than 2^band.
        let band = (from as u32 + 2) * W::BITS + 2;
        let exact = !SHORT;
        let (a, b, sum) = (&mut self.a[..m], &mut self.b[..m], &mut self.sum[..m]);
        let negative = magnitude(&self.re[..m], a) != magnitude(&self.im[..m], b);
        let (aa, bb, ss, t, u) = (
            &mut self.aa.as_flattened_mut()[..2 * m],
            &mut self.bb.as_flattened_mut()[..2 * m],
            &mut self.ss.as_flattened_mut()[..2 * m],
            &mut self.t.as_flattened_mut()[..2 * m],
            &mut self.u.as_flattened_mut()[..2 * m],
        );
        let square = |x: &[W], out: &mut [W]| {
            if exact {
                limbs::square(x, out)
            } else {
                limbs::square_from(x, out, from)
            }
        };
        square(a, aa);
        square(b, bb);
        // Escape when re² + im² > 4 · 2^2F. The sum is below 98 · 2^2F (limits.rs), so it
        // cannot carry out; short, it is below the whole, so above the bound is escaped.
        t.copy_from_slice(aa);
        limbs::add(t, bb);
        if limbs::above_power_of_two(t, 2 * frac + 2) {
            return Some(false);
        }
        if !exact {
            // Inside for sure only if the whole sum, below t + 2^band, is too.
            u.copy_from_slice(t);
            let at = (band / W::BITS) as usize;
            limbs::add(&mut u[at..], &[W::ONE << (band % W::BITS)]);
            if limbs::above_power_of_two(u, 2 * frac + 2) {
                return None;
            }
        }
        // 2·|re|·|im| as (|re| + |im|)² - re² - im²: three squares cost fewer multiplies
        // than two squares and a product. |re| + |im| <= 14 · 2^F < 2^(F+4) fits.
        sum.copy_from_slice(a);
        limbs::add(sum, b);
        square(sum, ss);
        limbs::sub(ss, aa);
        limbs::sub(ss, bb);
        // re = floor((re² - im² + c_re · 2^F + 2^(F-1)) / 2^F), in two's complement.
        t.copy_from_slice(aa);
        limbs::sub(t, bb);
        limbs::add(t, &self.c_re.as_flattened()[..2 * m]);
        if exact {
            // Nothing to check: re is done, and t is free for im.
            limbs::shift_right_into(t, frac, &mut self.re[..m]);
        }
        // im = floor((±2·|re|·|im| + c_im · 2^F + 2^(F-1)) / 2^F).
        let im = if exact { &mut *t } else { &mut *u };
        im.copy_from_slice(&self.c_im.as_flattened()[..2 * m]);
        if negative {
            limbs::sub(im, ss);
        } else {
            limbs::add(im, ss);
        }
        if exact {
            limbs::shift_right_into(t, frac, &mut self.im[..m]);
            return Some(true);
        }
        // Short by less than 2^band either way: the floor is the exact one unless the bits
        // from band to F are all zeros or all ones (within 2^band of a multiple of 2^F).
        if limbs::uniform_bits(t, band, frac) || limbs::uniform_bits(u, band, frac) {
            return None;
        }
        limbs::shift_right_into(t, frac, &mut self.re[..m]);
        limbs::shift_right_into(u, frac, &mut self.im[..m]);
        Some(true)
    }

    /// Words in a part: `M` when it is known as the code is compiled, else the format's.
    #[inline(always)]
    fn m(&self) -> usize {
        if M == 0 {
            self.m
        } else {
            M
        }
    }

    fn repeats(&self) -> bool {
        let m = self.m();
        self.re[..m] == self.saved_re[..m] && self.im[..m] == self.saved_im[..m]
    }

    fn save(&mut self) {
        self.saved_re = self.re;
        self.saved_im = self.im;
    }

    /// Whether the saved z, whose step (escape test passed) gave this z, is trapped for good
    /// (`trap.rs`): in units of 2^-60 where the format has more fraction bits, each magnitude
    /// rounded up, and the rounding error of a step, at most one such unit, within the
    /// certificate's two.
    fn trapped(&mut self) -> bool {
        let (m, frac) = (self.m(), self.frac);
        let units = frac.min(60);
        // |x| in units of 2^-units, rounded up; parts are below 8, so below 2^63.
        let rounded_up = |x: &[W], scratch: &mut [W]| {
            magnitude(x, scratch);
            shifted_down(scratch, frac - units) as i64 + i64::from(frac > units)
        };
        let (a, b) = (&mut self.a[..m], &mut self.b[..m]);
        let w = (
            rounded_up(&self.saved_re[..m], a),
            rounded_up(&self.saved_im[..m], a),
        );
        // The step's size, part by part, in the scratch the squares use between steps.
        let mut difference = |now: &[W], then: &[W]| {
            b.copy_from_slice(now);
            limbs::sub(b, then);
            rounded_up(b, a)
        };
        let d = (
            difference(&self.re[..m], &self.saved_re[..m]),
            difference(&self.im[..m], &self.saved_im[..m]),
        );
        trap::trapped(w, (w.0 + d.0, w.1 + d.1), units)
    }

    /// z's parts to [`SMOOTH_BITS`], their magnitudes truncated: after an escape, below 2^4.
    fn z_top(&mut self) -> (i64, i64) {
        let (m, shift) = (self.m(), self.frac - SMOOTH_BITS);
        let part = |x: &[W], scratch: &mut [W]| {
            let negative = magnitude(x, scratch);
            let top = shifted_down(scratch, shift) as i64;
            if negative {
                -top
            } else {
                top
            }
        };
        (
            part(&self.re[..m], &mut self.a[..m]),
            part(&self.im[..m], &mut self.b[..m]),
        )
    }

    /// z as a reference keeps it: each part's magnitude truncated ([`Delta::truncated`]),
    /// and its escape margin `re² + im² - 4`, exact, its magnitude truncated to 62 bits.
    fn as_point(&mut self) -> OrbitPoint {
        let (m, frac) = (self.m(), self.frac);
        let re_negative = magnitude(&self.re[..m], &mut self.a[..m]);
        let im_negative = magnitude(&self.im[..m], &mut self.b[..m]);
        let (a, b) = (&self.a[..m], &self.b[..m]);
        let z = top_bits(&[a, b]);
        let z = Delta::truncated(
            (z.0[0], re_negative),
            (z.0[1], im_negative),
            z.1 - frac as i32,
        );
        // re² + im² - 4·2^2F, double width: the sum is below 98 · 2^2F (limits.rs).
        let (aa, bb) = (
            &mut self.aa.as_flattened_mut()[..2 * m],
            &mut self.bb.as_flattened_mut()[..2 * m],
        );
        limbs::square(a, aa);
        limbs::square(b, bb);
        limbs::add(aa, bb);
        let four = 2 * frac + 2;
        limbs::sub(
            &mut aa[(four / W::BITS) as usize..],
            &[W::ONE << (four % W::BITS)],
        );
        let negative = limbs::is_negative(aa);
        if negative {
            limbs::negate(aa);
        }
        let margin = top_bits(&[aa]);
        OrbitPoint::new(z, (margin.0[0], negative), margin.1 - 2 * frac as i32)
    }
}

/// The magnitudes' top [`MANTISSA_BITS`] bits (of the larger), truncated, and the shift
/// that dropped the rest: none from magnitudes that fit.
fn top_bits<W: Word, const N: usize>(magnitudes: &[&[W]; N]) -> ([i64; N], i32) {
    let top = magnitudes
        .iter()
        .map(|x| limbs::bit_length(x))
        .max()
        .unwrap_or(0);
    let drop = top.saturating_sub(MANTISSA_BITS);
    let parts = magnitudes.map(|magnitude| shifted_down(magnitude, drop) as i64);
    (parts, drop as i32)
}

/// `x · 2^-shift`, truncated, for a result that fits 64 bits.
fn shifted_down<W: Word>(x: &[W], shift: u32) -> u64 {
    let mut out = [W::ZERO; 2];
    limbs::shift_right_into(x, shift, &mut out);
    out[0].to_u64() | out[1].to_u64().checked_shl(W::BITS).unwrap_or(0)
}

/// `x`'s 32-bit limbs as words `W`, two's complement, sign-extended over all of `out`.
fn words<W: Word, const L: usize>(x: &Fixed<L>, out: &mut [W]) {
    let fill = if x.is_negative() { W::MAX } else { W::ZERO };
    out.fill(W::ZERO);
    let bits = x.width().bits();
    for (i, &limb) in x.limbs().iter().enumerate() {
        let at = i as u32 * LIMB_BITS;
        let word = &mut out[(at / W::BITS) as usize];
        *word = *word | (W::from_u32(limb) << (at % W::BITS));
    }
    let (top, bit) = ((bits / W::BITS) as usize, bits % W::BITS);
    if bit != 0 {
        out[top] = out[top] | (fill << bit);
    }
    let above = if bit != 0 { top + 1 } else { top };
    let len = out.len();
    out[above.min(len)..].fill(fill);
}

/// `out = |x|`; whether x is negative.
#[inline]
fn magnitude<W: Word>(x: &[W], out: &mut [W]) -> bool {
    out.copy_from_slice(x);
    let negative = limbs::is_negative(x);
    if negative {
        limbs::negate(out);
    }
    negative
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{escape, Format, Point};

    fn from_i64(width: Width, raw: i64) -> Fixed {
        Fixed::from_i64(width, raw)
    }

    /// One limb is I4F28's bits and two are I4F60's: the wide step is the narrow one, count
    /// for count, on the points where the narrow kernels are pinned by fixtures.
    #[test]
    fn one_and_two_limbs_count_as_the_narrow_formats_do() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for (format, limbs) in [(Format::I4F28, 1), (Format::I4F60, 2)] {
            let width = Width::from_limbs(limbs).unwrap();
            let bound = format.safe_raw();
            for round in 0..3000 {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                let pick = |shift: u32| {
                    let value = (state >> shift) as i64 % (bound + 1);
                    if round % 4 == 0 {
                        value / 3
                    } else {
                        value
                    }
                };
                let c = Point {
                    re: pick(3) - bound / 4,
                    im: pick(17),
                };
                let wide = WidePoint {
                    re: from_i64(width, c.re),
                    im: from_i64(width, c.im),
                };
                for limit in [1, 50, 700] {
                    assert_eq!(
                        escape_wide(&wide, limit),
                        escape(format, c, limit).unwrap(),
                        "{format} {c:?} at {limit}"
                    );
                }
            }
        }
    }

    /// 32-bit and 64-bit words are two ways to the same integers, odd limb counts too, and
    /// so is every word count compiled in.
    #[test]
    fn words_of_either_size_count_alike() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for limbs in [1, 2, 3, 4, 5, 6, 8, 11, 12, 13, 16, 24, 32, 49] {
            for round in 0..300 {
                let mut part = || {
                    let mut raw = [0; MAX_WIDE_LIMBS];
                    for limb in raw[..limbs].iter_mut() {
                        state = state
                            .wrapping_mul(6_364_136_223_846_793_005)
                            .wrapping_add(1);
                        *limb = (state >> 32) as Limb;
                    }
                    // Within ±2 or ±1/2: the top limb's top bits all sign.
                    let top = raw[limbs - 1] as i32 >> (2 + round % 3);
                    raw[limbs - 1] = top as Limb;
                    Fixed::from_limbs(&raw[..limbs]).unwrap()
                };
                let c = WidePoint {
                    re: part(),
                    im: part(),
                };
                for limit in [1, 30, 400] {
                    let count =
                        in_words::<u32, 0, MAX_WIDE_LIMBS, MAX_WIDE_LIMBS, _>(&c, Count { limit });
                    assert_eq!(
                        count,
                        in_words::<u64, 0, { MAX_WIDE_LIMBS / 2 }, MAX_WIDE_LIMBS, _>(
                            &c,
                            Count { limit }
                        ),
                        "{limbs} limbs, {c:?}"
                    );
                    // And the word count known when compiled, where escape_wide knows it.
                    assert_eq!(count, escape_wide(&c, limit), "{limbs} limbs, {c:?}");
                }
            }
        }
    }

    /// A step with short squares is the exact step whenever it gives one, and gives one
    /// nearly always; at every width, from every kind of z, in either word size.
    #[test]
    fn a_short_step_is_the_exact_step_or_none() {
        let mut state = 0x5851_f42d_4c95_7f2du64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1442695040888963407);
            (state >> 32) as Limb
        };
        let (mut given, mut tried) = (0, 0);
        for limbs in [6, 7, 12, 13, 32, 64, 128] {
            for round in 0..200 {
                let mut part = |shift: u32| {
                    let mut raw = [0; MAX_WIDE_LIMBS];
                    raw[..limbs].iter_mut().for_each(|limb| *limb = next());
                    raw[limbs - 1] = ((raw[limbs - 1] as i32) >> shift) as Limb;
                    Fixed::from_limbs(&raw[..limbs]).unwrap()
                };
                let shift = 2 + round % 3;
                let c = WidePoint {
                    re: part(shift),
                    im: part(shift),
                };
                let z = WidePoint {
                    re: part(shift),
                    im: part(shift),
                };
                let mut exact = Orbit::<u64, 0, { MAX_WIDE_LIMBS / 2 }>::new(&c);
                let m = exact.m;
                words(&z.re, &mut exact.re[..m]);
                words(&z.im, &mut exact.im[..m]);
                let mut short = Orbit::<u64, 0, { MAX_WIDE_LIMBS / 2 }>::new(&c);
                (short.re, short.im) = (exact.re, exact.im);
                let from = exact.m.saturating_sub(3);
                let whole = exact.try_step::<false>(0);
                tried += 1;
                if let Some(inside) = short.try_step::<true>(from) {
                    given += 1;
                    assert_eq!(Some(inside), whole, "{limbs} limbs");
                    assert_eq!((short.re, short.im), (exact.re, exact.im), "{limbs} limbs");
                }
            }
        }
        assert!(
            given * 10 > tried * 9,
            "short steps given {given} of {tried}"
        );
    }

    #[test]
    fn the_safe_range_is_three_either_way() {
        let width = Width::from_bits(128).unwrap();
        let three = Fixed::from_int(width, 3);
        let tiny = Fixed::from_limbs(&[1, 0, 0, 0]).unwrap();
        assert!(three.is_safe());
        assert!(Fixed::from_int(width, -3).is_safe());
        assert!(!three.add_times(1, &tiny).is_safe());
        assert!(!Fixed::from_int(width, -3).sub_times(1, &tiny).is_safe());
        assert!(Fixed::from_int(width, -3).add_times(1, &tiny).is_safe());
    }
}
