//! What the fixture, property and reference tests share: the cases the fixtures pin, their
//! file format, an independent exact oracle and the f64 reference.
//!
//! `bless` (the `just fixtures` recipe) is the only writer of `fixtures/`; tests only read.
pub mod board;
pub mod cases;
pub mod oracle;
pub mod reference;
pub mod scratch;
pub mod strategies;
pub mod table;

use fixedbrot_core::{
    render_tile, render_tile_perturbed, Bla, Job, Kernel, OrbitPoint, Reference, TileIndex,
};

/// Hands `f` a perturbation job's reference orbit, with its BLA table if the kernel skips.
pub fn with_reference<T>(
    job: &Job,
    f: impl FnOnce(&Reference) -> T,
) -> Result<T, fixedbrot_core::JobError> {
    let mut room = vec![OrbitPoint::default(); Reference::most_points(job)];
    let mut table = vec![Bla::default(); 2 * room.len()];
    Ok(f(&Reference::of_job(job, &mut room, &mut table)?))
}

/// Renders a whole job, tile by tile through the core's tile kernel (its reference orbit
/// computed once, for perturbation), into a row-major buffer.
pub fn render_image(job: &Job) -> Vec<u32> {
    let grid = job.grid;
    let mut image = vec![0u32; grid.pixels() as usize];
    let mut tile_counts = vec![0u32; fixedbrot_core::limits::MAX_TILE_PIXELS];
    let mut render = |reference: Option<&Reference>| {
        for index in 0..grid.tiles() {
            let tile = TileIndex(index);
            let rect = match reference {
                None => render_tile(job, tile, &mut tile_counts, &mut []),
                Some(reference) => {
                    render_tile_perturbed(job, reference, tile, &mut tile_counts, &mut [])
                }
            }
            .expect("valid job");
            rect.copy_into(&tile_counts[..rect.pixels()], &mut image, grid.width)
                .expect("a tile of the job");
        }
    };
    match job.kernel {
        Kernel::Direct => render(None),
        _ => with_reference(job, |reference| render(Some(reference))).expect("valid job"),
    }
    image
}

/// SHA-256 of counts as little-endian `u32`s, in hex: how the fixtures pin a whole image, the
/// digest the assembler names a tile's copies by.
pub use fixedbrot_pipeline::assembler::digest;
