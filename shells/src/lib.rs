//! The shells of fixedbrot: the roles of the command line, over Kafka or in one process, the
//! PNG writer and the kernel chosen for this CPU, around the pure core. `main.rs` parses the
//! command line and calls one of them; benchmarks and tests reach them here.
pub mod assembler;
pub mod bridge;
pub mod calc;
pub mod cli;
pub mod colour;
pub mod consumer;
pub mod cpu;
mod fault;
pub mod generate;
pub mod image;
pub mod kafka;
pub mod limits;
pub mod log;
pub mod metrics;
pub mod offsets;
mod partial;
pub mod picture;
pub mod plan;
pub mod raw;
mod received;
pub mod render;
pub mod transaction;
pub mod worker;
pub mod written;
