#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cnfkit_fuzz_oracles::firmware_pack(data));
