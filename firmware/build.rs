//! Puts the chosen board's memory map where the runtime's link.x finds it, as memory.x, and
//! tells the source how many boards were chosen, so that none or two is a `compile_error!`.
use std::{env, fs, path::PathBuf};

const BOARDS: [&str; 5] = [
    "lm3s6965",
    "microbit",
    "mps2-an386",
    "mps2-an505",
    "sifive-e",
];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(boards, values(\"none\", \"many\"))");
    let chosen: Vec<&str> = BOARDS
        .into_iter()
        .filter(|board| {
            let feature = board.to_uppercase().replace('-', "_");
            env::var_os(format!("CARGO_FEATURE_{feature}")).is_some()
        })
        .collect();
    let board = match chosen[..] {
        [board] => board,
        [] => return println!("cargo::rustc-cfg=boards=\"none\""),
        _ => return println!("cargo::rustc-cfg=boards=\"many\""),
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let map = format!("memory-{board}.x");
    fs::copy(&map, out.join("memory.x")).expect("the board's memory map is readable");
    println!("cargo::rustc-link-search={}", out.display());
    println!("cargo::rerun-if-changed={map}");
}
