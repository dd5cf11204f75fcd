//! proptest strategies for valid jobs and messages of every kind.
use fixedbrot_core::limits::MAX_TILE_PIXELS;
use fixedbrot_core::wire::{End, Envelope, Message, Reason, Refusal, TileRequest, TileResult};
use fixedbrot_core::{Format, Grid, Job, JobId, Kernel, NarrowView, Point, TileIndex};
use proptest::prelude::*;

/// Either format.
pub fn format() -> impl Strategy<Value = Format> {
    prop_oneof![Just(Format::I4F28), Just(Format::I4F60)]
}

/// A point anywhere in the safe range.
pub fn point(format: Format) -> impl Strategy<Value = Point> {
    let bound = format.safe_raw();
    (-bound..=bound, -bound..=bound).prop_map(|(re, im)| Point { re, im })
}

/// A point of the default view, where orbits are long and the boundary is.
pub fn interesting_point(format: Format) -> impl Strategy<Value = Point> {
    let low = Point::from_text(format, "-2.2,-1.2").unwrap();
    let high = Point::from_text(format, "1.0,1.2").unwrap();
    (low.re..=high.re, low.im..=high.im).prop_map(|(re, im)| Point { re, im })
}

/// A point from 0 to a few ulps off the boundary of the main cardioid or of the period-2
/// bulb, on either side, mostly near the cusp at 0.25 and the junction at -0.75: where a point
/// inside iterates longest and where a shortcut that is not exact would show.
pub fn near_the_boundary(format: Format) -> impl Strategy<Value = Point> {
    use std::f64::consts::PI;
    // Angle 0 is the cusp on the cardioid and the junction on the bulb; π is the junction on
    // the cardioid.
    // 2π/3 and π/2 are where the period-3 and period-4 bulbs meet the cardioid.
    let angle = prop_oneof![
        1 => Just(0.0),
        1 => Just(PI),
        2 => -0.05..0.05f64,
        2 => (PI - 0.05)..(PI + 0.05),
        1 => (2.0 * PI / 3.0 - 0.01)..(2.0 * PI / 3.0 + 0.01),
        1 => (PI / 2.0 - 0.01)..(PI / 2.0 + 0.01),
        1 => 0.0..(2.0 * PI),
    ];
    let on_the_bulb = prop_oneof![3 => Just(false), 2 => Just(true)];
    (angle, on_the_bulb, -6i64..=6, -6i64..=6).prop_map(move |(t, bulb, d_re, d_im)| {
        // The cardioid is e^it / 2 - e^2it / 4; the bulb, the circle of radius 1/4 about -1,
        // meets it at -0.75. f64 resolves them to 2^-53: a fraction of an ulp of I4F28, about
        // 2^7 ulps of I4F60, whose exact cusp and junction the angles 0 and π still hit.
        // sin π is not 0 in f64, and the exact cusp and junction are on the real axis.
        let sin = |a: f64| if a % PI == 0.0 { 0.0 } else { a.sin() };
        let (re, im) = if bulb {
            (-1.0 + 0.25 * t.cos(), 0.25 * sin(t))
        } else {
            (
                0.5 * t.cos() - 0.25 * (2.0 * t).cos(),
                0.5 * sin(t) - 0.25 * sin(2.0 * t),
            )
        };
        let scale = (1u64 << format.frac_bits()) as f64;
        Point {
            re: (re * scale).round() as i64 + d_re,
            im: (im * scale).round() as i64 + d_im,
        }
    })
}

/// A point inside the cardioid by the cusp, `0.25 - δ` with δ from one ulp to 2^-6 and a
/// small imaginary part: the multiplier is nearly 1 there, and orbits creep to their fixed
/// point for longest.
pub fn inside_by_the_cusp(format: Format) -> impl Strategy<Value = Point> {
    let frac = format.frac_bits();
    (6..frac, 1i64..1024, -64i64..=64).prop_map(move |(depth, m, im)| {
        let quarter = 1i64 << (frac - 2);
        Point {
            re: quarter - (m << (frac - depth)).max(1) / 1024 - 1,
            im,
        }
    })
}

