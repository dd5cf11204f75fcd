//! Kernel throughput on the original's default view and in the seahorse valley: fixed point
//! (scalar and lane-batched, both formats) against the f64 reference. `just bench` (portable
//! build) and `just bench-cpu native`; figures go in BENCHMARKS.md.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

use fixedbrot_core::{escape, escape_lanes, Format, Point, LANES};
use fixedbrot_tests::cases::job;
use fixedbrot_tests::reference;

/// The views: corners, and the limits each is measured at.
const VIEWS: [(&str, &str, &str, &[u32]); 2] = [
    ("default view", "-2.2,1.2", "1.0,-1.2", &[128, 1024]),
    (
        "seahorse valley",
        "-0.7450,0.132625",
        "-0.7420,0.130375",
        &[2048],
    ),
];

/// 160×120 points spread over a view.
fn points(format: Format, top_left: &str, bottom_right: &str) -> Vec<Point> {
    let view = job(format, top_left, bottom_right, (160, 120), 1, (64, 64)).view;
    (0..120)
        .flat_map(|y| (0..160).map(move |x| view.narrow().unwrap().point(x, y)))
        .collect()
}

fn kernels(c: &mut Criterion) {
    for (name, top_left, bottom_right, limits) in VIEWS {
        for &limit in limits {
            let mut group = c.benchmark_group(format!("{name}, {limit} iterations"));
            let p32 = points(Format::I4F28, top_left, bottom_right);
            let p64 = points(Format::I4F60, top_left, bottom_right);
            let steps: u64 = p32
                .iter()
                .map(|&p| u64::from(escape(Format::I4F28, p, limit).unwrap()))
                .sum();
            eprintln!(
                "{name}, {limit} iterations: {} points, {steps} steps, {:.2} steps per point",
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
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = kernels
}
criterion_main!(benches);
