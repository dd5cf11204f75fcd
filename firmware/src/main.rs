//! A fixedbrot worker on a Cortex-M3: COBS-framed postcard tile requests arrive on UART0, the
//! core's kernel renders them, and the results (or refusals) go back the same way.
//!
//! Memory is budgeted, not allocated: one request frame (`REQUEST_FRAME`), one result being
//! built (16 KiB of counts) and one encoded frame (`MAX_FRAME_LEN`, 20.6 KiB), all on the
//! stack of `serve`; 64 KiB of RAM leaves room for the rest of the stack.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

mod uart;

use cortex_m_rt::entry;
#[cfg(not(feature = "qemu"))]
use defmt_rtt as _;
#[cfg(feature = "qemu")]
use defmt_semihosting as _;
use fixedbrot_core::limits::{MAX_FRAME_LEN, MAX_TILE_PIXELS};
use fixedbrot_core::wire::{
    self, Envelope, Message, Reason, Refusal, TileRequest, TileResult, WireError,
};
use fixedbrot_core::{render_tile, JobId};
use panic_halt as _;
// Provides the single-core critical section defmt needs.
use cortex_m as _;

use uart::Uart;

/// The largest tile this board renders: all the core allows, since 64 KiB holds it.
const BOARD_MAX_PIXELS: usize = MAX_TILE_PIXELS;

/// A request is under 100 bytes encoded (a job of at most 66, ids and varints); a frame
/// longer than this is not a request, and is dropped whole.
const REQUEST_FRAME: usize = 256;

#[entry]
fn main() -> ! {
    let mut uart = Uart::new();
    defmt::info!("fixedbrot worker: tiles up to {} pixels", BOARD_MAX_PIXELS);
    let mut frame = [0u8; REQUEST_FRAME];
    loop {
        let Some(len) = read_frame(&mut uart, &mut frame) else {
            defmt::warn!("dropped a frame longer than {} bytes", REQUEST_FRAME);
            continue;
        };
        if len == 0 {
            continue; // a lone delimiter: resynchronisation, nothing to answer
        }
        serve(&mut uart, &mut frame[..len]);
    }
}

/// Reads bytes up to the next 0 delimiter. `None` if the frame did not fit: the bytes up to
/// its delimiter are read and discarded, so the next frame starts clean.
fn read_frame(uart: &mut Uart, frame: &mut [u8]) -> Option<usize> {
    let mut len = 0;
    let mut overflow = false;
    loop {
        let byte = uart.read();
        if byte == 0 {
            return (!overflow).then_some(len);
        }
        match frame.get_mut(len) {
            Some(slot) => {
                *slot = byte;
                len += 1;
            }
            None => overflow = true,
        }
    }
}

/// Answers one frame: a result, a refusal, or nothing for bytes that name no job.
fn serve(uart: &mut Uart, frame: &mut [u8]) {
    let answer = match request(frame) {
        Ok((job_id, request)) => {
            let pixels = request
                .job
                .grid
                .rect(request.tile)
                .map_or(0, |r| r.pixels());
            if pixels > BOARD_MAX_PIXELS {
                refusal(
                    job_id,
                    Some(request),
                    Reason::TileTooLarge {
                        max_pixels: BOARD_MAX_PIXELS as u32,
                    },
                )
            } else {
                compute(job_id, request)
            }
        }
        Err(Some((job_id, reason))) => refusal(job_id, None, reason),
        Err(None) => {
            defmt::warn!("dropped a frame that names no job");
            return;
        }
    };
    let mut out = [0u8; MAX_FRAME_LEN];
    match wire::encode_cobs(&answer, &mut out) {
        Ok(bytes) => uart.write(bytes),
        Err(error) => defmt::error!("could not encode an answer: {}", error),
    }
}

/// The request in a frame, or the job and reason to refuse it with, if it names one.
fn request(frame: &mut [u8]) -> Result<(JobId, TileRequest), Option<(JobId, Reason)>> {
    let bytes = wire::unframe(frame).map_err(|_| None)?;
    wire::decode_request(bytes).map_err(|error| {
        let reason = match error {
            WireError::UnsupportedVersion(version) => Reason::UnsupportedVersion(version),
            WireError::Invalid(_) => Reason::InvalidJob,
            WireError::NotARequest => Reason::Undecodable,
            _ => return None,
        };
        wire::peek(bytes).map(|(_, job_id)| (job_id, reason))
    })
}

fn compute(job_id: JobId, request: TileRequest) -> Envelope {
    let mut result = TileResult {
        job: request.job,
        tile: request.tile,
        counts: heapless::Vec::new(),
    };
    let pixels = request
        .job
        .grid
        .rect(request.tile)
        .map_or(0, |r| r.pixels());
    // A decoded request's tile is at most MAX_TILE_PIXELS, the vector's capacity.
    let _ = result.counts.resize(pixels, 0);
    if let Err(error) = render_tile(&request.job, request.tile, &mut result.counts) {
        defmt::error!("a decoded request did not render: {}", error);
        return refusal(job_id, Some(request), Reason::InvalidJob);
    }
    Envelope {
        job_id,
        message: Message::Result(result),
    }
}

fn refusal(job_id: JobId, request: Option<TileRequest>, reason: Reason) -> Envelope {
    defmt::info!("refusing a request: {}", reason);
    Envelope {
        job_id,
        message: Message::Refused(Refusal {
            tile: request.map(|r| r.tile),
            reason,
        }),
    }
}
