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

impl Format {
    /// The exact decimal value of `raw` bits of this format, every digit written: a raw value
    /// is a whole number over a power of two, so its decimal expansion ends (at most
    /// `frac_bits` digits after the point). Reading it back gives the same bits.
    pub const fn decimal(self, raw: i64) -> Decimal {
        Decimal { format: self, raw }
    }
}

/// Raw bits written as their exact decimal value ([`Format::decimal`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal {
    format: Format,
    raw: i64,
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = self.format.frac_bits();
        let magnitude = self.raw.unsigned_abs();
        let mask = (1u64 << bits) - 1;
        if self.raw < 0 {
            f.write_str("-")?;
        }
        write!(f, "{}.", magnitude >> bits)?;
        // Each digit: the fraction times ten, its whole part out; under 2^64 since the
        // fraction is under 2^60.
        let mut fraction = magnitude & mask;
        loop {
            fraction *= 10;
            write!(f, "{}", fraction >> bits)?;
            fraction &= mask;
            if fraction == 0 {
                return Ok(());
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Point;

    #[test]
    fn raw_bits_are_written_as_their_exact_decimal() {
        use core::fmt::Write;
        let mut text = heapless::String::<80>::new();
        let mut decimal = |format: Format, raw: i64| {
            text.clear();
            write!(text, "{}", format.decimal(raw)).unwrap();
            text.clone()
        };
        assert_eq!(decimal(Format::I4F28, 0), "0.0");
        assert_eq!(decimal(Format::I4F28, 3 << 27), "1.5");
        assert_eq!(decimal(Format::I4F28, -(5 << 26)), "-1.25");
        assert_eq!(decimal(Format::I4F28, 1), "0.0000000037252902984619140625");
        assert_eq!(
            decimal(Format::I4F60, -1),
            "-0.000000000000000000867361737988403547205962240695953369140625"
        );
        // -2.2 is not a binary fraction: its bits are the nearest, and say so exactly.
        let raw = Point::from_text(Format::I4F28, "-2.2,0").unwrap().re;
        let exact = decimal(Format::I4F28, raw);
        assert_eq!(exact, "-2.1999999992549419403076171875");
        let again = Point::from_text(Format::I4F28, &format_args_point(&exact)).unwrap();
        assert_eq!(again.re, raw);
    }

    fn format_args_point(re: &str) -> heapless::String<96> {
        let mut text = heapless::String::new();
        core::fmt::Write::write_fmt(&mut text, format_args!("{re},0")).unwrap();
        text
    }
}
