//! The explorer's geometry, exact: where a place is, how it moves and zooms, and which job
//! computes each tile of it. The browser never does this arithmetic; it keeps decimal text
//! and whole numbers of pixels, and asks.
//!
//! A place is a centre and a zoom, as `render --center --zoom` reads them, seen in a window
//! `height` pixels high: its step is `4 / (zoom · height)`, rounded once to its format, and
//! its pixels lie on a **lattice**, `c = (rest_re + column · step, rest_im - row · step)`,
//! where `rest` is the centre modulo the step. A tile is a square of [`TILE_SIDE`] columns
//! and rows of that lattice, from a multiple of the side: so any centre on the same lattice
//! (a pan by whole pixels, a reload, another user) asks for the same tiles, each computed by
//! the same job, and a pixel's count never depends on which place asked for it.
use fixedbrot_core::limits::MAX_SIDE;
use fixedbrot_core::{Fixed, Format, Grid, Job, JobError, Kernel, View, Zoom};
use num_bigint::BigInt;
use num_integer::Integer;

use crate::Limits;

/// A tile's side in pixels: the page's image, and one job.
pub const TILE_SIDE: u32 = 256;

/// The coarsest tile: every 16th pixel.
pub const MAX_SCALE: u32 = 16;

/// The largest side of a job's own tiles (a worker's unit, 4,096 pixels at most): a page
/// tile is 16 of them, so a cancelled one stops within a sixteenth of its time.
const JOB_TILE_SIDE: u32 = 64;

/// What a page asks for: text and whole numbers, as they come.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ask {
    /// `RE,IM`, decimal text of any length.
    pub centre: String,
    /// The view is `4 / zoom` high.
    pub zoom: Zoom,
    /// The window's height in pixels, which sets the step.
    pub height: u32,
    /// The iteration limit, or `None` for [`auto_iterations`].
    pub iterations: Option<u32>,
    /// The format, or `None` for `--format auto`'s choice.
    pub format: Option<Format>,
    /// The kernel, or `None` for `--kernel auto`'s choice.
    pub kernel: Option<Kernel>,
}

/// A place, read exactly: its lattice and the centre's column and row on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The format of its numbers.
    pub format: Format,
    /// Its zoom, as asked.
    pub zoom: Zoom,
    /// The window height its step is of.
    pub height: u32,
    /// Its iteration limit.
    pub iterations: u32,
    /// Whether the limit follows the zoom ([`auto_iterations`]).
    pub auto_iterations: bool,
    /// Its kernel.
    pub kernel: Kernel,
    /// The kernel asked for, if one was: kept as the zoom changes the format.
    asked_kernel: Option<Kernel>,
    /// The step, raw bits.
    step: BigInt,
    /// The lattice's offset, raw bits: the centre modulo the step, each in `[0, step)`.
    rest: (BigInt, BigInt),
    /// The centre's column (rightwards) and row (downwards) on the lattice.
    pub centre: (BigInt, BigInt),
}

/// A tile's job, and where its pixels sit in the tile: tiles at the edge of the safe range
/// hold fewer than [`TILE_SIDE`] a side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TileJob {
    /// The job whose one image is the tile's pixels.
    pub job: Job,
    /// The column and row in the tile of the job's top-left pixel.
    pub at: (u32, u32),
}

/// The iteration limit that follows the zoom: 200, and 50 more each time the zoom doubles
/// (Mandelbrot.site's rule), counted in integers so that every machine agrees.
pub fn auto_iterations(zoom: &Zoom) -> u32 {
    let doublings = zoom.log2_floor().max(0) as u32;
    200u32.saturating_add(doublings.saturating_mul(50))
}

