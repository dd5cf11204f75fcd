//! Iterations per second of the wide kernel against MPFR (through rug) at the same precision,
//! one core, side by side in one run: the high-water mark every deep-zoom peer's reference
//! orbit is computed with. Figures go in BENCHMARKS.md; never a pass/fail test.
//!
//! Both iterate c = λ/2 - λ²/4 for λ = 0.9999·e^i, just inside the main cardioid: its orbit
//! closes in on the fixed point by a factor |λ| a step, so it neither escapes nor repeats
//! exactly for about 860,000 steps even at 128 bits, and every step is taken. MPFR's loop is
//! the one peers use: two squares, a product, the escape test.
use std::time::Instant;

use fixedbrot_core::{escape_wide, Fixed, WidePoint, Width};
use rug::{Assign, Float};

const RUNS: usize = 5;
const RE: &str = "0.3741400406541018";
const IM: &str = "0.19341452474638512";

fn main() {
    let widths: Vec<u32> = match std::env::args().nth(1) {
        Some(list) => list.split(',').map(|w| w.parse().expect("bits")).collect(),
        None => vec![128, 256, 512, 1024, 2048, 4096],
    };
    println!("| bits | fixedbrot ns/iteration | MPFR ns/iteration | fixedbrot / MPFR |");
    println!("|---|---|---|---|");
    for bits in widths {
        let width = Width::from_bits(bits).expect("a wide format");
        // A tenth of a second or more a run, for either.
        let steps = (2_000_000_000 / (bits * bits / 64 + 2_000)).max(1_000);
        let c = WidePoint {
            re: Fixed::from_decimal(width, RE).unwrap(),
            im: Fixed::from_decimal(width, IM).unwrap(),
        };
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let started = Instant::now();
            assert_eq!(escape_wide(&c, steps), steps, "the point stays in");
            ours.push(started.elapsed().as_nanos() as f64 / f64::from(steps));
            let started = Instant::now();
            assert_eq!(mpfr_escape(bits, steps), steps, "the point stays in");
            theirs.push(started.elapsed().as_nanos() as f64 / f64::from(steps));
        }
        let (ours, theirs) = (summary(&mut ours), summary(&mut theirs));
        println!(
            "| {bits} | {} | {} | {:.2}x |",
            ours.text(),
            theirs.text(),
            ours.median / theirs.median
        );
    }
}

/// The plain escape loop in MPFR at `bits` bits of precision, rounding to nearest.
fn mpfr_escape(bits: u32, limit: u32) -> u32 {
    let c_re = Float::with_val(bits, Float::parse(RE).unwrap());
    let c_im = Float::with_val(bits, Float::parse(IM).unwrap());
    let (mut re, mut im) = (Float::new(bits), Float::new(bits));
    let (mut rr, mut ii, mut sum) = (Float::new(bits), Float::new(bits), Float::new(bits));
    for steps in 0..limit {
        rr.assign(re.square_ref());
        ii.assign(im.square_ref());
        sum.assign(&rr + &ii);
        if sum > 4 {
            return steps;
        }
        im *= &re;
        im <<= 1;
        im += &c_im;
        re.assign(&rr - &ii);
        re += &c_re;
    }
    limit
}

struct Summary {
    median: f64,
    low: f64,
    high: f64,
}

impl Summary {
    fn text(&self) -> String {
        format!("{:.0} ({:.0}-{:.0})", self.median, self.low, self.high)
    }
}

fn summary(runs: &mut [f64]) -> Summary {
    runs.sort_by(f64::total_cmp);
    Summary {
        median: runs[runs.len() / 2],
        low: runs[0],
        high: runs[runs.len() - 1],
    }
}
