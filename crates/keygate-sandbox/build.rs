//! Embeds the sandbox datasets: every `*.json` file directly in `sandbox-data/` is minified
//! (whitespace outside strings dropped, nothing else changed) into `OUT_DIR` and listed in
//! `OUT_DIR/embedded.rs` as `EMBEDDED_FILES: &[(file name, contents)]`, read with `include_str!`.
//! Which file is which collection is decided at run time by `collections.json`, so a provider
//! adds a collection by adding a file and a manifest entry, without touching Rust.

use std::fs;
use std::path::{Path, PathBuf};

/// A failure is returned, not panicked: cargo prints it and fails the build.
fn main() -> Result<(), String> {
    let data_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sandbox-data");
    println!("cargo::rerun-if-changed={}", data_dir.display());
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("cargo did not set OUT_DIR")?);

    let unreadable = |e: std::io::Error| format!("cannot read {}: {e}", data_dir.display());
    let mut names: Vec<String> = Vec::new();
    for entry in fs::read_dir(&data_dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        // A name that is not UTF-8 cannot be named by collections.json (UTF-8 JSON), so such a
        // file is no dataset; an entry that cannot be read fails the build instead.
        if entry.file_type().map_err(unreadable)?.is_file()
            && let Ok(name) = entry.file_name().into_string()
            && name.ends_with(".json")
        {
            names.push(name);
        }
    }
    names.sort();

    let mut code = String::from(
        "/// The data files compiled into this build, as (file name, minified contents), sorted \
        by name.\npub static EMBEDDED_FILES: &[(&str, &str)] = &[\n",
    );
    for name in &names {
        let path = data_dir.join(name);
        let text = fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        fs::write(out_dir.join(name), minify(&text))
            .map_err(|e| format!("cannot write the minified {name}: {e}"))?;
        code.push_str(&format!(
            "    ({name:?}, include_str!(concat!(env!(\"OUT_DIR\"), \"/\", {name:?}))),\n"
        ));
    }
    code.push_str("];\n");
    fs::write(out_dir.join("embedded.rs"), code)
        .map_err(|e| format!("cannot write embedded.rs: {e}"))
}

/// Drops JSON whitespace outside string literals. Invalid JSON stays invalid (and is reported
/// with the file name when the sandbox loads it, and by the data tests).
fn minify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\n' | '\r' | '\t') {
            out.push(c);
        }
    }
    out
}
