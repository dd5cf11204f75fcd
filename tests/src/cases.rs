//! The cases the fixtures pin, and how each becomes a fixture row.
//!
//! `bless` computes rows from these; the tests recompute each row from the inputs stored in
//! the file and compare with the output stored beside them.
use fixedbrot_core::smooth::Smooth;
use fixedbrot_core::wire::{End, Envelope, Message, Reason, Refusal, TileRequest, TileResult};
use fixedbrot_core::{
    render_tile, render_tile_perturbed, Fixed, Format, Grid, Job, JobError, JobId, Kernel,
    NarrowView, TileIndex, View,
};

/// Both formats, in the order fixtures list them.
pub const FORMATS: [Format; 2] = [Format::I4F28, Format::I4F60];

/// The format named in a fixture file.
pub fn format_named(name: &str) -> Format {
    Format::from_name(name).unwrap_or_else(|| panic!("unknown format {name}"))
}

/// Points of the plane worth pinning, as `RE,IM` text, with why.
pub const POINTS: &[(&str, &str)] = &[
    ("cardioid centre", "0,0"),
    ("period-2 bulb centre", "-1,0"),
    (
        "needle tip: z = -2, 2, 2, ... with |z|^2 = 4, never > 4",
        "-2,0",
    ),
    ("just past the needle tip", "-2.00000001,0"),
    ("cardioid cusp, converges slowly", "0.25,0"),
    ("just outside the cusp, escapes slowly", "0.2501,0"),
    ("seahorse valley", "-0.75,0.1"),
    ("Misiurewicz point i, boundary", "0,1"),
    ("period-3 bulb", "-0.122,0.745"),
    ("elephant valley", "0.2925,0.0149"),
    ("boundary of the period-2 bulb", "-1.25,0"),
    ("outside on the real axis", "0.5,0"),
    ("far outside", "2.5,2.5"),
    ("safe range corner, top-left", "-3,3"),
    ("safe range corner, top-right", "3,3"),
    ("safe range corner, bottom-left", "-3,-3"),
    ("safe range corner, bottom-right", "3,-3"),
    ("safe range edge, real axis left", "-3,0"),
];

/// Iteration limits each point is pinned at.
pub const POINT_LIMITS: [u32; 3] = [1, 128, 1000];

/// A view from text, as a person gives it, and what it becomes.
pub struct ViewCase {
    /// Format, top-left, bottom-right, width, height.
    pub format: Format,
    /// `RE,IM` text.
    pub top_left: &'static str,
    /// `RE,IM` text.
    pub bottom_right: &'static str,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
}

const fn view(
    format: Format,
    top_left: &'static str,
    bottom_right: &'static str,
    width: u32,
    height: u32,
) -> ViewCase {
    ViewCase {
        format,
        top_left,
        bottom_right,
        width,
        height,
    }
}

/// The wide format of `bits` bits, for a case.
pub const fn wide(bits: u32) -> Format {
    match Format::from_bits(bits) {
        Some(format @ Format::Wide(_)) => format,
        _ => panic!("not a wide format"),
    }
}

/// Views worth pinning: the default, deep zooms, and every reason to refuse one.
pub const VIEWS: &[ViewCase] = &[
    view(wide(96), SEAHORSE_TL, SEAHORSE_BR, 16, 16),
    view(wide(128), "-2.2,1.2", "1.0,-1.2", 640, 480),
    view(wide(192), SEAHORSE_1E40_TL, SEAHORSE_1E40_BR, 100, 100),
    view(wide(96), SEAHORSE_1E40_TL, SEAHORSE_1E40_BR, 100, 100),
    view(wide(4096), "-3,3", "3,-3", 1, 1),
    view(wide(96), "-3.00000001,3", "3,-3", 600, 600),
    view(Format::I4F28, "-2.2,1.2", "1.0,-1.2", 640, 480),
    view(Format::I4F60, "-2.2,1.2", "1.0,-1.2", 640, 480),
    view(Format::I4F60, SEAHORSE_TL, SEAHORSE_BR, 16, 16),
    view(Format::I4F28, SEAHORSE_TL, SEAHORSE_BR, 16, 16),
    view(Format::I4F28, "-3,3", "3,-3", 600, 600),
    view(Format::I4F28, "-3,3", "3.5,-3.5", 1, 1),
    view(Format::I4F28, "-3,3", "3.5,-3.5", 2, 2),
    view(Format::I4F28, "-3.00000001,3", "3,-3", 600, 600),
    view(Format::I4F28, "1.0,-1.2", "-2.2,1.2", 640, 480),
    view(Format::I4F28, "-2.2,-1.2", "1.0,1.2", 640, 480),
    view(Format::I4F28, "-2.2;1.2", "1.0,-1.2", 640, 480),
    view(Format::I4F28, "-2.2,1.2", "1.0,x", 640, 480),
    view(Format::I4F28, "-9,1.2", "1.0,-1.2", 640, 480),
    view(Format::I4F28, "-2.2,1.2", "1.0,-1.2", 0, 480),
    view(Format::I4F28, "-2.2,1.2", "1.0,-1.2", 640, 65_536),
    view(Format::I4F28, " -2.2 , 1.2 ", "+1.0,-1.2", 640, 480),
];

