//! The command line: clap definitions, and turning a person's view flags into a checked job.
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use fixedbrot_core::limits::MAX_SIDE;
use fixedbrot_core::{Format, Grid, Job, JobError, Kernel, View, Width, Zoom, MIN_STEP_ULPS};

use crate::kafka::KafkaArgs;
use crate::log::LogFormat;
use crate::output::{Colouring, PaletteChoice};
use fixedbrot_core::JobId;
use fixedbrot_pipeline::Limits;

/// A distributed fixed-point Mandelbrot renderer. With no subcommand, renders the default
/// view in colour in this process (`render`).
#[derive(Debug, Parser)]
#[command(name = "fixedbrot", version, about)]
pub struct Cli {
    /// Log level or filter (error, warn, info, debug, trace, or RUST_LOG's syntax such as
    /// fixedbrot=debug); by default RUST_LOG's, else info
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log lines as text, or as one JSON object per line for log shippers
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render a job in this process (generator, workers and assembler over channels, no broker)
    Render(RenderArgs),
    /// Send one job to the requests topic: BEGIN, a request per tile, END
    Generate(GenerateArgs),
    /// Compute tiles: a worker in group Mandelbrot.Calculation.Connector (run several to scale)
    Calc(CalcArgs),
    /// Assemble results into PNGs: group Mandelbrot.Image.Connector
    Image(ImageArgs),
    /// Create the requests, responses and dead-letter topics if they are missing
    Topics(TopicsArgs),
    /// Join the calculation group with a microcontroller on a serial line (or QEMU's UART)
    Bridge(BridgeArgs),
    /// Colour raw counts (render --raw, image --raw-dir) into a PNG, computing nothing
    Colour(ColourArgs),
    /// Serve the explorer: pan and zoom in a browser, tiles computed here or, with --brokers,
    /// by the Kafka worker pool
    Serve(ServeArgs),
}

impl Command {
    /// Where the command serves its counts, if it does.
    pub fn metrics(&self) -> Option<std::net::SocketAddr> {
        match self {
            Command::Calc(CalcArgs { metrics, .. })
            | Command::Bridge(BridgeArgs { metrics, .. })
            | Command::Image(ImageArgs { metrics, .. }) => metrics.metrics,
            _ => None,
        }
    }

    /// How the command reaches Kafka, if it does.
    pub fn kafka(&self) -> Option<&KafkaArgs> {
        match self {
            Command::Render(_) | Command::Colour(_) => None,
            Command::Serve(args) => args.kafka.as_ref(),
            Command::Generate(args) => Some(&args.kafka),
            Command::Calc(args) => Some(&args.kafka),
            Command::Image(args) => Some(&args.kafka),
            Command::Topics(args) => Some(&args.kafka),
            Command::Bridge(args) => Some(&args.kafka),
        }
    }
}

#[derive(Debug, Args)]
pub struct BridgeArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// The board's serial device, opened at --baud, 8N1, raw
    #[arg(long, required_unless_present = "tcp", conflicts_with = "tcp")]
    pub serial: Option<PathBuf>,
    /// A board UART behind TCP, HOST:PORT (QEMU's -serial tcp:...)
    #[arg(long)]
    pub tcp: Option<String>,
    /// Serial line speed (1-16000000)
    #[arg(long, default_value_t = 115_200, value_parser = clap::value_parser!(u32).range(1..=16_000_000))]
    pub baud: u32,
    /// Kernel steps per second the board manages, to scale each tile's timeout (4x the
    /// expected time, plus 2 s); I4F28 takes about 21 instructions a step on a Cortex-M3
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000_000))]
    pub board_rate: u64,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub guarantee: GuaranteeArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// Where a long-running role serves its counts.
#[derive(Debug, Clone, Args)]
pub struct MetricsArgs {
    /// Serve counts in Prometheus's text format on http://ADDR/metrics (such as
    /// 127.0.0.1:9464)
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub view: ViewArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Ask the workers for counts alone, not each pixel's smooth fraction too: leaner
    /// results, for palettes that colour by count (classic, azure)
    #[arg(long)]
    pub counts_only: bool,
}

#[derive(Debug, Args)]
pub struct CalcArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Threads, each a member of the consumer group (1-256); by default one per core
    #[arg(long, value_parser = threads)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub guarantee: GuaranteeArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// How a calculation worker's answers reach Kafka: at least once, or exactly once.
