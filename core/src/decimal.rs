//! Decimal text of any length to a wide format's bits and back, exactly, and the deep-zoom
//! community's zoom (`1E50`, `5.00E227`).
//!
//! Deep-zoom locations are shared as hundreds of digits, more than any float or the `fixed`
//! crate's 124-bit reader holds, so the digits go straight into the format: the fraction's
//! decimal digits, in base-10⁹ chunks, are multiplied by 2^32 once a limb, and what carries out
//! of the top chunk is the next 32 bits of the binary fraction.
use core::fmt;

use crate::limbs::{self, Limb, LIMB_BITS};
use crate::limits::{MAX_DIGITS, MAX_WIDE_LIMBS};
use crate::wide::{Fixed, Width};

/// Decimal digits in a chunk: 10⁹ < 2^30, so a chunk times 2^32 plus a carry fits a `u64`.
const CHUNK_DIGITS: usize = 9;
const CHUNK: u64 = 1_000_000_000;
const CHUNKS: usize = MAX_DIGITS.div_ceil(CHUNK_DIGITS);

/// A decimal number as text: its sign, whole part and fraction digits.
struct Parts<'a> {
    negative: bool,
    whole: &'a [u8],
    fraction: &'a [u8],
}

/// Splits `[+-]digits[.digits]` (at least one digit, at most [`MAX_DIGITS`] in all).
fn parts(text: &str) -> Option<Parts<'_>> {
    let text = text.trim().as_bytes();
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let (whole, fraction) = match text.iter().position(|&b| b == b'.') {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &text[..0]),
    };
    let digits = whole.len() + fraction.len();
    let all_digits = whole.iter().chain(fraction).all(u8::is_ascii_digit);
    (all_digits && digits > 0 && digits <= MAX_DIGITS).then_some(Parts {
        negative,
        whole,
        fraction,
    })
}

/// Reads decimal text into `width`, rounded once by the one rule (to nearest, ties toward
/// +infinity); `None` for anything but a plain decimal of at most [`MAX_DIGITS`] digits whose
/// magnitude rounds below 8.
pub(crate) fn read(width: Width, text: &str) -> Option<Fixed> {
    let Parts {
        negative,
        whole,
        fraction,
    } = parts(text)?;
    let whole = whole.iter().skip_while(|&&b| b == b'0');
    let mut whole_value = 0u32;
    for &digit in whole {
        whole_value = whole_value * 10 + u32::from(digit - b'0');
        if whole_value >= 8 {
            return None;
        }
    }
    // The fraction's digits, most significant chunk first, the last padded with zeros.
    let mut chunks = [0u32; CHUNKS];
    let used = fraction.len().div_ceil(CHUNK_DIGITS);
    for (i, chunk) in chunks[..used].iter_mut().enumerate() {
        for k in 0..CHUNK_DIGITS {
            let digit = fraction.get(i * CHUNK_DIGITS + k).map_or(0, |d| d - b'0');
            *chunk = *chunk * 10 + u32::from(digit);
        }
    }
    let chunks = &mut chunks[..used];
    // T = |x| · 2^(F+4) = |x| · 2^32n, whole part and n limbs of fraction; one limb above.
    let n = width.limbs();
    let mut t = [0 as Limb; MAX_WIDE_LIMBS + 1];
    let t = &mut t[..n + 1];
    t[n] = whole_value;
    for limb in t[..n].iter_mut().rev() {
        let mut carry = 0u64;
        for chunk in chunks.iter_mut().rev() {
            let value = u64::from(*chunk) * (1 << LIMB_BITS) + carry;
            *chunk = (value % CHUNK) as u32;
            carry = value / CHUNK;
        }
        *limb = carry as Limb;
    }
    let sticky = chunks.iter().any(|&chunk| chunk != 0);
    // |x| · 2^F is (T + rest) / 16, rest in [0, 1) and nonzero when `sticky`.
    //   x >= 0: floor((T + rest)/16 + 1/2) = floor((T + 8) / 16), the rest cannot carry.
    //   x < 0: floor((8 - T - rest) / 16) = floor((8 - T - sticky) / 16), since for a
    //   nonzero rest (8 - T - rest) lies strictly between 8 - T - 1 and 8 - T.
    if negative {
        limbs::negate(t);
        limbs::add(t, &[8]);
        if sticky {
            limbs::sub(t, &[1]);
        }
    } else {
        limbs::add(t, &[8]);
    }
    // An arithmetic shift by 4 into n limbs: limb n's low four bits are the top ones.
    let mut raw = [0 as Limb; MAX_WIDE_LIMBS];
    limbs::shift_right_into(t, 4, &mut raw[..n]);
    let number = Fixed::from_limbs(&raw[..n])?;
    // A magnitude that rounds to 8 does not fit: +8 wraps to the wrong sign, and -8, which
    // fits, has no text that reads back.
    let wrapped = number.is_negative() != (negative && !number.is_zero());
    let minus_eight = number == Fixed::from_int(width, -8);
    (!wrapped && !minus_eight).then_some(number)
}

