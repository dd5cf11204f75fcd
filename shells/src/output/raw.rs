//! A job's counts as numpy reads them, with the job beside them: `FILE.npy` holds the counts
//! (NPY format 1.0, little-endian `uint32`, shape height x width, row-major) and `FILE.json`
//! the job, its view in raw bits and as exact decimals. A count equal to `iterations` is a
//! point inside the set. A job that asks for smooth fractions has them in `FILE.smooth.npy`
//! (`uint16`, the same shape; the sidecar's `smooth` names it): the smooth count is
//! `count - 1 + smooth / 1024`, and 0 where the point never escaped. Colouring them again
//! needs no computing (`fixedbrot colour`). A job of several samples a pixel (`samples` in
//! the sidecar) has its points' values here, `samples` times the image's sides.
//!
//! NPY: <https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>; numpy
//! refuses keys of its own header it does not know, so the job goes in the sidecar.
//!
//! Sidecar version 1 holds a narrow format's view as raw `i64` bits; version 2, for the wide
//! formats, as the exact decimal of each number, which reads back to the same bits.
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use fixedbrot_core::{Fixed, Format, Grid, Job, JobId, Kernel, NarrowView, View};

use fixedbrot_pipeline::Image;

use super::partial::Partial;
use super::written::open_regular;

const MAGIC: &[u8] = b"\x93NUMPY\x01\x00";

/// What the sidecar says, field by field (`fixedbrot_raw` is its version).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Sidecar {
    fixedbrot_raw: u32,
    /// The file the counts are in, beside this one.
    counts: String,
    job_id: String,
    /// `I4F28`, `I4F60`, `I4F92`...
    format: String,
    /// `direct` or `perturbation-v1`; absent (direct) in files before kernels had names.
    #[serde(default = "direct")]
    kernel: String,
    iterations: u32,
    grid: Grid,
    view: SidecarView,
    /// The c of the top-left and bottom-right pixels, `RE,IM`, each part the exact value of
    /// its raw bits.
    corners: Corners,
    /// The file the smooth fractions are in, beside this one, if the job asked for them:
    /// `uint16`, units of 2^-10 (`smooth_count = count - 1 + smooth / 1024`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    smooth: Option<String>,
    /// Points a pixel is computed at along each side: the arrays are of points, `grid`'s
    /// sides, and a pixel of the image is each `samples x samples` block of them.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    samples: u8,
}

fn one() -> u8 {
    1
}

fn is_one(samples: &u8) -> bool {
    *samples == 1
}

fn direct() -> String {
    Kernel::Direct.name().to_string()
}

/// The kernel a sidecar names, exactly as written: not `perturbation`, which names whichever
/// version is the latest.
fn kernel_named(name: &str) -> Option<Kernel> {
    Kernel::ALL.into_iter().find(|kernel| kernel.name() == name)
}

/// A view as the sidecar holds it: raw bits (version 1) or exact decimals (version 2).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum SidecarView {
    Raw(NarrowView),
    Exact {
        origin_re: String,
        origin_im: String,
        step_x: String,
        step_y: String,
    },
}

impl SidecarView {
    fn of(job: &Job) -> SidecarView {
        let view = &job.view;
        match (job.format, view.narrow()) {
            (Format::Wide(_), _) | (_, None) => SidecarView::Exact {
                origin_re: view.origin_re.to_string(),
                origin_im: view.origin_im.to_string(),
                step_x: view.step_x.to_string(),
                step_y: view.step_y.to_string(),
            },
            (_, Some(narrow)) => SidecarView::Raw(narrow),
        }
    }

    /// The sidecar version that writes a view this way.
    fn version(&self) -> u32 {
        match self {
            SidecarView::Raw(_) => 1,
            SidecarView::Exact { .. } => 2,
        }
    }

