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

use fixedbrot_core::smooth::Smooth;
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
    render_image_smooth(job).0
}

/// [`render_image`], and the pixels' smooth fractions, row-major, if the job asks for them
/// (else none).
pub fn render_image_smooth(job: &Job) -> (Vec<u32>, Vec<Smooth>) {
    let grid = job.grid;
    let pixels = grid.pixels() as usize;
    let mut image = (vec![0u32; pixels], vec![0; job.fractions(pixels)]);
    let room = fixedbrot_core::limits::MAX_TILE_PIXELS;
    let mut tile = (vec![0u32; room], vec![0; job.fractions(room)]);
    let mut render = |reference: Option<&Reference>| {
        for index in 0..grid.tiles() {
            let index = TileIndex(index);
            let (counts, smooth) = (&mut tile.0[..], &mut tile.1[..]);
            let rect = match reference {
                None => render_tile(job, index, counts, smooth),
                Some(reference) => render_tile_perturbed(job, reference, index, counts, smooth),
            }
            .expect("valid job");
            let n = rect.pixels();
            rect.copy_into(&tile.0[..n], &mut image.0, grid.width)
                .expect("a tile of the job");
            if job.smooth {
                rect.copy_into(&tile.1[..n], &mut image.1, grid.width)
                    .expect("a tile of the job");
            }
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
