//! Specifications by example: the tile grid, the wire's limits and refusals, the palettes.
use fixedbrot_core::limits::{MAX_ENCODED_LEN, MAX_FRAME_LEN, MAX_TILE_PIXELS, WIRE_VERSION};
use fixedbrot_core::wire::{
    decode, decode_cobs, encode, encode_cobs, max_encoded_len, peek, Deframer, End, Envelope,
    Framed, Message, Reason, Refusal, TileRequest, TileResult, WireError,
};
use fixedbrot_core::{escape, Format, Grid, JobError, JobId, Palette, Point, Rect, TileIndex};
use fixedbrot_tests::cases::{default_job, job};

fn grid(width: u32, height: u32, tile_width: u32, tile_height: u32) -> Grid {
    Grid {
        width,
        height,
        tile_width,
        tile_height,
    }
}

#[test]
fn a_640x480_image_in_64px_tiles_is_10_by_8_tiles_with_a_clipped_last_row() {
    let g = grid(640, 480, 64, 64);
    assert_eq!((g.columns(), g.rows(), g.tiles()), (10, 8, 80));
    assert_eq!(
        g.rect(TileIndex(0)),
        Some(Rect {
            x: 0,
            y: 0,
            width: 64,
            height: 64
        })
    );
    assert_eq!(
        g.rect(TileIndex(11)),
        Some(Rect {
            x: 64,
            y: 64,
            width: 64,
            height: 64
        })
    );
    assert_eq!(
        g.rect(TileIndex(79)),
        Some(Rect {
            x: 576,
            y: 448,
            width: 64,
            height: 32
        })
    );
    assert_eq!(g.rect(TileIndex(80)), None);
}

#[test]
fn every_pixel_lies_in_exactly_the_tile_that_tile_at_names() {
    for g in [
        grid(640, 480, 64, 64),
        grid(100, 33, 7, 5),
        grid(5, 3, 1, 1),
        grid(1, 1, 64, 64),
        grid(17, 9, 4096, 1),
    ] {
        assert!(g.check().is_ok());
        let mut covered = vec![0u8; g.pixels() as usize];
        for t in 0..g.tiles() {
            let r = g.rect(TileIndex(t)).unwrap();
            assert!(r.pixels() <= MAX_TILE_PIXELS);
            for y in r.y..r.y + r.height {
                for x in r.x..r.x + r.width {
                    covered[(y * g.width + x) as usize] += 1;
                    assert_eq!(g.tile_at(x, y), Some(TileIndex(t)));
                }
            }
        }
        assert!(
            covered.iter().all(|&n| n == 1),
            "{g:?} tiles cover every pixel once"
        );
        assert_eq!(g.tile_at(g.width, 0), None);
    }
}

#[test]
fn tiles_copied_into_an_image_put_every_pixel_in_its_place() {
    for g in [
        grid(640, 480, 64, 64),
        grid(100, 33, 7, 5),
        grid(17, 9, 4096, 1),
    ] {
        // Each pixel's count is its own row-major index, so a misplaced one shows.
        let mut image = vec![u32::MAX; g.pixels() as usize];
        for t in 0..g.tiles() {
            let r = g.rect(TileIndex(t)).unwrap();
            let counts: Vec<u32> = (r.y..r.y + r.height)
                .flat_map(|y| (r.x..r.x + r.width).map(move |x| y * g.width + x))
                .collect();
            assert_eq!(r.copy_into(&counts, &mut image, g.width), Some(()));
        }
        assert!(
            image.iter().enumerate().all(|(i, &c)| c == i as u32),
            "{g:?}"
        );
    }
}

#[test]
fn a_tile_that_does_not_fit_is_not_copied_at_all() {
    let r = Rect {
        x: 60,
        y: 1,
        width: 8,
        height: 2,
    };
    let mut image = vec![0u32; 64 * 3];
    assert_eq!(
        r.copy_into(&[7; 16], &mut image, 64),
        None,
        "past the right edge"
    );
    assert_eq!(
        r.copy_into(&[7; 16], &mut image, 68),
        None,
        "past the bottom"
    );
    assert_eq!(
        r.copy_into(&[7; 15], &mut image, 80),
        None,
        "one count short"
    );
    let far = Rect { y: u32::MAX, ..r };
    assert_eq!(far.copy_into(&[7; 16], &mut image, 80), None, "no overflow");
    assert!(image.iter().all(|&c| c == 0));
}

