//! Any bytes into the decoder of every message: a clear error or a checked message that
//! encodes back and decodes to itself, never a panic. The result reader that builds no
//! envelope reads only what the decoder reads as a result, and reads it alike.
#![no_main]
use fixedbrot_core::limits::MAX_ENCODED_LEN;
use fixedbrot_core::wire::{self, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let decoded = wire::decode(bytes);
    match (wire::decode_result(bytes), &decoded) {
        (Some(view), Ok(envelope)) => {
            let Message::Result(result) = &envelope.message else {
                panic!("decode_result read a result where decode read {envelope:?}");
            };
            assert_eq!(
                (view.job_id, view.job, view.tile),
                (envelope.job_id, result.job, result.tile)
            );
            assert!(view.counts().eq(result.counts.iter().copied()));
        }
        (Some(view), Err(error)) => panic!("decode_result read {view:?}, decode: {error}"),
        (None, _) => {}
    }
    let Ok(envelope) = decoded else {
        return;
    };
    let mut buf = [0u8; MAX_ENCODED_LEN];
    let encoded = wire::encode(&envelope, &mut buf).expect("a decoded message encodes");
    assert_eq!(wire::decode(encoded), Ok(envelope));
});
