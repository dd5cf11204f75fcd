//! The perturbation kernel's escape test, exact: whether `|Z + δ|² > 4` for a reference value
//! and a delta in block floating point, whose exponents may be thousands of bits apart.
//!
//! A point just outside the circle, c = -2 - 1e-1000 say, escapes by a margin far below any
//! fixed number of bits of Z; a test in a fixed format (an earlier draft truncated both to
//! I4F60) keeps it inside for good. So the test is exact, in two cases:
//! - **The exponents are 129 or more bits apart.** With `big` the one of larger exponent,
//!   `|big + small|² - 4 = (|big|² - 4) + 2·Re(big·conj(small)) + |small|²`, and each term,
//!   when it is not zero, is larger than the rest together: the first term that is not zero
//!   gives the sign. Each is exact in `i128`.
//! - **They are closer.** `big + small` is exact in 256 bits, and its squared magnitude in
//!   512, compared with 4 exactly.
//!
//! Both are first asked of a sum rounded to 61 bits (`rounded`), whose error is bounded: it
//! answers wherever `|Z + δ|²` is farther from 4 than that bound, nearly always, and the
//! exact cases only where it is not (they cost a third of a pixel's time when asked always).
use crate::delta::{align, Delta};
use crate::limbs;

/// Exponents this far apart, or farther, take the first case.
const APART: i32 = 129;

/// Whether `|a + b|² > 4`, exactly.
pub(crate) fn beyond_two(a: &Delta, b: &Delta) -> bool {
    let (big, small) = if b.is_zero() || (!a.is_zero() && a.exp >= b.exp) {
        (a, b)
    } else {
        (b, a)
    };
    if big.is_zero() {
        return false;
    }
    if let Some(answer) = rounded(big, small) {
        return answer;
    }
    if small.is_zero() || big.exp - small.exp >= APART {
        far_apart(big, small)
    } else {
        close(big, small)
    }
}

/// The answer from `big + small` rounded to the unit `2^(big.exp + 2)`, where it is sure.
#[inline(always)]
fn rounded(big: &Delta, small: &Delta) -> Option<bool> {
    let unit = big.exp + 2;
    // 4 in the unit squared; below 1 only for a far escaped value, left to the exact test.
    let power = 2 - 2 * unit;
    if !(0..=124).contains(&power) {
        // Beyond 124: |big + small| < 2^61 + 2^61 units, whose square is below 4.
        return (power > 124).then_some(false);
    }
    // Each part's two terms are below 2^60 units, each rounded by half a unit at most: the
    // part is within 1 of the exact one (R), below 2^61 + 1, and its square within
    // |R + r| <= 2^62 + 1 of R²: the norm is within 2^64 of the exact norm.
    let part = |b: i64, s: i64| align(i128::from(b), 2) + align(i128::from(s), unit - small.exp);
    let (re, im) = (part(big.re, small.re), part(big.im, small.im));
    let norm = re * re + im * im;
    let (four, error) = (1i128 << power, 1i128 << 64);
    if norm > four + error {
        Some(true)
    } else if norm + error < four {
        Some(false)
    } else {
        None
    }
}

/// The first case: `small` is below `big`'s last bit by 129 bits or more (or zero).
fn far_apart(big: &Delta, small: &Delta) -> bool {
    // |big| is at least 2^(exp + 61) and below 2^(exp + 62.5); small is far below both ends.
    if big.exp >= -57 {
        return true; // 16 or more
    }
    if big.exp < -62 {
        return false; // below 2^0.5
    }
    // |big|² - 4 in the unit 2^(2·exp): the squares are below 2^125, 4 is 2^(2 - 2·exp),
    // 2^116 to 2^126 here.
    let (re, im) = (i128::from(big.re), i128::from(big.im));
    let first = re * re + im * im - (1i128 << (2 - 2 * big.exp));
    if first != 0 {
        return first > 0;
    }
    // On the circle exactly: the sign of 2·Re(big·conj(small)), then of |small|².
    let second = re * i128::from(small.re) + im * i128::from(small.im);
    if second != 0 {
        return second > 0;
    }
    !small.is_zero()
}

/// Words of `big + small` in the unit of `small`: `big` moved up by fewer than 129 bits.
const SUM_WORDS: usize = 4;

/// The second case: `big + small` exactly, in `small`'s unit.
fn close(big: &Delta, small: &Delta) -> bool {
    let shift = (big.exp - small.exp) as u32;
    let part = |b: i64, s: i64| {
        let mut sum = [0u64; SUM_WORDS];
        limbs::shift_left_into(&sign_extended(b), shift, &mut sum);
        limbs::add(&mut sum, &sign_extended(s));
        // Below 2^191 in magnitude: the square fits 2·SUM_WORDS words.
        if limbs::is_negative(&sum) {
            limbs::negate(&mut sum);
        }
        let mut square = [0u64; 2 * SUM_WORDS];
        limbs::square(&sum, &mut square);
        square
    };
    let mut norm = part(big.re, small.re);
    limbs::add(&mut norm, &part(big.im, small.im));
    // 4 in small's unit is 2^(2 - 2·exp); small's exponent is at most big's, -57 or less for
    // any delta that has not escaped by far, so the power is positive.
    match u32::try_from(2 - 2 * i64::from(small.exp)) {
        Ok(power) if power < 64 * 2 * SUM_WORDS as u32 => limbs::above_power_of_two(&norm, power),
        Ok(_) => false,
        Err(_) => true,
    }
}

/// `x` as four words, two's complement.
fn sign_extended(x: i64) -> [u64; SUM_WORDS] {
    let fill = if x < 0 { u64::MAX } else { 0 };
    [x as u64, fill, fill, fill]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(re: i128, im: i128, exp: i32) -> Delta {
        Delta::normalised(re, im, exp)
    }

    #[test]
    fn a_point_a_hair_outside_the_circle_escapes() {
        let two = delta(2, 0, 0);
        assert!(!beyond_two(&two, &Delta::ZERO));
        assert!(beyond_two(&two, &delta(1, 0, -3000)));
        assert!(!beyond_two(&two, &delta(-1, 0, -3000)));
        // Along the circle's tangent the square decides: |2 + i·t|² = 4 + t².
        assert!(beyond_two(&two, &delta(0, 1, -3000)));
    }

    #[test]
    fn close_exponents_are_summed_exactly() {
        let two = delta(2, 0, 0);
        assert!(beyond_two(&two, &delta(1, 0, -100)));
        assert!(!beyond_two(&two, &delta(-1, 0, -100)));
        // Cancelling: 16 - 16 = 0.
        assert!(!beyond_two(&delta(16, 0, 0), &delta(-16, 0, 0)));
        // 1.5 + (0.5 - ε + i·ε): a hair inside, since |2 - ε + i·ε|² = 4 - 4ε + 2ε².
        let hair = delta(-1, 1, -61).plus(&delta(1, 0, -1));
        assert!(!beyond_two(&delta(3, 0, -1), &hair));
        assert!(beyond_two(
            &delta(3, 0, -1),
            &delta(1, 1, -61).plus(&delta(1, 0, -1))
        ));
    }

    #[test]
    fn the_order_of_the_two_does_not_matter() {
        let pairs = [
            (delta(3, 1, -1), delta(-1, 7, -5)),
            (delta(2, 0, 0), delta(-5, 3, -200)),
            (delta(-1, -1, 0), delta(1, 1, -130)),
        ];
        for (a, b) in pairs {
            assert_eq!(beyond_two(&a, &b), beyond_two(&b, &a), "{a:?} {b:?}");
        }
    }
}