impl Place {
    /// Reads `ask`, or says in one line why not, as `render` would.
    pub fn new(ask: &Ask, limits: &Limits) -> Result<Place, String> {
        let iterations = ask
            .iterations
            .unwrap_or_else(|| auto_iterations(&ask.zoom).min(limits.max_iterations));
        if iterations > limits.max_iterations {
            return Err(format!(
                "{iterations} iterations are above the limit of {} (--max-iterations)",
                limits.max_iterations
            ));
        }
        if ask.height == 0 || ask.height > MAX_SIDE {
            return Err(format!("the height must be 1 to {MAX_SIDE} pixels"));
        }
        let format = match ask.format {
            Some(format) => format,
            None => Format::for_zoom(&ask.zoom, ask.height, iterations).map_err(|e| match e {
                JobError::TooDeep => "deeper than the widest format (4096 bits) resolves at \
                                      this iteration limit"
                    .to_owned(),
                e => format!("zoom {}: {e}", ask.zoom),
            })?,
        };
        let width = format.width();
        let step = ask
            .zoom
            .step(width, ask.height)
            .filter(|step| !step.is_zero())
            .ok_or_else(|| match format {
                Format::Wide(_) => format!("zoom {} is too far out", ask.zoom),
                _ => format!(
                    "zoom {} is deeper than {format} resolves: choose a wider format, or auto",
                    ask.zoom
                ),
            })?;
        let read = |text: &str| Fixed::from_decimal(width, text).map(|x| big(&x));
        let centre = ask
            .centre
            .split_once(',')
            .and_then(|(re, im)| Some((read(re)?, read(im)?)))
            .ok_or("the centre must be two decimals, RE,IM, each within 8 of 0")?;
        Ok(Place::on_lattice(
            format,
            ask,
            iterations,
            big(&step),
            centre,
        ))
    }

    fn on_lattice(
        format: Format,
        ask: &Ask,
        iterations: u32,
        step: BigInt,
        (re, im): (BigInt, BigInt),
    ) -> Place {
        let (column, rest_re) = re.div_mod_floor(&step);
        let (up, rest_im) = im.div_mod_floor(&step);
        Place {
            format,
            zoom: ask.zoom,
            height: ask.height,
            iterations,
            auto_iterations: ask.iterations.is_none(),
            kernel: ask.kernel.unwrap_or(Kernel::auto(format)),
            asked_kernel: ask.kernel,
            step,
            rest: (rest_re, rest_im),
            centre: (column, -up),
        }
    }

    /// The raw bits of the pixel at `column`, `row` of the lattice.
    fn point(&self, column: &BigInt, row: &BigInt) -> (BigInt, BigInt) {
        (
            &self.rest.0 + column * &self.step,
            &self.rest.1 - row * &self.step,
        )
    }

    /// The centre as decimal text, `RE,IM`: for each part the fewest digits that read back
    /// to its bits in this format.
    pub fn centre_text(&self) -> String {
        let (re, im) = self.point(&self.centre.0, &self.centre.1);
        format!(
            "{},{}",
            self.shortest(&re).unwrap_or_default(),
            self.shortest(&im).unwrap_or_default()
        )
    }

    /// The step as exact decimal text.
    pub fn step_text(&self) -> String {
        fixed(self.format, &self.step).map_or_else(String::new, |step| step.to_string())
    }

    /// The fewest fraction digits of `raw`'s exact decimal that read back to it. Rounding
    /// to more digits is never further off, so the first that reads back is found by
    /// halving.
    fn shortest(&self, raw: &BigInt) -> Option<String> {
        let width = self.format.width();
        let exact = fixed(self.format, raw)?.to_string();
        let (whole, fraction) = exact.split_once('.')?;
        let reads_back = |digits: usize| {
            let text = rounded(whole, fraction, digits);
            (Fixed::from_decimal(width, &text).map(|x| big(&x)).as_ref() == Some(raw))
                .then_some(text)
        };
        let (mut low, mut high) = (0, fraction.len());
        while low < high {
            let middle = (low + high) / 2;
            match reads_back(middle) {
                Some(_) => high = middle,
                None => low = middle + 1,
            }
        }
        reads_back(low).or(Some(exact))
    }

    /// The place moved by whole pixels, `dx` right and `dy` down, unless its centre would
    /// leave what a centre's text reads (within 8 of 0).
    pub fn moved(&self, dx: i64, dy: i64) -> Result<Place, String> {
        let moved = Place {
            centre: (&self.centre.0 + dx, &self.centre.1 + dy),
            ..self.clone()
        };
        let (re, im) = moved.point(&moved.centre.0, &moved.centre.1);
        let eight = BigInt::from(8) << self.format.frac_bits();
        match re.magnitude() < eight.magnitude() && im.magnitude() < eight.magnitude() {
            true => Ok(moved),
            false => Err("that move leaves the plane".into()),
        }
    }

