//! The fixture file format: tab-separated rows, `#` comment lines, one file per kind.
use std::path::PathBuf;

/// The repository's `fixtures/` folder.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// The rows of a fixture file, fields split at tabs, comments and blank lines skipped.
pub fn read(name: &str) -> Vec<Vec<String>> {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `just fixtures`?)", path.display()));
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split('\t').map(str::to_owned).collect())
        .collect()
}

/// Writes a fixture file: a comment header saying what it pins, then the rows.
pub fn write(name: &str, header: &str, rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut text = String::new();
    for line in header.lines() {
        text.push_str("# ");
        text.push_str(line);
        text.push('\n');
    }
    for row in rows {
        text.push_str(&row.join("\t"));
        text.push('\n');
    }
    std::fs::write(dir().join(name), text)
}
