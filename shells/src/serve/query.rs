//! A request's query, read and checked: each parameter once, each known, each within its
//! bounds, or a one-line reason for a 400.
use fixedbrot_core::limits::MAX_SIDE;
use fixedbrot_core::{Format, Kernel, Zoom};
use fixedbrot_pipeline::explorer::Ask;
use num_bigint::BigInt;

use crate::output::{Colouring, PaletteChoice};

/// The longest value taken: a centre of 4,100 digits a part, with room to spare.
const MAX_VALUE: usize = 8_400;

/// The most parameters a request carries.
const MAX_PARAMETERS: usize = 16;

/// The palettes the page offers: those that colour a tile alone (a histogram needs the whole
/// image, and a palette file is the server's, not the page's).
pub const PALETTES: [&str; 3] = ["ultra", "azure", "classic"];

/// A query's parameters, taken one by one; [`Query::finish`] refuses any left.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn new(pairs: Vec<(String, String)>) -> Result<Query, String> {
        if pairs.len() > MAX_PARAMETERS {
            return Err(format!("at most {MAX_PARAMETERS} parameters"));
        }
        for (i, (name, value)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(other, _)| other == name) {
                return Err(format!("parameter {} given twice", shown(name)));
            }
            if value.len() > MAX_VALUE {
                return Err(format!("parameter {} is too long", shown(name)));
            }
        }
        Ok(Query(pairs))
    }

    fn take(&mut self, name: &str) -> Option<String> {
        let at = self.0.iter().position(|(n, _)| n == name)?;
        Some(self.0.swap_remove(at).1)
    }

    fn required(&mut self, name: &str) -> Result<String, String> {
        self.take(name)
            .ok_or_else(|| format!("parameter {name} is missing"))
    }

    /// Refuses parameters nobody took.
    pub fn finish(self) -> Result<(), String> {
        match self.0.first() {
            Some((name, _)) => Err(format!("unknown parameter {}", shown(name))),
            None => Ok(()),
        }
    }

    /// A whole number in `range`, or `default` when absent.
    pub fn number<T>(
        &mut self,
        name: &str,
        range: std::ops::RangeInclusive<T>,
        default: T,
    ) -> Result<T, String>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(text) = self.take(name) else {
            return Ok(default);
        };
        whole(&text)
            .then(|| text.parse::<T>().ok())
            .flatten()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                format!(
                    "{name} must be a whole number from {} to {}, not {}",
                    range.start(),
                    range.end(),
                    shown(&text)
                )
            })
    }

    /// A whole number of any size (a tile's column or row), at most `MAX_VALUE` digits.
    pub fn big(&mut self, name: &str) -> Result<BigInt, String> {
        let text = self.required(name)?;
        whole(&text)
            .then(|| text.parse::<BigInt>().ok())
            .flatten()
            .ok_or_else(|| format!("{name} must be a whole number, not {}", shown(&text)))
    }

    /// What a place is: `c`, `z`, `h`, `n`, `f` and `k`.
    pub fn ask(&mut self, height: &str) -> Result<Ask, String> {
        let centre = self.required("c")?;
        let zoom_text = self.required("z")?;
        // No sign or space is part of a link's numbers (the reader takes a `+`, and a query
        // a `+` for a space): one place, one link.
        let signed = |text: &str| text.contains(|c: char| c == '+' || c.is_whitespace());
        if signed(&centre) || signed(&zoom_text) {
            return Err("c and z are written without spaces or a + sign".into());
        }
        let zoom = Zoom::parse(&zoom_text).ok_or_else(|| {
            format!(
                "z must be a positive zoom such as 1.5 or 1E10, not {}",
                shown(&zoom_text)
            )
        })?;
        let height = self.number(height, 1..=MAX_SIDE, 0)?;
        if height == 0 {
            return Err("parameter h is missing".into());
        }
        Ok(Ask {
            centre,
            zoom,
            height,
            iterations: self.iterations()?,
            format: self.format()?,
            kernel: self.kernel()?,
        })
    }

    /// `n`: `auto` (or absent), or a limit of at least 1.
    fn iterations(&mut self) -> Result<Option<u32>, String> {
        match self.take("n").as_deref() {
            None | Some("auto") => Ok(None),
            Some(text) => whole(text)
                .then(|| text.parse::<u32>().ok())
                .flatten()
                .filter(|&n| n >= 1)
                .map(Some)
                .ok_or_else(|| {
                    format!("n must be auto or an iteration limit, not {}", shown(text))
                }),
        }
    }

    /// `f`: `auto` (or absent), or a format's bits.
    fn format(&mut self) -> Result<Option<Format>, String> {
        match self.take("f").as_deref() {
            None | Some("auto") => Ok(None),
            Some(text) => whole(text)
                .then(|| text.parse().ok())
                .flatten()
                .and_then(Format::from_bits)
                .map(Some)
                .ok_or_else(|| {
                    format!(
                        "f must be auto, 32, 64 or a multiple of 32 up to 4096, not {}",
                        shown(text)
                    )
                }),
        }
    }

    /// `k`: `auto` (or absent), or a kernel's name.
    fn kernel(&mut self) -> Result<Option<Kernel>, String> {
        match self.take("k").as_deref() {
            None | Some("auto") => Ok(None),
            Some(text) => Kernel::from_name(text).map(Some).ok_or_else(|| {
                format!(
                    "k must be auto, direct, perturbation-v1 or perturbation-v2, not {}",
                    shown(text)
                )
            }),
        }
    }

    /// `p`: one of [`PALETTES`], ultra when absent.
    pub fn colouring(&mut self) -> Result<(String, Colouring), String> {
        let name = self.take("p").unwrap_or_else(|| "ultra".into());
        if !PALETTES.contains(&name.as_str()) {
            return Err(format!(
                "p must be ultra, azure or classic, not {}",
                shown(&name)
            ));
        }
        // A name, never a path: the files of the server are not the page's to name.
        let colouring =
            PaletteChoice::parse(&name).and_then(|choice| choice.colouring(64, 0, false))?;
        Ok((name, colouring))
    }
}

/// Text from a request, quoted and cut short for a message.
/// Whether `text` is a whole number as a link writes it: digits, no leading zero, after a
/// minus sign unless it is 0. Rust's parsers also take `+1`, `01` and `-0` (and num-bigint
/// `1_0`), which would give one place several links.
fn whole(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let plain = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    plain && (!digits.starts_with('0') || text == "0")
}

fn shown(text: &str) -> String {
    format!("{:?}", crate::cli::shortened(text))
}