const SEAHORSE_TL: &str =
    "-0.743643887037158704752191506114774,0.131825904205311970493132056385139";
const SEAHORSE_BR: &str =
    "-0.743643887037158604752191506114774,0.131825904205311870493132056385139";

/// A view 1e-34 wide by seahorse valley: past I4F60 and the 124 bits corners used to be
/// read to.
const SEAHORSE_1E40_TL: &str =
    "-0.743643887037158704752191506114774,0.131825904205311970493132056385139";
const SEAHORSE_1E40_BR: &str =
    "-0.743643887037158704752191506114773,0.131825904205311970493132056385138";

impl ViewCase {
    /// The case's fixture columns: its inputs.
    pub fn inputs(&self) -> Vec<String> {
        vec![
            self.format.to_string(),
            self.top_left.to_owned(),
            self.bottom_right.to_owned(),
            self.width.to_string(),
            self.height.to_string(),
        ]
    }
}

/// What [`View::from_corners`] makes of a row's inputs, as the fixture's last column says it.
pub fn view_outcome(inputs: &[String]) -> String {
    let format = format_named(&inputs[0]);
    let result = View::from_corners(
        format,
        &inputs[1],
        &inputs[2],
        inputs[3].parse().expect("width"),
        inputs[4].parse().expect("height"),
    );
    match result {
        Ok(view) => view_numbers(format, &view).join(" "),
        Err(e) => format!("refused: {e:?}"),
    }
}

/// A view's four numbers as fixtures write them: raw bits for a narrow format, exact
/// decimals for a wide one, whose bits are no `i64`.
pub fn view_numbers(format: Format, view: &View) -> [String; 4] {
    match (format, view.narrow()) {
        (Format::I4F28 | Format::I4F60, Some(v)) => {
            [v.origin_re, v.origin_im, v.step_x, v.step_y].map(|raw| raw.to_string())
        }
        _ => [view.origin_re, view.origin_im, view.step_x, view.step_y].map(|x| x.to_string()),
    }
}

/// The original's default job in a format, cut into `tile`×`tile` tiles.
pub fn default_job(format: Format, tile: u32) -> Job {
    job(
        format,
        "-2.2,1.2",
        "1.0,-1.2",
        (640, 480),
        128,
        (tile, tile),
    )
}

/// A checked job from text; panics on a bad case (test data, not input).
pub fn job(
    format: Format,
    top_left: &str,
    bottom_right: &str,
    (width, height): (u32, u32),
    iterations: u32,
    (tile_width, tile_height): (u32, u32),
) -> Job {
    let view = View::from_corners(format, top_left, bottom_right, width, height).expect("view");
    checked(
        format,
        view,
        (width, height),
        iterations,
        (tile_width, tile_height),
    )
}

/// A direct job of `view`; panics if it is not valid (test data, not input).
fn checked(
    format: Format,
    view: View,
    (width, height): (u32, u32),
    iterations: u32,
    (tile_width, tile_height): (u32, u32),
) -> Job {
    let job = Job {
        format,
        view,
        grid: Grid {
            width,
            height,
            tile_width,
            tile_height,
        },
        iterations,
        kernel: Kernel::Direct,
        smooth: false,
        samples: 1,
    };
    job.check().expect("a valid job");
    job
}

/// Seahorse valley 1e-16 wide in I4F60, 16x16 at 2,000 iterations: a deep zoom of the
/// narrow formats.
fn seahorse_1e16() -> Job {
    job(
        Format::I4F60,
        SEAHORSE_TL,
        SEAHORSE_BR,
        (16, 16),
        2000,
        (16, 16),
    )
}

