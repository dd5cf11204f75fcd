//! What the early exits do for a view's interior, for BENCHMARKS.md (`just bench-interior`):
//! each pixel's orbit in I4F28 or I4F60 as the oracle steps it (`oracle.rs`), with the
//! kernels' schedules of exits beside it, counting for the pixels that never escape the steps
//! each way ends them:
//! - periodicity alone: compare z with the saved z every 8 steps from the 32nd; save at 32
//!   and then every eighth of the steps so far (`cycles.rs`);
//! - the point kernel: that, and at each save the certificate of `trap.rs` (near cycles of 2
//!   to 4 steps too from the 512th);
//! - the lanes: periodicity, and the certificate asked between phases of 32, 64, 128, …
//!   steps (`kernel.rs`; the lanes compare every 4 steps, counted here every 8).
//!   interior TOP_LEFT BOTTOM_RIGHT WIDTH HEIGHT ITERATIONS [BITS]
use std::process::ExitCode;

use fixedbrot_core::{trap, Format, Point};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("interior: {e}");
            eprintln!("usage: interior TOP_LEFT BOTTOM_RIGHT WIDTH HEIGHT ITERATIONS [32|64]");
            ExitCode::from(2)
        }
    }
}

/// What ends an interior pixel's loop first.
#[derive(Clone, Copy)]
enum End {
    Trap,
    Repeat,
    Limit,
}

/// The steps one schedule takes over the interior, and what ends each pixel.
#[derive(Default)]
struct Tally {
    steps: u64,
    /// Pixels ended by a certificate, an exact repeat, the limit.
    ends: [u64; 3],
}

impl Tally {
    fn add(&mut self, (steps, end): (u32, End)) {
        self.steps += u64::from(steps);
        self.ends[end as usize] += 1;
    }

    fn line(&self, name: &str, pixels: u64) -> String {
        let pixels = pixels.max(1) as f64;
        let share = |n: u64| 100.0 * n as f64 / pixels;
        format!(
            "{name:<18} {:>6.0} steps per interior pixel; ended by the certificate {:.1}%, \
             an exact repeat {:.1}%, the limit {:.1}%",
            self.steps as f64 / pixels,
            share(self.ends[0]),
            share(self.ends[1]),
            share(self.ends[2])
        )
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let [top_left, bottom_right, width, height, iterations, rest @ ..] = args else {
        return Err("five arguments at least".into());
    };
    let number = |text: &String| text.parse::<u32>().map_err(|e| format!("{text}: {e}"));
    let (width, height, limit) = (number(width)?, number(height)?, number(iterations)?);
    let format = match rest.first().map(String::as_str) {
        None | Some("32") => Format::I4F28,
        Some("64") => Format::I4F60,
        Some(other) => return Err(format!("{other}: 32 or 64 bits")),
    };
    let point = |text: &str| Point::from_text(format, text).map_err(|e| e.to_string());
    let (tl, br) = (point(top_left)?, point(bottom_right)?);
    if width < 1 || height < 1 {
        return Err("an empty image".into());
    }
    let (mut interior, mut escaping) = (0u64, 0u64);
    let [mut periodic, mut points, mut lanes] = [(); 3].map(|()| Tally::default());
    for y in 0..height {
        for x in 0..width {
            // Pixel centres as the views' steps place them: (br - tl) / size a step.
            let re = tl.re + (br.re - tl.re) * i64::from(x) / i64::from(width);
            let im = tl.im - (tl.im - br.im) * i64::from(y) / i64::from(height);
            let Some(ends) = Orbit::new(format.frac_bits(), re.into(), im.into()).ends(limit)
            else {
                escaping += 1;
                continue;
            };
            interior += 1;
            periodic.add(ends.periodic);
            points.add(ends.point);
            lanes.add(ends.lanes);
        }
    }
    println!("{width}x{height} at {limit} iterations, {format}: {interior} interior pixels, {escaping} escape");
    println!("{}", periodic.line("periodicity alone", interior));
    println!("{}", points.line("point kernel", interior));
    println!("{}", lanes.line("lanes", interior));
    Ok(())
}

/// How each schedule ends one interior pixel's loop: after how many steps, and why.
struct Ends {
    periodic: (u32, End),
    point: (u32, End),
    lanes: (u32, End),
}

/// One pixel's orbit, stepped and rounded as the kernels step it.
struct Orbit {
    frac: u32,
    c: (i128, i128),
}

/// The steps from which the point kernel asks about cycles (`kernel.rs`'s CYCLES_FROM).
const CYCLES_FROM: u32 = 512;

impl Orbit {
    fn new(frac: u32, c_re: i128, c_im: i128) -> Orbit {
        Orbit {
            frac,
            c: (c_re, c_im),
        }
    }

    fn step(&self, (re, im): (i128, i128)) -> (i128, i128) {
        let one = 1i128 << self.frac;
        let round = |x: i128| (x + one / 2).div_euclid(one);
        (
            round(re * re - im * im) + self.c.0,
            round(2 * re * im) + self.c.1,
        )
    }

    fn inside(&self, (re, im): (i128, i128)) -> bool {
        re * re + im * im <= 4 << (2 * self.frac)
    }

    /// The certificates at `z`: for a fixed point, and near a cycle of 2 to
    /// `trap::MOST_PERIOD` steps.
    fn trapped(&self, z: (i128, i128)) -> (bool, bool) {
        let parts = |(re, im): (i128, i128)| (re as i64, im as i64);
        let mut points = [parts(z); trap::MOST_PERIOD + 1];
        let mut at = z;
        for k in 1..=trap::MOST_PERIOD {
            if !self.inside(at) {
                return (false, false);
            }
            at = self.step(at);
            points[k] = parts(at);
            if k == 1 && trap::trapped(points[0], points[1], self.frac) {
                return (true, true);
            }
            if k > 1 && trap::trapped_cycle(&points[..=k], self.frac) {
                return (false, true);
            }
        }
        (false, false)
    }

    /// How each schedule ends this orbit's loop, or `None` if it escapes within `limit`.
    fn ends(&self, limit: u32) -> Option<Ends> {
        let (mut z, mut saved) = ((0i128, 0i128), (0i128, 0i128));
        let mut next_save = 32u32;
        let (mut point, mut lanes) = (None, None);
        for steps in 1..=limit {
            if !self.inside(z) {
                return None;
            }
            z = self.step(z);
            if steps % 8 != 0 {
                continue;
            }
            if steps > 32 && z == saved {
                let repeat = (steps, End::Repeat);
                return Some(Ends {
                    periodic: repeat,
                    point: point.unwrap_or(repeat),
                    lanes: lanes.unwrap_or(repeat),
                });
            }
            let phase_end = steps >= 32 && steps.is_power_of_two() && steps < limit;
            if lanes.is_none() && phase_end && self.trapped(z).0 {
                lanes = Some((steps, End::Trap));
            }
            if steps >= next_save {
                let (fixed, near_a_cycle) = self.trapped(z);
                let cycles = steps >= CYCLES_FROM;
                if point.is_none() && (fixed || (cycles && near_a_cycle)) {
                    point = Some((steps, End::Trap));
                }
                saved = z;
                next_save = steps.saturating_add(32.max(steps / 8));
            }
        }
        // Never escaped by the limit: a certificate, if it came, ended it sooner.
        let at_limit = (limit, End::Limit);
        Some(Ends {
            periodic: at_limit,
            point: point.unwrap_or(at_limit),
            lanes: lanes.unwrap_or(at_limit),
        })
    }
}
