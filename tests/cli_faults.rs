//! The file tools under faults an unlucky admin meets: two edits of one file at once, and a
//! tool killed (`kill -9`) in the middle of its write. The target and its `.old` backup are
//! always a whole file, and the next run leaves no temporary file behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use cnfkit::config::CnfDocument;
use cnfkit::repack::{Certificate, SignedFile};

fn tool(name: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    Command::new(dir.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cnfkit-faults-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

/// An XMLDefault large enough (about 3 MB) that parsing and writing it takes a while, so that
/// a kill lands in the middle of a write often.
fn large_default() -> Vec<u8> {
    let mut xml = String::from(
        "<Default>\n  <loadInformation434 model=\"Cisco 7942\">SCCP42.9-4-2SR3-1S</loadInformation434>\n  <vendorConfig>\n",
    );
    for i in 0..60_000 {
        xml.push_str(&format!("    <setting{i}>value {i}</setting{i}>\n"));
    }
    xml.push_str("  </vendorConfig>\n</Default>\n");
    xml.into_bytes()
}

/// A pseudo-random delay in `0..range` ms (xorshift: no dependency, reproducible per seed).
fn jitter(seed: &mut u64, range: u64) -> Duration {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    Duration::from_millis(*seed % range)
}

#[test]
fn two_cnf_edit_set_runs_on_one_file_at_once_never_leave_it_malformed() {
    let dir = scratch("race");
    let file = dir.join("SEP001122334455.cnf.xml");
    fs::write(
        &file,
        b"<device>\n  <loadInformation>SCCP42.9-4-2SR3-1S</loadInformation>\n</device>\n",
    )
    .unwrap();
    for pair in 0..200 {
        let spawn = |value: String| {
            tool("cnf-edit")
                .arg("set")
                .arg(&file)
                .arg(value)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("cnf-edit is built")
        };
        let mut a = spawn(format!("loadInformation=A{pair}"));
        let mut b = spawn(format!("vendorConfig/webAccess={pair}"));
        assert!(a.wait().unwrap().success(), "pair {pair}");
        assert!(b.wait().unwrap().success(), "pair {pair}");
        let doc = CnfDocument::parse(&fs::read(&file).unwrap())
            .unwrap_or_else(|e| panic!("pair {pair}: the file is malformed: {e}"));
        // Each run installs a whole file: one edit may win over the other, never half of one.
        let load = doc.find("loadInformation").map(|e| e.text());
        assert!(load.is_some(), "pair {pair}");
        CnfDocument::parse(&fs::read(dir.join("SEP001122334455.cnf.xml.old")).unwrap())
            .unwrap_or_else(|e| panic!("pair {pair}: the backup is malformed: {e}"));
    }
    let rest = names(&dir);
    assert_eq!(rest, ["SEP001122334455.cnf.xml", "SEP001122334455.cnf.xml.old"], "{rest:?}");
    fs::remove_dir_all(&dir).unwrap();
}

/// Kills `command` at random moments, `rounds` times, checking `whole` on the target and its
/// backup after each kill; then runs it to completion once and checks that no temporary file
/// is left.
fn kill_loop(
    dir: &Path,
    target: &Path,
    rounds: u32,
    mut command: impl FnMut() -> Command,
    whole: impl Fn(&[u8]) -> Result<(), String>,
) -> usize {
    let old = PathBuf::from(format!("{}.old", target.display()));
    let mut seed = u64::from(std::process::id()) | 1;
    let mut temps_seen = 0;
    // The write comes at the end of a run (after reading, parsing, editing, signing): kills
    // are spread over the last third of one whole run's length and a little beyond, so that
    // they land before, during and after the write.
    let started = std::time::Instant::now();
    assert!(command().stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap().success());
    let run_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(1000).max(10);
    for round in 0..rounds {
        let mut child =
            command().stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("tool is built");
        std::thread::sleep(Duration::from_millis(run_ms * 2 / 3) + jitter(&mut seed, run_ms / 2));
        child.kill().unwrap(); // SIGKILL: no destructor runs in the child
        child.wait().unwrap();
        whole(&fs::read(target).unwrap())
            .unwrap_or_else(|e| panic!("round {round}: the target is not whole: {e}"));
        if old.exists() {
            whole(&fs::read(&old).unwrap())
                .unwrap_or_else(|e| panic!("round {round}: the backup is not whole: {e}"));
        }
        temps_seen += names(dir).iter().filter(|n| cnfkit::fs::is_temp_name(n)).count();
    }
    let status = command().stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
    assert!(status.success());
    let rest: Vec<String> =
        names(dir).into_iter().filter(|n| cnfkit::fs::is_temp_name(n)).collect();
    assert!(rest.is_empty(), "the run after the kills left temporary files: {rest:?}");
    temps_seen
}

#[test]
fn cnf_edit_set_killed_mid_write_leaves_a_whole_file_and_backup_and_the_next_run_cleans_up() {
    let dir = scratch("kill-edit");
    let file = dir.join("XMLDefault.cnf.xml");
    fs::write(&file, large_default()).unwrap();
    let mut n = 0;
    let temps = kill_loop(
        &dir,
        &file,
        30,
        || {
            n += 1;
            let mut c = tool("cnf-edit");
            c.arg("set").arg(&file).arg(format!("vendorConfig/setting7=edit {n}"));
            c
        },
        |bytes| {
            let doc = CnfDocument::parse(bytes).map_err(|e| e.to_string())?;
            let count = doc.find("vendorConfig").map_or(0, |v| v.children().count());
            (count == 60_000).then_some(()).ok_or(format!("{count} settings"))
        },
    );
    eprintln!("30 kills of cnf-edit set: {temps} temporary files left by killed runs, all removed");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cnf_repack_killed_mid_write_leaves_a_whole_signed_file_and_backup() {
    let dir = scratch("kill-repack");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/repack/tests/data");
    let key = data.join("test-tftp.pem");
    let cert = Certificate::from_pem(&fs::read_to_string(&key).unwrap()).unwrap();
    // A large signed config: the plain demo file with a big vendorConfig, signed once.
    let plain = dir.join("XMLDefault.cnf.xml");
    fs::write(&plain, large_default()).unwrap();
    let status = tool("cnf-sign")
        .arg("sign")
        .arg(&plain)
        .arg("--key")
        .arg(&key)
        .arg("--cert")
        .arg(&key)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    fs::remove_file(&plain).unwrap();
    let signed = dir.join("XMLDefault.cnf.xml.sgn");
    let mut n = 0;
    let temps = kill_loop(
        &dir,
        &signed,
        30,
        || {
            n += 1;
            let mut c = tool("cnf-repack");
            c.arg("repack").arg(&signed).arg("--set").arg(format!("vendorConfig/setting9=r{n}"));
            c.arg("--key").arg(&key).arg("--cert").arg(&key);
            c
        },
        |bytes| {
            let file = SignedFile::parse(bytes).map_err(|e| e.to_string())?;
            file.verify_with(&cert).map_err(|e| e.to_string())?;
            CnfDocument::parse(file.payload()).map(drop).map_err(|e| e.to_string())
        },
    );
    eprintln!("30 kills of cnf-repack repack: {temps} temporary files left by killed runs");
    fs::remove_dir_all(&dir).unwrap();
}
