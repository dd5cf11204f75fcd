//! The deltas of perturbation: complex numbers in block floating point, on integers alone.
//!
//! A delta is `(re + i·im) · 2^exp`: two `i64` mantissas sharing one `i32` exponent, the
//! "rescaled iterations" of float renderers made exact. After every operation it is
//! normalised by one rule: the larger mantissa's magnitude in `[2^61, 2^62)`, or both zero.
//! So a delta has one representation, and equal deltas are equal structs (what periodicity
//! compares), and the exponent reaches far past a float's: a delta of 1e-1000 is 2^-3322.
//!
//! Every step is exact integer arithmetic and two roundings by the core's one rule
//! (`round_shift`: to nearest, ties up): the terms of `2·Z·δ + δ² + δc` are exact in `i128`;
//! each is rounded once to the unit of the largest (its top bit less 125), and their sum is
//! rounded once to 62 bits. No step can overflow (the bounds are at each operation).
use crate::round::round_shift;

/// Bits of a normal mantissa: the larger one's magnitude lies in `[2^61, 2^62)`.
pub(crate) const MANTISSA_BITS: u32 = 62;

/// A complex number `(re + i·im) · 2^exp` in block floating point, normal (see the module): a
/// perturbation delta, or a value of a reference orbit ([`crate::Reference`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Delta {
    pub(crate) re: i64,
    pub(crate) im: i64,
    pub(crate) exp: i32,
}

impl Default for Delta {
    fn default() -> Delta {
        Delta::ZERO
    }
}

impl Delta {
    /// Zero, the one way: mantissas 0 and an exponent below any other delta's, so that every
    /// test by exponent takes it for the smallest (a delta's exponent is never below about
    /// -2^13: twice the widest format's fraction bits and a mantissa's).
    pub(crate) const ZERO: Delta = Delta {
        re: 0,
        im: 0,
        exp: -(1 << 24),
    };

    /// `(±re ± i·im) · 2^exp` from magnitudes of at most 62 bits and their signs, normalised
    /// exactly: a value of a reference orbit, whose magnitudes were truncated to 62 bits.
    pub(crate) fn truncated(re: (i64, bool), im: (i64, bool), exp: i32) -> Delta {
        let signed = |(magnitude, negative): (i64, bool)| {
            i128::from(if negative { -magnitude } else { magnitude })
        };
        Delta::normalised(signed(re), signed(im), exp)
    }

    /// One.
    pub(crate) const ONE: Delta = Delta {
        re: 1 << 61,
        im: 0,
        exp: -61,
    };

    /// `2·self`, exactly.
    pub(crate) fn doubled(&self) -> Delta {
        if self.is_zero() {
            return *self;
        }
        Delta {
            exp: self.exp + 1,
            ..*self
        }
    }

    /// `self·other`, rounded once.
    pub(crate) fn times(&self, other: &Delta) -> Delta {
        let (a, b) = (i128::from(self.re), i128::from(self.im));
        let (c, d) = (i128::from(other.re), i128::from(other.im));
        sum(&[Term::new(
            a * c - b * d,
            a * d + b * c,
            self.exp + other.exp,
        )])
    }

    /// `self + other`, rounded once.
    pub(crate) fn plus(&self, other: &Delta) -> Delta {
        sum(&[self.term(), other.term()])
    }

    /// `a·self + b·other`: a map of several steps applied.
    pub(crate) fn linear(a: &Delta, delta: &Delta, b: &Delta, dc: &Delta) -> Delta {
        let product = |x: &Delta, y: &Delta| {
            let (a, b) = (i128::from(x.re), i128::from(x.im));
            let (c, d) = (i128::from(y.re), i128::from(y.im));
            Term::new(a * c - b * d, a * d + b * c, x.exp + y.exp)
        };
        sum(&[product(a, delta), product(b, dc)])
    }

    fn term(&self) -> Term {
        Term::new(i128::from(self.re), i128::from(self.im), self.exp)
    }

    pub(crate) fn is_zero(&self) -> bool {
        (self.re | self.im) == 0
    }

