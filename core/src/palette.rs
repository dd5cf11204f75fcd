//! Palettes: an escape count (and the job's limit) to an RGB colour, in integers.

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