/// Tiles worth pinning: corners, the set's interior, clipped edges, a deep zoom, 1×1.
pub fn tiles() -> Vec<(&'static str, Job, TileIndex)> {
    let default = default_job(Format::I4F28, 64);
    let odd = job(Format::I4F28, "-2,1.5", "1,-1.5", (100, 33), 256, (7, 5));
    let deep = seahorse_1e16();
    let single = job(
        Format::I4F28,
        "-2.2,1.2",
        "1.0,-1.2",
        (640, 480),
        128,
        (1, 1),
    );
    vec![
        (
            "default view, first tile (all outside)",
            default,
            TileIndex(0),
        ),
        (
            "default view, tile over the cardioid",
            default,
            TileIndex(34),
        ),
        (
            "default view, last tile, clipped to 64x32",
            default,
            TileIndex(79),
        ),
        (
            "default view in I4F60, cardioid",
            default_job(Format::I4F60, 64),
            TileIndex(34),
        ),
        (
            "7x5 tiles on 100x33, last tile clipped to 2x3",
            odd,
            TileIndex(odd.grid.tiles() - 1),
        ),
        ("7x5 tiles on 100x33, a middle tile", odd, TileIndex(50)),
        (
            "I4F60 deep zoom in seahorse valley, 1e-16 wide",
            deep,
            TileIndex(0),
        ),
        (
            "1x1 tile of pixel (290, 240)",
            single,
            TileIndex(240 * 640 + 290),
        ),
        (
            "the 1e50 location at 224 bits, the centre's tile",
            location_1e50(wide(224), (32, 24), 500, (8, 8)),
            TileIndex(4 + 2),
        ),
        (
            "I4F92 in seahorse valley, 1e-16 wide, as I4F60's tile",
            job(wide(96), SEAHORSE_TL, SEAHORSE_BR, (16, 16), 2000, (16, 16)),
            TileIndex(0),
        ),
        (
            "1,024 bits, a 4x4 tile by the 1e50 location, zoomed out to 1e20",
            job_by_centre(wide(1024), LOCATION_1E50, "1E20", (8, 8), 300, (4, 4)),
            TileIndex(3),
        ),
        (
            "4,096 bits, a 2x2 tile by the 1e50 location",
            location_1e50(wide(4096), (4, 4), 60, (2, 2)),
            TileIndex(3),
        ),
    ]
}

/// Perturbation tiles worth pinning (`perturbed.tsv`): deep locations with the reference in
/// view, one whose reference repeats, one whose reference escapes at once (every pixel
/// rebases), a narrow format, and tiles away from the reference.
pub fn perturbed_tiles() -> Vec<(&'static str, Job, TileIndex)> {
    let perturbed = |job: Job| Job {
        kernel: Kernel::PerturbationV1,
        ..job
    };
    let auto = |centre, zoom, size: (u32, u32), iterations, tile| {
        let parsed = fixedbrot_core::Zoom::parse(zoom).expect("zoom");
        let format = Format::for_zoom(&parsed, size.1, iterations).expect("format");
        perturbed(job_by_centre(format, centre, zoom, size, iterations, tile))
    };
    vec![
        (
            "the 1e50 location, 32x24 at 2,000 iterations, the reference's tile",
            auto(LOCATION_1E50, "1E50", (32, 24), 2000, (8, 8)),
            TileIndex(6),
        ),
        (
            "the 1e50 location at its own 263,010 iterations, where BLA's radii decide counts",
            auto(LOCATION_1E50, "1E50", (64, 36), 263_010, (4, 4)),
            TileIndex(101),
        ),
        (
            "the 1e50 location zoomed out to 1e20, 20,000 iterations, a corner",
            auto(LOCATION_1E50, "1E20", (32, 24), 20_000, (8, 8)),
            TileIndex(0),
        ),
        (
            "rust-fractal-core's 5e227 location, 10,000 iterations",
            auto(LOCATION_5E227, "5E227", (16, 9), 10_000, (16, 9)),
            TileIndex(0),
        ),
        (
            "seahorse valley 1e-16 wide in I4F60, perturbed",
            perturbed(seahorse_1e16()),
            TileIndex(0),
        ),
        (
            "seahorse valley at 1e15, 5,000 iterations: δ large, where BLA's ε shows",
            auto(SEAHORSE, "1E15", (200, 20), 5000, (20, 20)),
            TileIndex(3),
        ),
        (
            "the needle's tip at 1e100: the reference is on the circle, pixels a hair outside",
            auto(("-2", "0"), "1E100", (8, 8), 500, (8, 8)),
            TileIndex(0),
        ),
        (
            "by the needle's tip at 1e26: the reference passes a hair inside the circle",
            auto(
                ("-1.9999999999999999999999", "0.000000000001"),
                "1E26",
                (100, 10),
                3000,
                (10, 10),
            ),
            TileIndex(4),
        ),
        (
            "just outside the needle's tip at 1e24: the reference escapes at once, pixels outlive it",
            auto(
                ("-2.0000000000000000000000001", "0"),
                "1E24",
                (32, 18),
                200,
                (16, 9),
            ),
            TileIndex(3),
        ),
        (
            "outside the set at 0.5+0.5i, 1e12: the reference escapes, every pixel rebases",
            auto(("0.5", "0.5"), "1E12", (12, 12), 1000, (12, 12)),
            TileIndex(0),
        ),
    ]
}

