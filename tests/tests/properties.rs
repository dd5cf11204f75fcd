//! Property tests: the invariants of the kernel, the geometry and the codecs, over random
//! inputs. They run in debug builds, so any arithmetic overflow would panic here.
use fixedbrot_core::limits::{MAX_ENCODED_LEN, MAX_FRAME_LEN, MAX_SIDE, WIRE_VERSION};
use fixedbrot_core::wire::{
    decode, decode_cobs, decode_request, decode_result, encode, encode_cobs, encode_pixel,
    encode_refusal_cobs, encode_request, encode_result_head, max_encoded_len, peek, Envelope,
    Message, TileRequest, WireError, MAX_PIXEL_LEN,
};
use fixedbrot_core::{
    escape, escape_lanes, render_tile, render_tile_in_lanes, Fixed, Format, JobError, Point,
    TileIndex, View, LANES,
};
use fixedbrot_tests::{oracle, strategies};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_message_round_trips(envelope in strategies::envelope()) {
        let mut buf = vec![0u8; MAX_FRAME_LEN];
        let bytes = encode(&envelope, &mut buf).unwrap().to_vec();
        prop_assert!(bytes.len() <= max_encoded_len(&envelope));
        prop_assert!(bytes.len() <= MAX_ENCODED_LEN);
        prop_assert_eq!(decode(&bytes), Ok(envelope.clone()));
        prop_assert_eq!(peek(&bytes), Some((WIRE_VERSION, envelope.job_id)));
        let mut frame = encode_cobs(&envelope, &mut buf).unwrap().to_vec();
        prop_assert!(frame.len() <= MAX_FRAME_LEN);
        prop_assert_eq!(frame.iter().filter(|&&b| b == 0).count(), 1, "one delimiter, at the end");
        prop_assert_eq!(decode_cobs(&mut frame), Ok(envelope));
    }

    /// Whatever decode_result accepts, decode accepts as the same result; and it accepts
    /// every result encode makes. Checked on each message and on a copy with one byte changed.
    #[test]
    fn a_result_read_without_its_envelope_is_the_one_decode_reads(
        envelope in strategies::envelope(),
        (at, xor) in (any::<usize>(), 1..=255u8),
    ) {
        let mut buf = vec![0u8; MAX_FRAME_LEN];
        let mut bytes = encode(&envelope, &mut buf).unwrap().to_vec();
        let is_result = matches!(envelope.message, Message::Result(_));
        prop_assert_eq!(decode_result(&bytes).is_some(), is_result);
        agree_on_result(&bytes)?;
        let at = at % bytes.len();
        bytes[at] ^= xor;
        agree_on_result(&bytes)?;
    }

    #[test]
    fn a_refusal_encodes_alike_with_or_without_an_envelope(envelope in strategies::envelope()) {
        if let Message::Refused(refusal) = &envelope.message {
            let (mut whole, mut alone) = (vec![0u8; MAX_FRAME_LEN], vec![0u8; MAX_FRAME_LEN]);
            prop_assert_eq!(
                encode_refusal_cobs(envelope.job_id, refusal, &mut alone).unwrap(),
                encode_cobs(&envelope, &mut whole).unwrap()
            );
        }
    }

    #[test]
    fn a_request_encodes_alike_with_or_without_an_envelope(envelope in strategies::envelope()) {
        if let Message::Request(request) = &envelope.message {
            let (mut whole, mut alone) = (vec![0u8; MAX_FRAME_LEN], vec![0u8; MAX_FRAME_LEN]);
            prop_assert_eq!(
                encode_request(envelope.job_id, request, &mut alone).unwrap(),
                encode(&envelope, &mut whole).unwrap()
            );
        }
    }

    #[test]
    fn decode_request_agrees_with_decode(envelope in strategies::envelope()) {
        let mut buf = vec![0u8; MAX_FRAME_LEN];
        let bytes = encode(&envelope, &mut buf).unwrap().to_vec();
        match (&envelope.message, decode_request(&bytes)) {
            (Message::Request(request), Ok((job_id, decoded))) => {
                prop_assert_eq!(job_id, envelope.job_id);
                prop_assert_eq!(&decoded, request);
            }
            (Message::Request(_), Err(e)) => prop_assert!(false, "a request refused: {e}"),
            (_, result) => prop_assert_eq!(result.err(), Some(WireError::NotARequest)),
        }
    }

    #[test]
    fn a_streamed_result_is_byte_for_byte_the_whole_result(envelope in strategies::envelope()) {
        let Message::Result(result) = &envelope.message else { return Ok(()) };
        let mut buf = vec![0u8; MAX_FRAME_LEN];
        let whole = encode(&envelope, &mut buf).unwrap().to_vec();
        let request = TileRequest { job: result.job, tile: result.tile };
        let mut streamed = encode_result_head(envelope.job_id, &request, &mut buf).unwrap().to_vec();
        for (i, &count) in result.counts.iter().enumerate() {
            let fraction = result.smooth.get(i).copied();
            streamed.extend_from_slice(encode_pixel(count, fraction, &mut [0; MAX_PIXEL_LEN]));
        }
        prop_assert_eq!(streamed, whole);
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode(&bytes);
        let _ = decode_request(&bytes);
        let _ = peek(&bytes);
        let _ = decode_cobs(&mut bytes.clone());
        let mut versioned = bytes.clone();
        versioned.insert(0, 1);
        let _ = decode(&versioned);
    }

    #[test]
    fn decode_never_panics_on_damaged_messages(
        envelope in strategies::envelope(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        let mut buf = vec![0u8; MAX_FRAME_LEN];
        let mut bytes = encode(&envelope, &mut buf).unwrap().to_vec();
        let len = bytes.len();
        prop_assert!(decode(&bytes[..cut % len]).is_err(), "a strict prefix never decodes");
        for (at, value) in flips {
            bytes[at % len] ^= value;
        }
        // Whatever still decodes passed the same checks as any message.
        if let Ok(decoded) = decode(&bytes) {
            prop_assert!(decoded.check().is_ok());
        }
    }

    /// Periodicity and the trapped-orbit certificate stop the loop early for points that
    /// never escape; they must not change one count, at any limit, least of all where orbits
    /// take longest to settle: by the boundary, and inside by the cusp.
    #[test]
    fn the_kernel_equals_the_plain_loop_near_the_cardioid_and_the_bulb(
        (format, c) in strategies::format().prop_flat_map(|f| {
            (Just(f), strategies::settling(f))
        }),
        limit in prop_oneof![1..2_000u32, 2_000..=100_000u32],
    ) {
        let plain = oracle::escape(format.frac_bits(), c.re.into(), c.im.into(), limit);
        prop_assert_eq!(escape(format, c, limit).unwrap(), plain, "{:?}", c);
    }

    #[test]
    fn the_kernel_equals_the_plain_loop_anywhere(
        (format, c) in strategies::format().prop_flat_map(|f| (Just(f), strategies::interesting_point(f))),
        limit in prop_oneof![1..2_000u32, 2_000..=100_000u32],
    ) {
        let plain = oracle::escape(format.frac_bits(), c.re.into(), c.im.into(), limit);
        prop_assert_eq!(escape(format, c, limit).unwrap(), plain, "{:?}", c);
    }

    #[test]
    fn batched_kernel_equals_scalar(
        format in strategies::format(),
        seeds in proptest::collection::vec((any::<bool>(), any::<u64>(), any::<u64>()), LANES),
        limit in 1..600u32,
    ) {
        let bound = format.safe_raw() as u64;
        let low = Point::from_text(format, "-2.2,-1.2").unwrap();
        let c: [Point; LANES] = core::array::from_fn(|i| {
            let (anywhere, a, b) = seeds[i];
            if anywhere {
                Point { re: (a % (2 * bound + 1)) as i64 - bound as i64, im: (b % (2 * bound + 1)) as i64 - bound as i64 }
            } else {
                // Mostly near the set, where lanes finish at different steps.
                Point { re: low.re + (a % (bound / 30 * 32)) as i64, im: low.im + (b % (bound / 30 * 24)) as i64 }
            }
        });
        let scalar: Vec<u32> = c.iter().map(|&p| escape(format, p, limit).unwrap()).collect();
        prop_assert_eq!(escape_lanes(format, &c, limit).unwrap().to_vec(), scalar);
    }

    #[test]
    fn tile_rendering_equals_per_point_rendering_on_every_path((job, tile) in strategies::job_and_tile(300, 300)) {
        for render in [render_tile, render_tile_in_lanes] {
            let mut counts = vec![u32::MAX; fixedbrot_core::limits::MAX_TILE_PIXELS + 1];
            let rect = render(&job, tile, &mut counts, &mut []).unwrap();
            prop_assert_eq!(job.grid.rect(tile), Some(rect));
            for (i, &count) in counts[..rect.pixels()].iter().enumerate() {
                let (x, y) = (rect.x + i as u32 % rect.width, rect.y + i as u32 / rect.width);
                let c = job.view.narrow().unwrap().point(x, y);
                prop_assert_eq!(count, escape(job.format, c, job.iterations).unwrap(), "pixel ({}, {})", x, y);
            }
            prop_assert_eq!(counts[rect.pixels()], u32::MAX, "nothing written past the tile");
        }
    }

    #[test]
    fn any_point_in_the_safe_range_runs_without_overflow(
        (format, c) in strategies::format().prop_flat_map(|f| (Just(f), strategies::point(f))),
        limit in 1..400u32,
    ) {
        let count = escape(format, c, limit).unwrap();
        prop_assert!((1..=limit).contains(&count), "z = 0 never escapes, so a count is at least 1");
    }

    #[test]
    fn points_outside_the_safe_range_are_refused(format in strategies::format(), excess in 1..1_000_000i64, sign in any::<bool>()) {
        let bound = format.safe_raw();
        let re = if sign { bound + excess } else { -bound - excess };
        prop_assert_eq!(escape(format, Point { re, im: 0 }, 10), Err(JobError::OutOfRange));
        prop_assert_eq!(escape(format, Point { re: 0, im: re }, 10), Err(JobError::OutOfRange));
    }

    #[test]
    fn refused_views_are_refused_for_a_reason(
        format in strategies::format(),
        corners in [-40_000i64..40_000, -40_000..40_000, -40_000..40_000, -40_000..40_000],
        scale in 0u32..20,
        width in 0u32..70_000,
        height in 0u32..70_000,
    ) {
        // Corners are corners[i] / 10^scale: a decimal text, and its exact value as a fraction.
        let text = |m: i64| {
            let digits = format!("{:0>width$}", m.unsigned_abs(), width = scale as usize + 1);
            let (int, frac) = digits.split_at(digits.len() - scale as usize);
            format!("{}{int}.{frac}0", if m < 0 { "-" } else { "" })
        };
        let [left, top, right, bottom] = corners;
        let tl = format!("{},{}", text(left), text(top));
        let br = format!("{},{}", text(right), text(bottom));
        let ten = 10i128.pow(scale);
        let frac = format.frac_bits();
        // The step, span / size, rounds to zero when span·2^frac < size / 2, i.e. 2·span·2^frac < size·10^scale.
        let unresolvable = |span: i64, size: u32| (2 * i128::from(span)) << frac < i128::from(size) * ten;
        let outside = |m: i64| i128::from(m).abs() > 3 * ten;
        match View::from_corners(format, &tl, &br, width, height) {
            Ok(view) => {
                prop_assert!(view.check(format, width, height).is_ok());
                let narrow = view.narrow().unwrap();
                prop_assert!(narrow.step_x > 0 && narrow.step_y > 0);
                prop_assert!(!outside(left) && !outside(top), "an accepted origin lies in range");
            }
            Err(JobError::BadCorner) => prop_assert!(corners.iter().any(|&m| i128::from(m).abs() >= 8 * ten)),
            Err(JobError::EmptyImage) => prop_assert!(width == 0 || height == 0),
            Err(JobError::ImageTooLarge) => prop_assert!(width > MAX_SIDE || height > MAX_SIDE),
            Err(JobError::NotLeftToRight) => prop_assert!(right <= left),
            Err(JobError::NotTopToBottom) => prop_assert!(bottom >= top),
            Err(JobError::UnresolvableX) => prop_assert!(unresolvable(right - left, width)),
            Err(JobError::UnresolvableY) => prop_assert!(unresolvable(top - bottom, height)),
            Err(JobError::OutOfRange) => {
                // The last pixel is right - step and bottom + step; rounding moves it by under one step.
                let (w, h) = (i128::from(width), i128::from(height));
                let last_re = i128::from(right) * w - i128::from(right - left);   // × w
                let last_im = i128::from(bottom) * h + i128::from(top - bottom); // × h
                let beyond = |v: i128, size: i128| v.abs() > 3 * ten * size - 2 * ten;
                let corner_beyond_4 = corners.iter().any(|&m| i128::from(m).abs() > 4 * ten);
                prop_assert!(corner_beyond_4 || outside(left) || outside(top) || beyond(last_re, w) || beyond(last_im, h),
                    "{tl} {br} {width}x{height} is in range");
            }
            Err(other) => prop_assert!(false, "unexpected refusal {other:?} for {tl} {br}"),
        }
    }
}

