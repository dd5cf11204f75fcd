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
    render_tile, render_tile_perturbed, Delta, Job, Kernel, Reference, TileIndex,
};

/// Renders a whole job, tile by tile through the core's tile kernel (its reference orbit
/// computed once, for perturbation), into a row-major buffer.
pub fn render_image(job: &Job) -> Vec<u32> {
    let grid = job.grid;
    let mut image = vec![0u32; grid.pixels() as usize];
    let mut tile_counts = vec![0u32; fixedbrot_core::limits::MAX_TILE_PIXELS];
    let mut room = match job.kernel {
        Kernel::Direct => Vec::new(),
        Kernel::PerturbationV1 => vec![Delta::default(); Reference::most_points(job)],
    };
    let reference = match job.kernel {
        Kernel::Direct => None,
        Kernel::PerturbationV1 => Some(Reference::compute(job, &mut room).expect("valid job")),
    };
    for index in 0..grid.tiles() {
        let tile = TileIndex(index);
        let rect = match &reference {
            None => render_tile(job, tile, &mut tile_counts),
            Some(reference) => render_tile_perturbed(job, reference, tile, &mut tile_counts),
        }
        .expect("valid job");
        for (row, counts) in tile_counts[..rect.pixels()]
            .chunks(rect.width as usize)
            .enumerate()
        {
            let start = (rect.y as usize + row) * grid.width as usize + rect.x as usize;
            image[start..start + counts.len()].copy_from_slice(counts);
        }
    }
    image
}

/// SHA-256 of counts as little-endian `u32`s, in hex: how the fixtures pin a whole image, the
/// digest the assembler names a tile's copies by.
pub use fixedbrot_pipeline::assembler::digest;
