//! The record of the jobs written to an output directory. Each PNG names its job in a text
//! chunk, id and definition, and those chunks are the one record: it outlasts any process and
//! holds every job however many there are. Processes sharing a directory look and write under
//! its lock, so each job is written once, whatever their number.
//!
//! A job is its id and its definition together, as the assembler keys it: a forged job under
//! a real job's id, written first, does not stand for the real one.
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use fixedbrot_core::limits::MAX_JOB_LEN;
use fixedbrot_core::{wire, JobId};
use fixedbrot_pipeline::assembler::JobKey;
use fixedbrot_pipeline::Image;

use super::partial;

/// The PNG text chunk naming the job an image is of: its id in hex, a space, and its
/// definition as the wire encodes it, in hex ([`job_chunk`]). Images written before the
/// definition was added name the id alone; such an image stands for any job of its id.
pub const JOB_KEYWORD: &str = "fixedbrot-job";

/// The text of the [`JOB_KEYWORD`] chunk of `image`.
pub fn job_chunk(image: &Image) -> String {
    let mut buf = [0; MAX_JOB_LEN];
    match wire::encode_job(&image.job, &mut buf) {
        Ok(definition) => {
            let hex: String = definition.iter().map(|b| format!("{b:02x}")).collect();
            format!("{:016x} {hex}", image.job_id.0)
        }
        // Only a checked job is ever assembled; an id alone still records it.
        Err(_) => format!("{:016x}", image.job_id.0),
    }
}

/// The key of the job `image` is of: its id and definition, as the assembler keys jobs.
pub fn key_of(image: &Image) -> JobKey {
    JobKey::new(image.job_id, &image.job)
}

/// A job as an image names it: its id, and its definition as the assembler keys it
/// ([`JobKey::definition`]) unless the image is older.
pub type Named = (JobId, Option<[u8; 32]>);

fn parse_job_chunk(text: &str) -> Option<Named> {
    let (id, definition) = match text.split_once(' ') {
        Some((id, hex)) => (id, Some(hex)),
        None => (text, None),
    };
    let id = JobId(u64::from_str_radix(id, 16).ok()?);
    let Some(hex) = definition else {
        return Some((id, None));
    };
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(hex.get(at..at + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let job = wire::decode_job(&bytes).ok()?;
    Some((id, Some(JobKey::new(id, &job).definition)))
}

/// The jobs whose images are in one directory, as far as this process has looked.
pub struct Written {
    dir: PathBuf,
    /// Every name looked at, so that each image's chunk is read once.
    seen: HashSet<OsString>,
    jobs: HashSet<Named>,
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

    /// Whether an image of `key`'s job is in the directory (or an older image of its id).
    pub fn contains(&self, key: &JobKey) -> bool {
        self.jobs.contains(&(key.id, Some(key.definition))) || self.jobs.contains(&(key.id, None))
    }

    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Has `write` write the image of `key`'s job into the directory unless an image of it is
    /// there: under the directory's lock, the record is brought up to date first.
    pub fn write_once(
        &mut self,
        key: &JobKey,
        write: impl FnOnce() -> io::Result<PathBuf>,
    ) -> io::Result<Once> {
        let _lock = self.lock()?;
        self.look()?;
        if self.contains(key) {
            return Ok(Once::There);
        }
        let path = write()?;
        if let Some(name) = path.file_name() {
            self.seen.insert(name.to_owned());
        }
        self.jobs.insert((key.id, Some(key.definition)));
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
                if let Some(named) = job_of(&path) {
                    self.jobs.insert(named);
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
pub fn job_of(path: &Path) -> Option<Named> {
    let file = open_regular(path).ok()?;
    let reader = png::Decoder::new(io::BufReader::new(file))
        .read_info()
        .ok()?;
    let chunk = reader
        .info()
        .uncompressed_latin1_text
        .iter()
        .find(|chunk| chunk.keyword == JOB_KEYWORD)?;
    parse_job_chunk(&chunk.text)
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
            smooth: Vec::new(),
        }
    }

    fn key(id: u64) -> JobKey {
        key_of(&image(id))
    }

    fn png() -> Png {
        Png {
            colouring: crate::output::Colouring::Fixed(Palette::Classic),
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
            let again = written.write_once(&key(id), || png().write_new(&dir, &image(id)));
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
                            .write_once(&key(id), || png().write_new(dir, &image(id)))
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
        assert!(!written.contains(&key(1)));
        assert_eq!(written.refresh().unwrap(), 1);
        assert!(written.contains(&key(1)));
        assert_eq!(written.refresh().unwrap(), 0);
    }

    /// Before, the record held ids alone: a forged one-tile job under a real job's id,
    /// complete first, was written, and the real job was then "written already" for good.
    #[test]
    fn an_image_of_a_forged_job_under_a_real_id_does_not_stand_for_the_real_one() {
        let dir = Scratch::new("fixedbrot-written-forged");
        let mut forged = image(7);
        forged.job = fixedbrot_tests::cases::job(Format::I4F28, "-2,1", "1,-1", (1, 1), 8, (1, 1));
        forged.counts = vec![0];
        let forged_key = key_of(&forged);
        let mut written = Written::open(&dir).unwrap();
        written
            .write_once(&forged_key, || png().write_new(&dir, &forged))
            .unwrap();
        assert!(!written.contains(&key(7)));
        let real = written.write_once(&key(7), || png().write_new(&dir, &image(7)));
        assert!(matches!(real.unwrap(), Once::Wrote(_)));
        let reopened = Written::open(&dir).unwrap();
        assert!(reopened.contains(&key(7)) && reopened.contains(&forged_key));
    }

    /// An image written before the chunk named the definition stands for any job of its id:
    /// replaying it must not write it again.
    #[test]
    fn an_older_image_naming_its_id_alone_stands_for_its_id() {
        assert_eq!(parse_job_chunk("000000000000002a"), Some((JobId(42), None)));
        let chunk = job_chunk(&image(42));
        assert_eq!(
            parse_job_chunk(&chunk),
            Some((JobId(42), Some(key(42).definition)))
        );
        assert_eq!(parse_job_chunk("2a zz"), None);
        assert_eq!(parse_job_chunk("2a 0"), None);
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
