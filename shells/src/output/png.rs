//! Counts to a PNG file, coloured by a palette and compressed in bands on several threads,
//! written whole or not at all, never overwriting.
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use fixedbrot_core::smooth::Smooth;
use fixedbrot_pipeline::Image;

use super::colouring::{Colouring, Colours};
use super::partial::Partial;
use super::written::{job_chunk, JOB_KEYWORD};
use crate::fault;
use flate2::{Compress, FlushCompress};

/// How images are written: their colouring, and the threads that compress them.
#[derive(Clone, Debug)]
pub struct Png {
    pub colouring: Colouring,
    pub threads: usize,
}

impl Png {
    /// Writes `image` as an RGB PNG at `path`.
    ///
    /// The file appears whole or not at all: it is written beside `path` and then linked into
    /// place, which fails rather than replace a file that is already there.
    pub fn write(&self, path: &Path, image: &Image) -> io::Result<()> {
        self.write_linked(path, image, |partial| fs::hard_link(partial, path))
    }

    /// Writes `image` at `file` if given (`--output`), else as a new name in `dir`
    /// ([`Png::write_new`]); returns the path written.
    pub fn write_output(
        &self,
        file: Option<&Path>,
        dir: &Path,
        image: &Image,
    ) -> io::Result<PathBuf> {
        match file {
            Some(path) => self
                .write(path, image)
                .map(|()| path.to_owned())
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
            None => self.write_new(dir, image),
        }
    }

    /// Writes `image` as `image-<unix millis>.png` in `dir`, with `-1`, `-2`, ... added if that
    /// name is taken; returns the name.
    pub fn write_new(&self, dir: &Path, image: &Image) -> io::Result<PathBuf> {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        self.write_new_at(dir, millis, image)
    }

    fn write_new_at(&self, dir: &Path, millis: u128, image: &Image) -> io::Result<PathBuf> {
        let first = dir.join(format!("image-{millis}.png"));
        self.write_linked(&first, image, |partial| {
            for n in 0u32.. {
                let path = match n {
                    0 => first.clone(),
                    n => dir.join(format!("image-{millis}-{n}.png")),
                };
                match fs::hard_link(partial, &path) {
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    other => return other.map(|()| path),
                }
            }
            unreachable!("u32 names ran out")
        })
    }

    /// Encodes `image` into a partial file beside `near`, has `link` link it into place, and
    /// removes the partial file whatever happened.
    fn write_linked<T>(
        &self,
        near: &Path,
        image: &Image,
        link: impl FnOnce(&Path) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut partial = Partial::beside(near)?;
        let mut out = BufWriter::new(partial.file());
        self.encode_into(image, &mut out)?;
        // Every error up to the last byte on disk counts: a truncated PNG must not be linked
        // into place and recorded as written.
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        fault::point("before-link");
        let linked = link(partial.path())?;
        // The link is the record that the job was written: it must outlast a crash.
        if let Some(dir) = near.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        Ok(linked)
    }

    /// Encodes `image` as a PNG into `out`.
    ///
    /// The image data is one zlib stream: its header, the bands' deflate blocks (the last one
    /// final) and the Adler-32 of every filtered row, written as one IDAT chunk per band. A
    /// few bands per thread are deflated at a time and written in order as soon as they are
    /// done, so the file is never held whole in memory.
    pub fn encode_into(&self, image: &Image, out: impl Write) -> io::Result<()> {
        self.encode_with_texts(image, &[], out)
    }

    /// [`Png::encode_into`], with a text chunk for each keyword and text of `texts` after the
    /// job's (the explorer's download names its permalink and command line so).
    pub fn encode_with_texts(
        &self,
        image: &Image,
        texts: &[(String, String)],
        out: impl Write,
    ) -> io::Result<()> {
        let (grid, samples) = (image.job.grid, u32::from(image.job.samples.max(1)));
        let width = Row {
            points: grid.width as usize,
            samples: samples as usize,
        };
        let colours = Colours::new(&self.colouring, image);
        // Each band's counts and fractions (none where the image has none), of its rows'
        // points.
        let band = width.points * width.samples * BAND_ROWS;
        let fractions = image.smooth.chunks(band).chain(std::iter::repeat(&[][..]));
        let bands: Vec<(&[u32], &[Smooth])> = image.counts.chunks(band).zip(fractions).collect();
        let threads = self.threads.clamp(1, bands.len().max(1));
        let mut encoder = png::Encoder::new(out, grid.width / samples, grid.height / samples);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder
            .add_text_chunk(JOB_KEYWORD.into(), job_chunk(image))
            .map_err(io::Error::other)?;
        for (keyword, text) in texts {
            encoder
                .add_text_chunk(keyword.clone(), text.clone())
                .map_err(io::Error::other)?;
        }
        let mut writer = encoder.write_header()?;
        let mut checksum = ADLER32_START;
        let at_once = threads * BANDS_PER_THREAD;
        for (group, first) in bands.chunks(at_once).zip((0..).step_by(at_once)) {
            for (i, band) in deflate_bands(group, first, bands.len(), width, &colours, threads)? {
                checksum = adler32_combine(checksum, band.adler32, band.filtered_len);
                let mut chunk = band.deflated;
                if i == 0 {
                    // zlib's header: deflate, a 32 KiB window, no dictionary, "fastest".
                    chunk.splice(0..0, [0x78, 0x01]);
                }
                if i + 1 == bands.len() {
                    chunk.extend(checksum.to_be_bytes());
                }
                writer.write_chunk(png::chunk::IDAT, &chunk)?;
            }
        }
        // The encoder's drop would ignore a failure to write the end.
        writer.finish()?;
        Ok(())
    }
}

