//! The log's levels, from --log-level or RUST_LOG, and its text line.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::harness::{Scratch, BIN};

/// The log of a small render, with `env` set and `flags` given.
fn render_log(env: &[(&str, &str)], flags: &[&str]) -> String {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let dir = Scratch::new(&format!(
        "fixedbrot-test-log-{}",
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    let output = dir.join("render.png");
    let result = Command::new(BIN)
        .args([
            "render",
            "--width",
            "64",
            "--height",
            "48",
            "--threads",
            "2",
            "-o",
        ])
        .arg(&output)
        .args(flags)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let log = String::from_utf8(result.stderr).unwrap();
    assert!(result.status.success(), "{log}");
    log
}

#[test]
fn the_default_level_is_info_in_the_originals_line_shape() {
    let log = render_log(&[], &[]);
    let line = log.lines().find(|l| l.contains("Rendered in")).expect(&log);
    // 2026-11-26 20:12:35.123 INFO  render - Rendered in ...
    let (date, rest) = line.split_at(23);
    assert!(
        date.len() == 23 && date.as_bytes()[4] == b'-' && date.as_bytes()[10] == b' ',
        "{line}"
    );
    assert!(rest.starts_with(" INFO  render - Rendered in "), "{line}");
    assert!(!log.contains("DEBUG"), "{log}");
}

#[test]
fn rust_log_and_log_level_choose_the_level_and_the_flag_wins() {
    let debug = render_log(&[("RUST_LOG", "debug")], &[]);
    assert!(
        debug.contains("DEBUG local - Worker 1: no tiles left worker=1"),
        "{debug}"
    );
    let quiet = render_log(&[("RUST_LOG", "debug")], &["--log-level", "warn"]);
    assert_eq!(quiet, "");
    let flag = render_log(&[], &["--log-level", "debug"]);
    assert!(flag.contains("DEBUG"), "{flag}");
}

#[test]
fn a_bad_level_is_a_usage_error() {
    let result = Command::new(BIN)
        .args(["render", "--log-level", "loud=="])
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&result.stderr).contains("--log-level"));
}

#[test]
fn a_render_whose_stderr_takes_nothing_still_writes_its_image() {
    // A full disk, or a closed pipe (`| head -1`): the log has nowhere to go, and the
    // image is written all the same (tracing once reported the failure on stderr, and
    // panicked there).
    let dir = Scratch::new("fixedbrot-test-log-full");
    let output = dir.join("render.png");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let status = Command::new(BIN)
        .args(["render", "--width", "32", "--height", "24", "-o"])
        .arg(&output)
        .stderr(full)
        .status()
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(output.exists());
}
