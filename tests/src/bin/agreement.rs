//! How often perturbation's counts agree with direct iteration's, for BENCHMARKS.md
//! (`just bench-agreement`): a view by centre and zoom in the format `--format auto` takes,
//! counted four ways: perturbation v1 and v2, direct iteration in that format, and direct iteration on
//! the same pixels in a format `EXTRA` limbs wider (each number's bits moved up, so the
//! pixels' c are the same), which stands for the exact orbit when two such widths agree.
//!   agreement RE,IM ZOOM WIDTH HEIGHT ITERATIONS [EXTRA]
use std::process::ExitCode;
use std::time::Instant;

use fixedbrot_core::{Fixed, Format, Grid, Job, Kernel, View, Zoom};
use fixedbrot_tests::render_image;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agreement: {e}");
            eprintln!("usage: agreement RE,IM ZOOM WIDTH HEIGHT ITERATIONS [EXTRA]");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let [centre, zoom, width, height, iterations, rest @ ..] = args else {
        return Err("five arguments at least".into());
    };
    let number = |text: &String| text.parse::<u32>().map_err(|e| format!("{text}: {e}"));
    let (width, height, iterations) = (number(width)?, number(height)?, number(iterations)?);
    let extra = rest.first().map(number).transpose()?.unwrap_or(4) as usize;
    let zoom = Zoom::parse(zoom).ok_or("not a zoom")?;
    let format = Format::for_zoom(&zoom, height, iterations).map_err(|e| e.to_string())?;
    let view =
        View::from_centre(format, centre, &zoom, width, height).map_err(|e| e.to_string())?;
    let side = |size: u32| size.min(64);
    let grid = Grid {
        width,
        height,
        tile_width: side(width),
        tile_height: (4096 / side(width)).min(height),
    };
    let direct = Job {
        format,
        view,
        grid,
        iterations,
        kernel: Kernel::Direct,
        smooth: false,
        samples: 1,
    };
    let exact = widened(&direct, extra)?;
    println!(
        "{width}x{height} at {iterations} iterations, zoom {zoom}: {format}, exact {}",
        exact.format
    );
    let d = timed("direct", &direct);
    let e = timed("direct, wider", &exact);
    let share = |a: &[u32], b: &[u32]| {
        let same = a.iter().zip(b).filter(|(a, b)| a == b).count();
        format!(
            "{:.2}% ({same} of {})",
            100.0 * same as f64 / a.len() as f64,
            a.len()
        )
    };
    for kernel in [Kernel::PerturbationV1, Kernel::PerturbationV2] {
        let p = timed(kernel.name(), &Job { kernel, ..direct });
        println!("{kernel} = direct: {}", share(&p, &d));
        println!("{kernel} = exact:  {}", share(&p, &e));
    }
    println!("direct = exact:           {}", share(&d, &e));
    Ok(())
}

/// The same pixels in a format `extra` limbs wider: every number's limbs moved up.
fn widened(job: &Job, extra: usize) -> Result<Job, String> {
    let widen = |x: &Fixed| {
        let mut limbs = vec![0; extra];
        limbs.extend_from_slice(x.limbs());
        Fixed::from_limbs(&limbs).ok_or("wider than the widest format")
    };
    let format = Format::from_bits(job.format.bits() + 32 * extra as u32)
        .ok_or("wider than the widest format")?;
    let view = View {
        origin_re: widen(&job.view.origin_re)?,
        origin_im: widen(&job.view.origin_im)?,
        step_x: widen(&job.view.step_x)?,
        step_y: widen(&job.view.step_y)?,
    };
    let job = Job {
        format,
        view,
        ..*job
    };
    job.check().map_err(|e| e.to_string())?;
    Ok(job)
}

fn timed(what: &str, job: &Job) -> Vec<u32> {
    let started = Instant::now();
    let counts = render_image(job);
    let steps: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    println!(
        "  {what}: {:.2} s for {steps} steps (one core)",
        started.elapsed().as_secs_f64()
    );
    counts
}