    /// The place zoomed by `2^doublings`, keeping the point `at` pixels from the centre
    /// (right, down) where it is on the screen, to the new step; in the format `format` (or
    /// auto's, `None`) and with the iteration limit following the zoom if this one's does.
    pub fn zoomed(
        &self,
        doublings: i32,
        at: (i64, i64),
        format: Option<Format>,
        limits: &Limits,
    ) -> Result<Place, String> {
        let zoom = self
            .zoom
            .times_two_to(doublings)
            .ok_or_else(|| format!("zoom {} times 2^{doublings} is out of range", self.zoom))?;
        let (re, im) = self.point(&(&self.centre.0 + at.0), &(&self.centre.1 + at.1));
        // The new place's own centre is decided by the anchor, so ask at a placeholder first
        // for its format and step.
        let ask = Ask {
            centre: "0,0".into(),
            zoom,
            height: self.height,
            iterations: (!self.auto_iterations).then_some(self.iterations),
            format,
            kernel: None,
        };
        let mut place = Place::new(&ask, limits)?;
        let shift = i64::from(place.format.frac_bits()) - i64::from(self.format.frac_bits());
        let (re, im) = (rescale(&re, shift), rescale(&im, shift));
        let centre = (re - at.0 * &place.step, im + at.1 * &place.step);
        if fixed(place.format, &centre.0).is_none() || fixed(place.format, &centre.1).is_none() {
            return Err("that zoom leaves the plane".into());
        }
        let ask = Ask {
            kernel: self.asked_kernel,
            ..ask
        };
        place = Place::on_lattice(place.format, &ask, place.iterations, place.step, centre);
        Ok(place)
    }

    /// The tile at `column`, `row` of tiles (each [`TILE_SIDE`] pixels) as a job computing
    /// its pixels in the safe range; `None` if it has none there. At `scale` k (a power of
    /// two to [`MAX_SCALE`]), a coarse tile: every k-th column and row of a square k times
    /// as wide, the same lattice's pixels, for a quick first look.
    pub fn tile(
        &self,
        (column, row): (&BigInt, &BigInt),
        scale: u32,
        smooth: bool,
        limits: &Limits,
    ) -> Result<Option<TileJob>, String> {
        if !scale.is_power_of_two() || scale > MAX_SCALE {
            return Err(format!("the scale is a power of two up to {MAX_SCALE}"));
        }
        let side = BigInt::from(TILE_SIDE) * scale;
        let (columns, rows) = self.safe_range();
        // The tile's pixels i in 0..TILE_SIDE at lattice start + i·scale within the range:
        // the first, where it is, and how many.
        let clip = |start: &BigInt, (first, last): &(BigInt, BigInt)| {
            let from = (first - start)
                .div_ceil(&BigInt::from(scale))
                .max(BigInt::ZERO);
            let to = (last - start)
                .div_floor(&BigInt::from(scale))
                .min(BigInt::from(TILE_SIDE - 1));
            let len = u32::try_from(&to - &from + 1).ok().filter(|&n| n > 0)?;
            let at = u32::try_from(&from).ok()?;
            Some((start + from * scale, at, len))
        };
        let (left, top) = (column * &side, row * &side);
        let (Some((x, at_x, width)), Some((y, at_y, height))) =
            (clip(&left, &columns), clip(&top, &rows))
        else {
            return Ok(None);
        };
        let (re, im) = self.point(&x, &y);
        let step = fixed(self.format, &(&self.step * scale));
        let (Some(re), Some(im), Some(step)) =
            (fixed(self.format, &re), fixed(self.format, &im), step)
        else {
            return Ok(None);
        };
        let view = View {
            origin_re: re,
            origin_im: im,
            step_x: step,
            step_y: step,
        };
        view.check(self.format, width, height)
            .map_err(|e| e.to_string())?;
        let job = self.job(view, width, height, smooth, limits)?;
        Ok(Some(TileJob {
            job,
            at: (at_x, at_y),
        }))
    }

    /// The first and last columns, and rows, whose c lies in the safe range, [-3, 3].
    fn safe_range(&self) -> ((BigInt, BigInt), (BigInt, BigInt)) {
        let bound = BigInt::from(3) << self.format.frac_bits();
        let columns = (
            (-&bound - &self.rest.0).div_ceil(&self.step),
            (&bound - &self.rest.0).div_floor(&self.step),
        );
        let rows = (
            (&self.rest.1 - &bound).div_ceil(&self.step),
            (&self.rest.1 + &bound).div_floor(&self.step),
        );
        (columns, rows)
    }

