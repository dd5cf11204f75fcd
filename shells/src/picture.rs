//! Counts to a PNG file, coloured by a palette, streamed row by row, never overwriting.
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use fixedbrot_core::{Job, Palette};

/// Writes `counts` (row-major, one per pixel of `job`) as an RGB PNG at `path`.
///
/// The file appears whole or not at all: it is written beside `path` and then linked into
/// place, which fails rather than replace a file that is already there.
pub fn write(path: &Path, job: &Job, counts: &[u32], palette: Palette) -> io::Result<()> {
    let partial = path.with_extension(format!("png.{}.partial", std::process::id()));
    let result =
        encode(&partial, job, counts, palette).and_then(|()| fs::hard_link(&partial, path));
    let _ = fs::remove_file(&partial);
    result
}

/// `image-<unix millis>.png` in `dir`, with `-1`, `-2`, ... added if that name is taken.
pub fn write_new(dir: &Path, job: &Job, counts: &[u32], palette: Palette) -> io::Result<PathBuf> {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    write_new_at(dir, millis, job, counts, palette)
}

fn write_new_at(
    dir: &Path,
    millis: u128,
    job: &Job,
    counts: &[u32],
    palette: Palette,
) -> io::Result<PathBuf> {
    for n in 0u32.. {
        let name = match n {
            0 => format!("image-{millis}.png"),
            n => format!("image-{millis}-{n}.png"),
        };
        let path = dir.join(name);
        match write(&path, job, counts, palette) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            other => return other.map(|()| path),
        }
    }
    unreachable!("u32 names ran out")
}

fn encode(path: &Path, job: &Job, counts: &[u32], palette: Palette) -> io::Result<()> {
    let (width, height) = (job.grid.width, job.grid.height);
    let mut file = BufWriter::new(File::create(path)?);
    let mut encoder = png::Encoder::new(&mut file, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    let mut stream = writer.stream_writer()?;
    let mut row = Vec::with_capacity(width as usize * 3);
    for counts in counts.chunks(width as usize) {
        row.clear();
        row.extend(counts.iter().flat_map(|&c| palette.rgb(c, job.iterations)));
        stream.write_all(&row)?;
    }
    // Every error up to the last byte on disk counts: a truncated PNG must not be linked
    // into place and recorded as written (the encoders' drops ignore errors).
    stream.finish()?;
    writer.finish()?;
    file.into_inner().map_err(|e| e.into_error())?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixedbrot_core::Format;
    use fixedbrot_tests::cases::job;

    #[test]
    fn two_images_in_one_millisecond_get_two_names_and_nothing_is_overwritten() {
        let dir = std::env::temp_dir().join(format!("fixedbrot-picture-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let job = job(Format::I4F28, "-2,1", "1,-1", (4, 3), 8, (2, 2));
        let counts = [1, 2, 3, 8, 8, 8, 1, 2, 3, 4, 5, 6];
        let first = write_new_at(&dir, 42, &job, &counts, Palette::Classic).unwrap();
        let second = write_new_at(&dir, 42, &job, &counts, Palette::Azure).unwrap();
        assert_eq!(first, dir.join("image-42.png"));
        assert_eq!(second, dir.join("image-42-1.png"));
        let error = write(&first, &job, &counts, Palette::Azure).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        let leftovers = fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 2, "no partial files are left behind");
        fs::remove_dir_all(&dir).unwrap();
    }
}