    /// The view in `format`, if it is written as that format's sidecars write it.
    fn view(&self, format: Format) -> Option<View> {
        match (self, format) {
            (SidecarView::Raw(narrow), Format::I4F28 | Format::I4F60) => {
                Some(narrow.in_format(format))
            }
            (
                SidecarView::Exact {
                    origin_re,
                    origin_im,
                    step_x,
                    step_y,
                },
                Format::Wide(width),
            ) => {
                // Exactly a number of the format, as written: a decimal that rounds is not
                // the job's (a probe of 4146cb4 coloured one without a word).
                let read = |text: &String| {
                    Fixed::from_decimal(width, text).filter(|number| number.to_string() == *text)
                };
                Some(View {
                    origin_re: read(origin_re)?,
                    origin_im: read(origin_im)?,
                    step_x: read(step_x)?,
                    step_y: read(step_y)?,
                })
            }
            _ => None,
        }
    }
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Corners {
    top_left: String,
    bottom_right: String,
}

/// The sidecar of counts file `path`: the same name, `.json`.
pub fn sidecar(path: &Path) -> PathBuf {
    path.with_extension("json")
}

/// The smooth fractions file of counts file `path`: the same name, `.smooth.npy`.
pub fn fractions(path: &Path) -> PathBuf {
    path.with_extension("smooth.npy")
}

/// How a counts file takes its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Never over a file: one made since [`check_new_file`] is an error (`render --raw`).
    New,
    /// Over the same job's counts written before (`image --raw-dir` replaying a job).
    Replace,
}

/// Writes `image` to `path` and its sidecar: each written beside its name, synced and put in
/// place, the sidecar first, so a counts file that is there has its job; then the directory
/// is synced, so both outlast a crash as the image that follows them does. A new sidecar
/// whose counts could not follow it is removed, so a failed write leaves nothing behind.
pub fn write(path: &Path, image: &Image, place: Place) -> io::Result<()> {
    let job = &image.job;
    let grid = job.grid;
    let corner = |x, y| {
        let c = job.view.point(x, y);
        format!("{},{}", c.re, c.im)
    };
    let view = SidecarView::of(job);
    let name = |path: &Path| {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let smooth = job.smooth.then(|| fractions(path));
    let sidecar_text = serde_json::to_string_pretty(&Sidecar {
        fixedbrot_raw: view.version(),
        counts: name(path),
        job_id: format!("{:016x}", image.job_id.0),
        format: job.format.to_string(),
        kernel: job.kernel.to_string(),
        iterations: job.iterations,
        grid,
        view,
        corners: Corners {
            top_left: corner(0, 0),
            bottom_right: corner(grid.width - 1, grid.height - 1),
        },
        smooth: smooth.as_deref().map(name),
        samples: job.samples,
    })
    .map_err(io::Error::other)?;
    write_placed(&sidecar(path), place, |out| {
        out.write_all(sidecar_text.as_bytes())?;
        out.write_all(b"\n")
    })?;
    // The fractions before the counts: counts that are there have all they need. A new
    // file that could not follow is removed, and only a file this call wrote (a probe found
    // a user's FILE.smooth.npy removed when it stood in the way).
    let mut written = vec![sidecar(path)];
    let arrays = match &smooth {
        Some(at) => write_array(at, place, grid, &image.smooth).map(|()| written.push(at.clone())),
        None => Ok(()),
    }
    .and_then(|()| write_array(path, place, grid, &image.counts));
    if let (Err(_), Place::New) = (&arrays, place) {
        for ours in &written {
            let _ = fs::remove_file(ours);
        }
    }
    arrays?;
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => File::open(".")?.sync_all(),
    }
}

/// Writes `values`, `grid`'s pixels, as an NPY array at `path`.
fn write_array<T: Element>(path: &Path, place: Place, grid: Grid, values: &[T]) -> io::Result<()> {
    write_placed(path, place, |out| {
        out.write_all(&header::<T>(grid.height, grid.width))?;
        for value in values {
            value.write_le(out)?;
        }
        Ok(())
    })
}

/// A value an NPY array here holds: `uint32` counts, `uint16` fractions.
trait Element: Copy {
    /// numpy's name of the type, little-endian; the type, and what its values are, in words.
    const DESCR: &'static str;
    const TYPE: &'static str;
    const WHAT: &'static str;
    const SIZE: usize;
    fn write_le(self, out: &mut dyn Write) -> io::Result<()>;
    fn from_le(bytes: &[u8]) -> Self;
}

