//! The shells of fixedbrot: the roles of the command line, over Kafka or in one process, and
//! what they write, around `fixedbrot-pipeline` (the decisions) and `fixedbrot-core` (the
//! math). `main.rs` parses the command line and calls one role's `run`.
//!
//! - Roles, which never import one another: [`render`], [`colour`], [`generate`], [`calc`],
//!   [`image`], [`bridge`], [`serve`]; `topics` is [`kafka`]'s own.
//! - [`kafka`]: everything that talks to brokers, the one consumer loop among it.
//! - [`output`]: PNGs, raw counts, and the record of what a directory holds.
//! - [`cli`], [`log`], [`metrics`]: the command line, logging, Prometheus counts.
pub mod bridge;
pub mod calc;
pub mod cli;
pub mod colour;
mod fault;
pub mod generate;
pub mod image;
pub mod kafka;
pub mod local;
pub mod log;
pub mod metrics;
pub mod output;
pub mod render;
pub mod serve;