    /// The job of `view`, in job tiles a worker takes under `--max-work`.
    fn job(
        &self,
        view: View,
        width: u32,
        height: u32,
        smooth: bool,
        limits: &Limits,
    ) -> Result<Job, String> {
        let job = |side: u32| Job {
            format: self.format,
            view,
            grid: Grid {
                width,
                height,
                tile_width: side,
                tile_height: side,
            },
            iterations: self.iterations,
            kernel: self.kernel,
            smooth,
            samples: 1,
        };
        let side = [JOB_TILE_SIDE, 32, 16, 8, 4, 2, 1]
            .into_iter()
            .find(|&side| limits.admit_work(&job(side)).is_ok())
            .unwrap_or(1);
        let job = job(side);
        job.check().map_err(|e| e.to_string())?;
        limits.admit_work(&job).map_err(|over| over.to_string())?;
        Ok(job)
    }
}

/// `whole.fraction` rounded to `digits` fraction digits, half away from zero.
fn rounded(whole: &str, fraction: &str, digits: usize) -> String {
    let (negative, whole) = match whole.strip_prefix('-') {
        Some(magnitude) => (true, magnitude),
        None => (false, whole),
    };
    let mut kept: Vec<u8> = whole.bytes().chain(fraction.bytes().take(digits)).collect();
    kept.extend(std::iter::repeat_n(
        b'0',
        digits.saturating_sub(fraction.len()),
    ));
    if fraction.as_bytes().get(digits).is_some_and(|&d| d >= b'5') {
        // Carry up through the nines.
        let mut i = kept.len();
        loop {
            if i == 0 {
                kept.insert(0, b'1');
                break;
            }
            i -= 1;
            if kept[i] == b'9' {
                kept[i] = b'0';
            } else {
                kept[i] += 1;
                break;
            }
        }
    }
    let split = kept.len() - digits;
    let (whole, fraction) = kept.split_at(split);
    let sign = if negative && kept.iter().any(|&d| d != b'0') {
        "-"
    } else {
        ""
    };
    let whole = String::from_utf8_lossy(whole);
    match digits {
        0 => format!("{sign}{whole}"),
        _ => format!("{sign}{whole}.{}", String::from_utf8_lossy(fraction)),
    }
}

/// `raw` times `2^shift`, rounded to nearest (ties up) when `shift` is negative.
fn rescale(raw: &BigInt, shift: i64) -> BigInt {
    match shift {
        0.. => raw << shift as u64,
        _ => {
            let down = (-shift) as u64;
            (raw + (BigInt::from(1) << (down - 1))) >> down
        }
    }
}

/// A number's raw bits as a whole number.
fn big(x: &Fixed) -> BigInt {
    let bytes: Vec<u8> = x
        .limbs()
        .iter()
        .flat_map(|limb| limb.to_le_bytes())
        .collect();
    BigInt::from_signed_bytes_le(&bytes)
}

