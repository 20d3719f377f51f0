//! Key text -> keygate_core::keys::parse_key.
//! Input layout and invariants: `fuzz/invariants.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keygate_fuzz::keys(data));
