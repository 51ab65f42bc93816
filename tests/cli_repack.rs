//! `cnf-repack` as a user runs it: a closed or full standard output is bad input (exit 2), never a
//! panic (exit 101), and dates print as RFC 3339 UTC.

use std::path::Path;
use std::process::Command;

/// The example binary cargo built beside this test (`target/<profile>/examples/cnf-repack`).
fn cnf_repack() -> Command {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    Command::new(dir.join("examples").join(format!("cnf-repack{}", std::env::consts::EXE_SUFFIX)))
}

const SIGNED: &str = "crates/repack/tests/data/SEP001122334455.cnf.xml.sgn";
const TFTP_PEM: &str = "crates/repack/tests/data/test-tftp.pem";

#[cfg(target_os = "linux")]
#[test]
fn every_printing_command_exits_2_on_a_full_standard_output() {
    for args in [
        &["inspect", SIGNED][..],
        &["inspect", SIGNED, "--json"],
        &["md5", SIGNED],
        &["certhash", TFTP_PEM],
        &["verify", SIGNED, "--cert", TFTP_PEM],
    ] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let out = cnf_repack().args(args).stdout(full).output().expect("cnf-repack is built");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("standard output"), "{args:?}: {stderr}");
    }
}

#[test]
fn inspect_prints_the_signing_time_as_rfc_3339_utc() {
    let out = cnf_repack().args(["inspect", SIGNED]).output().expect("cnf-repack is built");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().find(|l| l.starts_with("header.timestamp_utc")).expect(&text);
    let value = line.split_whitespace().nth(1).unwrap();
    // YYYY-MM-DDTHH:MM:SSZ
    assert_eq!(value.len(), 20, "{value}");
    assert!(value.ends_with('Z') && value.as_bytes()[10] == b'T', "{value}");
}
