//! Where `fixedbrot render`'s time goes, part by part, on the two views of the XaoS
//! comparison: the tile kernel as the binary runs it (lanes chosen for this CPU at run time)
//! against the core's build-time choice, and the PNG encoder by threads. `just bench-render`;
//! figures go in BENCHMARKS.md.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

use fixedbrot::output::Png;
use fixedbrot_core::smooth::Smooth;
use fixedbrot_core::{Format, Job, JobError, Palette, Rect, TileIndex};
use fixedbrot_pipeline::cpu::{self, Lanes};
use fixedbrot_pipeline::Image;
use fixedbrot_tests::cases::job;

type Kernel = fn(&Job, TileIndex, &mut [u32], &mut [Smooth]) -> Result<Rect, JobError>;

/// The default view and the seahorse valley, smaller than in the comparison (the kernel's
/// work per pixel is the same), in 64x64 tiles.
fn views(scale: u32) -> [(&'static str, Job); 2] {
    [
        (
            "default",
            job(
                Format::I4F28,
                "-2.2,1.2",
                "1.0,-1.2",
                (4096 / scale, 3072 / scale),
                1024,
                (64, 64),
            ),
        ),
        (
            "seahorse",
            job(
                Format::I4F28,
                "-0.7450,0.132625",
                "-0.7420,0.130375",
                (2048 / scale, 1536 / scale),
                2048,
                (64, 64),
            ),
        ),
    ]
}

fn all_tiles(job: &Job, kernel: Kernel) -> u32 {
    let mut out = [0u32; fixedbrot_core::limits::MAX_TILE_PIXELS];
    (0..job.grid.tiles())
        .map(|tile| {
            let rect = kernel(black_box(job), TileIndex(tile), &mut out, &mut []).unwrap();
            out[..rect.pixels()].iter().fold(0, |a, &b| a ^ b)
        })
        .fold(0, |a, b| a ^ b)
}

fn kernel(c: &mut Criterion) {
    eprintln!("this CPU: {}", Lanes::detect().describe());
    for (name, job) in views(4) {
        let mut group = c.benchmark_group(format!(
            "tiles, one thread, {name} {}x{}/{}",
            job.grid.width, job.grid.height, job.iterations
        ));
        group.throughput(Throughput::Elements(job.grid.pixels()));
        let kernels: [(&str, Kernel); 2] = [
            ("run-time lanes", |j, t, o, s| {
                cpu::render_tile(j, t, o, s, u64::MAX)
            }),
            ("build-time choice", fixedbrot_core::render_tile),
        ];
        for (label, kernel) in kernels {
            group.bench_function(label, |b| b.iter(|| all_tiles(&job, kernel)));
        }
        group.finish();
    }
}

fn png(c: &mut Criterion) {
    for (name, job) in views(1) {
        let image = Image {
            job_id: fixedbrot_core::JobId(0),
            counts: fixedbrot_tests::render_image(&job),
            smooth: Vec::new(),
            job,
        };
        let mut group = c.benchmark_group(format!(
            "png azure, {name} {}x{}",
            job.grid.width, job.grid.height
        ));
        group.throughput(Throughput::Elements(job.grid.pixels()));
        let mut bytes = Vec::new();
        for threads in [1, 2] {
            let png = Png {
                palette: Palette::Azure,
                threads,
            };
            group.bench_function(BenchmarkId::new("threads", threads), |b| {
                b.iter(|| {
                    bytes.clear();
                    png.encode_into(&image, &mut bytes).unwrap();
                    bytes.len()
                })
            });
        }
        eprintln!("{name}: PNG of {} bytes", bytes.len());
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = kernel, png
}
criterion_main!(benches);
