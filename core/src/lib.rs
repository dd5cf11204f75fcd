//! The pure core of fixedbrot: fixed-point Mandelbrot math and the wire format.
//!
//! Everything here is a function of integers, so an x86 server, an ARM board and a Cortex-M0
//! return the same bits for the same request. No `std`, no `alloc`, no `unsafe`, no floats.
//!
//! - [`Format`]: the fixed-point formats, I4F28, I4F60 and the wide ones, the one rounding
//!   rule, and `--format auto` ([`Format::for_zoom`], [`Format::for_corners`]).
//! - [`View`], [`Job`]: exact geometry, from a person's decimal text to raw bits, once: by
//!   corners, or by centre and [`Zoom`] as deep-zoom locations are shared; in any format.
//! - [`wide`]: the wide formats, 96 to 4,096 bits ([`Width`], [`Fixed`]), their step
//!   ([`escape_wide`]) under the same rules, and exact decimals of any length; on integers of
//!   many limbs, in 32- or 64-bit words alike.
//! - [`Grid`]: how a job is cut into tiles.
//! - [`escape`], [`escape_lanes`], [`render_tile`], [`render_tile_in_lanes`]: the kernel, with
//!   exact early exits for points that never escape.
//! - [`Reference`], [`render_tile_perturbed`]: the perturbation kernel for deep zooms, each
//!   pixel's difference from one exact reference orbit in integer block floating point.
//! - [`wire`]: versioned messages, postcard and COBS codecs into caller buffers.
//! - [`smooth`]: the smooth iteration count's fraction, in integers.
//! - [`Palette`]: counts to colours.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]
// Floats round differently across FPUs and some MCUs have none: the math is integer only.
#![deny(clippy::float_arithmetic)]

mod arith;
mod auto;
mod bla;
mod bound;
mod cycles;
mod decimal;
pub(crate) mod delta;
mod error;
mod escape;
mod format;
mod grid;
mod job;
mod kernel;
mod limbs;
pub mod limits;
mod orbit;
mod palette;
mod perturbation;
mod round;
pub mod smooth;
pub mod trap;
mod view;
pub mod wide;
pub mod wire;

pub use auto::{limbs_for, MIN_STEP_ULPS};
pub use bla::Bla;
pub use decimal::Zoom;
pub use delta::Delta;
pub use error::JobError;
pub use format::{Format, I4F28, I4F60};
pub use grid::{Grid, Rect, TileIndex};
pub use job::{Job, JobId, Kernel, PERTURBED_STEP_COST};
pub use kernel::{
    escape, escape_lanes, render_tile, render_tile_in_lanes, render_tile_perturbed, Pixels, LANES,
};
pub use orbit::OrbitPoint;
pub use palette::{cycle_position, Gradient, GradientError, Palette, MAX_COLOURS};
pub use perturbation::{reference_pixel, Reference};
pub use view::{NarrowView, Point, View};
pub use wide::{escape_wide, escape_wide_smooth, Fixed, OrbitEnd, WidePoint, Width};
