//! The third-party corpus in `../shared/fixtures/cnf` (read in place, never copied: see its
//! SOURCES.md). Every file must come back byte for byte; the annotated chan-sccp SEP template,
//! which is not well-formed, must fail with a line and column and recover in lenient mode.

use std::fs;
use std::path::PathBuf;

use cnfkit_config::{CnfDocument, Error, ParseOptions, RepairKind, SipCnf};

fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/cnf");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but the shared corpus {} is missing",
        dir.display()
    );
    eprintln!("skipping: shared corpus {} not found", dir.display());
    None
}

fn files() -> Vec<(String, Vec<u8>)> {
    let Some(dir) = corpus_dir() else { return Vec::new() };
    let mut out: Vec<_> = fs::read_dir(dir)
        .expect("read corpus dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n != "SOURCES.md"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

const MALFORMED: &str = "chan-sccp__chan-sccp__SEP0000000000.cnf.xml_annotated";

#[test]
fn every_shared_xml_fixture_round_trips_byte_for_byte() {
    let mut seen = 0;
    for (name, bytes) in files() {
        if !name.contains(".cnf.xml") || name == MALFORMED {
            continue;
        }
        let doc = CnfDocument::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(doc.as_bytes(), &bytes[..], "{name} does not round-trip");
        assert!(doc.repairs().is_empty());
        seen += 1;
    }
    assert!(
        seen == 0 || seen >= 4,
        "expected the four well-formed shared XML fixtures, saw {seen}"
    );
}

#[test]
fn annotated_chan_sccp_template_fails_with_line_and_column_then_recovers_leniently() {
    let Some((_, bytes)) = files().into_iter().find(|(n, _)| n == MALFORMED) else { return };
    let err = CnfDocument::parse(&bytes).expect_err("the annotated template is not well-formed");
    let Error::MismatchedEndTag { expected, found, at } = &err else { panic!("unexpected {err}") };
    assert_eq!((expected.as_str(), found.as_str()), ("WlanProfile2", "WlanProfile1"));
    // The first bad end tag is on the `<WlanProfile2>0</WlanProfile1>` line.
    let line = String::from_utf8_lossy(&bytes).lines().nth(at.line - 1).unwrap().to_owned();
    assert!(line.contains("<WlanProfile2>0</WlanProfile1>"), "{at} points at {line:?}");
    assert_eq!(at.column, line.find("</WlanProfile1>").unwrap() + 1);
    assert!(err.to_string().contains(&at.to_string()));

    let mut doc = CnfDocument::parse_with(&bytes, ParseOptions::lenient()).expect("lenient parse");
    assert_eq!(doc.as_bytes(), &bytes[..], "lenient parsing leaves the bytes alone");
    let mismatched: Vec<_> = doc
        .repairs()
        .iter()
        .filter_map(|r| match &r.kind {
            RepairKind::MismatchedEndTag { expected, .. } => Some(expected.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        mismatched,
        ["WlanProfile2", "WlanProfile3", "WlanProfile4", "headsetHandsetMonitor"]
    );
    // The recovered tree is usable: the elements after the repairs are where they belong.
    assert_eq!(doc.find("vendorConfig/WlanProfile3").map(|e| e.text()).as_deref(), Some("0"));
    assert_eq!(doc.find("loadInformation").map(|e| e.text()).as_deref(), Some("P00308010100"));
    doc.apply_repairs().unwrap();
    CnfDocument::parse(doc.as_bytes()).expect("repaired bytes are well-formed");
}

#[test]
fn shared_sip_default_round_trips_and_reads_image_version() {
    for (name, bytes) in files() {
        if !name.ends_with(".cnf") {
            continue;
        }
        let cnf = SipCnf::parse(&bytes);
        assert_eq!(cnf.as_bytes(), &bytes[..], "{name} does not round-trip");
        assert_eq!(cnf.get("image_version").as_deref(), Some("P0S3-8-12-00"));
    }
}
