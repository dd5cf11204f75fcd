//! The shells' integration tests: real processes of the `fixedbrot` binary against the real
//! broker `just test` starts, brokers and clusters of their own, emulated boards, and the
//! tree's own structure. One binary, so that tests of every file run side by side: most of
//! their time is spent waiting on processes, brokers and boards, not on a core.
mod harness;

mod board;
mod cluster;
mod delivery;
mod exactly_once;
mod explorer;
mod group;
mod hostile;
mod log;
mod metrics;
mod pipeline;
mod raw;
mod structure;
mod topics;
mod view;
mod web;