    /// `(re + i·im) · 2^exp` rounded once to a normal delta; `|re|, |im| < 2^127`, and, when
    /// they have more than 62 bits, below `2^127 - 2^125` so that the rounding cannot overflow.
    pub(crate) fn normalised(re: i128, im: i128, exp: i32) -> Delta {
        let top = bit_length(re, im);
        if top == 0 {
            return Delta::ZERO;
        }
        let mut shift = top as i32 - MANTISSA_BITS as i32;
        let (mut r, mut i) = (align(re, shift), align(im, shift));
        if bit_length(r, i) > MANTISSA_BITS {
            // Rounded up to 2^62: one bit more, rounded once from the exact parts again.
            shift += 1;
            (r, i) = (align(re, shift), align(im, shift));
        }
        Delta {
            re: r as i64,
            im: i as i64,
            exp: exp + shift,
        }
    }

    /// `2·Z·δ + δ² + δc`: the perturbed step, `z` the reference's `Z_m`.
    #[inline]
    pub(crate) fn step(&self, z: &Delta, dc: &Delta) -> Delta {
        let (a, b) = (i128::from(self.re), i128::from(self.im));
        // 2·Z·δ: every mantissa is below 2^62, so each product is below 2^124 and a sum of
        // two below 2^125; the factor 2 is one in the exponent.
        let (z_re, z_im) = (i128::from(z.re), i128::from(z.im));
        let linear = Term::new(
            z_re * a - z_im * b,
            z_re * b + z_im * a,
            z.exp + self.exp + 1,
        );
        let dc = Term::new(i128::from(dc.re), i128::from(dc.im), dc.exp);
        // δ²'s parts are below 2^125: when its top is 126 or more below the others', it rounds
        // to 0 at their unit (see `sum`) and is not the largest, so it need not be computed.
        let square_exp = 2 * self.exp;
        if self.is_zero() || square_exp + 251 <= linear.top.max(dc.top) {
            return sum(&[linear, dc]);
        }
        let square = Term::new(a * a - b * b, 2 * a * b, square_exp);
        sum(&[linear, dc, square])
    }

    /// Its parts to `bits` fraction bits, rounded towards minus infinity: for a delta whose
    /// parts are below `2^(62 - bits)`, such as an escaped z for the smooth fraction.
    pub(crate) fn fixed(&self, bits: u32) -> (i64, i64) {
        let shift = self.exp + bits as i32;
        let to = |x: i64| match u32::try_from(shift) {
            Ok(up) => x << up.min(63),
            Err(_) => x >> shift.unsigned_abs().min(63),
        };
        (to(self.re), to(self.im))
    }

    /// `Z + δ`: a rebased delta.
    pub(crate) fn plus_orbit(&self, z: &Delta) -> Delta {
        sum(&[
            Term::new(i128::from(z.re), i128::from(z.im), z.exp),
            Term::new(i128::from(self.re), i128::from(self.im), self.exp),
        ])
    }

    /// `Z + δ` in the delta's unit `2^exp`, Z rounded to it when it is coarser, if both parts
    /// are below `2^63` there; `None` when `|Z + δ| >= |δ|` for sure, which is all rebasing
    /// asks (δ's parts are below 2^62, so |δ| is below 2^62.5).
    #[inline]
    pub(crate) fn plus_orbit_in_unit(&self, z: &Delta) -> Option<(i128, i128)> {
        if z.is_zero() {
            return Some((i128::from(self.re), i128::from(self.im)));
        }
        // Z's larger part is at least 2^61 of its unit, 2^(61 + shift) of δ's: from a shift
        // of 3 on, 2^64 > 2 |δ|, so |Z + δ| > |δ|.
        let shift = z.exp - self.exp;
        if shift >= 3 {
            return None;
        }
        let re = align(i128::from(z.re), -shift) + i128::from(self.re);
        let im = align(i128::from(z.im), -shift) + i128::from(self.im);
        // A part of 2^63 or more squares to more than |δ|² < 2^125.
        let limit = 1i128 << 63;
        (re.abs() < limit && im.abs() < limit).then_some((re, im))
    }

    /// `|δ|²` in the unit `2^(2·exp)`: below 2^125.
    #[inline]
    pub(crate) fn norm(&self) -> u128 {
        let (a, b) = (i128::from(self.re), i128::from(self.im));
        (a * a + b * b) as u128
    }
}

