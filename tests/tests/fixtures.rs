//! Fixture regression: the kernel, the geometry and the codecs reproduce every file in
//! `fixtures/` (written only by `just fixtures`).
use fixedbrot_core::limits::MAX_FRAME_LEN;
use fixedbrot_core::wire::{decode, decode_cobs, encode, encode_cobs};
use fixedbrot_core::{escape, escape_wide, Fixed, Kernel, Point, WidePoint, Width};
use fixedbrot_tests::cases::{self, format_named};
use fixedbrot_tests::{digest, render_image, table};

#[test]
fn kernel_reproduces_every_point() {
    let rows = table::read("points.tsv");
    assert!(
        rows.len() >= 100,
        "points fixture is too small: {}",
        rows.len()
    );
    for row in rows {
        let format = format_named(&row[1]);
        let c = Point {
            re: row[2].parse().unwrap(),
            im: row[3].parse().unwrap(),
        };
        let limit = row[4].parse().unwrap();
        let expected: u32 = row[5].parse().unwrap();
        assert_eq!(
            escape(format, c, limit),
            Ok(expected),
            "{} in {format}, limit {limit}",
            row[0]
        );
    }
}

/// The smooth fractions of jobs that ask for them, and their counts, on every machine: this
/// test runs on x86-64 and under qemu-aarch64; the boards' test holds the firmware to them.
#[test]
fn the_kernels_reproduce_every_smooth_tile() {
    let rows = table::read("smooth.tsv");
    assert!(
        rows.len() >= 20,
        "smooth fixture is too small: {}",
        rows.len()
    );
    let numbers =
        |column: &String| -> Vec<u32> { column.split(',').map(|n| n.parse().unwrap()).collect() };
    for row in rows {
        let kernel = Kernel::from_name(&row[1]).expect("a kernel");
        let (mut job, tile) = cases::tile_from_inputs(&row[2..13], kernel);
        job.smooth = true;
        let fractions = numbers(&row[14]).into_iter().map(|f| f as u16).collect();
        assert_eq!(
            cases::tile_pixels(&job, tile, true).unwrap(),
            (numbers(&row[13]), fractions),
            "{}",
            row[0]
        );
    }
}

/// The wide kernel's counts, on every machine: this test runs on x86-64 and under
/// qemu-aarch64, in 64-bit words; the firmware's 32-bit words are held to them by a unit test.
#[test]
fn the_wide_kernel_reproduces_every_point() {
    let rows = table::read("wide.tsv");
    assert!(
        rows.len() >= 20,
        "wide fixture is too small: {}",
        rows.len()
    );
    for row in rows {
        let width = Width::from_bits(row[1].parse().unwrap()).unwrap();
        let c = WidePoint {
            re: Fixed::from_decimal(width, &row[2]).unwrap(),
            im: Fixed::from_decimal(width, &row[3]).unwrap(),
        };
        let limit = row[4].parse().unwrap();
        let expected: u32 = row[5].parse().unwrap();
        assert_eq!(
            escape_wide(&c, limit),
            expected,
            "{} at {} bits, limit {limit}",
            row[0],
            row[1]
        );
    }
}

#[test]
fn views_from_text_reproduce_every_fixture() {
    for row in table::read("views.tsv") {
        assert_eq!(cases::view_outcome(&row[..5]), row[5], "view {row:?}");
    }
}

#[test]
fn tile_kernel_reproduces_every_tile() {
    let rows = table::read("tiles.tsv");
    assert!(rows.len() >= 8);
    for row in rows {
        let (job, tile) = cases::tile_from_inputs(&row[1..12], Kernel::Direct);
        let counts = cases::tile_counts(&job, tile).expect("fixture tile renders");
        assert_eq!(cases::join(&counts), row[12], "tile {}", row[0]);
    }
}

#[test]
fn the_perturbation_kernel_reproduces_every_tile() {
    let rows = table::read("perturbed.tsv");
    assert!(rows.len() >= 12);
    for row in rows {
        let kernel = Kernel::from_name(&row[1]).expect("a kernel");
        let (job, tile) = cases::tile_from_inputs(&row[2..13], kernel);
        let counts = cases::tile_counts(&job, tile).expect("fixture tile renders");
        assert_eq!(cases::join(&counts), row[13], "tile {}, {kernel}", row[0]);
    }
}

#[test]
fn codecs_reproduce_every_message_byte_for_byte() {
    let fixtures = table::read("wire.tsv");
    let mut buf = vec![0u8; MAX_FRAME_LEN];
    for (label, envelope) in cases::messages() {
        for encoding in ["postcard", "cobs"] {
            let row = fixtures
                .iter()
                .find(|row| row[0] == label && row[1] == encoding)
                .unwrap_or_else(|| panic!("no {encoding} fixture for {label}"));
            let mut bytes = cases::unhex(&row[2]);
            let (encoded, decoded) = if encoding == "postcard" {
                (
                    encode(&envelope, &mut buf).unwrap().to_vec(),
                    decode(&bytes),
                )
            } else {
                (
                    encode_cobs(&envelope, &mut buf).unwrap().to_vec(),
                    decode_cobs(&mut bytes),
                )
            };
            assert_eq!(
                cases::hex(&encoded),
                row[2],
                "{label} encodes to the {encoding} fixture"
            );
            assert_eq!(
                decoded,
                Ok(envelope.clone()),
                "{label} decodes from the {encoding} fixture"
            );
        }
    }
}

#[test]
fn whole_images_reproduce_their_digests() {
    let fixtures = table::read("digests.tsv");
    for (label, job) in cases::images() {
        let row = fixtures
            .iter()
            .find(|row| row[0] == label)
            .unwrap_or_else(|| panic!("no digest fixture for {label}"));
        assert_eq!(row[1], job.format.to_string());
        assert_eq!(digest(&render_image(&job)), row[5], "{label}");
    }
}
