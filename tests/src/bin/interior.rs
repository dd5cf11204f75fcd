//! What the early exits do for a view's interior, for BENCHMARKS.md (`just bench-interior`):
//! each pixel's orbit in I4F28 or I4F60 as the oracle steps it (`oracle.rs`), with the
//! kernel's schedule of exits beside it (compare z with the saved z every 8 steps from the
//! 32nd; save at 32 and then every eighth of the steps so far; at each save, the certificate
//! of `trap.rs`), counting for the pixels that never escape the steps each way ends them.
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

/// How one interior pixel's loop ends.
#[derive(Default)]
struct Ends {
    pixels: u64,
    /// Steps taken with periodicity alone, and with the certificate too.
    steps_periodic: u64,
    steps_both: u64,
    /// Pixels each exit ends first (with both), and those that run to the limit.
    by_trap: u64,
    by_repeat: u64,
    by_limit: u64,
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
    let mut ends = Ends::default();
    let mut escaping = 0u64;
    for y in 0..height {
        for x in 0..width {
            // Pixel centres as the views' steps place them: (br - tl) / size a step.
            let re = tl.re + (br.re - tl.re) * i64::from(x) / i64::from(width);
            let im = tl.im - (tl.im - br.im) * i64::from(y) / i64::from(height);
            match orbit(format.frac_bits(), re.into(), im.into(), limit) {
                Some((periodic, both, end)) => {
                    ends.pixels += 1;
                    ends.steps_periodic += u64::from(periodic);
                    ends.steps_both += u64::from(both);
                    match end {
                        End::Trap => ends.by_trap += 1,
                        End::Repeat => ends.by_repeat += 1,
                        End::Limit => ends.by_limit += 1,
                    }
                }
                None => escaping += 1,
            }
        }
    }
    let per = |steps: u64| steps as f64 / ends.pixels.max(1) as f64;
    let share = |n: u64| 100.0 * n as f64 / ends.pixels.max(1) as f64;
    println!(
        "{width}x{height} at {limit} iterations, {format}: {} interior pixels, {escaping} escape",
        ends.pixels
    );
    println!(
        "steps per interior pixel: {:.0} with periodicity alone, {:.0} with the certificate too",
        per(ends.steps_periodic),
        per(ends.steps_both)
    );
    println!(
        "ended first by the certificate {:.1}%, by an exact repeat {:.1}%, at the limit {:.1}%",
        share(ends.by_trap),
        share(ends.by_repeat),
        share(ends.by_limit)
    );
    Ok(())
}

enum End {
    Trap,
    Repeat,
    Limit,
}

/// For a point that never escapes, the steps its loop takes with periodicity alone and with
/// the certificate too, and what ends the latter; `None` for a point that escapes.
fn orbit(frac: u32, c_re: i128, c_im: i128, limit: u32) -> Option<(u32, u32, End)> {
    let one = 1i128 << frac;
    let round = |x: i128| (x + one / 2).div_euclid(one);
    let four = 4 * one * one;
    let step =
        |(re, im): (i128, i128)| (round(re * re - im * im) + c_re, round(2 * re * im) + c_im);
    let (mut z, mut saved) = ((0i128, 0i128), (0i128, 0i128));
    let (mut next_save, mut trapped_at) = (32u32, None);
    for steps in 0..limit {
        if z.0 * z.0 + z.1 * z.1 > four {
            return None;
        }
        z = step(z);
        let steps = steps + 1;
        if steps % 8 != 0 {
            continue;
        }
        if steps > 32 && z == saved {
            return Some(match trapped_at {
                Some(at) => (steps, at, End::Trap),
                None => (steps, steps, End::Repeat),
            });
        }
        if steps >= next_save {
            let next = step(z);
            let inside = z.0 * z.0 + z.1 * z.1 <= four;
            let parts = |(re, im): (i128, i128)| (re as i64, im as i64);
            if trapped_at.is_none() && inside && trap::trapped(parts(z), parts(next), frac) {
                trapped_at = Some(steps);
            }
            saved = z;
            next_save = steps.saturating_add(32.max(steps / 8));
        }
    }
    // Never escaped by the limit: the certificate, if it came, ended it sooner.
    Some(match trapped_at {
        Some(at) => (limit, at, End::Trap),
        None => (limit, limit, End::Limit),
    })
}
