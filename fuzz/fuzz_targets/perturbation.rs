//! Any request's job, computed by perturbation, either version: any view, format and size a message can
//! carry, with a short limit so that each input is quick. The reference orbit is computed or
//! refused as too long for its room, never a panic; every count is within the limit; and the
//! reference pixel counts as direct iteration does.
#![no_main]
use fixedbrot_core::wire;
use fixedbrot_core::{reference_pixel, Bla, Job, Kernel, OrbitPoint, Pixels, Reference};
use libfuzzer_sys::fuzz_target;

/// Values of the reference orbit held: less than some limits ask for, so that a long orbit is
/// refused as too long and a short one (the reference escapes early) still computes.
const ROOM: usize = 150;

fuzz_target!(|bytes: &[u8]| {
    let Ok((_, request)) = wire::decode_request(bytes) else {
        return;
    };
    // Either version, by the tile's parity.
    let kernel = match request.tile.0 % 2 {
        0 => Kernel::PerturbationV1,
        _ => Kernel::PerturbationV2,
    };
    let job = Job {
        kernel,
        iterations: request.job.iterations % 300 + 1,
        ..request.job
    };
    let mut room = [OrbitPoint::default(); ROOM];
    let mut table = [Bla::default(); 2 * ROOM];
    let reference = match Reference::of_job(&job, &mut room, &mut table) {
        Ok(reference) => reference,
        Err(fixedbrot_core::JobError::OrbitTooLong) => {
            assert!(Reference::most_points(&job) > ROOM);
            return;
        }
        Err(error) => panic!("a decoded job refused: {error}"),
    };
    let pixels = Pixels::perturbed(&job, reference).expect("a perturbation job");
    let rect = job
        .grid
        .rect(request.tile)
        .expect("a decoded request's tile");
    for i in 0..rect.pixels().min(16) as u32 {
        let (x, y) = (rect.x + i % rect.width, rect.y + i / rect.width);
        assert!(pixels.count(x, y) <= job.iterations);
    }
    let (x, y) = reference_pixel(&job);
    let direct = Job {
        kernel: Kernel::Direct,
        ..job
    };
    let expected = Pixels::new(&direct).expect("checked").count(x, y);
    assert_eq!(pixels.count(x, y), expected, "the reference pixel");
});