/// An empty stored block at a byte boundary, as a full flush with nothing to flush writes it.
const EMPTY_SYNC: &[u8] = &[0x00, 0x00, 0x00, 0xff, 0xff];

/// Rows per band. Each band is coloured, filtered and deflated on its own and ends on a byte
/// boundary (a full flush), so bands compress on every thread at once, concatenate into one
/// zlib stream, and the file's bytes do not depend on the number of threads.
const BAND_ROWS: usize = 32;

/// Bands deflated at a time per thread before they are written: enough to keep the threads
/// busy, few enough that memory holds a few of them (32 rows each), not the whole file.
const BANDS_PER_THREAD: usize = 4;

/// A row's width: its points, and the points a pixel takes along each side ([`Job::samples`](fixedbrot_core::Job)).
#[derive(Clone, Copy)]
struct Row {
    points: usize,
    samples: usize,
}

/// Deflates `group`, bands `first..` of the `all` bands of an image, on `threads` threads;
/// returns them in order with their numbers.
fn deflate_bands(
    group: &[(&[u32], &[Smooth])],
    first: usize,
    all: usize,
    width: Row,
    colours: &Colours,
    threads: usize,
) -> io::Result<Vec<(usize, Band)>> {
    let mut done: Vec<(usize, io::Result<Band>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(group.len()))
            .map(|offset| {
                scope.spawn(move || {
                    (offset..group.len())
                        .step_by(threads)
                        .map(|j| {
                            let i = first + j;
                            (i, Band::deflate(group[j], width, colours, i + 1 == all))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker.join().unwrap_or_else(|_| {
                    vec![(usize::MAX, Err(io::Error::other("a band encoder failed")))]
                })
            })
            .collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter()
        .map(|(i, band)| band.map(|band| (i, band)))
        .collect()
}

/// One band of rows, filtered and deflated.
struct Band {
    deflated: Vec<u8>,
    adler32: u32,
    filtered_len: u64,
}

impl Band {
    /// Colours, filters and deflates `counts` (with their fractions, if any), whole rows of
    /// `width` points; each pixel the average of its `samples × samples` points' colours,
    /// rounded to nearest. The last band of an image ends the deflate stream, the others end
    /// with a full flush.
    fn deflate(
        (counts, smooth): (&[u32], &[Smooth]),
        width: Row,
        colours: &Colours,
        last: bool,
    ) -> io::Result<Band> {
        let (points, n) = (width.points, width.samples);
        let pixels = points / n;
        let mut filtered = Vec::with_capacity(counts.len() * 3 / (n * n) + counts.len() / points);
        let (mut painted, mut sums) = (vec![0u8; points * 3], vec![0u32; pixels * 3]);
        let mut row = vec![0u8; pixels * 3];
        for (y, counts) in counts.chunks(points * n).enumerate() {
            if n == 1 {
                let fractions = smooth.get(y * points..(y + 1) * points);
                colours.paint(counts, fractions, &mut row);
                filter_sub(&row, &mut filtered);
                continue;
            }
            sums.fill(0);
            for (i, counts) in counts.chunks(points).enumerate() {
                let at = (y * n + i) * points;
                colours.paint(counts, smooth.get(at..at + points), &mut painted);
                add_blocks(&painted, n, &mut sums);
            }
            let (area, half) = ((n * n) as u32, (n * n) as u32 / 2);
            for (out, &sum) in row.iter_mut().zip(&sums) {
                *out = ((sum + half) / area) as u8;
            }
            filter_sub(&row, &mut filtered);
        }
        let deflated = deflate_stream(&filtered, last)?;
        Ok(Band {
            deflated,
            adler32: simd_adler32::adler32(&filtered.as_slice()),
            filtered_len: filtered.len() as u64,
        })
    }
}

/// `filtered` deflated: to the end of the stream if `last`, else to a full flush.
fn deflate_stream(filtered: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let mut deflate = Compress::new(flate2::Compression::fast(), false);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Full
    };
    let mut deflated = Vec::with_capacity(filtered.len() / 8 + 64);
    loop {
        if deflated.len() == deflated.capacity() {
            deflated.reserve(deflated.capacity().max(4096));
        }
        let (consumed, before) = (deflate.total_in() as usize, deflated.len());
        let status = deflate
            .compress_vec(&filtered[consumed..], &mut deflated, flush)
            .map_err(io::Error::other)?;
        if status == flate2::Status::StreamEnd {
            break;
        }
        // miniz_oxide may return from a full flush with output still pending though the
        // buffer had room (a probe found bands cut short, and their PNGs unreadable). So
        // once the input is taken, the flush is asked for again until it has nothing
        // more: a call that writes nothing, or only another empty stored block, dropped.
        let wrote = &deflated[before..];
        let room = deflated.len() < deflated.capacity();
        if !last && consumed == filtered.len() && room && matches!(wrote, [] | EMPTY_SYNC) {
            deflated.truncate(before);
            break;
        }
    }
    Ok(deflated)
}

/// Adds a row of points' colours, `painted`, to each pixel's channel sums, `n` points a pixel.
fn add_blocks(painted: &[u8], n: usize, sums: &mut [u32]) {
    for (block, sum) in painted.chunks_exact(n * 3).zip(sums.chunks_exact_mut(3)) {
        for point in block.chunks_exact(3) {
            for (total, &channel) in sum.iter_mut().zip(point) {
                *total += u32::from(channel);
            }
        }
    }
}

/// Appends PNG filter type 1 ("Sub") of one RGB row: each byte minus the byte one pixel to its
/// left. Flat runs become zeros, which deflate squeezes to almost nothing, at a few
/// instructions a byte.
fn filter_sub(row: &[u8], out: &mut Vec<u8>) {
    out.push(1);
    out.extend_from_slice(&row[..3.min(row.len())]);
    out.extend(
        row.iter()
            .zip(&row[3.min(row.len())..])
            .map(|(left, byte)| byte.wrapping_sub(*left)),
    );
}

/// Adler-32 of nothing (RFC 1950).
const ADLER32_START: u32 = 1;

/// The Adler-32 of two byte strings one after the other, from theirs and the second's length.
///
/// Adler-32 is A + 65536 B (mod 65521) with A = 1 + the sum of the bytes and B = the sum of A
/// after each byte. Over the second string, A starts at the first's A instead of 1, so each of
/// its `len2` running values of A is `A1 - 1` larger: A = A1 + A2 - 1 and
/// B = B1 + B2 + len2 (A1 - 1).
fn adler32_combine(first: u32, second: u32, len2: u64) -> u32 {
    const MOD: u64 = 65_521;
    let (a1, b1) = (u64::from(first & 0xffff), u64::from(first >> 16));
    let (a2, b2) = (u64::from(second & 0xffff), u64::from(second >> 16));
    let a = (a1 + a2 + MOD - 1) % MOD;
    let b = (b1 + b2 + (len2 % MOD) * ((a1 + MOD - 1) % MOD)) % MOD;
    (b << 16 | a) as u32
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use fixedbrot_core::{Format, Gradient, Job, JobId, Palette};
    use fixedbrot_tests::cases::job;
    use fixedbrot_tests::scratch::Scratch;

    fn scratch(test: &str) -> Scratch {
        Scratch::new(&format!("fixedbrot-{test}"))
    }

    #[test]
    fn two_images_in_one_millisecond_get_two_names_and_nothing_is_overwritten() {
        let dir = scratch("picture-names");
        let job = job(Format::I4F28, "-2,1", "1,-1", (4, 3), 8, (2, 2));
        let image = Image {
            job_id: JobId(7),
            job,
            counts: vec![1, 2, 3, 8, 8, 8, 1, 2, 3, 4, 5, 6],
            smooth: Vec::new(),
        };
        let (classic, azure) = (
            Png {
                colouring: Colouring::Fixed(Palette::Classic),
                threads: 1,
            },
            Png {
                colouring: Colouring::Fixed(Palette::Azure),
                threads: 2,
            },
        );
        let first = classic.write_new_at(&dir, 42, &image).unwrap();
        let second = azure.write_new_at(&dir, 42, &image).unwrap();
        assert_eq!(first, dir.join("image-42.png"));
        assert_eq!(second, dir.join("image-42-1.png"));
        let error = azure.write(&first, &image).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        let leftovers = fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 2, "no partial files are left behind");
    }

    /// Bands make threads share the work; the file must not show how it was shared.
    #[test]
    fn the_png_is_the_same_for_any_thread_count_and_decodes_to_the_palettes_colours() {
        let dir = scratch("picture-threads");
        // 301 rows: nine full bands and a short one, so one thread deflates them in three
        // groups; counts that make flat runs and edges.
        let job = job(Format::I4F28, "-2,1", "1,-1", (97, 301), 300, (16, 16));
        let counts: Vec<u32> = (0..97 * 301u32)
            .map(|i| (i / 7 * 13 + i % 97 / 5) % 301)
            .collect();
        let smooth: Vec<Smooth> = (0..97 * 301u32)
            .map(|i| (i * 7919 % 40_000) as u16)
            .collect();
        let image = Image {
            job_id: JobId(8),
            job: Job {
                smooth: true,
                ..job
            },
            counts,
            smooth,
        };
        let ultra = || Box::new(Gradient::ultra());
        let colourings = [
            Colouring::Fixed(Palette::Classic),
            Colouring::Fixed(Palette::Azure),
            Colouring::Cycle {
                gradient: ultra(),
                span: 37,
                offset: 5,
            },
            Colouring::Histogram(ultra()),
        ];
        for (n, colouring) in colourings.into_iter().enumerate() {
            let files: Vec<Vec<u8>> = [1, 2, 3, 8]
                .into_iter()
                .map(|threads| {
                    let path = dir.join(format!("{n}-{threads}.png"));
                    let png = Png {
                        colouring: colouring.clone(),
                        threads,
                    };
                    png.write(&path, &image).unwrap();
                    fs::read(&path).unwrap()
                })
                .collect();
            assert!(
                files.windows(2).all(|pair| pair[0] == pair[1]),
                "{colouring:?}"
            );
            let colours = Colours::new(&colouring, &image);
            let expected: Vec<u8> = image
                .counts
                .iter()
                .zip(&image.smooth)
                .flat_map(|(&c, &f)| colours.rgb(c, Some(f)))
                .collect();
            assert_eq!(decoded(&files[0]), expected, "{colouring:?}");
        }
    }

    /// A pixel of several samples is the rounded average of its points' colours.
    #[test]
    fn a_pixel_of_samples_is_the_average_of_its_points() {
        let dir = scratch("picture-samples");
        // 4x2 points, 2x2 samples a pixel: 2x1 pixels. Classic: inside (8) white.
        let job = job(Format::I4F28, "-2,1", "1,-1", (4, 2), 8, (4, 2));
        let image = Image {
            job_id: JobId(9),
            job: Job { samples: 2, ..job },
            counts: vec![8, 8, 1, 2, 8, 3, 4, 5],
            smooth: Vec::new(),
        };
        let path = dir.join("samples.png");
        let png = Png {
            colouring: Colouring::Fixed(Palette::Classic),
            threads: 1,
        };
        png.write(&path, &image).unwrap();
        // Three of four white: 255 * 3 / 4 = 191.25, rounded; then all black.
        assert_eq!(decoded(&fs::read(&path).unwrap()), [191, 191, 191, 0, 0, 0]);
    }

    /// The pixels of a PNG, with its zlib stream's checksum verified (the png crate's decoder
    /// skips Adler-32).
    fn decoded(file: &[u8]) -> Vec<u8> {
        let mut zlib = Vec::new();
        let mut at = 8;
        while at < file.len() {
            let length = u32::from_be_bytes(file[at..at + 4].try_into().unwrap()) as usize;
            if &file[at + 4..at + 8] == b"IDAT" {
                zlib.extend_from_slice(&file[at + 8..at + 8 + length]);
            }
            at += 12 + length;
        }
        let mut filtered = Vec::new();
        flate2::read::ZlibDecoder::new(zlib.as_slice())
            .read_to_end(&mut filtered)
            .expect("a zlib stream whose Adler-32 matches");
        let mut reader = png::Decoder::new(io::Cursor::new(file))
            .read_info()
            .unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        pixels.truncate(info.buffer_size());
        pixels
    }

    #[test]
    fn adler32_of_two_strings_combines_from_theirs() {
        let bytes: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let whole = simd_adler32::adler32(&bytes.as_slice());
        for cut in [0, 1, 5_552, 65_520, 65_521, 65_522, 199_999, 200_000] {
            let (first, second) = bytes.split_at(cut);
            let combined = adler32_combine(
                simd_adler32::adler32(&first),
                simd_adler32::adler32(&second),
                second.len() as u64,
            );
            assert_eq!(combined, whole, "cut at {cut}");
        }
    }
}
