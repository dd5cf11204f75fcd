//! The smooth count's fraction (`core/src/smooth.rs`): what floats say, within a few units
//! of 2^-14, and continuous where the count steps, which is what unbands the colours.
use fixedbrot_core::smooth::{smooth, SMOOTH_ONE};
use fixedbrot_core::{render_tile, render_tile_in_lanes, Format, Kernel, Pixels};
use fixedbrot_tests::{cases, oracle, strategies, with_reference};
use num_bigint::{BigInt, Sign};
use proptest::prelude::*;

/// I4F28's fraction bits, the tests' format.
const F: u32 = 28;

/// `x` in raw units of 2^-28.
fn raw(x: f64) -> i64 {
    (x * f64::from(1u32 << F)).round() as i64
}

/// `μ - n + 1` by floats, from the same raw values: the formula the smooth renderers use.
fn by_floats(z: (i64, i64), c: (i64, i64)) -> f64 {
    let real = |x: i64| x as f64 / f64::from(1u32 << F);
    let (mut re, mut im, c_re, c_im) = (real(z.0), real(z.1), real(c.0), real(c.1));
    let mut extra = 0;
    while re * re + im * im <= 2f64.powi(32) {
        (re, im) = (re * re - im * im + c_re, 2.0 * re * im + c_im);
        extra += 1;
    }
    f64::from(extra) + 2.0 - (0.5 * (re * re + im * im).log2()).log2()
}

/// The count and the escaped z of `c`, stepped as the kernels step it (`oracle.rs`).
fn escape_with_z(c: (i64, i64), limit: u32) -> Option<(u32, (i64, i64))> {
    escape_with_z_at(F, c, limit)
}

/// [`escape_with_z`] with `frac` fraction bits.
fn escape_with_z_at(frac: u32, c: (i64, i64), limit: u32) -> Option<(u32, (i64, i64))> {
    match oracle::escape_with_z(frac, c.0.into(), c.1.into(), limit) {
        (count, Some(z)) => Some((count, z)),
        (_, None) => None,
    }
}

/// The smooth count `μ = n - 1 + smooth / 2^10` of `c`, if it escapes within `limit`.
fn smooth_count(c: (i64, i64), limit: u32) -> Option<f64> {
    let (n, z) = escape_with_z(c, limit)?;
    Some(f64::from(n) - 1.0 + f64::from(smooth(z, c, F)) / f64::from(SMOOTH_ONE))
}

proptest! {
    #[test]
    fn every_path_gives_each_escaped_pixel_the_fraction_of_its_escaped_z(
        (job, tile) in strategies::job_and_tile(300, 3000),
    ) {
        let view = job.view.narrow().expect("the strategy's views are narrow");
        let frac = job.format.frac_bits();
        for render in [render_tile, render_tile_in_lanes] {
            let pixels = job.grid.rect(tile).unwrap().pixels();
            let (mut counts, mut fractions) = (vec![0; pixels], vec![0; pixels]);
            let rect = render(&job, tile, &mut counts, &mut fractions).unwrap();
            for (i, (&count, &fraction)) in counts.iter().zip(&fractions).enumerate() {
                let (x, y) = (rect.x + i as u32 % rect.width, rect.y + i as u32 / rect.width);
                let c = view.point(x, y);
                let want = match escape_with_z_at(frac, (c.re, c.im), job.iterations) {
                    Some((n, z)) => (n, smooth(z, (c.re, c.im), frac)),
                    None => (job.iterations, 0),
                };
                prop_assert_eq!((count, fraction), want, "pixel ({}, {})", x, y);
            }
        }
    }

    #[test]
    fn the_fraction_is_what_floats_say(
        c_re in -2.0f64..2.0, c_im in -2.0f64..2.0,
        radius in 2.05f64..6.0, angle in 0.0f64..std::f64::consts::TAU,
    ) {
        prop_assume!(c_re.hypot(c_im) <= 2.0);
        let (z, c) = ((raw(radius * angle.cos()), raw(radius * angle.sin())), (raw(c_re), raw(c_im)));
        let want = by_floats(z, c);
        prop_assume!((0.0..4.0).contains(&want));
        let got = f64::from(smooth(z, c, F)) / f64::from(SMOOTH_ONE);
        prop_assert!((got - want).abs() <= 4.0 / f64::from(SMOOTH_ONE), "{got} against {want}");
    }
}

