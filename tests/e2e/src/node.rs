//! `scripts/demo-origin.mjs` imported by node, for the helpers it exports.

use std::process::{Command, Output};

use crate::{Value, repo_root};

/// Runs the ES module `script` with node; its environment has `DEMO_ORIGIN` (the path of
/// `scripts/demo-origin.mjs`) and `CASES` (`cases` as JSON).
pub fn with_demo_origin(script: &str, cases: &Value) -> Output {
    Command::new("node")
        .args(["--input-type=module", "-e", script])
        .env("DEMO_ORIGIN", repo_root().join("scripts/demo-origin.mjs"))
        .env("CASES", cases.to_string())
        .output()
        .expect("run node")
}
