# fixedbrot: `just` lists the recipes; `just test` is what CI runs.

# The core must build for these: a Cortex-M0 (no 64-bit multiply) and a Cortex-M4F.
arm_targets := "thumbv6m-none-eabi thumbv7em-none-eabihf"

_default:
    @just --list -u

# Run every test: the core cross-built for ARM, then unit, property, fixture and reference tests
test: cross
    cargo test --workspace -- --show-output

# Build the no_std core for the ARM targets (plus the defmt feature on the M4F)
cross:
    rustup target add {{arm_targets}}
    cargo build -p fixedbrot-core --release --target thumbv6m-none-eabi
    cargo build -p fixedbrot-core --release --target thumbv7em-none-eabihf --features defmt

# Formatting and clippy, host and ARM, warnings as errors
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy -p fixedbrot-core --target thumbv6m-none-eabi -- -D warnings

# Regenerate fixtures/ from tests/src/cases.rs (a fixture change is a product change: say why)
fixtures:
    cargo run -p fixedbrot-tests --bin bless

# Kernel benchmark, portable build (figures go in BENCHMARKS.md)
bench:
    cargo bench -p fixedbrot-tests --bench kernel

# Kernel benchmark built for a CPU: native, x86-64-v3 (AVX2), ... (vector units batch I4F28)
bench-cpu cpu="native":
    RUSTFLAGS="-C target-cpu={{cpu}}" CARGO_TARGET_DIR=target/{{cpu}} cargo bench -p fixedbrot-tests --bench kernel

# What CI runs
ready: lint test
