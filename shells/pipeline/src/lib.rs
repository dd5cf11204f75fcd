//! The pipeline's decisions, without IO: what a worker answers, how an assembler makes images
//! of results, how a job becomes messages, and what a member of a consumer group may commit.
//! No sockets, no files, no clock of its own (time comes in as an argument) and no librdkafka:
//! the shells move bytes and call this, as quinn calls quinn-proto.
//!
//! - [`worker`]: a request's bytes in, the answer's bytes out, and the refusals.
//! - [`assembler`]: results in any order into whole [`Image`]s, within [`Limits`].
//! - [`plan`]: a job's messages and their keys.
//! - [`handler`]: the contract between the consumer loop and a role: [`Incoming`] in,
//!   [`Answer`] out, and [`HoldKey`]s that hold offsets.
//! - [`Membership`]: a group member's partitions, their epochs, its offset book and holds.
//! - [`cpu`]: the kernel's lanes chosen for the CPU at run time.
//! - [`explorer`]: the browser explorer's places, moves, zooms and tiles, exact.
//! - [`orbits`]: perturbation jobs' reference orbits, computed once a process.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod assembler;
pub mod cpu;
pub mod explorer;
pub mod handler;
mod image;
mod limits;
mod membership;
mod offsets;
pub mod orbits;
pub mod plan;
pub mod worker;

pub use assembler::{Assembler, JobKey};
pub use handler::{Answer, Handler, HoldKey, Holds, Incoming, Letter, Never};
pub use image::Image;
pub use limits::{Limits, OverLimit};
pub use membership::{Membership, Taken};
