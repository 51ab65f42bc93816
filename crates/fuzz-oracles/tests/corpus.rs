//! Replays every committed fuzz seed (`fuzz/corpus/<target>/`) and every kept crash
//! (`fuzz/regressions/<target>/`) through its oracle, so plain `cargo test` on stable checks the
//! same properties the fuzzer does.

use std::fs;
use std::path::{Path, PathBuf};

/// A fuzz target's oracle: panics when a property fails.
type Oracle = fn(&[u8]);

/// Every fuzz target: its name (the folder under `fuzz/corpus/`) and its oracle.
const TARGETS: &[(&str, Oracle)] = &[
    ("packet", cnfkit_fuzz_oracles::packet),
    ("options", cnfkit_fuzz_oracles::options),
    ("netascii", cnfkit_fuzz_oracles::netascii),
    ("resolve_names", cnfkit_fuzz_oracles::resolve_names),
    ("cnf_xml", cnfkit_fuzz_oracles::cnf_xml),
    ("sip_cnf", cnfkit_fuzz_oracles::sip_cnf),
    ("config_file", cnfkit_fuzz_oracles::config_file),
    ("engine", cnfkit_fuzz_oracles::engine),
    ("endpoint", cnfkit_fuzz_oracles::endpoint),
    ("sgn", cnfkit_fuzz_oracles::sgn),
    ("tlv", cnfkit_fuzz_oracles::tlv),
    ("enc_sgn", cnfkit_fuzz_oracles::enc_sgn),
    ("profile", cnfkit_fuzz_oracles::profile),
    ("firmware_pack", cnfkit_fuzz_oracles::firmware_pack),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> =
        entries.map(|e| e.expect("read corpus entry").path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

#[test]
fn every_fuzz_target_has_seeds_and_all_seeds_and_regressions_pass_their_oracle() {
    for (name, oracle) in TARGETS {
        let seeds = inputs(&fuzz_dir().join("corpus").join(name));
        assert!(!seeds.is_empty(), "fuzz target {name} has no committed seed corpus");
        let regressions = inputs(&fuzz_dir().join("regressions").join(name));
        for path in seeds.iter().chain(&regressions) {
            let data = fs::read(path).expect("read corpus file");
            let outcome = std::panic::catch_unwind(|| oracle(&data));
            assert!(outcome.is_ok(), "fuzz target {name} fails on {}", path.display());
        }
    }
}

#[test]
fn every_fuzz_target_in_fuzz_cargo_toml_is_replayed_here() {
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for line in manifest.lines() {
        let Some(name) = line.trim().strip_prefix("name = \"").and_then(|s| s.strip_suffix('"'))
        else {
            continue;
        };
        if name == "cnfkit-fuzz" {
            continue;
        }
        assert!(
            TARGETS.iter().any(|(t, _)| *t == name),
            "fuzz target {name} is not replayed by tests/corpus.rs"
        );
    }
}
