//! `fixedbrot`: the command line of the distributed fixed-point Mandelbrot renderer.

use std::process::ExitCode;

use clap::{error::ErrorKind, CommandFactory, Parser};

use std::error::Error;
use std::io::Write;

use fixedbrot::cli::{new_job_id, BridgeArgs, Cli, Command, ImageArgs};
use fixedbrot::kafka::TopicSettings;
use fixedbrot::output::{checks, Png};
use fixedbrot::{bridge, calc, colour, generate, image, metrics, render, serve};

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
    match served.map_err(Box::from).and_then(|()| run(&command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Not eprintln!, which panics where stderr is closed: the exit code still says it.
            let _lost = writeln!(std::io::stderr(), "error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a checked command.
fn run(command: &Command) -> Result<(), Box<dyn Error>> {
    match command {
        Command::Render(args) => {
            let colouring = args
                .cycle
                .colouring(&args.palette)
                .unwrap_or_else(|e| usage_error(&e));
            let mut job = args
                .view
                .job(&args.limits.limits())
                .unwrap_or_else(|e| usage_error(&e));
            // Fractions where the colouring uses them: the one thing that asks for them here.
            job.smooth = colouring.uses_fractions();
            checks::for_render(args.output.as_deref(), args.raw.as_deref())
                .unwrap_or_else(|e| usage_error(&e));
            render::run(args, new_job_id(), job, colouring)
        }
        Command::Colour(args) => {
            let colouring = args
                .cycle
                .colouring(&args.palette)
                .unwrap_or_else(|e| usage_error(&e));
            checks::for_colour(args.output.as_deref()).unwrap_or_else(|e| usage_error(&e));
            Ok(colour::run(args, colouring)?)
        }
        Command::Generate(args) => {
            let mut job = args
                .view
                .job(&args.limits.limits())
                .unwrap_or_else(|e| usage_error(&e));
            job.smooth = !args.counts_only;
            Ok(generate::run(&args.kafka, new_job_id(), job)?)
        }
        Command::Calc(args) => {
            let threads = args
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            Ok(calc::run(
                &args.kafka,
                threads.max(1),
                args.limits.limits(),
                &args.guarantee,
            )?)
        }
        Command::Image(args) => run_image(args),
        Command::Serve(args) => serve::run(args),
        Command::Bridge(args) => run_bridge(args),
        Command::Topics(args) => Ok(args.kafka.create_topics(&TopicSettings {
            partitions: args.partitions,
            replication: args.replication,
            config: &args.config,
        })?),
    }
}

/// `image`, its output checked first.
fn run_image(args: &ImageArgs) -> Result<(), Box<dyn Error>> {
    let output = image::Output {
        dir: args.output_dir.clone(),
        file: args.output.clone(),
        raw_dir: args.raw_dir.clone(),
        png: Png {
            colouring: args
                .cycle
                .colouring(&args.palette)
                .unwrap_or_else(|e| usage_error(&e)),
            // Assembling is one thread; all of them compress the image.
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
    };
    output.prepare().unwrap_or_else(|e| usage_error(&e));
    image::run(&args.kafka, output, args.limits(), args.read_committed)
}

/// `bridge`, over the link the flags name.
fn run_bridge(args: &BridgeArgs) -> Result<(), Box<dyn Error>> {
    let limits = args.limits.limits();
    let (kafka, rate, guarantee) = (&args.kafka, args.board_rate, &args.guarantee);
    match (&args.tcp, &args.serial) {
        (Some(address), _) => {
            let link = bridge::TcpLink::connect(address)?;
            bridge::run(kafka, link, rate, limits, guarantee)
        }
        (None, Some(device)) => {
            let link = bridge::SerialLink::open(device, args.baud)?;
            bridge::run(kafka, link, rate, limits, guarantee)
        }
        (None, None) => unreachable!("clap requires --serial or --tcp"),
    }
}

/// A command line that parses but asks for something impossible: clap's error, exit 2.
fn usage_error(message: &str) -> ! {
    Cli::command()
        .error(ErrorKind::ValueValidation, message)
        .exit()
}