#[test]
fn render_tile_refuses_what_it_cannot_do() {
    let job = fixedbrot_tests::cases::default_job(Format::I4F28, 64);
    let mut small = [0u32; 100];
    assert_eq!(
        render_tile(&job, TileIndex(0), &mut small, &mut []),
        Err(JobError::BufferTooSmall)
    );
    let mut buf = [0u32; 4096];
    assert_eq!(
        render_tile(&job, TileIndex(80), &mut buf, &mut []),
        Err(JobError::NoSuchTile)
    );
    let mut bad = job;
    bad.view.step_x = Fixed::from_i64(job.format.width(), -1);
    assert_eq!(
        render_tile(&bad, TileIndex(0), &mut buf, &mut []),
        Err(JobError::NotLeftToRight)
    );
}

proptest! {
    // Sixteen plain loops of up to 20,000 steps a case, in a debug build.
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn the_lanes_equal_the_plain_loop_near_the_cardioid_and_the_bulb(
        (format, c) in strategies::format().prop_flat_map(|f| {
            (Just(f), proptest::collection::vec(strategies::near_the_boundary(f), LANES))
        }),
        limit in prop_oneof![1..2_000u32, 2_000..=20_000u32],
    ) {
        lanes_equal_the_plain_loop(format, c, limit)?;
    }
}

