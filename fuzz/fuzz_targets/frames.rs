//! Any byte stream from a serial line, as the bridge reads a board's answers (and a board
//! reads requests): split into frames, each decoded; also the bytes as one frame.
#![no_main]
use fixedbrot_core::limits::MAX_FRAME_LEN;
use fixedbrot_core::wire::{self, Deframer, Framed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let mut frames = Deframer::<MAX_FRAME_LEN>::default();
    let mut small = Deframer::<256>::default();
    for &byte in bytes {
        if let Some(Framed::Frame(frame)) = frames.push(byte) {
            assert!(frame.len() <= MAX_FRAME_LEN);
            let _ = wire::decode(frame);
        }
        if let Some(Framed::Frame(frame)) = small.push(byte) {
            assert!(frame.len() <= 256);
            let _ = wire::decode_request(frame);
        }
    }
    let _ = wire::decode_cobs(&mut bytes.to_vec());
});
