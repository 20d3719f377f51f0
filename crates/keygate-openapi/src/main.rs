//! `cargo run -p keygate-openapi`: rewrites `public/openapi.json` from the code.

use std::process::ExitCode;

fn main() -> ExitCode {
    let written = keygate_openapi::generate().and_then(|document| {
        let text = keygate_openapi::render(&document).map_err(|e| e.to_string())?;
        let path = keygate_openapi::document_path();
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    });
    match written {
        Ok(path) => {
            println!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("keygate-openapi: {error}");
            ExitCode::FAILURE
        }
    }
}
