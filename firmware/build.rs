//! Puts the chosen board's memory map where cortex-m-rt's link.x finds it, as memory.x.
use std::{env, fs, path::PathBuf};

fn main() {
    let board = if env::var_os("CARGO_FEATURE_MICROBIT").is_some() {
        "microbit"
    } else {
        "lm3s6965"
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let map = format!("memory-{board}.x");
    fs::copy(&map, out.join("memory.x")).expect("the board's memory map is readable");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={map}");
}
