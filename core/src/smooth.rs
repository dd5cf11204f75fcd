//! The smooth (continuous) iteration count, in integers: the same bits on every machine.
//!
//! The renderers people like colour by `μ = N + 1 - log₂(log₂|z_N|)`, with `N` the count at
//! a large bailout `R`: unlike the count, `μ` varies continuously over the plane, so colours
//! blend instead of banding. They compute it in floats, whose last bits differ between
//! machines. Here it is integer arithmetic and a table built by an integer rule.
//!
//! The kernel's count `n` stays the count at `|z|² > 4`, unchanged. From the escaped `z_n`, a
//! few more steps ([`EXTRA_STEPS`] at most) carry `z` past `R = 2^8`, `k` of them; then
//! `N = n + k`, and what a result carries beside `n` is [`Smooth`]: `μ - n + 1`, in units of
//! 2^-10. It is mostly between 0.6 and 2.5 (`2 - log₂(log₂|z_n|)`, with `2 < |z_n| <= 6`),
//! but an orbit that escapes a hair past `|z| = 2` near `c = -2` lingers there, and its `μ`
//! is several iterations past `n`: units of 2^-14 clamped it at 4 (a probe found a band
//! there), 2^-10 hold 64. Near `|z| = 2` the excess over 2 at least quadruples each step
//! while `|c| <= 2`, so the steps are few; the bound keeps a `c` far outside the set (where
//! `|c| > 2` can pull `z` back) from looping.

/// `μ - n + 1` for an escaped point with count `n`, in units of 2^-10 ([`SMOOTH_ONE`]):
/// `μ = n - 1 + smooth / 2^10`. 0 where no fraction is defined: a point that never escaped,
/// or one whose `z` did not pass the bailout within [`EXTRA_STEPS`].
pub type Smooth = u16;

/// 1 in the units of [`Smooth`].
pub const SMOOTH_ONE: u32 = 1 << 10;

/// The smooth count `μ = count - 1 + fraction / 2^10`, in units of 2^-10 ([`SMOOTH_ONE`]),
/// of a pixel that escaped; the count alone, `count · 2^10`, where there is no fraction.
/// What palettes place pixels by.
pub fn smooth_count(count: u32, fraction: Option<Smooth>) -> u64 {
    let one = u64::from(SMOOTH_ONE);
    match fraction {
        Some(fraction) => u64::from(count).saturating_sub(1) * one + u64::from(fraction),
        None => u64::from(count) * one,
    }
}

/// The most steps taken past the escape: from `|z| > 2` by one unit of 2^-60, the excess
/// over 2 needs about 35 quadruplings to pass 2^8, with room to spare.
pub const EXTRA_STEPS: u32 = 64;

/// The fraction bits `z` is carried in past the escape: 40 keep the parts of a `z` up to
/// 2^16 within `i64` and its square within `i128` (with 30 and a bailout of 2^16, a probe
/// found neighbours by the tip at `c = -2` sharing one fraction from 1e9 on).
const BITS: u32 = 40;

/// `R²` in raw units of 2^-80: the bailout `R = 2^8`, high enough that `μ`'s error (about
/// `|c| / (R² ln R)`, 10^-5 of an iteration) lies below a hundredth of a unit of [`Smooth`],
/// and a step sooner than 2^16 (a tenth of the fraction's time).
const BAILOUT_SQUARED: u128 = 1 << (16 + 2 * BITS);

/// [`Smooth`] for a point whose orbit escaped at `z`, `|z|² > 4`, with `c`: raw parts at
/// `frac` fraction bits (28 to 60). `z` and `c` are first truncated (rounded towards minus
/// infinity) to 40 fraction bits, so the wide formats pass the top bits of theirs. That is
/// plenty where neighbouring pixels' escaped z differ, as they do almost everywhere; an
/// orbit that lingers a hair past `|z| = 2` (by the tip at `c = -2`) carries the difference
/// far below, and deeper than about 1e12 there neighbouring pixels share a fraction (the
/// counts stay exact).
pub fn smooth(z: (i64, i64), c: (i64, i64), frac: u32) -> Smooth {
    let to_bits = |x: i64| match frac.checked_sub(BITS) {
        Some(down) => x >> down,
        None => x << (BITS - frac),
    };
    let (c_re, c_im) = (to_bits(c.0), to_bits(c.1));
    let (mut re, mut im) = (to_bits(z.0), to_bits(z.1));
    // A product of two parts, exact: one 64 x 64 -> 128-bit multiply (this took a third of
    // the default view's time with parts held in i128).
    let times = |a: i64, b: i64| i128::from(a) * i128::from(b);
    let mut extra = 0;
    // |z| <= 2^8 before each step and |c| < 8: each square is below 2^97, and each part of
    // the next z below 2^57; past the bailout, parts below 2^57 and squares below 2^114.
    let squared = loop {
        let (rr, ii) = (times(re, re), times(im, im));
        if rr + ii > BAILOUT_SQUARED as i128 {
            break (rr + ii) as u128; // above 2^96, below 2^115
        }
        if extra == EXTRA_STEPS {
            return 0;
        }
        let ri = times(re, im);
        (re, im) = (
            ((rr - ii) >> BITS) as i64 + c_re,
            ((2 * ri) >> BITS) as i64 + c_im,
        );
        extra += 1;
    };
    // log₂|z|² in units of 2^-16, between 16 and 33: |z| passed 2^8 this step, from 2^8
    // or less.
    let log_squared = log2(squared) - ((2 * BITS) << 16);
    // log₂(log₂|z|) = log₂(log_squared · 2^-16 / 2), in units of 2^-16: between 3 and 4.1.
    let log_log = log2(u128::from(log_squared)) - (17 << 16);
    // μ - n + 1 = k + 2 - log₂(log₂|z_N|), in units of 2^-16, then 2^-10.
    let smooth = ((extra + 2) << 16).saturating_sub(log_log) >> 6;
    smooth.min(u32::from(Smooth::MAX)) as Smooth
}

