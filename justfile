# fixedbrot: `just` lists the recipes; `just ready` is what CI runs (`scripts/test` installs what it needs first).

# The core must build for these: a Cortex-M0 (no 64-bit multiply) and a Cortex-M4F.
arm_targets := "thumbv6m-none-eabi thumbv7em-none-eabihf"

_default:
    @just --list -u

# Run every test: the firmware built (the core for every board), the fuzz targets built, the core's tests under qemu-aarch64, a Kafka broker up, every test binary (one failing hides none) with the fuzzers beside them, the broker down
test: firmware fuzz-build aarch64
    scripts/kafka up
    # Four threads on two cores: the integration tests spend most of their time waiting on
    # brokers and processes, and four halve the run where more start to time each other out.
    # The fuzzers, built already, use the CPU the tests leave idle (36 s, no longer in a row).
    scripts/fuzz & fuzzing=$!; cargo test --workspace --no-fail-fast -- --show-output --test-threads 4; status=$?; wait $fuzzing || status=1; scripts/kafka down; exit $status

# Build the fuzz targets, and no more (`just test` runs them beside the other tests)
fuzz-build:
    scripts/fuzz build

# Render the default view in this process, no broker (pass flags: just render --tile 1x1)
render *flags:
    cargo run --release -p fixedbrot -- render {{flags}}

# Start a local Apache Kafka broker (KRaft, 127.0.0.1:9092) and create the topics
kafka-up:
    cargo build --release -p fixedbrot
    scripts/kafka up
    target/release/fixedbrot topics

# Stop the local broker and delete its data
kafka-down:
    scripts/kafka down

# Send one job (default: the original's 640x480, 128 iterations) to the requests topic
run-generator *flags:
    cargo run --release -p fixedbrot -- generate {{flags}}

# Run a calculation worker (run several to scale)
run-calc *flags:
    cargo run --release -p fixedbrot -- calc {{flags}}

# Serve the explorer on http://127.0.0.1:8080/ (pass flags: just serve --brokers 127.0.0.1:9092)
serve *flags:
    cargo run --release -p fixedbrot -- serve {{flags}}

# Run the image assembler, writing PNGs into ./images
run-image *flags:
    cargo run --release -p fixedbrot -- image --output-dir images {{flags}}

# The original's scenario end to end on the local broker: prints where the PNG is
demo: kafka-up
    target/release/fixedbrot calc > .kafka/demo-calc.log 2>&1 & echo $! > .kafka/demo-calc.pid
    target/release/fixedbrot generate
    target/release/fixedbrot image --output images/demo-$(date +%s).png; kill $(cat .kafka/demo-calc.pid)

# The core's fixture, spec, property and reference tests on 64-bit ARM Linux, under qemu-aarch64 (.cargo/config.toml names the linker and the runner)
aarch64:
    rustup target add aarch64-unknown-linux-gnu
    cargo test -p fixedbrot-core --target aarch64-unknown-linux-gnu --lib
    cargo test -p fixedbrot-tests --target aarch64-unknown-linux-gnu --lib --test fixtures --test spec --test properties --test reference --test wide --test perturbation

# Build the no_std core for the ARM targets (plus the defmt feature on the M4F)
cross:
    rustup target add {{arm_targets}} thumbv7m-none-eabi
    cargo build -p fixedbrot-core --release --target thumbv6m-none-eabi
    cargo build -p fixedbrot-core --release --target thumbv7em-none-eabihf --features defmt

# Formatting and clippy, host, ARM and firmware, warnings as errors
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy -p fixedbrot-core --target thumbv6m-none-eabi -- -D warnings
    cd fuzz && cargo fmt --check
    cd tests/bench && cargo fmt --check
    cd tests/mpfr && cargo fmt --check
    cd firmware && cargo fmt --check && cargo clippy --release --features qemu -- -D warnings
    cd firmware && cargo clippy --release --target thumbv6m-none-eabi --no-default-features --features microbit,qemu -- -D warnings
    cd firmware && cargo clippy --release --target thumbv8m.main-none-eabi --no-default-features --features mps2-an505,qemu -- -D warnings
    cd firmware && cargo clippy --release --target riscv32imac-unknown-none-elf --no-default-features --features sifive-e,qemu -- -D warnings

