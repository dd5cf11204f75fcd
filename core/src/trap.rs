//! Trapped orbits: an exact certificate that a point never escapes, found long before its
//! rounded orbit lands on an exact repeat (the argument is in `limits.rs`).
//!
//! At a step whose z is `w` and whose next z, rounded as the kernel rounds it, is `w'`, the
//! disk `D(w, r)` with `r = (1 - 2|w|) / 2` is mapped into itself by the rounded step when
//! `(1 - 2|w|)² >= 4·(|w' - w| + 2e)`, `e` the step's rounding error (half a unit in each
//! part, so `2e <= √2` units). Every bound here is taken in integers the way that can only
//! make the test harder: `|w|` rounded up, `|w' - w|` as `|re| + |im|`, `2e` as 2 units.
//!
//! Near the cardioid's edge the multiplier `λ = 2z*` has `|λ|` close to 1 and the orbit
//! creeps to `z*` in about `1 / (1 - |λ|)` steps per e-fold: it reaches the disk's size
//! `(1 - |λ|)²/4` in far fewer steps than it takes to land on an exact repeat of the rounded
//! orbit (about `ln(1/ulp) / (1 - |λ|)` and a window more).

/// Whether `|z| < 1/2` (raw parts, `frac` fraction bits), which [`trapped`] needs: what a
/// caller can ask before it computes the next value.
#[inline(always)]
pub fn may_be_trapped(z: (i64, i64), frac: u32) -> bool {
    let square = |x: i64| u128::from(x.unsigned_abs()).pow(2);
    square(z.0) + square(z.1) < 1u128 << (2 * frac - 2)
}

/// Whether the orbit at raw parts `z` (`frac` fraction bits), whose next value is `next`, is
/// trapped for good in a disk inside `|z| < 1`: the plain loop would return the limit.
/// Parts are at most 7 (`limits.rs`), so every square below fits `u128`. Inlined: a call in
/// the function that runs the lanes had LLVM keep their parts in memory (`kernel.rs`).
#[inline(always)]
pub fn trapped(z: (i64, i64), next: (i64, i64), frac: u32) -> bool {
    let square = |x: i64| u128::from(x.unsigned_abs()).pow(2);
    let one = 1u128 << frac;
    // |w' - w| + 2e <= a units.
    let step = |now: i64, then: i64| (i128::from(then) - i128::from(now)).unsigned_abs();
    let a = step(z.0, next.0) + step(z.1, next.1) + 2;
    // First what needs no root, and refuses nearly every orbit not yet settled: the test
    // below needs 4·a·unit <= 1 and |w| < 1/2.
    if a > one >> 2 || !may_be_trapped(z, frac) {
        return false;
    }
    let w_squared = square(z.0) + square(z.1);
    // |w| <= w_up units: the root of the exact |w|², rounded up.
    let w_up = w_squared.isqrt() + 1;
    let Some(room) = one.checked_sub(2 * w_up) else {
        return false; // |λ| = 2|w| >= 1: nothing attracts here
    };
    // (1 - 2|w|)² >= 4·a·unit, both sides in units squared. room < 2^61 and a < 2^65, so
    // neither side overflows.
    room * room >= 4 * a * one
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: u32 = 28;

    /// `n / d` in raw units.
    fn raw(n: i64, d: i64) -> i64 {
        (n << F) / d
    }

    #[test]
    fn a_point_at_a_strongly_attracting_fixed_point_is_trapped() {
        // c = 0: z* = 0, λ = 0. Any small w whose next value is close is trapped.
        assert!(trapped((0, 0), (0, 0), F));
        assert!(trapped((raw(1, 100), raw(-1, 100)), (raw(1, 10_000), 0), F));
    }

    #[test]
    fn a_point_where_the_multiplier_reaches_one_is_not() {
        // |2w| >= 1: the disk would have no room.
        assert!(!trapped((raw(1, 2), 0), (raw(1, 2), 0), F));
        assert!(!trapped((0, raw(3, 5)), (0, raw(3, 5)), F));
    }

    #[test]
    fn a_step_larger_than_the_disk_allows_is_not() {
        // w = 0.25: room 0.5, so the step plus rounding may be at most 0.0625.
        let w = raw(1, 4);
        assert!(trapped((w, 0), (w + raw(6, 100), 0), F));
        assert!(!trapped((w, 0), (w + raw(7, 100), 0), F));
    }

    #[test]
    fn the_rounding_error_alone_can_refuse_the_edge() {
        // |λ| a hair below 1: room of a few units, which 4·2 units of rounding outweigh.
        let w = (1i64 << (F - 1)) - 3;
        assert!(!trapped((w, 0), (w, 0), F));
    }
}
