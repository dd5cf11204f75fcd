//! The record of the jobs written to an output directory. Each PNG names its job in a text
//! chunk, and those chunks are the one record: it outlasts any process and holds every job
//! however many there are. Processes sharing a directory look and write under its lock, so
//! each job is written once, whatever their number.
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use fixedbrot_core::JobId;

use super::partial;

/// The PNG text chunk naming the job an image is of.
pub const JOB_KEYWORD: &str = "fixedbrot-job";

/// The jobs whose images are in one directory, as far as this process has looked.
pub struct Written {
    dir: PathBuf,
    /// Every name looked at, so that each image's chunk is read once.
    seen: HashSet<OsString>,
    jobs: HashSet<JobId>,
}

/// What [`Written::write_once`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Once {
    /// The image was written here.
    Wrote(PathBuf),
    /// An image of the job was there already (written by another process, or before).
    There,
}

impl Written {
    /// The record of `dir`, read whole. Partial files that dead writers left are removed.
    pub fn open(dir: &Path) -> io::Result<Written> {
        let mut written = Written {
            dir: dir.to_owned(),
            seen: HashSet::new(),
            jobs: HashSet::new(),
        };
        let _lock = written.lock()?;
        partial::remove_abandoned(dir)?;
        written.look()?;
        Ok(written)
    }

    /// Reads the images that appeared since this process last looked (other processes');
    /// returns how many jobs that added.
    pub fn refresh(&mut self) -> io::Result<usize> {
        let _lock = self.lock()?;
        self.look()
    }

    pub fn contains(&self, job_id: JobId) -> bool {
        self.jobs.contains(&job_id)
    }

    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Has `write` write the image of `job_id` into the directory unless an image of it is
    /// there: under the directory's lock, the record is brought up to date first.
    pub fn write_once(
        &mut self,
        job_id: JobId,
        write: impl FnOnce() -> io::Result<PathBuf>,
    ) -> io::Result<Once> {
        let _lock = self.lock()?;
        self.look()?;
        if self.jobs.contains(&job_id) {
            return Ok(Once::There);
        }
        let path = write()?;
        if let Some(name) = path.file_name() {
            self.seen.insert(name.to_owned());
        }
        self.jobs.insert(job_id);
        Ok(Once::Wrote(path))
    }

    /// The directory's lock (flock), held until dropped.
    fn lock(&self) -> io::Result<File> {
        let dir = File::open(&self.dir)?;
        dir.lock()?;
        Ok(dir)
    }

    /// Reads the job chunk of every image not looked at yet.
    fn look(&mut self) -> io::Result<usize> {
        let before = self.jobs.len();
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            if self.seen.contains(&name) {
                continue;
            }
            let path = self.dir.join(&name);
            if name.to_str().is_some_and(|n| n.ends_with(".png")) {
                if let Some(job_id) = job_of(&path) {
                    self.jobs.insert(job_id);
                }
            }
            self.seen.insert(name);
        }
        Ok(self.jobs.len() - before)
    }
}

/// The job a PNG is of, from its job chunk (before the image data, so only its head is
/// read). Only a regular file is read: a FIFO or a device named `*.png` is opened without
/// waiting and passed over.
pub fn job_of(path: &Path) -> Option<JobId> {
    let file = open_regular(path).ok()?;
    let reader = png::Decoder::new(io::BufReader::new(file))
        .read_info()
        .ok()?;
    let chunk = reader
        .info()
        .uncompressed_latin1_text
        .iter()
        .find(|chunk| chunk.keyword == JOB_KEYWORD)?;
    u64::from_str_radix(&chunk.text, 16).ok().map(JobId)
}

/// Opens a regular file for reading, refusing anything else without blocking on it: the
/// open does not wait (a FIFO would wait for a writer), and the check is of the file opened,
/// not of a name that may change between a look and an open.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::png::Png;
    use fixedbrot_core::{Format, Palette};
    use fixedbrot_pipeline::Image;
    use fixedbrot_tests::scratch::Scratch;
    use std::process::Command;
    use std::sync::mpsc;
    use std::time::Duration;

    fn image(id: u64) -> Image {
        let job = fixedbrot_tests::cases::job(Format::I4F28, "-2,1", "1,-1", (3, 2), 8, (3, 2));
        Image {
            job_id: JobId(id),
            job,
            counts: vec![1; 6],
        }
    }

    fn png() -> Png {
        Png {
            palette: Palette::Classic,
            threads: 1,
        }
    }

    fn pngs(dir: &Path) -> usize {
        fs::read_dir(dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension() == Some("png".as_ref()))
            .count()
    }

    /// Before, the record was the last 4,096 jobs read at start: a restart beside 4,101
    /// images wrote every replayed job again (4,101 files became 8,202).
    #[test]
    fn every_image_in_the_directory_is_in_the_record_however_many() {
        let dir = Scratch::new("fixedbrot-written-many");
        for id in 0..5000 {
            png().write_new(&dir, &image(id)).unwrap();
        }
        let mut written = Written::open(&dir).unwrap();
        assert_eq!(written.len(), 5000);
        for id in [0, 4999] {
            let again = written.write_once(JobId(id), || png().write_new(&dir, &image(id)));
            assert_eq!(again.unwrap(), Once::There);
        }
        assert_eq!(pngs(&dir), 5000);
    }

    /// Before, two assemblers sharing a directory each wrote a job the other had written:
    /// the record was read only at start.
    #[test]
    fn processes_sharing_a_directory_write_each_job_once() {
        let dir = Scratch::new("fixedbrot-written-shared");
        let mut records: Vec<Written> = (0..4).map(|_| Written::open(&dir).unwrap()).collect();
        std::thread::scope(|scope| {
            for written in &mut records {
                let dir = &dir;
                scope.spawn(move || {
                    for id in 0..20 {
                        written
                            .write_once(JobId(id), || png().write_new(dir, &image(id)))
                            .unwrap();
                    }
                });
            }
        });
        assert_eq!(pngs(&dir), 20);
        let mut late = Written::open(&dir).unwrap();
        assert_eq!(late.len(), 20);
        assert_eq!(late.refresh().unwrap(), 0);
    }

    #[test]
    fn a_refresh_reads_only_the_images_that_appeared_since() {
        let dir = Scratch::new("fixedbrot-written-refresh");
        let mut written = Written::open(&dir).unwrap();
        png().write_new(&dir, &image(1)).unwrap();
        fs::write(dir.join("notes.txt"), "not an image").unwrap();
        fs::write(dir.join("broken.png"), "not a png").unwrap();
        assert!(!written.contains(JobId(1)));
        assert_eq!(written.refresh().unwrap(), 1);
        assert!(written.contains(JobId(1)));
        assert_eq!(written.refresh().unwrap(), 0);
    }

    /// Before, a FIFO named `*.png` in the output directory blocked `image` at start.
    #[test]
    fn a_fifo_named_png_is_passed_over_without_waiting() {
        let dir = Scratch::new("fixedbrot-written-fifo");
        png().write_new(&dir, &image(3)).unwrap();
        let fifo = dir.join("trap.png");
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let (done, opened) = mpsc::channel();
        let at = dir.to_path_buf();
        std::thread::spawn(move || {
            let _ = done.send(
                Written::open(&at)
                    .map(|w| w.len())
                    .map_err(|e| e.to_string()),
            );
        });
        let found = opened.recv_timeout(Duration::from_secs(30));
        assert_eq!(found, Ok(Ok(1)), "returned, with the one image");
        assert!(job_of(&fifo).is_none());
    }
}
