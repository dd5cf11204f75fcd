//! The shells' structure as the design has it, read from the code's `use` lines: the
//! pipeline's decisions touch no IO, the roles are handlers of the one consumer loop and never
//! import one another, the loop knows no role, and no function is too long to read whole.
//! Every file named here must exist: a move that forgets this test fails it.
use std::path::{Path, PathBuf};

/// The shells' roles: the subcommands, each a file or a folder of `shells/src`.
const ROLES: [&str; 6] = ["render", "colour", "generate", "calc", "image", "bridge"];

/// The longest function the shells may have, in lines (a table or a test may be longer).
const MAX_FUNCTION_LINES: usize = 60;

/// Functions that are tables, file and name: longer, and no harder to read for it.
const TABLES: [(&str, &str); 1] = [
    // Every count, its name and help text.
    ("src/metrics.rs", "fn new"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_owned()
}

/// The Rust files of a file or folder, which must exist.
fn sources(place: &Path) -> Vec<PathBuf> {
    assert!(place.exists(), "{} is missing", place.display());
    if place.is_file() {
        return vec![place.to_owned()];
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(place)
        .unwrap()
        .flat_map(|entry| sources(&entry.unwrap().path()))
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        // A module's tests in a file of their own are tests, as a `#[cfg(test)]` block is.
        .filter(|path| !path.ends_with("tests.rs"))
        .collect();
    files.sort();
    files
}

/// A role's file, or its folder.
fn role(name: &str) -> PathBuf {
    let src = root().join("src");
    let folder = src.join(name);
    if folder.is_dir() {
        folder
    } else {
        src.join(format!("{name}.rs"))
    }
}

/// The code of a file without its tests: everything before `#[cfg(test)]`.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// The `use` lines of a file's code, joined where rustfmt wrapped them.
fn uses(path: &Path) -> Vec<String> {
    let mut uses = Vec::new();
    let mut open: Option<String> = None;
    for line in code(path).lines().map(str::trim) {
        if let Some(mut text) = open.take() {
            text.push_str(line);
            if line.ends_with(';') {
                uses.push(text);
            } else {
                open = Some(text);
            }
        } else if line.starts_with("use ") || line.starts_with("pub use ") {
            if line.ends_with(';') {
                uses.push(line.to_owned());
            } else {
                open = Some(line.to_owned());
            }
        }
    }
    uses
}

/// Whether a `use` line takes `module` of this crate.
fn takes(line: &str, module: &str) -> bool {
    let names = |text: &str| {
        text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .any(|word| word == module)
    };
    match line.split_once("crate::") {
        Some((_, rest)) => names(rest),
        None => false,
    }
}

#[test]
fn the_pipelines_decisions_touch_no_kafka_no_sockets_no_files_and_no_clock() {
    let pipeline = root().join("pipeline");
    let manifest = std::fs::read_to_string(pipeline.join("Cargo.toml")).unwrap();
    assert!(
        !manifest.contains("rdkafka"),
        "the pipeline depends on rdkafka"
    );
    for file in sources(&pipeline.join("src")) {
        for line in uses(&file) {
            for banned in ["rdkafka", "std::net", "std::fs", "std::io", "SystemTime"] {
                assert!(!line.contains(banned), "{}: {line}", file.display());
            }
        }
        let code = code(&file);
        for clock in ["Instant::now(", "SystemTime::now("] {
            assert!(!code.contains(clock), "{} reads the clock", file.display());
        }
    }
}

#[test]
fn no_role_imports_another() {
    for name in ROLES {
        for file in sources(&role(name)) {
            for line in uses(&file) {
                for other in ROLES.iter().filter(|&&other| other != name) {
                    assert!(
                        !takes(&line, other),
                        "{} imports {other}: {line}",
                        file.display()
                    );
                }
            }
        }
    }
}

#[test]
fn the_kafka_wing_knows_no_role() {
    for file in sources(&root().join("src/kafka")) {
        for line in uses(&file) {
            for role in ROLES {
                assert!(
                    !takes(&line, role),
                    "{} imports {role}: {line}",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn the_kafka_roles_run_on_the_one_consumer_loop() {
    for name in ["calc", "bridge", "image"] {
        let text: String = sources(&role(name)).iter().map(|f| code(f)).collect();
        assert!(
            text.contains("kafka::run("),
            "{name} does not run the consumer loop"
        );
        assert!(
            !text.contains(".poll("),
            "{name} polls a consumer of its own"
        );
    }
}

/// The functions of a file's code longer than `MAX_FUNCTION_LINES`: name and length. A
/// function runs from its `fn` line to the `}` at its indent (rustfmt's layout).
fn long_functions(path: &Path) -> Vec<(String, usize)> {
    let code = code(path);
    let lines: Vec<&str> = code.lines().collect();
    let mut long = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let is_fn = [
            "fn ",
            "pub fn ",
            "pub(crate) fn ",
            "pub(super) fn ",
            "const fn ",
            "pub const fn ",
        ]
        .iter()
        .any(|p| trimmed.starts_with(p));
        if !is_fn || trimmed.ends_with(';') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let end = lines[start..]
            .iter()
            .position(|l| l.len() > indent && l[..indent].trim().is_empty() && &l[indent..] == "}")
            .unwrap_or(0);
        if end + 1 > MAX_FUNCTION_LINES {
            let name = trimmed.split('(').next().unwrap_or(trimmed).to_owned();
            long.push((name, end + 1));
        }
    }
    long
}

#[test]
fn no_function_of_the_shells_is_over_sixty_lines() {
    let mut long = Vec::new();
    for place in ["src", "pipeline/src"] {
        for file in sources(&root().join(place)) {
            for (name, lines) in long_functions(&file) {
                let table = TABLES
                    .iter()
                    .any(|&(at, table)| file.ends_with(at) && name == table);
                if !table {
                    long.push(format!("{}: {name} ({lines} lines)", file.display()));
                }
            }
        }
    }
    assert!(long.is_empty(), "{}", long.join("\n"));
}