impl Fixed {
    /// Reads decimal text (`-0.0494700290631040937516922267273536301187457`) into `width`,
    /// exactly and rounded once by the one rule (to nearest, ties toward +infinity); `None`
    /// for anything but a plain decimal of at most [`MAX_DIGITS`] digits whose magnitude
    /// rounds below 8.
    pub fn from_decimal(width: Width, text: &str) -> Option<Fixed> {
        read(width, text)
    }
}

/// The exact decimal value of a number, every digit written: a raw value is a whole number
/// over a power of two, so its decimal expansion ends. Reading it back gives the same bits.
impl<const L: usize> fmt::Display for Fixed<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (magnitude, negative) = self.magnitude();
        let n = self.width().limbs();
        let mut fraction = [0 as Limb; MAX_WIDE_LIMBS];
        let fraction = &mut fraction[..n];
        fraction.copy_from_slice(magnitude.limbs());
        // The whole part is the top limb's top four bits (F = 32n - 4).
        let whole = fraction[n - 1] >> (LIMB_BITS - 4);
        fraction[n - 1] &= (1 << (LIMB_BITS - 4)) - 1;
        if negative {
            f.write_str("-")?;
        }
        write!(f, "{whole}.")?;
        loop {
            // The fraction times ten: below 10 · 2^F < 2^32n, its whole part the top bits.
            limbs::mul_small(fraction, 10, 0);
            write!(f, "{}", fraction[n - 1] >> (LIMB_BITS - 4))?;
            fraction[n - 1] &= (1 << (LIMB_BITS - 4)) - 1;
            if limbs::is_zero(fraction) {
                return Ok(());
            }
        }
    }
}

/// A zoom as the deep-zoom community writes it (Kalles Fraktaler, rust-fractal-core): a view
/// `4 / zoom` high, `zoom` written `1E50`, `5.00E227` or `2.5`. Exactly `digits · 10^exponent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Zoom {
    /// The mantissa's digits as a whole number, at most [`Zoom::MAX_MANTISSA_DIGITS`] of them.
    digits: u128,
    /// The power of ten, the mantissa's fraction digits taken into it.
    exponent: i32,
}

impl Zoom {
    /// The most significant digits a zoom's mantissa may have: 10³⁸ < 2^128.
    pub const MAX_MANTISSA_DIGITS: usize = 38;
    /// The largest power of ten of a zoom's leading digit, either way: at 1E1300 a step of
    /// `4 / zoom` rounds to zero in every format long before (10^1300 > 2^4318), and at
    /// 1E-1300 the view is far outside the safe range.
    pub const MAX_EXPONENT: i32 = 1300;

    /// Reads `MANTISSA[E[+-]EXPONENT]`; `None` for a zoom that is not a positive decimal, has
    /// more significant digits than [`Zoom::MAX_MANTISSA_DIGITS`], or lies outside
    /// 1E-1300..1E1301.
    pub fn parse(text: &str) -> Option<Zoom> {
        let text = text.trim();
        if text.contains(char::is_whitespace) {
            return None;
        }
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(at) => (&text[..at], text[at + 1..].parse::<i32>().ok()?),
            None => (text, 0),
        };
        let Parts {
            negative,
            whole,
            fraction,
        } = parts(mantissa)?;
        if negative || exponent.unsigned_abs() > 100_000 {
            return None;
        }
        // Significant digits: no leading zeros, and trailing ones go into the exponent.
        let all = || whole.iter().chain(fraction);
        let start = all().position(|&b| b != b'0')?;
        let end = whole.len() + fraction.len() - all().rev().position(|&b| b != b'0')?;
        let significant = end - start;
        if significant > Zoom::MAX_MANTISSA_DIGITS {
            return None;
        }
        let digits = (all().skip(start).take(significant))
            .fold(0u128, |value, &digit| value * 10 + u128::from(digit - b'0'));
        let trailing_zeros = (whole.len() + fraction.len() - end) as i32;
        let exponent = exponent - fraction.len() as i32 + trailing_zeros;
        let lead = exponent + significant as i32 - 1;
        (lead.abs() <= Zoom::MAX_EXPONENT).then_some(Zoom { digits, exponent })
    }

    /// The step between pixels of a view `height` pixels high, `4 / (zoom · height)`, in
    /// `width`, rounded once by the one rule; zero if it rounds to zero, `None` if it does not
    /// fit the format (a zoom far out).
    pub fn step(&self, width: Width, height: u32) -> Option<Fixed> {
        // floor(N / D + 1/2) = floor((2N + D) / 2D), N = 2^(F+2) · 10^-e (e < 0),
        // D = digits · height · 10^e (e >= 0).
        let mut numerator = [0 as Limb; BIG];
        let mut denominator = [0 as Limb; BIG];
        numerator[0] = 1;
        limbs::shift_left_into(&numerator.clone(), width.frac_bits() + 3, &mut numerator);
        denominator[..4].copy_from_slice(&[
            self.digits as Limb,
            (self.digits >> 32) as Limb,
            (self.digits >> 64) as Limb,
            (self.digits >> 96) as Limb,
        ]);
        let tens = if self.exponent < 0 {
            &mut numerator
        } else {
            &mut denominator
        };
        times_ten_to(tens, self.exponent.unsigned_abs())?;
        if limbs::mul_small(&mut denominator, height, 0) != 0 {
            return None;
        }
        // 2N + D over 2D.
        let mut doubled = denominator;
        if limbs::shift_left_one(&mut doubled) || limbs::add(&mut numerator, &denominator) {
            return None;
        }
        let (mut quotient, mut scratch) = ([0 as Limb; BIG], [0 as Limb; BIG]);
        limbs::divide(&mut numerator, &doubled, &mut quotient, &mut scratch);
        let n = width.limbs();
        // The step must be a positive number of the format: below 2^(32n - 1).
        let fits = limbs::is_zero(&quotient[n..]) && !limbs::is_negative(&quotient[..n]);
        fits.then(|| Fixed::from_limbs(&quotient[..n]))?
    }
}

