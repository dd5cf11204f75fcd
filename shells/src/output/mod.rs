//! What the roles write, whole or not at all: PNGs, raw counts with their job beside them,
//! the record of jobs written to a directory, and the checks made before any work.
//!
//! - `checks`: every output path checked before the work;
//! - `colouring`: how counts and smooth fractions become colours;
//! - `png`: counts to a PNG, compressed on every thread;
//! - `raw`: counts as NPY with a JSON sidecar, and back;
//! - `partial`: the one way a file appears whole: a locked partial file, then its name;
//! - `written`: which jobs a directory's images are of.
pub mod checks;
pub mod colouring;
mod partial;
pub mod png;
pub mod raw;
pub mod written;

pub use colouring::{Colouring, PaletteChoice};
pub use partial::{remove_abandoned, remove_abandoned_beside};
pub use png::Png;
pub use written::{Once, Written};
