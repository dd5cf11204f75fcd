//! The kernel's arithmetic: one iteration step of each format on the narrowest integers
//! that hold its parts, and the `i64` lanes those parts travel in. Every product is taken in
//! the double-width integer and rounded once by [`round_shift`](crate::round::round_shift), so no step can overflow.
use crate::format::Format;
use crate::view::Point;

/// Integer arithmetic of one format: the kernel's one operation, on the parts of z in the
/// narrowest integer that holds them. Implemented by [`Q28`] and [`Q60`], zero-sized names of
/// the formats.
///
/// `iterate` cannot overflow (so cannot panic in a debug build) for the inputs that
/// [`SAFE_BOUND`](crate::limits::SAFE_BOUND) proves reachable, each part of z at most 7 and of c at most 3, and is exact
/// for those with |z|² <= 4, the only ones whose result is kept. The batched kernel also
/// iterates a point that has already escaped (|z| <= 7 still) and throws the result away; only
/// that result may wrap.
pub(crate) trait Arith {
    /// A part of z: |z| <= 7 after any step, so I4F28 parts fit an `i32`, whose products are
    /// one 32×32→64 multiply (a `pmuldq` lane on x86, `smull` on a Cortex-M3).
    type Z: Copy + Default + PartialEq + Lane;
    /// A z that has escaped, for a lane to stop on.
    const ESCAPED: Self::Z;
    /// Fraction bits of a part of z.
    const FRAC: u32;
    /// A point's c, prepared once before its loop: c and the rounding constant folded into
    /// one double-width addend per part, and the escape bound moved by the same amount.
    type C: Copy;
    /// Prepares `c`; exact for every point of the safe range.
    fn prepare(c: Point) -> Self::C;
    /// Whether z has not escaped (|z|² <= 4, exact in the double-width integer), and z² + c
    /// with each product rounded once by [`round_shift`](crate::round::round_shift). One function, because the escape
    /// test and the real part share the squares.
    ///
    /// The new parts come as `i64`, exact for a z that had not escaped (they fit a `Z`, |z| <=
    /// 7 after a step): lanes keep them so, and [`Lane::narrow`] takes a `Z` back for free.
    fn iterate(re: Self::Z, im: Self::Z, c: &Self::C) -> (bool, i64, i64);
}

/// The arithmetic of [`Format::I4F28`].
pub(crate) struct Q28;
/// The arithmetic of [`Format::I4F60`].
pub(crate) struct Q60;

/// c prepared for the loop, in the double-width integer `W` (2F fraction bits).
///
/// `((x + half) >> F) + c == (x + half + (c << F)) >> F` exactly, since an arithmetic shift
/// is a floor and `c << F` a whole multiple of `2^F`; so rounding and adding c cost one
/// addend, which a multiply-accumulate (`smlal` on a Cortex-M) takes for free.
#[derive(Clone, Copy)]
pub(crate) struct Prepared<W> {
    /// `c_re · 2^F + 2^(F-1)`: the addend of re² - im².
    re: W,
    /// `c_im · 2^(F-1) + 2^(F-2)`: the addend of re·im, which is doubled by shifting one bit less.
    im: W,
    /// `re + 4 · 2^2F`: |z|² <= 4 exactly when `re + re² + im² <= bound`.
    bound: W,
}

const F28: u32 = Format::I4F28.frac_bits();
const F60: u32 = Format::I4F60.frac_bits();

impl Arith for Q28 {
    type Z = i32;
    const ESCAPED: i32 = 4 << F28;
    const FRAC: u32 = F28;
    type C = Prepared<i64>;

    #[inline(always)]
    fn prepare(c: Point) -> Prepared<i64> {
        // |c| <= 3 · 2^28, so every addend is below 2^59.
        let re = (c.re << F28) + (1 << (F28 - 1));
        Prepared {
            re,
            im: (c.im << (F28 - 1)) + (1 << (F28 - 2)),
            bound: re + (4 << (2 * F28)),
        }
    }

    #[inline(always)]
    fn iterate(re: i32, im: i32, c: &Prepared<i64>) -> (bool, i64, i64) {
        #[cfg(not(target_arch = "arm"))]
        let (inside, real) = inside_and_real_by_sum(re, im, c);
        #[cfg(target_arch = "arm")]
        let (inside, real) = inside_and_real_by_product(re, im, c);
        (inside, real >> F28, (wide_mul(re, im) + c.im) >> (F28 - 1))
    }
}

// Two ways to the escape test and the real part of z² + c before its shift, the same integers
// for every z (a test holds them to it): one for vector units, one for a Cortex-M.

/// With three products in all, which suits vector units: re² + im² + c is both the escape
/// test's sum (moved by c) and, less 2 im², the real part. Below 2^63 for any |z| <= 7: 98 ·
/// 2^56 of squares, 3 · 2^56 of addend.
#[cfg_attr(target_arch = "arm", allow(dead_code))]
#[inline(always)]
fn inside_and_real_by_sum(re: i32, im: i32, c: &Prepared<i64>) -> (bool, i64) {
    let ii = wide_mul(im, im);
    let sum = c.re + wide_mul(re, re) + ii;
    (sum <= c.bound, sum - 2 * ii)
}

