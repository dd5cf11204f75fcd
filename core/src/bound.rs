//! Bounds: non-negative numbers `mant · 2^exp` rounded one chosen way, for BLA's radii
//! (`bla.rs`), whose rules want a magnitude known to lie below (a radius) or above (what a
//! radius loses) the exact one. A power of two, the first such rule, lost up to three bits
//! at every level of the table, so that a map of 2^17 steps stood for almost none.
use crate::delta::Delta;

/// `mant · 2^exp`, `mant` normal (its top bit, 2^63, set) or 0 for zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bound {
    mant: u64,
    exp: i32,
}

/// A delta's `|d|²`, exact, in the unit `2^unit`: what a radius is held against, computed
/// once for every level a lookup asks.
pub(crate) struct Size {
    norm: u128,
    unit: i32,
}

impl Size {
    pub(crate) fn of(d: &Delta) -> Size {
        Size {
            norm: d.norm(),
            unit: 2 * d.exp,
        }
    }
}

/// Which way a bound rounds: below the exact value or above it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    Down,
    Up,
}

impl Bound {
    /// Zero: as a radius, a map that stands for nothing ([`Bound::holds`]).
    pub(crate) const ZERO: Bound = Bound { mant: 0, exp: 0 };

    /// `|d|`, rounded `way`.
    pub(crate) fn magnitude(d: &Delta, way: Way) -> Bound {
        let root = d.norm().isqrt() as u64;
        let exact = u128::from(root) * u128::from(root) == d.norm();
        let root = match (way, exact) {
            (Way::Up, false) => root + 1,
            _ => root,
        };
        Bound::normalised(u128::from(root), d.exp, false, way)
    }

    /// `self · 2^k`, exactly.
    pub(crate) fn scaled(self, k: i32) -> Bound {
        match self.mant {
            0 => self,
            _ => Bound {
                exp: self.exp + k,
                ..self
            },
        }
    }

    /// `self · other`, rounded `way`.
    pub(crate) fn times(self, other: Bound, way: Way) -> Bound {
        let product = u128::from(self.mant) * u128::from(other.mant);
        Bound::normalised(product, self.exp + other.exp, false, way)
    }

    /// `self / other`, rounded `way`; `other` is not zero.
    pub(crate) fn over(self, other: Bound, way: Way) -> Bound {
        // At least 2^127 / 2^64: a quotient of 64 or 65 bits, so that rounding up adds one
        // unit of its last kept bit, and a remainder that says whether it was exact.
        let numerator = u128::from(self.mant) << 64;
        let denominator = u128::from(other.mant);
        let inexact = numerator % denominator != 0;
        Bound::normalised(
            numerator / denominator,
            self.exp - 64 - other.exp,
            inexact,
            way,
        )
    }

    /// `self - other` rounded `way`, or `None` when it is not above zero.
    pub(crate) fn minus(self, other: Bound, way: Way) -> Option<Bound> {
        if self.mant == 0 {
            return None;
        }
        if other.mant == 0 {
            return Some(self);
        }
        // In the unit of the smaller exponent less 64 bits of room: exact while the two are
        // within 63 bits; beyond that `other` is below half a unit of `self`'s last bit.
        let shift = self.exp - other.exp;
        if shift >= 64 {
            // other is below one unit of self's last bit: self less that unit is below the
            // difference, self above it.
            return Some(match way {
                Way::Up => self,
                Way::Down => Bound::normalised(u128::from(self.mant) - 1, self.exp, false, way),
            });
        }
        if shift < 0 {
            return None; // other's mantissa is normal: other > self
        }
        let difference = (u128::from(self.mant) << shift).checked_sub(u128::from(other.mant));
        difference
            .filter(|&d| d != 0)
            .map(|d| Bound::normalised(d, other.exp, false, way))
    }

    /// The smaller of the two.
    pub(crate) fn min(self, other: Bound) -> Bound {
        match self.below(&other) {
            true => self,
            false => other,
        }
    }

    /// The larger of the two.
    pub(crate) fn max(self, other: Bound) -> Bound {
        match self.below(&other) {
            true => other,
            false => self,
        }
    }

    fn below(&self, other: &Bound) -> bool {
        match (self.mant, other.mant) {
            (0, _) => true,
            (_, 0) => false,
            _ => (self.exp, self.mant) <= (other.exp, other.mant),
        }
    }

    /// Whether it is zero.
    pub(crate) fn is_zero(&self) -> bool {
        self.mant == 0
    }

