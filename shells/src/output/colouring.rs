//! How an image's pixels become colours: the core's palettes by count, or a gradient that
//! cycles with the smooth count (`--palette-span`, `--palette-offset`), or one spread by the
//! image's own histogram (`--histogram`); gradients named or read from a file of colours.
//! Every rule is integer arithmetic or a table built by one, so a job's PNG has the same
//! bytes on every machine.
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use fixedbrot_core::smooth::{smooth_count, Smooth, SMOOTH_ONE};
use fixedbrot_core::{cycle_position, Gradient, GradientError, Palette, MAX_COLOURS};
use fixedbrot_pipeline::Image;

use super::written::open_regular;

/// How an image is coloured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Colouring {
    /// One of the core's palettes, by count and limit; fractions unused.
    Fixed(Palette),
    /// A gradient going round once every `span` iterations of the smooth count, moved on by
    /// `offset`: the same look at any depth.
    Cycle {
        gradient: Box<Gradient>,
        span: u32,
        offset: u32,
    },
    /// A gradient once round, each pixel placed by the share of the image's escaped pixels
    /// with a smaller smooth count.
    Histogram(Box<Gradient>),
}

impl Colouring {
    /// Whether it colours by the smooth fraction, so the job should ask for it.
    pub fn uses_fractions(&self) -> bool {
        !matches!(self, Colouring::Fixed(_))
    }

    /// Its name in a log line.
    pub fn describe(&self) -> String {
        match self {
            Colouring::Fixed(palette) => palette.name().to_owned(),
            Colouring::Cycle { span, offset, .. } => {
                format!("cycling every {span} iterations from {offset}")
            }
            Colouring::Histogram(_) => "spread by the histogram".to_owned(),
        }
    }
}

/// `--palette`: a palette's name, or a file of colours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaletteChoice {
    /// `classic` or `azure`, by count.
    Fixed(Palette),
    /// `ultra`, or a file's colours: a gradient (3 KiB at most, boxed).
    Gradient(Box<Gradient>),
}

/// The names `--palette` takes besides a file.
pub const PALETTE_NAMES: &str = "ultra, azure or classic";

/// The largest palette file read: far more than [`MAX_COLOURS`] lines of colours take.
const MAX_FILE_BYTES: u64 = 1 << 20;

impl PaletteChoice {
    /// A name, or else a file of colours; the reason it is neither.
    pub fn parse(text: &str) -> Result<PaletteChoice, String> {
        if text == "ultra" {
            return Ok(PaletteChoice::Gradient(Box::new(Gradient::ultra())));
        }
        if let Some(palette) = Palette::from_name(text) {
            return Ok(PaletteChoice::Fixed(palette));
        }
        let path = Path::new(text);
        if !path.exists() {
            return Err(format!(
                "{text}: neither a palette ({PALETTE_NAMES}) nor a file"
            ));
        }
        read_palette(path).map(|gradient| PaletteChoice::Gradient(Box::new(gradient)))
    }

    /// The colouring of this choice with the cycle's flags.
    pub fn colouring(&self, span: u32, offset: u32, histogram: bool) -> Result<Colouring, String> {
        match (self, histogram) {
            (PaletteChoice::Fixed(palette), false) => Ok(Colouring::Fixed(*palette)),
            (PaletteChoice::Fixed(palette), true) => Err(format!(
                "--histogram spreads a gradient (ultra or a file), not {}",
                palette.name()
            )),
            (PaletteChoice::Gradient(gradient), false) => Ok(Colouring::Cycle {
                gradient: gradient.clone(),
                span,
                offset,
            }),
            (PaletteChoice::Gradient(gradient), true) => Ok(Colouring::Histogram(gradient.clone())),
        }
    }
}

/// A palette file: one colour a line, `#rrggbb` or `r g b` (0 to 255 each); blank lines and
/// lines from `;` on are skipped. At most [`MAX_COLOURS`] colours, evenly spaced round a
/// cycle in the order given.
fn read_palette(path: &Path) -> Result<Gradient, String> {
    let name = path.display();
    let mut text = String::new();
    // A regular file only: a FIFO would block the open (a probe hung on one).
    open_regular(path)
        .and_then(|file| file.take(MAX_FILE_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| format!("{name}: {e}"))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "{name}: a palette file is at most {MAX_FILE_BYTES} bytes"
        ));
    }
    let mut colours = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split(';').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let colour = parse_colour(line).ok_or_else(|| {
            let line = crate::cli::shortened(line);
            format!("{name}, line {}: {line:?} is not a colour", number + 1)
        })?;
        if colours.len() == MAX_COLOURS {
            return Err(format!("{name}: more than {MAX_COLOURS} colours"));
        }
        colours.push(colour);
    }
    Gradient::even(&colours).map_err(|e| match e {
        GradientError::Empty => format!("{name}: no colours (one a line, #rrggbb or r g b)"),
        GradientError::TooMany => format!("{name}: more than {MAX_COLOURS} colours"),
    })
}

