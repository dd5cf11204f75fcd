//! The perturbation kernels' escape test, exact: whether `|Z + δ|² > 4` for a reference value
//! and a delta in block floating point, as the sign of
//!
//! `(|Z|² - 4) + 2·Re(conj(Z)·δ) + |δ|²`
//!
//! with the first term the reference's own margin (`orbit.rs`: the exact one's sign, kept to
//! 62 bits) and Z its kept 62 bits in the second. A point just outside the circle, c = -2 -
//! 1e-1000 say, escapes by a margin far below any fixed number of bits, so each term is exact
//! in `i128`, and their sum's sign is exact however many bits apart their exponents are
//! ([`sign_of_sum`]): the largest decides when the others are below it, and sums are exact in
//! 256 bits where they are not.
//!
//! It is first asked of the three rounded to one unit 120 bits below the largest, whose error
//! is bounded: that answers nearly always, and the exact sums only at the circle.
use core::cmp::Ordering;

use crate::delta::{align, Delta};
use crate::limbs;
use crate::orbit::OrbitPoint;

/// Whether `|Z + δ|² > 4` (see the module) for a reference value `point`.
#[inline]
pub(crate) fn beyond_two(point: &OrbitPoint, delta: &Delta) -> bool {
    let z = point.z();
    let (margin, margin_exp) = point.margin();
    let margin = Term::new(i128::from(margin), margin_exp);
    // The other two are below 2^(z.exp + δ.exp + 126) and 2^(2·δ.exp + 125) (parts below
    // 2^62): a margin two bits above both decides alone, nearly always, with no product.
    let others = (z.exp + 1).max(delta.exp) + delta.exp + 125;
    if delta.is_zero() || margin.top >= others + 2 {
        return margin.value > 0;
    }
    let (a, b) = (i128::from(delta.re), i128::from(delta.im));
    // Each product is below 2^124, so each sum of two below 2^125.
    let cross = i128::from(z.re) * a + i128::from(z.im) * b;
    let terms = [
        margin,
        Term::new(cross, z.exp + delta.exp + 1),
        Term::new(a * a + b * b, 2 * delta.exp),
    ];
    sign_of_sum(terms) == Ordering::Greater
}

/// `value · 2^exp`, `|value| < 2^126`, and its exclusive top: the bit above its magnitude.
#[derive(Clone, Copy)]
struct Term {
    value: i128,
    exp: i32,
    top: i32,
}

/// Zero's top: below every other, with room to add to it.
const NO_TOP: i32 = i32::MIN / 4;

impl Term {
    #[inline(always)]
    fn new(value: i128, exp: i32) -> Term {
        let bits = 128 - value.unsigned_abs().leading_zeros() as i32;
        let top = if value == 0 { NO_TOP } else { exp + bits };
        Term { value, exp, top }
    }
}

/// The sign of the exact sum of three terms.
#[inline(always)]
fn sign_of_sum(terms: [Term; 3]) -> Ordering {
    let [mut a, mut b, mut c] = terms;
    // Largest top first.
    if b.top > a.top {
        (a, b) = (b, a);
    }
    if c.top > b.top {
        (b, c) = (c, b);
        if b.top > a.top {
            (a, b) = (b, a);
        }
    }
    if a.value == 0 {
        return Ordering::Equal;
    }
    // In the unit 2^(a.top - 120) each term is below 2^120 and off by half a unit at most,
    // so the sum is within 3/2 units of the exact one.
    let unit = a.top - 120;
    let sum =
        align(a.value, unit - a.exp) + align(b.value, unit - b.exp) + align(c.value, unit - c.exp);
    match sum {
        2.. => Ordering::Greater,
        ..=-2 => Ordering::Less,
        _ => exact(a, b, c),
    }
}

/// Words of an exact sum: 132 bits and a sign at most (see [`exact`]).
const WORDS: usize = 4;

/// The sign of `a + b + c`, exactly, for terms by descending top.
fn exact(a: Term, b: Term, c: Term) -> Ordering {
    // |b| + |c| < 2^(b.top + 1) <= 2^(a.top - 1) <= |a|: a decides.
    if b.top + 2 <= a.top {
        return a.value.cmp(&0);
    }
    // a and b are within two bits: their sum is exact in the finer unit, in at most
    // 127 + 2 bits above it, and one more for the carry.
    let unit = a.exp.min(b.exp);
    let mut sum = placed(&a, unit);
    limbs::add(&mut sum, &placed(&b, unit));
    let Some(sum_top) = top_of(&sum).map(|bits| bits + unit) else {
        return c.value.cmp(&0);
    };
    if c.top + 2 <= sum_top {
        return sign(&sum);
    }
    // c is within two bits of the sum or above it, and at most a's top: all three exact in
    // the finer unit, within 132 bits of it.
    let finer = unit.min(c.exp);
    let mut total = [0u64; WORDS];
    limbs::shift_left_into(&sum, (unit - finer) as u32, &mut total);
    limbs::add(&mut total, &placed(&c, finer));
    sign(&total)
}

