//! Every check of an output path, made before any work: a run that computes for minutes must
//! not find out at the end that it cannot write. One place for `render`, `colour` and `image`.
use std::fs::{self, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::raw::{fractions, sidecar};

/// Fails now, saying why, if a PNG could not be written at `path` later (`--output`): the
/// file exists already (nothing is overwritten) or its directory does not take new files. A
/// run that computes for minutes first must not find out at the end.
pub fn new_file(path: &Path) -> io::Result<()> {
    if path.symlink_metadata().is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the file exists already, and images never replace files",
        ));
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    writable_dir(dir)
}

/// Fails now, saying why, if new files cannot be created in `dir`: by creating one, of a
/// name nobody else has, and removing it. Never through a name that is there already: a
/// symlink planted under the probe's name must not lead anywhere.
pub fn writable_dir(dir: &Path) -> io::Result<()> {
    static PROBES: AtomicU64 = AtomicU64::new(0);
    let cannot = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("cannot create files in {}: {e}", dir.display()),
        )
    };
    loop {
        let n = PROBES.fetch_add(1, Ordering::Relaxed);
        let probe = dir.join(format!(".fixedbrot-probe-{}-{n}", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&probe) {
            Ok(_) => return fs::remove_file(&probe).map_err(cannot),
            // Someone's file, or a link: not ours to touch; another name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(cannot(e)),
        }
    }
}

/// Fails now, saying why, if counts could not be written at `path` later: not a `.npy` name,
/// or it, its sidecar or its fractions' file exists (nothing is overwritten), or the
/// directory takes no files.
pub fn new_counts(path: &Path) -> io::Result<()> {
    if path.extension().and_then(|e| e.to_str()) != Some("npy") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the counts file's name must end in .npy (its job goes beside it, in .json)",
        ));
    }
    for (what, beside) in [("job", sidecar(path)), ("fractions", fractions(path))] {
        new_file(&beside).map_err(|e| match e.kind() {
            // Named, since the path the user gave is the .npy, which may not exist.
            io::ErrorKind::AlreadyExists => io::Error::new(
                e.kind(),
                format!(
                    "its {what} file {} exists already, and counts never replace files",
                    beside.display()
                ),
            ),
            _ => e,
        })?;
    }
    new_file(path)
}

/// Fails now if an image written at `output` would take the name of the counts at `path`
/// or of their sidecar: found before the work, not after it.
pub fn apart(path: &Path, output: &Path) -> io::Result<()> {
    for taken in [path.to_owned(), sidecar(path), fractions(path)] {
        if same_place(&taken, output) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is where --raw {} writes too",
                    output.display(),
                    path.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Whether two paths name one place: the same name in the same directory, however written.
fn same_place(a: &Path, b: &Path) -> bool {
    let dir = |p: &Path| {
        let parent = p.parent().filter(|d| !d.as_os_str().is_empty());
        std::path::absolute(parent.unwrap_or(Path::new(".")))
            .and_then(|d| d.canonicalize().or(Ok(d)))
            .ok()
    };
    a.file_name() == b.file_name() && dir(a) == dir(b)
}

/// Where `render` writes: its image (`None`: a new name in the current directory) and
/// perhaps its counts. A sentence saying what is wrong, for a usage error.
pub fn for_render(output: Option<&Path>, raw: Option<&Path>) -> Result<(), String> {
    for_colour(output)?;
    if let Some(path) = raw {
        new_counts(path).map_err(|e| format!("--raw {}: {e}", path.display()))?;
        if let Some(output) = output {
            apart(path, output).map_err(|e| format!("--output: {e}"))?;
        }
    }
    Ok(())
}

/// Where `colour` writes its image (`None`: a new name in the current directory).
pub fn for_colour(output: Option<&Path>) -> Result<(), String> {
    match output {
        Some(path) => new_file(path),
        None => writable_dir(Path::new(".")),
    }
    .map_err(|e| format!("--output: {e}"))
}

/// Makes the directories `image` writes into and checks that they take new files (and that
/// `--output` is new): `file` (the one image) or `dir` (images), and `raw_dir`.
pub fn for_image(dir: &Path, file: Option<&Path>, raw_dir: Option<&Path>) -> Result<(), String> {
    let dirs = match file {
        // --output writes one file: --output-dir is not used.
        Some(file) => [file.parent(), raw_dir],
        None => [Some(dir), raw_dir],
    };
    for dir in dirs
        .into_iter()
        .flatten()
        .filter(|d| !d.as_os_str().is_empty())
    {
        fs::create_dir_all(dir).map_err(|e| format!("output directory {}: {e}", dir.display()))?;
    }
    match file {
        Some(file) => new_file(file).map_err(|e| format!("--output {}: {e}", file.display()))?,
        None => writable_dir(dir).map_err(|e| format!("--output-dir {}: {e}", dir.display()))?,
    }
    if let Some(dir) = raw_dir {
        writable_dir(dir).map_err(|e| format!("--raw-dir {}: {e}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::raw;
    use fixedbrot_core::{Format, Grid, Job, JobId, Kernel, View};
    use fixedbrot_pipeline::Image;
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
            job_id: JobId(1),
            job,
            counts: vec![1; 35],
            smooth: Vec::new(),
        }
    }

    #[test]
    fn a_counts_file_is_named_npy_and_replaces_nothing() {
        let dir = Scratch::new("fixedbrot-checks-names");
        assert!(new_counts(&dir.join("counts.raw")).is_err());
        assert!(new_counts(&dir.join("counts.npy")).is_ok());
        fs::write(dir.join("counts.json"), "{}").unwrap();
        assert!(new_counts(&dir.join("counts.npy")).is_err());
        // One made after the check is not replaced either.
        let path = dir.join("late.npy");
        fs::write(&path, "mine").unwrap();
        assert!(raw::write(&path, &image(), raw::Place::New).is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "mine");
    }

    /// Before, `render --raw f.npy -o f.npy` computed, wrote the counts, then failed with no
    /// PNG.
    #[test]
    fn an_image_named_like_the_counts_or_their_sidecar_is_found_at_once() {
        let dir = Scratch::new("fixedbrot-checks-apart");
        let counts = dir.join("f.npy");
        let dotted = dir.join(".").join("f.json");
        for output in [counts.clone(), dotted] {
            let error = apart(&counts, &output).unwrap_err();
            assert!(error.to_string().contains("--raw"), "{error}");
        }
        assert!(apart(&counts, &dir.join("f.png")).is_ok());
        assert!(apart(Path::new("f.npy"), Path::new("./f.npy")).is_err());
    }

    /// Before, the probe was created through any name already there: a symlink under it
    /// truncated the file it pointed to, and a file of that name was removed.
    #[test]
    fn the_write_check_touches_nothing_that_is_there() {
        let dir = Scratch::new("fixedbrot-checks-probe");
        let victim = dir.join("victim.txt");
        fs::write(&victim, "precious").unwrap();
        for n in 0..4 {
            let name = format!(".fixedbrot-probe-{}-{n}", std::process::id());
            std::os::unix::fs::symlink(&victim, dir.join(name)).unwrap();
        }
        let planted = dir.join(format!(".fixedbrot-probe-{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        for _ in 0..8 {
            writable_dir(&dir).unwrap();
        }
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert!(planted.symlink_metadata().is_ok(), "not removed");
    }
}
