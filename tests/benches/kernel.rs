//! Kernel throughput on the original's default view: fixed point (scalar and lane-batched,
//! both formats) against the f64 reference. `just bench`; figures go in BENCHMARKS.md.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

use fixedbrot_core::{escape, escape_lanes, Format, Point, LANES};
use fixedbrot_tests::cases::default_job;
use fixedbrot_tests::reference;

/// Every 4th pixel of the 640×480 default view in each direction: 160×120 points.
fn points(format: Format) -> Vec<Point> {
    let view = default_job(format, 64).view;
    (0..120)
        .flat_map(|y| (0..160).map(move |x| view.point(x * 4, y * 4)))
        .collect()
}

fn kernels(c: &mut Criterion) {
    for limit in [128u32, 1024] {
        let mut group = c.benchmark_group(format!("default view, {limit} iterations"));
        let p32 = points(Format::I4F28);
        let p64 = points(Format::I4F60);
        let steps: u64 = p32
            .iter()
            .map(|&p| u64::from(escape(Format::I4F28, p, limit).unwrap()))
            .sum();
        eprintln!(
            "{limit} iterations: {} points, {steps} steps, {:.2} steps per point",
            p32.len(),
            steps as f64 / p32.len() as f64
        );
        group.throughput(Throughput::Elements(p32.len() as u64));
        let floats: Vec<(f64, f64)> = p32
            .iter()
            .map(|p| (reference::to_f64(p.re, 28), reference::to_f64(p.im, 28)))
            .collect();
        group.bench_function(BenchmarkId::new("f64 scalar (reference)", limit), |b| {
            b.iter(|| {
                floats
                    .iter()
                    .map(|&(re, im)| reference::escape(black_box(re), black_box(im), limit))
                    .sum::<u32>()
            })
        });
        for (format, points) in [(Format::I4F28, &p32), (Format::I4F60, &p64)] {
            group.bench_function(BenchmarkId::new(format!("{format} scalar"), limit), |b| {
                b.iter(|| {
                    points
                        .iter()
                        .map(|&p| escape(format, black_box(p), limit).unwrap())
                        .sum::<u32>()
                })
            });
            group.bench_function(BenchmarkId::new(format!("{format} batched"), limit), |b| {
                b.iter(|| {
                    points
                        .chunks_exact(LANES)
                        .map(|lanes| {
                            let lanes: &[Point; LANES] = lanes.try_into().unwrap();
                            escape_lanes(format, black_box(lanes), limit)
                                .unwrap()
                                .iter()
                                .sum::<u32>()
                        })
                        .sum::<u32>()
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = kernels
}
criterion_main!(benches);
