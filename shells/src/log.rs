//! Logging through `tracing`, on stderr: a text line in the spirit of the original's
//! `2019-08-16 22:04:57 INFO  RequestGenerator$ - ...` with a UTC timestamp, or one JSON
//! object per line for log shippers. Levels come from `--log-level`, else `RUST_LOG`, else
//! info. Job ids, tiles, partitions and offsets go in events as fields, which the text line
//! writes after the message as `key=value`.
//!
//! Progress bars (`indicatif`) are drawn only on a terminal; log lines are written between
//! their redraws, so neither cuts the other.
use std::io::{self, Write};
use std::sync::OnceLock;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, UtcTime};
use tracing_subscriber::fmt::{FmtContext, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

pub use tracing::{debug, info, warn};

/// A job id as the logs write it, as a field: `job = %Hex(job_id.0)`.
pub struct Hex(pub u64);

impl std::fmt::Display for Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-11-25 23:44:58.123 INFO  image - Output file is: ... job=...`
    Text,
    /// One JSON object per line: timestamp, level, target, message and fields.
    Json,
}

const TIMESTAMP: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]");

/// Starts logging: `level` (a `RUST_LOG`-style filter such as `debug` or
/// `fixedbrot=debug,rdkafka=warn`) wins over `RUST_LOG`; with neither, info.
pub fn init(level: Option<&str>, format: LogFormat) -> Result<(), String> {
    let filter = match (level, std::env::var("RUST_LOG")) {
        (Some(level), _) => {
            EnvFilter::try_new(level).map_err(|e| format!("--log-level {level:?}: {e}"))?
        }
        (None, Ok(env)) if !env.is_empty() => {
            EnvFilter::try_new(&env).map_err(|e| format!("RUST_LOG={env:?}: {e}"))?
        }
        _ => EnvFilter::new("info"),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(BarsAside)
        .with_ansi(false);
    let installed = match format {
        LogFormat::Text => builder.event_format(Line).try_init(),
        // RFC 3339 in UTC, which log shippers parse without being told the format.
        LogFormat::Json => builder
            .with_timer(UtcTime::rfc_3339())
            .json()
            .flatten_event(true)
            .try_init(),
    };
    installed.map_err(|e| format!("starting the log: {e}"))
}

/// The text line: timestamp, level, the module, ` - `, the message and its fields.
struct Line;

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let module = meta.target().rsplit("::").next().unwrap_or(meta.target());
        UtcTime::new(TIMESTAMP).format_time(&mut writer)?;
        write!(writer, " {:<5} {module} - ", meta.level())?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// The bars of this process: log lines are written with them cleared, then they are redrawn.
fn bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

/// stderr, written with the progress bars out of the way. A line stderr cannot take (a
/// closed pipe, a full disk) is dropped: `tracing` would report the failure on stderr,
/// whose `eprintln!` panics, and a render whose log has nowhere to go should still finish.
struct BarsAside;

impl Write for BarsAside {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _lost = bars().suspend(|| io::stderr().lock().write_all(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _lost = io::stderr().flush();
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BarsAside {
    type Writer = BarsAside;

    fn make_writer(&'a self) -> BarsAside {
        BarsAside
    }
}

/// A progress bar, `label [#####     ] done/total unit`, drawn on stderr only when stderr is a
/// terminal; it leaves no line behind when done.
pub struct Progress(ProgressBar);

impl Progress {
    /// A bar of `total` steps counted in `unit`s (tiles, messages).
    pub fn new(label: &str, total: u64, unit: &str) -> Progress {
        let style = ProgressStyle::with_template(&format!(
            "{{prefix}} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{per_sec}}, {{eta}} left)"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#> ");
        let bar = bars().add(ProgressBar::new(total).with_style(style));
        bar.set_prefix(label.to_owned());
        Progress(bar)
    }

    /// Where the work is: `done` steps of the total.
    pub fn show(&self, done: u64) {
        self.0.set_position(done);
    }

    /// Removes the bar.
    pub fn clear(&self) {
        self.0.finish_and_clear();
        bars().remove(&self.0);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}
