//! GitHub secret-scanning reports -> keygate_core::github (report parser, signature check,
//! key document). Input layout and invariants: `fuzz/invariants.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keygate_fuzz::github(data));
