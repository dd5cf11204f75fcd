//! `fixedbrot`: the command line of the distributed fixed-point Mandelbrot renderer.
mod assembler;
mod cli;
mod limits;
mod log;
mod picture;
mod plan;
mod render;
mod worker;

use std::process::ExitCode;

use clap::{error::ErrorKind, CommandFactory, Parser};

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // No subcommand is the embedded default: render the default view here, in colour.
    let command = cli.command.unwrap_or_else(|| {
        Cli::parse_from(["fixedbrot", "render"])
            .command
            .expect("render")
    });
    let result = match &command {
        Command::Render(args) => {
            let job = args.view.job().unwrap_or_else(|e| usage_error(&e));
            render::run(args, job)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A command line that parses but asks for something impossible: clap's error, exit 2.
fn usage_error(message: &str) -> ! {
    Cli::command()
        .error(ErrorKind::ValueValidation, message)
        .exit()
}