/// `t · 2^(t.exp - unit)`, two's complement in [`WORDS`] words, for `unit <= t.exp` (zero
/// for a zero term, whatever its exponent).
fn placed(t: &Term, unit: i32) -> [u64; WORDS] {
    let fill = if t.value < 0 { u64::MAX } else { 0 };
    let extended = [t.value as u64, (t.value >> 64) as u64, fill, fill];
    let mut out = [0u64; WORDS];
    if t.value != 0 {
        limbs::shift_left_into(&extended, (t.exp - unit) as u32, &mut out);
    }
    out
}

/// Bits of a two's complement sum's magnitude, `None` for zero.
fn top_of(x: &[u64; WORDS]) -> Option<i32> {
    let mut magnitude = *x;
    if limbs::is_negative(x) {
        limbs::negate(&mut magnitude);
    }
    let bits = limbs::bit_length(&magnitude);
    (bits > 0).then_some(bits as i32)
}

fn sign(x: &[u64; WORDS]) -> Ordering {
    if limbs::is_negative(x) {
        Ordering::Less
    } else if limbs::is_zero(x) {
        Ordering::Equal
    } else {
        Ordering::Greater
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(re: i128, im: i128, exp: i32) -> Delta {
        Delta::normalised(re, im, exp)
    }

    /// A reference value whose exact value is `z` itself: its margin from z's own bits.
    fn point(z: Delta) -> OrbitPoint {
        let (re, im) = (i128::from(z.re), i128::from(z.im));
        // In the unit 2^(2·exp): 4 is 2^(2 - 2·exp), below 2^126 for these tests' values.
        let margin = re * re + im * im - (1i128 << (2 - 2 * z.exp));
        let kept = delta(margin.abs(), 0, 2 * z.exp);
        OrbitPoint::new(z, (kept.re, margin < 0), kept.exp)
    }

    fn beyond(z: Delta, d: Delta) -> bool {
        beyond_two(&point(z), &d)
    }

    #[test]
    fn a_point_a_hair_outside_the_circle_escapes() {
        let two = delta(2, 0, 0);
        assert!(!beyond(two, Delta::ZERO));
        assert!(beyond(two, delta(1, 0, -3000)));
        assert!(!beyond(two, delta(-1, 0, -3000)));
        // Along the circle's tangent the square decides: |2 + i·t|² = 4 + t².
        assert!(beyond(two, delta(0, 1, -3000)));
    }

    #[test]
    fn close_exponents_are_summed_exactly() {
        let two = delta(2, 0, 0);
        assert!(beyond(two, delta(1, 0, -100)));
        assert!(!beyond(two, delta(-1, 0, -100)));
        // Cancelling: 16 - 16 = 0.
        assert!(!beyond(delta(16, 0, 0), delta(-16, 0, 0)));
        // 1.5 + (0.5 - ε + i·ε): a hair inside, since |2 - ε + i·ε|² = 4 - 4ε + 2ε².
        let hair = delta(-1, 1, -61).plus(&delta(1, 0, -1));
        assert!(!beyond(delta(3, 0, -1), hair));
        assert!(beyond(
            delta(3, 0, -1),
            delta(1, 1, -61).plus(&delta(1, 0, -1))
        ));
    }

    #[test]
    fn a_margin_below_z_s_last_bit_decides() {
        // Z kept as 2 whose exact value is 2 + 2^-200: outside, though |Z| = 2 in its bits;
        // and 2 - 2^-200, inside, even with a δ that pushes the kept Z out by 2^-300.
        let two = delta(2, 0, 0);
        let outside = OrbitPoint::new(two, (1 << 61, false), -61 - 198);
        let inside = OrbitPoint::new(two, (1 << 61, true), -61 - 198);
        assert!(beyond_two(&outside, &Delta::ZERO));
        assert!(!beyond_two(&inside, &Delta::ZERO));
        assert!(!beyond_two(&inside, &delta(1, 0, -300)));
        assert!(beyond_two(&inside, &delta(1, 0, -190)));
    }

    #[test]
    fn the_sign_of_a_sum_is_exact_far_apart_and_close() {
        let t = |value: i128, exp: i32| Term::new(value, exp);
        let cases = [
            ([t(1, 0), t(-1, 0), t(1, -5000)], Ordering::Greater),
            ([t(1, 5000), t(-1, 5000), t(-1, -5000)], Ordering::Less),
            ([t(3, 0), t(-1, 1), t(-1, -200)], Ordering::Greater),
            ([t(0, 7), t(0, -7), t(0, 0)], Ordering::Equal),
            ([t(-(1 << 125), -125), t(1, 0), t(0, 0)], Ordering::Equal),
            (
                [t((1 << 125) + 1, -125), t(-1, 0), t(-1, -126)],
                Ordering::Greater,
            ),
            (
                [t((1 << 125) + 1, -125), t(-1, 0), t(-3, -126)],
                Ordering::Less,
            ),
        ];
        for (terms, expected) in cases {
            for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
                let shuffled = order.map(|i| terms[i]);
                assert_eq!(sign_of_sum(shuffled), expected);
            }
        }
    }
}
