//! Any bytes into the decoder of every message: a clear error or a checked message that
//! encodes back and decodes to itself, never a panic.
#![no_main]
use fixedbrot_core::limits::MAX_ENCODED_LEN;
use fixedbrot_core::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(envelope) = wire::decode(bytes) else {
        return;
    };
    let mut buf = [0u8; MAX_ENCODED_LEN];
    let encoded = wire::encode(&envelope, &mut buf).expect("a decoded message encodes");
    assert_eq!(wire::decode(encoded), Ok(envelope));
});
