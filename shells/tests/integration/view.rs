//! Views by centre and zoom, and the format chosen for them: what a user who zooms types.
use std::process::Command;

use crate::harness::{pixels, Scratch, BIN};

fn render(dir: &Scratch, name: &str, view: &[&str]) -> std::process::Output {
    let output = dir.join(name);
    let raw = dir.join(format!("{name}.npy"));
    let files = [
        "-o",
        output.to_str().unwrap(),
        "--raw",
        raw.to_str().unwrap(),
    ];
    Command::new(BIN)
        .arg("render")
        .args(view)
        .args(files)
        .output()
        .unwrap()
}

/// Zoom 1 is a view 4 high; at 256x256 its step, 1/64, is exact, and so is every corner: the
/// same pixels as the corners (-2, 2) to (2, -2).
#[test]
fn a_view_by_centre_and_zoom_is_the_view_by_its_corners() {
    let dir = Scratch::new("view-centre");
    let size = ["--width", "256", "--height", "256"];
    let centre = render(
        &dir,
        "centre.png",
        &[&["--center", "0,0", "--zoom", "1"][..], &size].concat(),
    );
    assert!(centre.status.success(), "{centre:?}");
    let corners = ["--top-left", "-2,2", "--bottom-right", "2,-2"];
    let corners = render(&dir, "corners.png", &[&corners[..], &size].concat());
    assert!(corners.status.success(), "{corners:?}");
    assert_eq!(
        pixels(&dir.join("centre.png")),
        pixels(&dir.join("corners.png"))
    );
}

/// A user who zooms never names a format: a billion-fold zoom is I4F60's, the default view
/// I4F28's, and the sidecar says which.
#[test]
fn the_format_follows_the_zoom() {
    let dir = Scratch::new("view-auto");
    let deep = [
        "--center",
        "-0.7436438870371587,0.1318259042053120",
        "--zoom",
        "1E9",
        "--width",
        "64",
        "--height",
        "48",
        "--iterations",
        "3000",
    ];
    for (name, view, format) in [
        ("deep.png", &deep[..], "I4F60"),
        ("default.png", &[][..], "I4F28"),
    ] {
        let output = render(&dir, name, view);
        assert!(output.status.success(), "{output:?}");
        let sidecar = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
        assert!(
            sidecar.contains(&format!("\"format\": \"{format}\""))
                || sidecar.contains(&format!("\"format\":\"{format}\"")),
            "{sidecar}"
        );
    }
}

/// A centre of 100,000 digits is refused in one line that does not repeat it.
#[test]
fn a_centre_too_long_is_refused_in_a_line() {
    let digits = format!("0.{},0", "1".repeat(100_000));
    let output = Command::new(BIN)
        .args(["render", "--center", &digits, "--zoom", "10"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        &stderr[..200.min(stderr.len())]
    );
    let line = stderr.lines().next().unwrap();
    assert!(line.starts_with("error: ") && line.len() < 400, "{line}");
}

/// Too far out is not too deep: a probe of 1bbfa2e was told "too deep ... zoom out" for a
/// zoom of 0.001. And a view too deep for jobs yet names the deepest zoom that renders.
#[test]
fn refusals_say_which_way_to_go() {
    let refusal = |args: &[&str]| {
        let output = Command::new(BIN).arg("render").args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .next()
            .unwrap()
            .to_owned()
    };
    let far = refusal(&["--center", "-0.75,0", "--zoom", "0.001"]);
    assert!(far.contains("within -3..3"), "{far}");
    let deep = [
        "--center",
        "-0.74,0.13",
        "--zoom",
        "1.2E13",
        "--width",
        "300",
        "--height",
        "300",
    ];
    let deep = refusal(&deep);
    assert!(
        deep.contains("96-bit") && deep.contains("deepest zoom") && deep.contains("3.753e12"),
        "{deep}"
    );
}
