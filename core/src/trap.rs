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
/// Parts are at most 7 (`limits.rs`), so every square below fits `u128`. Inlined: the lanes
/// ask it of every point still going between phases.
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

/// The most steps of a cycle [`trapped_cycle`] is asked about.
pub const MOST_PERIOD: usize = 4;

/// Whether the orbit at `points[0]` is trapped for good near a cycle of period
/// `points.len() - 1` (2 to [`MOST_PERIOD`]): `points` are its next values as the step
/// rounds them. The disk `D(w, r)` about `w = points[0]`, carried `p` steps (each step
/// widens a disk of radius `R` about `w_k` to one of `R·(2|w_k| + R) + 2e` about `w_{k+1}`),
/// lands within `D(w, r)` again when `|w_p - w| + R_p <= r`, with every disk on the way
/// inside `|z| < 2`: then the plain loop would return the limit. A few radii are tried, from
/// where the cycle's multiplier says one closes; every bound is rounded against the test.
#[inline(never)]
pub fn trapped_cycle(points: &[(i64, i64)], frac: u32) -> bool {
    let period = points.len().saturating_sub(1);
    if !(2..=MOST_PERIOD).contains(&period) {
        return false;
    }
    let one = 1u128 << frac;
    let (first, last) = (points[0], points[period]);
    let step = |now: i64, then: i64| (i128::from(then) - i128::from(now)).unsigned_abs();
    let distance = step(first.0, last.0) + step(first.1, last.1);
    // A radius above 1/4 cannot close (see below), and it must exceed the distance: asked
    // first, as it needs no root and refuses nearly every orbit not near a cycle.
    if distance > one >> 3 {
        return false;
    }
    let magnitude_up = |(re, im): (i64, i64)| {
        let square = |x: i64| u128::from(x.unsigned_abs()).pow(2);
        (square(re) + square(im)).isqrt() + 1
    };
    let mut w_up = [0u128; MOST_PERIOD + 1];
    for (up, &point) in w_up.iter_mut().zip(points) {
        *up = magnitude_up(point);
    }
    // The cycle's multiplier, |2w_0|·…·|2w_{p-1}| rounded up, in units: 1 or more attracts
    // nothing. Each factor is below 2^65 and the product kept below one, so no overflow.
    let mut multiplier = one;
    for &w in &w_up[..period] {
        multiplier = (multiplier * (2 * w)).div_ceil(one);
        if multiplier >= one {
            return false;
        }
    }
    // Small disks grow by about the multiplier a cycle, plus the roundings: the radius that
    // closes is near (distance + roundings) / (1 - multiplier); a few from there are tried.
    let roundings = 4 * period as u128;
    let mut radius = ((distance + roundings) * one).div_ceil(one - multiplier) + 1;
    // Inside |z| < 2: two units of 2^frac.
    let inside = |w: u128, radius: u128| w + radius < 2 * one;
    for _ in 0..8 {
        if radius > one >> 2 {
            return false;
        }
        let mut reach = radius;
        let mut fits = inside(w_up[0], radius);
        for k in 0..period {
            // R·(2|w_k| + R) in units, rounded up, and the step's rounding (2 units); below
            // 2^65 · 2^60 while R stays below one.
            reach = (reach * (2 * w_up[k] + reach)).div_ceil(one) + 2;
            fits &= reach <= one && inside(w_up[k + 1], reach);
            if !fits {
                break;
            }
        }
        if fits && distance + reach <= radius {
            return true;
        }
        radius *= 2;
    }
    false
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

    /// The orbit of `c` (raw) from `z`, `n` steps, rounded as the kernels round.
    fn orbit(c: (i64, i64), z: (i64, i64), n: usize) -> [(i64, i64); MOST_PERIOD + 1] {
        let one = 1i128 << F;
        let round = |x: i128| ((x + one / 2).div_euclid(one)) as i64;
        let mut out = [z; MOST_PERIOD + 1];
        for k in 1..=n {
            let (re, im) = (i128::from(out[k - 1].0), i128::from(out[k - 1].1));
            out[k] = (round(re * re - im * im) + c.0, round(2 * re * im) + c.1);
        }
        out
    }

    #[test]
    fn the_period_2_bulb_s_centre_is_trapped_near_its_cycle() {
        // c = -1: the cycle 0 -> -1 -> 0, |λ| = 0.
        let c = (raw(-1, 1), 0);
        assert!(trapped_cycle(&orbit(c, (0, 0), 2)[..3], F));
        assert!(trapped_cycle(&orbit(c, (raw(1, 1000), 0), 2)[..3], F));
    }

    #[test]
    fn a_point_still_far_from_its_cycle_is_not() {
        // c = -1 from z = 0.3: the orbit has not come back near where it was.
        let c = (raw(-1, 1), 0);
        assert!(!trapped_cycle(&orbit(c, (raw(3, 10), 0), 2)[..3], F));
        // Outside the set: c = 0.3 escapes, and no cycle holds it.
        assert!(!trapped_cycle(&orbit((raw(3, 10), 0), (0, 0), 2)[..3], F));
    }

    #[test]
    fn a_period_other_than_2_to_4_is_never_asked() {
        assert!(!trapped_cycle(&[(0, 0)], F));
        assert!(!trapped_cycle(&[(0, 0); MOST_PERIOD + 2], F));
    }
}