/// The lanes' counts of `c` (one point a lane) are the plain loop's.
fn lanes_equal_the_plain_loop(
    format: Format,
    c: Vec<Point>,
    limit: u32,
) -> Result<(), TestCaseError> {
    let c: [Point; LANES] = c.try_into().unwrap();
    let plain: Vec<u32> = c
        .iter()
        .map(|p| oracle::escape(format.frac_bits(), p.re.into(), p.im.into(), limit))
        .collect();
    prop_assert_eq!(escape_lanes(format, &c, limit).unwrap().to_vec(), plain);
    Ok(())
}

/// If `decode_result` reads `bytes` as a result, `decode` reads the same result.
fn agree_on_result(bytes: &[u8]) -> Result<(), TestCaseError> {
    let Some(view) = decode_result(bytes) else {
        return Ok(());
    };
    let Ok(Envelope {
        job_id,
        message: Message::Result(result),
    }) = decode(bytes)
    else {
        return Err(TestCaseError::fail(format!(
            "decode_result read {bytes:?} as a result, decode did not"
        )));
    };
    prop_assert_eq!(view.job_id, job_id);
    prop_assert_eq!(view.job, result.job);
    prop_assert_eq!(view.tile, result.tile);
    prop_assert_eq!(view.len(), result.counts.len());
    prop_assert!(view.counts().eq(result.counts.iter().copied()));
    let fractions = (0..result.counts.len()).map(|i| result.smooth.get(i).copied().unwrap_or(0));
    prop_assert!(view.pixels().map(|(_, fraction)| fraction).eq(fractions));
    Ok(())
}

proptest! {
    // A plain loop of up to a million steps a case: few cases, where a certificate that a
    // point is trapped (trap.rs) fires and periodicity would not have.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_kernel_equals_the_plain_loop_to_a_million_steps(
        (format, c) in strategies::format().prop_flat_map(|f| {
            (Just(f), strategies::settling(f))
        }),
        limit in 100_000..=1_000_000u32,
    ) {
        let plain = oracle::escape(format.frac_bits(), c.re.into(), c.im.into(), limit);
        prop_assert_eq!(escape(format, c, limit).unwrap(), plain, "{:?}", c);
    }

    #[test]
    fn the_lanes_equal_the_plain_loop_to_a_million_steps(
        (format, c) in strategies::format().prop_flat_map(|f| {
            (Just(f), proptest::collection::vec(strategies::settling(f), LANES))
        }),
        limit in 100_000..=1_000_000u32,
    ) {
        lanes_equal_the_plain_loop(format, c, limit)?;
    }
}
