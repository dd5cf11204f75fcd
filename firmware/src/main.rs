//! A fixedbrot worker on a microcontroller: COBS-framed postcard tile requests arrive on a UART, the
//! core's kernel renders them, and the results (or refusals) go back the same way.
//!
//! A result is streamed: its head, then each count as it is computed, COBS-framed on the fly,
//! so no board holds a tile. RAM use is the request frame (`REQUEST_FRAME`), the decoded
//! request (2 KiB: a view holds room for the widest format), the result's head, one COBS
//! block and, for a wide format, its orbit (80 bytes a limb), whatever the tile: the
//! micro:bit's 16 KiB suffice for formats to 1,024 bits. A wider request is refused
//! ([`Reason::TooWide`]), from its first bytes if its frame is longer than the board holds.
//! A perturbation job's reference orbit is computed on the board for each request, into room
//! of `BOARD_ORBIT_POINTS`; a longer one is refused ([`Reason::OrbitTooLong`]).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

// build.rs counts the board features.
#[cfg(boards = "many")]
compile_error!(
    "choose one board: --no-default-features, then one of the features lm3s6965, microbit, \
     mps2-an386, mps2-an505 or sifive-e"
);
#[cfg(boards = "none")]
compile_error!(
    "choose one board: one of the features lm3s6965, microbit, mps2-an386, mps2-an505 or sifive-e"
);

// Each board module gives a `Uart`, its serial line, and nothing else.
#[cfg(feature = "lm3s6965")]
mod lm3s6965;
#[cfg(feature = "microbit")]
mod microbit;
#[cfg(any(feature = "mps2-an386", feature = "mps2-an505"))]
mod mps2;
#[cfg(feature = "sifive-e")]
mod sifive_e;

// Provides the single-core critical section defmt needs (on RISC-V, `riscv` does).
#[cfg(target_arch = "arm")]
use cortex_m as _;
#[cfg(target_arch = "arm")]
use cortex_m_rt::entry;
#[cfg(not(all(feature = "qemu", target_arch = "arm")))]
use defmt_rtt as _;
#[cfg(all(feature = "qemu", target_arch = "arm"))]
use defmt_semihosting as _;
use fixedbrot_core::limits::MAX_TILE_PIXELS;
use fixedbrot_core::wire::{self, Deframer, Framed, Reason, Refusal, TileRequest};
use fixedbrot_core::{Bla, JobError, JobId, Kernel, OrbitPoint, Pixels, Reference, TileIndex};
use panic_halt as _;
#[cfg(target_arch = "riscv32")]
use riscv as _;
#[cfg(target_arch = "riscv32")]
use riscv_rt::entry;

#[cfg(feature = "lm3s6965")]
use lm3s6965::Uart;
#[cfg(feature = "microbit")]
use microbit::Uart;
#[cfg(any(feature = "mps2-an386", feature = "mps2-an505"))]
use mps2::Uart;
#[cfg(feature = "sifive-e")]
use sifive_e::Uart;

/// A board's serial line.
pub trait Serial {
    /// Waits for and returns the next received byte.
    fn read(&mut self) -> u8;
    /// Sends bytes, waiting while the transmitter is busy.
    fn write(&mut self, bytes: &[u8]);
}

/// The largest tile this board renders: all the core allows, since results are streamed;
/// 256 pixels in a build that makes the bridge split tiles.
const BOARD_MAX_PIXELS: usize = if cfg!(feature = "small-tiles") {
    256
} else {
    MAX_TILE_PIXELS
};

/// The widest format this board computes: 1,024 bits where RAM is 16 KiB, 4,096 elsewhere.
const BOARD_MAX_BITS: u32 = if cfg!(any(feature = "microbit", feature = "sifive-e")) {
    1024
} else {
    4096
};

/// The most values of a perturbation job's reference orbit this board holds, 32 bytes each,
/// with room for perturbation-v2's BLA table, fewer than two maps of 64 bytes a value: 160
/// bytes a value: a sixth of the RAM at most (a 64 KiB board's stack holds a 4,096-bit
/// orbit beside it), and little where RAM is 16 KiB. A job whose
/// orbit is longer is refused ([`Reason::OrbitTooLong`]), and the bridge computes it on its
/// host.
const BOARD_ORBIT_POINTS: usize = if cfg!(any(feature = "microbit", feature = "sifive-e")) {
    16
} else if cfg!(feature = "lm3s6965") {
    64
} else {
    8192
};

/// Its numbers' room in limbs: a request, decoded, holds no more (a 4,096-bit view is 2 KiB).
const BOARD_LIMBS: usize = BOARD_MAX_BITS as usize / 32;

/// A request of the widest format the board computes is at most 44 bytes and its view, four
/// numbers of `BOARD_MAX_BITS` (a narrow one under 100 bytes); a frame that decodes to more
/// is not a request this board takes, and is refused from its first bytes or dropped.
const REQUEST_FRAME: usize = 64 + 4 * (BOARD_MAX_BITS as usize / 8);

#[entry]
fn main() -> ! {
    let mut uart = Uart::new();
    defmt::info!(
        "fixedbrot worker: tiles up to {} pixels, formats up to {} bits",
        BOARD_MAX_PIXELS,
        BOARD_MAX_BITS
    );
    let mut frames = Deframer::<REQUEST_FRAME>::default();
    let mut orbit = [OrbitPoint::default(); BOARD_ORBIT_POINTS];
    let mut table = [Bla::default(); 2 * BOARD_ORBIT_POINTS];
    loop {
        let byte = uart.read();
        match frames.push(byte) {
            None => {}
            Some(Framed::Frame(frame)) => serve(&mut uart, frame, &mut orbit, &mut table),
            Some(Framed::TooLong(prefix)) => match wire::too_wide(prefix, BOARD_MAX_BITS) {
                Some((job_id, reason)) => refuse(&mut uart, job_id, None, reason),
                None => defmt::warn!("dropped a frame longer than {} bytes", REQUEST_FRAME),
            },
            Some(Framed::Broken) => defmt::warn!("dropped a frame that is not COBS"),
        }
    }
}

