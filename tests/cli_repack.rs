//! `cnf-repack` and `cnf-sign` as a user runs them: exit 0 valid, 1 rejected (a bad signature, a signer the phone
//! would not trust), 2 bad input or I/O error (a closed or full standard output too, never a
//! panic); what it writes and prints.

mod support;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use cnfkit::repack::{Certificate, EncryptedConfig, PrivateKey, SignedFile};
use support::Scratch;

/// An example binary cargo built beside this test (`target/<profile>/examples/NAME`).
fn tool(name: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    Command::new(dir.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
}

fn cnf_repack() -> Command {
    tool("cnf-repack")
}

fn cnf_sign() -> Command {
    tool("cnf-sign")
}

const SIGNED: &str = "crates/repack/tests/data/SEP001122334455.cnf.xml.sgn";
const TFTP_PEM: &str = "crates/repack/tests/data/test-tftp.pem";

#[cfg(target_os = "linux")]
#[test]
fn every_printing_command_exits_2_on_a_full_standard_output() {
    for (tool, args) in [
        (cnf_repack as fn() -> Command, &["inspect", SIGNED][..]),
        (cnf_repack, &["inspect", SIGNED, "--json"]),
        (cnf_repack, &["md5", SIGNED]),
        (cnf_sign, &["certhash", TFTP_PEM]),
        (cnf_sign, &["verify", SIGNED, "--cert", TFTP_PEM]),
        (cnf_sign, &["strip", SIGNED, "-o", "-"]),
    ] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let out = tool().args(args).stdout(full).output().expect("the tool is built");
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

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/repack/tests/data").join(name)
}

/// A scratch directory, removed when the test ends.
fn scratch(name: &str) -> Scratch {
    Scratch::new(&format!("repack-cli-{name}"))
}

fn copy(name: &str, dir: &Path) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(data(name), &to).unwrap();
    to
}

/// Runs cnf-repack with `args` (paths as given) and returns the exit status and stderr.
fn run(args: &[&dyn AsRef<OsStr>]) -> (i32, String) {
    status(cnf_repack().args(args))
}

/// Runs cnf-sign with `args` and returns the exit status and stderr.
fn sign(args: &[&dyn AsRef<OsStr>]) -> (i32, String) {
    status(cnf_sign().args(args))
}

fn status(command: &mut Command) -> (i32, String) {
    let out = command.output().expect("the tool is built");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn exit_status_is_0_valid_1_rejected_2_bad_input() {
    let sgn = data("SEP001122334455.cnf.xml.sgn");
    let (tftp, sast, itl) = (data("test-tftp.pem"), data("test-sast.pem"), data("ITLFile.tlv"));
    assert_eq!(sign(&[&"verify", &sgn, &"--cert", &tftp]).0, 0);
    let (code, err) = sign(&[&"verify", &sgn, &"--cert", &sast]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(sign(&[&"verify", &sgn, &"--trust-list", &itl]).0, 0);
    assert_eq!(sign(&[&"verify", &data("SEP001122334455.cnf.xml"), &"--cert", &tftp]).0, 2);
    assert_eq!(sign(&[&"verify", &itl]).0, 0);
    let (code, err) = sign(&[&"verify", &data("no-such-file")]);
    assert_eq!(code, 2);
    assert!(err.contains("no-such-file"), "{err}");
}

#[test]
fn inspect_reads_every_sample_in_text_and_json() {
    for name in [
        "SEP001122334455.cnf.xml",
        "SEP001122334455.cnf.xml.sgn",
        "SEP001122334455.cnf.xml.sha512.sgn",
        "SEP001122334455.cnf.xml.enc.sgn",
        "ITLFile.tlv",
        "tv1_md5.cfg",
    ] {
        let out = cnf_repack().args(["inspect", "--json"]).arg(data(name)).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["file"], data(name).display().to_string());
        assert!(v["md5"].as_str().is_some_and(|m| m.len() == 32), "{name}: {v}");
        let out = cnf_repack().arg("inspect").arg(data(name)).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("format "), "{name}");
    }
    let out = cnf_repack().args(["inspect", "--json"]).arg(data("ITLFile.tlv")).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["self_signature"], "valid (SAST record)");
    assert!(v["records"].as_array().is_some_and(|r| !r.is_empty()));
}