/// A tile's fixture columns: the job, its view in raw bits (exact decimals for a wide
/// format, whose bits are no `i64`), and the tile index.
pub fn tile_inputs(job: &Job, tile: TileIndex) -> Vec<String> {
    let g = job.grid;
    let [origin_re, origin_im, step_x, step_y] = view_numbers(job.format, &job.view);
    [
        job.format.to_string(),
        origin_re,
        origin_im,
        step_x,
        step_y,
        g.width.to_string(),
        g.height.to_string(),
        g.tile_width.to_string(),
        g.tile_height.to_string(),
        job.iterations.to_string(),
        tile.0.to_string(),
    ]
    .into()
}

/// The job and tile of a tile row's inputs, of `kernel` (the file's).
pub fn tile_from_inputs(inputs: &[String], kernel: Kernel) -> (Job, TileIndex) {
    let n = |i: usize| -> i64 { inputs[i].parse().expect("number") };
    let format = format_named(&inputs[0]);
    let view = match format {
        Format::Wide(width) => {
            let x = |i: usize| Fixed::from_decimal(width, &inputs[i]).expect("exact decimal");
            View {
                origin_re: x(1),
                origin_im: x(2),
                step_x: x(3),
                step_y: x(4),
            }
        }
        narrow => NarrowView {
            origin_re: n(1),
            origin_im: n(2),
            step_x: n(3),
            step_y: n(4),
        }
        .in_format(narrow),
    };
    let job = Job {
        format,
        view,
        grid: Grid {
            width: n(5) as u32,
            height: n(6) as u32,
            tile_width: n(7) as u32,
            tile_height: n(8) as u32,
        },
        iterations: n(9) as u32,
        kernel,
        smooth: false,
        samples: 1,
    };
    (job, TileIndex(n(10) as u32))
}

/// A tile's counts, rendered by the core with the job's kernel.
pub fn tile_counts(job: &Job, tile: TileIndex) -> Result<Vec<u32>, JobError> {
    Ok(tile_pixels(job, tile, false)?.0)
}

/// A tile's counts, and their smooth fractions if `smooth` (else none), rendered by the core
/// with the job's kernel.
pub fn tile_pixels(
    job: &Job,
    tile: TileIndex,
    smooth: bool,
) -> Result<(Vec<u32>, Vec<Smooth>), JobError> {
    let mut counts = vec![0; fixedbrot_core::limits::MAX_TILE_PIXELS];
    let mut fractions = vec![0; if smooth { counts.len() } else { 0 }];
    let rect = match job.kernel {
        Kernel::Direct => render_tile(job, tile, &mut counts, &mut fractions)?,
        _ => crate::with_reference(job, |reference| {
            render_tile_perturbed(job, reference, tile, &mut counts, &mut fractions)
        })??,
    };
    counts.truncate(rect.pixels());
    fractions.truncate(rect.pixels());
    Ok((counts, fractions))
}