#[test]
fn grids_refuse_empty_absurd_and_oversized_tiles() {
    assert_eq!(grid(0, 480, 64, 64).check(), Err(JobError::EmptyImage));
    assert_eq!(
        grid(65_536, 480, 64, 64).check(),
        Err(JobError::ImageTooLarge)
    );
    assert_eq!(grid(640, 480, 0, 64).check(), Err(JobError::EmptyTile));
    assert_eq!(grid(640, 480, 65, 64).check(), Err(JobError::TileTooLarge));
    assert_eq!(
        grid(640, 480, 65_536, 65_536).check(),
        Err(JobError::TileTooLarge),
        "no u32 wrap"
    );
    assert_eq!(
        grid(65_535, 65_535, 1, 1).tiles(),
        65_535 * 65_535,
        "the most tiles fit a u32"
    );
}

#[test]
fn the_count_is_the_number_of_steps_taken_and_the_limit_means_inside() {
    let at = |text| Point::from_text(Format::I4F28, text).unwrap();
    // c = 1: z = 0, 1, 2, 5; |5|^2 > 4 is seen before the fourth step.
    assert_eq!(escape(Format::I4F28, at("1,0"), 100), Ok(3));
    assert_eq!(
        escape(Format::I4F28, at("1,0"), 3),
        Ok(3),
        "escaping at the limit looks inside"
    );
    assert_eq!(escape(Format::I4F28, at("0,0"), 1), Ok(1));
    let origin = Point::from_text(Format::I4F60, "0,0").unwrap();
    assert_eq!(escape(Format::I4F60, origin, 7), Ok(7));
}

#[test]
fn the_largest_tile_result_encodes_to_exactly_the_stated_worst_case() {
    // The widest format's view is fixed-length; sides of 65,535 take 3 bytes of the 5 a
    // varint may, so the real worst case sits a few bytes under the stated bound. The
    // longest pixel escapes just before the limit with the largest fraction.
    let mut job = job(
        fixedbrot_tests::cases::wide(4096),
        "-3,3",
        "3,-3",
        (65_535, 65_535),
        u32::MAX,
        (64, 64),
    );
    job.smooth = true;
    let worst = Envelope {
        job_id: JobId(u64::MAX),
        message: Message::Result(TileResult {
            job,
            tile: job.grid.tile_at(64 * 1022, 64 * 1022).unwrap(), // a full tile, far in
            counts: core::iter::repeat_n(u32::MAX - 1, MAX_TILE_PIXELS).collect(),
            smooth: core::iter::repeat_n(u16::MAX, MAX_TILE_PIXELS).collect(),
        }),
    };
    let mut buf = vec![0u8; MAX_FRAME_LEN];
    let len = encode(&worst, &mut buf).unwrap().len();
    assert!(
        len <= MAX_ENCODED_LEN && len > MAX_ENCODED_LEN - 40,
        "{len} vs {MAX_ENCODED_LEN}"
    );
    assert_eq!(max_encoded_len(&worst), MAX_ENCODED_LEN);
    // Every other message of that job, at its longest, fits the room its kind is given.
    let tile = job.grid.tile_at(65_534, 65_534).unwrap();
    for message in [
        Message::Begin(job),
        Message::Request(TileRequest { job, tile }),
        Message::Refused(Refusal {
            tile: Some(tile),
            reason: Reason::TooMuchWork { max_work: u64::MAX },
        }),
    ] {
        let envelope = Envelope {
            job_id: JobId(u64::MAX),
            message,
        };
        let room = max_encoded_len(&envelope);
        assert!(encode(&envelope, &mut buf[..room]).is_ok(), "{envelope:?}");
    }
    assert!(encode_cobs(&worst, &mut buf).unwrap().len() <= MAX_FRAME_LEN);
    assert_eq!(
        encode(&worst, &mut buf[..len - 1]),
        Err(WireError::BufferFull)
    );
}

fn request() -> Envelope {
    Envelope {
        job_id: JobId(7),
        message: Message::Request(TileRequest {
            job: default_job(Format::I4F28, 64),
            tile: TileIndex(3),
        }),
    }
}

fn encoded(envelope: &Envelope) -> Vec<u8> {
    encode(envelope, &mut [0u8; 256]).unwrap().to_vec()
}