    /// Whether `|d| <= self` for a radius `self` and `d`'s [`Size`], exactly: `|d|²`
    /// against the square of `self` taken to `d`'s unit squared. A zero radius holds no `d`,
    /// not even 0: it is a map that stands for nothing.
    #[inline]
    pub(crate) fn holds(&self, d: &Size) -> bool {
        if self.mant == 0 {
            return false;
        }
        if d.norm == 0 {
            return true;
        }
        // |d|² < 2^125 in its unit; self² is in [2^126, 2^128) · 2^(2·self.exp).
        let square = (u128::from(self.mant) * u128::from(self.mant)) >> 64; // [2^62, 2^64)
        let shift = 2 * self.exp + 64 - d.unit;
        if shift >= 63 {
            true // self² is at least 2^125 of the unit
        } else if shift >= 0 {
            d.norm <= square << shift
        } else if shift > -64 {
            // |d|² is a whole number of units: at most self² exactly when at most its floor.
            d.norm <= square >> -shift
        } else {
            false // self² is below one unit and |d|² is at least one
        }
    }

    /// `value · 2^exp`, normalised and rounded `way`; `inexact` says that the exact number
    /// was above `value · 2^exp` (a remainder dropped before).
    fn normalised(value: u128, exp: i32, inexact: bool, way: Way) -> Bound {
        if value == 0 {
            return Bound::ZERO;
        }
        let shift = 64 - value.leading_zeros() as i32; // bits above 64
        let (mant, dropped) = if shift > 0 {
            (value >> shift, value & ((1 << shift) - 1) != 0)
        } else {
            (value << -shift, false)
        };
        let mut bound = Bound {
            mant: mant as u64,
            exp: exp + shift,
        };
        if way == Way::Up && (dropped || inexact) {
            bound = match bound.mant.checked_add(1) {
                Some(mant) => Bound { mant, ..bound },
                None => Bound {
                    mant: 1 << 63,
                    exp: bound.exp + 1,
                },
            };
        }
        bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(b: Bound) -> (u64, i32) {
        (b.mant, b.exp)
    }

    #[test]
    fn a_magnitude_is_bounded_both_ways_within_one_unit() {
        // |3 + 4i| = 5 exactly; |1 + i| = 1.414...
        let five = Bound::magnitude(&Delta::normalised(3, 4, 0), Way::Up);
        assert_eq!(value(five), (5 << 61, -61));
        let root2 = Delta::normalised(1, 1, 0);
        let (down, up) = (
            Bound::magnitude(&root2, Way::Down),
            Bound::magnitude(&root2, Way::Up),
        );
        // One unit of the root, two bits below the normal mantissa's.
        assert_eq!(up.mant - down.mant, 4);
        assert!(down.holds(&Size::of(&Delta::normalised(1, 0, 0))));
        assert!(!down.holds(&Size::of(&Delta::normalised(3, 3, -1))));
    }

    fn three_halves_of(one: Bound) -> Bound {
        one.times(
            Bound::magnitude(&Delta::normalised(3, 0, -1), Way::Down),
            Way::Down,
        )
    }

    #[test]
    fn a_difference_that_is_not_positive_is_none() {
        let one = Bound::magnitude(&Delta::ONE, Way::Down);
        assert_eq!(one.minus(one, Way::Down), None);
        assert_eq!(one.scaled(-1).minus(one, Way::Down), None);
        assert_eq!(Bound::ZERO.minus(one, Way::Down), None);
        assert_eq!(one.minus(three_halves_of(one), Way::Down), None);
        assert_eq!(
            three_halves_of(one).minus(one, Way::Down),
            Some(one.scaled(-1))
        );
        assert_eq!(one.minus(one.scaled(-1), Way::Down), Some(one.scaled(-1)));
        // Far below: the difference is one unit less (down) or self (up).
        let tiny = one.scaled(-200);
        assert_eq!(one.minus(tiny, Way::Down).unwrap().mant, u64::MAX - 1);
        assert_eq!(one.minus(tiny, Way::Up), Some(one));
    }

    #[test]
    fn a_quotient_rounds_the_chosen_way() {
        let three = Bound::magnitude(&Delta::normalised(3, 0, 0), Way::Down);
        let one = Bound::magnitude(&Delta::ONE, Way::Down);
        let (down, up) = (one.over(three, Way::Down), one.over(three, Way::Up));
        assert_eq!(up.mant - down.mant, 1);
    }

    #[test]
    fn holds_compares_exactly_at_the_edge() {
        let r = Bound::magnitude(&Delta::normalised(5, 0, -100), Way::Down);
        let holds = |r: &Bound, re, im, exp| r.holds(&Size::of(&Delta::normalised(re, im, exp)));
        assert!(holds(&r, 3, 4, -100));
        assert!(!holds(&r, 3, 5, -100));
        assert!(holds(&r, 1, 0, -400));
        assert!(!holds(&r, 1, 0, 0));
        // A radius far below d's unit: 2^-60 against 0.6.
        let small = Bound::magnitude(&Delta::ONE, Way::Down).scaled(-60);
        assert!(!holds(
            &small,
            -1238450794743494282,
            2457822333021713037,
            -62
        ));
        assert!(holds(&small, 1, 1, -62));
        assert!(holds(&small, 1, 1, -61));
        assert!(!holds(&small, 1, 1, -60));
        assert!(!holds(&Bound::ZERO, 1, 0, 0));
        assert!(!Bound::ZERO.holds(&Size::of(&Delta::ZERO)));
    }

    /// `x · 2^ex` against `y · 2^ey`, exactly.
    fn compare(x: u128, ex: i32, y: u128, ey: i32) -> core::cmp::Ordering {
        let top = |v: u128, e: i32| (v != 0).then(|| 128 - v.leading_zeros() as i32 + e);
        match (top(x, ex), top(y, ey)) {
            (Some(tx), Some(ty)) if tx == ty => match ex >= ey {
                true => (x << (ex - ey)).cmp(&y),
                false => x.cmp(&(y << (ey - ex))),
            },
            (tx, ty) => tx.cmp(&ty),
        }
    }

    /// Bounds and deltas from a fixed generator, over exponents far apart and close.
    fn samples() -> impl Iterator<Item = (Bound, Bound, Delta)> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..20_000).map(move |_| {
            let mut bound = || {
                let (bits, shift, exp) = (next(), next() % 64, (next() % 200) as i32);
                let d = Delta::normalised(i128::from(bits >> shift), 0, exp);
                Bound::magnitude(&d, Way::Down)
            };
            let (a, b) = (bound(), bound());
            let mut part = || {
                let v = next();
                (v as i64 >> (v % 64)) as i128
            };
            let (re, im) = (part(), part());
            let d = Delta::normalised(re, im, (next() % 300) as i32 - 50);
            (a, b, d)
        })
    }

    #[test]
    fn every_operation_rounds_the_way_it_says_against_exact_integers() {
        use core::cmp::Ordering::*;
        let value = |b: Bound| (u128::from(b.mant), b.exp);
        for (a, b, d) in samples() {
            // down <= exact <= up, each exact side computed as a product in u128.
            let (pd, pu) = (a.times(b, Way::Down), a.times(b, Way::Up));
            let exact = (u128::from(a.mant) * u128::from(b.mant), a.exp + b.exp);
            assert_ne!(compare(value(pd).0, pd.exp, exact.0, exact.1), Greater);
            assert_ne!(compare(value(pu).0, pu.exp, exact.0, exact.1), Less);
            // a / b: q·b against a.
            for (way, wrong) in [(Way::Down, Greater), (Way::Up, Less)] {
                if b.is_zero() {
                    break;
                }
                let q = a.over(b, way);
                let qb = (u128::from(q.mant) * u128::from(b.mant), q.exp + b.exp);
                assert_ne!(compare(qb.0, qb.1, value(a).0, a.exp), wrong);
            }
            // a - b, exact in b's unit where the two are within 64 bits.
            let shift = a.exp - b.exp;
            let difference = (0..64)
                .contains(&shift)
                .then(|| (u128::from(a.mant) << shift).checked_sub(u128::from(b.mant)))
                .flatten();
            for (way, wrong) in [(Way::Down, Greater), (Way::Up, Less)] {
                match (a.minus(b, way), difference) {
                    (Some(got), Some(exact)) => {
                        assert_ne!(compare(value(got).0, got.exp, exact, b.exp), wrong)
                    }
                    (None, _) => {
                        assert_ne!(compare(value(a).0, a.exp, value(b).0, b.exp), Greater)
                    }
                    (Some(got), None) => {
                        assert!(shift >= 64 || b.is_zero(), "{a:?} - {b:?} = {got:?}")
                    }
                }
            }
            // holds: |d|² <= r² exactly, for r = a.
            let square = u128::from(a.mant) * u128::from(a.mant);
            let within = compare(d.norm(), 2 * d.exp, square, 2 * a.exp) != Greater;
            // a's square is taken to 64 bits first: a lower bound, never an upper one.
            if a.holds(&Size::of(&d)) {
                assert!(within, "{a:?} holds {d:?}");
            } else {
                let below = compare(d.norm(), 2 * d.exp, square >> 63 << 63, 2 * a.exp);
                assert!(!within || below == Greater, "{a:?} refuses {d:?}");
            }
        }
    }
}