/// Where orbits take longest to settle: [`near_the_boundary`] or [`inside_by_the_cusp`].
pub fn settling(format: Format) -> impl Strategy<Value = Point> {
    prop_oneof![near_the_boundary(format), inside_by_the_cusp(format)]
}

/// A valid job with sides up to `max_side` and iteration limits up to `max_iterations`.
pub fn job(max_side: u32, max_iterations: u32) -> impl Strategy<Value = Job> {
    (
        format(),
        1..=max_side,
        1..=max_side,
        1..=64u32,
        1..=64u32,
        1..=max_iterations,
        any::<[u64; 4]>(),
    )
        .prop_map(|(format, width, height, tw, th, iterations, r)| {
            let bound = format.safe_raw();
            // Steps small enough that the whole image fits the safe range, origins placed so
            // it does: the strategy makes only valid jobs, spread over all of them.
            let max_step = |size: u32| (2 * bound / i64::from(size.max(2) - 1)) as u64;
            let step_x = 1 + (r[0] % max_step(width)) as i64;
            let step_y = 1 + (r[1] % max_step(height)) as i64;
            let room_x = (2 * bound - i64::from(width - 1) * step_x) as u64 + 1;
            let room_y = (2 * bound - i64::from(height - 1) * step_y) as u64 + 1;
            let view = NarrowView {
                origin_re: -bound + (r[2] % room_x) as i64,
                origin_im: bound - (r[3] % room_y) as i64,
                step_x,
                step_y,
            }
            .in_format(format);
            // Tiles of up to 64×64 pixels: at most MAX_TILE_PIXELS.
            let grid = Grid {
                width,
                height,
                tile_width: tw,
                tile_height: th,
            };
            Job {
                format,
                view,
                grid,
                iterations,
                kernel: Kernel::Direct,
                smooth: false,
                samples: 1,
            }
        })
}

/// A valid job and one of its tiles.
pub fn job_and_tile(max_side: u32, max_iterations: u32) -> impl Strategy<Value = (Job, TileIndex)> {
    (job(max_side, max_iterations), any::<u32>())
        .prop_map(|(job, t)| (job, TileIndex(t % job.grid.tiles())))
}

/// A valid message of any kind.
pub fn envelope() -> impl Strategy<Value = Envelope> {
    let result = (job_and_tile(65_535, u32::MAX), any::<u64>(), any::<bool>()).prop_map(
        |((mut job, tile), seed, smooth)| {
            job.smooth = smooth;
            let pixels = job.grid.rect(tile).unwrap().pixels();
            let mut state = seed;
            let mut next = move || {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                state >> 32
            };
            let counts = (0..pixels)
                .map(|_| next() as u32 % job.iterations.saturating_add(1).max(1))
                .collect::<heapless::Vec<u32, MAX_TILE_PIXELS>>();
            // A fraction for each pixel that escaped, 0 for each inside, if the job asks.
            let fractions = counts.iter().map(|&count| match count < job.iterations {
                true => next() as u16,
                false => 0,
            });
            let smooth = match smooth {
                true => fractions.collect(),
                false => heapless::Vec::new(),
            };
            Message::Result(TileResult {
                job,
                tile,
                counts,
                smooth,
            })
        },
    );
    let reason = prop_oneof![
        any::<u8>().prop_map(Reason::UnsupportedVersion),
        Just(Reason::Undecodable),
        Just(Reason::InvalidJob),
        any::<u32>().prop_map(|max_pixels| Reason::TileTooLarge { max_pixels }),
        any::<u64>().prop_map(|max_work| Reason::TooMuchWork { max_work }),
    ];
    let message = prop_oneof![
        job(65_535, u32::MAX).prop_map(Message::Begin),
        job_and_tile(65_535, u32::MAX)
            .prop_map(|(job, tile)| Message::Request(TileRequest { job, tile })),
        result,
        any::<u32>().prop_map(|tiles| Message::End(End { tiles })),
        (
            proptest::option::of(any::<u32>().prop_map(TileIndex)),
            reason
        )
            .prop_map(|(tile, reason)| Message::Refused(Refusal { tile, reason })),
    ];
    (any::<u64>(), message).prop_map(|(id, message)| Envelope {
        job_id: JobId(id),
        message,
    })
}
