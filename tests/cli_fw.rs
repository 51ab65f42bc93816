//! `cnf-fw` as an admin runs it: exit 0 imported or listed, 1 a library or plan with problems,
//! 2 a refused pack (nothing of it written) or bad input.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The example binary cargo built beside this test.
fn cnf_fw(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let mut command =
        Command::new(dir.join("examples").join(format!("cnf-fw{}", std::env::consts::EXE_SUFFIX)));
    for arg in args {
        command.arg(arg);
    }
    command.output().expect("cnf-fw is built")
}

fn zip(path: &Path, files: &[(&str, &[u8])]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, content) in files {
        zip.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(content).unwrap();
    }
    zip.finish().unwrap();
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cnfkit-cli-fw-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tftp")).unwrap();
    dir
}

#[test]
fn import_list_and_plan_with_their_exit_statuses() {
    let dir = scratch();
    let library = dir.join("lib");
    let pack = dir.join("cmterm-7942_7962-sccp.9-4-2SR4-3.zip");
    let manifest = b"jar42sccp.9-4-2ES26.sbn\r\n";
    zip(
        &pack,
        &[
            ("SCCP42.9-4-2SR4-3S.loads", manifest),
            ("term42.default.loads", manifest),
            ("jar42sccp.9-4-2ES26.sbn", b"image"),
        ],
    );
    let out = cnf_fw(&[&"import", &pack, &"--library", &library]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported SCCP42.9-4-2SR4-3S (zip)"));

    // A pack with an entry climbing out: exit 2, nothing of it anywhere.
    let evil = dir.join("evil.zip");
    zip(
        &evil,
        &[
            ("SCCP42.9-4-2SR5-1S.loads", b"x.sbn\r\n"),
            ("x.sbn", b"x"),
            ("../escaped.sbn", b"planted"),
        ],
    );
    let out = cnf_fw(&[&"import", &evil, &"--library", &library]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing imported"));
    assert!(!dir.join("escaped.sbn").exists() && !library.join("SCCP42.9-4-2SR5-1S").exists());

    let out = cnf_fw(&[&"list", &"--library", &library]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("SCCP42.9-4-2SR4-3S  models: term42"));

    // A default that names a load nobody has: the plan says so, exit 1.
    std::fs::write(
        dir.join("tftp/XMLDefault.cnf.xml"),
        "<Default><loadInformation434 model=\"Cisco 7942\">SCCP42.9-4-2SR4-3S</loadInformation434><loadInformation36224 model=\"Cisco 8845\">sip8845_65.14-2-1-0001-14</loadInformation36224></Default>",
    )
    .unwrap();
    let out = cnf_fw(&[&"plan", &"--library", &library, &"--root", &dir.join("tftp")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("model Cisco 7942: SCCP42.9-4-2SR4-3S\n"), "{stdout}");
    assert!(
        stdout.contains(
            "model Cisco 8845: sip8845_65.14-2-1-0001-14; missing: sip8845_65.14-2-1-0001-14.loads"
        ),
        "{stdout}"
    );
    // Bad input: a pack that does not exist.
    let out = cnf_fw(&[&"import", &dir.join("nothing.zip"), &"--library", &library]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