# Build the worker firmware for QEMU's five boards (board:target below), and the LM3S6965 with 256-pixel tiles (its binary in target/small-tiles)
firmware:
    #!/usr/bin/env bash
    set -euo pipefail
    cd firmware
    boards="lm3s6965:thumbv7m-none-eabi microbit:thumbv6m-none-eabi mps2-an386:thumbv7em-none-eabihf mps2-an505:thumbv8m.main-none-eabi sifive-e:riscv32imac-unknown-none-elf"
    for board in $boards; do rustup target add "${board#*:}" 2>&1 | grep -v "is up to date" || true; done
    # The small-tiles LM3S6965 first, its binary copied aside: in one target directory the
    # boards' dependencies are built once, where a directory of its own built them all again.
    cargo build --release --features qemu,small-tiles --target thumbv7m-none-eabi
    mkdir -p target/small-tiles/thumbv7m-none-eabi/release
    cp target/thumbv7m-none-eabi/release/fixedbrot-firmware target/small-tiles/thumbv7m-none-eabi/release/
    for board in $boards; do
      cargo build --release --target "${board#*:}" --no-default-features --features "${board%%:*},qemu"
    done
    # No board, or two, is a compile_error! that says to choose one (the check's status is grep's).
    set +o pipefail
    cargo check --release --no-default-features 2>&1 | grep -q "error: choose one board"
    cargo check --release --features microbit 2>&1 | grep -q "error: choose one board"

# Join the calculation group with the board whose UART is on 127.0.0.1:PORT (see `just qemu`)
bridge port="4444" *flags:
    cargo run --release -p fixedbrot -- bridge --tcp 127.0.0.1:{{port}} {{flags}}

# Run the firmware under QEMU (board lm3s6965, microbit, mps2-an386, mps2-an505 or sifive-e), its UART on 127.0.0.1:PORT for a bridge
qemu port="4444" board="lm3s6965": firmware
    #!/usr/bin/env bash
    set -euo pipefail
    case "{{board}}" in
      lm3s6965) qemu=(qemu-system-arm -machine lm3s6965evb) target=thumbv7m-none-eabi ;;
      microbit) qemu=(qemu-system-arm -machine microbit) target=thumbv6m-none-eabi ;;
      mps2-an386) qemu=(qemu-system-arm -machine mps2-an386) target=thumbv7em-none-eabihf ;;
      mps2-an505) qemu=(qemu-system-arm -machine mps2-an505) target=thumbv8m.main-none-eabi ;;
      sifive-e) qemu=(qemu-system-riscv32 -machine sifive_e) target=riscv32imac-unknown-none-elf ;;
      *) echo "no board {{board}}: lm3s6965, microbit, mps2-an386, mps2-an505 or sifive-e" >&2; exit 2 ;;
    esac
    exec "${qemu[@]}" -nographic -monitor none -semihosting-config enable=on,target=native \
      -serial tcp:127.0.0.1:{{port}},server=on,wait=on,nodelay=on -kernel "firmware/target/$target/release/fixedbrot-firmware"

# Regenerate fixtures/ from tests/src/cases.rs (a fixture change is a product change: say why)
fixtures:
    cargo run -p fixedbrot-tests --bin bless

# Every fuzz target (fuzz/) over its corpus plus a fixed number of new inputs from seed 1, bounded and repeatable (`scripts/fuzz TARGET -max_total_time=600` searches longer)
fuzz:
    scripts/fuzz

# Iterations per second of the wide formats against MPFR, 128 to 4096 bits or a list (`just bench-wide-vs-mpfr 256,1024`); needs Debian's libmpfr-dev
bench-wide-vs-mpfr widths="":
    dpkg -s libmpfr-dev libgmp-dev >/dev/null 2>&1 || { echo "install Debian's libmpfr-dev and libgmp-dev first" >&2; exit 1; }
    cargo run --release --manifest-path tests/mpfr/Cargo.toml -- {{widths}}

