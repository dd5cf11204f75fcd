//! Palettes: an escape count (and the job's limit, or its smooth fraction) to an RGB colour,
//! in integers, so a job's image has the same bytes on every machine.
use heapless::Vec;

use crate::smooth::{smooth_count, Smooth, SMOOTH_ONE};

/// How counts become colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Palette {
    /// The original's colours: escaped black, inside white.
    Classic,
    /// Deep blue through white and gold to dark, by the square root of count / limit so the
    /// few-step bands far out spread wide; inside black.
    Azure,
}

/// Control points of [`Palette::Azure`]: position in `0..=1024`, colour.
const AZURE: [(u32, [u8; 3]); 6] = [
    (0, [0, 7, 100]),
    (164, [32, 107, 203]),
    (430, [237, 255, 255]),
    (658, [255, 170, 0]),
    (880, [0, 2, 0]),
    (1024, [0, 7, 100]),
];

impl Palette {
    /// Every palette, in the order the command line lists them.
    pub const ALL: [Palette; 2] = [Palette::Classic, Palette::Azure];

    /// The palette's name on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Palette::Classic => "classic",
            Palette::Azure => "azure",
        }
    }

    /// The palette with this name.
    pub fn from_name(name: &str) -> Option<Palette> {
        Palette::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The colour of a pixel whose count is `count` of at most `limit` steps.
    pub fn rgb(self, count: u32, limit: u32) -> [u8; 3] {
        let inside = count >= limit;
        match self {
            Palette::Classic if inside => [255, 255, 255],
            Palette::Classic => [0, 0, 0],
            Palette::Azure if inside => [0, 0, 0],
            Palette::Azure => {
                // count < limit, so count << 20 / limit < 2^20 and its root < 1024.
                let position = ((u64::from(count) << 20) / u64::from(limit)).isqrt() as u32;
                gradient(&AZURE, position)
            }
        }
    }
}

fn gradient(stops: &[(u32, [u8; 3])], position: u32) -> [u8; 3] {
    let mut colour = stops[0].1;
    for pair in stops.windows(2) {
        let ((from, a), (to, b)) = (pair[0], pair[1]);
        if (from..=to).contains(&position) {
            let (t, span) = ((position - from) as i32, (to - from) as i32);
            colour = core::array::from_fn(|i| {
                let (a, b) = (i32::from(a[i]), i32::from(b[i]));
                (a + (b - a) * t / span) as u8
            });
            break;
        }
    }
    colour
}

/// The most colours a [`Gradient`] holds: a palette file of more is refused.
pub const MAX_COLOURS: usize = 1024;

/// A gradient around a cycle: colours at positions in `0..2^16`, blended linearly between
/// neighbours, and from the last back to the first, so a palette that repeats has no seam.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gradient {
    /// Positions rising, the first at 0.
    stops: Vec<(u16, [u8; 3]), MAX_COLOURS>,
}

/// Why colours make no gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradientError {
    /// None were given.
    Empty,
    /// More than [`MAX_COLOURS`].
    TooMany,
}

impl Gradient {
    /// The default, `ultra`: [`Palette::Azure`]'s colours (the look Ultra Fractal made
    /// familiar) at their places, around a cycle.
    pub fn ultra() -> Gradient {
        let stops = AZURE[..AZURE.len() - 1]
            .iter()
            .map(|&(at, colour)| ((at << 6) as u16, colour))
            .collect();
        Gradient { stops }
    }

    /// `colours` evenly spaced around the cycle, in order: what a palette file gives.
    pub fn even(colours: &[[u8; 3]]) -> Result<Gradient, GradientError> {
        if colours.is_empty() {
            return Err(GradientError::Empty);
        }
        if colours.len() > MAX_COLOURS {
            return Err(GradientError::TooMany);
        }
        let n = colours.len() as u32;
        let stops = colours
            .iter()
            .enumerate()
            .map(|(i, &colour)| (((i as u32) << 16) / n, colour))
            .map(|(at, colour)| (at as u16, colour))
            .collect();
        Ok(Gradient { stops })
    }

