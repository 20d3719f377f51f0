//! Request path and query -> keygate_core::target::parse_target (the path canonicaliser).
//! Input layout and invariants: `fuzz/invariants.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keygate_fuzz::target(data));
