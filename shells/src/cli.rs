//! The command line: clap definitions, and turning a person's view flags into a checked job.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use fixedbrot_core::{Format, Grid, Job, Palette, View};

use crate::limits::Limits;

/// A distributed fixed-point Mandelbrot renderer. With no subcommand, renders the default
/// view in colour in this process (`render`).
#[derive(Debug, Parser)]
#[command(name = "fixedbrot", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render a job in this process (generator, workers and assembler over channels, no broker)
    Render(RenderArgs),
}

/// What to render: the view, its size, the iteration limit, the tiling and the format.
#[derive(Debug, Clone, Args)]
pub struct ViewArgs {
    /// Top-left corner of the view, RE,IM (decimal, read exactly)
    #[arg(long, default_value = "-2.2,1.2", allow_hyphen_values = true)]
    pub top_left: String,
    /// Bottom-right corner of the view, RE,IM (the last pixel is one step before it)
    #[arg(long, default_value = "1.0,-1.2", allow_hyphen_values = true)]
    pub bottom_right: String,
    /// Image width in pixels
    #[arg(long, default_value_t = 640)]
    pub width: u32,
    /// Image height in pixels
    #[arg(long, default_value_t = 480)]
    pub height: u32,
    /// Iteration limit: points that survive this many steps are inside
    #[arg(long, default_value_t = 128)]
    pub iterations: u32,
    /// Tile size WxH, at most 4096 pixels; 1x1 is the original's one message per pixel
    #[arg(long, default_value = "64x64", value_parser = parse_tile)]
    pub tile: (u32, u32),
    /// Fixed-point format: 32 (I4F28, fast, ~4e-9 resolution) or 64 (I4F60, deep zooms)
    #[arg(long, default_value = "32", value_parser = parse_format)]
    pub format: Format,
    /// Largest image accepted, in pixels
    #[arg(long, default_value_t = Limits::default().max_pixels)]
    pub max_pixels: u64,
    /// Largest iteration limit accepted
    #[arg(long, default_value_t = Limits::default().max_iterations)]
    pub max_iterations: u32,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub view: ViewArgs,
    /// Palette: classic (the original's black and white) or azure
    #[arg(long, default_value = "azure", value_parser = parse_palette)]
    pub palette: Palette,
    /// Output PNG; by default a new image-<unix millis>.png in the current directory
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Worker threads; by default one per core
    #[arg(long)]
    pub threads: Option<usize>,
}

impl ViewArgs {
    /// The checked job these flags describe, or a sentence saying what to change.
    pub fn job(&self) -> Result<Job, String> {
        let limits = Limits {
            max_pixels: self.max_pixels,
            max_iterations: self.max_iterations,
            ..Limits::default()
        };
        let (tile_width, tile_height) = self.tile;
        let grid = Grid {
            width: self.width,
            height: self.height,
            tile_width,
            tile_height,
        };
        grid.check().map_err(|e| e.to_string())?;
        let view = View::from_corners(
            self.format,
            &self.top_left,
            &self.bottom_right,
            self.width,
            self.height,
        )
        .map_err(|e| format!("view {} to {}: {e}", self.top_left, self.bottom_right))?;
        let job = Job {
            format: self.format,
            view,
            grid,
            iterations: self.iterations,
        };
        job.check().map_err(|e| e.to_string())?;
        limits.admit(&job)?;
        Ok(job)
    }
}

fn parse_tile(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("tile must be WxH, like 64x64, not {text:?}"))?;
    let side = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| format!("tile must be WxH with whole numbers, like 64x64, not {text:?}"))
    };
    Ok((side(w)?, side(h)?))
}

fn parse_format(text: &str) -> Result<Format, String> {
    text.parse()
        .ok()
        .and_then(Format::from_bits)
        .ok_or_else(|| format!("format must be 32 or 64, not {text:?}"))
}

fn parse_palette(text: &str) -> Result<Palette, String> {
    Palette::from_name(text).ok_or_else(|| {
        let names: Vec<_> = Palette::ALL.iter().map(|p| p.name()).collect();
        format!("palette must be one of {}, not {text:?}", names.join(", "))
    })
}
