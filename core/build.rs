//! Tells the kernel which CPUs lack a 32x32->64 multiply: ARMv6-M (Cortex-M0, M0+, M1) has only
//! `muls`, 32x32->32, so a 64-bit product there is a call to a general 64x64 routine unless the
//! core builds it from 16-bit halves. Target features do not say so; the target's name does.
fn main() {
    println!("cargo:rustc-check-cfg=cfg(narrow_multiplier)");
    println!("cargo:rerun-if-env-changed=TARGET");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("thumbv6m") {
        println!("cargo:rustc-cfg=narrow_multiplier");
    }
}
