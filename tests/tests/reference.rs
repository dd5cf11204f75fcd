//! Agreement with an independent reference: fixed-point counts against the same rule in f64,
//! and the classic palette against the original program's black and white.
//!
//! Exact agreement is impossible: near the boundary an orbit's fate hangs on the last bit, and
//! the formats round differently from f64. Measured (and printed by these tests): I4F28 99.989%,
//! I4F60 99.995% (f64 is the coarser one there), the classic palette 99.988% of the original's
//! pixels. The floors allow about ten times the measured disagreements, which are scattered
//! boundary points; a kernel bug (a wrong rounding, sign or escape test) moves whole bands of
//! pixels and falls far below them.
use fixedbrot_core::{escape, Format, Palette, Point};
use fixedbrot_tests::cases::default_job;
use fixedbrot_tests::{reference, render_image};

/// Deterministic uniform points (SplitMix64), so the measured rates are reproducible.
fn points(format: Format, n: usize) -> Vec<Point> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    // The default view, -2.2..1.0 by -1.2..1.2, where the boundary lives.
    let low = Point::from_text(format, "-2.2,-1.2").unwrap();
    let high = Point::from_text(format, "1.0,1.2").unwrap();
    let (width, height) = ((high.re - low.re) as u64, (high.im - low.im) as u64);
    (0..n)
        .map(|_| Point {
            re: low.re + (next() % width) as i64,
            im: low.im + (next() % height) as i64,
        })
        .collect()
}

fn agreement(format: Format, limit: u32) -> f64 {
    let n = 200_000;
    let frac = format.frac_bits();
    let same = points(format, n)
        .into_iter()
        .filter(|&c| {
            let fixed = escape(format, c, limit).unwrap();
            let float = reference::escape(
                reference::to_f64(c.re, frac),
                reference::to_f64(c.im, frac),
                limit,
            );
            fixed == float
        })
        .count();
    same as f64 / n as f64
}

#[test]
fn i4f28_counts_agree_with_f64_on_almost_every_point() {
    let rate = agreement(Format::I4F28, 128);
    println!(
        "I4F28 vs f64, 128 iterations, 200,000 points of the default view: {:.4}%",
        rate * 100.0
    );
    assert!(rate >= 0.999, "agreement {rate}");
}

#[test]
fn i4f60_counts_agree_with_f64_on_almost_every_point() {
    let rate = agreement(Format::I4F60, 1024);
    println!(
        "I4F60 vs f64, 1024 iterations, 200,000 points of the default view: {:.4}%",
        rate * 100.0
    );
    assert!(rate >= 0.9995, "agreement {rate}");
}

#[test]
fn classic_palette_reproduces_the_originals_image() {
    let job = default_job(Format::I4F28, 64);
    let counts = render_image(&job);
    let frac = job.format.frac_bits();
    let mut same = 0usize;
    for (i, &count) in counts.iter().enumerate() {
        let (x, y) = (i as u32 % job.grid.width, i as u32 / job.grid.width);
        let c = job.view.narrow().unwrap().point(x, y);
        let white = Palette::Classic.rgb(count, job.iterations) == [255, 255, 255];
        let original = reference::original_inside(
            reference::to_f64(c.re, frac),
            reference::to_f64(c.im, frac),
            job.iterations,
        );
        same += usize::from(white == original);
    }
    let rate = same as f64 / counts.len() as f64;
    println!(
        "classic palette vs the original's image, 640x480: {same} of {} pixels agree ({:.4}%)",
        counts.len(),
        rate * 100.0
    );
    assert!(rate >= 0.999, "agreement {rate}");
}
