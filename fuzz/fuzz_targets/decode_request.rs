//! Any bytes into the request decoder a board uses: it accepts exactly what the full decoder
//! accepts as a request, and the same request.
#![no_main]
use fixedbrot_core::wire::{self, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let small = wire::decode_request(bytes);
    let full = wire::decode(bytes);
    match (small, full) {
        (Ok((job_id, request)), Ok(envelope)) => {
            assert_eq!(envelope.job_id, job_id);
            assert_eq!(envelope.message, Message::Request(request));
        }
        (Ok(_), Err(error)) => panic!("a request the full decoder refuses: {error}"),
        (Err(_), Ok(envelope)) => assert!(!matches!(envelope.message, Message::Request(_))),
        (Err(_), Err(_)) => {}
    }
});