impl Zoom {
    /// The most significant digits [`Zoom::times_two_to`] keeps: every power of two to
    /// 2^66 exactly.
    const SCALED_DIGITS: u128 = 10u128.pow(20);

    /// About `log2(zoom)`, rounded down and within one of it, in integers: the mantissa's
    /// bit length less one, plus the exponent times `log2(10)` to nine digits.
    pub fn log2_floor(&self) -> i32 {
        let mantissa = 127 - self.digits.leading_zeros() as i64;
        let tens = (i64::from(self.exponent) * 3_321_928_095).div_euclid(1_000_000_000);
        (mantissa + tens) as i32
    }

    /// The zoom times `2^doublings` (halved when negative), to 20 significant digits
    /// rounded half up; `None` outside [`Zoom::parse`]'s range.
    pub fn times_two_to(&self, doublings: i32) -> Option<Zoom> {
        if doublings.unsigned_abs() > 4 * Zoom::MAX_EXPONENT as u32 {
            return None;
        }
        let (mut digits, mut exponent) = (self.digits, self.exponent);
        for _ in 0..doublings.unsigned_abs() {
            match doublings > 0 {
                true => digits *= 2,
                false => (digits, exponent) = (digits * 5, exponent - 1),
            }
            while digits >= Zoom::SCALED_DIGITS {
                (digits, exponent) = ((digits + 5) / 10, exponent + 1);
            }
        }
        while digits % 10 == 0 {
            (digits, exponent) = (digits / 10, exponent + 1);
        }
        let lead = exponent + digits.ilog10() as i32;
        (lead.abs() <= Zoom::MAX_EXPONENT).then_some(Zoom { digits, exponent })
    }
}

/// Exactly the zoom read, in scientific notation: `5.00E227` is `5E227`, `0.5` is `5E-1`.
impl fmt::Display for Zoom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut digits = heapless::String::<40>::new();
        let _ = fmt::Write::write_fmt(&mut digits, format_args!("{}", self.digits));
        let (first, rest) = digits.split_at(1);
        let lead = self.exponent + rest.len() as i32;
        if rest.is_empty() {
            write!(f, "{first}E{lead}")
        } else {
            write!(f, "{first}.{rest}E{lead}")
        }
    }
}

/// Room for the step's division: 2^4095 times 10^40, or 2^128 · 2^16 · 10^1340.
const BIG: usize = MAX_WIDE_LIMBS + 24;

