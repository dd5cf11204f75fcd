//! Tiles/s and points/s of the firmware under QEMU (`just bench-board`). QEMU translates the
//! boards' code to the host's and is not cycle-accurate: these figures say how long tests
//! and demos take, not how fast a real board is (instructions per iteration, in
//! BENCHMARKS.md, say that).
use std::time::Instant;

use fixedbrot_core::wire::{Envelope, Message, TileRequest};
use fixedbrot_core::{Format, JobId, TileIndex};
use fixedbrot_tests::board::{Board, Machine};
use fixedbrot_tests::cases::default_job;

fn main() {
    for machine in Machine::ALL {
        bench(machine);
    }
}

fn bench(machine: Machine) {
    let mut board = Board::boot(machine);
    for (format, iterations) in [
        (Format::I4F28, 128),
        (Format::I4F60, 128),
        (Format::I4F28, 1024),
    ] {
        let mut job = default_job(format, 64);
        job.iterations = iterations;
        let started = Instant::now();
        let mut steps = 0u64;
        for tile in 0..job.grid.tiles() {
            let request = Envelope {
                job_id: JobId(1),
                message: Message::Request(TileRequest {
                    job,
                    tile: TileIndex(tile),
                }),
            };
            let mut answer = board.ask(&request);
            let Message::Result(result) = fixedbrot_core::wire::decode_cobs(&mut answer)
                .expect("the board answers with a message")
                .message
            else {
                panic!("the board refused tile {tile}")
            };
            steps += result.counts.iter().map(|&c| u64::from(c)).sum::<u64>();
        }
        let seconds = started.elapsed().as_secs_f64();
        let tiles = f64::from(job.grid.tiles());
        println!(
            "{machine:?}: {format} 640x480 at {iterations} iterations, 64x64 tiles: {:.2} s, {:.1} tiles/s, {:.0} points/s, {:.2} M steps/s",
            seconds,
            tiles / seconds,
            job.grid.pixels() as f64 / seconds,
            steps as f64 / seconds / 1e6
        );
    }
}
