//! The two fixed-point formats, the one rounding rule, and decimal text to raw bits.
//!
//! Raw values travel as `i64` whatever the format; an I4F28 value always fits an `i32`.
use core::fmt;

use fixed::types::I4F124;
pub use fixed::types::{I4F28, I4F60};

use crate::limits::SAFE_BOUND;

/// A fixed-point format: how many bits a number has and how many of them are fraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Format {
    /// 32 bits, 4 integer and 28 fraction: every Cortex-M runs it with one 32×32→64 multiply.
    I4F28,
    /// 64 bits, 4 integer and 60 fraction: for deep zooms, finer than an f64 mantissa near 1.
    I4F60,
}

impl Format {
    /// Fraction bits: a raw value `r` stands for `r / 2^frac_bits()`.
    pub const fn frac_bits(self) -> u32 {
        match self {
            Format::I4F28 => 28,
            Format::I4F60 => 60,
        }
    }

    /// The largest raw magnitude of a part of c that the kernel accepts ([`SAFE_BOUND`]).
    pub const fn safe_raw(self) -> i64 {
        SAFE_BOUND << self.frac_bits()
    }

    /// The format with this many bits in total, as the command line names it (32 or 64).
    pub const fn from_bits(bits: u32) -> Option<Format> {
        match bits {
            32 => Some(Format::I4F28),
            64 => Some(Format::I4F60),
            _ => None,
        }
    }

    /// Total bits of the format (32 or 64).
    pub const fn bits(self) -> u32 {
        match self {
            Format::I4F28 => 32,
            Format::I4F60 => 64,
        }
    }

    /// Rounds a value with `EXACT_FRAC` fraction bits to this format, by [`round_shift`].
    pub(crate) fn round_exact(self, exact: i128) -> i128 {
        round_shift(exact, EXACT_FRAC - self.frac_bits())
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::I4F28 => "I4F28",
            Format::I4F60 => "I4F60",
        })
    }
}

/// The one rounding rule: to nearest, ties toward +infinity, i.e. `floor(x / 2^shift + 1/2)`.
///
/// Arithmetic shift right is floor on every platform Rust supports, so this is exact and
/// portable. `shift` must be at least 1.
#[inline(always)]
pub(crate) const fn round_shift(x: i128, shift: u32) -> i128 {
    (x + (1 << (shift - 1))) >> shift
}

/// Fraction bits of the exact intermediate that decimal text is read into.
pub(crate) const EXACT_FRAC: u32 = 124;

/// Reads a decimal number (`-2.2`, `0.5`, `+1`) exactly to 124 fraction bits, never through a
/// float. `fixed` rounds there to nearest (ties to even); the result is then rounded once to
/// the format. `None` for anything that is not a plain decimal in (-8, 8).
pub(crate) fn parse_exact(text: &str) -> Option<i128> {
    I4F124::from_str(text.trim()).ok().map(I4F124::to_bits)
}

/// Integer arithmetic of one format on raw bits held in `i64`: the two operations the kernel
/// needs. Implemented by [`Q28`] and [`Q60`], zero-sized names of the formats.
///
/// Both are total (no panics, no UB) for every input and exact for the inputs that
/// [`SAFE_BOUND`] proves reachable: before a step |z|² <= 4, and after one each part of z is at
/// most 7. The batched kernel also calls `step` on a point that has already escaped (|z| <= 7
/// still) and throws the result away; only that result may wrap.
pub(crate) trait Arith {
    /// |z|² > 4, computed exactly in the double-width integer.
    fn escaped(re: i64, im: i64) -> bool;
    /// z² + c, each product rounded once by [`round_shift`].
    fn step(re: i64, im: i64, c_re: i64, c_im: i64) -> (i64, i64);
}

/// The arithmetic of [`Format::I4F28`].
pub(crate) struct Q28;
/// The arithmetic of [`Format::I4F60`].
pub(crate) struct Q60;

const F28: u32 = Format::I4F28.frac_bits();
const F60: u32 = Format::I4F60.frac_bits();

impl Arith for Q28 {
    #[inline(always)]
    fn escaped(re: i64, im: i64) -> bool {
        let (re, im) = (narrow28(re), narrow28(im));
        re * re + im * im > 4 << (2 * F28)
    }

    #[inline(always)]
    fn step(re: i64, im: i64, c_re: i64, c_im: i64) -> (i64, i64) {
        const HALF: i64 = 1 << (F28 - 1);
        let (re, im) = (narrow28(re), narrow28(im));
        // 2·re·im rounded from 2F fraction bits: one shift fewer instead of a doubling.
        (
            ((re * re - im * im + HALF) >> F28) + c_re,
            ((re * im + (HALF >> 1)) >> (F28 - 1)) + c_im,
        )
    }
}

/// The parts of z fit an `i32` (|z| <= 7 · 2^28 < 2^31), so this changes nothing; it tells the
/// compiler so, and it multiplies 32×32→64 (one `pmuldq` lane on x86, `smull` on Cortex-M)
/// instead of 64×64.
#[inline(always)]
const fn narrow28(part: i64) -> i64 {
    part as i32 as i64
}

impl Arith for Q60 {
    #[inline(always)]
    fn escaped(re: i64, im: i64) -> bool {
        let (re, im) = (re as i128, im as i128);
        re * re + im * im > 4 << (2 * F60)
    }

    #[inline(always)]
    fn step(re: i64, im: i64, c_re: i64, c_im: i64) -> (i64, i64) {
        const HALF: i128 = 1 << (F60 - 1);
        let (re, im) = (re as i128, im as i128);
        (
            (((re * re - im * im + HALF) >> F60) as i64).wrapping_add(c_re),
            (((re * im + (HALF >> 1)) >> (F60 - 1)) as i64).wrapping_add(c_im),
        )
    }
}