/// With multiply-accumulates, which suits a Cortex-M: it accumulates a product onto 64 bits
/// (`smlal`) but cannot subtract one, so re² - im² is one product, (re + im)(re - im),
/// accumulated onto c. |re ± im| <= 2√2 · 2^28 < 2^31 before a step; only a discarded one
/// wraps. |z|² is not negative and 4 is 2^58, so the escape test looks at the high word
/// first: below 2^26 is inside, a compare with a constant the instruction holds.
#[cfg_attr(not(target_arch = "arm"), allow(dead_code))]
#[inline(always)]
fn inside_and_real_by_product(re: i32, im: i32, c: &Prepared<i64>) -> (bool, i64) {
    let sum = wide_mul(re, re) + wide_mul(im, im);
    let high = (sum >> 32) as u32;
    (
        high < 1 << 26 || (high == 1 << 26 && sum as u32 == 0),
        c.re + wide_mul(re.wrapping_add(im), re.wrapping_sub(im)),
    )
}

/// `a · b` in 64 bits: one 32×32→64 multiply, or four 16×16-bit ones where the CPU has no
/// wider multiply than 32×32→32 (`narrow_multiplier`, set by `build.rs`).
#[inline(always)]
fn wide_mul(a: i32, b: i32) -> i64 {
    if cfg!(narrow_multiplier) {
        wide_mul_by_halves(a, b)
    } else {
        i64::from(a) * i64::from(b)
    }
}

/// `a · b` in 64 bits from four 16×16-bit products, each of which `muls` takes whole: a
/// Cortex-M0 has no 32×32→64 multiply, and the compiler's 64-bit product is a call to a
/// general 64×64 routine that multiplies what is known to be sign bits.
#[inline(always)]
fn wide_mul_by_halves(a: i32, b: i32) -> i64 {
    let (a_high, a_low) = (a >> 16, (a & 0xffff) as u32);
    let (b_high, b_low) = (b >> 16, (b & 0xffff) as u32);
    // |a_high|, |b_high| <= 2^15 and a_low, b_low < 2^16: every partial product fits 32 bits.
    let high = i64::from(a_high * b_high) << 32;
    let middle = (i64::from(a_high * b_low as i32) + i64::from(b_high * a_low as i32)) << 16;
    high + middle + i64::from(a_low * b_low)
}

impl Arith for Q60 {
    type Z = i64;
    const ESCAPED: i64 = 4 << F60;
    const FRAC: u32 = F60;
    type C = Prepared<i128>;

    #[inline(always)]
    fn prepare(c: Point) -> Prepared<i128> {
        let re = (i128::from(c.re) << F60) + (1 << (F60 - 1));
        Prepared {
            re,
            im: (i128::from(c.im) << (F60 - 1)) + (1 << (F60 - 2)),
            bound: re + (4 << (2 * F60)),
        }
    }

    #[inline(always)]
    fn iterate(re: i64, im: i64, c: &Prepared<i128>) -> (bool, i64, i64) {
        let (re, im) = (i128::from(re), i128::from(im));
        let (rr, ii) = (re * re, im * im);
        let sum = c.re + rr + ii;
        (
            sum <= c.bound,
            ((sum - 2 * ii) >> F60) as i64,
            ((re * im + c.im) >> (F60 - 1)) as i64,
        )
    }
}

/// A part of z as a lane holds it: in an `i64`.
pub(crate) trait Lane: Copy {
    fn widen(self) -> i64;
    /// The part a lane holds; exact for what [`Lane::widen`] made.
    fn narrow(lane: i64) -> Self;
}

impl Lane for i32 {
    #[inline(always)]
    fn widen(self) -> i64 {
        i64::from(self)
    }

    #[inline(always)]
    fn narrow(lane: i64) -> i32 {
        lane as i32
    }
}

impl Lane for i64 {
    #[inline(always)]
    fn widen(self) -> i64 {
        self
    }

    #[inline(always)]
    fn narrow(lane: i64) -> i64 {
        lane
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two ways agree on every z a step can see: inside or not, and the real part of
    /// every z that is inside (an escaped one's is thrown away).
    #[test]
    fn both_ways_to_the_real_part_agree() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |bound: i64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            ((state >> 16) % (2 * bound as u64 + 1)) as i64 - bound
        };
        let (seven, two, three) = (7i64 << F28, 2i64 << F28, Format::I4F28.safe_raw());
        // Points near |z| = 2 (the escape bound, exactly on it too) and anywhere within 7.
        let edges = [
            (two, 0),
            (-two, 0),
            (0, two),
            (0, -two),
            (two, 1),
            (1 << 28, 1 << 28),
        ];
        for round in 0..200_000 {
            let (re, im) = match round % 3 {
                0 => (next(seven), next(seven)),
                1 => (next(two), next(two)),
                _ => {
                    let (re, im) = edges[round % edges.len()];
                    (re + next(2), im + next(2))
                }
            };
            let c = Q28::prepare(Point {
                re: next(three),
                im: next(three),
            });
            let (re, im) = (re as i32, im as i32);
            let (inside, real) = inside_and_real_by_sum(re, im, &c);
            let (also_inside, also_real) = inside_and_real_by_product(re, im, &c);
            assert_eq!(inside, also_inside, "z = ({re}, {im})");
            if inside {
                assert_eq!(real, also_real, "z = ({re}, {im})");
            }
        }
    }

    #[test]
    fn a_product_of_halves_is_the_product() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let edges = [
            i32::MIN,
            i32::MIN + 1,
            -65_536,
            -65_535,
            -1,
            0,
            1,
            65_535,
            65_536,
            i32::MAX,
        ];
        for round in 0..200_000u32 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let (a, b) = match round % 4 {
                0 => (
                    edges[round as usize / 4 % 10],
                    edges[round as usize / 40 % 10],
                ),
                _ => ((state >> 32) as i32, state as i32),
            };
            assert_eq!(
                wide_mul_by_halves(a, b),
                i64::from(a) * i64::from(b),
                "{a} · {b}"
            );
        }
    }
}