#[test]
fn messages_of_another_version_are_refused_but_their_job_can_be_read() {
    let mut bytes = encoded(&request());
    bytes[0] = WIRE_VERSION + 1;
    assert_eq!(
        decode(&bytes),
        Err(WireError::UnsupportedVersion(WIRE_VERSION + 1))
    );
    assert_eq!(peek(&bytes), Some((WIRE_VERSION + 1, JobId(7))));
}

#[test]
fn truncated_and_padded_messages_are_refused() {
    let bytes = encoded(&request());
    assert_eq!(decode(&[]), Err(WireError::Truncated));
    assert_eq!(decode(&bytes[..bytes.len() - 1]), Err(WireError::Truncated));
    let mut padded = bytes.clone();
    padded.push(0);
    assert_eq!(decode(&padded), Err(WireError::TrailingBytes));
}

#[test]
fn a_tile_outside_its_job_is_refused_on_both_sides() {
    let mut envelope = request();
    let Message::Request(r) = &mut envelope.message else {
        unreachable!()
    };
    r.tile = TileIndex(80);
    assert_eq!(
        encode(&envelope, &mut [0u8; 256]),
        Err(WireError::Invalid(JobError::NoSuchTile))
    );
    let mut bytes = encoded(&request());
    let at = bytes.len() - 1;
    bytes[at] = 80; // the tile index is the last varint
    assert_eq!(
        decode(&bytes),
        Err(WireError::Invalid(JobError::NoSuchTile))
    );
}

#[test]
fn a_header_claiming_a_trillion_pixels_is_refused_before_anything_is_allocated() {
    let mut envelope = request();
    let Message::Request(r) = &mut envelope.message else {
        unreachable!()
    };
    r.job.grid.width = 1_000_000;
    r.job.grid.height = 1_000_000;
    // Encode by hand (encode refuses it too) to play a hostile producer.
    let mut bytes = vec![WIRE_VERSION];
    bytes.extend(postcard::to_allocvec(&envelope).unwrap());
    assert_eq!(
        decode(&bytes),
        Err(WireError::Invalid(JobError::ImageTooLarge))
    );
}

#[test]
fn results_whose_counts_do_not_fit_their_tile_are_refused() {
    let job = job(Format::I4F28, "-2,1", "1,-1", (4, 4), 10, (2, 2));
    let result = |counts: &[u32]| {
        let envelope = Envelope {
            job_id: JobId(1),
            message: Message::Result(TileResult {
                job,
                tile: TileIndex(0),
                counts: counts.try_into().unwrap(),
                smooth: heapless::Vec::new(),
            }),
        };
        let mut bytes = vec![WIRE_VERSION];
        bytes.extend(postcard::to_allocvec(&envelope).unwrap());
        decode(&bytes)
    };
    assert!(result(&[1, 2, 3, 10]).is_ok());
    assert_eq!(result(&[1, 2, 3]), Err(WireError::CountsMismatch));
    assert_eq!(
        result(&[1, 2, 3, 11]),
        Err(WireError::CountsMismatch),
        "above the limit"
    );
}

#[test]
fn a_length_prefix_beyond_the_largest_tile_is_refused() {
    let job = job(Format::I4F28, "-2,1", "1,-1", (4, 4), 10, (2, 2));
    let mut head = vec![WIRE_VERSION];
    head.extend(postcard::to_allocvec(&(JobId(1), 2u8, job, TileIndex(0))).unwrap());
    // It claims 2^32 - 1 counts and ends: nothing was reserved for them.
    let mut claim = head.clone();
    claim.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert_eq!(decode(&claim), Err(WireError::Truncated));
    // It carries one count more than the largest tile: the decoder stops at the capacity.
    let mut overfull = head;
    overfull.extend(postcard::to_allocvec(&vec![1u32; MAX_TILE_PIXELS + 1]).unwrap());
    assert_eq!(decode(&overfull), Err(WireError::Malformed));
}

#[test]
fn a_byte_stream_splits_into_decoded_frames_and_a_bad_frame_is_dropped_whole() {
    let mut frames = Deframer::<4>::default();
    let mut out = Vec::new();
    // "ab", delimiters between frames, a frame that decodes to 7 bytes, a length code that
    // runs past its delimiter, then "x\0y", which decodes to 3 bytes with a zero in them.
    for &byte in b"\x03ab\0\0\0\x08abcdefg\0\x05ab\0\x02x\x02y\0" {
        match frames.push(byte) {
            Some(Framed::Frame(frame)) => out.push(Ok(frame.to_vec())),
            Some(Framed::TooLong(_)) => out.push(Err("too long")),
            Some(Framed::Broken) => out.push(Err("not COBS")),
            None => {}
        }
    }
    let expected = [
        Ok(b"ab".to_vec()),
        Err("too long"),
        Err("not COBS"),
        Ok(b"x\0y".to_vec()),
    ];
    assert_eq!(out, expected);
}