    /// The colour at `position` (of 2^16 a cycle).
    pub fn at(&self, position: u16) -> [u8; 3] {
        // The stop at or before `position`; the first is at 0, so there is one.
        let i = self.stops.partition_point(|&(at, _)| at <= position) - 1;
        let (from, a) = self.stops[i];
        let (to, b) = match self.stops.get(i + 1) {
            Some(&(to, b)) => (u32::from(to), b),
            None => (1 << 16, self.stops[0].1),
        };
        let (t, span) = (i32::from(position - from), (to - u32::from(from)) as i32);
        core::array::from_fn(|k| {
            let (a, b) = (i32::from(a[k]), i32::from(b[k]));
            (a + (b - a) * t / span) as u8
        })
    }
}

/// Where a pixel that escaped falls in a palette that cycles every `span` iterations (at
/// least 1), of 2^16 a cycle: its smooth count `μ = count - 1 + smooth / 2^10`
/// ([`crate::smooth`]), or its count where it has no fraction, moved on by `offset`
/// iterations. Smooth counts a cycle apart get the same colour, so deep views with large
/// counts keep their contrast.
pub fn cycle_position(count: u32, smooth: Option<Smooth>, span: u32, offset: u32) -> u16 {
    let moved = smooth_count(count, smooth) + u64::from(offset) * u64::from(SMOOTH_ONE);
    // Of 2^16 a cycle: μ·2^16 / span, in units of 2^-10 of μ. Below 2^(32 + 10 + 6 + 2).
    ((moved << 6) / u64::from(span.max(1))) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gradient_blends_between_its_stops_and_back_to_the_first() {
        let g = Gradient::even(&[[0, 0, 0], [200, 100, 0]]).unwrap();
        assert_eq!(g.at(0), [0, 0, 0]);
        assert_eq!(g.at(1 << 14), [100, 50, 0]);
        assert_eq!(g.at(1 << 15), [200, 100, 0]);
        // Half way back to the first.
        assert_eq!(g.at(3 << 14), [100, 50, 0]);
        assert_eq!(g.at(u16::MAX), [1, 1, 0], "a step short of the first");
    }

    #[test]
    fn ultra_is_azures_colours_at_their_places() {
        let g = Gradient::ultra();
        assert_eq!(g.at(0), [0, 7, 100]);
        assert_eq!(g.at(430 << 6), [237, 255, 255]);
        assert_eq!(g.at(880 << 6), [0, 2, 0]);
    }

    #[test]
    fn a_palette_of_no_colours_or_too_many_is_refused() {
        assert_eq!(Gradient::even(&[]), Err(GradientError::Empty));
        let many = [[1, 2, 3]; MAX_COLOURS + 1];
        assert_eq!(Gradient::even(&many), Err(GradientError::TooMany));
        assert!(Gradient::even(&many[..MAX_COLOURS]).is_ok());
    }

    #[test]
    fn the_position_cycles_every_span_and_moves_with_the_fraction() {
        let one = SMOOTH_ONE as u16;
        // μ = 10 - 1 + 1 = 10 over a span of 40: a quarter of the cycle.
        assert_eq!(cycle_position(10, Some(one), 40, 0), 1 << 14);
        assert_eq!(cycle_position(10, None, 40, 0), 1 << 14);
        // A cycle later, the same place; the offset moves it.
        assert_eq!(cycle_position(50, Some(one), 40, 0), 1 << 14);
        assert_eq!(cycle_position(10, Some(one), 40, 10), 1 << 15);
        // Half an iteration more is an eightieth of the cycle more.
        assert_eq!(
            cycle_position(10, Some(one + one / 2), 40, 0),
            (1 << 14) + 819
        );
        assert_eq!(
            cycle_position(10, Some(one), 0, 0),
            cycle_position(10, Some(one), 1, 0)
        );
    }
}