impl Element for u32 {
    const DESCR: &'static str = "<u4";
    const TYPE: &'static str = "uint32";
    const WHAT: &'static str = "counts";
    const SIZE: usize = 4;
    fn write_le(self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(&self.to_le_bytes())
    }
    fn from_le(b: &[u8]) -> u32 {
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
}

impl Element for u16 {
    const DESCR: &'static str = "<u2";
    const TYPE: &'static str = "uint16";
    const WHAT: &'static str = "fractions";
    const SIZE: usize = 2;
    fn write_le(self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(&self.to_le_bytes())
    }
    fn from_le(b: &[u8]) -> u16 {
        u16::from_le_bytes([b[0], b[1]])
    }
}

/// Writes through `fill` into a partial file beside `path`, synced, then puts it there.
fn write_placed(
    path: &Path,
    place: Place,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut partial = Partial::beside(path)?;
    let mut out = BufWriter::new(partial.file());
    fill(&mut out)?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    match place {
        Place::New => fs::hard_link(partial.path(), path),
        Place::Replace => fs::rename(partial.path(), path),
    }
}

/// The NPY 1.0 header of a C-order array of `T` of `rows` x `columns`, padded with spaces
/// and a newline so that the data starts on a multiple of 64 bytes, as the format asks.
fn header<T: Element>(rows: u32, columns: u32) -> Vec<u8> {
    let descr = T::DESCR;
    let mut text =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({rows}, {columns}), }}");
    let unpadded = MAGIC.len() + 2 + text.len() + 1;
    text.extend(std::iter::repeat_n(
        ' ',
        unpadded.next_multiple_of(64) - unpadded,
    ));
    text.push('\n');
    let mut bytes = MAGIC.to_vec();
    bytes.extend((text.len() as u16).to_le_bytes());
    bytes.extend(text.as_bytes());
    bytes
}

/// Reads counts written by [`write`] (or any NPY file of the same shape and type with such a
/// sidecar), checking the job and that the counts are the job's: one per pixel, none above
/// the iteration limit. A job over `max_pixels` is refused before anything is allocated.
pub fn read(path: &Path, max_pixels: u64) -> Result<Image, String> {
    let side = sidecar(path);
    let text = read_sidecar(&side).map_err(|e| format!("{}: {e}", side.display()))?;
    let sidecar: Sidecar =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", side.display()))?;
    let job = job_of(&sidecar).map_err(|e| format!("{}: {e}", side.display()))?;
    if job.grid.pixels() > max_pixels {
        return Err(format!(
            "{}: {}x{} is {} pixels, above the limit of {max_pixels} (--max-pixels)",
            side.display(),
            job.grid.width,
            job.grid.height,
            job.grid.pixels()
        ));
    }
    job.check()
        .map_err(|e| format!("{}: the job is not valid: {e}", side.display()))?;
    let job_id = u64::from_str_radix(&sidecar.job_id, 16)
        .map(JobId)
        .map_err(|_| format!("{}: job_id is not 16 hex digits", side.display()))?;
    let counts: Vec<u32> =
        read_array(path, job.grid).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(count) = counts.iter().find(|&&c| c > job.iterations) {
        return Err(format!(
            "{}: a count of {count} is above the job's {} iterations",
            path.display(),
            job.iterations
        ));
    }
    let smooth = match &sidecar.smooth {
        None => Vec::new(),
        Some(name) => read_fractions(path, name, &job, &counts)?,
    };
    Ok(Image {
        job_id,
        job: Job {
            smooth: sidecar.smooth.is_some(),
            ..job
        },
        counts,
        smooth,
    })
}

/// The fractions the sidecar names `name`, beside counts file `path`: a plain file name,
/// never a path elsewhere, each 0 where its pixel's count is the limit.
fn read_fractions(path: &Path, name: &str, job: &Job, counts: &[u32]) -> Result<Vec<u16>, String> {
    let side = sidecar(path);
    if Path::new(name).file_name() != Some(std::ffi::OsStr::new(name)) {
        return Err(format!(
            "{}: smooth {:?} is not a file name beside it",
            side.display(),
            crate::cli::shortened(name)
        ));
    }
    let at = path.with_file_name(name);
    let smooth: Vec<u16> =
        read_array(&at, job.grid).map_err(|e| format!("{}: {e}", at.display()))?;
    let inside_with_one = counts
        .iter()
        .zip(&smooth)
        .any(|(&count, &fraction)| count >= job.iterations && fraction != 0);
    if inside_with_one {
        return Err(format!(
            "{}: a point inside the set has a smooth fraction",
            at.display()
        ));
    }
    Ok(smooth)
}

