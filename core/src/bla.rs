//! Bilinear approximation (BLA) of a reference orbit's steps, in integers: where a pixel's δ is
//! small enough that δ² is below the step's rounding, `l` steps from `m` are one linear map,
//! `δ_{m+l} = A·δ_m + B·δc`, and a pixel takes them at once.
//!
//! The table holds, for every level `k`, the maps of `2^k` steps from each `m = j·2^k`
//! whose steps stay inside the orbit, with the radius below which the map may stand for
//! them. Radii are [`Bound`]s, rounded down, and every magnitude they lose is rounded up:
//! - one step from `m`: `A = 2·Z_m`, `B = 1`, radius `ε·|A|`;
//! - two maps `x` then `y`: `A = A_y·A_x`, `B = A_y·B_x + B_y`, radius
//!   `min(r_x, (r_y - |B_x|·|δc|max) / |A_x|)` (`r_x` alone when `A_x = 0`), none when the
//!   difference is not above zero;
//! - and no radius for two maps whose junction `Z` is not safely inside the escape circle,
//!   `|Z|² <= 4 - 2^-36`: there a `δ` within the radius keeps `|Z + δ| < 2`, so a map never
//!   passes over a step where the plain loop could escape.
use crate::bound::{Bound, Size, Way};
use crate::delta::Delta;
use crate::orbit::OrbitPoint;

/// `ε` as a power of two: a map stands for its steps while `|δ| <= ε·|2·Z|` at each, so that
/// the dropped δ² is at most `ε` of the kept term. Measured against the exact orbit
/// (BENCHMARKS.md): with radii as bounds, at 2^-40 version 2 misses 37 of 4,000 pixels of a
/// seahorse view at 1e15 where version 1 misses 6; at 2^-48 it misses version 1's 6 (and at
/// 2^-60 it equals version 1 on every pixel).
pub(crate) const EPSILON_LOG2: i32 = -48;

const _: () = assert!(EPSILON_LOG2 <= -41, "safely_inside's margin assumes it");

/// `l` steps as one map, and the radius within which it may stand for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bla {
    pub(crate) a: Delta,
    pub(crate) b: Delta,
    pub(crate) radius: Bound,
}

impl Default for Bla {
    fn default() -> Bla {
        Bla {
            a: Delta::ZERO,
            b: Delta::ZERO,
            radius: Bound::ZERO,
        }
    }
}

/// Entries of levels `0..` for an orbit whose last value is `last`: level `k` holds
/// `last / 2^k` maps, until one holds none.
pub(crate) fn entries(last: usize) -> usize {
    (0..usize::BITS)
        .map(|k| last >> k)
        .take_while(|&n| n > 0)
        .sum()
}

/// Where level `k` starts in the table of an orbit whose last value is `last`.
fn level_start(last: usize, k: u32) -> usize {
    (0..k).map(|i| last >> i).sum()
}

/// Builds the table for `orbit` (values `Z_0..=Z_last`) into `room` (at least
/// [`entries`]`(last)` long), for a view whose every `|δc|` is at most `dc`.
pub(crate) fn build(orbit: &[OrbitPoint], dc: Bound, room: &mut [Bla]) {
    let last = orbit.len() - 1;
    for (m, entry) in room[..last].iter_mut().enumerate() {
        let a = orbit[m].z().doubled();
        *entry = Bla {
            a,
            b: Delta::ONE,
            radius: Bound::magnitude(&a, Way::Down).scaled(EPSILON_LOG2),
        };
    }
    let mut k = 1;
    while last >> k > 0 {
        let (below, this) = (level_start(last, k - 1), level_start(last, k));
        for j in 0..last >> k {
            let (x, y) = (room[below + 2 * j], room[below + 2 * j + 1]);
            let junction = &orbit[(2 * j + 1) << (k - 1)].z();
            room[this + j] = match safely_inside(junction) {
                true => merge(&x, &y, dc),
                false => Bla {
                    radius: Bound::ZERO,
                    ..merge(&x, &y, dc)
                },
            };
        }
        k += 1;
    }
}

/// Whether `|z|² <= 4 - 2^-36`: then `|z + δ| < 2` for any `|δ| <= ε·|2z|` (ε at most
/// 2^-41), since `|z| <= 2·(1 - 2^-39)` and `|z|·(1 + 2^-40) < 2`.
fn safely_inside(z: &Delta) -> bool {
    // |z| is at least 2^(exp + 61) and below 2^(exp + 62.5).
    if z.exp < -62 {
        return true; // below 2^0.5
    }
    if z.exp > -58 {
        return false; // 8 or more
    }
    // In the unit 2^(2·exp): the squares are below 2^125, 4 is 2^(2 - 2·exp), 2^118 to
    // 2^126, and 2^-36 is 2^(2 - 2·exp - 38).
    let (re, im) = (i128::from(z.re), i128::from(z.im));
    let four = 1i128 << (2 - 2 * z.exp);
    re * re + im * im <= four - (four >> 38)
}

/// `x` then `y` as one map.
fn merge(x: &Bla, y: &Bla, dc: Bound) -> Bla {
    let a = y.a.times(&x.a);
    let b = y.a.times(&x.b).plus(&y.b);
    let subtracted = Bound::magnitude(&x.b, Way::Up).times(dc, Way::Up);
    let left = y.radius.minus(subtracted, Way::Down);
    let a_x = Bound::magnitude(&x.a, Way::Up);
    let radius_y = match left {
        None => Bound::ZERO,
        Some(_) if a_x.is_zero() => x.radius,
        Some(left) => left.over(a_x, Way::Down),
    };
    Bla {
        a,
        b,
        radius: x.radius.min(radius_y),
    }
}

/// The longest map of `table` (for an orbit whose last value is `last`) that stands for the
/// steps from `m` for `delta`, and its length.
#[inline]
pub(crate) fn longest(table: &[Bla], last: usize, m: usize, delta: &Delta) -> Option<(Bla, usize)> {
    if table.is_empty() || m >= last {
        return None;
    }
    let size = Size::of(delta);
    // Every map from `m` has a radius at most its first step's (a merge keeps the smaller):
    // where that step's fails, all fail, and most single steps are found at one look.
    if !table[m].radius.holds(&size) {
        return None;
    }
    let top = if m == 0 {
        usize::BITS - 1 - last.leading_zeros()
    } else {
        m.trailing_zeros()
    };
    // Where level `k` starts, from the top level down: one sum, then one step a level (the
    // sum for each level was a hot path's quadratic).
    let mut start = level_start(last, top);
    for k in (0..=top).rev() {
        let j = m >> k;
        if j < last >> k {
            let entry = table[start + j];
            if entry.radius.holds(&size) {
                return Some((entry, 1 << k));
            }
        }
        if k > 0 {
            start -= last >> (k - 1);
        }
    }
    None
}
