//! Any bytes into the request decoder a board uses: it accepts exactly what the full decoder
//! accepts as a request, and the same request; in a board's room of 1,024 bits, the same
//! for requests that fit it, and a refusal as too wide, from the first bytes, for wider ones.
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
    let small = wire::decode_request_in::<32>(bytes);
    let too_wide = wire::too_wide(bytes, 1024);
    match (small, wire::decode_request(bytes)) {
        (Ok((job_id, small)), Ok((_, request))) => {
            assert_eq!(small.job.format, request.job.format);
            assert_eq!(
                small.job.view.point(0, 0).re.limbs(),
                request.job.view.point(0, 0).re.limbs()
            );
            assert_eq!((job_id, small.tile), (job_id, request.tile));
            assert!(too_wide.is_none());
        }
        (Ok(_), Err(error)) => panic!("a small request the full decoder refuses: {error}"),
        (Err(_), Ok((job_id, request))) => {
            assert!(request.job.format.bits() > 1024, "{:?}", request.job.format);
            assert_eq!(too_wide.map(|(id, _)| id), Some(job_id));
        }
        (Err(_), Err(_)) => {}
    }
});
