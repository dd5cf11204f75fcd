//! The tile kernel for the CPU this process runs on: the core's lanes compiled for AVX-512 and
//! for AVX2, chosen at run time, so a plain `cargo build --release` uses the vector units; and
//! the perturbation kernel compiled for the same features (their `lzcnt` and BMI2 shifts).
use fixedbrot_core::smooth::Smooth;
use fixedbrot_core::{Job, JobError, Kernel, Rect, Reference, TileIndex};

use crate::orbits;

/// Renders one tile with the widest lanes this CPU has, and each pixel's smooth fraction into
/// `smooth` unless it is empty; the counts and fractions are the core's, bit for bit, on every
/// path (a test holds them to it). A perturbation job's tiles are computed
/// against its reference orbit, computed once a process within `max_orbit_bytes`
/// ([`orbits`]).
pub fn render_tile(
    job: &Job,
    tile: TileIndex,
    out: &mut [u32],
    smooth: &mut [Smooth],
    max_orbit_bytes: u64,
) -> Result<Rect, JobError> {
    match job.kernel {
        Kernel::Direct => render_direct(job, tile, out, smooth),
        Kernel::PerturbationV1 | Kernel::PerturbationV2 => {
            let orbit = orbits::get(job, max_orbit_bytes)?;
            render_perturbed(job, &orbit.reference(), tile, out, smooth)
        }
    }
}

fn render_direct(
    job: &Job,
    tile: TileIndex,
    out: &mut [u32],
    smooth: &mut [Smooth],
) -> Result<Rect, JobError> {
    match Lanes::detect() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: detect() saw the CPU run every feature these functions are compiled for.
        Lanes::Avx512 => unsafe { x86::render_tile_avx512(job, tile, out, smooth) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Lanes::Avx2 => unsafe { x86::render_tile_avx2(job, tile, out, smooth) },
        // Never detected off x86-64 (an aarch64 host, say): the build's own kernel.
        #[cfg(not(target_arch = "x86_64"))]
        Lanes::Avx512 | Lanes::Avx2 => fixedbrot_core::render_tile(job, tile, out, smooth),
        Lanes::Build => fixedbrot_core::render_tile(job, tile, out, smooth),
    }
}

fn render_perturbed(
    job: &Job,
    reference: &Reference,
    tile: TileIndex,
    out: &mut [u32],
    smooth: &mut [Smooth],
) -> Result<Rect, JobError> {
    match Lanes::detect() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: detect() saw the CPU run every feature these functions are compiled for.
        Lanes::Avx512 => unsafe {
            x86::render_tile_perturbed_avx512(job, reference, tile, out, smooth)
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Lanes::Avx2 => unsafe {
            x86::render_tile_perturbed_avx2(job, reference, tile, out, smooth)
        },
        #[cfg(not(target_arch = "x86_64"))]
        Lanes::Avx512 | Lanes::Avx2 => {
            fixedbrot_core::render_tile_perturbed(job, reference, tile, out, smooth)
        }
        Lanes::Build => fixedbrot_core::render_tile_perturbed(job, reference, tile, out, smooth),
    }
}

/// Which vectors the kernel's lanes use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lanes {
    /// x86-64-v4: 512-bit vectors, 64-bit shifts and compares into mask registers.
    Avx512,
    /// x86-64-v3: 256-bit vectors with the signed 32x32->64 multiply.
    Avx2,
    /// Whatever this build's target features give: lanes if it was built for AVX2, else
    /// point by point.
    Build,
}

impl Lanes {
    /// The widest lanes this CPU runs. The standard library caches what the CPU reports, so
    /// asking per tile costs a load.
    pub fn detect() -> Lanes {
        #[cfg(target_arch = "x86_64")]
        {
            if x86::AVX512.iter().all(|&f| f()) {
                return Lanes::Avx512;
            }
            if x86::AVX2.iter().all(|&f| f()) {
                return Lanes::Avx2;
            }
        }
        Lanes::Build
    }

