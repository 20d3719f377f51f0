//! Replays the fuzz corpora as regression tests: every file under `fuzz/seeds/<target>/` and
//! `fuzz/regressions/<target>/` goes through the same invariant checks the cargo-fuzz targets
//! run (`fuzz/invariants.rs`, included here), so a crash once found stays fixed without
//! cargo-fuzz or nightly. Native only: the browser test runner cannot read files.
#![cfg(not(target_arch = "wasm32"))]

// The invariants are the keygate-fuzz library: its checks panic by design (a broken invariant
// is a crash for cargo-fuzz and a failing input here), and its `pub` items are that library's
// API, unreachable only from this test crate.
#[expect(
    clippy::panic,
    clippy::expect_used,
    unreachable_pub,
    reason = "fuzz/invariants.rs is shared with the keygate-fuzz library, whose checks panic"
)]
#[path = "../../../fuzz/invariants.rs"]
mod invariants;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// Files of one corpus directory, sorted; none if the directory does not exist.
#[expect(
    clippy::expect_used,
    reason = "test helper: an unreadable corpus directory fails the test"
)]
fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.is_file())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with('.') && name != "README.md"
        })
        .collect();
    files.sort();
    files
}

/// Runs `check` on every seed and regression input of `target`; fails listing every input
/// whose check panicked (each panic message is printed above the list).
#[expect(
    clippy::expect_used,
    reason = "test helper: an unreadable corpus file fails the test"
)]
fn replay(target: &str, check: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let seeds = corpus_files(&fuzz.join("seeds").join(target));
    assert!(!seeds.is_empty(), "no seed corpus in fuzz/seeds/{target}/");
    let regressions = corpus_files(&fuzz.join("regressions").join(target));
    let mut failed = Vec::new();
    for file in seeds.iter().chain(&regressions) {
        let data = std::fs::read(file).expect("readable corpus file");
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            let shown = file.strip_prefix(&fuzz).unwrap_or(file);
            failed.push(format!("fuzz/{}", shown.display()));
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: invariants broken by {} of {} inputs:\n  {}",
        failed.len(),
        seeds.len() + regressions.len(),
        failed.join("\n  ")
    );
}

#[test]
fn credentials_corpus() {
    replay("credentials", invariants::credentials);
}

#[test]
fn keys_corpus() {
    replay("keys", invariants::keys);
}

#[test]
fn admin_json_corpus() {
    replay("admin_json", invariants::admin_json);
}

#[test]
fn target_corpus() {
    replay("target", invariants::target);
}

#[test]
fn github_corpus() {
    replay("github", invariants::github);
}
