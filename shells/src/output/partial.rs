//! Files that appear whole or not at all: each is written beside its name as a partial file
//! that its writer holds locked, synced, and then put in place. A partial file nobody holds
//! locked is a dead writer's, whatever its process id says now, and
//! [`remove_abandoned`] removes it.
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What every partial file's name ends with.
const SUFFIX: &str = ".partial";

/// A partial file being written, removed when dropped (once put in place, only its name).
pub struct Partial {
    file: File,
    path: PathBuf,
}

impl Partial {
    /// A new, empty partial file beside `near` (`<name>.<pid>-<n>.partial`), locked.
    pub fn beside(near: &Path) -> io::Result<Partial> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = near.file_name().unwrap_or_default().to_string_lossy();
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = near.with_file_name(format!("{name}.{}-{n}{SUFFIX}", std::process::id()));
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)?;
            file.lock()?;
            // A cleaner may have found it between its creation and the lock, unlocked, and
            // removed it: then this file has no name, and another is made.
            if same_file(&path, &file) {
                return Ok(Partial { file, path });
            }
        }
    }

    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Whether `path` names the file `file` is open on.
fn same_file(path: &Path, file: &File) -> bool {
    match (fs::metadata(path), file.metadata()) {
        (Ok(named), Ok(open)) => named.dev() == open.dev() && named.ino() == open.ino(),
        _ => false,
    }
}

/// Whether a file name is a partial file's, ours or one an earlier version left
/// (`<name>.<digits>[-<digits>].partial`).
fn is_partial(name: &str) -> bool {
    let Some(rest) = name.strip_suffix(SUFFIX) else {
        return false;
    };
    let Some((_, tag)) = rest.rsplit_once('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match tag.split_once('-') {
        Some((pid, n)) => digits(pid) && digits(n),
        None => digits(tag),
    }
}

/// [`remove_abandoned`] in the directory `file` goes to (the working directory for a bare
/// name), for the one-shot writers, `render` and `colour`: a killed run leaves its partial
/// files, and the next run that writes there clears them. Housekeeping only, so a directory
/// that cannot be read is left for the write itself to report.
pub fn remove_abandoned_beside(file: &Path) {
    let dir = file.parent().filter(|dir| !dir.as_os_str().is_empty());
    let _ = remove_abandoned(dir.unwrap_or(Path::new(".")));
}

/// Removes the partial files in `dir` that no writer holds: those of processes that died
/// (killed, crashed), however recently and whatever process has their id now.
pub fn remove_abandoned(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if !name.to_str().is_some_and(is_partial) || !entry.file_type()?.is_file() {
            continue;
        }
        let path = entry.path();
        // Opened only to try its lock: a writer holds it for as long as it lives.
        let Ok(file) = OpenOptions::new().read(true).open(&path) else {
            continue;
        };
        if file.try_lock().is_ok() {
            let _ = fs::remove_file(&path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixedbrot_tests::scratch::Scratch;

    #[test]
    fn partial_names_are_recognised_and_nothing_else() {
        for name in [
            "image-1.png.4242-0.partial",
            "job-00ab.npy.17-3.partial",
            "image-1.png.4242.partial",
        ] {
            assert!(is_partial(name), "{name}");
        }
        for name in [
            "notes.partial",
            "image-1.png",
            "x.4242-.partial",
            "x.-1.partial",
            "x.12a.partial",
        ] {
            assert!(!is_partial(name), "{name}");
        }
    }

    /// Before, a partial file was its process's while a process of that id ran: one not
    /// yet reaped, or a new one that got the id, kept a dead writer's partial for good.
    #[test]
    fn a_partial_file_is_removed_once_no_writer_holds_it_whatever_its_process_id() {
        let dir = Scratch::new("fixedbrot-partial");
        let near = dir.join("image-1.png");
        let mut held = Partial::beside(&near).unwrap();
        std::io::Write::write_all(held.file(), b"half an image").unwrap();
        // A dead writer's, named with this very (running) process's id.
        let dead = dir.join(format!("image-2.png.{}-99.partial", std::process::id()));
        fs::write(&dead, b"abandoned").unwrap();
        let theirs = dir.join("notes.partial");
        fs::write(&theirs, b"a user's file").unwrap();
        remove_abandoned(&dir).unwrap();
        assert!(held.path().exists(), "its writer holds it");
        assert!(!dead.exists(), "nobody holds it");
        assert!(theirs.exists(), "not a partial file's name");
        let path = held.path().to_owned();
        drop(held);
        assert!(!path.exists(), "removed by its writer");
    }
}