    /// For the log: what computes the tiles.
    pub fn describe(self) -> &'static str {
        match self {
            Lanes::Avx512 => "AVX-512 lanes",
            Lanes::Avx2 => "AVX2 lanes",
            Lanes::Build if cfg!(target_feature = "avx2") => "lanes of this build",
            Lanes::Build => "point by point",
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use fixedbrot_core::smooth::Smooth;
    use fixedbrot_core::{
        render_tile_in_lanes, render_tile_perturbed, Job, JobError, Rect, Reference, TileIndex,
    };

    /// The features of x86-64-v4 that `render_tile_avx512` is compiled for: those of
    /// `render_tile_avx2` and AVX-512's foundation and the subsets every AVX-512 CPU has.
    pub(super) const AVX512: [fn() -> bool; 6] = [
        || AVX2.iter().all(|&f| f()),
        || is_x86_feature_detected!("avx512f"),
        || is_x86_feature_detected!("avx512bw"),
        || is_x86_feature_detected!("avx512cd"),
        || is_x86_feature_detected!("avx512dq"),
        || is_x86_feature_detected!("avx512vl"),
    ];

    /// The features of x86-64-v3 that `render_tile_avx2` is compiled for.
    pub(super) const AVX2: [fn() -> bool; 7] = [
        || is_x86_feature_detected!("avx2"),
        || is_x86_feature_detected!("bmi1"),
        || is_x86_feature_detected!("bmi2"),
        || is_x86_feature_detected!("fma"),
        || is_x86_feature_detected!("lzcnt"),
        || is_x86_feature_detected!("popcnt"),
        || is_x86_feature_detected!("movbe"),
    ];

    #[target_feature(
        enable = "avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx2,bmi1,bmi2,fma,lzcnt,popcnt,movbe"
    )]
    pub(super) fn render_tile_avx512(
        job: &Job,
        tile: TileIndex,
        out: &mut [u32],
        smooth: &mut [Smooth],
    ) -> Result<Rect, JobError> {
        render_tile_in_lanes(job, tile, out, smooth)
    }

    #[target_feature(enable = "avx2,bmi1,bmi2,fma,lzcnt,popcnt,movbe")]
    pub(super) fn render_tile_avx2(
        job: &Job,
        tile: TileIndex,
        out: &mut [u32],
        smooth: &mut [Smooth],
    ) -> Result<Rect, JobError> {
        render_tile_in_lanes(job, tile, out, smooth)
    }

    #[target_feature(
        enable = "avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx2,bmi1,bmi2,fma,lzcnt,popcnt,movbe"
    )]
    pub(super) fn render_tile_perturbed_avx512(
        job: &Job,
        reference: &Reference,
        tile: TileIndex,
        out: &mut [u32],
        smooth: &mut [Smooth],
    ) -> Result<Rect, JobError> {
        render_tile_perturbed(job, reference, tile, out, smooth)
    }

    #[target_feature(enable = "avx2,bmi1,bmi2,fma,lzcnt,popcnt,movbe")]
    pub(super) fn render_tile_perturbed_avx2(
        job: &Job,
        reference: &Reference,
        tile: TileIndex,
        out: &mut [u32],
        smooth: &mut [Smooth],
    ) -> Result<Rect, JobError> {
        render_tile_perturbed(job, reference, tile, out, smooth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixedbrot_core::{Format, Pixels};
    use fixedbrot_tests::cases::job;

    /// Each pixel of `tile`'s counts and smooth fractions as `Pixels` gives them, point by
    /// point: what every path must return.
    fn expected(pixels: &Pixels, rect: Rect) -> (Vec<u32>, Vec<Smooth>) {
        (rect.y..rect.y + rect.height)
            .flat_map(|y| (rect.x..rect.x + rect.width).map(move |x| (x, y)))
            .map(|(x, y)| pixels.escape(x, y))
            .unzip()
    }

    /// What `render` gives, with the fractions and without: the counts must be the same.
    fn both(
        render: impl Fn(&mut [u32], &mut [Smooth]) -> Result<Rect, JobError>,
        rect: Rect,
    ) -> (Vec<u32>, Vec<Smooth>) {
        let (mut counts, mut alone, mut smooth) = (
            vec![0; rect.pixels()],
            vec![0; rect.pixels()],
            vec![0; rect.pixels()],
        );
        assert_eq!(render(&mut counts, &mut smooth), Ok(rect));
        assert_eq!(render(&mut alone, &mut []), Ok(rect));
        assert_eq!(counts, alone, "counts with and without the fractions");
        (counts, smooth)
    }

    /// Every path of the perturbation kernel this CPU can run returns the core's counts and
    /// fractions.
    #[test]
    fn every_perturbation_path_returns_the_cores_counts() {
        let mut job = fixedbrot_tests::cases::job_by_centre(
            Format::from_bits(128).unwrap(),
            fixedbrot_tests::cases::LOCATION_1E50,
            "1E25",
            (48, 30),
            3000,
            (13, 11),
        );
        job.kernel = fixedbrot_core::Kernel::PerturbationV2;
        let orbit = orbits::Orbit::compute(&job).unwrap();
        let reference = orbit.reference();
        let mut paths = vec![("build", fixedbrot_core::render_tile_perturbed as Perturbed)];
        paths.push(("detected", render_perturbed));
        #[cfg(target_arch = "x86_64")]
        {
            if Lanes::detect() == Lanes::Avx512 {
                paths.push(("avx512", |j, r, t, o, s| unsafe {
                    x86::render_tile_perturbed_avx512(j, r, t, o, s)
                }));
            }
            if matches!(Lanes::detect(), Lanes::Avx512 | Lanes::Avx2) {
                paths.push(("avx2", |j, r, t, o, s| unsafe {
                    x86::render_tile_perturbed_avx2(j, r, t, o, s)
                }));
            }
        }
        let pixels = Pixels::perturbed(&job, reference).unwrap();
        for tile in 0..job.grid.tiles() {
            let tile = TileIndex(tile);
            let rect = job.grid.rect(tile).unwrap();
            let expected = expected(&pixels, rect);
            for (name, kernel) in &paths {
                let got = both(|o, s| kernel(&job, &reference, tile, o, s), rect);
                assert_eq!(got, expected, "{name}, tile {}", tile.0);
            }
        }
    }

    type Perturbed =
        fn(&Job, &Reference, TileIndex, &mut [u32], &mut [Smooth]) -> Result<Rect, JobError>;

    /// Every path this CPU can run, against the core's point-by-point counts and fractions,
    /// in every kind of format.
    #[test]
    fn every_kernel_path_returns_the_cores_counts() {
        let wide = Format::from_bits(160).unwrap();
        for format in [Format::I4F28, Format::I4F60, wide] {
            // The default view, small, with odd tiles so lanes are left over, and a limit long
            // enough for cycles to be found in the interior.
            let job = job(format, "-2.2,1.2", "1.0,-1.2", (160, 120), 600, (37, 29));
            let mut paths = vec![("build", fixedbrot_core::render_tile as Kernel)];
            paths.push(("lanes", fixedbrot_core::render_tile_in_lanes));
            paths.push(("detected", render_direct));
            #[cfg(target_arch = "x86_64")]
            {
                if Lanes::detect() == Lanes::Avx512 {
                    paths.push(("avx512", |j, t, o, s| unsafe {
                        x86::render_tile_avx512(j, t, o, s)
                    }));
                }
                if matches!(Lanes::detect(), Lanes::Avx512 | Lanes::Avx2) {
                    paths.push(("avx2", |j, t, o, s| unsafe {
                        x86::render_tile_avx2(j, t, o, s)
                    }));
                }
            }
            let pixels = Pixels::new(&job).unwrap();
            for tile in 0..job.grid.tiles() {
                let tile = TileIndex(tile);
                let rect = job.grid.rect(tile).unwrap();
                let expected = expected(&pixels, rect);
                for (name, kernel) in &paths {
                    let got = both(|o, s| kernel(&job, tile, o, s), rect);
                    assert_eq!(got, expected, "{name}, {format}, tile {}", tile.0);
                }
            }
        }
    }

    type Kernel = fn(&Job, TileIndex, &mut [u32], &mut [Smooth]) -> Result<Rect, JobError>;
}