#[derive(Debug, Clone, Args)]
pub struct GuaranteeArgs {
    /// Answer exactly once: answers and the offsets of the requests they answer are committed
    /// together in Kafka transactions (read them with image --read-committed)
    #[arg(long)]
    pub exactly_once: bool,
    /// With --exactly-once, this worker's name in its transactional ids,
    /// <group>.<instance>.<member>; by default the host name. A restart under the same name
    /// fences its old self; two workers on one host need two names
    #[arg(long, requires = "exactly_once", value_parser = instance)]
    pub instance: Option<String>,
}

impl GuaranteeArgs {
    /// The transactional id of member `member` of `group`, if answers are exactly once.
    pub fn transactional_id(&self, group: &str, member: &str) -> Option<String> {
        self.exactly_once.then(|| {
            let instance = self.instance.clone().unwrap_or_else(crate::kafka::host);
            format!("{group}.{instance}.{member}")
        })
    }
}

#[derive(Debug, Args)]
pub struct ImageArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Directory for image-<unix millis>.png files
    #[arg(long, default_value = ".")]
    pub output_dir: PathBuf,
    /// Write the first completed image to this file instead, then exit
    #[arg(long, short, conflicts_with = "output_dir")]
    pub output: Option<PathBuf>,
    /// Palette: classic (the original's black and white), azure, ultra (azure's colours
    /// cycling with the smooth count; the job must ask for fractions), or a FILE of colours
    #[arg(long, default_value = "classic", value_parser = PaletteChoice::parse)]
    pub palette: PaletteChoice,
    #[command(flatten)]
    pub cycle: CycleArgs,
    /// Also write each job's counts to DIR/job-<id>.npy and the job to DIR/job-<id>.json
    /// (NPY, which numpy reads; `fixedbrot colour` colours them)
    #[arg(long, value_name = "DIR")]
    pub raw_dir: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Most jobs assembled at once (1-65536)
    #[arg(long, default_value_t = Limits::default().max_jobs as u64, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub max_jobs: u64,
    /// Most MiB of tiles held at once, over all jobs; a job needs at most its image's width
    /// x height x 4 bytes (1-1048576)
    #[arg(long, default_value_t = Limits::default().max_bytes >> 20, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub max_mib: u64,
    /// Seconds without a new tile after which a job is logged with its missing tiles and
    /// freed (1-604800, a week)
    #[arg(long, default_value_t = Limits::default().idle.as_secs(), value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub idle_timeout: u64,
    /// Read only committed results (isolation.level=read_committed): with workers that
    /// answer --exactly-once, each tile once, and nothing of an aborted transaction
    #[arg(long)]
    pub read_committed: bool,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

#[derive(Debug, Args)]
pub struct TopicsArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Partitions of the requests and responses topics: the most workers (and assemblers)
    /// that can share the work (1-100000)
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(i32).range(1..=100_000))]
    pub partitions: i32,
    /// Replication factor (1 for a single local broker; 1-32767)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=32_767))]
    pub replication: i32,
    /// A topic setting for the topics created, as kafka-topics' --config:
    /// --config min.insync.replicas=2 (topics that exist keep theirs)
    #[arg(long, value_name = "KEY=VALUE", value_parser = crate::kafka::parse_setting)]
    pub config: Vec<(String, String)>,
}

/// Resource limits, checked before anything is allocated.
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Largest image accepted, in pixels (1-4294836225, 65535 x 65535)
    #[arg(long, default_value_t = Limits::default().max_pixels, value_parser = clap::value_parser!(u64).range(1..=65_535 * 65_535))]
    pub max_pixels: u64,
    /// Largest iteration limit accepted (at least 1)
    #[arg(long, default_value_t = Limits::default().max_iterations, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_iterations: u32,
    /// Most kernel steps per tile, its pixels times the iteration limit (at least 1): a
    /// worker refuses a tile over it
    #[arg(long, default_value_t = Limits::default().max_work, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_work: u64,
    /// Most MiB of perturbation jobs' reference orbits held (32 bytes an iteration, 160 with
    /// perturbation-v2's BLA table; 1-65536):
    /// a worker refuses a job whose orbit is longer
    #[arg(long, default_value_t = Limits::default().max_orbit_bytes >> 20, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub max_orbit_mib: u64,
}

impl LimitArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            max_pixels: self.max_pixels,
            max_iterations: self.max_iterations,
            max_work: self.max_work,
            max_orbit_bytes: self.max_orbit_mib << 20,
            ..Limits::default()
        }
    }
}