/// The largest change of the smooth count between neighbours along `from` -> `to`, in
/// `samples` steps, every one escaping within `limit`; and how many times the count stepped.
fn largest_change(from: (f64, f64), to: (f64, f64), samples: u32, limit: u32) -> (f64, u32) {
    let at = |i: u32| {
        let t = f64::from(i) / f64::from(samples);
        let c = (
            raw(from.0 + (to.0 - from.0) * t),
            raw(from.1 + (to.1 - from.1) * t),
        );
        let count = escape_with_z(c, limit).expect("the line escapes").0;
        (smooth_count(c, limit).expect("the line escapes"), count)
    };
    let (mut largest, mut steps) = (0.0f64, 0);
    let mut last = at(0);
    for i in 1..=samples {
        let next = at(i);
        largest = largest.max((next.0 - last.0).abs());
        steps += u32::from(next.1 != last.1);
        last = next;
    }
    (largest, steps)
}

#[test]
fn the_smooth_count_has_no_step_where_the_count_steps() {
    // Towards the cusp along the real axis, and down into seahorse valley: the count steps
    // dozens of times, by a whole iteration each, and the smooth count never jumps.
    for (from, to) in [((0.3, 0.0), (0.26, 0.0)), ((-0.75, 0.3), (-0.75, 0.12))] {
        let (largest, steps) = largest_change(from, to, 4000, 10_000);
        assert!(steps > 10, "{from:?}: the count stepped {steps} times");
        assert!(
            largest < 0.1,
            "{from:?}: the smooth count jumped by {largest}"
        );
    }
}

#[test]
fn a_wide_format_gives_the_fraction_of_its_exact_escaped_z() {
    let format = Format::from_bits(128).unwrap();
    let (frac, limit) = (format.frac_bits(), 500);
    let job = cases::job(format, "-2.2,1.2", "1.0,-1.2", (48, 36), limit, (48, 36));
    let pixels = Pixels::new(&job).unwrap();
    // As the wide kernel cuts z and c for the fraction: magnitudes truncated to 40 bits.
    let top = |x: &BigInt| {
        let magnitude = i64::try_from(x.magnitude() >> (frac - 40)).unwrap();
        match x.sign() {
            Sign::Minus => -magnitude,
            _ => magnitude,
        }
    };
    for (x, y) in (0..36).flat_map(|y| (0..48).map(move |x| (x, y))) {
        let c = job.view.point(x, y);
        let (c_re, c_im) = (cases::big(&c.re), cases::big(&c.im));
        let want = match oracle::escape_big_with_z(frac, &c_re, &c_im, limit) {
            (n, Some((re, im))) => (
                n,
                smooth((top(&re), top(&im)), (top(&c_re), top(&c_im)), 40),
            ),
            (n, None) => (n, 0),
        };
        assert_eq!(pixels.escape(x, y), want, "pixel ({x}, {y})");
    }
}

#[test]
fn perturbation_gives_the_fraction_direct_iteration_gives_within_its_rounding() {
    let format = Format::from_bits(128).unwrap();
    let mut job = cases::job_by_centre(
        format,
        cases::LOCATION_1E50,
        "1E12",
        (48, 30),
        3000,
        (48, 30),
    );
    let direct = Pixels::new(&job).unwrap();
    let direct: Vec<_> = (0..30)
        .flat_map(|y| (0..48).map(move |x| (x, y)))
        .map(|(x, y)| direct.escape(x, y))
        .collect();
    job.kernel = Kernel::PerturbationV2;
    let (mut compared, mut escaped) = (0, 0);
    with_reference(&job, |reference| {
        let perturbed = Pixels::perturbed(&job, *reference).unwrap();
        for (i, &(count, fraction)) in direct.iter().enumerate() {
            let (x, y) = (i as u32 % 48, i as u32 / 48);
            let (p_count, p_fraction) = perturbed.escape(x, y);
            if p_count != count {
                continue; // the kernels' counts may differ (perturbation.rs); not the question
            }
            compared += 1;
            escaped += usize::from(count < job.iterations);
            // A unit of 2^-10: a thousandth of an iteration.
            let apart = p_fraction.abs_diff(fraction);
            assert!(
                apart <= 1,
                "pixel ({x}, {y}): {p_fraction} against {fraction}"
            );
        }
    })
    .unwrap();
    assert!(
        compared > 1000 && escaped > 500,
        "{compared} compared, {escaped} escaped"
    );
}