#[test]
fn the_frame_reader_gives_what_the_encoder_framed() {
    let envelope = Envelope {
        job_id: JobId(77),
        message: Message::End(End { tiles: 80 }),
    };
    let mut buf = vec![0u8; MAX_FRAME_LEN];
    let frame = encode_cobs(&envelope, &mut buf).unwrap().to_vec();
    let mut frames = Deframer::<MAX_FRAME_LEN>::default();
    let decoded: Vec<Envelope> = [&[0x42, 0][..], &frame, &frame]
        .concat()
        .into_iter()
        .filter_map(|byte| match frames.push(byte) {
            Some(Framed::Frame(bytes)) => decode(bytes).ok(),
            _ => None,
        })
        .collect();
    assert_eq!(decoded, [envelope.clone(), envelope]);
}

#[test]
fn cobs_frames_with_garbage_are_refused() {
    assert_eq!(decode_cobs(&mut []), Err(WireError::Malformed));
    assert_eq!(decode_cobs(&mut [0]), Err(WireError::Truncated));
    assert_eq!(decode_cobs(&mut [0x05, 1, 2, 0]), Err(WireError::Malformed));
}

#[test]
fn classic_is_the_originals_black_and_white() {
    assert_eq!(Palette::Classic.rgb(128, 128), [255, 255, 255]);
    assert_eq!(Palette::Classic.rgb(127, 128), [0, 0, 0]);
    assert_eq!(Palette::Classic.rgb(1, 128), [0, 0, 0]);
}

#[test]
fn azure_is_black_inside_and_colours_every_escape_count() {
    assert_eq!(Palette::Azure.rgb(1000, 1000), [0, 0, 0]);
    let colours: std::collections::HashSet<_> =
        (0..128).map(|n| Palette::Azure.rgb(n, 128)).collect();
    assert!(
        colours.len() > 100,
        "{} distinct colours for 128 counts",
        colours.len()
    );
    assert_eq!(Palette::Azure.rgb(0, u32::MAX), [0, 7, 100]);
    assert_eq!(Palette::Azure.rgb(u32::MAX - 1, u32::MAX).len(), 3);
}

#[test]
fn palettes_are_found_by_their_names() {
    for palette in Palette::ALL {
        assert_eq!(Palette::from_name(palette.name()), Some(palette));
    }
    assert_eq!(Palette::from_name("sepia"), None);
}

#[test]
fn corners_near_the_formats_edge_are_refused_without_overflow() {
    use fixedbrot_core::View;
    // Just below 8 and exactly -8 are the extremes the exact reader takes; rounding them
    // would overflow, so anything beyond ±4 is refused first.
    for (tl, br) in [
        ("-2,7.9999999999", "1,0.5"),
        ("-8,1", "1,-1"),
        ("-2,1", "7.99999999999999999999999,-1"),
    ] {
        for format in [Format::I4F28, Format::I4F60] {
            assert_eq!(
                View::from_corners(format, tl, br, 10, 10),
                Err(JobError::OutOfRange),
                "{tl} {br}"
            );
        }
    }
    assert_eq!(
        Point::from_text(Format::I4F60, "-8,0"),
        Err(JobError::OutOfRange)
    );
    assert_eq!(
        Point::from_text(Format::I4F28, "7.99999999999,0"),
        Err(JobError::OutOfRange)
    );
}

#[test]
fn samples_are_1_to_8_a_side_and_divide_the_grid() {
    let job = fixedbrot_tests::cases::default_job(Format::I4F28, 64);
    let with = |samples: u8, width: u32| fixedbrot_core::Job {
        samples,
        grid: Grid { width, ..job.grid },
        ..job
    };
    assert_eq!(with(2, 640).check(), Ok(()));
    assert_eq!(with(8, 640).check(), Ok(()));
    for (samples, width) in [(0, 640), (9, 639), (3, 640), (2, 639)] {
        assert_eq!(
            with(samples, width).check(),
            Err(JobError::BadSamples),
            "{samples} on {width}"
        );
    }
}
