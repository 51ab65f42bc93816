//! `cnf-edit` as a user runs it: what it prints, what it writes, and its exit status
//! (0 ok, 1 check failed, 2 bad input or I/O error).

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use support::Scratch;

/// The example binary cargo built beside this test (`target/<profile>/examples/cnf-edit`).
fn cnf_edit() -> Command {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    Command::new(dir.join("examples").join(format!("cnf-edit{}", std::env::consts::EXE_SUFFIX)))
}

fn run(args: &[&str]) -> Output {
    cnf_edit().args(args).output().expect("cnf-edit is built by cargo test")
}

/// A scratch directory, removed when the test ends.
fn scratch(name: &str) -> Scratch {
    Scratch::new(&format!("edit-cli-{name}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn set_in_place_is_atomic_and_keeps_the_previous_file_as_old() {
    let dir = scratch("set");
    let file = dir.join("SEP001122334455.cnf.xml");
    let before = b"<device>\r\n\t<loadInformation>A</loadInformation>\r\n</device>\r\n";
    fs::write(&file, before).unwrap();
    let out = run(&["set", s(&file), "loadInformation=B&C", "@ctiid=7"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fs::read(dir.join("SEP001122334455.cnf.xml.old")).unwrap(), before);
    assert_eq!(
        fs::read(&file).unwrap(),
        b"<device ctiid=\"7\">\r\n\t<loadInformation>B&amp;C</loadInformation>\r\n</device>\r\n"
    );
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 2, "no temporary file is left behind");
    // A bad path is bad input: exit 2, the file left alone.
    let out = run(&["set", s(&file), "a[0]=x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("cnf-edit: a[0]=x: "), "{}", text(&out.stderr));
    assert!(fs::read(&file).unwrap().starts_with(b"<device ctiid"));
}

#[test]
fn an_assignment_without_equals_is_refused_by_the_argument_parser() {
    let out = run(&["set", "SEP001122334455.cnf.xml", "loadInformation"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("expected PATH=VALUE"), "{}", text(&out.stderr));
}

#[test]
fn sip_files_are_recognised_and_edited_as_text() {
    let dir = scratch("sip");
    let file = dir.join("SIPDefault.cnf");
    fs::write(&file, b"image_version: \"P0S3-8-12-00\"\r\n").unwrap();
    let out_file = dir.join("out.cnf");
    let out = run(&["set", s(&file), "image_version=P0S3-9-0-00", "-o", s(&out_file)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fs::read(&out_file).unwrap(), b"image_version: \"P0S3-9-0-00\"\r\n");
    assert!(!dir.join("SIPDefault.cnf.old").exists(), "-o leaves the input alone");
}

#[test]
fn a_signed_or_binary_file_is_refused_with_exit_2_and_left_untouched() {
    let dir = scratch("binary");
    let signed = dir.join("SEP001122334455.cnf.xml.sgn");
    let bytes = [&[0x01, 0x01, 0x00, 0x02][..], b"\x00\x00<device/>"].concat();
    fs::write(&signed, &bytes).unwrap();
    let random = dir.join("firmware.sbn");
    fs::write(&random, (0..=255u8).cycle().take(4096).collect::<Vec<u8>>()).unwrap();
    for file in [&signed, &random] {
        let out = run(&["set", s(file), "loadInformation=X"]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("not a text configuration"), "{}", text(&out.stderr));
        let out = run(&["check", s(file)]);
        assert_eq!(out.status.code(), Some(2), "check: {}", text(&out.stderr));
    }
    assert_eq!(fs::read(&signed).unwrap(), bytes);
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 2, "nothing written");
}

#[test]
fn a_missing_file_is_exit_2_and_names_the_file() {
    let out = run(&["show", "/nonexistent/SEP001122334455.cnf.xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/SEP001122334455.cnf.xml"));
}

#[test]
fn check_fails_with_exit_1_and_line_column_and_copy_repair_fixes_the_file() {
    let dir = scratch("check");
    let file = dir.join("bad.cnf.xml");
    fs::write(&file, b"<device><WlanProfile2>0</WlanProfile1></device>").unwrap();
    let out = run(&["check", s(&file)]);
    assert_eq!(out.status.code(), Some(1));
    let printed = text(&out.stdout);
    assert!(printed.starts_with(&format!("{}:1:", file.display())), "{printed}");
    assert!(printed.contains("--lenient would repair"), "{printed}");
    let fixed = dir.join("fixed.cnf.xml");
    assert_eq!(run(&["copy", s(&file), "-o", s(&fixed)]).status.code(), Some(2));
    let out = run(&["copy", s(&file), "-o", s(&fixed), "--repair"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), "1 repair(s) applied\n");
    assert_eq!(fs::read(&fixed).unwrap(), b"<device><WlanProfile2>0</WlanProfile2></device>");
    assert_eq!(run(&["check", s(&fixed)]).status.code(), Some(0));
}

#[test]
fn new_device_writes_sep_mac_file_named_in_upper_case() {
    let dir = scratch("new");
    let out = run(&[
        "new",
        "device",
        "--mac",
        "00:11:22:aa:bb:cc",
        "--model",
        "7942",
        "--protocol",
        "sip",
        "--line",
        "1001:Desk:pw",
        "--cm",
        "10.0.0.1",
        "--load",
        "SIP42.9-4-2SR3-1S",
        "--locale",
        "English_United_States:en_US",
        "--vendor",
        "webAccess=0",
        "--dir",
        s(&dir),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let path = dir.join("SEP001122AABBCC.cnf.xml");
    assert_eq!(text(&out.stdout), format!("wrote {}\n", path.display()));
    let doc = cnfkit_config::CnfDocument::parse(&fs::read(&path).unwrap()).unwrap();
    // The inventory CSV's notation: NUMBER:LABEL:PASSWORD.
    let line = &doc.sip_profile().unwrap().lines[0];
    assert_eq!(line.feature_label.as_deref(), Some("Desk"));
    assert_eq!(line.auth_password.as_deref(), Some("pw"));
    assert_eq!(doc.vendor_config(), [("webAccess".to_owned(), "0".to_owned())]);
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_standard_output_is_exit_2_not_a_panic() {
    let dir = scratch("full");
    let file = dir.join("XMLDefault.cnf.xml");
    let out = run(&["new", "default", "--cm", "10.0.0.1", "-o", s(&file)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let full = fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = cnf_edit().args(["show", s(&file)]).stdout(full).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("standard output"), "{}", text(&out.stderr));
}

#[test]
fn show_prints_call_managers_and_loads_and_a_model_key_names_the_model() {
    let dir = scratch("show");
    let file = dir.join("XMLDefault.cnf.xml");
    let out = run(&[
        "new",
        "default",
        "--cm",
        "10.0.0.1",
        "--load",
        "7942=SCCP42.9-4-2SR3-1S",
        "--url",
        "servicesURL=http://10.0.0.1/services",
        "-o",
        s(&file),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(&["show", s(&file)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "root: <Default> (Default), Utf8 (Declaration)\n\
         call managers (Root):\n  priority 0: 10.0.0.1 (sccp 2000, sip 5060)\n\
         loads:\n  434 (Cisco 7942): \"SCCP42.9-4-2SR3-1S\" model=\"Cisco 7942\" (Numbered)\n\
         servicesURL: http://10.0.0.1/services\n"
    );
}