impl ImageArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            // Both bounded when parsed: no conversion wraps.
            max_jobs: self.max_jobs as usize,
            max_bytes: self.max_mib << 20,
            idle: std::time::Duration::from_secs(self.idle_timeout),
            ..self.limits.limits()
        }
    }
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
    /// Centre of the view instead of its corners, RE,IM: decimals of any length (up to 4100
    /// digits), read exactly; the middle pixel is the centre
    #[arg(long, value_name = "RE,IM", allow_hyphen_values = true, requires = "zoom",
          conflicts_with_all = ["top_left", "bottom_right"])]
    pub center: Option<String>,
    /// With --center: the view is 4/ZOOM high, its pixels square (Kalles Fraktaler's
    /// convention), such as 1E10 or 5.00E12
    #[arg(long, requires = "center", allow_hyphen_values = true, value_parser = parse_zoom)]
    pub zoom: Option<Zoom>,
    /// Image width in pixels
    #[arg(long, default_value_t = 640)]
    pub width: u32,
    /// Image height in pixels
    #[arg(long, default_value_t = 480)]
    pub height: u32,
    /// Iteration limit: points that survive this many steps are inside
    #[arg(long, default_value_t = 128)]
    pub iterations: u32,
    /// Tile size WxH, at most 4096 pixels; 1x1 is the original's one message per pixel.
    /// By default 64x64, or the largest square a worker takes under --max-work (a deep
    /// zoom's wide steps cost more)
    #[arg(long, value_parser = parse_tile)]
    pub tile: Option<(u32, u32)>,
    /// Fixed-point format: auto (the narrowest whose pixel step is at least 4096 ulps and
    /// at least the iteration limit), 32 (I4F28), 64 (I4F60), or any multiple of 32 bits
    /// up to 4096 (I4F92 to I4F4092) for deep zooms
    #[arg(long, default_value = "auto", value_parser = parse_format)]
    pub format: FormatChoice,
    /// How pixels are computed: auto (perturbation in the wide formats, where it is faster,
    /// direct iteration in I4F28 and I4F60), direct, or perturbation (its latest version,
    /// perturbation-v2, which skips iterations by BLA; perturbation-v1 does not)
    #[arg(long, default_value = "auto", value_parser = parse_kernel)]
    pub kernel: KernelChoice,
    /// Points each pixel is computed at along each side (1-8), their colours averaged:
    /// antialiasing, at the square of the work
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub samples: u8,
}

/// `--kernel`: a kernel, or the faster for the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelChoice {
    Auto,
    Is(Kernel),
}

fn parse_kernel(text: &str) -> Result<KernelChoice, String> {
    if text == "auto" {
        return Ok(KernelChoice::Auto);
    }
    Kernel::from_name(text)
        .map(KernelChoice::Is)
        .ok_or_else(|| {
            "expected auto, direct, perturbation, perturbation-v1 or perturbation-v2".to_string()
        })
}

/// `--format`: a width, or the narrowest that resolves the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatChoice {
    Auto,
    Is(Format),
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub view: ViewArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Palette: ultra (azure's colours cycling with the smooth count), azure, classic (the
    /// original's black and white), or a FILE of colours, one a line (#rrggbb or r g b)
    #[arg(long, default_value = "ultra", value_parser = PaletteChoice::parse)]
    pub palette: PaletteChoice,
    #[command(flatten)]
    pub cycle: CycleArgs,
    /// Output PNG; by default a new image-<unix millis>.png in the current directory
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Also write the counts to FILE (NPY, which numpy reads) and the job beside it in
    /// FILE's name with .json, for `fixedbrot colour`
    #[arg(long, value_name = "FILE.npy")]
    pub raw: Option<PathBuf>,
    /// Worker threads (1-256); by default one per core
    #[arg(long, value_parser = threads)]
    pub threads: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, HOST:PORT (port 0: any free port, which the log names)
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// Tiles computed at once, each on a thread (1-256); by default one per core. With
    /// --brokers, jobs in flight to the worker pool, by default 16. A download takes them all
    #[arg(long, value_parser = threads)]
    pub threads: Option<usize>,
    /// With --brokers, seconds a tile or download waits for the workers before answering 504
    /// (1-3600); what was sent keeps its slot until the workers answer it
    #[arg(long, default_value_t = 60, requires = "brokers", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub tile_timeout: u64,
    /// Tiles that may wait for a thread (1-65536); past them a request gets 503
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub max_queue: u64,
    /// MiB of finished tiles kept, so that panning back and a second user cost nothing
    /// (0-65536)
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(0..=65_536))]
    pub cache_mib: u64,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// With --brokers (or any Kafka flag, or KAFKA_BROKERS set), tiles are jobs for the
    /// Kafka worker pool: calc processes and boards anywhere
    #[command(flatten)]
    pub kafka: Option<KafkaArgs>,
}