#[test]
fn sign_wraps_a_plain_file_as_file_sgn_with_its_served_name_and_strip_undoes_it() {
    let dir = scratch("sign");
    let plain = copy("SEP001122334455.cnf.xml", &dir);
    let tftp = data("test-tftp.pem");
    let (code, err) = sign(&[&"sign", &plain, &"--key", &tftp, &"--cert", &tftp]);
    assert_eq!(code, 0, "{err}");
    let signed = dir.join("SEP001122334455.cnf.xml.sgn");
    let out = SignedFile::parse(&std::fs::read(&signed).unwrap()).unwrap();
    assert_eq!(out.filename().as_deref(), Some("SEP001122334455.cnf.xml.sgn"));
    assert_eq!(out.payload(), std::fs::read(&plain).unwrap());
    let cert = Certificate::from_pem(&std::fs::read_to_string(&tftp).unwrap()).unwrap();
    out.verify_with(&cert).unwrap();
    std::fs::remove_file(&plain).unwrap();
    assert_eq!(sign(&[&"strip", &signed]).0, 0);
    assert_eq!(
        std::fs::read(&plain).unwrap(),
        std::fs::read(data("SEP001122334455.cnf.xml")).unwrap()
    );
}

#[test]
fn sign_refuses_a_file_cut_short_or_not_well_formed_and_writes_nothing() {
    let dir = scratch("damaged");
    let tftp = data("test-tftp.pem");
    let whole = std::fs::read(data("SEP001122334455.cnf.xml.sgn")).unwrap();
    let cut = dir.join("SEP001122334455.cnf.xml.sgn");
    std::fs::write(&cut, &whole[..whole.len() - 100]).unwrap();
    let (code, err) = sign(&[&"sign", &cut, &"--key", &tftp, &"--cert", &tftp]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("damaged") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(&cut).unwrap(), &whole[..whole.len() - 100], "left as it was");
    assert!(!dir.join("SEP001122334455.cnf.xml.sgn.old").exists());
    let broken = dir.join("SEP001122334455.cnf.xml");
    std::fs::write(&broken, b"<device><loadInformation>SCCP42</device>").unwrap();
    let (code, err) = sign(&[&"sign", &broken, &"--key", &tftp, &"--cert", &tftp]);
    assert_eq!(code, 2, "{err}");
    assert!(!dir.join("SEP001122334455.cnf.xml.sgn.old").exists());
    // An admin who means it can.
    let (code, err) = sign(&[&"sign", &cut, &"--key", &tftp, &"--cert", &tftp, &"--force"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_dash_as_output_is_standard_output_and_never_a_file_named_dash() {
    let dir = scratch("dash");
    let signed = copy("SEP001122334455.cnf.xml.sgn", &dir);
    let out = cnf_sign().current_dir(&dir).args(["strip", "-o", "-"]).arg(&signed).output();
    let out = out.expect("cnf-sign is built");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, std::fs::read(data("SEP001122334455.cnf.xml")).unwrap());
    let tftp = data("test-tftp.pem");
    let plain = data("SEP001122334455.cnf.xml");
    let mut command = cnf_sign();
    command.current_dir(&dir).arg("sign").arg(&plain).arg("--key").arg(&tftp);
    command.arg("--cert").arg(&tftp);
    let out = command.args(["-o", "-"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // The header names the file as it would be served, not "-".
    let file = SignedFile::parse(&out.stdout).unwrap();
    assert_eq!(file.filename().as_deref(), Some("SEP001122334455.cnf.xml.sgn"));
    assert!(!dir.join("-").exists());
}

#[test]
fn repack_of_an_encrypted_config_keeps_the_original_as_old_and_decrypts_to_the_edit() {
    let dir = scratch("repack");
    let f = copy("SEP001122334455.cnf.xml.enc.sgn", &dir);
    let (tftp, phone, itl) = (data("test-tftp.pem"), data("test-phone.pem"), data("ITLFile.tlv"));
    let (code, err) = run(&[
        &"repack",
        &f,
        &"--set",
        &"deviceProtocol=SCCP",
        &"--key",
        &tftp,
        &"--cert",
        &tftp,
        &"--phone-key",
        &phone,
        &"--trust-list",
        &itl,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("previous kept as"), "{err}");
    assert_eq!(
        std::fs::read(dir.join("SEP001122334455.cnf.xml.enc.sgn.old")).unwrap(),
        std::fs::read(data("SEP001122334455.cnf.xml.enc.sgn")).unwrap()
    );
    let key = PrivateKey::from_pem(&std::fs::read_to_string(&phone).unwrap()).unwrap();
    let plain = EncryptedConfig::parse(&std::fs::read(&f).unwrap()).unwrap().decrypt(&key).unwrap();
    assert!(
        String::from_utf8_lossy(&plain.plaintext).contains("<deviceProtocol>SCCP</deviceProtocol>")
    );
}

#[test]
fn repack_refuses_a_signer_the_phones_trust_list_does_not_hold_and_writes_nothing() {
    let dir = scratch("untrusted");
    let f = copy("SEP001122334455.cnf.xml.sgn", &dir);
    let (sast, itl) = (data("test-sast.pem"), data("ITLFile.tlv"));
    let args: [&dyn AsRef<OsStr>; 10] = [
        &"repack",
        &f,
        &"--set",
        &"fullConfig=false",
        &"--key",
        &sast,
        &"--cert",
        &sast,
        &"--trust-list",
        &itl,
    ];
    let (code, err) = run(&args);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--force writes it anyway"), "{err}");
    assert_eq!(
        std::fs::read(&f).unwrap(),
        std::fs::read(data("SEP001122334455.cnf.xml.sgn")).unwrap()
    );
    assert!(!dir.join("SEP001122334455.cnf.xml.sgn.old").exists());
    let mut forced = args.to_vec();
    forced.push(&"--force");
    assert_eq!(run(&forced).0, 0);
}

#[test]
fn repack_edit_runs_the_editor_on_the_plaintext() {
    let dir = scratch("editor");
    let f = copy("SEP001122334455.cnf.xml.sgn", &dir);
    let tftp = data("test-tftp.pem");
    let out = cnf_repack()
        .arg("repack")
        .arg(&f)
        .args(["--edit", "--key"])
        .arg(&tftp)
        .arg("--cert")
        .arg(&tftp)
        .env("EDITOR", "sed -i s/SIP/SCCP/")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let signed = SignedFile::parse(&std::fs::read(&f).unwrap()).unwrap();
    assert!(
        String::from_utf8_lossy(signed.payload()).contains("<deviceProtocol>SCCP</deviceProtocol>")
    );
}

#[test]
fn encrypt_writes_the_enc_sgn_and_a_signed_stub_with_the_cert_hash() {
    let dir = scratch("encrypt");
    let plain = copy("SEP001122334455.cnf.xml", &dir);
    let (tftp, phone) = (data("test-tftp.pem"), data("test-phone.pem"));
    let (code, err) =
        run(&[&"encrypt", &plain, &"--phone-cert", &phone, &"--key", &tftp, &"--cert", &tftp]);
    assert_eq!(code, 0, "{err}");
    let cert = Certificate::from_pem(&std::fs::read_to_string(&phone).unwrap()).unwrap();
    assert!(err.contains(&format!("certHash {}", cert.md5_hex())), "{err}");
    let key = PrivateKey::from_pem(&std::fs::read_to_string(&phone).unwrap()).unwrap();
    let enc = std::fs::read(dir.join("SEP001122334455.cnf.xml.enc.sgn")).unwrap();
    let back = EncryptedConfig::parse(&enc).unwrap().decrypt(&key).unwrap();
    assert_eq!(&back.plaintext[..], std::fs::read(&plain).unwrap().as_slice());
    let stub = std::fs::read(dir.join("SEP001122334455.cnf.xml.sgn")).unwrap();
    let stub = SignedFile::parse(&stub).unwrap();
    assert!(
        String::from_utf8_lossy(stub.payload())
            .contains(&format!("<certHash>{}</certHash>", cert.md5_hex()))
    );
}

#[test]
fn profile_encrypt_then_decrypt_gives_the_file_back_and_a_wrong_password_is_exit_2() {
    let dir = scratch("profile");
    let src = dir.join("p.xml");
    std::fs::write(&src, b"<flat-profile><A>1</A></flat-profile>\n").unwrap();
    let (enc, back) = (dir.join("p.cfg"), dir.join("back.xml"));
    assert_eq!(run(&[&"profile", &"encrypt", &src, &"--password", &"pw", &"-o", &enc]).0, 0);
    assert_eq!(run(&[&"profile", &"decrypt", &enc, &"--password", &"pw", &"-o", &back]).0, 0);
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&src).unwrap());
    let (code, _) = run(&[&"profile", &"decrypt", &enc, &"--password", &"nope"]);
    assert_eq!(code, 2);
}

#[test]
fn a_trust_list_built_here_verifies_and_vouches_for_its_tftp_record() {
    let dir = scratch("itl");
    let out = dir.join("ITLFile.tlv");
    let sast = data("test-sast.pem");
    let record = format!("TFTP={}", data("test-tftp.pem").display());
    let (code, err) =
        sign(&[&"trust-list", &out, &"--key", &sast, &"--cert", &sast, &"--record", &record]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(sign(&[&"verify", &out]).0, 0);
    assert_eq!(
        sign(&[&"verify", &data("SEP001122334455.cnf.xml.sgn"), &"--trust-list", &out]).0,
        0
    );
    let (code, _) =
        sign(&[&"trust-list", &out, &"--key", &sast, &"--cert", &sast, &"--record", &"NOPE=x.pem"]);
    assert_eq!(code, 2);
}
