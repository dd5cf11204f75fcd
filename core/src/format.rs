//! The fixed-point formats, the one rounding rule, and decimal text to raw bits.
//!
//! The narrow formats' raw values are `i64` in the kernels (an I4F28 value always fits an
//! `i32`); a wide format's are [`Fixed`](crate::Fixed) numbers of its [`Width`].
use core::fmt;

use fixed::types::I4F124;
pub use fixed::types::{I4F28, I4F60};

use crate::limits::SAFE_BOUND;
use crate::round::round_shift;
use crate::wide::Width;

/// A fixed-point format: how many bits a number has and how many of them are fraction. Every
/// format has four integer bits. Variant order is wire order: append, never reorder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Format {
    /// 32 bits, 4 integer and 28 fraction: every Cortex-M runs it with one 32×32→64 multiply.
    I4F28,
    /// 64 bits, 4 integer and 60 fraction: for deep zooms, finer than an f64 mantissa near 1.
    I4F60,
    /// 96 to 4,096 bits in 32-bit limbs, for zooms past I4F60's (wire version 3).
    Wide(Width),
}

impl Format {
    /// Fraction bits: a raw value `r` stands for `r / 2^frac_bits()`.
    pub const fn frac_bits(self) -> u32 {
        match self {
            Format::I4F28 => 28,
            Format::I4F60 => 60,
            Format::Wide(width) => width.frac_bits(),
        }
    }

    /// The largest raw magnitude of a part of c that the narrow kernels accept
    /// ([`SAFE_BOUND`]); a wide format's raw values do not fit an `i64`, and its numbers
    /// check themselves ([`Fixed::is_safe`](crate::Fixed::is_safe)), so for it this is 0.
    pub const fn safe_raw(self) -> i64 {
        match self {
            Format::Wide(_) => 0,
            narrow => SAFE_BOUND << narrow.frac_bits(),
        }
    }

    /// The format with this many bits in total, as the command line names it: 32, 64, or a
    /// multiple of 32 up to 4,096.
    pub const fn from_bits(bits: u32) -> Option<Format> {
        match bits {
            32 => Some(Format::I4F28),
            64 => Some(Format::I4F60),
            _ => match Width::from_bits(bits) {
                Some(width) => Some(Format::Wide(width)),
                None => None,
            },
        }
    }

    /// Total bits of the format.
    pub const fn bits(self) -> u32 {
        self.width().bits()
    }

    /// Its numbers' count of limbs, as a [`Width`]: one for I4F28, two for I4F60.
    pub const fn width(self) -> Width {
        match self {
            Format::I4F28 => Width::I4F28,
            Format::I4F60 => Width::I4F60,
            Format::Wide(width) => width,
        }
    }

    /// What one kernel step of this format costs, in steps of a narrow format: `24 + w²` for
    /// a wide one of `w` 64-bit words. Measured on x86-64 (BENCHMARKS.md), a step of 128 to
    /// 1,024 bits takes 28 to 220 times an I4F60 step; this is that within 30%, and above it
    /// from 2,048 bits, where shortened squares save half. Squares dominate, so `w²`.
    pub const fn step_cost(self) -> u64 {
        match self {
            Format::Wide(width) => {
                let words = width.bits().div_ceil(64) as u64;
                24 + words * words
            }
            _ => 1,
        }
    }

    /// The format its name names (`I4F28`, `I4F60`, `I4F92`...), as [`Display`] writes it.
    ///
    /// [`Display`]: fmt::Display
    pub fn from_name(name: &str) -> Option<Format> {
        let digits = name.strip_prefix("I4F")?;
        // As Display writes it: digits only, no sign, no leading zero.
        if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
            return None;
        }
        let frac: u32 = digits.parse().ok()?;
        Format::from_bits(frac.checked_add(4)?).filter(|f| f.frac_bits() == frac)
    }

    /// Rounds a value with `EXACT_FRAC` fraction bits to this format, by [`round_shift`].
    pub(crate) fn round_exact(self, exact: i128) -> i128 {
        round_shift(exact, EXACT_FRAC - self.frac_bits())
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "I4F{}", self.frac_bits())
    }
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
    use crate::view::Point;

    #[test]
    fn narrow_raw_bits_are_written_as_their_exact_decimal() {
        use core::fmt::Write;
        let mut text = heapless::String::<80>::new();
        let mut decimal = |format: Format, raw: i64| {
            text.clear();
            let number = crate::Fixed::from_i64(format.width(), raw);
            write!(text, "{number}").unwrap();
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

    /// A format's name is `I4F` and its fraction bits in digits, nothing else.
    #[test]
    fn formats_are_named_by_their_fraction_bits() {
        for bits in [32, 64, 96, 1024, 4096] {
            let format = Format::from_bits(bits).unwrap();
            let mut name = heapless::String::<16>::new();
            core::fmt::Write::write_fmt(&mut name, format_args!("{format}")).unwrap();
            assert_eq!(Format::from_name(&name), Some(format));
        }
        for name in [
            "I4F+1020", "I4F4093", "I4F0", "I4F", "i4f28", "I4F 28", "I4F028",
        ] {
            assert_eq!(Format::from_name(name), None, "{name}");
        }
    }

    fn format_args_point(re: &str) -> heapless::String<96> {
        let mut text = heapless::String::new();
        core::fmt::Write::write_fmt(&mut text, format_args!("{re},0")).unwrap();
        text
    }
}
