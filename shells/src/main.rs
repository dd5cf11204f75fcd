//! `fixedbrot`: the command line of the distributed fixed-point Mandelbrot renderer.

use std::process::ExitCode;

use clap::{error::ErrorKind, CommandFactory, Parser};

use fixedbrot::cli::{Cli, Command};
use fixedbrot::{bridge, calc, colour, generate, image, metrics, picture, raw, render};

/// mimalloc for Rust's allocations; its "override" feature makes it librdkafka's malloc too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    fixedbrot::log::init(cli.log_level.as_deref(), cli.log_format)
        .unwrap_or_else(|e| usage_error(&e));
    // No subcommand is the embedded default: render the default view here, in colour.
    let command = cli.command.unwrap_or_else(|| {
        Cli::parse_from(["fixedbrot", "render"])
            .command
            .expect("render")
    });
    // What the flags ask of Kafka and of the disk is checked before any work starts.
    if let Some(kafka) = command.kafka() {
        kafka.check().unwrap_or_else(|e| usage_error(&e));
    }
    let served = command.metrics().map_or(Ok(()), metrics::serve);
    match served.and_then(|()| run(&command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a checked command.
fn run(command: &Command) -> Result<(), String> {
    match command {
        Command::Render(args) => {
            let job = args
                .view
                .job(&args.limits.limits())
                .unwrap_or_else(|e| usage_error(&e));
            match &args.output {
                Some(path) => picture::check_new_file(path),
                None => picture::check_writable_dir(std::path::Path::new(".")),
            }
            .unwrap_or_else(|e| usage_error(&format!("--output: {e}")));
            if let Some(path) = &args.raw {
                raw::check_new_file(path)
                    .unwrap_or_else(|e| usage_error(&format!("--raw {}: {e}", path.display())));
                if let Some(output) = &args.output {
                    raw::check_apart(path, output)
                        .unwrap_or_else(|e| usage_error(&format!("--output: {e}")));
                }
            }
            render::run(args, job)
        }
        Command::Colour(args) => {
            match &args.output {
                Some(path) => picture::check_new_file(path),
                None => picture::check_writable_dir(std::path::Path::new(".")),
            }
            .unwrap_or_else(|e| usage_error(&format!("--output: {e}")));
            colour::run(args)
        }
        Command::Generate(args) => {
            let job = args
                .view
                .job(&args.limits.limits())
                .unwrap_or_else(|e| usage_error(&e));
            generate::run(&args.kafka, job)
        }
        Command::Calc(args) => {
            let threads = args
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            calc::run(
                &args.kafka,
                threads.max(1),
                args.limits.limits(),
                &args.guarantee,
            )
        }
        Command::Image(args) => {
            let output = image::Output {
                dir: args.output_dir.clone(),
                file: args.output.clone(),
                raw_dir: args.raw_dir.clone(),
                png: picture::Png {
                    palette: args.palette,
                    // Assembling is one thread; all of them compress the image.
                    threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
                },
            };
            image::prepare(&output).unwrap_or_else(|e| usage_error(&e));
            image::run(&args.kafka, output, args.limits(), args.read_committed)
        }
        Command::Bridge(args) => {
            let limits = args.limits.limits();
            match (&args.tcp, &args.serial) {
                (Some(address), _) => bridge::TcpLink::connect(address).and_then(|link| {
                    bridge::run(&args.kafka, link, args.board_rate, limits, &args.guarantee)
                }),
                (None, Some(device)) => {
                    bridge::SerialLink::open(device, args.baud).and_then(|link| {
                        bridge::run(&args.kafka, link, args.board_rate, limits, &args.guarantee)
                    })
                }
                (None, None) => unreachable!("clap requires --serial or --tcp"),
            }
        }
        Command::Topics(args) => {
            args.kafka
                .create_topics(args.partitions, args.replication, &args.config)
        }
    }
}

/// A command line that parses but asks for something impossible: clap's error, exit 2.
fn usage_error(message: &str) -> ! {
    Cli::command()
        .error(ErrorKind::ValueValidation, message)
        .exit()
}
