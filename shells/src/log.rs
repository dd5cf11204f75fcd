//! Log lines on stderr with a UTC timestamp, in the spirit of the original's
//! `2019-08-16 22:04:57 INFO  RequestGenerator$ - ...`, and a progress bar for terminals.
use std::io::{IsTerminal, Write};
use std::time::{SystemTime, UNIX_EPOCH};

/// Logs one line: `2026-11-25 23:44:58.123 INFO  image - Received BEGIN marker ...`.
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::line("INFO ", module_path!(), format_args!($($arg)*)) };
}

/// Logs one warning line.
macro_rules! log_warn {
    ($($arg:tt)*) => { $crate::log::line("WARN ", module_path!(), format_args!($($arg)*)) };
}

// Imported as `use crate::log::{info, warn}`: the log lives here, not at the crate's root.
// (`warn` alone would be taken for the attribute of that name.)
pub(crate) use info;
pub(crate) use log_warn as warn;

#[doc(hidden)]
pub fn line(level: &str, module: &str, message: std::fmt::Arguments<'_>) {
    let module = module.rsplit("::").next().unwrap_or(module);
    let mut err = std::io::stderr().lock();
    // A log line that cannot be written has nowhere else to go.
    let _ = writeln!(err, "\r{} {level} {module} - {message}", timestamp());
}

/// `YYYY-MM-DD hh:mm:ss.mmm` in UTC, from the system clock.
pub fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        now.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// A one-line progress bar on stderr, drawn only when stderr is a terminal.
pub struct Progress {
    enabled: bool,
}

impl Default for Progress {
    fn default() -> Progress {
        Progress::new()
    }
}

impl Progress {
    /// A bar that draws if stderr is a terminal.
    pub fn new() -> Progress {
        Progress {
            enabled: std::io::stderr().is_terminal(),
        }
    }

    /// Redraws the bar: `label [#####     ] done/total`.
    pub fn show(&self, label: &str, done: u64, total: u64) {
        if !self.enabled || total == 0 {
            return;
        }
        const WIDTH: u64 = 30;
        let filled = (done * WIDTH / total) as usize;
        let bar = format!(
            "{}{}",
            "#".repeat(filled),
            " ".repeat(WIDTH as usize - filled)
        );
        let _ = write!(
            std::io::stderr().lock(),
            "\r{label} [{bar}] {done}/{total} tiles"
        );
    }

    /// Clears the bar's line.
    pub fn clear(&self) {
        if self.enabled {
            let _ = write!(std::io::stderr().lock(), "\r{:80}\r", "");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn days_become_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(18_124), (2019, 8, 16));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