/// `x = x · 10^power`; `None` if it overflows.
fn times_ten_to(x: &mut [Limb], power: u32) -> Option<()> {
    for _ in 0..power / 9 {
        (limbs::mul_small(x, 1_000_000_000, 0) == 0).then_some(())?;
    }
    (limbs::mul_small(x, 10u32.pow(power % 9), 0) == 0).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    fn width(bits: u32) -> Width {
        Width::from_bits(bits).unwrap()
    }

    #[test]
    fn decimals_read_and_write_back_exactly() {
        let w = width(128);
        for text in ["0.5", "-1.25", "3.0", "-3.0", "0.0", "7.5"] {
            assert_eq!(read(w, text).unwrap().to_string(), text);
        }
        let tiny = Fixed::from_limbs(&[1, 0, 0, 0]).unwrap();
        let written = tiny.to_string();
        assert_eq!(written.len(), 2 + 124, "2^-124 has 124 decimal places");
        assert_eq!(read(w, &written), Some(tiny));
        assert_eq!(
            read(w, &std::format!("-{written}")).unwrap().to_string(),
            std::format!("-{written}")
        );
    }

    #[test]
    fn ties_round_up_and_the_rest_decides_below_zero() {
        // Half an ulp of I4F124 is 2^-125: ties go up, so +half is one ulp and -half is zero.
        let w = width(128);
        let exact_half = halve(&Fixed::from_limbs(&[1, 0, 0, 0]).unwrap().to_string());
        assert_eq!(read(w, &exact_half), Fixed::from_limbs(&[1, 0, 0, 0]));
        assert_eq!(
            read(w, &std::format!("-{exact_half}")),
            Some(Fixed::zero(w))
        );
        assert_eq!(
            read(w, &std::format!("-{exact_half}1")),
            Fixed::from_limbs(&[Limb::MAX; 4]),
            "just past a tie below zero rounds away"
        );
    }

    /// A decimal string of a number with a finite expansion, halved exactly.
    fn halve(text: &str) -> std::string::String {
        let digits: std::vec::Vec<u8> = text
            .bytes()
            .filter(|b| *b != b'.')
            .map(|b| b - b'0')
            .collect();
        let mut out = std::vec::Vec::new();
        let mut carry = 0;
        for d in digits.iter().chain([0].iter()) {
            let value = carry * 10 + d;
            out.push(value / 2);
            carry = value % 2;
        }
        let mut s: std::string::String = out.iter().map(|d| (b'0' + d) as char).collect();
        s.insert(1, '.');
        s
    }

    #[test]
    fn bad_decimals_are_refused() {
        let w = width(96);
        for text in [
            "",
            "-",
            ".",
            "1.2.3",
            "8",
            "-8.0",
            "7.9999999999999999999999999999999999",
            "1e5",
            "0x1",
            "1,5",
        ] {
            assert_eq!(read(w, text), None, "{text:?}");
        }
        let long = std::format!("0.{}", "1".repeat(MAX_DIGITS));
        assert_eq!(read(w, &long), None);
        let longest = std::format!("0.{}", "1".repeat(MAX_DIGITS - 1));
        assert!(read(w, &longest).is_some());
    }

    #[test]
    fn zooms_are_read_as_kalles_fraktaler_writes_them() {
        let read = |text: &str| Zoom::parse(text).map(|z| (z.digits, z.exponent));
        assert_eq!(read("1E50"), Some((1, 50)));
        assert_eq!(
            read("5.00E227"),
            Some((5, 227)),
            "trailing zeros are not significant"
        );
        assert_eq!(read("2.5"), Some((25, -1)));
        assert_eq!(read("1e-1"), Some((1, -1)));
        assert_eq!(read("1000"), Some((1, 3)));
        let one = std::format!("1.{}", "0".repeat(60));
        assert_eq!(read(&one), Some((1, 0)), "sixty zeros are still one");
        assert_eq!(read("9.99E1300"), Some((999, 1298)));
        assert_eq!(read("1E-1300"), Some((1, -1300)));
        for bad in [
            "0", "0E50", "-1E5", "E5", "1E", "1E1301", "10E1300", "1E-1301", "abc", "", "1.5.5E3",
            "1 E3", "1E 3",
        ] {
            assert_eq!(Zoom::parse(bad), None, "{bad:?}");
        }
        let digits = std::format!("1{}1", "0".repeat(37));
        assert_eq!(read(&digits), None, "39 significant digits");
    }

    #[test]
    fn a_zoom_is_written_as_it_is_read() {
        for (text, written) in [("5.00E227", "5E227"), ("0.5", "5E-1"), ("12.5E3", "1.25E4")] {
            assert_eq!(Zoom::parse(text).unwrap().to_string(), written);
        }
    }

    #[test]
    fn a_zoom_of_one_is_a_view_four_high() {
        // 4 / (1 · 400) = 0.01 exactly rounded; 4 / 1 = 4 for one pixel.
        let w = width(128);
        let one = Zoom::parse("1").unwrap();
        assert_eq!(one.step(w, 1), Some(Fixed::from_int(w, 4)));
        assert_eq!(one.step(w, 400), read(w, "0.01"));
        let deep = Zoom::parse("1E30").unwrap();
        assert_eq!(deep.step(w, 4), read(w, "0.000000000000000000000000000001"));
        let too_deep = Zoom::parse("1E1000").unwrap();
        assert_eq!(too_deep.step(w, 4), Some(Fixed::zero(w)));
        assert_eq!(
            Zoom::parse("1E-3").unwrap().step(w, 1),
            None,
            "4000 does not fit"
        );
    }
}
