//! A reference orbit's values as the perturbation kernels keep them: `Z_m` in block floating
//! point, and its escape margin `|Z_m|² - 4`, each from the exact value.
//!
//! `Z_m` keeps 62 bits, which is all a pixel's step needs. The escape test needs more: where
//! the reference passes a hair inside or outside the circle (by the needle's tip, c near
//! -2), its margin is far below Z's last bit, and a margin computed from the kept Z has the
//! wrong sign. So each value carries its margin, computed exactly in the reference's format
//! and then kept to 62 bits: its sign, and whether it is 0, are the exact ones.
use crate::delta::Delta;

/// A value of a reference orbit ([`crate::Reference`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrbitPoint {
    re: i64,
    im: i64,
    /// `|Z|² - 4`'s mantissa: its magnitude truncated to 62 bits, its sign the exact one.
    margin: i64,
    exp: i32,
    margin_exp: i32,
}

impl OrbitPoint {
    /// `z` (truncated, [`Delta::truncated`]) and its margin `(±magnitude) · 2^exp`, a
    /// magnitude of at most 62 bits truncated from the exact one.
    pub(crate) fn new(z: Delta, margin: (i64, bool), margin_exp: i32) -> OrbitPoint {
        let (magnitude, negative) = margin;
        let margin = if negative { -magnitude } else { magnitude };
        OrbitPoint {
            re: z.re,
            im: z.im,
            margin,
            exp: z.exp,
            margin_exp: if margin == 0 { 0 } else { margin_exp },
        }
    }

    /// `Z_m`.
    #[inline(always)]
    pub(crate) fn z(&self) -> Delta {
        Delta {
            re: self.re,
            im: self.im,
            exp: self.exp,
        }
    }

    /// `|Z_m|² - 4` as `(mantissa, exponent)`: the exact margin's sign, and its top 62 bits.
    #[inline(always)]
    pub(crate) fn margin(&self) -> (i64, i32) {
        (self.margin, self.margin_exp)
    }
}