// The functions below are never inlined into each other or into main: each holds a 2 KiB
// request or a result's head only while it runs, so the stack holds the deepest chain of
// them, not all of them at once (inlined, main's frame was 22 KiB, more than a micro:bit has).

/// Answers one frame: a result, a refusal, or nothing for bytes that name no job.
#[inline(never)]
fn serve(uart: &mut impl Serial, frame: &[u8], orbit: &mut [OrbitPoint], table: &mut [Bla]) {
    // Too wide is told from the first bytes, before a request that does not fit is decoded.
    if let Some((job_id, reason)) = wire::too_wide(frame, BOARD_MAX_BITS) {
        return refuse(uart, job_id, None, reason);
    }
    match request(frame) {
        Ok((job_id, request)) => {
            let pixels = request.pixels();
            if pixels > BOARD_MAX_PIXELS {
                let max_pixels = BOARD_MAX_PIXELS as u32;
                refuse(
                    uart,
                    job_id,
                    Some(request.tile),
                    Reason::TileTooLarge { max_pixels },
                );
            } else {
                stream_result(uart, job_id, &request, orbit, table);
            }
        }
        Err(Some((job_id, reason))) => refuse(uart, job_id, None, reason),
        Err(None) => defmt::warn!("dropped a frame that names no job"),
    }
}

/// The request in a frame, or the job and reason to refuse it with, if it names one: the
/// core's one refusal policy, which host workers follow too.
#[inline(never)]
fn request(bytes: &[u8]) -> Result<(JobId, Request), Option<(JobId, Reason)>> {
    wire::decode_request_in(bytes).map_err(|error| wire::refusal_for(bytes, error))
}

/// A request as this board holds it.
type Request = TileRequest<BOARD_LIMBS>;

/// Computes the tile point by point and sends its result as it goes; a perturbation job's
/// reference orbit first, into `orbit`, or refuses the job if it is longer.
#[inline(never)]
fn stream_result(
    uart: &mut impl Serial,
    job_id: JobId,
    request: &Request,
    orbit: &mut [OrbitPoint],
    table: &mut [Bla],
) {
    // version, job id, kind, job, tile and length: a few bytes more than the request.
    let mut head = [0u8; REQUEST_FRAME + 16];
    let Ok(head) = wire::encode_result_head(job_id, request, &mut head) else {
        defmt::error!("a decoded request has no result head");
        return refuse(uart, job_id, Some(request.tile), Reason::InvalidJob);
    };
    let job = &request.job;
    let pixels = match job.kernel {
        Kernel::Direct => Pixels::new(job),
        _ => match Reference::of_job(job, orbit, table) {
            Ok(reference) => Pixels::perturbed(job, reference),
            Err(JobError::OrbitTooLong) => {
                let max_points = BOARD_ORBIT_POINTS as u32;
                let reason = Reason::OrbitTooLong { max_points };
                return refuse(uart, job_id, Some(request.tile), reason);
            }
            Err(error) => Err(error),
        },
    };
    // A decoded request's job is checked, and its tile is in it.
    let (Ok(pixels), Some(rect)) = (pixels, job.grid.rect(request.tile)) else {
        return;
    };
    let mut out = CobsWriter::new(uart);
    out.write(head);
    let mut pixel_bytes = [0u8; wire::MAX_PIXEL_LEN];
    for y in rect.y..rect.y + rect.height {
        for x in rect.x..rect.x + rect.width {
            // The counts alone unless the job asks for fractions: the board's usual loop.
            let (count, fraction) = match job.smooth {
                true => {
                    let (count, fraction) = pixels.escape(x, y);
                    (count, Some(fraction))
                }
                false => (pixels.count(x, y), None),
            };
            out.write(wire::encode_pixel(count, fraction, &mut pixel_bytes));
        }
    }
    out.finish();
}

#[inline(never)]
fn refuse(uart: &mut impl Serial, job_id: JobId, tile: Option<TileIndex>, reason: Reason) {
    defmt::info!("refusing a request: {}", reason);
    let refusal = Refusal { tile, reason };
    // A refusal is a few dozen bytes.
    let mut buf = [0u8; 64];
    match wire::encode_refusal_cobs(job_id, &refusal, &mut buf) {
        Ok(bytes) => uart.write(bytes),
        Err(error) => defmt::error!("could not encode a refusal: {}", error),
    }
}

/// COBS on the fly: bytes are collected into blocks of at most 254 non-zero bytes, each sent
/// behind its length code as soon as it is complete, exactly as the `cobs` crate frames a
/// whole message (a full block is followed by a fresh one, so a message ending on a block
/// boundary ends with code 1).
struct CobsWriter<'a, S: Serial> {
    uart: &'a mut S,
    block: [u8; 254],
    len: usize,
}

impl<'a, S: Serial> CobsWriter<'a, S> {
    fn new(uart: &'a mut S) -> Self {
        CobsWriter {
            uart,
            block: [0; 254],
            len: 0,
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if byte == 0 {
                self.send_block();
            } else {
                self.block[self.len] = byte;
                self.len += 1;
                if self.len == self.block.len() {
                    self.send_block();
                }
            }
        }
    }

    fn send_block(&mut self) {
        self.uart.write(&[self.len as u8 + 1]);
        self.uart.write(&self.block[..self.len]);
        self.len = 0;
    }

    fn finish(mut self) {
        self.send_block();
        self.uart.write(&[0]);
    }
}