/// `#rrggbb` or `r g b`: hex or decimal digits only (no sign, which Rust's parsers take).
fn parse_colour(text: &str) -> Option<[u8; 3]> {
    if let Some(hex) = text.strip_prefix('#') {
        if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        return Some([byte(0)?, byte(2)?, byte(4)?]);
    }
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [r, g, b] = parts.as_slice() else {
        return None;
    };
    let part = |text: &str| match text.chars().all(|c| c.is_ascii_digit()) {
        true => text.parse().ok(),
        false => None,
    };
    Some([part(r)?, part(g)?, part(b)?])
}

/// A colouring's colours of one image, looked up in tables built once, not computed per
/// pixel (the azure palette takes a 64-bit division and a square root).
pub(super) struct Colours {
    how: How,
    limit: u32,
}

/// What [`Colours`] looks up.
enum How {
    /// Colours of the first counts, the rest computed.
    Counts {
        table: Vec<[u8; 3]>,
        palette: Palette,
    },
    /// Colours of the 2^16 places round a cycle.
    Cycle {
        table: Round,
        span: u32,
        offset: u32,
    },
    /// Colours of 2^16 places once round, and where each smooth count falls.
    Histogram { table: Round, spread: Spread },
}

/// A gradient's colours at each of 2^16 places once round.
type Round = Arc<[[u8; 3]]>;

/// [`Round`] of `gradient`, built once a process for each of
/// the last few gradients: an explorer's tile has as many pixels as the table, and building
/// it for each was an eighth of the tile's time.
fn round(gradient: &Gradient) -> Round {
    static ROUNDS: Mutex<Vec<(Gradient, Round)>> = Mutex::new(Vec::new());
    let mut rounds = ROUNDS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, table)) = rounds.iter().find(|(g, _)| g == gradient) {
        return Arc::clone(table);
    }
    let table: Round = (0..=u16::MAX).map(|at| gradient.at(at)).collect();
    if rounds.len() == 8 {
        rounds.remove(0);
    }
    rounds.push((gradient.clone(), Arc::clone(&table)));
    table
}

/// Inside the set.
const INSIDE: [u8; 3] = [0, 0, 0];

impl Colours {
    /// Counts that get a table entry: a 192 KiB table at most.
    const TABLE: u32 = 1 << 16;

    pub(super) fn new(colouring: &Colouring, image: &Image) -> Colours {
        let limit = image.job.iterations;
        let how = match colouring {
            Colouring::Fixed(palette) => How::Counts {
                table: (0..=limit.min(Self::TABLE))
                    .map(|count| palette.rgb(count, limit))
                    .collect(),
                palette: *palette,
            },
            Colouring::Cycle {
                gradient,
                span,
                offset,
            } => How::Cycle {
                table: round(gradient),
                span: *span,
                offset: *offset,
            },
            Colouring::Histogram(gradient) => How::Histogram {
                table: round(gradient),
                spread: Spread::of(image),
            },
        };
        Colours { how, limit }
    }

    /// Paints a row: `counts` and their `fractions` (if the image has them) into `rgb`, three
    /// bytes a pixel; the colouring chosen once a row, not once a pixel.
    pub(super) fn paint(&self, counts: &[u32], fractions: Option<&[Smooth]>, rgb: &mut [u8]) {
        let pixels = rgb.chunks_exact_mut(3).zip(counts);
        match (&self.how, fractions) {
            (How::Counts { table, .. }, _) => {
                for (pixel, &count) in pixels {
                    let colour = match table.get(count as usize) {
                        Some(&colour) => colour,
                        None => self.rgb(count, None),
                    };
                    pixel.copy_from_slice(&colour);
                }
            }
            (_, Some(fractions)) => {
                for ((pixel, &count), &fraction) in pixels.zip(fractions) {
                    pixel.copy_from_slice(&self.rgb(count, Some(fraction)));
                }
            }
            (_, None) => {
                for (pixel, &count) in pixels {
                    pixel.copy_from_slice(&self.rgb(count, None));
                }
            }
        }
    }

    /// The colour of a pixel: its count, and its fraction if the image has them.
    #[inline]
    pub(super) fn rgb(&self, count: u32, fraction: Option<Smooth>) -> [u8; 3] {
        match &self.how {
            How::Counts { table, palette } => match table.get(count as usize) {
                Some(&rgb) => rgb,
                None => palette.rgb(count, self.limit),
            },
            _ if count >= self.limit => INSIDE,
            How::Cycle {
                table,
                span,
                offset,
            } => table[usize::from(cycle_position(count, fraction, *span, *offset))],
            How::Histogram { table, spread } => table[usize::from(spread.place(count, fraction))],
        }
    }
}