/// `log₂ x` for `x >= 1`, in units of 2^-16: the bit length, and the next 24 bits by
/// [`LOG_TABLE`] and a straight line between its entries (an error below a fifth of a unit).
fn log2(x: u128) -> u32 {
    let whole = 127 - x.leading_zeros();
    let below = match whole.checked_sub(24) {
        Some(down) => (x >> down) as u32,
        None => (x << (24 - whole)) as u32,
    } & 0xff_ffff;
    let (index, between) = ((below >> 16) as usize, below & 0xffff);
    let (low, high) = (LOG_TABLE[index], LOG_TABLE[index + 1]);
    (whole << 16) + low + (((high - low) * between) >> 16)
}

/// `log₂(1 + i/256)` in units of 2^-16, rounded to nearest, for `i` in `0..=256`.
const LOG_TABLE: [u32; 257] = log_table();

/// [`LOG_TABLE`] by an integer rule, at compile time: the bits of `log₂ m` one by one, each
/// from whether `m²` reaches 2 (then `m²/2` goes on), with `m` in 62 fraction bits.
const fn log_table() -> [u32; 257] {
    const FRACTION: u32 = 62;
    const BITS_OUT: u32 = 20;
    let mut table = [0u32; 257];
    let mut i = 0;
    while i <= 256 {
        // m = 1 + i/256 in [1, 2].
        let mut m: u128 = (256 + i as u128) << (FRACTION - 8);
        let mut log = 0u32;
        let mut bit = 0;
        while bit < BITS_OUT {
            m = (m * m) >> FRACTION;
            log <<= 1;
            if m >= 2 << FRACTION {
                m >>= 1;
                log |= 1;
            }
            bit += 1;
        }
        // 20 bits of fraction, rounded to 16; log₂ 2 = 1 for i = 256.
        table[i] = if i == 256 {
            1 << 16
        } else {
            (log + (1 << (BITS_OUT - 17))) >> (BITS_OUT - 16)
        };
        i += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_known_logarithms() {
        assert_eq!(LOG_TABLE[0], 0);
        assert_eq!(LOG_TABLE[256], 1 << 16);
        // log₂ 1.5 = 0.5849625…, · 2^16 = 38336.1…
        assert_eq!(LOG_TABLE[128], 38336);
        // log₂ 1.25 = 0.3219281…, · 2^16 = 21098.0…
        assert_eq!(LOG_TABLE[64], 21098);
    }

    #[test]
    fn log2_of_powers_of_two_is_exact_and_grows_with_its_argument() {
        for k in 0..127 {
            assert_eq!(log2(1 << k), k << 16);
        }
        // 3 = 2^1.5849625…: 1.5849625 · 2^16 = 103872.1…
        assert_eq!(log2(3), 103872);
        let mut last = 0;
        for x in (1u128..1 << 20).step_by(977) {
            assert!(log2(x) >= last, "log2({x})");
            last = log2(x);
        }
    }

    /// Raw parts of `x` at 28 fraction bits.
    fn raw(x: i64, over: i64) -> i64 {
        (x << 28) / over
    }

    #[test]
    fn a_value_below_what_an_escape_reaches_is_clamped_to_0() {
        // z = 2^20 (past R already, k = 0), c = 0: μ - n + 1 = 2 - log₂ 20 = -2.32….
        assert_eq!(smooth((1 << 48, 0), (0, 0), 28), 0);
        // z = 2^8, c = 0: not past R; one step to 2^16: k = 1, μ - n + 1 = 3 - log₂ 16 = -1.
        assert_eq!(smooth((raw(256, 1), 0), (0, 0), 28), 0);
    }

    #[test]
    fn a_point_just_escaped_from_the_real_axis_matches_the_formula() {
        // c = 0.3, escaping: z = 2.1 at the escape. By hand: 2.1 -> 4.71 -> 22.4841 ->
        // 505.8… past 2^8 after k = 3 steps. μ - n + 1 = 5 - log₂ log₂ 505.83…
        // = 5 - log₂ 8.9825… = 5 - 3.1671… = 1.8329…, · 2^10 = 1,876.9 by floats.
        let got = smooth((raw(21, 10), 0), (raw(3, 10), 0), 28);
        assert!((1_876..=1_877).contains(&got), "{got}");
    }

    #[test]
    fn every_format_gives_the_same_fraction_for_the_same_point() {
        // 28 and 30 fraction bits hold these exactly, and 60 is cut to the same 40.
        let (z, c) = ((raw(-21, 10), raw(7, 10)), (raw(-3, 4), raw(1, 10)));
        let at = |bits: u32| {
            let up = |x: i64| x << (bits - 28);
            smooth((up(z.0), up(z.1)), (up(c.0), up(c.1)), bits)
        };
        assert_eq!(at(28), at(30));
        assert_eq!(at(28), at(60));
        // What floats say: 1,987.44.
        assert_eq!(at(28), 1_987);
    }

    #[test]
    fn an_orbit_held_at_the_escape_circle_stops_at_the_bound() {
        // c = -2 and z = 2 exactly stay at 2 forever: after EXTRA_STEPS, no fraction.
        assert_eq!(smooth((raw(2, 1), 0), (raw(-2, 1), 0), 28), 0);
        // One unit more, and the excess over 2 quadruples each step: past R well within it,
        // many iterations past the escape, and not clamped.
        let lingering = smooth((raw(2, 1) + 1, 0), (raw(-2, 1), 0), 28);
        assert!((4 << 10..Smooth::MAX).contains(&lingering), "{lingering}");
    }
}