/// The number of `format` whose raw bits are `raw`, if it fits.
fn fixed(format: Format, raw: &BigInt) -> Option<Fixed> {
    let limbs = format.width().limbs();
    let mut bytes = raw.to_signed_bytes_le();
    if bytes.len() > 4 * limbs {
        return None;
    }
    let fill = if raw.sign() == num_bigint::Sign::Minus {
        0xff
    } else {
        0
    };
    bytes.resize(4 * limbs, fill);
    let limbs: Vec<u32> = bytes
        .chunks(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    // I4F28's number is one limb, the same bits as its i64 when it fits an i32.
    Fixed::from_limbs(&limbs).filter(|x| big(x) == *raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(centre: &str, zoom: &str, height: u32) -> Ask {
        Ask {
            centre: centre.into(),
            zoom: Zoom::parse(zoom).unwrap(),
            height,
            iterations: None,
            format: None,
            kernel: None,
        }
    }

    fn place(centre: &str, zoom: &str, height: u32) -> Place {
        Place::new(&ask(centre, zoom, height), &Limits::default()).unwrap()
    }

    /// What `render --center C --zoom Z --width W --height H` computes.
    fn rendered(place: &Place, centre: &str, width: u32) -> View {
        View::from_centre(place.format, centre, &place.zoom, width, place.height).unwrap()
    }

    /// The c of the pixel at `column`, `row` of the lattice, by the job of its tile.
    fn tile_point(place: &Place, column: &BigInt, row: &BigInt) -> (Fixed, Fixed) {
        let side = BigInt::from(TILE_SIDE);
        let ((tile_x, x), (tile_y, y)) = (column.div_mod_floor(&side), row.div_mod_floor(&side));
        let tile = place
            .tile((&tile_x, &tile_y), 1, false, &Limits::default())
            .unwrap()
            .unwrap();
        let x = u32::try_from(x).unwrap() - tile.at.0;
        let y = u32::try_from(y).unwrap() - tile.at.1;
        let point = tile.job.view.point(x, y);
        (point.re, point.im)
    }

    #[test]
    fn the_tiles_hold_render_s_pixels_for_the_window() {
        let (width, height) = (640, 360);
        for (centre, zoom) in [
            ("-0.75,0.1", "2"),
            ("-0.743643887037151,0.13182590420533", "1E10"),
            ("-1.7685736562,0.0009642968", "3E20"),
        ] {
            let place = place(centre, zoom, height);
            let view = rendered(&place, centre, width);
            for (x, y) in [
                (0, 0),
                (width - 1, height - 1),
                (width / 2, height / 2),
                (17, 300),
            ] {
                // The window's top-left pixel is (width / 2, height / 2) before the centre.
                let column = &place.centre.0 + i64::from(x) - i64::from(width / 2);
                let row = &place.centre.1 + i64::from(y) - i64::from(height / 2);
                let ours = tile_point(&place, &column, &row);
                let theirs = view.point(x, y);
                assert_eq!(
                    ours,
                    (theirs.re, theirs.im),
                    "{centre} at {zoom}, pixel ({x}, {y})"
                );
            }
        }
    }

    #[test]
    fn a_coarse_tile_holds_every_kth_pixel_of_the_fine_ones() {
        let place = place("-0.75,0.1", "2", 360);
        let limits = Limits::default();
        for scale in [2, 8, 16] {
            let coarse = place
                .tile((&BigInt::from(-1), &BigInt::from(0)), scale, false, &limits)
                .unwrap()
                .unwrap();
            let (width, height) = (coarse.job.grid.width, coarse.job.grid.height);
            for (i, j) in [(0, 0), (5, 9), (width - 1, height - 1)] {
                let column = BigInt::from(-256 * i64::from(scale)) + (i + coarse.at.0) * scale;
                let row = BigInt::from((j + coarse.at.1) * scale);
                let point = coarse.job.view.point(i, j);
                assert_eq!(tile_point(&place, &column, &row), (point.re, point.im));
            }
        }
        assert!(place
            .tile((&BigInt::ZERO, &BigInt::ZERO), 3, false, &limits)
            .is_err());
        assert!(place
            .tile((&BigInt::ZERO, &BigInt::ZERO), 32, false, &limits)
            .is_err());
    }

    #[test]
    fn a_pan_by_whole_pixels_keeps_the_lattice_and_reads_back_from_its_text() {
        let start = place("-0.75,0.1", "1.5", 1080);
        let moved = start.moved(-123, 45).unwrap();
        assert_eq!(moved.rest, start.rest);
        let again = place(&moved.centre_text(), "1.5", 1080);
        assert_eq!(again, moved);
        assert!(moved.centre_text().len() < 30, "{}", moved.centre_text());
    }

    #[test]
    fn a_move_off_the_plane_is_refused_and_a_chosen_kernel_outlives_a_zoom() {
        let start = place("0,0", "1", 100);
        assert!(start.moved(2000, 0).is_err(), "a centre of 80 has no text");
        assert!(start.moved(0, -1 << 40).is_err());
        assert!(start.moved(170, -170).is_ok());
        let direct = Ask {
            kernel: Some(Kernel::Direct),
            ..ask("-0.7436438870371587,0.1318259042053", "1E11", 1080)
        };
        let narrow = Place::new(&direct, &Limits::default()).unwrap();
        assert_eq!(narrow.format, Format::I4F60);
        let wide = narrow.zoomed(5, (0, 0), None, &Limits::default()).unwrap();
        assert!(matches!(wide.format, Format::Wide(_)));
        assert_eq!(wide.kernel, Kernel::Direct);
    }

    #[test]
    fn the_shortest_centre_is_as_short_as_the_centre_asked() {
        assert_eq!(place("-0.75,0.1", "1.5", 1080).centre_text(), "-0.75,0.1");
        assert_eq!(place("0,0", "1", 1000).centre_text(), "0,0");
        let deep = "-1.76857365621314160,0.00096429684993468";
        assert_eq!(
            place(deep, "3E15", 1080).centre_text(),
            deep.replace("160,", "16,")
        );
    }

    #[test]
    fn a_zoom_keeps_the_point_under_the_pointer() {
        let start = place("-0.75,0.1", "1.5", 1000);
        let at = (200, -100);
        let zoomed = start.zoomed(1, at, None, &Limits::default()).unwrap();
        assert_eq!(zoomed.zoom, Zoom::parse("3").unwrap());
        let under = |p: &Place| {
            let (re, im) = p.point(&(&p.centre.0 + at.0), &(&p.centre.1 + at.1));
            let shift = 124 - i64::from(p.format.frac_bits());
            (rescale(&re, shift), rescale(&im, shift))
        };
        assert_eq!(under(&zoomed), under(&start));
        assert_eq!(zoomed.iterations, auto_iterations(&zoomed.zoom));
        let out = zoomed.zoomed(-1, at, None, &Limits::default()).unwrap();
        assert_eq!(out.zoom, start.zoom);
        assert_eq!(out.centre_text(), start.centre_text());
    }

    #[test]
    fn zooming_in_past_the_narrow_formats_widens_them() {
        let centre = "-0.743643887037151,0.13182590420533";
        let start = place(centre, "1E12", 1080);
        assert_eq!(start.format, Format::I4F60);
        let mut place = start.clone();
        for _ in 0..20 {
            place = place.zoomed(1, (0, 0), None, &Limits::default()).unwrap();
        }
        assert!(
            matches!(place.format, Format::Wide(_)),
            "{:?}",
            place.format
        );
        assert_eq!(place.kernel, Kernel::auto(place.format));
        // The same centre, exactly: widening adds bits, and read back in I4F60 it is the
        // start's.
        let narrow = Ask {
            format: Some(Format::I4F60),
            ..ask(&place.centre_text(), "1E12", 1080)
        };
        assert_eq!(
            Place::new(&narrow, &Limits::default()).unwrap().centre,
            start.centre
        );
    }

    #[test]
    fn tiles_stop_at_the_safe_range() {
        let place = place("0,0", "0.5", 1000);
        let limits = Limits::default();
        let far = place.tile((&BigInt::from(100), &BigInt::ZERO), 1, false, &limits);
        assert_eq!(far, Ok(None));
        // The tile holding re = 3: its columns stop there.
        let step = 8.0 / 1000.0;
        let column = (3.0 / step) as i64 / 256;
        let edge = place
            .tile((&BigInt::from(column), &BigInt::ZERO), 1, false, &limits)
            .unwrap()
            .unwrap();
        assert!(edge.job.grid.width < TILE_SIDE, "{:?}", edge.job.grid);
        let left = place
            .tile(
                (&BigInt::from(-column - 1), &BigInt::ZERO),
                1,
                false,
                &limits,
            )
            .unwrap()
            .unwrap();
        assert!(left.at.0 > 0);
    }

    #[test]
    fn bad_places_say_why() {
        let limits = Limits::default();
        let reason = |a: Ask| Place::new(&a, &limits).unwrap_err();
        assert!(reason(ask("1", "1", 100)).contains("two decimals"));
        assert!(reason(ask("9,0", "1", 100)).contains("within 8"));
        assert!(reason(ask("0,0", "1E1300", 100)).contains("deeper"));
        assert!(reason(ask("0,0", "1", 0)).contains("height"));
        let narrow = Ask {
            format: Some(Format::I4F28),
            ..ask("0,0", "1E12", 1000)
        };
        assert!(reason(narrow).contains("wider format"));
        let many = Ask {
            iterations: Some(u32::MAX),
            ..ask("0,0", "1", 100)
        };
        assert!(reason(many).contains("--max-iterations"));
    }

    #[test]
    fn the_iteration_limit_follows_the_zoom() {
        let at = |zoom: &str| auto_iterations(&Zoom::parse(zoom).unwrap());
        assert_eq!(at("1"), 200);
        assert_eq!(at("0.5"), 200);
        assert_eq!(at("1024"), 700);
        assert_eq!(at("1E100"), 200 + 332 * 50);
    }
}