/// A term of a sum: `(re + i·im) · 2^exp`, parts below 2^126, and its top ([`top_of`]).
#[derive(Clone, Copy)]
struct Term {
    re: i128,
    im: i128,
    exp: i32,
    top: i32,
}

impl Term {
    #[inline(always)]
    fn new(re: i128, im: i128, exp: i32) -> Term {
        Term {
            re,
            im,
            exp,
            top: top_of(re, im, exp),
        }
    }
}

/// The sum of `terms`, each rounded once to the unit of the largest top less 125, and the
/// sum rounded once to a normal delta. Aligned, each term is below 2^125 (rounding may reach
/// it), so a sum of three is below 3 · 2^125, which normalising cannot overflow.
#[inline(always)]
fn sum(terms: &[Term]) -> Delta {
    let top = terms
        .iter()
        .fold(i32::MIN / 2, |top, term| top.max(term.top));
    let unit = top - 125;
    let (mut re, mut im) = (0, 0);
    for term in terms {
        re += align(term.re, unit - term.exp);
        im += align(term.im, unit - term.exp);
    }
    Delta::normalised(re, im, unit)
}

/// The exclusive top of `(re + i·im) · 2^exp`: the bit just above its larger magnitude.
/// Zero has none ([`i32::MIN`] stands for it).
#[inline(always)]
fn top_of(re: i128, im: i128, exp: i32) -> i32 {
    match bit_length(re, im) {
        0 => i32::MIN / 4,
        bits => exp + bits as i32,
    }
}

/// Bits of the larger magnitude.
#[inline(always)]
fn bit_length(re: i128, im: i128) -> u32 {
    128 - (re.unsigned_abs() | im.unsigned_abs()).leading_zeros()
}

/// `x · 2^-shift`: rounded once by `round_shift` when `shift > 0`, exact when not (the
/// caller knows it fits). Any shift: from 127 on, every `|x| < 2^126` rounds to 0.
#[inline(always)]
pub(crate) fn align(x: i128, shift: i32) -> i128 {
    if shift <= 0 {
        // Only a zero term's shift can reach 128.
        x.checked_shl(shift.unsigned_abs()).unwrap_or(0)
    } else if shift >= 127 {
        0
    } else {
        round_shift(x, shift as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(d: &Delta) -> (i128, i128, i32) {
        (i128::from(d.re), i128::from(d.im), d.exp)
    }

    #[test]
    fn a_normal_delta_has_its_larger_mantissa_in_62_bits() {
        let d = Delta::normalised(3, -1, -10);
        assert_eq!(value(&d), (3 << 60, -(1 << 60), -70));
        let d = Delta::normalised((1 << 100) + 1, 0, 0);
        assert_eq!(value(&d), (1 << 61, 0, 39));
        assert_eq!(Delta::normalised(0, 0, 55), Delta::ZERO);
    }

    #[test]
    fn rounding_up_to_the_next_power_renormalises_from_the_exact_parts() {
        // 2^63 - 1 rounds to 2^62 at 62 bits: one bit more, from the exact value.
        let d = Delta::normalised((1 << 63) - 1, 3, 0);
        assert_eq!(value(&d), (1 << 61, 1, 2));
    }

    #[test]
    fn a_step_from_zero_is_delta_c() {
        let dc = Delta::normalised(5, 7, -300);
        assert_eq!(Delta::ZERO.step(&Delta::normalised(1, 0, 0), &dc), dc);
    }

    #[test]
    fn a_step_doubles_and_rotates_by_z() {
        // Z = i, δ = 2^-100: 2·Z·δ = 2^-99·i, δ² = 2^-200 is below the unit, δc = 0.
        let d = Delta::normalised(1, 0, -100);
        let next = d.step(&Delta::normalised(0, 1, 0), &Delta::ZERO);
        assert_eq!(value(&next), (0, 1 << 61, -160));
    }

    #[test]
    fn a_large_delta_squares() {
        // Z = 0, δ = 1 + i: δ² = 2i.
        let d = Delta::normalised(1, 1, 0);
        let next = d.step(&Delta::ZERO, &Delta::ZERO);
        assert_eq!(value(&next), (0, 1 << 61, -60));
    }
}
