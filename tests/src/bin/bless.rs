//! Regenerates `fixtures/` from the cases in `fixedbrot_tests::cases` (`just fixtures`).
//!
//! Before writing, every point and tile count is checked against the independent oracle, so a
//! fixture never pins a kernel bug. A change in what this writes is a change to the product.
use fixedbrot_core::wire::{encode, encode_cobs};
use fixedbrot_core::{
    escape, escape_wide, limits::MAX_FRAME_LEN, reference_pixel, Fixed, Grid, Job, Kernel, Point,
    TileIndex, WidePoint, Width,
};
use fixedbrot_tests::cases::{self, FORMATS};
use fixedbrot_tests::{digest, oracle, render_image, table};

fn main() -> std::io::Result<()> {
    table::write(
        "points.tsv",
        "Escape counts of single points, both formats (`just fixtures` writes this file).\n\
         label, format, re and im raw bits, iteration limit, expected count",
        &points(),
    )?;
    table::write(
        "wide.tsv",
        "Escape counts of points in the wide formats, read from exact decimals (`just fixtures`).\n\
         label, bits, re, im, iteration limit, expected count",
        &wide_points(),
    )?;
    table::write(
        "views.tsv",
        "Decimal views turned into raw bits by View::from_corners, or why they are refused.\n\
         format, top-left, bottom-right, width, height, outcome (origin re, origin im, step x, step y)",
        &cases::VIEWS
            .iter()
            .map(|case| {
                let mut row = case.inputs();
                let outcome = cases::view_outcome(&row);
                row.push(outcome);
                row
            })
            .collect::<Vec<_>>(),
    )?;
    table::write(
        "tiles.tsv",
        "Tiles rendered by render_tile, row-major counts.\n\
         label, format, origin re, origin im, step x, step y (raw bits), width, height,\n\
         tile width, tile height, iterations, tile index, counts",
        &tiles(),
    )?;
    table::write(
        "perturbed.tsv",
        "Tiles rendered by the perturbation kernels, row-major counts.\n\
         label, kernel, then tiles.tsv's columns. Each tile's reference pixel counts as direct\n\
         iteration.",
        &perturbed_tiles(),
    )?;
    table::write(
        "smooth.tsv",
        "Tiles of jobs that ask for smooth fractions: row-major counts and fractions (units of\n\
         2^-10, `core/src/smooth.rs`). label, kernel, then tiles.tsv's columns, then fractions.\n\
         Direct tiles are checked against the oracle's escaped z.",
        &smooth_tiles(),
    )?;
    table::write(
        "wire.tsv",
        "The exact bytes of every message kind (see fixedbrot_tests::cases::messages).\n\
         label, encoding (postcard or cobs), hex bytes",
        &wire(),
    )?;
    table::write(
        "digests.tsv",
        "SHA-256 of whole images' counts as little-endian u32, row-major.\n\
         label, format, width, height, iterations, sha256",
        &cases::images()
            .into_iter()
            .map(|(label, job)| {
                vec![
                    label.to_owned(),
                    job.format.to_string(),
                    job.grid.width.to_string(),
                    job.grid.height.to_string(),
                    job.iterations.to_string(),
                    digest(&render_image(&job)),
                ]
            })
            .collect::<Vec<_>>(),
    )?;
    println!("fixtures written to {}", table::dir().display());
    Ok(())
}

fn points() -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for format in FORMATS {
        for &(label, text) in cases::POINTS {
            let c = Point::from_text(format, text).expect("point in range");
            for limit in cases::POINT_LIMITS {
                let count = escape(format, c, limit).expect("in range");
                let expected = oracle::escape(format.frac_bits(), c.re.into(), c.im.into(), limit);
                assert_eq!(
                    count, expected,
                    "kernel and oracle disagree on {label} in {format}"
                );
                rows.push(vec![
                    label.to_owned(),
                    format.to_string(),
                    c.re.to_string(),
                    c.im.to_string(),
                    limit.to_string(),
                    count.to_string(),
                ]);
            }
        }
    }
    rows
}

fn wide_points() -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for case in cases::WIDE_POINTS {
        let (label, re, im) = (case.label, case.re, case.im);
        for &bits in case.widths {
            let width = Width::from_bits(bits).expect("a wide format");
            let c = WidePoint {
                re: Fixed::from_decimal(width, re).expect("a decimal"),
                im: Fixed::from_decimal(width, im).expect("a decimal"),
            };
            for &limit in case.limits {
                let count = escape_wide(&c, limit);
                let (big_re, big_im) = (cases::big(&c.re), cases::big(&c.im));
                let expected = oracle::escape_big(width.frac_bits(), &big_re, &big_im, limit);
                assert_eq!(
                    count, expected,
                    "kernel and oracle disagree on {label} at {bits}"
                );
                let row = [label, &bits.to_string(), re, im, &limit.to_string()];
                let mut row: Vec<String> = row.iter().map(|s| s.to_string()).collect();
                row.push(count.to_string());
                rows.push(row);
            }
        }
    }
    rows
}

