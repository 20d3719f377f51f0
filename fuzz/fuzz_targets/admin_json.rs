//! JSON bodies -> every admin body reader in keygate_core::admin.
//! Input layout and invariants: `fuzz/invariants.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keygate_fuzz::admin_json(data));