#[derive(Debug, Args)]
pub struct ColourArgs {
    /// Counts written by render --raw or image --raw-dir (FILE.npy, its job in FILE.json)
    pub file: PathBuf,
    /// Palette: ultra (azure's colours cycling with the count), azure, classic (the
    /// original's black and white), or a FILE of colours, one a line (#rrggbb or r g b)
    #[arg(long, default_value = "ultra", value_parser = PaletteChoice::parse)]
    pub palette: PaletteChoice,
    #[command(flatten)]
    pub cycle: CycleArgs,
    /// Output PNG; by default a new image-<unix millis>.png in the current directory
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Largest image accepted, in pixels (1-4294836225, 65535 x 65535): checked before the
    /// counts are read
    #[arg(long, default_value_t = Limits::default().max_pixels, value_parser = clap::value_parser!(u64).range(1..=65_535 * 65_535))]
    pub max_pixels: u64,
}

impl ViewArgs {
    /// The checked job these flags describe, or a sentence saying what to change.
    pub fn job(&self, limits: &Limits) -> Result<Job, String> {
        let (tile_width, tile_height) = self.tile.unwrap_or((64, 64));
        let (width, height) = self.points()?;
        let grid = Grid {
            width,
            height,
            tile_width,
            tile_height,
        };
        grid.check().map_err(|e| e.to_string())?;
        let (format, view) = match (&self.center, &self.zoom) {
            (Some(centre), Some(zoom)) => self.by_centre(centre, zoom)?,
            _ => self.by_corners()?,
        };
        let mut job = Job {
            format,
            view,
            grid,
            iterations: self.iterations,
            kernel: match self.kernel {
                KernelChoice::Auto => Kernel::auto(format),
                KernelChoice::Is(kernel) => kernel,
            },
            smooth: false,
            samples: self.samples,
        };
        job.check().map_err(|e| e.to_string())?;
        if self.tile.is_none() {
            // Halve the default tile's sides until a worker takes its work, down to 1x1; a
            // tile the user names is theirs to change.
            let side = [64, 32, 16, 8, 4, 2, 1]
                .into_iter()
                .find(|&side| {
                    let grid = Grid {
                        tile_width: side,
                        tile_height: side,
                        ..grid
                    };
                    limits.admit_work(&Job { grid, ..job }).is_ok()
                })
                .unwrap_or(1);
            (job.grid.tile_width, job.grid.tile_height) = (side, side);
        }
        limits.admit_work(&job).map_err(|over| over.to_string())?;
        Ok(job)
    }

    /// The grid's sides: the image's, times the samples a side.
    fn points(&self) -> Result<(u32, u32), String> {
        let times = |side: u32| {
            let points = side.saturating_mul(u32::from(self.samples));
            match points <= MAX_SIDE || self.samples == 1 {
                true => Ok(points),
                false => Err(format!(
                    "{side} pixels of {} samples a side are {points} points, above {MAX_SIDE}: \
                     use fewer samples or pixels",
                    self.samples
                )),
            }
        };
        Ok((times(self.width)?, times(self.height)?))
    }

    fn by_centre(&self, centre: &str, zoom: &Zoom) -> Result<(Format, View), String> {
        let (width, height) = self.points()?;
        let about = |e: JobError| {
            // The deepest zoom is 4 / (height · least step): its power of ten, since the
            // number is far beyond a float's range.
            let deepest = 4f64.log10() - f64::from(height).log10() - self.least_step_log10();
            let advice = match e {
                JobError::TooDeep => format!(
                    " (the deepest zoom at this height and limit is about {})",
                    power_of_ten(deepest)
                ),
                _ => String::new(),
            };
            format!("view at {}, zoom {zoom}: {e}{advice}", shortened(centre))
        };
        let format = match self.format {
            FormatChoice::Auto => Format::for_zoom(zoom, height, self.iterations).map_err(about)?,
            FormatChoice::Is(format) => format,
        };
        let view = View::from_centre(format, centre, zoom, width, height)
            .map_err(|e| self.unresolvable(e, format).unwrap_or_else(|| about(e)))?;
        Ok((format, view))
    }

