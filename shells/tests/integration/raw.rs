//! Raw counts: `render --raw` writes what numpy reads and `colour` paints again, exactly.

use std::path::Path;
use std::process::Command;

use crate::harness::{pixels, Scratch, BIN};

fn scratch(name: &str) -> Scratch {
    Scratch::new(&format!("fixedbrot-test-{name}"))
}

fn fixedbrot(args: &[&str], dir: &Path) {
    let output = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "fixedbrot {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

const VIEW: [&str; 8] = [
    "--width",
    "320",
    "--height",
    "200",
    "--iterations",
    "300",
    "--tile",
    "48x32",
];

#[test]
fn colouring_raw_counts_gives_the_pixels_render_gives_for_each_palette() {
    let dir = scratch("raw-colour");
    // ultra colours by the smooth count: its fractions travel in FILE.smooth.npy.
    for palette in ["azure", "classic", "ultra"] {
        let (counts, rendered, coloured) = (
            format!("{palette}.npy"),
            format!("render-{palette}.png"),
            format!("colour-{palette}.png"),
        );
        let render = [
            "render",
            "--palette",
            palette,
            "--raw",
            &counts,
            "-o",
            &rendered,
        ];
        fixedbrot(&[&render[..], &VIEW].concat(), &dir);
        fixedbrot(
            &["colour", &counts, "--palette", palette, "-o", &coloured],
            &dir,
        );
        assert_eq!(pixels(&dir.join(&coloured)), pixels(&dir.join(&rendered)));
    }
}

#[test]
fn numpy_reads_the_counts_and_the_job_beside_them() {
    let dir = scratch("raw-numpy");
    let render = ["render", "--raw", "counts.npy", "-o", "image.png"];
    fixedbrot(&[&render[..], &VIEW].concat(), &dir);
    // The same counts the PNG was painted from: inside points (count 300) are the classic
    // palette's black.
    let script = r#"
import json, numpy
counts = numpy.load("counts.npy")
job = json.load(open("counts.json"))
assert counts.dtype == numpy.uint32, counts.dtype
assert counts.shape == (200, 320), counts.shape
assert job["grid"]["width"] == 320 and job["grid"]["height"] == 200
assert job["iterations"] == 300 and job["format"] == "I4F28"
assert counts.max() == 300 and counts.min() >= 1
re, im = (float(part) for part in job["corners"]["top_left"].split(","))
assert abs(re + 2.2) < 1e-8 and abs(im - 1.2) < 1e-8, job["corners"]
# The default palette colours by the smooth count: the fractions are beside the counts.
smooth = numpy.load(job["smooth"])
assert job["smooth"] == "counts.smooth.npy" and smooth.dtype == numpy.uint16, smooth.dtype
assert smooth.shape == counts.shape and smooth.max() > 0
assert (smooth[counts == 300] == 0).all()
print(int((counts == 300).sum()), int(counts.sum()))
"#;
    let output = Command::new("python3")
        .args(["-c", script])
        .current_dir(&dir)
        .output()
        .expect("python3");
    assert!(
        output.status.success(),
        "numpy (pip install numpy; scripts/test does): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    let (inside, total): (u64, u64) = {
        let mut numbers = printed.split_whitespace().map(|n| n.parse().unwrap());
        (numbers.next().unwrap(), numbers.next().unwrap())
    };
    // The same sums from the bytes themselves, past the header.
    let bytes = std::fs::read(dir.join("counts.npy")).unwrap();
    let start = 10 + usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    let counts: Vec<u32> = bytes[start..]
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(inside, counts.iter().filter(|&&c| c == 300).count() as u64);
    assert_eq!(total, counts.iter().map(|&c| u64::from(c)).sum::<u64>());
}

#[test]
fn colour_refuses_counts_without_their_job() {
    let dir = scratch("raw-refused");
    std::fs::write(dir.join("lonely.npy"), b"\x93NUMPY").unwrap();
    let output = Command::new(BIN)
        .args(["colour", "lonely.npy"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("lonely.json"), "{stderr}");
}

/// A probe's finding: a FILE.smooth.npy in the way was found only after the work, and then
/// removed. It is a usage error before any work, and every file there is left as it was.
#[test]
fn render_refuses_at_once_a_raw_file_whose_fractions_file_is_taken() {
    let dir = scratch("raw-fractions-taken");
    std::fs::write(dir.join("v.smooth.npy"), b"precious").unwrap();
    let refused = |args: &[&str]| {
        let output = Command::new(BIN)
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        stderr
    };
    let stderr = refused(&["render", "--raw", "v.npy", "-o", "v.png"]);
    assert!(stderr.contains("v.smooth.npy exists already"), "{stderr}");
    assert_eq!(
        std::fs::read(dir.join("v.smooth.npy")).unwrap(),
        b"precious"
    );
    // The image may not take the fractions' name either.
    let stderr = refused(&["render", "--raw", "a.npy", "-o", "a.smooth.npy"]);
    assert!(
        stderr.contains("is where --raw a.npy writes too"),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(left.len(), 1, "nothing written: {left:?}");
}
