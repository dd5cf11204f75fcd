//! The one rounding rule of the core: every format's step, every view read from text and
//! every perturbation delta rounds by it.

/// The one rounding rule: to nearest, ties toward +infinity, i.e. `floor(x / 2^shift + 1/2)`.
///
/// Arithmetic shift right is floor on every platform Rust supports, so this is exact and
/// portable. `shift` must be at least 1.
#[inline(always)]
pub(crate) const fn round_shift(x: i128, shift: u32) -> i128 {
    (x + (1 << (shift - 1))) >> shift
}