    fn by_corners(&self) -> Result<(Format, View), String> {
        let (top_left, bottom_right) = (&self.top_left, &self.bottom_right);
        let about = |e: JobError| {
            let (top_left, bottom_right) = (shortened(top_left), shortened(bottom_right));
            let advice = match e {
                JobError::TooDeep => format!(
                    " (a step between pixels of at least about {} renders at this limit)",
                    power_of_ten(self.least_step_log10())
                ),
                _ => String::new(),
            };
            format!("view {top_left} to {bottom_right}: {e}{advice}")
        };
        let (width, height) = self.points()?;
        let format = match self.format {
            FormatChoice::Auto => {
                Format::for_corners(top_left, bottom_right, width, height, self.iterations)
                    .map_err(about)?
            }
            FormatChoice::Is(format) => format,
        };
        let view = View::from_corners(format, top_left, bottom_right, width, height)
            .map_err(|e| self.unresolvable(e, format).unwrap_or_else(|| about(e)))?;
        Ok((format, view))
    }

    /// The power of ten of the least step between pixels the widest format takes at this
    /// iteration limit, by `--format auto`'s rule, for advice (a float is fine in a message;
    /// the step itself, near 2^-4080, is below any).
    fn least_step_log10(&self) -> f64 {
        let ulps = f64::from(MIN_STEP_ULPS.max(self.iterations));
        ulps.log10() - f64::from(Width::WIDEST.frac_bits()) * 2f64.log10()
    }

    /// The core's advice for a step that rounds to zero is a wider format; in the widest
    /// already, there is none.
    fn unresolvable(&self, e: JobError, format: Format) -> Option<String> {
        let widest = Format::Wide(Width::WIDEST);
        let unresolvable = matches!(e, JobError::UnresolvableX | JobError::UnresolvableY);
        (unresolvable && format == widest).then(|| {
            "the step between pixels rounds to zero even in the widest format (4096 bits): \
             use a wider view or fewer pixels"
                .to_owned()
        })
    }
}

/// A new job id: the clock and the process's random hash keys, so two generators started in
/// the same nanosecond still differ.
pub fn new_job_id() -> JobId {
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    JobId(hasher.finish())
}

fn threads(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=256).contains(&n) => Ok(n),
        _ => Err(format!(
            "threads must be a number from 1 to 256, not {text:?}"
        )),
    }
}

fn instance(text: &str) -> Result<String, String> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if (1..=128).contains(&text.len()) && text.chars().all(legal) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "instance must be 1 to 128 ASCII letters, digits, '.', '_' or '-', not {text:?}"
        ))
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

fn parse_format(text: &str) -> Result<FormatChoice, String> {
    if text == "auto" {
        return Ok(FormatChoice::Auto);
    }
    text.parse()
        .ok()
        .and_then(Format::from_bits)
        .map(FormatChoice::Is)
        .ok_or_else(|| {
            format!(
                "format must be auto, 32, 64 or a multiple of 32 from 96 to 4096 (bits), \
                 not {text:?}"
            )
        })
}

/// `10^exponent` as `1.2e-345`, for any exponent a float's logarithm holds.
fn power_of_ten(exponent: f64) -> String {
    let whole = exponent.floor();
    format!("{:.1}e{}", 10f64.powf(exponent - whole), whole as i64)
}

/// Text a message repeats, cut to a line: a centre may be thousands of digits.
pub fn shortened(text: &str) -> String {
    const SHOWN: usize = 60;
    match text.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("{}... ({} characters)", &text[..at], text.chars().count()),
        None => text.to_owned(),
    }
}

fn parse_zoom(text: &str) -> Result<Zoom, String> {
    Zoom::parse(text).ok_or_else(|| JobError::BadZoom.to_string())
}

/// How a gradient palette goes round: `--palette-span`, `--palette-offset`, `--histogram`.
#[derive(Debug, Clone, Args)]
pub struct CycleArgs {
    /// Iterations a gradient palette takes to go round once (1-4294967295): about as many
    /// as neighbouring pixels' counts differ by, at any depth
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub palette_span: u32,
    /// Iterations to move a gradient palette on by
    #[arg(long, default_value_t = 0)]
    pub palette_offset: u32,
    /// Spread a gradient palette once round the image's own smooth counts, evenly by how
    /// many pixels have each, instead of cycling
    #[arg(long)]
    pub histogram: bool,
}

impl CycleArgs {
    /// The colouring of `palette` with these flags, or what to change.
    pub fn colouring(&self, palette: &PaletteChoice) -> Result<Colouring, String> {
        palette.colouring(self.palette_span, self.palette_offset, self.histogram)
    }
}
