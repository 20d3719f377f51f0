//! Authorization and X-API-Key header values -> keygate_core::credentials::extract_credential.
//! Input layout and invariants: `fuzz/invariants.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keygate_fuzz::credentials(data));
