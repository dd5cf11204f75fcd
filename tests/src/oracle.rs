//! An independent exact implementation of the kernel's rule, written plainly in `i128` for
//! the narrow formats and in `num-bigint` for the wide ones: `bless` refuses to write a
//! fixture the kernel and this disagree on.
use fixedbrot_core::smooth::{smooth, Smooth};
use num_bigint::{BigInt, Sign};
use num_integer::Integer;
use num_traits::{One, Zero};

/// Escape time with `frac` fraction bits: before each step, escape if re² + im² > 4; products
/// rounded to nearest, ties up (floor division of x + half).
pub fn escape(frac: u32, c_re: i128, c_im: i128, limit: u32) -> u32 {
    escape_with_z(frac, c_re, c_im, limit).0
}

/// [`escape`], and the escaped z (raw parts) if it escaped.
pub fn escape_with_z(frac: u32, c_re: i128, c_im: i128, limit: u32) -> (u32, Option<(i64, i64)>) {
    let one = 1i128 << frac;
    let round = |x: i128| (x + one / 2).div_euclid(one);
    let four = 4 * one * one;
    let (mut re, mut im) = (0i128, 0i128);
    for steps in 0..limit {
        if re * re + im * im > four {
            return (steps, Some((re as i64, im as i64)));
        }
        (re, im) = (round(re * re - im * im) + c_re, round(2 * re * im) + c_im);
    }
    (limit, None)
}

/// [`escape`] for any count of fraction bits, in `num-bigint`'s integers: the oracle of the wide
/// formats, sharing no code with the kernel's limbs.
pub fn escape_big(frac: u32, c_re: &BigInt, c_im: &BigInt, limit: u32) -> u32 {
    escape_big_with_z(frac, c_re, c_im, limit).0
}

/// [`escape_big`], and the escaped z if it escaped.
pub fn escape_big_with_z(
    frac: u32,
    c_re: &BigInt,
    c_im: &BigInt,
    limit: u32,
) -> (u32, Option<(BigInt, BigInt)>) {
    let one = BigInt::one() << frac;
    let half = &one >> 1u32;
    let four = (&one * &one) << 2u32;
    let round = |x: BigInt| (x + &half).div_floor(&one);
    let (mut re, mut im) = (BigInt::zero(), BigInt::zero());
    for steps in 0..limit {
        let (rr, ii) = (&re * &re, &im * &im);
        if &rr + &ii > four {
            return (steps, Some((re, im)));
        }
        let ri = &re * &im;
        (re, im) = (round(rr - ii) + c_re, round(ri * 2) + c_im);
    }
    (limit, None)
}

/// The count and smooth fraction the kernels give `c` with `frac` fraction bits: the fraction
/// ([`smooth`]) of the escaped z the oracle steps to, as the narrow kernels pass it (raw, to
/// 60 fraction bits) or the wide ones (each part's magnitude truncated to 40 bits, as c's).
pub fn escape_smooth_big(frac: u32, c_re: &BigInt, c_im: &BigInt, limit: u32) -> (u32, Smooth) {
    let (count, z) = escape_big_with_z(frac, c_re, c_im, limit);
    let Some((re, im)) = z else {
        return (count, 0);
    };
    let raw = |x: &BigInt| i64::try_from(x).expect("an escaped part fits");
    let top = |x: &BigInt| {
        let magnitude = i64::try_from(x.magnitude() >> (frac - 40)).expect("it fits");
        if x.sign() == Sign::Minus {
            -magnitude
        } else {
            magnitude
        }
    };
    let fraction = match frac <= 60 {
        true => smooth((raw(&re), raw(&im)), (raw(c_re), raw(c_im)), frac),
        false => smooth((top(&re), top(&im)), (top(c_re), top(c_im)), 40),
    };
    (count, fraction)
}

/// Decimal text `[-]W.DDDD` to raw bits with `frac` fraction bits, rounded to nearest with
/// ties up, from the rational value D / 10^k in `num-bigint`'s integers.
pub fn read_decimal_big(frac: u32, text: &str) -> BigInt {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let places = digits
        .split_once('.')
        .map_or(0, |(_, fraction)| fraction.len());
    let mut numerator: BigInt = digits.replace('.', "").parse().expect("digits");
    if negative {
        numerator = -numerator;
    }
    let denominator = BigInt::from(10u32).pow(places as u32);
    // floor(x · 2^frac + 1/2) = floor((2 · N · 2^frac + D) / 2D).
    ((numerator << (frac + 1)) + &denominator).div_floor(&(denominator * 2))
}

/// The pixel step `4 / (zoom · height)` with `frac` fraction bits, rounded to nearest with ties
/// up, for a zoom of `digits · 10^exponent`.
pub fn zoom_step_big(frac: u32, digits: u128, exponent: i32, height: u32) -> BigInt {
    let ten = BigInt::from(10u32).pow(exponent.unsigned_abs());
    let mut numerator = BigInt::one() << (frac + 2);
    let mut denominator = BigInt::from(digits) * height;
    if exponent < 0 {
        numerator *= ten;
    } else {
        denominator *= ten;
    }
    ((numerator << 1u32) + &denominator).div_floor(&(denominator * 2))
}
