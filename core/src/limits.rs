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
/// the integer headroom the double-width product has above its 2F fraction bits
/// (`i64` for I4F28, `i128` for I4F60). So no step can overflow.
pub const SAFE_BOUND: i64 = 3;

/// The wire format version, the first byte of every message.
pub const WIRE_VERSION: u8 = 1;

/// Worst-case postcard length of any message, including the version byte.
///
/// Varints grow: a `u64` takes up to 10 bytes, a `u32` up to 5. The largest message is a tile
/// result of [`MAX_TILE_PIXELS`] counts: version 1 + job id 10 + message tag 1
/// + job (format 1 + view 4×10 + grid 4×5 + iterations 5 = 66) + tile 5 + length 2
/// + counts 4096×5 = 20,565 bytes. A test encodes that message and checks this figure.
pub const MAX_ENCODED_LEN: usize = 1 + 10 + 1 + 66 + 5 + 2 + MAX_TILE_PIXELS * 5;

/// Worst-case COBS frame: one overhead byte per 254 bytes, one more, and the 0 delimiter.
pub const MAX_FRAME_LEN: usize = MAX_ENCODED_LEN + MAX_ENCODED_LEN / 254 + 2;
