//! An independent exact implementation of the kernel's rule, written plainly in `i128` for
//! both formats: `bless` refuses to write a fixture the kernel and this disagree on.

/// Escape time with `frac` fraction bits: before each step, escape if re² + im² > 4; products
/// rounded to nearest, ties up (floor division of x + half).
pub fn escape(frac: u32, c_re: i128, c_im: i128, limit: u32) -> u32 {
    let one = 1i128 << frac;
    let round = |x: i128| (x + one / 2).div_euclid(one);
    let four = 4 * one * one;
    let (mut re, mut im) = (0i128, 0i128);
    for steps in 0..limit {
        if re * re + im * im > four {
            return steps;
        }
        (re, im) = (round(re * re - im * im) + c_re, round(2 * re * im) + c_im);
    }
    limit
}
