//! Views by centre and zoom, and the format chosen for them: what a user who zooms types.
use std::process::Command;

use fixedbrot_tests::cases::LOCATION_1E50;

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

/// A user who zooms never names a format: the default view is I4F28's, a billion-fold zoom
/// I4F60's, rust-fractal-core's 1e50 location 192 bits', a 1e-300 view 1,024 bits'; and
/// the sidecar says which.
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
    let centre_1e50 = format!("{},{}", LOCATION_1E50.0, LOCATION_1E50.1);
    let location_1e50 = [
        "--center",
        &centre_1e50,
        "--zoom",
        "1E50",
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
        ("1e50.png", &location_1e50[..], "I4F188"),
        ("1e-300.png", &TIP_1E300[..], "I4F1020"),
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

/// The tip of the set's needle at -2, a view 4e-300 high: what lies outside |c| = 2 escapes
/// at once, and what lies inside runs on, longer the nearer the needle, so the picture has
/// structure at 1e-300.
pub const TIP_1E300: [&str; 10] = [
    "--center",
    "-2,0",
    "--zoom",
    "1E300",
    "--width",
    "48",
    "--height",
    "32",
    "--iterations",
    "3000",
];

/// A 1e-300 view draws what is there: more than one count, every one exact (the boards and
/// the oracle pin wide tiles; here the whole command).
#[test]
fn a_view_1e300_deep_has_structure() {
    let dir = Scratch::new("view-1e300");
    let output = render(&dir, "tip.png", &TIP_1E300);
    assert!(output.status.success(), "{output:?}");
    let counts = std::fs::read(dir.join("tip.png.npy")).unwrap();
    let header = 10 + usize::from(u16::from_le_bytes([counts[8], counts[9]]));
    let counts: std::collections::BTreeSet<u32> = counts[header..]
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert!(counts.len() > 5, "{counts:?}");
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
/// zoom of 0.001. And a view too deep for the widest format names the deepest zoom that
/// renders.
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
        "1.2E1230",
        "--width",
        "300",
        "--height",
        "300",
    ];
    let deep = refusal(&deep);
    assert!(
        deep.contains("4096 bits") && deep.contains("deepest zoom") && deep.contains("e1226"),
        "{deep}"
    );
    let forced = refusal(&["--center", "-0.74,0.13", "--zoom", "1E30", "--format", "64"]);
    assert!(forced.contains("a wider format"), "{forced}");
    let bad = refusal(&["--format", "100"]);
    assert!(bad.contains("multiple of 32"), "{bad}");
}

/// A probe's view whose PNG was unreadable: miniz_oxide returned from a band's full flush
/// with output still pending, and the band was cut short (the png crate's decoder refuses
/// such a stream, so reading the pixels is the test).
#[test]
fn a_band_whose_flush_is_late_still_writes_a_readable_png() {
    let dir = Scratch::new("view-late-flush");
    let view = [
        "--center",
        "-0.7436438870371587,0.1318259042053",
        "--zoom",
        "1E5",
        "--width",
        "1000",
        "--height",
        "557",
        "--iterations",
        "1000",
        "--palette",
        "azure",
    ];
    let output = render(&dir, "late.png", &view);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(pixels(&dir.join("late.png")).len(), 1000 * 557 * 3);
}
