//! The perturbation kernel's contract (`core/src/perturbation.rs`): a pixel's count is a
//! function of the job alone; with the reference at the pixel itself (δc = 0) it is direct
//! iteration's, in every format; elsewhere it is its own, and agrees with direct iteration
//! wherever the orbit is not chaotic.
use fixedbrot_core::{Format, Grid, Job, Kernel, Pixels, View, Zoom};
use fixedbrot_tests::cases::{self, LOCATION_1E50};
use fixedbrot_tests::with_reference;
use proptest::prelude::*;

/// A job of `kernel` centred on `centre` at `zoom`, `size` pixels square, in the format
/// `--format auto` picks.
fn job(centre: &str, zoom: &str, size: u32, iterations: u32, kernel: Kernel) -> Option<Job> {
    let zoom = Zoom::parse(zoom)?;
    let format = Format::for_zoom(&zoom, size, iterations).ok()?;
    let view = View::from_centre(format, centre, &zoom, size, size).ok()?;
    let grid = Grid {
        width: size,
        height: size,
        tile_width: size.min(64),
        tile_height: size.min(64),
    };
    Some(Job {
        format,
        view,
        grid,
        iterations,
        kernel,
        smooth: false,
        samples: 1,
    })
}

/// The count of pixel (x, y) by the job's kernel.
fn count(job: &Job, x: u32, y: u32) -> u32 {
    match job.kernel {
        Kernel::Direct => Pixels::new(job).unwrap().count(x, y),
        _ => with_reference(job, |reference| {
            Pixels::perturbed(job, *reference).unwrap().count(x, y)
        })
        .unwrap(),
    }
}

/// Both versions of perturbation.
const PERTURBATION: [Kernel; 2] = [Kernel::PerturbationV1, Kernel::PerturbationV2];

/// A point on the main cardioid's boundary at angle `t`, moved by `(dx, dy)`: where orbits
/// are longest and rounding matters most.
fn near_the_cardioid(t: f64, dx: f64, dy: f64) -> String {
    let (re, im) = (
        t.cos() / 2.0 - (2.0 * t).cos() / 4.0 + dx,
        t.sin() / 2.0 - (2.0 * t).sin() / 4.0 + dy,
    );
    format!("{re:.20},{im:.20}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// δc = 0: the reference pixel (the centre) counts exactly as direct iteration does, in
    /// whichever format the zoom needs, for points near the boundary and anywhere.
    #[test]
    fn with_the_reference_at_the_pixel_the_count_is_direct_iterations(
        t in 0.0f64..std::f64::consts::TAU,
        (dx, dy) in (-1e-3f64..1e-3, -1e-3f64..1e-3),
        anywhere in (-2.2f64..0.7, -1.3f64..1.3),
        near in any::<bool>(),
        zoom in prop::sample::select(vec!["1", "1E5", "1E14", "1E20", "1E40", "1E90"]),
        size in 1u32..9,
        iterations in 1u32..4000,
    ) {
        let centre = if near {
            near_the_cardioid(t, dx, dy)
        } else {
            format!("{:.20},{:.20}", anywhere.0, anywhere.1)
        };
        let Some(direct) = job(&centre, zoom, size, iterations, Kernel::Direct) else {
            return Ok(()); // a view the format refuses: outside the safe range
        };
        let (x, y) = fixedbrot_core::reference_pixel(&direct);
        for kernel in PERTURBATION {
            let perturbed = Job { kernel, ..direct };
            prop_assert_eq!(
                count(&perturbed, x, y),
                count(&direct, x, y),
                "{} at {} in {}, {}", centre, zoom, perturbed.format, kernel
            );
        }
    }
}

/// A pixel's count does not depend on the tiles it is computed in: the reference is the
/// image's, not the tile's.
#[test]
fn counts_do_not_depend_on_the_tiling() {
    for kernel in PERTURBATION {
        tiled_as_whole(kernel);
    }
}

fn tiled_as_whole(kernel: Kernel) {
    let centre = format!("{},{}", LOCATION_1E50.0, LOCATION_1E50.1);
    let job = job(&centre, "1E25", 24, 3000, kernel).unwrap();
    let whole = cases::tile_counts(&job, fixedbrot_core::TileIndex(0)).unwrap();
    for (tile_width, tile_height) in [(1, 1), (5, 7), (24, 1)] {
        let tiled = Job {
            grid: Grid {
                tile_width,
                tile_height,
                ..job.grid
            },
            ..job
        };
        let mut image = vec![0; whole.len()];
        for tile in 0..tiled.grid.tiles() {
            let tile = fixedbrot_core::TileIndex(tile);
            let rect = tiled.grid.rect(tile).unwrap();
            let counts = cases::tile_counts(&tiled, tile).unwrap();
            rect.copy_into(&counts, &mut image, 24).unwrap();
        }
        assert_eq!(
            image, whole,
            "{kernel}, tiles of {tile_width}x{tile_height}"
        );
    }
}

/// Away from the reference the counts are perturbation's own, yet on a view deep enough that
/// direct iteration is wide, nearly every pixel agrees with it (BENCHMARKS.md measures how
/// many on larger views).
#[test]
fn most_pixels_agree_with_direct_iteration() {
    let centre = format!("{},{}", LOCATION_1E50.0, LOCATION_1E50.1);
    let direct = job(&centre, "1E20", 32, 20_000, Kernel::Direct).unwrap();
    let b = cases::tile_counts(&direct, fixedbrot_core::TileIndex(0)).unwrap();
    for kernel in PERTURBATION {
        let perturbed = Job { kernel, ..direct };
        let a = cases::tile_counts(&perturbed, fixedbrot_core::TileIndex(0)).unwrap();
        let same = a.iter().zip(&b).filter(|(a, b)| a == b).count();
        assert!(
            same * 100 >= a.len() * 95,
            "{kernel}: {same} of {} pixels agree",
            a.len()
        );
    }
}

/// A point a hair outside the escape circle escapes, however far below the reference's bits
/// the hair is: at the needle's tip the reference sits on the circle for good, and the left
/// half of the view (c < -2) escapes at once, as direct iteration and the exact orbit say.
#[test]
fn a_hair_outside_the_circle_escapes_at_any_depth() {
    for zoom in ["1E20", "1E100", "1E1200"] {
        let direct = job("-2,0", zoom, 16, 1000, Kernel::Direct).unwrap();
        let expected = cases::tile_counts(&direct, fixedbrot_core::TileIndex(0)).unwrap();
        assert!(expected.iter().filter(|&&count| count == 1).count() >= 16 * 8);
        for kernel in PERTURBATION {
            let perturbed = Job { kernel, ..direct };
            let counts = cases::tile_counts(&perturbed, fixedbrot_core::TileIndex(0)).unwrap();
            assert_eq!(counts, expected, "{kernel} at {zoom}");
        }
    }
}