/// The job a sidecar describes, not yet checked; or what is wrong with it.
fn job_of(sidecar: &Sidecar) -> Result<Job, String> {
    let version = sidecar.fixedbrot_raw;
    if !(1..=2).contains(&version) {
        return Err(format!(
            "raw counts version {version}, this program reads versions 1 and 2"
        ));
    }
    let format = Format::from_name(&sidecar.format)
        .ok_or_else(|| format!("{:?} is not a format", sidecar.format))?;
    let view = (sidecar.view.version() == version)
        .then(|| sidecar.view.view(format))
        .flatten()
        .ok_or_else(|| {
            format!(
                "the view is not written as {format}'s are in version {version} (version 1, \
                 raw bits for I4F28 and I4F60; version 2, the exact decimals of wider formats' \
                 numbers)"
            )
        })?;
    let kernel = kernel_named(&sidecar.kernel).ok_or_else(|| {
        format!(
            "{:?} is not a kernel",
            crate::cli::shortened(&sidecar.kernel)
        )
    })?;
    Ok(Job {
        format,
        view,
        grid: sidecar.grid,
        iterations: sidecar.iterations,
        kernel,
        smooth: false,
        samples: sidecar.samples,
    })
}

/// The longest sidecar read: one is under a kilobyte.
const MAX_SIDECAR: u64 = 1 << 20;

/// The sidecar's text, refused past `MAX_SIDECAR`.
fn read_sidecar(path: &Path) -> io::Result<String> {
    let mut text = String::new();
    open_regular(path)?
        .take(MAX_SIDECAR + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_SIDECAR {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "longer than any job's sidecar (1 MiB)",
        ));
    }
    Ok(text)
}