fn tiles() -> Vec<Vec<String>> {
    cases::tiles()
        .into_iter()
        .map(|(label, job, tile)| {
            let counts = cases::tile_counts(&job, tile).expect("tile");
            let rect = job.grid.rect(tile).expect("tile in job");
            let expected: Vec<u32> = (0..rect.pixels() as u32)
                .map(|i| {
                    let c = job
                        .view
                        .point(rect.x + i % rect.width, rect.y + i / rect.width);
                    let (re, im) = (cases::big(&c.re), cases::big(&c.im));
                    oracle::escape_big(job.format.frac_bits(), &re, &im, job.iterations)
                })
                .collect();
            assert_eq!(
                counts, expected,
                "kernel and oracle disagree on tile {label}"
            );
            let mut row = vec![label.to_owned()];
            row.extend(cases::tile_inputs(&job, tile));
            row.push(cases::join(&counts));
            row
        })
        .collect()
}

/// Perturbation has no oracle but its own definition; what bless checks is the exact property,
/// that the reference pixel's count is direct iteration's.
fn perturbed_tiles() -> Vec<Vec<String>> {
    let versions = [Kernel::PerturbationV1, Kernel::PerturbationV2];
    cases::perturbed_tiles()
        .into_iter()
        .flat_map(|(label, job, tile)| versions.map(|kernel| (label, Job { kernel, ..job }, tile)))
        .map(|(label, job, tile)| {
            let counts = cases::tile_counts(&job, tile).expect("tile");
            let (x, y) = reference_pixel(&job);
            let direct = Job {
                kernel: Kernel::Direct,
                ..job
            };
            let at = |job: &Job| {
                let grid = job.grid;
                let tiled = Job {
                    grid: Grid {
                        tile_width: 1,
                        tile_height: 1,
                        ..grid
                    },
                    ..*job
                };
                cases::tile_counts(&tiled, TileIndex(y * grid.width + x)).expect("pixel")[0]
            };
            assert_eq!(at(&job), at(&direct), "the reference pixel of {label}");
            let mut row = vec![label.to_owned(), job.kernel.to_string()];
            row.extend(cases::tile_inputs(&job, tile));
            row.push(cases::join(&counts));
            row
        })
        .collect()
}

/// The tiles of tiles.tsv and perturbed.tsv (perturbation-v2), asking for fractions; direct
/// ones checked pixel by pixel against the oracle.
fn smooth_tiles() -> Vec<Vec<String>> {
    let direct = cases::tiles().into_iter();
    let perturbed = cases::perturbed_tiles()
        .into_iter()
        .map(|(label, job, tile)| {
            let kernel = Kernel::PerturbationV2;
            (label, Job { kernel, ..job }, tile)
        });
    direct
        .chain(perturbed)
        .map(|(label, job, tile)| {
            let job = Job {
                smooth: true,
                ..job
            };
            let (counts, fractions) = cases::tile_pixels(&job, tile, true).expect("tile");
            if job.kernel == Kernel::Direct {
                let rect = job.grid.rect(tile).expect("tile in job");
                for (i, pixel) in counts.iter().zip(&fractions).enumerate() {
                    let i = i as u32;
                    let c = job
                        .view
                        .point(rect.x + i % rect.width, rect.y + i / rect.width);
                    let (re, im) = (cases::big(&c.re), cases::big(&c.im));
                    let frac = job.format.frac_bits();
                    let expected = oracle::escape_smooth_big(frac, &re, &im, job.iterations);
                    assert_eq!(
                        (*pixel.0, *pixel.1),
                        expected,
                        "kernel and oracle disagree on pixel {i} of {label}"
                    );
                }
            }
            let mut row = vec![label.to_owned(), job.kernel.to_string()];
            row.extend(cases::tile_inputs(&job, tile));
            row.push(cases::join(&counts));
            let fractions: Vec<u32> = fractions.iter().map(|&f| f.into()).collect();
            row.push(cases::join(&fractions));
            row
        })
        .collect()
}

fn wire() -> Vec<Vec<String>> {
    let mut buf = vec![0u8; MAX_FRAME_LEN];
    let mut rows = Vec::new();
    for (label, envelope) in cases::messages() {
        let bytes = cases::hex(encode(&envelope, &mut buf).expect("encodes"));
        rows.push(vec![label.to_owned(), "postcard".to_owned(), bytes]);
        let frame = cases::hex(encode_cobs(&envelope, &mut buf).expect("encodes"));
        rows.push(vec![label.to_owned(), "cobs".to_owned(), frame]);
    }
    rows
}
