//! The f64 references, in test code only: the same escape rule in floating point, and the
//! original program's rule, to measure how often fixed point agrees with them.

/// The kernel's rule in f64: before each step, escape if re² + im² > 4.
pub fn escape(c_re: f64, c_im: f64, limit: u32) -> u32 {
    let (mut re, mut im) = (0.0f64, 0.0f64);
    for steps in 0..limit {
        let (re2, im2) = (re * re, im * im);
        if re2 + im2 > 4.0 {
            return steps;
        }
        im = 2.0 * re * im + c_im;
        re = re2 - im2 + c_re;
    }
    limit
}

/// The original's rule: `iterations - 1` steps with no early exit, then inside unless
/// |z| > 10 or the value is no longer finite.
pub fn original_inside(c_re: f64, c_im: f64, iterations: u32) -> bool {
    let (mut re, mut im) = (0.0f64, 0.0f64);
    for _ in 1..iterations {
        (re, im) = (re * re - im * im + c_re, 2.0 * re * im + c_im);
    }
    let magnitude = (re * re + im * im).sqrt();
    magnitude.is_finite() && magnitude <= 10.0
}

/// A raw fixed-point value as f64 (exact for I4F28, rounded to 53 bits for I4F60).
pub fn to_f64(raw: i64, frac_bits: u32) -> f64 {
    raw as f64 / (1u64 << frac_bits) as f64
}