/// The values of an NPY file that must hold `grid`'s pixels as `T`, C order.
fn read_array<T: Element>(path: &Path, grid: Grid) -> Result<Vec<T>, String> {
    let mut file = io::BufReader::new(open_regular(path).map_err(|e| e.to_string())?);
    let mut start = [0u8; 10];
    file.read_exact(&mut start)
        .map_err(|_| "shorter than an NPY header")?;
    if &start[..MAGIC.len()] != MAGIC {
        return Err("not an NPY 1.0 file".into());
    }
    let header_len = usize::from(u16::from_le_bytes([start[8], start[9]]));
    let mut header = vec![0u8; header_len];
    file.read_exact(&mut header)
        .map_err(|_| "its header is cut short")?;
    let header = String::from_utf8_lossy(&header);
    let expected = format!(
        "'descr': '{}', 'fortran_order': False, 'shape': ({}, {}), }}",
        T::DESCR,
        grid.height,
        grid.width
    );
    // numpy writes the same keys in the same order, so one comparison checks all three.
    if !header.trim_end().ends_with(&expected) || !header.starts_with('{') {
        return Err(format!(
            "its header is not a little-endian {} array of {} x {} in C order (it says {})",
            T::TYPE,
            grid.height,
            grid.width,
            header.trim_end()
        ));
    }
    let pixels = grid.pixels() as usize;
    let data_len = file
        .get_ref()
        .metadata()
        .map_err(|e| e.to_string())?
        .len()
        .saturating_sub((10 + header_len) as u64);
    if data_len != (pixels * T::SIZE) as u64 {
        return Err(format!(
            "{data_len} bytes of {} where {} x {} pixels take {}",
            T::WHAT,
            grid.height,
            grid.width,
            pixels * T::SIZE
        ));
    }
    // Read once, a chunk at a time, straight into the values: never held twice.
    let mut values = Vec::with_capacity(pixels);
    let mut chunk = vec![0u8; 1 << 16];
    let mut left = pixels * T::SIZE;
    while left > 0 {
        let bytes = &mut chunk[..left.min(1 << 16)];
        file.read_exact(bytes).map_err(|e| e.to_string())?;
        values.extend(bytes.chunks_exact(T::SIZE).map(T::from_le));
        left -= bytes.len();
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixedbrot_tests::scratch::Scratch;

    fn image() -> Image {
        let format = Format::I4F28;
        let (width, height) = (7, 5);
        let job = Job {
            format,
            view: View::from_corners(format, "-2.2,1.2", "1.0,-1.2", width, height).unwrap(),
            grid: Grid {
                width,
                height,
                tile_width: 4,
                tile_height: 4,
            },
            iterations: 100,
            kernel: Kernel::Direct,
            smooth: false,
            samples: 1,
        };
        Image {
            job_id: JobId(0x0123_4567_89ab_cdef),
            job,
            counts: (0..35).map(|i| i * 3 % 101).collect(),
            smooth: Vec::new(),
        }
    }

    fn dir(name: &str) -> Scratch {
        Scratch::new(&format!("fixedbrot-raw-{name}"))
    }

    #[test]
    fn counts_and_their_job_read_back_as_written() {
        let scratch = dir("round-trip");
        let path = scratch.join("counts.npy");
        let image = image();
        write(&path, &image, Place::New).unwrap();
        let back = read(&path, u64::MAX).unwrap();
        assert_eq!(
            (back.job_id, back.job, back.counts),
            (image.job_id, image.job, image.counts)
        );
        let bytes = fs::read(&path).unwrap();
        let header_end = 10 + usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
        assert_eq!(header_end % 64, 0, "the data starts on a multiple of 64");
        assert_eq!(bytes.len(), header_end + 35 * 4);
        let sidecar = fs::read_to_string(sidecar(&path)).unwrap();
        assert!(sidecar.contains("\"top_left\": \"-2.1999999992549419403076171875,"));
    }

    /// A smooth job's fractions go in FILE.smooth.npy, named by the sidecar, and read back
    /// with the job asking for them.
    fn smooth_image() -> Image {
        let mut image = image();
        image.job.smooth = true;
        // 0 where the count is the limit (none here: counts stop at 100 only at i = ...).
        image.smooth = image
            .counts
            .iter()
            .map(|&c| {
                if c >= 100 {
                    0
                } else {
                    (c * 331 % 40_000) as u16 + 1
                }
            })
            .collect();
        image
    }

    #[test]
    fn smooth_fractions_read_back_beside_their_counts() {
        let scratch = dir("smooth");
        let path = scratch.join("counts.npy");
        let image = smooth_image();
        write(&path, &image, Place::New).unwrap();
        let text = fs::read_to_string(sidecar(&path)).unwrap();
        assert!(text.contains("\"smooth\": \"counts.smooth.npy\""), "{text}");
        assert_eq!(read(&path, u64::MAX).unwrap(), image);
        let bytes = fs::read(fractions(&path)).unwrap();
        assert!(String::from_utf8_lossy(&bytes[..64]).contains("'descr': '<u2'"));
    }

    #[test]
    fn fractions_named_elsewhere_or_inside_the_set_are_refused() {
        let scratch = dir("smooth-bad");
        let path = scratch.join("counts.npy");
        let mut image = smooth_image();
        write(&path, &image, Place::New).unwrap();
        let text = fs::read_to_string(sidecar(&path)).unwrap();
        let elsewhere = text.replace("counts.smooth.npy", "../counts.smooth.npy");
        fs::write(sidecar(&path), elsewhere).unwrap();
        let error = read(&path, u64::MAX).unwrap_err();
        assert!(error.contains("is not a file name beside it"), "{error}");
        // A point inside (count 100, the limit) with a fraction.
        let other = scratch.join("inside.npy");
        image.counts[0] = 100;
        image.smooth[0] = 5;
        write(&other, &image, Place::New).unwrap();
        let error = read(&other, u64::MAX).unwrap_err();
        assert!(
            error.contains("a point inside the set has a smooth fraction"),
            "{error}"
        );
    }

    /// A wide format's view is written as exact decimals (version 2) and read back to the
    /// same bits; a sidecar whose view is not written as its format's are is refused.
    #[test]
    fn a_wide_job_reads_back_exactly() {
        let scratch = dir("wide");
        let path = scratch.join("counts.npy");
        let mut image = image();
        image.job = fixedbrot_tests::cases::location_1e50(
            Format::from_bits(224).unwrap(),
            (7, 5),
            100,
            (4, 4),
        );
        write(&path, &image, Place::New).unwrap();
        let text = fs::read_to_string(sidecar(&path)).unwrap();
        assert!(text.contains("\"fixedbrot_raw\": 2"), "{text}");
        assert!(text.contains("\"format\": \"I4F220\""), "{text}");
        let back = read(&path, u64::MAX).unwrap();
        assert_eq!((back.job, back.counts), (image.job, image.counts));
        // A decimal that is not a number of the format, exactly: refused.
        let step = image.job.view.step_x.to_string();
        let inexact = format!("{step}1");
        fs::write(sidecar(&path), text.replace(&step, &inexact)).unwrap();
        let refused = read(&path, u64::MAX).unwrap_err();
        assert!(refused.contains("the exact decimals"), "{refused}");
        // Exact decimals said to be version 1, whose views are raw bits: refused.
        fs::write(
            sidecar(&path),
            text.replace("\"fixedbrot_raw\": 2", "\"fixedbrot_raw\": 1"),
        )
        .unwrap();
        let refused = read(&path, u64::MAX).unwrap_err();
        assert!(refused.contains("in version 1"), "{refused}");
        // The same decimals said to be I4F28: not how I4F28's sidecars are written.
        fs::write(sidecar(&path), text.replace("I4F220", "I4F28")).unwrap();
        let refused = read(&path, u64::MAX).unwrap_err();
        assert!(refused.contains("not written as I4F28's are"), "{refused}");
    }

    #[test]
    fn counts_that_are_not_the_jobs_are_refused() {
        let scratch = dir("refused");
        let path = scratch.join("counts.npy");
        let image = image();
        write(&path, &image, Place::New).unwrap();
        let bytes = fs::read(&path).unwrap();
        let cases: [(&str, Vec<u8>); 3] = [
            ("bytes of counts", bytes[..bytes.len() - 4].to_vec()),
            ("not an NPY", b"hello".repeat(20)),
            ("above the job's", {
                let mut b = bytes.clone();
                let last = b.len() - 4;
                b[last..].copy_from_slice(&101u32.to_le_bytes());
                b
            }),
        ];
        for (says, bytes) in cases {
            fs::write(&path, bytes).unwrap();
            let Err(error) = read(&path, u64::MAX) else {
                panic!("accepted")
            };
            assert!(error.contains(says), "{error}");
        }
        fs::write(&path, &bytes).unwrap();
        let text = fs::read_to_string(sidecar(&path)).unwrap();
        fs::write(sidecar(&path), text.replace("\"width\": 7", "\"width\": 8")).unwrap();
        let Err(error) = read(&path, u64::MAX) else {
            panic!("accepted")
        };
        assert!(error.contains("uint32 array of 5 x 8"), "{error}");
    }

    #[test]
    fn only_regular_files_are_read() {
        let scratch = dir("irregular");
        let path = scratch.join("counts.npy");
        write(&path, &image(), Place::New).unwrap();
        fs::remove_file(sidecar(&path)).unwrap();
        fs::create_dir(sidecar(&path)).unwrap();
        let Err(error) = read(&path, u64::MAX) else {
            panic!("accepted")
        };
        assert!(error.contains("not a regular file"), "{error}");
    }

    /// Before, `colour` allocated whatever the sidecar claimed: 65535 x 65535 beside a
    /// sparse file aborted the process asking for 17 GB.
    #[test]
    fn counts_over_max_pixels_are_refused_before_anything_is_allocated() {
        let scratch = dir("max-pixels");
        let path = scratch.join("counts.npy");
        write(&path, &image(), Place::New).unwrap();
        let text = fs::read_to_string(sidecar(&path)).unwrap();
        let claimed = text
            .replace("\"width\": 7", "\"width\": 65535")
            .replace("\"height\": 5", "\"height\": 65535");
        fs::write(sidecar(&path), claimed).unwrap();
        let Err(error) = read(&path, 1 << 28) else {
            panic!("accepted")
        };
        assert!(
            error.contains("above the limit of 268435456 (--max-pixels)"),
            "{error}"
        );
    }

    /// Before, a `render --raw` that failed after its sidecar (a full disk) left the
    /// sidecar, and the rerun failed on it with "exists already".
    #[test]
    fn a_new_counts_file_that_fails_leaves_no_sidecar() {
        let scratch = dir("orphan");
        let path = scratch.join("counts.npy");
        // The counts cannot be put in place: a file has their name since the check.
        fs::write(&path, "taken").unwrap();
        assert!(write(&path, &image(), Place::New).is_err());
        assert!(!sidecar(&path).exists());
        let left: Vec<_> = fs::read_dir(&scratch).unwrap().collect();
        assert_eq!(left.len(), 1, "only the file that was there: {left:?}");
    }
}