/// Where the image's escaped pixels' smooth counts fall: the share below each.
struct Spread {
    /// The distinct counts of escaped pixels, rising, and how many escaped pixels have a
    /// smaller count.
    counts: Vec<u32>,
    below: Vec<u64>,
    escaped: u64,
}

impl Spread {
    fn of(image: &Image) -> Spread {
        let limit = image.job.iterations;
        let mut escaped: Vec<u32> = image
            .counts
            .iter()
            .copied()
            .filter(|&c| c < limit)
            .collect();
        escaped.sort_unstable();
        let (mut counts, mut below) = (Vec::new(), Vec::new());
        for (i, &count) in escaped.iter().enumerate() {
            if counts.last() != Some(&count) {
                counts.push(count);
                below.push(i as u64);
            }
        }
        Spread {
            counts,
            below,
            escaped: escaped.len() as u64,
        }
    }

    /// How many escaped pixels have a count below `x`.
    fn share_below(&self, x: u64) -> u64 {
        let i = self.counts.partition_point(|&c| u64::from(c) < x);
        self.below.get(i).copied().unwrap_or(self.escaped)
    }

    /// The place, of 2^16, of a smooth count `μ = count - 1 + fraction / 2^10` (the count
    /// alone without one): the share of escaped pixels below it, taken between the whole
    /// counts on either side so that it changes as smoothly as `μ`.
    fn place(&self, count: u32, fraction: Option<Smooth>) -> u16 {
        let one = u64::from(SMOOTH_ONE);
        let mu = smooth_count(count, fraction);
        let (whole, part) = (mu / one, mu % one);
        let (low, high) = (self.share_below(whole), self.share_below(whole + 1));
        let share = u128::from(low) * u128::from(one - part) + u128::from(high) * u128::from(part);
        let total = u128::from(self.escaped.max(1)) * u128::from(one);
        ((share << 16) / total).min(u128::from(u16::MAX)) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixedbrot_tests::scratch::Scratch;

    fn file(test: &str, text: &str) -> (Scratch, std::path::PathBuf) {
        let dir = Scratch::new(&format!("fixedbrot-palette-{test}"));
        let path = dir.join("colours.txt");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn a_palette_file_is_a_list_of_colours_either_way_with_comments() {
        let (_dir, path) = file("good", "#000000\n\n255 128 0 ; orange\n; a note\n#FFffFF\n");
        let choice = PaletteChoice::parse(path.to_str().unwrap()).unwrap();
        let expected = Gradient::even(&[[0, 0, 0], [255, 128, 0], [255, 255, 255]]).unwrap();
        assert_eq!(choice, PaletteChoice::Gradient(Box::new(expected)));
    }

    #[test]
    fn a_bad_palette_file_is_refused_with_its_line() {
        let refused = |test: &str, text: &str| {
            let (_dir, path) = file(test, text);
            PaletteChoice::parse(path.to_str().unwrap()).unwrap_err()
        };
        assert!(refused("empty", "\n; nothing\n").contains("no colours"));
        assert!(refused("bad", "#000000\n#12345g\n").contains("line 2: \"#12345g\""));
        assert!(refused("range", "1 2 256\n").contains("line 1"));
        assert!(refused("sign", "+1 0 0\n").contains("line 1"));
        assert!(refused("hex-sign", "#+f+f+f\n").contains("line 1"));
        let long = refused("long", &format!("#{}\n", "0".repeat(1 << 19)));
        assert!(
            long.len() < 200,
            "the line is shortened: {} bytes",
            long.len()
        );
        assert!(refused("many", &"1 2 3\n".repeat(100_000)).contains("more than 1024"));
        let error = PaletteChoice::parse("no-such-palette").unwrap_err();
        assert!(error.contains("neither a palette (ultra, azure or classic) nor a file"));
    }

    #[test]
    fn the_histogram_spreads_the_image_evenly_and_smoothly() {
        let job = fixedbrot_tests::cases::job(
            fixedbrot_core::Format::I4F28,
            "-2,1",
            "1,-1",
            (4, 1),
            10,
            (4, 1),
        );
        let image = Image {
            job_id: fixedbrot_core::JobId(1),
            job,
            counts: vec![1, 2, 3, 10],
            smooth: Vec::new(),
        };
        let spread = Spread::of(&image);
        // Three escaped pixels: a third below 2, two thirds below 3.
        assert_eq!(spread.place(1, None), 0);
        assert_eq!(spread.place(2, None), 21_845);
        assert_eq!(spread.place(3, None), 43_690);
        // Half way from 2 to 3 by the fraction (μ = 2.5): half way between.
        let half = SMOOTH_ONE as u16 + SMOOTH_ONE as u16 / 2;
        assert_eq!(spread.place(2, Some(half)), 32_768);
    }
}