/// Counts as a fixture column.
pub fn join(counts: &[u32]) -> String {
    counts
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// One message of every kind, as the wire fixture pins them.
pub fn messages() -> Vec<(&'static str, Envelope)> {
    let job_id = JobId(0x0123_4567_89ab_cdef);
    let default = default_job(Format::I4F28, 64);
    let small = job(Format::I4F60, "-2,1.5", "1,-1.5", (6, 4), 64, (3, 2));
    let tile = TileIndex(3);
    let counts = tile_counts(&small, tile).expect("tile");
    let deep = location_1e50(wide(192), (4, 2), 40, (2, 2));
    let deep_counts = tile_counts(&deep, TileIndex(1)).expect("tile");
    let perturbed = Job {
        kernel: Kernel::PerturbationV1,
        ..deep
    };
    let perturbed_counts = tile_counts(&perturbed, TileIndex(1)).expect("tile");
    let smooth = Job {
        smooth: true,
        ..small
    };
    let (smooth_counts, fractions) = tile_pixels(&smooth, tile, true).expect("tile");
    let envelope = |message| Envelope { job_id, message };
    // Tile 1 of a deep job: its request, and its result with `counts`.
    let request = |label, job| {
        let tile = TileIndex(1);
        (label, envelope(Message::Request(TileRequest { job, tile })))
    };
    let result = |label, job, counts: &[u32]| {
        let counts = counts.try_into().expect("fits");
        let tile = TileIndex(1);
        (
            label,
            envelope(Message::Result(TileResult {
                job,
                tile,
                counts,
                smooth: heapless::Vec::new(),
            })),
        )
    };
    vec![
        ("begin", envelope(Message::Begin(default))),
        (
            "request",
            envelope(Message::Request(TileRequest {
                job: default,
                tile: TileIndex(34),
            })),
        ),
        (
            "result",
            envelope(Message::Result(TileResult {
                job: small,
                tile,
                counts: counts.as_slice().try_into().expect("fits"),
                smooth: heapless::Vec::new(),
            })),
        ),
        ("begin-wide", envelope(Message::Begin(deep))),
        request("request-wide", deep),
        result("result-wide", deep, &deep_counts),
        request("request-perturbed", perturbed),
        result("result-perturbed", perturbed, &perturbed_counts),
        (
            "refused-orbit-too-long",
            envelope(Message::Refused(Refusal {
                tile: Some(TileIndex(1)),
                reason: Reason::OrbitTooLong { max_points: 512 },
            })),
        ),
        (
            "refused-too-wide",
            envelope(Message::Refused(Refusal {
                tile: Some(TileIndex(1)),
                reason: Reason::TooWide { max_bits: 1024 },
            })),
        ),
        ("end", envelope(Message::End(End { tiles: 80 }))),
        (
            "refused",
            envelope(Message::Refused(Refusal {
                tile: Some(TileIndex(34)),
                reason: Reason::TileTooLarge { max_pixels: 1024 },
            })),
        ),
        (
            "refused-too-much-work",
            envelope(Message::Refused(Refusal {
                tile: Some(TileIndex(34)),
                reason: Reason::TooMuchWork { max_work: 1 << 30 },
            })),
        ),
        (
            "refused-undecodable",
            envelope(Message::Refused(Refusal {
                tile: None,
                reason: Reason::UnsupportedVersion(9),
            })),
        ),
        (
            "result-smooth",
            envelope(Message::Result(TileResult {
                job: smooth,
                tile,
                counts: smooth_counts.as_slice().try_into().expect("fits"),
                smooth: fractions.as_slice().try_into().expect("fits"),
            })),
        ),
    ]
}

/// A checked job by centre and zoom; panics on a bad case (test data, not input).
pub fn job_by_centre(
    format: Format,
    (re, im): (&str, &str),
    zoom: &str,
    (width, height): (u32, u32),
    iterations: u32,
    (tile_width, tile_height): (u32, u32),
) -> Job {
    let zoom = fixedbrot_core::Zoom::parse(zoom).expect("zoom");
    let centre = format!("{re},{im}");
    let view = View::from_centre(format, &centre, &zoom, width, height).expect("view");
    checked(
        format,
        view,
        (width, height),
        iterations,
        (tile_width, tile_height),
    )
}

/// rust-fractal-core's "1e50" location, at zoom 1E50, in `format`.
pub fn location_1e50(format: Format, size: (u32, u32), iterations: u32, tile: (u32, u32)) -> Job {
    job_by_centre(format, LOCATION_1E50, "1E50", size, iterations, tile)
}

/// Whole images pinned by the digest of their counts.
pub fn images() -> Vec<(&'static str, Job)> {
    vec![
        (
            "the original's default view, 640x480, 128 iterations, I4F28",
            default_job(Format::I4F28, 64),
        ),
        ("the same view in I4F60", default_job(Format::I4F60, 64)),
        (
            "rust-fractal-core's 1e50 location, 64x48, 1000 iterations, I4F220",
            location_1e50(wide(224), (64, 48), 1000, (16, 16)),
        ),
    ]
}

/// Hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes of hex.
pub fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// rust-fractal-core's benchmark location "1e50" (`benchmarks/1e50.toml`), its centre.
pub const LOCATION_1E50: (&str, &str) = (
    "-0.0494700290631040937516922267273536301187457124882248793181049402326421947726869034279915499747594190000000000000000000",
    "-0.6747875758446753640113920531305976563347707068224034806979997947909941983454845111514208499540310299999999999999999880",
);

/// A point in seahorse valley, to 33 digits.
pub const SEAHORSE: (&str, &str) = (
    "-0.743643887037158704752191506114774",
    "0.131825904205311970493132056385139",
);

/// rust-fractal-core's benchmark location "5e227" (`benchmarks/5e227.toml`), its centre.
pub const LOCATION_5E227: (&str, &str) = (
    "-0.749624497378761682078626204268361386845295278123640257544815714245582864796728016987502039767791356081486877471965951748581253882975777885730827532104698067397213779012974511726247624509405298147130483778736122972203130169470392874699999999999999989999999999999999999999499999999999999999980",
    "0.034270108740460169451729515457494748680515346724391118531748547383705957729359301718429997787132227942154534366289982005919142082076326747807809784967848438076905104018293013090695421984135743924258851663672311920874163384970654955099999999999999990000000000000000000000000000000000000000000",
);

/// A point of the wide formats by exact decimal, and the widths (bits) and limits it is
/// pinned at.
pub struct WidePointCase {
    pub label: &'static str,
    pub re: &'static str,
    pub im: &'static str,
    pub widths: &'static [u32],
    pub limits: &'static [u32],
}

/// Deep locations, the boundary where orbits take longest, and the safe range's edge.
pub const WIDE_POINTS: &[WidePointCase] = &[
    WidePointCase {
        label: "cardioid centre",
        re: "0",
        im: "0",
        widths: &[96, 4096],
        limits: &[1000],
    },
    WidePointCase {
        label: "the 1e50 location's centre",
        re: LOCATION_1E50.0,
        im: LOCATION_1E50.1,
        widths: &[256, 512],
        limits: &[1000, 20_000],
    },
    WidePointCase {
        label: "just inside the cardioid by the cusp",
        re: "0.2499999999999999999999999999999999999",
        im: "0.0000000000000000000000000000000000001",
        widths: &[128, 1024],
        limits: &[50_000],
    },
    WidePointCase {
        label: "just outside the cusp",
        re: "0.2500000000000000000000000000000000001",
        im: "0",
        widths: &[128, 1024],
        limits: &[50_000],
    },
    WidePointCase {
        label: "seahorse valley",
        re: "-0.743643887037158704752191506114774",
        im: "0.131825904205311970493132056385139",
        widths: &[96, 160, 2048],
        limits: &[5000],
    },
    WidePointCase {
        label: "the safe range's corner",
        re: "-3",
        im: "3",
        widths: &[96, 4096],
        limits: &[10],
    },
    WidePointCase {
        label: "1e-8 outside the cusp",
        re: "0.25000001",
        im: "0",
        widths: &[96, 1024],
        limits: &[100_000],
    },
    WidePointCase {
        label: "1e-47 right of the 1e50 centre",
        re: "-0.0494700290631040937516922267273536301187457124782248793181049402326421947726869034279915499747594190000000000000000000",
        im: LOCATION_1E50.1,
        widths: &[256, 384],
        limits: &[100_000],
    },
    WidePointCase {
        label: "3e-47 right of the 1e50 centre",
        re: "-0.0494700290631040937516922267273536301187457124582248793181049402326421947726869034279915499747594190000000000000000000",
        im: LOCATION_1E50.1,
        widths: &[256],
        limits: &[100_000],
    },
    WidePointCase {
        label: "the period-2 bulb's neck",
        re: "-0.75",
        im: "0.001",
        widths: &[96, 512],
        limits: &[10_000],
    },
    WidePointCase {
        label: "by seahorse valley",
        re: "-0.7436438870",
        im: "0.1318259042",
        widths: &[96, 128],
        limits: &[5000],
    },
    WidePointCase {
        label: "period-2 bulb edge",
        re: "-0.75",
        im: "0.0000000000000000000000000001",
        widths: &[96, 256],
        limits: &[30_000],
    },
];

/// A wide number's raw bits as a `num-bigint` integer, for the oracle.
pub fn big(x: &fixedbrot_core::Fixed) -> num_bigint::BigInt {
    let bytes: Vec<u8> = x.limbs().iter().flat_map(|l| l.to_le_bytes()).collect();
    num_bigint::BigInt::from_signed_bytes_le(&bytes)
}