# Kernel benchmark, portable build (figures go in BENCHMARKS.md)
bench:
    cargo bench --manifest-path tests/bench/Cargo.toml --bench kernel

# Kernel benchmark built for a CPU: native, x86-64-v3 (AVX2), ... (vector units batch I4F28)
bench-cpu cpu="native":
    RUSTFLAGS="-C target-cpu={{cpu}}" CARGO_TARGET_DIR={{justfile_directory()}}/target/{{cpu}} cargo bench --manifest-path tests/bench/Cargo.toml --bench kernel

# Where render's time goes: the tile kernel as the binary runs it, and the PNG encoder by threads
bench-render:
    cargo bench --manifest-path tests/bench/Cargo.toml --bench render

# fixedbrot against XaoS on this machine, the views of the comparison, median of RUNS (installs xaos; PREVIOUS: a former build timed beside)
bench-vs-xaos runs="3" previous="":
    scripts/bench-vs-xaos {{runs}} {{previous}}

# Deep zoom as a user renders it: the 1e50 location in every width on one core, median and range of RUNS (pass a previous build to time it beside)
bench-deep runs="3" *other:
    scripts/bench-deep {{runs}} {{other}}

# Direct iteration against perturbation by depth, the 1e50 location from 1e15 to 1e300 on one core: where --kernel auto switches
bench-perturbation runs="3":
    scripts/bench-perturbation {{runs}}

# How often perturbation agrees with direct iteration, and both with the exact orbit, on a view: just bench-agreement RE,IM 1E30 48 27 30000
bench-agreement centre zoom width height iterations extra="4":
    cargo run --release -p fixedbrot-tests --bin agreement -- {{centre}} {{zoom}} {{width}} {{height}} {{iterations}} {{extra}}

# What the early exits save a view's interior: steps per interior pixel with periodicity alone, and as the point kernel and the lanes ask for certificates (trap.rs), and which ends each: just bench-interior 0.25,0.05 0.35,-0.025 500 375 1500
bench-interior top_left bottom_right width height iterations bits="32":
    cargo run --release -p fixedbrot-tests --bin interior -- {{top_left}} {{bottom_right}} {{width}} {{height}} {{iterations}} {{bits}}

# What a delta's mantissa width costs: the perturbed step with 32-bit and with 64-bit mantissas, one core
bench-mantissa steps="100000000":
    cargo run --release -p fixedbrot-tests --bin mantissa -- {{steps}}

# Against rust-fractal-core on its benchmark locations, both on 2 threads (PEER: a checkout of it that you built; nothing here builds it)
bench-vs-rfc peer width="1024" height="576" runs="3" *locations:
    scripts/bench-vs-rfc {{peer}} {{width}} {{height}} {{runs}} {{locations}}

# The firmware's tiles/s and points/s under QEMU (not cycle-accurate)
bench-board: firmware
    cargo run --release -p fixedbrot-tests --bin board_bench

# Instructions per kernel iteration in the firmware of every board: the narrow kernels from their disassembly, the wide step traced under QEMU (needs llvm-objdump and llvm-nm, Debian package llvm)
kernel-loops: firmware
    scripts/kernel-loops
    scripts/wide-loops

# Flash and static RAM of every firmware build, a table for BENCHMARKS.md (needs llvm-size, Debian package llvm)
firmware-size: firmware
    scripts/firmware-size

# The explorer in headless Chromium: first tile, default view complete at 1920x1080, a wheel step (`kafka`: over the local broker, `just kafka-up` first)
bench-explorer *args:
    scripts/bench-explorer {{args}}

# Pipeline timings and memory against the local broker (`just kafka-up` first)
bench-pipeline runs="3":
    scripts/bench-pipeline {{runs}}

# The same jobs at least once and exactly once (calc --exactly-once, image --read-committed), side by side
bench-exactly-once runs="3":
    scripts/bench-pipeline exactly-once {{runs}}

# What CI runs: lint, every test, and a check that the run left the tree as it found it
ready: lint test
    test -z "$(git status --porcelain)" || { git status --short; echo "the test run changed the tree" >&2; exit 1; }
