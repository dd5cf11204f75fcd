//! Every size limit of the core, in one place.
//!
//! Shells may set tighter limits; nothing may exceed these.

/// Largest image side in pixels. 65,535² pixels still fit a `u32` pixel or tile index.
pub const MAX_SIDE: u32 = 65_535;

/// Largest tile, in pixels. 64×64 counts as `u32` are 16 KiB, so a 64 KiB-RAM microcontroller
/// holds a request, a result and its encode buffer (see [`MAX_ENCODED_LEN`]) with room to spare.
pub const MAX_TILE_PIXELS: usize = 4096;

/// The safe range of c: both parts of every pixel's c lie in `[-3, 3]`.
///
/// Before a step |z|² <= 4, so |re² - im²| <= 4 and |2·re·im| <= 4, and after it each part of z
/// is at most 4 + 3 = 7. Squares are then at most 49 and their sum at most 98, below 128 = 2^7,
/// the integer headroom the double-width product has above its 2F fraction bits: every
/// format has 4 integer bits, so a product of two numbers of B bits, 2B bits wide, has 8
/// above its 2F = 2B - 8 fraction bits, one of them sign (`i64` for I4F28, `i128` for I4F60,
/// 2n limbs for a wide format of n). So no step of any width can overflow.
pub const SAFE_BOUND: i64 = 3;

/// Limbs of 32 bits in a number of the widest format: 4096 bits, 4092 of them fraction.
/// A pixel step of 1e-1000 is 2^-3321.9, so that leaves 770 bits below it for guard bits and
/// a zoom's pixel count (see `Format::auto`).
pub const MAX_WIDE_LIMBS: usize = 128;

/// The most decimal digits a number's text may have: a deep-zoom location at 1e-1000 is about
/// 1,010 digits, and the exact decimal of a number of the widest format, which reads back to
/// the same bits, has up to 4,092 places and one whole digit.
pub const MAX_DIGITS: usize = 4100;

/// The wire format version, the first byte of every message. 2 added
/// [`crate::wire::Reason::TooMuchWork`]; 3 the wide formats, whose views travel as their
/// limbs' bytes, and [`crate::wire::Reason::TooWide`]; 4 a job's [`crate::Kernel`] and
/// [`crate::wire::Reason::OrbitTooLong`]; 5 whether a job asks for smooth fractions
/// ([`crate::Job::smooth`]) and its samples a pixel ([`crate::Job::samples`]), its last two
/// fields, and a result's pixels as one varint each of `count · 2^16 + fraction` when it
/// asks for fractions.
pub const WIRE_VERSION: u8 = 5;

/// The most points a pixel's side is sampled at (`--samples`): 64 a pixel, as much
/// antialiasing as the eye sees, and no more work than a user means to ask for.
pub const MAX_SAMPLES: u8 = 8;

/// Worst-case postcard length of a job, of the widest format: format 2 (tag and width) +
/// view 4 × 512 (four numbers of 128 limbs, 4 bytes each) + grid 4×5 + iterations 5 + kernel
/// 1 + smooth 1 + samples 1. A narrow view is 4×10 at most (an `i64` varint takes up to 10
/// bytes); a `u32` up to 5.
pub const MAX_JOB_LEN: usize = 2 + 4 * 4 * MAX_WIDE_LIMBS + 4 * 5 + 5 + 1 + 1 + 1;

/// Worst-case postcard length of any message, including the version byte.
///
/// The largest message is a tile result of [`MAX_TILE_PIXELS`] pixels of the widest format,
/// with smooth fractions: version 1, job id 10, message tag 1, job [`MAX_JOB_LEN`], tile 5,
/// length 2 and pixels 4096×7 ([`crate::wire::MAX_PIXEL_LEN`]): 30,769 bytes.
/// A test encodes that message and checks this figure.
pub const MAX_ENCODED_LEN: usize = 1 + 10 + 1 + MAX_JOB_LEN + 5 + 2 + MAX_TILE_PIXELS * 7;

/// Worst-case COBS frame: one overhead byte per 254 bytes, one more, and the 0 delimiter.
pub const MAX_FRAME_LEN: usize = MAX_ENCODED_LEN + MAX_ENCODED_LEN / 254 + 2;

// Early exits for points that never escape, and why there is no cardioid test.
//
// Periodicity (`kernel.rs`, `Cycles`) rests on the bound above: since no step can overflow,
// a step is a function of z and c alone, so a z that comes back exactly is a cycle whose
// values all passed the escape check, and the plain loop would return the limit. The
// comparison is exact, so it can never change a count.
//
// The textbook shortcut, testing c against the main cardioid and the period-2 bulb, is not
// used, because nothing shows it changes no count. The fixed-point iteration is not the exact
// one: each step rounds each part by up to half an ulp. A c inside the true cardioid has an
// attracting fixed point z* with multiplier λ = 2z*, |λ| < 1, and a repelling one 1 - z*. Near
// the cusp, for c = 0.25 - δ, they are 2√δ apart and the drift towards z* between them is at
// most δ a step: for a c a few ulps inside, no more than the rounding, which could carry the
// orbit past the repelling point. Along the rest of the boundary |λ| -> 1 and the pull back
// to z* fades the same way. A test that changes no count would need, for every c it accepts,
// a region around the orbit that one step plus one rounding error maps into itself. The disk
// |z - z*| <= r is one when r (|λ| + r) + ε <= r (ε the rounding error), and it holds the
// orbit from z1 = c only for |λ| below about 0.83; a margin that narrow leaves out the points
// near the boundary, which are the ones that run to the limit and cost the time.
//
// The same region asked of later in the orbit is exact and catches most of them
// (`trap.rs`). At a step whose z is w, not yet tested for escape, and whose next value the
// rounded step makes w', take the disk D(w, r). For z in it, the rounded step gives
// z² + c + err = w' - err_w + 2w(z - w) + (z - w)² + err, with |err|, |err_w| <= e (half a
// unit a part), so |f(z) - w| <= |w' - w| + 2e + 2|w|·r + r². With r = (1 - 2|w|) / 2 that is
// at most r whenever (1 - 2|w|)² >= 4 (|w' - w| + 2e): then f maps D into itself. D lies in
// |z| < 1, inside the escape disk, and within the bound above, so from w on the orbit stays
// in D, passes every escape test and never overflows: the plain loop would return the
// limit, for any limit. The test takes |w| rounded up, |w' - w| as |re| + |im| and 2e as two
// units (one unit of 2^-60 for a wider format, whose parts are first rounded up to it), so
// every bound can only make it fail. It is asked at the steps where periodicity saves z,
// which the orbit reaches within an eighth of its steps of coming within reach, and it needs
// 1 - |λ| above about 2·√ulp: points closer to the boundary are left to periodicity.
//
// Near a cycle of p steps (the bulbs) the same holds of p steps at once
// (`trap::trapped_cycle`): with w_0 = w and w_{k+1} the rounded step of w_k, a z within R_k
// of w_k steps to within R_{k+1} = R_k (2|w_k| + R_k) + 2e of w_{k+1}. If every such disk lies
// in |z| < 2 and |w_p - w_0| + R_p <= R_0, the disk about w_0 comes back into itself every p
// steps, every value on the way passes the escape test, and again the plain loop would
// return the limit. The point kernel asks it for p = 2 to 4 at its saves from step 512.
