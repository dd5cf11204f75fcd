//! Crash points a test can select, so a crash between two steps is deterministic: with
//! `FIXEDBROT_CRASH_AT=<name>` the process aborts at the point of that name, as if killed.
//! Debug builds only (the builds tests run); a release build has no hook at all.

/// Aborts here if this is the crash point asked for.
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("FIXEDBROT_CRASH_AT").is_ok_and(|at| at == name) {
        eprintln!("crash point {name}: aborting, as a test asked");
        std::process::abort();
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}
